#!/usr/bin/env bash
# One-time set-up of this checkout, for `make` and for `pulumi` run directly (README "Set up"):
# - the project's virtualenv outside the repository, linked as .venv: the virtualenv Pulumi.yaml and
#   policy/PulumiPolicy.yaml name (scripts/venv.sh);
# - the state directory of the backend in use (Pulumi.yaml's backend.url, or PULUMI_BACKEND_URL),
#   when it is a local one: the CLI refuses a file:// backend whose directory does not exist;
# - a word on the pulumi CLI: on PATH, or how to get one.
# Safe to run again: it changes nothing that is already in place.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/common.sh
source scripts/common.sh
venv="$(scripts/venv.sh)"
backend="$("$venv/bin/python" -c 'from hardened_doks.tools.engine import backend_url; print(backend_url())')"
ensure_state_dir "$backend"
echo "virtualenv: $root/.venv -> $venv"
echo "state backend: $backend"
if command -v pulumi >/dev/null; then
  echo "pulumi CLI: $(command -v pulumi) ($(pulumi version 2>/dev/null || echo 'version unknown'))"
else
  echo "pulumi CLI: none on PATH. Install the official one (https://www.pulumi.com/docs/install/), or build"
  echo "  it offline (~10 min once): scripts/toolchain.sh pulumi && export PATH=\"\$(scripts/toolchain.sh --print-path):\$PATH\""
fi
echo "For a DOKS stack, and for kubectl with its kubeconfig, also: export PATH=\"$root/.venv/bin:\$PATH\""
echo "  (the Kubernetes provider runs the credential plugin hardened-doks-kube-credentials from PATH)."
