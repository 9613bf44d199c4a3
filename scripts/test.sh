#!/usr/bin/env bash
# The project's test command (README "Tests"; .ci/run calls it): unit tier, then the end-to-end tier.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$(scripts/venv.sh)"
export PATH="$venv/bin:$PATH"

echo "== unit tier (offline, mocks)"
start=$(date +%s)
python -m pytest tests/unit "$@"
echo "== unit tier: $(( $(date +%s) - start ))s"
