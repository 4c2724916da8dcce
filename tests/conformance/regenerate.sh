#!/usr/bin/env bash
# Regenerates expected.csv (and changelog.csv where a case has one) of conformance cases with
# the Flink oracle (never by hand).
#   tests/conformance/regenerate.sh            # every case
#   tests/conformance/regenerate.sh scan view  # some cases
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
  # A case of something Flink refuses (a rill extension) holds, in flink.sed, the sed script
  # that makes of query.sql the Flink query that must give the same answer.
  query="$case/query.sql"
  if [ -f "$case/flink.sed" ]; then
    query="$case/flink.sql"
    sed -f "$case/flink.sed" "$case/query.sql" > "$query"
    cmp -s "$query" "$case/query.sql" && { echo "$case/flink.sed changes nothing" >&2; exit 1; }
  fi
  # A case whose result has MULTISET columns (named in its multisets file) is read through
  # collect(): Flink's csv sink has no MULTISET.
  sink=fs
  [ -f "$case/multisets" ] && sink=collect
  "$py" "$oracle/flink_sql.py" "$query" --sort --header --sink "$sink" -o "$case/expected.csv" \
    2>"$case/oracle.log" || { echo "oracle failed on $case, see $case/oracle.log" >&2; continue; }
  rm -f "$case/oracle.log"
  if [ -f "$case/multisets" ]; then
    python3 "$here/multiset.py" "$case/expected.csv" $(cat "$case/multisets")
  fi
  # A query whose updates Flink sends as upserts on the key named in upsert-key keeps only each
  # key's last version (the oracle's materialization keeps them all).
  if [ -f "$case/upsert-key" ]; then
    "$py" "$oracle/flink_sql.py" "$query" --changelog --sink collect -o "$case/upserts.csv" \
      2>"$case/oracle.log" || { echo "oracle failed on $case's upserts, see $case/oracle.log" >&2; continue; }
    python3 "$here/upsert.py" "$case/expected.csv" "$case/upserts.csv" "$(cat "$case/upsert-key")"
    rm -f "$case/oracle.log" "$case/upserts.csv"
  fi
  # A case whose order is part of its answer keeps Flink's rows in the order it emits them.
  if [ -f "$case/ordered.csv" ]; then
    "$py" "$oracle/flink_sql.py" "$query" --header -o "$case/ordered.csv" \
      2>"$case/oracle.log" || { echo "oracle failed on $case's order, see $case/oracle.log" >&2; continue; }
    rm -f "$case/oracle.log"
  fi
  # A case with a deterministic changelog keeps Flink's exact one too.
  if [ -f "$case/changelog.csv" ]; then
    "$py" "$oracle/flink_sql.py" "$query" --changelog --sink collect -o "$case/changelog.csv" \
      2>"$case/oracle.log" || { echo "oracle failed on $case's changelog, see $case/oracle.log" >&2; continue; }
    rm -f "$case/oracle.log"
  fi
done
rm -f ./*/flink.sql
