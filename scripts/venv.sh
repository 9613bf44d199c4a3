#!/usr/bin/env bash
# Create (once) the project's virtualenv outside the repository, link it as .venv (the virtualenv
# Pulumi.yaml and policy/PulumiPolicy.yaml name), and print its path.
# Keyed by the dependency files and this checkout's path: a change of pins builds a fresh one, and
# each checkout gets its own (the project is installed editable, so a virtualenv shared by two
# clones would run the code of whichever created it). A second run does nothing but check the link.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${HARDENED_DOKS_CACHE:-$HOME/.cache/hardened-doks}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
key="$({ cat "$root/pyproject.toml" "$root/constraints.txt"; echo "$root"; } | sha256sum | cut -c1-12)"
venv="$cache/venv-$key"
mkdir -p "$cache"
if [ ! -f "$venv/.ready" ]; then
  # One creator at a time: concurrent runs (two terminals, parallel jobs) wait for it.
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$venv/.ready" ]; then
    echo "setting up $venv (once)" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$root/constraints.txt" -e "$root[test]" >&2
    touch "$venv/.ready"
  fi
  flock -u 9
fi
# .venv -> the virtualenv, so that `pulumi` run directly uses it too. Replaced atomically (rename)
# when it points elsewhere (new pins); a real folder there (e.g. one an official Pulumi language host
# created because `pulumi` ran before this script) is not ours to delete: say so and stop.
link="$root/.venv"
if [ -e "$link" ] && [ ! -L "$link" ]; then
  echo "$link is a folder, not the link to this checkout's virtualenv: remove it (rm -rf .venv) and run make setup again" >&2
  exit 1
fi
if [ "$(readlink "$link" 2>/dev/null)" != "$venv" ]; then
  ln -sfn "$venv" "$link.$$"
  mv -fT "$link.$$" "$link"
fi
echo "$venv"
