#!/usr/bin/env bash
# rill against Flink: queries over N ticks through rill (release build, one instance of each
# keyed operator as Flink runs at parallelism 1, best of 3), the
# hand-written baseline loop (with q_tumble) and the Flink oracle (parallelism 1, blackhole sink;
# a cold run and the best of a JIT-warm --repeat 5), all in the same run on the same data.
# Prints a table of rows/s, wall time and peak RSS, and the ratios.
#
#   bench/vs_flink.sh [ROWS...]                      # default: 1000000 5000000
#   QUERIES="q_match_vshape q_match_fraud" bench/vs_flink.sh 1000000
#
# Queries: the windows (q_tumble, q_hop, q_session), MATCH_RECOGNIZE (q_match_vshape, and
# q_match_fraud: three small trades then a large one within a minute, per symbol) and joins
# (q_join_enrich: every tick joined with its symbol's row, Nexmark q20 shape; q_join_interval:
# an interval join of the ticks with themselves, 1 M rows each side at 1 M ticks;
# q_join_max_avg: a join feeding MAX per key then AVG, Nexmark q4 shape; q_join_updating: a
# join against an updating aggregate, each update retracting a row from a large bucket),
# running OVER aggregates (q_over_running) and functions (q_functions: 20 string, temporal and
# math expressions on every tick). A query is bench/queries/NAME.sql, else the oracle's
# examples/NAME.sql.
#
# Run it alone on the machine: anything else running skews it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
queries="${QUERIES:-q_tumble q_hop q_session q_match_vshape q_match_fraud q_join_enrich q_join_interval q_join_max_avg q_join_updating q_over_running q_functions}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 5000000)
results="$work/vs_flink.jsonl"
: > "$results"

cargo build -q --release --manifest-path "$shared/baseline/Cargo.toml" --target-dir "$work/baseline-target"
baseline="$work/baseline-target/release/baseline"

record() { echo "{\"engine\":\"$1\",\"query\":\"$2\",\"rows\":$3,\"secs\":$4,\"rss_mb\":$5}" >> "$results"; }

for rows in "${sizes[@]}"; do
  data=$(ticks "$rows")
  if [[ " $queries " == *" q_tumble "* ]]; then
    secs=$("$baseline" tumble "$data" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secs"])')
    record baseline q_tumble "$rows" "$secs" 0
  fi
  for q in $queries; do
    sql="$here/queries/$q.sql"
    [ -f "$sql" ] || sql="$shared/flink-oracle/examples/$q.sql"
    for _ in 1 2 3; do
      /usr/bin/time -f "%e %M" -o "$work/time.txt" "$rill" -f "$sql" -D INPUT="$data" -p 1 > /dev/null
      read -r secs rss < "$work/time.txt"
      record rill "$q" "$rows" "$secs" "$((rss / 1024))"
    done
    if [ -x "$flink_py" ]; then
      for repeat in 1 5; do
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$flink_py" "$shared/flink-oracle/flink_sql.py" "$sql" \
          -D INPUT="$data" -p 1 --sink blackhole --repeat "$repeat" --time 2> "$work/flink.log" > /dev/null
        # The last line: /usr/bin/time puts a failed command's status first.
        read -r _ rss < <(tail -n 1 "$work/time.txt")
        python3 "$here/flink_timing.py" "$work/flink.log" "$q" "$rows" "$repeat" "$((rss / 1024))" >> "$results"
      done
    fi
  done
done
[ -x "$flink_py" ] || echo "(Flink oracle not installed at $flink_py: run $shared/flink-oracle/setup.sh to compare)"
python3 "$here/table.py" "$results"
