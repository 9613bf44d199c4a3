"""What every gated variant renders: the stack's own objects and each Helm chart's objects.

A variant is a shipped stack (dev, staging, prod) or the same stack with every optional add-on on
(``<stack>-all-addons``: Snyk, Falco with falcosidekick, the Slack notifier). Each is rendered once
per session with the render command (tools/render.py, charts included: ``helm template`` of the
pinned charts from their local copies, tools/charts.py), into a temporary folder.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardened_doks.tools import render
from hardened_doks.tools.helm_postrender import pod_template
from hardened_doks.tools.charts import parse_documents
from hardened_doks.tools.offline import ProgramRun

STACKS = ("dev", "staging", "prod")
#: Every gated variant → (stack file, every optional add-on on).
VARIANTS: dict[str, tuple[str, bool]] = {**{s: (s, False) for s in STACKS}, **{f"{s}-all-addons": (s, True) for s in STACKS}}
#: The Helm releases of a shipped stack, and those the optional add-ons add.
DEFAULT_RELEASES = ("kyverno", "kubescape", "trivy-operator")
OPTIONAL_RELEASES = ("snyk-monitor", "falcosidekick", "falco")
ALL_RELEASES = DEFAULT_RELEASES + OPTIONAL_RELEASES


def releases_of(variant: str) -> tuple[str, ...]:
    return DEFAULT_RELEASES + (OPTIONAL_RELEASES if VARIANTS[variant][1] else ())


@dataclass
class Variant:
    name: str
    run: ProgramRun
    #: The render folder (tools/render.py's layout).
    out: Path
    #: The stack's own Kubernetes objects, one file each.
    stack: list[Path]
    #: Release name → the files of its chart's objects.
    charts: dict[str, list[Path]]

    def sources(self) -> dict[str, list[Path]]:
        return {"stack": self.stack, **self.charts}


def run_of(variant: str) -> ProgramRun:
    from tests.conftest import _cached_run, all_addons_run

    stack, all_addons = VARIANTS[variant]
    return all_addons_run(stack) if all_addons else _cached_run(stack)


@functools.cache
def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="hardened-doks-gates-"))
    atexit.register(shutil.rmtree, root, True)
    return root


@functools.cache
def variant(name: str) -> Variant:
    """One variant rendered (once per session), charts included."""
    run = run_of(name)
    out = _root() / name
    render.render(run, out, charts=True)
    folders = {render._slug(r.name): r.inputs["name"] for r in run.of_type(render.HELM_RELEASE)}
    charts = {folders[d.name]: sorted(d.rglob("*.yaml")) for d in (out / "helm").iterdir() if d.is_dir()}
    return Variant(name, run, out, sorted((out / "kubernetes").rglob("*.yaml")), charts)


def documents(paths: list[Path]) -> list[dict[str, Any]]:
    """The objects of rendered files (parsed once per distinct content; read only)."""
    return [d for path in paths for d in parse_documents(path.read_text(), fresh=False)]


def pod_templates(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, "Kind/name", pod template) of every workload, and of every workload template a
    chart ships in a ConfigMap for its operator to create (kubescape's scheduled scans)."""
    import yaml

    found = []
    for document in docs:
        namespace = document["metadata"].get("namespace", "")
        where = f"{document['kind']}/{document['metadata']['name']}"
        template = pod_template(document)
        if template is not None:
            found.append((namespace, where, template))
        elif document["kind"] == "ConfigMap":
            for key, text in (document.get("data") or {}).items():
                try:
                    embedded = yaml.safe_load(text)
                except yaml.YAMLError:
                    continue
                if isinstance(embedded, dict) and pod_template(embedded) is not None:
                    found.append((namespace, f"{where}[{key}]: {embedded['kind']}", pod_template(embedded)))
    return found
