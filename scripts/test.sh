#!/usr/bin/env bash
# The project's test command (README "Tests"; .ci/run calls it): unit tier, then the end-to-end tier.
set -euo pipefail
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

echo "== unit tier (offline, mocks)"
start=$(date +%s)
python -m pytest tests/unit "$@"
echo "== unit tier: $(( $(date +%s) - start ))s"

scripts/e2e.sh "$@"
