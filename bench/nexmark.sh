#!/usr/bin/env bash
# The Nexmark suite (bench/nexmark/q*.sql and cep_q*.sql, as the benchmark defines them, into
# blackhole sinks) through rill and the Flink oracle on the same events: N events of rill's
# nexmark connector (the benchmark's defaults: 10 M events per second of event time, 1:3:46
# people, auctions, bids) written once as JSON lines and read by both from the file. rill also
# runs each query on the generator itself ('rill gen') and on the file with one instance of each
# keyed operator per core ('rill pN'; 'rill' runs one). rill: release build, best of 2; Flink:
# parallelism 1, a cold run and the best of a JIT-warm --repeat 3. One table: events/s, wall
# time, peak RSS and the ratios (bench/table.py).
#
#   bench/nexmark.sh [EVENTS...]                       # default: 1000000
#   QUERIES="q0 q5 cep_q0" bench/nexmark.sh 1000000 10000000
#
# q6 (refused, as by Flink) and q14 (a Java UDF) are not run. q13's side input is written
# where its DDL reads it, as the benchmark's SideInputGenerator writes it.
# Run it alone on the machine: anything else running skews it.
set -euo pipefail
source "$(dirname "$0")/common.sh"
queries="${QUERIES:-q0 q1 q2 q3 q4 q5 q7 q8 q9 q10 q11 q12 q13 q15 q16 q17 q18 q19 q20 q21 q22 q23 cep_q0 cep_q1 cep_q2 cep_q3}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000)
results="$work/nexmark.jsonl"
: > "$results"

cores="$(nproc)"

record() { echo "{\"engine\":\"$1\",\"query\":\"$2\",\"rows\":$3,\"secs\":$4,\"rss_mb\":$5}" >> "$results"; }

# A query's script: the event table (over the file, or the generator), the views, the query.
script() { # source events query out
  python3 - "$@" <<'PY'
import os, pathlib, sys
source, events, query, out = sys.argv[1:]
bench = pathlib.Path(os.environ["NEXMARK_DIR"])
ddl = (bench / "ddl.sql").read_text()
if source == "file":
    table = ddl[ddl.index("CREATE TABLE datagen"):ddl.index(") WITH (")]
    ddl = f"{table}) WITH ('connector' = 'filesystem', 'path' = '{events}', 'format' = 'json');\n"
parts = [ddl, (bench / "views.sql").read_text(), (bench / f"{query}.sql").read_text()]
home = pathlib.Path(os.environ["NEXMARK_HOME"])
pathlib.Path(out).write_text("\n".join(parts).replace("${FLINK_HOME}", str(home)))
PY
}
export NEXMARK_DIR="$here/nexmark"
export NEXMARK_HOME="$work/nexmark_home"
mkdir -p "$NEXMARK_HOME/data"
python3 -c 'import sys; open(sys.argv[1], "w").writelines(f"{i},{i}\n" for i in range(10000))' \
  "$NEXMARK_HOME/data/side_input.txt"

timed() { # engine query events command...
  local engine=$1 q=$2 n=$3; shift 3
  if ! /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" > /dev/null; then
    echo "$engine failed on $q" >&2
    return
  fi
  read -r secs rss < "$work/time.txt"
  record "$engine" "$q" "$n" "$secs" "$((rss / 1024))"
}

for n in "${sizes[@]}"; do
  events="$work/nexmark_${n}.json"
  [ -s "$events" ] || "$rill" -f "$root/tests/conformance/data/nexmark_events.sql" -D OUT="$events" \
    -D EVENTS_NUM="$n" -D TPS=10000000 -D PERSON_AVG_SIZE=200b -D AUCTION_AVG_SIZE=500b -D BID_AVG_SIZE=100b
  for q in $queries; do
    script file "$events" "$q" "$work/nexmark_file_$q.sql"
    script gen "$events" "$q" "$work/nexmark_gen_$q.sql"
    for _ in 1 2; do
      timed rill "$q" "$n" "$rill" -f "$work/nexmark_file_$q.sql" -p 1
      timed rill_p"$cores" "$q" "$n" "$rill" -f "$work/nexmark_file_$q.sql" -p "$cores"
      timed rill_gen "$q" "$n" "$rill" -f "$work/nexmark_gen_$q.sql" -D EVENTS_NUM="$n" -p 1
    done
    if [ -x "$flink_py" ]; then
      for repeat in 1 3; do
        /usr/bin/time -f "%e %M" -o "$work/time.txt" "$flink_py" "$shared/flink-oracle/flink_sql.py" \
          "$work/nexmark_file_$q.sql" -p 1 --repeat "$repeat" --time 2> "$work/flink.log" > /dev/null || true
        # The last line: /usr/bin/time puts a failed command's status first.
        read -r _ rss < <(tail -n 1 "$work/time.txt")
        python3 "$here/flink_timing.py" "$work/flink.log" "$q" "$n" "$repeat" "$((rss / 1024))" >> "$results"
      done
    fi
  done
done
[ -x "$flink_py" ] || echo "(Flink oracle not installed at $flink_py: run $shared/flink-oracle/setup.sh to compare)"
python3 "$here/table.py" "$results" "rill_p$cores" "rill_gen"
