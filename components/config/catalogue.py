"""The add-on catalogue: the security add-ons' namespaces, pinned charts and pinned images.

Not configuration: the fixed facts the stack installs. Moved verbatim out of the old single-file
config module (re-exported by hardened_doks.config)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

#: The policy engine's namespace (components/admission.py).
KYVERNO_NAMESPACE = "kyverno"
#: Namespaces of the scanners layer (components/scanners.py, components/alerts.py), one per add-on.
KUBESCAPE_NAMESPACE = "kubescape"
TRIVY_NAMESPACE = "trivy-system"
SNYK_NAMESPACE = "snyk-monitor"
FALCO_NAMESPACE = "falco"
FALCOSIDEKICK_NAMESPACE = "falcosidekick"
ALERTS_NAMESPACE = "security-alerts"
#: Namespaces of the security add-ons: the policy engine's, and those the scanners layer uses.
ADDON_NAMESPACES: tuple[str, ...] = (
    KYVERNO_NAMESPACE, KUBESCAPE_NAMESPACE, TRIVY_NAMESPACE, SNYK_NAMESPACE, FALCO_NAMESPACE, FALCOSIDEKICK_NAMESPACE, ALERTS_NAMESPACE,
)  # fmt: skip
#: The Kyverno Helm chart, pinned: chart 3.9.1 is Kyverno v1.19.1. The same chart is in the Go
#: module zip of github.com/kyverno/kyverno@v1.19.1 under charts/kyverno (scripts/kyverno-chart.sh).
KYVERNO_CHART = "kyverno"
KYVERNO_CHART_VERSION = "3.9.1"
KYVERNO_CHART_REPO = "https://kyverno.github.io/kyverno/"


@dataclass(frozen=True)
class ChartPin:
    """An official Helm chart, pinned: name, chart version, app version and its repository."""

    name: str
    version: str
    app_version: str
    repo: str
    #: How to get the chart with no chart repository reachable ("" when it cannot be fetched offline).
    offline: str = ""
    #: SHA-256 of the published archive, as the repository's index.yaml lists it ("" where the chart
    #: comes from a Go module zip). `make check-pins` compares it with the live index: a re-published
    #: archive under the same version is a change of what runs (supply chain: know what you install).
    digest: str = ""


#: Kyverno's chart as a pin (the KYVERNO_CHART* constants above are its fields).
KYVERNO_PIN = ChartPin(KYVERNO_CHART, KYVERNO_CHART_VERSION, "v1.19.1", KYVERNO_CHART_REPO, "scripts/kyverno-chart.sh")
#: The scanners layer's charts, pinned to versions their repositories published (docs/scanners.md,
#: "Where the charts come from, what the tests render, and how to bump a pin"). tests/unit/test_chart_pins.py checks
#: every pin against the repositories' index snapshots in ../shared/charts/index (Kyverno's and
#: Trivy's against the chart in their Go module zip); `make check-pins` against the live indexes.
SCANNER_CHARTS: dict[str, ChartPin] = {
    "kubescape": ChartPin(
        "kubescape-operator", "1.40.3", "1.40.3", "https://kubescape.github.io/helm-charts/",
        digest="2a0ffaa69068218f03a44139ac77c81905350208413c14ba697e9514f204af07",
    ),
    "trivy": ChartPin("trivy-operator", "0.36.0", "0.34.0", "https://aquasecurity.github.io/helm-charts/", "scripts/trivy-chart.sh"),
    # The snyk-monitor chart declares no appVersion; its image tag is the chart version.
    "snyk": ChartPin(
        "snyk-monitor", "2.23.8", "", "https://snyk.github.io/kubernetes-monitor/",
        digest="4a7ca0f58084b5d86b12301cd0a3db6fdb757563199946b483b57fcbc153d415",
    ),
    "falco": ChartPin(
        "falco", "9.1.0", "0.44.1", "https://falcosecurity.github.io/charts",
        digest="2a767d6aeccf2392c5e263ae1f5e0950520affe3a9908ff7986ac213649c45b4",
    ),
    "falcosidekick": ChartPin(
        "falcosidekick", "0.12.0", "2.31.1", "https://falcosecurity.github.io/charts",
        digest="ab1495091089fbcd214c5fa761215ae59817559c92c7497753ec395b5c289dbb",
    ),
}  # fmt: skip
#: Every pinned chart of the stack, by add-on key.
CHART_PINS: dict[str, ChartPin] = {"kyverno": KYVERNO_PIN, **SCANNER_CHARTS}


@dataclass(frozen=True)
class PinnedImage:
    """An image (or OCI artifact) a pinned chart runs, and the chart value that names it.

    ``value`` is the path in the chart's values of the image's tag (``form="tag"``) or of its whole
    reference (``form="reference"``); a digest set in ``addon_image_digests`` is appended there as
    ``…@sha256:<digest>`` (the tag stays for readability; the runtime pulls by digest).
    """

    addon: str
    reference: str
    value: tuple[str | int, ...]
    form: Literal["tag", "reference"] = "tag"
    #: An OCI artifact falcoctl or Trivy downloads (rules, plugins, checks), not a container image.
    artifact: bool = False

    @property
    def tag(self) -> str:
        return self.reference.rsplit(":", 1)[1]


#: The rules falcoctl installs into Falco at start: an exact release of falcosecurity/rules (the
#: chart's default, ``falco-rules:5``, follows every 5.x release: rules would change without a change
#: here). 5.1.0 is the release public deployments of chart 9.1.0 (Falco 0.44.1) pin; the machines that
#: test this project cannot reach ghcr.io to list its tags.
FALCO_RULES = "ghcr.io/falcosecurity/rules/falco-rules:5.1.0"
#: Every image and artifact the pinned charts run with the stack's values, by the reference the chart
#: renders (one entry per value naming it). tests/unit/test_chart_images.py fails when a rendered chart
#: runs one that is not listed (a chart bump must update this table); `make image-digests` resolves
#: their digests.
PINNED_IMAGES: tuple[PinnedImage, ...] = (
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/kyverno:v1.19.1", ("admissionController", "container", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/kyvernopre:v1.19.1", ("admissionController", "initContainer", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/background-controller:v1.19.1", ("backgroundController", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/cleanup-controller:v1.19.1", ("cleanupController", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/reports-controller:v1.19.1", ("reportsController", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/kyverno-cli:v1.19.1", ("crds", "migration", "image", "tag")),
    PinnedImage("kyverno", "ghcr.io/kyverno/readiness-checker:v1.19.1", ("webhooksCleanup", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/kubescape:v4.0.11", ("kubescape", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/kubevuln:v0.3.159", ("kubevuln", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/operator:v0.2.159", ("operator", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/storage:v0.0.297", ("storage", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/http-request:v0.2.20", ("kubescapeScheduler", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/http-request:v0.2.20", ("kubevulnScheduler", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/http-request:v0.2.20", ("registryScanScheduler", "image", "tag")),
    PinnedImage("trivy", "mirror.gcr.io/aquasec/trivy-operator:0.34.0", ("image", "tag")),
    PinnedImage("trivy", "mirror.gcr.io/aquasec/trivy:0.74.0", ("trivy", "image", "tag")),
    PinnedImage("trivy", "mirror.gcr.io/aquasec/trivy-checks:1", ("policiesBundle", "tag"), artifact=True),
    PinnedImage("snyk", "docker.io/snyk/kubernetes-monitor:2.23.8", ("image", "tag")),
    PinnedImage("falco", "docker.io/falcosecurity/falco:0.44.1", ("image", "tag")),
    PinnedImage("falco", "docker.io/falcosecurity/falcoctl:0.13.0", ("falcoctl", "image", "tag")),
    PinnedImage("falco", FALCO_RULES, ("falcoctl", "config", "artifact", "install", "refs", 0), "reference", artifact=True),
    PinnedImage("falco", "ghcr.io/falcosecurity/plugins/plugin/container:0.7.1", ("collectors", "containerEngine", "pluginRef"), "reference", artifact=True),
    PinnedImage("falcosidekick", "docker.io/falcosecurity/falcosidekick:2.32.0", ("image", "tag")),
)  # fmt: skip


def chart_metadata(path: str) -> Optional[dict[str, Any]]:
    """The Chart.yaml of a local chart: an unpacked folder or a packaged ``.tgz`` archive (None if neither).

    Helm installs both forms (``helm install NAME ./chart`` or ``./chart-1.2.3.tgz``); an archive
    holds one top-level folder with the chart's Chart.yaml in it.
    """
    import tarfile

    import yaml

    local = Path(path).expanduser()
    if local.is_dir():
        chart_file = local / "Chart.yaml"
        return (yaml.safe_load(chart_file.read_text()) or {}) if chart_file.is_file() else None
    if not local.is_file() or not tarfile.is_tarfile(local):
        return None
    with tarfile.open(local) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")]
        if len(members) != 1:
            return None
        handle = archive.extractfile(members[0])
        return (yaml.safe_load(handle.read()) or {}) if handle is not None else None


def local_chart_problems(path: str, name: str = KYVERNO_CHART, version: str = KYVERNO_CHART_VERSION, how: str = "scripts/kyverno-chart.sh") -> list[str]:
    """Why ``path`` is not chart ``name`` of the pinned ``version``, as a folder or .tgz (empty when it is)."""
    chart = chart_metadata(path)
    if chart is None:
        return [f"no chart at {path} (neither a folder with Chart.yaml nor a chart .tgz archive); prepare one with {how}"]
    if (chart.get("name"), str(chart.get("version"))) != (name, version):
        return [f"{path} holds chart {chart.get('name')} {chart.get('version')}; the stack pins {name} {version}"]
    return []
