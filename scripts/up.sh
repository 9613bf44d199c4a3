#!/usr/bin/env bash
# `make up`: `pulumi up` of one stack (default dev), after every check that can fail.
#   DIGITALOCEAN_TOKEN=... HARDENED_DOKS_CLUSTER_ACCESS_TOKEN=... PULUMI_CONFIG_PASSPHRASE=... scripts/up.sh [stack] [pulumi up flags]
# The same as, after `make setup`:  pulumi stack select --create <stack> && pulumi up --stack <stack>
# (README "Direct Pulumi use"). Nothing is created until the stack name, the credentials and the
# preflight checks have passed: no stack in the backend, no encryptionsalt in the stack file.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh
stack="${1:-dev}"; shift || true
prepare_stack "$stack"
require_credentials
if [ "$USES_DIGITALOCEAN" = 0 ]; then
  # An existing-cluster stack creates nothing in DigitalOcean: no preflight, but a config the program
  # would refuse is refused before anything exists.
  if [ -n "$CONFIG_ERRORS" ]; then echo "$CONFIG_ERRORS" >&2; echo "fix the lines above; nothing was created" >&2; exit 1; fi
elif [ "${HARDENED_DOKS_SKIP_PREFLIGHT:-0}" != 1 ]; then
  # Preflight: the config against the live account (region, sizes, version, VPC ranges), one line per
  # problem naming the key. HARDENED_DOKS_SKIP_PREFLIGHT=1 skips it (e.g. the API is unreachable).
  python -m hardened_doks.tools.preflight --stack "$stack" || { echo "preflight failed: fix the lines above (or HARDENED_DOKS_SKIP_PREFLIGHT=1); nothing was created" >&2; exit 1; }
fi
require_pulumi
ensure_state_dir "$BACKEND"
stack_file="stacks/Pulumi.$stack.yaml"
had_salt="$(grep -c '^encryptionsalt:' "$stack_file" || true)"
pulumi stack select --create --secrets-provider passphrase "$stack" >/dev/null
if [ "$had_salt" = 0 ] && grep -q '^encryptionsalt:' "$stack_file"; then
  echo "created stack $stack: $stack_file now holds its encryptionsalt; commit it (with the passphrase it decrypts the stack's secrets; README \"What to commit\")" >&2
fi
pulumi up --stack "$stack" "$@"
