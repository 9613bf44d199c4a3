#!/usr/bin/env bash
# Fetch, once, what the in-cluster layer needs offline, from the Go module proxy into the cache
# (outside the repository), and print the path of the installable Kyverno chart:
#
#   <cache>/artifacts/kyverno-v1.19.1/chart/kyverno   the official chart 3.9.1, ready for
#                                                     `hardened-doks:admission.chart_path`
#   <cache>/artifacts/crds/                           CRD schemas the unit tier validates against
#
# The Go module zip of github.com/kyverno/kyverno@v1.19.1 carries charts/kyverno (the chart
# published at https://kyverno.github.io/kyverno/ as 3.9.1) and config/crds. Three of the
# chart's dependencies are remote charts; the prepared copy makes it installable with no chart
# repository: kyverno-api (the policies.kyverno.io CRDs) is vendored from config/crds as a local
# subchart, and openreports and reports-server (both disabled by default and by the stack) are
# dropped from Chart.yaml. Nothing else is changed. The CiliumNetworkPolicy CRD comes from
# github.com/cilium/cilium@v1.18.4. Both zips are checked against pinned SHA-256 digests.
#
#   scripts/kyverno-chart.sh            # prints the chart path (fetches on first run)
#   scripts/kyverno-chart.sh --crds     # prints the CRD folder
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${HARDENED_DOKS_CACHE:-$HOME/.cache/hardened-doks}/artifacts"
proxy="${GOPROXY_URL:-https://proxy.golang.org}"

kyverno_version=v1.19.1
kyverno_sha256=e9d374f6904c4b39de932ad7ade582e90159f520dbb27337415639f5ae2c73bf
cilium_version=v1.18.4
cilium_sha256=4fe63c9c6454feab46751f19d4d4d68873965295c73327bb60d97f97a35eac5a

kyverno_dir="$cache/kyverno-$kyverno_version"
crds_dir="$cache/crds"

fetch() { # module version sha256 destination
  local tmp; tmp="$(mktemp "$4.XXXXXX")"
  echo "fetching $1@$2 from the Go module proxy (once)" >&2
  curl -fsSL --retry 3 -o "$tmp" "$proxy/$1/@v/$2.zip"
  echo "$3  $tmp" | sha256sum -c --quiet - >&2 || { rm -f "$tmp"; echo "checksum mismatch for $1@$2" >&2; exit 1; }
  mv "$tmp" "$4"
}

mkdir -p "$cache"
if [ ! -f "$kyverno_dir/.ready" ]; then
  rm -rf "$kyverno_dir"; mkdir -p "$kyverno_dir"
  fetch github.com/kyverno/kyverno "$kyverno_version" "$kyverno_sha256" "$kyverno_dir/module.zip"
  prefix="github.com/kyverno/kyverno@$kyverno_version"
  (cd "$kyverno_dir" && unzip -q module.zip "$prefix/charts/kyverno/*" "$prefix/config/crds/*" && mv "$prefix" src && rm -rf github.com module.zip)
  mkdir -p "$kyverno_dir/chart"
  cp -R "$kyverno_dir/src/charts/kyverno" "$kyverno_dir/chart/kyverno"
  # PyYAML comes from the project's virtualenv.
  "$("$root/scripts/venv.sh")/bin/python" "$root/scripts/prepare_kyverno_chart.py" "$kyverno_dir/chart/kyverno" "$kyverno_dir/src/config/crds/policies.kyverno.io"
  touch "$kyverno_dir/.ready"
fi
if [ ! -f "$crds_dir/.ready-$cilium_version-$kyverno_version" ]; then
  rm -rf "$crds_dir"; mkdir -p "$crds_dir"
  cp "$kyverno_dir/src/config/crds/kyverno/"*.yaml "$crds_dir/"
  fetch github.com/cilium/cilium "$cilium_version" "$cilium_sha256" "$crds_dir/cilium.zip"
  unzip -q -j -d "$crds_dir" "$crds_dir/cilium.zip" "github.com/cilium/cilium@$cilium_version/pkg/k8s/apis/cilium.io/client/crds/v2/ciliumnetworkpolicies.yaml"
  rm -f "$crds_dir/cilium.zip"
  touch "$crds_dir/.ready-$cilium_version-$kyverno_version"
fi
case "${1:-}" in
  --crds) echo "$crds_dir" ;;
  *) echo "$kyverno_dir/chart/kyverno" ;;
esac
