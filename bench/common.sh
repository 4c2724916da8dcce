# What the benchmark scripts of bench/ share, sourced after their `set -euo pipefail`: paths and
# settings (each overridable from the environment), the release build of rill, and the ticks
# files they read.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/.."
shared="${RILL_SHARED:-$root/../shared}"
work="${BENCH_DIR:-/tmp/rill-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rill-target}"
target="$CARGO_TARGET_DIR"
flink_py="${FLINK_PY:-/opt/flink-venv/bin/python}"
mkdir -p "$work"
# With Kafka, for bench/kafka.sh: one release build serves every script.
cargo build -q --release -p rill-shell --features kafka --manifest-path "$root/Cargo.toml"
rill="$target/release/rill"

# ticks ROWS: the path of a file of ROWS ticks of 20 symbols, generated the first time.
ticks() {
  local data="$work/ticks_$1.csv"
  [ -s "$data" ] || python3 "$shared/flink-oracle/gen_events.py" --rows "$1" --symbols 20 --out "$data" >&2
  echo "$data"
}
