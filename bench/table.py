"""Prints the benchmark table from the JSON lines of bench/vs_flink.sh or bench/nexmark.sh (best
run per cell); further arguments name other rill engines, each shown in its own column with its
speed relative to rill's."""
import json
import sys

best = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r["query"], r["rows"], r["engine"])
    if key not in best or r["secs"] < best[key]["secs"]:
        best[key] = r

extras = sys.argv[2:]
print("| query | rows | rill rows/s | rill wall s | rill RSS MB | Flink cold rows/s (net) | x cold | "
      "Flink warm rows/s (net) | x warm | Flink RSS MB | baseline rows/s | % of baseline |"
      + "".join(f" {extra} rows/s (x rill) |" for extra in extras))
print("|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(extras))
for query, rows in sorted({(q, n) for q, n, _ in best}):
    get = lambda e: best.get((query, rows, e))
    rill, cold, warm = get("rill"), get("flink_cold"), get("flink_warm")
    base = best.get(("q_tumble", rows, "baseline")) if query == "q_tumble" else None
    if rill is None:
        continue
    rps = lambda r: rows / r["secs"] if r else None
    fmt = lambda v: f"{v / 1e6:.2f} M" if v and v >= 1e6 else (f"{v / 1e3:.0f} k" if v else "-")
    ratio = lambda r: f"{rps(rill) / rps(r):.1f}x" if r else "-"
    flink_rss = max((r["rss_mb"] for r in (cold, warm) if r), default=None)
    print(f"| {query} | {rows:,} | {fmt(rps(rill))} | {rill['secs']:.2f} | {rill['rss_mb']} | "
          f"{fmt(rps(cold))} | {ratio(cold)} | {fmt(rps(warm))} | {ratio(warm)} | "
          f"{flink_rss or '-'} | {fmt(rps(base))} | "
          f"{f'{100 * rps(rill) / rps(base):.0f} %' if base else '-'} |"
          + "".join(f" {fmt(rps(get(e)))} ({rps(get(e)) / rps(rill):.2f}x) |" if get(e) else " - |"
                    for e in extras))
