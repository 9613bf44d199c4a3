#!/usr/bin/env bash
# Fetch, once, the official Trivy operator chart from the Go module proxy into the cache
# (outside the repository) and print the path of the installable chart:
#
#   <cache>/artifacts/trivy-operator-v0.34.0/chart/trivy-operator   chart 0.36.0 (app 0.34.0), ready
#                                                                  for `hardened-doks:scanners.trivy.chart_path`
#
# The Go module zip of github.com/aquasecurity/trivy-operator@v0.34.0 carries deploy/helm, the
# chart published at https://aquasecurity.github.io/helm-charts/ as trivy-operator 0.36.0 (its
# CRDs under crds/, no chart dependencies). It is copied unchanged. The zip is checked against a
# pinned SHA-256 digest. The unit tier renders it with each stack's values (helm template) for
# the schema and checkov gates; the e2e tier and air-gapped clusters install it from here.
#
# The other scanner charts (kubescape-operator, snyk-monitor, falco, falcosidekick) live in
# repositories the Go module proxy does not serve here (every version, branch and commit query
# answers 403): their archives are in the shared charts folder, outside the repository
# (../shared/charts or $HARDENED_DOKS_CHARTS; docs/scanners.md "Where the charts come from").
#
#   scripts/trivy-chart.sh            # prints the chart path (fetches on first run)
set -euo pipefail
cache="${HARDENED_DOKS_CACHE:-$HOME/.cache/hardened-doks}/artifacts"
proxy="${GOPROXY_URL:-https://proxy.golang.org}"

module=github.com/aquasecurity/trivy-operator
version=v0.34.0
sha256=20e9808aff63ad8291033d30befed56cb65dbd204014027ec08604b2928dd06e
dir="$cache/trivy-operator-$version"

if [ ! -f "$dir/.ready" ]; then
  rm -rf "$dir"; mkdir -p "$dir"
  tmp="$(mktemp "$dir/module.zip.XXXXXX")"
  echo "fetching $module@$version from the Go module proxy (once)" >&2
  curl -fsSL --retry 3 -o "$tmp" "$proxy/$module/@v/$version.zip"
  echo "$sha256  $tmp" | sha256sum -c --quiet - >&2 || { rm -f "$tmp"; echo "checksum mismatch for $module@$version" >&2; exit 1; }
  prefix="$module@$version"
  (cd "$dir" && unzip -q "$tmp" "$prefix/deploy/helm/*" && mkdir -p chart && mv "$prefix/deploy/helm" chart/trivy-operator && rm -rf github.com "$tmp")
  touch "$dir/.ready"
fi
echo "$dir/chart/trivy-operator"
