#!/usr/bin/env bash
# What a restore costs: runs a query with checkpoints every INTERVAL, kills it right after its
# checkpoint number KILL_AFTER is complete (RILL_FAULT), runs it again and reports how long
# restoring that checkpoint took, its size and the keyed state it held (#15's goal: a 1M-key
# GROUP BY restores in under 2 s).
# Usage: bench/restore.sh [rows]   (default 2000000; QUERY=q_group_keys, KILL_AFTER=3)
set -euo pipefail
source "$(dirname "$0")/common.sh"
query="${QUERY:-q_group_keys}"
interval="${INTERVAL:-200 ms}"
kill_after="${KILL_AFTER:-3}"
rows="${1:-2000000}"
data=$(ticks "$rows")
dir="$work/restore-$query"
sql="$work/restore-$query.sql"
{ echo "SET 'execution.checkpointing.interval' = '$interval';"
  echo "SET 'execution.checkpointing.dir' = '$dir';"
  cat "$here/queries/$query.sql"; } > "$sql"
rm -rf "$dir"
# Killed by the fault it asks for (in the background, so that the shell does not report it).
RILL_FAULT="after-manifest-rename:$kill_after" "$rill" -f "$sql" -D INPUT="$data" \
  > /dev/null 2> "$work/restore-killed.log" &
wait $! 2> /dev/null || true
checkpoint=$(ls -d "$dir"/chk-* | sort -t- -k2 -n | tail -n 1)
bytes=$(du -sb "$checkpoint" | cut -f1)
RUST_LOG=info "$rill" -f "$sql" -D INPUT="$data" > /dev/null 2> "$work/restore.log"
millis=$(grep 'restored' "$work/restore.log" | grep -o 'millis=[0-9]*' | cut -d= -f2)
echo "{\"query\":\"$query\",\"rows\":$rows,\"checkpoint\":\"$(basename "$checkpoint")\",\"bytes\":$bytes,\"restore_ms\":$millis}"
