"""The pinned Helm charts offline: where a local copy is, whether it is the pinned one, and its objects.

- :func:`local_chart`: the local copy of a pinned chart — Kyverno's and the Trivy operator's from
  their Go module zips (``scripts/kyverno-chart.sh``, ``scripts/trivy-chart.sh``), the others as
  archives in the shared charts folder (``<project>/../shared/charts``, or ``$HARDENED_DOKS_CHARTS``);
- :func:`pin_problems`: a pin against a repository's ``index.yaml`` (``make check-pins`` fetches the
  live ones; the unit tier reads the snapshots in ``<shared charts>/index``);
- :func:`render_release`: ``helm template`` of a Helm Release's inputs, exactly as ``pulumi up``
  would install it (values, namespace, post-renderer, CRDs, hooks; not the charts' test pods),
  cached per (chart, values, arguments) in ``~/.cache/hardened-doks/helm-template``.

The offline render (``make render``) and the unit tier's gates use these; a chart that is neither
local nor reachable is an error naming what to fetch, never a skip.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import yaml

from hardened_doks.config import parse_stack_config
from hardened_doks.addons import CHART_PINS
from hardened_doks.chart_pin import ChartPin, chart_metadata
from hardened_doks.tools.offline import PROJECT_DIR, read_stack_file

#: Overrides where the shared third-party charts are (default ``<project>/../shared/charts``).
CHARTS_ENV = "HARDENED_DOKS_CHARTS"
CACHE = Path(os.environ.get("HARDENED_DOKS_CACHE", Path.home() / ".cache" / "hardened-doks"))
#: Each chart repository's index snapshot in ``<shared charts>/index`` (see that folder's README.md;
#: docs/scanners.md, "Where the charts come from, what the tests render, and how to bump a pin").
INDEX_SNAPSHOTS: dict[str, str] = {
    "https://kubescape.github.io/helm-charts/": "kubescape.index.yaml",
    "https://falcosecurity.github.io/charts": "falcosecurity.index.yaml",
    "https://snyk.github.io/kubernetes-monitor/": "snyk.index.yaml",
}
#: Kinds Helm installs without a namespace (every other object goes to the release namespace).
CLUSTER_SCOPED = frozenset(
    {
        "APIService", "CSIDriver", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "IngressClass",
        "MutatingWebhookConfiguration", "Namespace", "PersistentVolume", "PriorityClass", "RuntimeClass", "StorageClass",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    }
)  # fmt: skip
#: The project's post-renderer (components/scanners.py names it on the Releases that need it).
POSTRENDER = "tools/helm_postrender.py"

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class ChartError(RuntimeError):
    """A chart that cannot be found or rendered; the message says what to do."""


def shared_charts_dir() -> Path:
    """The shared third-party charts folder: ``$HARDENED_DOKS_CHARTS`` or ``<project>/../shared/charts``."""
    return Path(os.environ.get(CHARTS_ENV) or PROJECT_DIR.parent / "shared" / "charts").expanduser()


@functools.cache
def _script(name: str) -> str:
    """Run one of the project's idempotent fetch scripts and return the path it prints."""
    result = subprocess.run([str(PROJECT_DIR / "scripts" / name)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ChartError(f"scripts/{name} failed:\n{result.stderr.strip()}")
    return result.stdout.strip().splitlines()[-1]


def local_chart(key: str) -> Path:
    """The local copy of the pinned chart of an add-on key (``kyverno``, ``trivy``, ``kubescape``…)."""
    pin = CHART_PINS[key]
    if pin.offline:
        return Path(_script(Path(pin.offline).name))
    path = shared_charts_dir() / f"{pin.name}-{pin.version}.tgz"
    if not path.is_file():
        raise ChartError(
            f"no local copy of chart {pin.name} {pin.version}: {path} is missing. Point {CHARTS_ENV} at the folder holding "
            f"{path.name}, or fetch it with `helm pull {pin.name} --version {pin.version} --repo {pin.repo}`"
        )
    return path


def pin_for(name: str, version: str) -> Optional[tuple[str, ChartPin]]:
    """The (add-on key, pin) of a chart name and version, if the stack pins it."""
    return next(((k, p) for k, p in CHART_PINS.items() if (p.name, p.version) == (name, version)), None)


# -- pins against a repository's index ----------------------------------------------------


def pin_problems(pin: ChartPin, index: Mapping[str, Any]) -> list[str]:
    """Why a repository index does not publish exactly the pinned chart (empty when it does)."""
    entries = (index.get("entries") or {}).get(pin.name) or []
    if not entries:
        return [f"{pin.name}: the repository {pin.repo} lists no chart of that name"]
    (entry, *_) = [e for e in entries if str(e.get("version")) == pin.version] or [None]
    if entry is None:
        newest = ", ".join(str(e.get("version")) for e in entries[:5])
        return [f"{pin.name} {pin.version}: not published in {pin.repo} (newest listed: {newest})"]
    problems = []
    if pin.app_version and entry.get("appVersion") is not None and str(entry["appVersion"]) != pin.app_version:
        problems.append(f"{pin.name} {pin.version}: the repository says app {entry['appVersion']}, the pin says {pin.app_version}")
    if pin.digest and entry.get("digest") != pin.digest:
        problems.append(f"{pin.name} {pin.version}: the published archive's digest is {entry.get('digest')}, the pin says {pin.digest} (re-published?)")
    return problems


def local_pin_problems(pin: ChartPin, path: Path) -> list[str]:
    """Why a local chart (folder or archive) is not the pinned chart and app version."""
    chart = chart_metadata(str(path))
    if chart is None:
        return [f"{path}: not a chart folder or archive"]
    found = (chart.get("name"), str(chart.get("version")), str(chart.get("appVersion", "")))
    expected = (pin.name, pin.version, pin.app_version or found[2])
    return [] if found == expected else [f"{path} holds {' '.join(found)}; the pin is {' '.join(expected)}"]


# -- rendering -----------------------------------------------------------------------------


@functools.cache
def helm() -> str:
    """The helm CLI (scripts/helm.sh: the one on PATH, or built once from the Go module proxy)."""
    return _script("helm.sh")


@functools.cache
def kube_minor(stack: str) -> str:
    """The Kubernetes minor a stack targets (its kubernetes_version_prefix, e.g. 1.34)."""
    raw, secrets = read_stack_file(stack)
    return parse_stack_config(raw, stack=stack, secret_keys=secrets).kubernetes_version_prefix


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def chart_source(release: Mapping[str, Any], offline: bool = True) -> Path | list[str]:
    """Where a Release's chart comes from: its local path, the local copy of its pin, or (not
    ``offline``) helm's arguments to fetch the pinned version from its repository."""
    chart = str(release["chart"])
    if Path(chart).expanduser().exists():
        return Path(chart).expanduser()
    found = pin_for(chart, str(release.get("version", "")))
    if found is None:
        raise ChartError(f"release {release.get('name')}: chart {chart} {release.get('version')} is neither local nor pinned")
    try:
        return local_chart(found[0])
    except ChartError:
        if offline:
            raise
        # A user with internet: helm fetches the pinned version from its repository (no credentials).
        return [chart, "--version", str(release["version"]), "--repo", str(release["repositoryOpts"]["repo"])]


def render_release(release: Mapping[str, Any], kube_version: str, offline: bool = True) -> list[dict[str, Any]]:
    """The objects ``helm install`` would apply for a Release's inputs (hooks and CRDs included).

    Objects the chart leaves without a namespace get the release namespace, as Helm installs them.
    ``offline=False`` lets helm fetch a chart that has no local copy from its repository.
    """
    return [d for *_, text in release_manifests(release, kube_version, offline) for d in parse_documents(text)]


def release_manifests(release: Mapping[str, Any], kube_version: str, offline: bool = True) -> list[tuple[str, str, str, str]]:
    """(kind, namespace, name, YAML) of each object :func:`render_release` returns, in chart order.

    Cached on disk per (chart, values, arguments, helm, post-renderer): a second render of the same
    release costs a file read (the Kyverno chart's CRDs are megabytes to parse and write).
    """
    source = chart_source(release, offline)
    postrender = release.get("postrender") or ""
    args = [
        "template", str(release["name"]), *(source if isinstance(source, list) else [str(source)]),
        "--namespace", str(release["namespace"]), "--kube-version", kube_version, "--skip-tests", "--include-crds",
        *(["--post-renderer", str(PROJECT_DIR / postrender)] if postrender else []),
    ]  # fmt: skip
    values = json.dumps(release.get("values") or {}, sort_keys=True)
    key = hashlib.sha256(
        json.dumps(
            [
                args[:1] + args[3:],
                _fingerprint(source) if isinstance(source, Path) else source,
                values,
                _fingerprint(PROJECT_DIR / postrender) if postrender else "",
                helm(),
                "sorted-keys",  # the text's format: keys sorted (a change of format is a new key)
            ]
        ).encode()
    ).hexdigest()[:24]
    cached = CACHE / "helm-template" / f"{key}.json"
    if cached.is_file():
        return [tuple(m) for m in json.loads(cached.read_text())]  # type: ignore[misc]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        handle.write(values)
        handle.flush()
        result = subprocess.run([helm(), *args, "-f", handle.name], capture_output=True, text=True, check=False, cwd=PROJECT_DIR)
    if result.returncode != 0:
        raise ChartError(f"helm template of release {release['name']} failed:\n{result.stderr.strip()}")
    documents = with_namespace([d for d in yaml.load_all(result.stdout, Loader=_LOADER) if d], str(release["namespace"]))
    manifests = [
        (d.get("kind", ""), (d.get("metadata") or {}).get("namespace", ""), (d.get("metadata") or {}).get("name", ""),
         yaml.dump(d, Dumper=_DUMPER, sort_keys=True))
        for d in documents
    ]  # fmt: skip
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(manifests))
    partial.replace(cached)
    return manifests


@functools.cache
def _parse(text: str) -> tuple[dict[str, Any], ...]:
    return tuple(d for d in yaml.load_all(text, Loader=_LOADER) if d)


def parse_documents(text: str, fresh: bool = True) -> list[dict[str, Any]]:
    """Parsed once per distinct text (charts' CRDs are megabytes); ``fresh``: the caller's own copy
    (to change), else the shared parse (read only)."""
    return copy.deepcopy(list(_parse(text))) if fresh else list(_parse(text))


def with_namespace(documents: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """Give namespaced objects without a namespace the release namespace (what Helm does at install)."""
    cluster_kinds = CLUSTER_SCOPED | {
        d["spec"]["names"]["kind"] for d in documents if d.get("kind") == "CustomResourceDefinition" and d["spec"].get("scope") == "Cluster"
    }
    for document in documents:
        metadata = document.setdefault("metadata", {})
        if document.get("kind") not in cluster_kinds and not metadata.get("namespace"):
            metadata["namespace"] = namespace
    return documents
