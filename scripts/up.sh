#!/usr/bin/env bash
# `pulumi up` of one stack (default dev): local state by default, preflight first.
#   DIGITALOCEAN_TOKEN=... PULUMI_CONFIG_PASSPHRASE=... scripts/up.sh [stack] [pulumi up flags]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
stack="${1:-dev}"; shift || true
: "${DIGITALOCEAN_TOKEN:?export DIGITALOCEAN_TOKEN (a DigitalOcean API token with write access)}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  echo "export PULUMI_CONFIG_PASSPHRASE (encrypts the stack's secrets in state; keep it safe)" >&2; exit 2
fi
venv="$(scripts/venv.sh)"
export PATH="$venv/bin:$PATH"
# The kubeconfig's exec plugin mints cluster credentials with a token of its own, never with the
# write-capable DIGITALOCEAN_TOKEN (tools/kube_credentials.py); a stack on an existing cluster needs neither.
if python -c 'import sys; from tools.engine import uses_digitalocean; sys.exit(0 if uses_digitalocean(sys.argv[1]) else 1)' "$stack"; then
  : "${HARDENED_DOKS_CLUSTER_ACCESS_TOKEN:?export HARDENED_DOKS_CLUSTER_ACCESS_TOKEN (a DigitalOcean token with only the custom scopes kubernetes:access_cluster, kubernetes:read, regions:read, sizes:read, actions:read; README \"Threat model\")}"
fi
if ! command -v pulumi >/dev/null; then
  # No pulumi CLI: build it from the Go module proxy (once, ~10 min; or install the official
  # one: https://www.pulumi.com/docs/install/). Provider plugins are downloaded by the CLI.
  echo "no pulumi CLI on PATH: building one with scripts/toolchain.sh (once)" >&2
  scripts/toolchain.sh pulumi >/dev/null
  export PATH="$(scripts/toolchain.sh --print-path):$PATH"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$HOME/.pulumi-local/hardened-doks}"
case "$PULUMI_BACKEND_URL" in file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}";; esac
pulumi stack select --create --secrets-provider passphrase "$stack" >/dev/null
# Preflight: the config against the live account (region, sizes, version, VPC ranges), one line
# per problem naming the key. HARDENED_DOKS_SKIP_PREFLIGHT=1 skips it (e.g. the API is unreachable).
if [ "${HARDENED_DOKS_SKIP_PREFLIGHT:-0}" != 1 ]; then
  python -m tools.preflight --stack "$stack" || { echo "preflight failed: fix the lines above, or HARDENED_DOKS_SKIP_PREFLIGHT=1" >&2; exit 1; }
fi
pulumi up --stack "$stack" "$@"
