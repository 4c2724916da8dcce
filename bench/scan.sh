#!/usr/bin/env bash
# Scan benchmark (issue 3): start-up cost of a tiny query, and rows/s of q_scan over N ticks,
# rill next to the hand-written baseline loop (../shared/baseline) and, when its venv exists,
# the Flink oracle -- all in the same run on the same data.
#
#   bench/scan.sh [ROWS]        # default 1000000
#
# Builds rill and the baseline with their release profiles.
set -euo pipefail
source "$(dirname "$0")/common.sh"
rows="${1:-1000000}"

data=$(ticks "$rows")

cargo build -q --release --manifest-path "$shared/baseline/Cargo.toml" --target-dir "$work/baseline-target"
baseline="$work/baseline-target/release/baseline"

# wall seconds and peak RSS (MB) of a command, as "secs rss"
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null
  awk '{printf "%s %.1f\n", $1, $2 / 1024}' "$work/time.txt"
}

echo "== start-up: a tiny query file, 20 runs"
tiny="$work/tiny.sql"
printf "CREATE TABLE t (a INT, b STRING) WITH ('connector' = 'filesystem', 'path' = '%s', 'format' = 'csv');\nSELECT b FROM t WHERE a > 1;\n" "$work/tiny.csv" > "$tiny"
printf '1,x\n2,y\n' > "$work/tiny.csv"
for _ in $(seq 20); do measure "$rill" -f "$tiny"; done | sort -n | awk '{s[NR]=$1; r[NR]=$2} END {printf "rill start to exit: median %.0f ms, max %.0f ms, peak RSS %.1f MB\n", s[int((NR+1)/2)]*1000, s[NR]*1000, r[NR]}'

echo "== scan of $rows ticks (q_scan: parse, watermarks, filter volume < 0)"
base_json=$("$baseline" scan "$data")
base_rps=$(echo "$base_json" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["rows_per_s"]))')
echo "baseline loop: $base_rps rows/s"
best=""
for _ in 1 2 3; do
  read -r secs rss < <(measure "$rill" -f "$shared/flink-oracle/examples/q_scan.sql" -D INPUT="$data")
  rps=$(python3 -c "print(round($rows / $secs))")
  echo "rill: ${secs}s, $rps rows/s, peak RSS ${rss} MB"
  if [ -z "$best" ] || [ "$rps" -gt "$best" ]; then best=$rps; fi
done
python3 -c "print(f'rill best {$best} rows/s = {100 * $best / $base_rps:.0f} % of the baseline loop')"

if [ -x "$flink_py" ]; then
  echo "== Flink oracle, same query and data (parallelism 1, blackhole sink)"
  "$flink_py" "$shared/flink-oracle/flink_sql.py" "$shared/flink-oracle/examples/q_scan.sql" \
    -D INPUT="$data" --time --sink blackhole 2>&1 >/dev/null | grep TIMING || true
  read -r secs rss < <(measure "$flink_py" "$shared/flink-oracle/flink_sql.py" "$tiny")
  echo "Flink tiny query start to exit: ${secs}s, peak RSS (python driver) ${rss} MB"
else
  echo "(Flink oracle not installed at $flink_py: run $shared/flink-oracle/setup.sh to compare)"
fi
