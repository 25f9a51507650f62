#!/usr/bin/env bash
# Installs a real Prometheus server (Debian's `prometheus` package) when it
# is missing and prints the path of its binary. The tests run that binary
# themselves (their own config, a temporary storage folder, a loopback
# listen address); the package's systemd service is not used.
#
#   PROMETHEUS=$(bash scripts/prometheus.sh)
#
# Exits non-zero, saying why, when it cannot be installed.
set -euo pipefail

find_binary() {
  command -v prometheus 2>/dev/null && return 0
  [ -x /usr/bin/prometheus ] && echo /usr/bin/prometheus && return 0
  return 1
}

if find_binary; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "prometheus.sh: prometheus is not installed and apt-get is not available: install Prometheus and put it on PATH" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO="sudo"
fi
echo "prometheus.sh: installing Debian's prometheus package" >&2
export DEBIAN_FRONTEND=noninteractive
# The package's maintainer script tries to start its service; a machine
# without a running init refuses that, which must not fail the install.
$SUDO apt-get update -qq >&2 || true
if ! $SUDO apt-get install -y -qq --no-install-recommends prometheus >&2; then
  echo "prometheus.sh: apt-get install prometheus failed" >&2
  exit 1
fi
if ! find_binary; then
  echo "prometheus.sh: the prometheus package is installed but no prometheus binary was found" >&2
  exit 1
fi
