# What scripts/up.sh, scripts/destroy.sh and scripts/setup.sh check before they touch a stack.
# Sourced, not run. Each check prints one line saying what to do and exits 2.

# The stack has a stack file: a mistyped name (STACK=stagign) would otherwise create a new stack and a
# stray stacks/Pulumi.stagign.yaml.
require_known_stack() {
  local stack="$1" known
  if [ ! -f "stacks/Pulumi.$stack.yaml" ]; then
    known="$(cd stacks && ls Pulumi.*.yaml | sed 's/^Pulumi\.//; s/\.yaml$//' | paste -sd ' ')"
    echo "unknown stack '$stack': there is no stacks/Pulumi.$stack.yaml (known stacks: ${known// /, })" >&2
    exit 2
  fi
}

# What the scripts need to know of a stack, read from its stack file in one Python start (the
# virtualenv's python on PATH): USES_DIGITALOCEAN (0 for an existing-cluster stack), PROTECTED (the
# config's `protect`), CONFIG_ERRORS (why the program would refuse the config; empty when valid) and
# BACKEND (the state backend in use: PULUMI_BACKEND_URL, else Pulumi.yaml's backend.url).
stack_facts() {
  local facts
  facts="$(python - "$1" <<'PY'
import shlex
import sys

from hardened_doks.config import ConfigError
from hardened_doks.tools.checks import load_config
from hardened_doks.tools.engine import backend_url, uses_digitalocean

stack = sys.argv[1]
try:
    protect, errors = load_config(stack).protect, ""
except ConfigError as exc:
    protect, errors = False, f"{stack}: {exc}"
facts = {"USES_DIGITALOCEAN": int(uses_digitalocean(stack)), "PROTECTED": int(protect), "CONFIG_ERRORS": errors, "BACKEND": backend_url()}
print("\n".join(f"{name}={shlex.quote(str(value))}" for name, value in facts.items()))
PY
)" || exit 2
  eval "$facts"
}

# The start of up.sh and destroy.sh: a known stack, the virtualenv's bin first on PATH (as a direct
# user of a DOKS stack has it: the Kubernetes provider runs the credential plugin,
# hardened-doks-kube-credentials, from there), and the stack's facts.
prepare_stack() {
  local venv
  require_known_stack "$1"
  venv="$(scripts/venv.sh)"
  export PATH="$venv/bin:$PATH"
  stack_facts "$1"
}

# The local state directory of a file:// backend: the CLI refuses one that does not exist.
ensure_state_dir() {
  local state
  case "$1" in
    file://*) state="${1#file://}"; mkdir -p "${state%%\?*}";;
  esac
}

# The variables a DigitalOcean stack needs (an existing-cluster stack needs neither token) and the
# passphrase of the secrets provider. After stack_facts.
require_credentials() {
  if [ "$USES_DIGITALOCEAN" = 1 ]; then
    if [ -z "${DIGITALOCEAN_TOKEN:-}" ]; then
      echo "export DIGITALOCEAN_TOKEN (a DigitalOcean API token with write access)" >&2
      exit 2
    fi
    # The kubeconfig's exec plugin mints cluster credentials with a token of its own, never with the
    # write-capable DIGITALOCEAN_TOKEN (tools/kube_credentials.py).
    if [ -z "${HARDENED_DOKS_CLUSTER_ACCESS_TOKEN:-}" ]; then
      echo "export HARDENED_DOKS_CLUSTER_ACCESS_TOKEN (a DigitalOcean token with only the custom scopes kubernetes:access_cluster, kubernetes:read, regions:read, sizes:read, actions:read; docs/threat-model.md)" >&2
      exit 2
    fi
  fi
  if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    echo "export PULUMI_CONFIG_PASSPHRASE (encrypts the stack's secrets in state; keep it safe)" >&2
    exit 2
  fi
}

# A pulumi CLI on PATH: the official one, or one built from the Go module proxy (once, ~10 min).
# Provider plugins are downloaded by the CLI.
require_pulumi() {
  if ! command -v pulumi >/dev/null; then
    echo "no pulumi CLI on PATH: building one with scripts/toolchain.sh (once; or install the official one: https://www.pulumi.com/docs/install/)" >&2
    scripts/toolchain.sh pulumi >/dev/null
    PATH="$(scripts/toolchain.sh --print-path):$PATH"
    export PATH
  fi
  export PULUMI_SKIP_UPDATE_CHECK=true
  # The engine's settings of every project command (tools/engine.py ENGINE_SETTINGS, docs/performance.md):
  # the state is written once per update (and when it is cancelled), not after every step, which is
  # quadratic. A value already exported wins. After a hard-killed up: docs/operations.md "An interrupted up".
  export PULUMI_SKIP_CHECKPOINTS="${PULUMI_SKIP_CHECKPOINTS:-true}"
}
