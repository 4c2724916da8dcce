"""Prints the JSON line of a Flink oracle run for the benchmarks' results: the best net
runtime of the 'TIMING' lines in the oracle's log, or nothing (and a note) when it failed.

    python3 bench/flink_timing.py FLINK_LOG QUERY ROWS REPEAT RSS_MB >> results.jsonl
"""
import json
import sys

log, q, rows, repeat, rss = sys.argv[1:]
runs = [json.loads(l.split(" ", 1)[1]) for l in open(log) if l.startswith("TIMING ")]
if not runs:
    print(f"Flink failed on {q}: see {log}", file=sys.stderr)
    sys.exit(0)
engine = "flink_cold" if repeat == "1" else "flink_warm"
best = min(r["net_runtime_s"] for r in runs)
print(json.dumps({"engine": engine, "query": q, "rows": int(rows), "secs": best, "rss_mb": int(rss)}))
