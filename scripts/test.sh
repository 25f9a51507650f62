#!/usr/bin/env bash
# The whole test suite, as CI runs it: format, lints, every test (unit,
# property, integration against the embedded server and the real FastAPI
# app, a real Prometheus scraping a run), and docs. Installs what it needs
# (rustfmt, clippy, the FastAPI venv, Debian's prometheus package).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
# The FastAPI app the integration tests start (first run needs PyPI).
bash scripts/fastapi-venv.sh >/dev/null
# kubernetes-validate, for the deploy/k8s schema check (first run needs PyPI).
bash scripts/k8s-validate-venv.sh >/dev/null
# The real Prometheus server tests/prometheus_live.rs starts (Debian's
# package; first run needs apt-get). Fails here, loudly, when it cannot be had.
PROMETHEUS_BIN=$(bash scripts/prometheus.sh)
echo "== prometheus: $PROMETHEUS_BIN"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets
cargo test --locked --doc
echo "== report checks (junit.xml schema, report.html in headless Chromium)"
bash scripts/report-checks.sh
echo "== benchmarks, smoke size (so they cannot rot; nothing asserted on timings)"
python3 scripts/bench.py --smoke
echo "== fuzz targets compile (run them with scripts/fuzz.sh SECONDS)"
cargo build --quiet --locked --manifest-path fuzz/Cargo.toml
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
echo "== all checks passed"
