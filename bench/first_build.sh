#!/usr/bin/env bash
# A newcomer's first result (#17's goal: under 10 minutes on 2 cores): a fresh clone, an empty
# cargo cache and target directory, then the README's quick start, timed until it prints its
# first row. Prints the download, the build and the whole, and keeps cargo's --timings report.
# Usage: bench/first_build.sh   (needs crates.io; takes the machine's cores for minutes)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${BENCH_DIR:-/tmp/rill-bench}/first-build"
rm -rf "$work" && mkdir -p "$work"
git clone -q "$root" "$work/rill"
# Only the toolchain (RUSTUP_HOME) is kept: registry, sources and build are new.
export CARGO_HOME="$work/cargo-home" CARGO_TARGET_DIR="$work/target"
cd "$work/rill"
now() { date +%s.%N; }
start=$(now)
cargo fetch -q
fetched=$(now)
cargo build -q -p rill-shell --timings 2> "$work/build.log"
built=$(now)
first=$(cargo run -q -p rill-shell -- -f examples/ticks.sql | head -n 1)
done=$(now)
cp "$CARGO_TARGET_DIR"/cargo-timings/cargo-timing.html "$work/" 2> /dev/null || true
python3 - "$start" "$fetched" "$built" "$done" "$first" <<'PY'
import json, sys
start, fetched, built, done = map(float, sys.argv[1:5])
print(json.dumps({"fetch_s": round(fetched - start), "build_s": round(built - fetched),
                  "first_result_s": round(done - start), "first_row": sys.argv[5]}))
PY
