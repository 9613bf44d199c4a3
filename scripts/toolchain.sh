#!/usr/bin/env bash
# Provide the Pulumi engine and a local Kubernetes control plane for offline use, built from Go modules
# (see scripts/toolchain/README.md). Binaries land outside the repository in
#   ${HARDENED_DOKS_CACHE:-$HOME/.cache/hardened-doks}/toolchain/<pinned-version-key>/bin
#
#   scripts/toolchain.sh [COMPONENT...]   build/link what is missing (default: all), then print `export PATH=...`
#   scripts/toolchain.sh --print-path     print the bin folder only (builds nothing)
#   scripts/toolchain.sh --check [COMPONENT...]  exit 0 only when everything is present
#   scripts/toolchain.sh --list           list components and pinned versions
#   scripts/toolchain.sh --trim           delete the Go build cache and build folders (~9 GB; keeps the
#                                         binaries and the module cache; a later rebuild recompiles)
#
# COMPONENT: pulumi (CLI + Python language host + executor scripts), pulumi-yaml (the YAML language host:
#            YAML programs, and YAML consumers of component packages), kubernetes-provider, etcd,
#            kube-apiserver, kube-controller-manager (in the default set: the e2e tier runs its garbage
#            collector and workload controllers; TOOLCHAIN_CONTROLLER_MANAGER=0 skips it), kube-scheduler and
#            kwok (the kwok controller and its default stages: simulated kubelets, so pods are scheduled
#            onto nodes and reach Running; both in the default set), and the supply-chain tools actionlint,
#            crane, cosign, kyverno (table GO_TOOLS below); kubectl (k8s.io/kubernetes, like kube-apiserver;
#            not in the default set: the benchmark's floor, scripts/bench.sh).
# Concurrent runs serialise on a lock in the cache root (flock): a second run waits, then finds the first
# one's binaries present.
# Environment: HARDENED_DOKS_CACHE (cache root), TOOLCHAIN_USE_EXISTING=0 (never reuse binaries found on PATH),
#              TOOLCHAIN_GOMODCACHE / TOOLCHAIN_GOCACHE (default: inside the cache root), GOPROXY as usual.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
wrappers="$root/scripts/toolchain"

# ---- pins (change here; the version key below changes with them) -----------------------------------------
PULUMI_VERSION=3.260.0                      # CLI + Python SDK (PyPI pulumi==3.260.0)
K8S_PROVIDER_MODULE=github.com/pulumi/pulumi-kubernetes/provider/v4
K8S_PROVIDER_MODULE_VERSION=v4.0.0-20260115033456-f47bc2d6f199  # commit f47bc2d6 = PyPI 4.25.0a1768448096
K8S_PROVIDER_VERSION="${TOOLCHAIN_K8S_PROVIDER_VERSION:-4.25.0}" # stamped plugin version (no leading v)
KUBE_VERSION=1.34.4                         # k8s.io/kubernetes
ETCD_VERSION=3.6.16                         # go.etcd.io/etcd/server/v3
KWOK_VERSION=0.8.0                          # sigs.k8s.io/kwok (cmd/kwok: the controller, not kwokctl)
PULUMI_YAML_VERSION=v1.38.0                 # github.com/pulumi/pulumi-yaml, built against pkg/sdk v$PULUMI_VERSION
                                            # (in its stamp, not in the key below; scripts/toolchain/README.md, "What is built, and why these versions")
# ------------------------------------------------------------------------------------------------------------

# ---- supply-chain tools: Go programs built as upstream ships them ------------------------------------------
# (scripts/toolchain/README.md, "Supply-chain tools (actionlint, crane, cosign, Kyverno CLI)"; what the cluster
# admits: docs/admission.md, "Supply chain: images the cluster admits").
# One wrapper module each (scripts/toolchain/<component>/: a `tool` directive and a complete go.sum, so the
# dependency versions are upstream's own). The e2e tier pushes, signs and verifies images with crane, cosign and
# the Kyverno CLI (tests/e2e/test_supply_chain.py); the unit tier lints every workflow with actionlint.
# A fitting binary already on PATH (same version) is linked instead of built.
#   component|module|version|main package|binary|version stamp (-X)|version command
GO_TOOLS=(
  "actionlint|github.com/rhysd/actionlint|v1.7.12|github.com/rhysd/actionlint/cmd/actionlint|actionlint|github.com/rhysd/actionlint.version|-version"
  "crane|github.com/google/go-containerregistry|v0.22.1|github.com/google/go-containerregistry/cmd/crane|crane|github.com/google/go-containerregistry/cmd/crane/cmd.Version|version"
  "cosign|github.com/sigstore/cosign/v2|v2.6.5|github.com/sigstore/cosign/v2/cmd/cosign|cosign|sigs.k8s.io/release-utils/version.gitVersion|version --json"
  "kyverno|github.com/kyverno/kyverno|v1.19.1|github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno|kyverno|github.com/kyverno/kyverno/pkg/version.BuildVersion|version"
)
GO_TOOL_NAMES=()
for entry in "${GO_TOOLS[@]}"; do GO_TOOL_NAMES+=("${entry%%|*}"); done
go_tool_entry() { local e; for e in "${GO_TOOLS[@]}"; do [ "${e%%|*}" = "$1" ] && { echo "$e"; return 0; }; done; return 1; }
go_tool_field() { go_tool_entry "$1" | cut -d'|' -f"$2"; }
# ------------------------------------------------------------------------------------------------------------

cache="${HARDENED_DOKS_CACHE:-$HOME/.cache/hardened-doks}"
tc_root="$cache/toolchain"
key="pulumi-${PULUMI_VERSION}_k8sprovider-${K8S_PROVIDER_VERSION}_kube-${KUBE_VERSION}_etcd-${ETCD_VERSION}"
tc_dir="$tc_root/$key"
bin="$tc_dir/bin"
stamps="$tc_dir/stamps"
logs="$tc_dir/logs"

known_components=(pulumi pulumi-yaml kubernetes-provider etcd kube-apiserver kube-controller-manager kube-scheduler kwok
  kubectl "${GO_TOOL_NAMES[@]}")
all_components=(pulumi pulumi-yaml kubernetes-provider etcd kube-apiserver)
if [ "${TOOLCHAIN_CONTROLLER_MANAGER:-1}" != 0 ]; then all_components+=(kube-controller-manager); fi
all_components+=(kube-scheduler kwok "${GO_TOOL_NAMES[@]}")

say() { echo "toolchain: $*" >&2; }
die() { echo "toolchain: ERROR: $*" >&2; exit 1; }

# Files each component's build depends on (a change of them invalidates the stamp).
component_wrapper() {
  if go_tool_entry "$1" >/dev/null; then echo "$1"; return 0; fi  # supply-chain tool: its own wrapper folder
  case "$1" in
    pulumi) echo pulumi ;;
    pulumi-yaml) echo pulumi-yaml ;;
    kubernetes-provider) echo kubernetes-provider ;;
    etcd) echo etcd ;;
    kube-apiserver|kube-controller-manager|kube-scheduler) echo kubernetes ;;
    kubectl) echo kubectl ;;  # its own wrapper: kubectl's dependencies, without rebuilding the others
    kwok) echo kwok ;;
    *) die "unknown component '$1' (known: ${known_components[*]})" ;;
  esac
}
component_version() {
  if go_tool_entry "$1" >/dev/null; then go_tool_field "$1" 3; return 0; fi
  case "$1" in
    pulumi) echo "$PULUMI_VERSION" ;;
    pulumi-yaml) echo "$PULUMI_YAML_VERSION" ;;
    kubernetes-provider) echo "$K8S_PROVIDER_VERSION ($K8S_PROVIDER_MODULE_VERSION)" ;;
    etcd) echo "$ETCD_VERSION" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) echo "v$KUBE_VERSION" ;;
    kwok) echo "v$KWOK_VERSION" ;;
  esac
}
component_bins() {
  if go_tool_entry "$1" >/dev/null; then go_tool_field "$1" 5; return 0; fi
  case "$1" in
    pulumi) echo "pulumi pulumi-language-python pulumi-language-python-exec pulumi-resource-pulumi-python" ;;
    pulumi-yaml) echo "pulumi-language-yaml" ;;
    kubernetes-provider) echo "pulumi-resource-kubernetes" ;;
    *) echo "$1" ;;
  esac
}
# Data files a component installs beside its binaries (checked like them, but not executable).
component_files() {
  case "$1" in
    kwok) echo "$KWOK_STAGES" ;;
  esac
}
#: kwok's default stages (what kwokctl configures; the controller binary has none built in).
KWOK_STAGES=kwok-stages.yaml
wrapper_hash() {
  local dir="$wrappers/$(component_wrapper "$1")"
  [ -d "$dir" ] || die "wrapper module $dir is missing"
  (cd "$dir" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs sha256sum) \
    | sha256sum | cut -c1-16
}
stamp_want() { echo "$1 $(component_version "$1") wrapper=$(wrapper_hash "$1")"; }

# A component is present when its stamp matches the pins and every binary of it exists and is executable.
present() {
  local c="$1" f
  [ -f "$stamps/$c" ] || return 1
  # first line: what was wanted; second line: how it was provided (built / reused path)
  [ "$(head -n1 "$stamps/$c")" = "$(stamp_want "$c")" ] || return 1
  for f in $(component_bins "$c"); do [ -x "$bin/$f" ] || return 1; done
  for f in $(component_files "$c"); do [ -s "$bin/$f" ] || return 1; done
}

print_path() { echo "$bin"; }

# One build at a time per cache root: two runs would otherwise race in the same build folders
# ($tc_dir/src) and binaries. The lock is released when the script exits (the descriptor closes).
take_lock() {
  command -v flock >/dev/null || die "flock is not installed (util-linux)"
  mkdir -p "$tc_root"
  exec 9>"$tc_root/.lock"
  if ! flock -n 9; then
    say "another scripts/toolchain.sh run holds $tc_root/.lock; waiting for it"
    flock 9
  fi
}

# ---- argument parsing -------------------------------------------------------------------------------------
mode=build
components=()
for a in "$@"; do
  case "$a" in
    --print-path) mode=print ;;
    --check) mode=check ;;
    --list) mode=list ;;
    --trim) mode=trim ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0"; exit 0 ;;
    -*) die "unknown option $a" ;;
    *) component_wrapper "$a" >/dev/null; components+=("$a") ;;
  esac
done
[ ${#components[@]} -gt 0 ] || components=("${all_components[@]}")

case "$mode" in
  print)
    print_path
    for c in "${components[@]}"; do present "$c" || { say "note: '$c' is not built yet; run scripts/toolchain.sh"; break; }; done
    exit 0 ;;
  list)
    for c in "${known_components[@]}"; do
      printf '%-24s %-50s %s\n' "$c" "$(component_version "$c")" "$(present "$c" && echo present || echo missing)"
    done
    echo "bin: $bin"; exit 0 ;;
  trim)
    take_lock
    gocache="${TOOLCHAIN_GOCACHE:-$tc_root/go/build}"
    say "removing $gocache and $tc_dir/src"
    if [ -d "$gocache" ]; then GOCACHE="$gocache" go clean -cache; rm -rf "$gocache"; fi
    rm -rf "$tc_dir/src"
    exit 0 ;;
  check)
    missing=()
    for c in "${components[@]}"; do present "$c" || missing+=("$c"); done
    if [ ${#missing[@]} -gt 0 ]; then say "missing: ${missing[*]} (run scripts/toolchain.sh)"; exit 1; fi
    say "all present in $bin"; exit 0 ;;
esac

# ---- build mode -------------------------------------------------------------------------------------------
# Decide what to build only once the lock is held: a run that waited finds what the other one built.
take_lock
todo=()
for c in "${components[@]}"; do present "$c" || todo+=("$c"); done
if [ ${#todo[@]} -eq 0 ]; then
  say "up to date (${components[*]})"
  echo "export PATH=\"$bin:\$PATH\""
  exit 0
fi

mkdir -p "$bin" "$stamps" "$logs" "$tc_dir/src"

# Go environment: module and build caches outside the repo (shared by all version keys -> incremental).
command -v go >/dev/null || die "go is not installed (Go >= 1.26.6 needed; Debian/apt or https://go.dev)"
export GOMODCACHE="${TOOLCHAIN_GOMODCACHE:-$tc_root/go/mod}"
export GOCACHE="${TOOLCHAIN_GOCACHE:-$tc_root/go/build}"
export GOFLAGS="-modcacherw -buildvcs=false -mod=readonly"
export CGO_ENABLED=0
export GOWORK=off
unset GOOS GOARCH

# Is a binary on PATH (outside our own bin dir) of a fitting version? Prints its path.
# vflag is the binary's version option; --go-buildinfo reads the module versions Go recorded in the binary
# instead (`go version -m`), for programs without a version option.
find_existing() {
  local name="$1" pattern="$2" vflag="$3" p out
  [ "${TOOLCHAIN_USE_EXISTING:-1}" = 1 ] || return 1
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    case "$(readlink -f "$p")" in "$tc_root"/*) continue ;; esac
    if [ "$vflag" = --go-buildinfo ]; then out="$(go version -m "$p" 2>/dev/null || true)"
    else out="$("$p" $vflag 2>/dev/null | head -n3 || true)"; fi
    if printf '%s\n' "$out" | grep -Eq "$pattern"; then echo "$p"; return 0; fi
  done < <(type -ap "$name" 2>/dev/null | awk '!seen[$0]++')
  return 1
}

link_existing() { # component, then name=path pairs
  local c="$1"; shift
  local pair
  for pair in "$@"; do ln -sfn "${pair#*=}" "$bin/${pair%%=*}"; done
  { stamp_want "$c"; echo "reused: $*"; } > "$stamps/$c"
  say "$c: using existing $*"
}

prepare_src() { # wrapper-name -> prints a fresh build folder holding a copy of the wrapper module
  local w="$1" dst="$tc_dir/src/$1"
  rm -rf "$dst"; mkdir -p "$dst"
  cp -R "$wrappers/$w/." "$dst/"
  chmod -R u+w "$dst"
  echo "$dst"
}

mod_dir() { # module@version (resolved inside the current wrapper module) -> its folder in GOMODCACHE
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1
}

run_logged() { # name, command... ; logs to $logs/name.log, fails loudly with the log tail
  local name="$1"; shift
  if ! "$@" >>"$logs/$name.log" 2>&1; then
    echo "---- last lines of $logs/$name.log ----" >&2
    tail -n 40 "$logs/$name.log" >&2
    die "building '$name' failed (command: $*). Full log: $logs/$name.log"
  fi
}

build_pulumi() {
  local existing dir
  if existing="$(find_existing pulumi "^v?${PULUMI_VERSION%.*}\.[0-9]+" version)"; then
    # An official install keeps the Python language host and its scripts beside the CLI.
    dir="$(dirname "$(readlink -f "$existing")")"
    if [ -x "$dir/pulumi-language-python" ] && [ -e "$dir/pulumi-language-python-exec" ] \
       && [ -e "$dir/pulumi-resource-pulumi-python" ]; then
      link_existing pulumi "pulumi=$existing" "pulumi-language-python=$dir/pulumi-language-python" \
        "pulumi-language-python-exec=$dir/pulumi-language-python-exec" \
        "pulumi-resource-pulumi-python=$dir/pulumi-resource-pulumi-python"
      return 0
    fi
    say "pulumi: $existing fits, but has no Python language host beside it; building ours"
  fi
  local src sdk
  src="$(prepare_src pulumi)"
  cd "$src"
  run_logged pulumi go mod download github.com/pulumi/pulumi/sdk/v3 github.com/pulumi/pulumi/pkg/v3
  run_logged pulumi go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$bin/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  # Our own host (scripts/toolchain/README.md, "What is built, and why these versions"): its tests (option parsing, plugin command, GeneratePackage, Link) run first.
  run_logged pulumi go test -count=1 ./cmd/pulumi-language-python
  run_logged pulumi go build -trimpath -ldflags "-s -w -X main.version=$PULUMI_VERSION" \
    -o "$bin/pulumi-language-python.tmp" ./cmd/pulumi-language-python
  sdk="$(mod_dir github.com/pulumi/pulumi/sdk/v3)"
  [ -f "$sdk/python/cmd/pulumi-language-python-exec" ] || die "pulumi-language-python-exec not found in $sdk"
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
  install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"
  mv -f "$bin/pulumi.tmp" "$bin/pulumi"
  mv -f "$bin/pulumi-language-python.tmp" "$bin/pulumi-language-python"
  "$bin/pulumi" version >/dev/null || die "built pulumi does not run"
  { stamp_want pulumi; echo "built: $("$bin/pulumi" version)"; } > "$stamps/pulumi"
}

# The version of github.com/pulumi/pulumi-yaml a YAML language host binary was built from (its Go build information).
yaml_host_version() {
  go version -m "$1" 2>/dev/null | awk '($1 == "mod" || $1 == "dep") && $2 == "github.com/pulumi/pulumi-yaml" { print $3; exit }'
}

build_pulumi_yaml() {
  local existing dir
  # An official install keeps the YAML language host beside the CLI (released together, so it fits that CLI).
  if existing="$(find_existing pulumi "^v?${PULUMI_VERSION%.*}\.[0-9]+" version)"; then
    dir="$(dirname "$(readlink -f "$existing")")"
    if [ -x "$dir/pulumi-language-yaml" ]; then
      link_existing pulumi-yaml "pulumi-language-yaml=$dir/pulumi-language-yaml"; return 0
    fi
  fi
  # Otherwise one on PATH built from the pinned minor release (the host has no version option).
  if existing="$(find_existing pulumi-language-yaml \
      "^[[:space:]]*(mod|dep)[[:space:]]+github\.com/pulumi/pulumi-yaml[[:space:]]+${PULUMI_YAML_VERSION%.*}\.[0-9]+" \
      --go-buildinfo)"; then
    link_existing pulumi-yaml "pulumi-language-yaml=$existing"; return 0
  fi
  local src got
  src="$(prepare_src pulumi-yaml)"
  cd "$src"
  got="$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi-yaml)"
  [ "$got" = "$PULUMI_YAML_VERSION" ] \
    || die "pulumi-yaml: scripts/toolchain/pulumi-yaml/go.mod requires $got, the pin is $PULUMI_YAML_VERSION"
  got="$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)"
  [ "$got" = "v$PULUMI_VERSION" ] \
    || die "pulumi-yaml: scripts/toolchain/pulumi-yaml/go.mod builds against pkg/v3 $got, the CLI is v$PULUMI_VERSION"
  run_logged pulumi-yaml go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=$PULUMI_YAML_VERSION" \
    -o "$bin/pulumi-language-yaml.tmp" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
  got="$(yaml_host_version "$bin/pulumi-language-yaml.tmp")"
  [ "$got" = "$PULUMI_YAML_VERSION" ] || die "built pulumi-language-yaml records pulumi-yaml '$got', not $PULUMI_YAML_VERSION"
  mv -f "$bin/pulumi-language-yaml.tmp" "$bin/pulumi-language-yaml"
  { stamp_want pulumi-yaml; echo "built: github.com/pulumi/pulumi-yaml@$PULUMI_YAML_VERSION against pkg/sdk v$PULUMI_VERSION"; } \
    > "$stamps/pulumi-yaml"
}

build_kubernetes_provider() {
  local home="${PULUMI_HOME:-$HOME/.pulumi}" cand
  if [ "${TOOLCHAIN_USE_EXISTING:-1}" = 1 ]; then
    # An official plugin of the pinned version, installed by `pulumi plugin install` or on PATH in a versioned dir.
    for cand in "$home/plugins/resource-kubernetes-v$K8S_PROVIDER_VERSION/pulumi-resource-kubernetes" \
                $(type -ap pulumi-resource-kubernetes 2>/dev/null | grep -F "v$K8S_PROVIDER_VERSION/" || true); do
      case "$(readlink -f "$cand" 2>/dev/null)" in "$tc_root"/*|"") continue ;; esac
      if [ -x "$cand" ]; then link_existing kubernetes-provider "pulumi-resource-kubernetes=$cand"; return 0; fi
    done
  fi
  local src moddir
  src="$(prepare_src kubernetes-provider)"
  cd "$src"
  run_logged kubernetes-provider go mod download "$K8S_PROVIDER_MODULE"
  moddir="$(mod_dir "$K8S_PROVIDER_MODULE")"
  [ -d "$moddir/cmd/pulumi-resource-kubernetes" ] || die "provider sources not found (module dir '$moddir')"
  # The main package embeds schema-embed.json / terraform-mapping-embed.json, which are generated (gitignored,
  # hence absent from the module zip): copy the package here and run its generator with the stamped version.
  mkdir -p cmd/pulumi-resource-kubernetes
  cp "$moddir"/cmd/pulumi-resource-kubernetes/{main.go,generate.go,schema.json,terraform-mapping.json} \
    cmd/pulumi-resource-kubernetes/
  chmod -R u+w cmd
  (cd cmd/pulumi-resource-kubernetes && VERSION="$K8S_PROVIDER_VERSION" run_logged kubernetes-provider go run generate.go)
  [ -s cmd/pulumi-resource-kubernetes/schema-embed.json ] || die "schema generation produced nothing"
  run_logged kubernetes-provider go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" \
    -o "$bin/pulumi-resource-kubernetes.tmp" ./cmd/pulumi-resource-kubernetes
  mv -f "$bin/pulumi-resource-kubernetes.tmp" "$bin/pulumi-resource-kubernetes"
  { stamp_want kubernetes-provider; echo "built: $K8S_PROVIDER_MODULE@$K8S_PROVIDER_MODULE_VERSION"; } \
    > "$stamps/kubernetes-provider"
}

build_etcd() {
  local existing
  if existing="$(find_existing etcd "etcd Version: ${ETCD_VERSION%.*}\.[0-9]+" --version)"; then
    link_existing etcd "etcd=$existing"; return 0
  fi
  local src
  src="$(prepare_src etcd)"
  cd "$src"
  run_logged etcd go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" .
  mv -f "$bin/etcd.tmp" "$bin/etcd"
  { stamp_want etcd; echo "built: $("$bin/etcd" --version | head -n1)"; } > "$stamps/etcd"
}

kube_ldflags() {
  local p flags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags="$flags -X $p.gitVersion=v$KUBE_VERSION -X $p.gitMajor=${KUBE_VERSION%%.*}"
    flags="$flags -X $p.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) -X $p.gitTreeState=clean"
  done
  echo "$flags"
}

build_kube() { # kube-apiserver | kube-controller-manager | kube-scheduler | kubectl
  local name="$1" existing vflag=--version
  [ "$name" != kubectl ] || vflag="version --client"
  # shellcheck disable=SC2086  # kubectl's version command has arguments
  if existing="$(find_existing "$name" "(Kubernetes|Client Version:) v${KUBE_VERSION%.*}\.[0-9]+" "$vflag")"; then
    link_existing "$name" "$name=$existing"; return 0
  fi
  local src
  src="$(prepare_src "$(component_wrapper "$name")")"
  cd "$src"
  run_logged "$name" go build -trimpath -ldflags "$(kube_ldflags)" -o "$bin/$name.tmp" "k8s.io/kubernetes/cmd/$name"
  mv -f "$bin/$name.tmp" "$bin/$name"
  # shellcheck disable=SC2086
  { stamp_want "$name"; echo "built: $("$bin/$name" $vflag | head -n1)"; } > "$stamps/$name"
}

build_go_tool() { # a GO_TOOLS component: link a same-version binary from PATH, or build it from its wrapper
  local c="$1" module version pkg binary stamp vcmd existing src got
  IFS='|' read -r _ module version pkg binary stamp vcmd <<<"$(go_tool_entry "$c")"
  if existing="$(find_existing "$binary" "${version#v}" "$vcmd")"; then
    link_existing "$c" "$binary=$existing"; return 0
  fi
  src="$(prepare_src "$c")"
  cd "$src"
  got="$(go list -m -f '{{.Version}}' "$module")"
  [ "$got" = "$version" ] || die "$c: scripts/toolchain/$c/go.mod requires $module $got, the table pins $version"
  run_logged "$c" go build -trimpath -ldflags "-s -w -X $stamp=$version" -o "$bin/$binary.tmp" "$pkg"
  mv -f "$bin/$binary.tmp" "$bin/$binary"
  # shellcheck disable=SC2086  # the version command has arguments
  got="$("$bin/$binary" $vcmd 2>&1 || true)"
  case "$got" in *"${version#v}"*) ;; *) die "built $binary does not report version $version: $got" ;; esac
  { stamp_want "$c"; echo "built: $module@$version ($pkg)"; } > "$stamps/$c"
}

# kwok's default stages, as kwokctl v0.8.0 configures them for its clusters (pkg/kwokctl/runtime/cluster.go:
# getDefaultNodeStages with a node lease, getDefaultPodStages): nodes become Ready and keep a lease; pods bound
# to them go to Running; pods of Jobs then to Succeeded; deleted pods are removed. Copied from the module.
KWOK_STAGE_SOURCES=(kustomize/stage/node/fast/node-initialize.yaml
  kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  kustomize/stage/pod/fast/pod-ready.yaml kustomize/stage/pod/fast/pod-complete.yaml kustomize/stage/pod/fast/pod-delete.yaml)

build_kwok() {
  local src moddir f existing
  src="$(prepare_src kwok)"
  cd "$src"
  run_logged kwok go mod download sigs.k8s.io/kwok
  moddir="$(mod_dir sigs.k8s.io/kwok)"
  [ -d "$moddir/cmd/kwok" ] || die "kwok sources not found (module dir '$moddir')"
  for f in "${KWOK_STAGE_SOURCES[@]}"; do
    [ -s "$moddir/$f" ] || die "kwok stage $f not found in $moddir"
    printf -- '---\n# from sigs.k8s.io/kwok@v%s %s\n' "$KWOK_VERSION" "$f"; cat "$moddir/$f"
  done > "$bin/$KWOK_STAGES.tmp"
  mv -f "$bin/$KWOK_STAGES.tmp" "$bin/$KWOK_STAGES"
  if existing="$(find_existing kwok "^kwok version v${KWOK_VERSION//./\\.}( |$)" --version)"; then
    link_existing kwok "kwok=$existing"; return 0
  fi
  # The version is in the sources (pkg/consts.Version = "0.8.0"); no stamp needed.
  run_logged kwok go build -trimpath -ldflags "-s -w" -o "$bin/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok
  mv -f "$bin/kwok.tmp" "$bin/kwok"
  { stamp_want kwok; echo "built: $("$bin/kwok" --version)"; } > "$stamps/kwok"
}

say "version key $key"
say "building/linking: ${todo[*]} (logs in $logs)"
total_start=$(date +%s)
for c in "${todo[@]}"; do
  start=$(date +%s)
  : > "$logs/$c.log"
  case "$c" in
    pulumi) build_pulumi ;;
    pulumi-yaml) build_pulumi_yaml ;;
    kubernetes-provider) build_kubernetes_provider ;;
    etcd) build_etcd ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) build_kube "$c" ;;
    kwok) build_kwok ;;
    *) build_go_tool "$c" ;;
  esac
  cd "$root"
  present "$c" || die "'$c' still missing after build"
  say "$c: ready in $(( $(date +%s) - start ))s -> $(tail -n1 "$stamps/$c")"
done
say "done in $(( $(date +%s) - total_start ))s; bin: $bin"
echo "export PATH=\"$bin:\$PATH\""
