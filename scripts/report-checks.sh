#!/usr/bin/env bash
# Checks a real report as a reader would: report.html rendered in headless
# Chromium (charts present, screenshot saved) and junit.xml validated against
# tests/data/junit.xsd with xmllint. Under CI=true missing tools are installed
# with apt-get; elsewhere a missing tool skips its check with a message.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out="${1:-target/report-checks}"
rm -rf "$out"
mkdir -p "$out"
cargo run --quiet --locked -- run scenarios/breaker-shutdown.toml --quiet --out "$out/report" \
  || test $? -eq 1

if ! command -v xmllint >/dev/null 2>&1 && [[ "${CI:-}" == "true" ]]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libxml2-utils >/dev/null
fi
if command -v xmllint >/dev/null 2>&1; then
  xmllint --noout --schema tests/data/junit.xsd "$out/report/junit.xml"
else
  echo "report-checks: SKIPPED junit.xml schema check (xmllint not installed: apt-get install libxml2-utils)"
fi
bash tests/html_chromium.sh "$out/report" "$out/report.png"
echo "report-checks: ok ($out/report.png)"
