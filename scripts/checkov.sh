#!/usr/bin/env bash
# Create (once) checkov's own virtualenv outside the repository and print the path of its
# `checkov` command. checkov pins packaging 23.x while the project pins 26.x, so it cannot
# share the project's virtualenv; the tests call it as a subprocess.
#   scripts/checkov.sh           # prints .../bin/checkov
#   scripts/checkov.sh --lock    # re-resolve checkov's pins into scripts/checkov-constraints.txt
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${HARDENED_DOKS_CACHE:-$HOME/.cache/hardened-doks}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
version=3.3.30
constraints="$root/scripts/checkov-constraints.txt"
if [ "${1:-}" = "--lock" ]; then
  scratch="$(mktemp -d)"; trap 'rm -rf "$scratch"' EXIT
  "$python" -m venv "$scratch/venv"
  "$scratch/venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$version"
  { echo "# checkov's own pins (it needs packaging 23.x, the project pins 26.x: hence its own virtualenv)."
    echo "# Regenerate: scripts/checkov.sh --lock"
    "$scratch/venv/bin/pip" freeze | sort -f; } > "$constraints"
  echo "wrote $constraints" >&2
  exit 0
fi
key="$(sha256sum "$constraints" | cut -c1-12)"
venv="$cache/checkov-$version-$key"
if [ ! -f "$venv/.ready" ]; then
  echo "setting up $venv (once)" >&2
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" "checkov==$version" >&2
  touch "$venv/.ready"
fi
echo "$venv/bin/checkov"
