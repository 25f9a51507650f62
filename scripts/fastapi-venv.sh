#!/usr/bin/env bash
# Creates .venv-fastapi/ at the repo root with the FastAPI test app's pinned
# requirements (tests/fastapi/requirements.txt) and prints its python path.
# Other test servers use it too: `fastapi-venv.sh REQUIREMENTS VENV_DIR`
# (both relative to the repo root), e.g. tests/fakellm/requirements.txt
# into .venv-fakellm.
# Idempotent and fast when already set up: a stamp holds the hash of the
# requirements it was installed from, so editing them reinstalls.
# Needs python3 (3.9+) with the venv module, and access to PyPI the first time.
# Progress goes to stderr; stdout is only the python path.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/${1:-tests/fastapi/requirements.txt}"
venv="$root/${2:-.venv-fastapi}"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
# Prints the python path and exits when the venv matches the requirements.
exit_if_ready() {
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$venv/bin/python"
    exit 0
  fi
}
exit_if_ready

# Serialise concurrent callers (parallel test processes) while installing.
if command -v flock >/dev/null 2>&1; then
  lock="${TMPDIR:-/tmp}/streamsoak-venv-$(printf '%s' "$venv" | sha256sum | cut -c1-12).lock"
  exec 9>"$lock"
  flock 9
  exit_if_ready
fi

if ! command -v "$python" >/dev/null 2>&1; then
  echo "fastapi-venv: $python not found; install Python 3.9+ or set PYTHON=/path/to/python3" >&2
  exit 1
fi
echo "fastapi-venv: creating $venv" >&2
if ! "$python" -m venv "$venv" >&2; then
  echo "fastapi-venv: '$python -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
  exit 1
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements" >&2
echo "$want" >"$stamp"
echo "$venv/bin/python"
