#!/usr/bin/env bash
# `make destroy`: tear one stack down (default dev), deliberately.
#   DIGITALOCEAN_TOKEN=... HARDENED_DOKS_CLUSTER_ACCESS_TOKEN=... PULUMI_CONFIG_PASSPHRASE=... scripts/destroy.sh <stack> [pulumi destroy flags]
# Every namespace the stack manages is protected (components/kube.py PROTECTED_KINDS: deleting one
# deletes its workloads, Secrets and volumes), so a plain `pulumi destroy` stops before it deletes
# anything. This script is the teardown path of docs/operations.md ("Teardown"):
#   pulumi state unprotect --all --yes --stack <stack> && pulumi destroy --stack <stack>
# after you have typed the stack's name (or passed --yes). A stack whose cluster and VPC are protected
# too (`protect`: prod's floor, or a stack file that sets it) is refused: tear it down by hand, as
# that section says, if you really mean to.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh
stack="${1:-dev}"; shift || true
prepare_stack "$stack"
if [ -n "$CONFIG_ERRORS" ]; then echo "$CONFIG_ERRORS" >&2; echo "refusing to destroy $stack with a config the program refuses: fix it first" >&2; exit 2; fi
if [ "$PROTECTED" = 1 ]; then
  cat >&2 <<MSG
refusing to destroy $stack: its config sets protect (the prod profile's floor), so Pulumi will not
delete its cluster or its VPC, and every namespace the stack manages is protected in every stack
(components/kube.py PROTECTED_KINDS). A destroy would stop at the first of them. Tearing $stack down
deletes every workload, Secret and volume in the cluster; if that is what you want, do it by hand
(docs/operations.md, "Teardown"):
  pulumi state unprotect --all --yes --stack $stack
  pulumi destroy --stack $stack
MSG
  exit 1
fi
require_credentials
require_pulumi
if ! pulumi stack select "$stack" >/dev/null 2>&1; then
  echo "stack $stack does not exist in $BACKEND: nothing to destroy" >&2
  exit 2
fi
yes=0
for arg in "$@"; do case "$arg" in --yes|-y) yes=1;; esac; done
echo "destroy $stack: every resource of the stack goes, the cluster and everything in it included." >&2
echo "Its namespaces are protected (docs/operations.md, \"Teardown\"): their protection is lifted in the state first." >&2
if [ "$yes" = 0 ]; then
  if [ ! -t 0 ]; then echo "not a terminal: pass --yes (make destroy STACK=$stack ARGS=--yes) to confirm" >&2; exit 2; fi
  read -r -p "type the stack's name to confirm: " answer
  [ "$answer" = "$stack" ] || { echo "not confirmed; nothing was changed" >&2; exit 1; }
fi
pulumi state unprotect --all --yes --stack "$stack" >/dev/null
# More deletes in flight: a destroy mostly waits for namespaces to be finalized (tools/engine.py
# DESTROY_SETTINGS, docs/performance.md "Destroy"). A value already exported wins.
export PULUMI_PARALLEL="${PULUMI_PARALLEL:-32}"
if ! pulumi destroy --stack "$stack" "$@"; then
  echo "pulumi destroy did not finish: the namespaces stay unprotected in the state until the next pulumi up restores it" >&2
  exit 1
fi
