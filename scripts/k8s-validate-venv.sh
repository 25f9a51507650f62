#!/usr/bin/env bash
# Creates .venv-k8s/ at the repo root with kubernetes-validate (pinned in
# tests/k8s/requirements.txt), which checks manifests against the Kubernetes
# API schemas offline, and prints the path of its `kubernetes-validate`.
# Idempotent and fast when already set up: a stamp holds the hash of the
# requirements it was installed from, so editing them reinstalls.
# Needs python3 (3.9+) with the venv module, and access to PyPI the first time.
# Progress goes to stderr; stdout is only the executable's path.
#
#   "$(bash scripts/k8s-validate-venv.sh)" --strict deploy/k8s/*.yaml
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-k8s"
requirements="$root/tests/k8s/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
# Prints the executable's path and exits when the venv matches the requirements.
exit_if_ready() {
  if [ -x "$venv/bin/kubernetes-validate" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$venv/bin/kubernetes-validate"
    exit 0
  fi
}
exit_if_ready

# Serialise concurrent callers (parallel test processes) while installing.
if command -v flock >/dev/null 2>&1; then
  lock="${TMPDIR:-/tmp}/streamsoak-k8s-venv-$(printf '%s' "$root" | sha256sum | cut -c1-12).lock"
  exec 9>"$lock"
  flock 9
  exit_if_ready
fi

if ! command -v "$python" >/dev/null 2>&1; then
  echo "k8s-validate-venv: $python not found; install Python 3.9+ or set PYTHON=/path/to/python3" >&2
  exit 1
fi
echo "k8s-validate-venv: creating $venv" >&2
if ! "$python" -m venv "$venv" >&2; then
  echo "k8s-validate-venv: '$python -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
  exit 1
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements" >&2
echo "$want" >"$stamp"
echo "$venv/bin/kubernetes-validate"
