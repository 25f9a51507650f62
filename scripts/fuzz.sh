#!/usr/bin/env bash
# Coverage-guided fuzzing of the SSE parser and the scenario loader with
# libFuzzer, on the stable toolchain (the sanitizer-coverage instrumentation
# cargo-fuzz uses, without AddressSanitizer, which needs nightly; the code
# under test has no unsafe). Usage: scripts/fuzz.sh [SECONDS per target, default 60]
# With cargo-fuzz and nightly installed, `cargo +nightly fuzz run sse_parser` works too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
seconds="${1:-60}"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the instrumentation out of build scripts (as cargo-fuzz does).
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --locked --target-dir target/cov --target "$host"
for target in sse_parser scenario_loader; do
  mkdir -p "artifacts/$target" "target/corpus/$target"
  echo "== fuzzing $target for ${seconds}s"
  "target/cov/$host/release/$target" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" "target/corpus/$target" "corpus/$target"
done
