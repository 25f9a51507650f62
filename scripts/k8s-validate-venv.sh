#!/usr/bin/env bash
# Creates .venv-k8s/ at the repo root with kubernetes-validate (pinned in
# tests/k8s/requirements.txt), which checks manifests against the Kubernetes
# API schemas offline, and prints the path of its `kubernetes-validate`.
# The venv itself is made by scripts/fastapi-venv.sh (idempotent, hashed
# requirements, serialised installs); stdout is only the executable's path.
#
#   "$(bash scripts/k8s-validate-venv.sh)" --strict deploy/k8s/*.yaml
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="$(bash "$here/fastapi-venv.sh" tests/k8s/requirements.txt .venv-k8s)"
echo "$(dirname "$python")/kubernetes-validate"
