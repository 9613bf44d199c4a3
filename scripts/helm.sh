#!/usr/bin/env bash
# Provide (once) the helm CLI the unit tier uses to render the pinned Kyverno chart for the
# schema and checkov gates (`helm template`, nothing is installed), and print its path.
# Uses `helm` on PATH when it is v3; otherwise builds helm.sh/helm/v3 at the pinned version
# from the Go module proxy into the cache (outside the repository). A second run does nothing.
set -euo pipefail
version=v3.22.0
cache="${HARDENED_DOKS_CACHE:-$HOME/.cache/hardened-doks}/helm-$version"
if command -v helm >/dev/null && helm version --template '{{.Version}}' 2>/dev/null | grep -q '^v3\.'; then
  command -v helm; exit 0
fi
if [ ! -x "$cache/bin/helm" ]; then
  command -v go >/dev/null || { echo "helm $version is built with Go (not found on PATH); install Go or helm v3" >&2; exit 1; }
  echo "building helm $version from the Go module proxy (once, a few minutes)" >&2
  work="$(mktemp -d)"
  trap 'GOPATH="$work/gopath" go clean -modcache >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  mkdir -p "$cache/bin"
  GOPATH="$work/gopath" GOCACHE="$work/gocache" GOBIN="$cache/bin" GOFLAGS=-mod=mod CGO_ENABLED=0 \
    go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" "helm.sh/helm/v3/cmd/helm@$version" >&2
fi
echo "$cache/bin/helm"
