#!/usr/bin/env bash
# Regenerates flink.out of format cases with the Flink oracle (never by hand): the bytes Flink
# writes when the case's INSERT runs into a filesystem table at ${OUT}.
#   tests/formats/regenerate.sh           # every case
#   tests/formats/regenerate.sh csv json  # some cases
# Needs the oracle's venv: ../shared/flink-oracle/setup.sh (FLINK_PY overrides the python).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
oracle="${FLINK_ORACLE:-$here/../../../shared/flink-oracle}"
py="${FLINK_PY:-/opt/flink-venv/bin/python}"
[ -x "$py" ] || { echo "no Flink oracle python at $py: run $oracle/setup.sh" >&2; exit 1; }
cd "$here"
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=($(for d in */; do [ -f "$d/query.sql" ] && echo "${d%/}"; done))
for case in "${cases[@]}"; do
  echo "== $case" >&2
  out="$(mktemp -d)"
  # Flink writes part files into the directory; at parallelism 1 there is one.
  "$py" "$oracle/flink_sql.py" "$case/query.sql" -D OUT="$out/" 2>"$case/oracle.log" \
    || { echo "oracle failed on $case, see $case/oracle.log" >&2; rm -rf "$out"; continue; }
  rm -f "$case/oracle.log"
  cat "$out"/part-* > "$case/flink.out"
  rm -rf "$out"
done
