#!/usr/bin/env bash
# The timeout query of examples/orders.sql (orders not paid within 15 minutes, per order, WITH
# TIMEOUTS) over N order events (bench/orders.py: ~18 k orders open at a time) through rill
# (release build, one instance as Flink runs at parallelism 1, best of 3), and through the
# Flink oracle on the same data with the same pattern without WITH TIMEOUTS (Flink has no way
# to report timed-out partial matches in SQL; it drops them), cold and JIT-warm. Prints the
# table of bench/vs_flink.sh; two sizes show whether memory stays flat over input size.
#
#   bench/orders.sh [ROWS...]                        # default: 1000000 4000000
#
# Run it alone on the machine: anything else running skews it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 4000000)
results="$work/orders.jsonl"
: > "$results"
example="$root/examples/orders.sql"
# Flink's query: the same, without rill's WITH TIMEOUTS and TIMED_OUT().
flink_sql="$work/orders_flink.sql"
sed -e 's/ WITH TIMEOUTS//' -e '/TIMED_OUT()/d' -e 's/CREATED.amount AS amount,/CREATED.amount AS amount/' \
  "$example" > "$flink_sql"

record() { echo "{\"engine\":\"$1\",\"query\":\"$2\",\"rows\":$3,\"secs\":$4,\"rss_mb\":$5}" >> "$results"; }

for rows in "${sizes[@]}"; do
  data="$work/orders_$rows.csv"
  [ -s "$data" ] || python3 "$here/orders.py" --rows "$rows" --out "$data"
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$rill" -f "$example" -D INPUT="$data" -p 1 > /dev/null
    read -r secs rss < "$work/time.txt"
    record rill orders_timeouts "$rows" "$secs" "$((rss / 1024))"
  done
  if [ -x "$flink_py" ]; then
    for repeat in 1 5; do
      /usr/bin/time -f "%e %M" -o "$work/time.txt" "$flink_py" "$shared/flink-oracle/flink_sql.py" "$flink_sql" \
        -D INPUT="$data" -p 1 --sink blackhole --repeat "$repeat" --time 2> "$work/flink.log" > /dev/null
      read -r _ rss < <(tail -n 1 "$work/time.txt")
      python3 "$here/flink_timing.py" "$work/flink.log" orders_timeouts "$rows" "$repeat" "$((rss / 1024))" >> "$results"
    done
  fi
done
[ -x "$flink_py" ] || echo "(Flink oracle not installed at $flink_py: run $shared/flink-oracle/setup.sh to compare)"
python3 "$here/table.py" "$results"
