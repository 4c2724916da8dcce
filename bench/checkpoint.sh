#!/usr/bin/env bash
# What checkpoints cost: each query at N rows without checkpoints and with one a second,
# rows/s and peak RSS of both, and the checkpoints' count, size, longest write and the longest
# pause of an operator. A query is a name in bench/queries (over N ticks) or the path of a
# script that names its input itself (a Nexmark one bench/nexmark.sh wrote, say).
# Usage: bench/checkpoint.sh [rows]   (default 5000000; results in $BENCH_DIR/checkpoint.jsonl)
#   QUERIES="/tmp/rill-bench/nexmark_file_q7.sql" PARALLELISM=1 bench/checkpoint.sh 10000000
set -euo pipefail
source "$(dirname "$0")/common.sh"
queries="${QUERIES:-q_tumble q_session q_match_fraud}"
interval="${INTERVAL:-1 s}"
rows="${1:-5000000}"
results="$work/checkpoint.jsonl"
: > "$results"
data=""
# PARALLELISM=N runs each query with N instances of each keyed operator (default: one a core).
parallelism="${PARALLELISM:+-p $PARALLELISM}"

best_of_3() { # command... -> the best wall time of three runs, in seconds, and the highest
  # peak RSS, in KB
  local best="" rss=0
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null 2>> "$work/checkpoint.log"
    local t m; read -r t m < "$work/time.txt"
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $t < $best else 1)"; then best=$t; fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  echo "$best $rss"
}

for q in $queries; do
  sql="$here/queries/$q.sql"
  [ -f "$sql" ] || sql="$shared/flink-oracle/examples/$q.sql"
  if [ -f "$q" ]; then
    sql="$q"; q=$(basename "$q" .sql)
  elif [ -z "$data" ]; then
    data=$(ticks "$rows")
  fi
  plain=$(best_of_3 "$rill" -f "$sql" -D INPUT="$data" $parallelism)
  checkpointed="$work/$q.checkpointed.sql"
  { echo "SET 'execution.checkpointing.interval' = '$interval';"
    echo "SET 'execution.checkpointing.dir' = '$work/checkpoints-$q';"
    cat "$sql"; } > "$checkpointed"
  : > "$work/checkpoint.log"
  with=$(RUST_LOG=rill_engine=debug best_of_3 sh -c "rm -rf '$work/checkpoints-$q'; exec \"\$0\" -f \"\$1\" -D INPUT=\"\$2\" $parallelism" "$rill" "$checkpointed" "$data")
  python3 - "$work/checkpoint.log" "$q" "$rows" $plain $with >> "$results" <<'PY'
import json, re, sys
log, q, rows, plain, rss_plain, with_, rss_with = sys.argv[1:]
rows = int(rows)
text = open(log).read()
done = [dict(re.findall(r'(\w+)=(\S+)', l)) for l in text.splitlines() if 'checkpoint complete' in l]
taken = [dict(re.findall(r'(\w+)=(\S+)', l)) for l in text.splitlines() if 'state taken' in l]
regular = [d for d in done if d.get('finished') == 'false']
runs = 3
print(json.dumps({
    "query": q, "rows": rows,
    "secs_plain": float(plain), "secs_checkpointed": float(with_),
    "rows_per_s_plain": round(rows / float(plain)), "rows_per_s_checkpointed": round(rows / float(with_)),
    "slowdown_pct": round(100 * (float(with_) / float(plain) - 1), 1),
    "rss_mb_plain": int(rss_plain) // 1024, "rss_mb_checkpointed": int(rss_with) // 1024,
    "checkpoints_per_run": len(regular) / runs,
    "max_checkpoint_bytes": max((int(d['bytes']) for d in regular), default=0),
    "max_checkpoint_ms": max((int(d['millis']) for d in regular), default=0),
    "max_operator_pause_us": max((int(d['micros']) for d in taken), default=0),
}))
PY
done
cat "$results"
