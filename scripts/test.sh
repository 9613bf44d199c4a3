#!/usr/bin/env bash
# The project's test command (README "Quick start", docs/testing.md; .ci/run calls it): unit tier, then the end-to-end tier.
#   scripts/test.sh [--unit] [PYTEST-ARGS...]   --unit: the unit tier alone (make unit)
set -euo pipefail
unit_only=0
if [ "${1:-}" = "--unit" ]; then unit_only=1; shift; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$(scripts/venv.sh)"
export PATH="$venv/bin:$PATH"

echo "== offline artifacts (once; cached outside the repository)"
# The Kyverno and Trivy operator charts and CRD schemas (Go module proxy), checkov's own
# virtualenv, and helm: the unit tier's schema and checkov gates use them
# (tests/unit/test_manifest_gates.py), with the other charts from ../shared/charts
# (or $HARDENED_DOKS_CHARTS; a missing archive fails the tier, naming it).
scripts/kyverno-chart.sh >/dev/null
scripts/trivy-chart.sh >/dev/null
scripts/checkov.sh >/dev/null
scripts/helm.sh >/dev/null
# actionlint, the workflow linter of tests/unit/test_workflows.py (Go module proxy; ~30 s once).
scripts/toolchain.sh actionlint >/dev/null

echo "== unit tier (offline, mocks)"
start=$(date +%s)
python -m pytest tests/unit "$@"
echo "== unit tier: $(( $(date +%s) - start ))s"

if [ "$unit_only" = 1 ]; then exit 0; fi
scripts/e2e.sh "$@"
