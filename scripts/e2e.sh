#!/usr/bin/env bash
# The end-to-end tier on its own (docs/testing.md): the real Pulumi engine against a local
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler, with kwok simulating the
# nodes, all built from the Go module proxy by scripts/toolchain.sh on first use (cached outside
# the repository; ~25-40 min cold on 2 cores, seconds when present). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$(scripts/venv.sh)"
export PATH="$venv/bin:$PATH"

echo "== toolchain (Pulumi engine, Kubernetes provider, control plane)"
start=$(date +%s)
scripts/toolchain.sh >/dev/null
export HARDENED_DOKS_TOOLCHAIN_BIN="$(scripts/toolchain.sh --print-path)"
scripts/kyverno-chart.sh >/dev/null
scripts/trivy-chart.sh >/dev/null
echo "== toolchain: $(( $(date +%s) - start ))s"

echo "== end-to-end tier (real engine, local API server)"
start=$(date +%s)
python -m pytest tests/e2e "$@"
echo "== end-to-end tier: $(( $(date +%s) - start ))s"
