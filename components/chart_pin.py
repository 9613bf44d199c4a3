"""What an add-on's descriptor pins: its official Helm chart and the images that chart runs.

Plain data, importing nothing of the project: the descriptors (components/addons/) hold the pins,
the config checks a local chart against one (components/config/checks.py), the tools compare them
with the repositories (tools/charts.py, tools/check_pins.py, tools/image_digests.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional


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

    @property
    def how_to_fetch(self) -> str:
        """How to get this chart as a local folder or archive."""
        return self.offline or f"`helm pull {self.name} --version {self.version} --repo {self.repo}`"


@dataclass(frozen=True)
class PinnedImage:
    """An image (or OCI artifact) a pinned chart runs, and the chart value that names it.

    ``value`` is the path in the chart's values of the image's tag (``form="tag"``) or of its whole
    reference (``form="reference"``); a digest set in ``addon_image_digests`` is appended there as
    ``…@sha256:<digest>`` (the tag stays for readability; the runtime pulls by digest).
    """

    reference: str
    value: tuple[str | int, ...]
    form: Literal["tag", "reference"] = "tag"
    #: An OCI artifact falcoctl or Trivy downloads (rules, plugins, checks), not a container image.
    artifact: bool = False
    #: The add-on that runs it (set from its descriptor by hardened_doks.addons.PINNED_IMAGES).
    addon: str = ""

    @property
    def tag(self) -> str:
        return self.reference.rsplit(":", 1)[1]


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


def local_chart_problems(path: str, pin: ChartPin) -> list[str]:
    """Why ``path`` is not the pinned chart, as a folder or .tgz (empty when it is)."""
    chart = chart_metadata(path)
    if chart is None:
        return [f"no chart at {path} (neither a folder with Chart.yaml nor a chart .tgz archive); prepare one with {pin.how_to_fetch}"]
    if (chart.get("name"), str(chart.get("version"))) != (pin.name, pin.version):
        return [f"{path} holds chart {chart.get('name')} {chart.get('version')}; the stack pins {pin.name} {pin.version}"]
    return []
