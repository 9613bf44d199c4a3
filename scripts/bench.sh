#!/usr/bin/env bash
# `make bench`: the performance figures of docs/performance.md (tools/bench; a benchmark, not a test:
# CI does not run it). The program under mocks at N = 1, 50, 200, 500 tenant namespaces; the real
# engine against the e2e tier's local control plane at N = 10, 50, 200, beside
# `kubectl apply --server-side` of the same objects. Prints tables; writes build/bench/bench.json.
#   scripts/bench.sh [--no-engine] [--profile] [--keep]
#   BENCH_N=1,50 BENCH_ENGINE_N=10 BENCH_CHECKPOINT_N= scripts/bench.sh     # a quick run (~3 min)
# The engine part needs the toolchain with kubectl (scripts/toolchain.sh; built on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(scripts/venv.sh)"
if [[ " $* " != *" --no-engine "* ]] && [ "${BENCH_ENGINE_N-10,50,200}" != "" ] && [ -z "${HARDENED_DOKS_TOOLCHAIN_BIN:-}" ]; then
  scripts/toolchain.sh pulumi kubernetes-provider etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl >/dev/null
  HARDENED_DOKS_TOOLCHAIN_BIN="$(scripts/toolchain.sh --print-path)"
  export HARDENED_DOKS_TOOLCHAIN_BIN
fi
exec "$venv/bin/python" -m hardened_doks.tools.bench "$@"
