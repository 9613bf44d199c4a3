"""Render a stack offline: every resource the program would create, written to a folder.

    python -m tools.render --stack dev            # → build/render/dev/
    python -m tools.render --all                  # every stack in stacks/

No credentials, no network, no engine: the real program runs under Pulumi's mocks
(tools/offline.py). Output layout:

- ``kubernetes/NNN-<kind>-<namespace>-<name>.yaml``: one Kubernetes object per file, as
  ``kubectl apply -f`` and scanners expect;
- ``helm/<name>.json``: Helm releases (chart, version, repository, values), and beside each
  ``helm/<name>/NNN-<kind>-<namespace>-<name>.yaml``: the objects its chart installs with those values
  (``helm template`` of the pinned chart: CRDs and hooks included, post-renderer applied; the chart
  comes from its local copy — ``../shared/charts``, the Go module zips — or, with internet, its
  repository; tools/charts.py). ``--no-charts`` leaves them out (no helm needed);
- ``digitalocean/<type>-<name>.json``: DigitalOcean resources with their inputs and options;
- ``index.json``: every file above with its resource type and name.

Secret values are never written: they appear as ``[secret]``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import yaml

from components.config import ConfigError
from tools.charts import ChartError, kube_minor, release_manifests
from tools.offline import PROJECT_DIR, SECRET_PLACEHOLDER, ProgramRun, RecordedResource, run_stack, stack_names

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def _clean(value: Any, path: str, resource: RecordedResource) -> Any:
    """Mask secrets; turn the wire's whole floats back into integers."""
    if path and resource.is_secret(path):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: _clean(v, f"{path}.{k}" if path else k, resource) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, f"{path}.{i}" if path else str(i), resource) for i, v in enumerate(value)]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def clean_inputs(resource: RecordedResource) -> dict[str, Any]:
    """A resource's inputs as they can be written to disk."""
    return _clean(resource.inputs, "", resource)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-")


def kubernetes_object(resource: RecordedResource) -> dict[str, Any]:
    """The Kubernetes object a resource would apply (its inputs, in manifest key order)."""
    inputs = clean_inputs(resource)
    ordered = {key: inputs.pop(key) for key in ("apiVersion", "kind", "metadata") if key in inputs}
    return {**ordered, **inputs}


#: Apply order for `kubectl apply -f <folder>`: definitions and namespaces before what lives in them.
_KIND_ORDER = {"CustomResourceDefinition": 0, "Namespace": 1, "ClusterRole": 2, "Role": 2, "ServiceAccount": 2}


def _apply_order(resource: RecordedResource) -> tuple[int, str, str, str]:
    """A stable order (registration order is not): kind priority, then namespace, kind, name."""
    inputs = resource.inputs
    metadata = inputs.get("metadata") or {}
    is_builtin = "." not in inputs.get("apiVersion", "v1").split("/")[0] or inputs.get("apiVersion", "").split("/")[0].endswith(".k8s.io")
    priority = _KIND_ORDER.get(inputs.get("kind", ""), 3 if is_builtin else 4)
    return priority, str(metadata.get("namespace", "")), str(inputs.get("kind", "")), str(metadata.get("name", resource.name))


def chart_files(release: RecordedResource, folder: Path, kube_version: str, offline: bool = True) -> list[Path]:
    """Write the objects a Release's chart installs, one per file in chart order; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (kind, namespace, name, text) in enumerate(release_manifests(clean_inputs(release), kube_version, offline=offline), 1):
        path = folder / (_slug("-".join([f"{i:03d}", kind or "object", namespace or "cluster", name])) + ".yaml")
        path.write_text(text)
        files.append(path)
    return files


def render(run: ProgramRun, out: Path, charts: bool = False, offline: bool = True) -> list[dict[str, str]]:
    """Write a run's resources under ``out`` (emptied first); return the index.

    With ``charts``, each Helm release's chart objects go beside it (see :func:`chart_files`).
    """
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    index: list[dict[str, str]] = []
    count = 0
    if charts:
        kube_version = f"{kube_minor(run.stack)}.0"
        releases = [r for r in run.resources if r.type == HELM_RELEASE]
        with ThreadPoolExecutor(max_workers=4) as pool:
            # helm template runs as a subprocess: in parallel, cached per chart and values.
            list(pool.map(lambda r: chart_files(r, out / "helm" / _slug(r.name), kube_version, offline), releases))
    for resource in sorted(run.resources, key=_apply_order):
        if not resource.custom or resource.type.startswith("pulumi:providers:"):
            continue
        if resource.type == HELM_RELEASE:
            path = out / "helm" / f"{_slug(resource.name)}.json"
            content = json.dumps(clean_inputs(resource), indent=2, sort_keys=True) + "\n"
        elif resource.type.startswith("kubernetes:"):
            count += 1
            obj = kubernetes_object(resource)
            metadata = obj.get("metadata") or {}
            parts = [f"{count:03d}", obj.get("kind", "object"), metadata.get("namespace", "cluster"), metadata.get("name", resource.name)]
            path = out / "kubernetes" / (_slug("-".join(str(p) for p in parts)) + ".yaml")
            content = yaml.safe_dump(obj, sort_keys=False)
        else:
            kind = resource.type.rsplit(":", 1)[-1]
            path = out / resource.type.split(":", 1)[0] / f"{_slug(kind)}-{_slug(resource.name)}.json"
            content = json.dumps(
                {
                    "type": resource.type,
                    "name": resource.name,
                    "protect": resource.protect,
                    "ignore_changes": resource.ignore_changes,
                    "inputs": clean_inputs(resource),
                },
                indent=2,
                sort_keys=True,
            ) + "\n"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        index.append({"file": str(path.relative_to(out)), "type": resource.type, "name": resource.name})
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description="Render a stack offline to files.")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name (a stacks/Pulumi.<stack>.yaml file)")
    target.add_argument("--all", action="store_true", help="render every stack in stacks/")
    parser.add_argument("--out", type=Path, help="output folder (default: build/render/<stack>)")
    parser.add_argument("--no-charts", action="store_true", help="do not render the Helm charts' objects (no helm needed)")
    parser.add_argument("--offline", action="store_true", help="never fetch a chart from its repository (local copies only)")
    args = parser.parse_args(argv)
    stacks = stack_names() if args.all else [args.stack]
    if args.all and args.out:
        parser.error("--out applies to a single --stack")
    for stack in stacks:
        out = args.out or PROJECT_DIR / "build" / "render" / stack
        try:
            index = render(run_stack(stack), out, charts=not args.no_charts, offline=args.offline)
        except (ConfigError, FileNotFoundError, ChartError) as exc:
            print(f"render {stack}: {exc}", file=sys.stderr)
            return 2
        charts = "" if args.no_charts else f", {len(list((out / 'helm').glob('*/*.yaml')))} chart objects"
        print(f"{stack}: {len(index)} resources{charts} → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
