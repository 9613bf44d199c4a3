"""Render a stack offline: every resource the program would create, written to a folder.

    python -m hardened_doks.tools.render --stack dev            # → build/render/dev/
    python -m hardened_doks.tools.render --all [--json]         # every stack in stacks/
    python -m hardened_doks.tools.render --all --golden         # rewrite tests/golden/<stack> (`make golden`)

No credentials, no network, no engine: the real program runs under Pulumi's mocks
(tools/offline.py). Output layout (docs/render.md), every name from what the object is, never from
its position, keys sorted:

- ``kubernetes/<namespace or _cluster>/<kind>-<name>.yaml``: one Kubernetes object per file, as
  ``kubectl apply -R -f`` and scanners expect;
- ``helm/<release>.json``: Helm releases (chart, version, repository, values), and beside each
  ``helm/<release>/<namespace or _cluster>/<kind>-<name>.yaml``: the objects its chart installs with those values
  (``helm template`` of the pinned chart: CRDs and hooks included, post-renderer applied; the chart
  comes from its local copy — ``../shared/charts``, the Go module zips — or, with internet, its
  repository; tools/charts.py). ``--no-charts`` leaves them out (no helm needed);
- ``digitalocean/<type>-<name>.json``: DigitalOcean resources with their inputs and options;
- ``index.json``: every stack resource's file, type and name, in apply order.

Secret values are never written: they appear as ``[secret]``. The golden form of a render
(:func:`golden_files`) keeps the stack's own files and summarises each chart's objects.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

import yaml

from hardened_doks.config import ConfigError
from hardened_doks.tools.charts import ChartError, kube_minor, parse_documents, release_manifests
from hardened_doks.tools.cli import emit, envelope, selected_stacks, stack_entry, stack_parser
from hardened_doks.tools.offline import PROJECT_DIR, SECRET_PLACEHOLDER, ProgramRun, RecordedResource, run_stack

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
    """The Kubernetes object a resource would apply (its inputs; apiVersion, kind, metadata first)."""
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


#: The folder of cluster-scoped objects (a namespace name cannot contain ``_``).
CLUSTER = "_cluster"


class RenderError(Exception):
    """Two objects would be written to one file (the names could not tell them apart)."""


def object_file(kind: str, namespace: str, name: str, group: str = "") -> str:
    """Where an object is written, from what it is, never from where it comes in a list:
    ``<namespace or _cluster>/<kind>-<name>.yaml`` (``<kind>.<group>-<name>`` when two API groups
    share a kind and name in one namespace). Kinds have no ``-``, so the name is what follows the first."""
    kind_part = _slug(kind or "object").replace("-", "") + (f".{_slug(group)}" if group else "")
    return f"{_slug(namespace) or CLUSTER}/{kind_part}-{_slug(name)}.yaml"


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else "core"


def unique_files(objects: list[tuple[str, str, str, str]]) -> list[str]:
    """The file of each (apiVersion, kind, namespace, name), unique: objects that would share a file
    get their API group in the name; if that still does not tell them apart, a RenderError."""
    plain = [object_file(kind, namespace, name) for _, kind, namespace, name in objects]
    shared = {f for f in plain if plain.count(f) > 1}
    files = [
        object_file(kind, namespace, name, _group(api)) if file in shared else file
        for file, (api, kind, namespace, name) in zip(plain, objects, strict=True)
    ]
    for file in sorted(set(files)):
        if files.count(file) > 1:
            same = [f"{api} {kind} {namespace or CLUSTER}/{name}" for f, (api, kind, namespace, name) in zip(files, objects, strict=True) if f == file]
            raise RenderError(f"{len(same)} objects would be written to {file}: {'; '.join(same)}")
    return files


def chart_files(release: RecordedResource, folder: Path, kube_version: str, offline: bool = True) -> list[Path]:
    """Write the objects a Release's chart installs, one per file named by what it is; return the files."""
    manifests = release_manifests(clean_inputs(release), kube_version, offline=offline)
    # The apiVersion only matters when two objects would share a file (rare): parsed then.
    plain = [object_file(kind, namespace, name) for kind, namespace, name, _ in manifests]
    objects = [
        (str(yaml.safe_load(text).get("apiVersion", "")) if plain.count(file) > 1 else "", kind, namespace, name)
        for file, (kind, namespace, name, text) in zip(plain, manifests, strict=True)
    ]
    files = []
    for file, (*_, text) in zip(unique_files(objects), manifests, strict=True):
        path = folder / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files.append(path)
    return sorted(files)


def _resource_file(resource: RecordedResource) -> tuple[tuple[str, str, str, str], str]:
    """(apiVersion, kind, namespace, name) of a Kubernetes resource and its YAML (keys sorted)."""
    obj = kubernetes_object(resource)
    metadata = obj.get("metadata") or {}
    key = (str(obj.get("apiVersion", "")), str(obj.get("kind", "")), str(metadata.get("namespace", "")), str(metadata.get("name", resource.name)))
    return key, yaml.safe_dump(obj, sort_keys=True)


def render(run: ProgramRun, out: Path, charts: bool = False, offline: bool = True) -> list[dict[str, str]]:
    """Write a run's resources under ``out`` (emptied first); return the index (in apply order).

    File names come from what each resource is (kind, namespace, name; type and name), never from
    its position, so adding one object adds one file. With ``charts``, each Helm release's chart
    objects go beside it (see :func:`chart_files`).
    """
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if charts:
        kube_version = f"{kube_minor(run.stack)}.0"
        releases = [r for r in run.resources if r.type == HELM_RELEASE]
        with ThreadPoolExecutor(max_workers=4) as pool:
            # helm template runs as a subprocess: in parallel, cached per chart and values.
            list(pool.map(lambda r: chart_files(r, out / "helm" / _slug(r.name), kube_version, offline), releases))
    resources = [r for r in sorted(run.resources, key=_apply_order) if r.custom and not r.type.startswith("pulumi:providers:")]
    kube = [r for r in resources if r.type.startswith("kubernetes:") and r.type != HELM_RELEASE]
    rendered = {r.urn: _resource_file(r) for r in kube}
    kube_files = dict(zip(rendered, unique_files([key for key, _ in rendered.values()]), strict=True))
    index: list[dict[str, str]] = []
    for resource in resources:
        if resource.type == HELM_RELEASE:
            path = out / "helm" / f"{_slug(resource.name)}.json"
            content = json.dumps(clean_inputs(resource), indent=2, sort_keys=True) + "\n"
        elif resource.urn in kube_files:
            path = out / "kubernetes" / kube_files[resource.urn]
            content = rendered[resource.urn][1]
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
        if path.exists():
            raise RenderError(f"{resource.type} {resource.name} would overwrite {path.relative_to(out)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        index.append({"file": path.relative_to(out).as_posix(), "type": resource.type, "name": resource.name})
    (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


#: The committed renders of the shipped stacks (`make golden` rewrites them; tests/unit/test_golden.py).
GOLDEN_DIR = PROJECT_DIR / "tests" / "golden"
#: What a chart generates anew at every `helm template` (kubescape's self-signed certificates).
GENERATED = "[generated]"


def _masked(value: Any, secret: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: GENERATED if k == "caBundle" and v else _masked(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, secret) for v in value]
    return value


def canonical_sha256(document: dict[str, Any]) -> str:
    """The sha256 of an object as canonical JSON (keys sorted, no spaces), with what a chart
    generates at each render masked: a Secret's values (kept: their keys) and any ``caBundle``."""
    masked = _masked(document)
    if masked.get("kind") == "Secret":
        for field in ("data", "stringData"):
            if isinstance(masked.get(field), dict):
                masked[field] = {k: SECRET_PLACEHOLDER for k in masked[field]}
    return hashlib.sha256(json.dumps(masked, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def golden_files(rendered: Path) -> dict[str, str]:
    """The golden form of a render folder: every file of the stack's own resources as written
    (DigitalOcean inputs, Kubernetes objects, Helm release inputs and values, index.json), and for each
    chart, instead of its objects, ``helm/<release>.objects``: one line per object, its file (kind,
    namespace, name) and :func:`canonical_sha256`, so any change of a chart's output changes a line."""
    files: dict[str, str] = {}
    charts = {d for d in (rendered / "helm").iterdir() if d.is_dir()} if (rendered / "helm").is_dir() else set()
    for path in sorted(rendered.rglob("*")):
        if path.is_file() and not any(folder in path.parents for folder in charts):
            files[path.relative_to(rendered).as_posix()] = path.read_text()
    for folder in sorted(charts):
        lines = [
            f"{canonical_sha256(document)}  {path.relative_to(folder).as_posix()}"
            for path in sorted(folder.rglob("*.yaml"))
            for document in parse_documents(path.read_text(), fresh=False)
        ]
        header = (
            f"# The objects chart release {folder.name} installs (helm template, tools/render.py): sha256 of each\n"
            "# as canonical JSON (generated certificates and Secret values masked), and its file\n"
            "# <namespace or _cluster>/<kind>-<name>.yaml. `make golden` rewrites this; docs/render.md.\n"
        )
        files[f"helm/{folder.name}.objects"] = header + "".join(line + "\n" for line in lines)
    return files


def write_golden(stack: str, golden_dir: Path = GOLDEN_DIR, offline: bool = True) -> dict[str, str]:
    """Render a stack (charts included) and replace ``golden_dir/<stack>`` with its golden form."""
    with tempfile.TemporaryDirectory(prefix="hardened-doks-golden-") as tmp:
        files = golden_files(_rendered(stack, Path(tmp) / stack, offline))
    target = golden_dir / stack
    if target.exists():
        shutil.rmtree(target)
    for name, text in files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(text)
    return files


def _rendered(stack: str, out: Path, offline: bool) -> Path:
    render(run_stack(stack), out, charts=True, offline=offline)
    return out


def main(argv: Optional[list[str]] = None) -> int:
    parser = stack_parser("render", "Render a stack offline to files.")
    parser.add_argument("--out", type=Path, help="output folder (default: build/render/<stack>)")
    parser.add_argument("--no-charts", action="store_true", help="do not render the Helm charts' objects (no helm needed)")
    parser.add_argument("--offline", action="store_true", help="never fetch a chart from its repository (local copies only)")
    parser.add_argument("--golden", action="store_true", help="rewrite the committed golden renders (tests/golden/<stack>; `make golden`)")
    args = parser.parse_args(argv)
    stacks = selected_stacks(args)
    if args.all and args.out:
        parser.error("--out applies to a single --stack")
    if args.golden and (args.out or args.no_charts):
        parser.error("--golden writes tests/golden/<stack>, charts included: no --out, no --no-charts")
    entries: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    lines: list[str] = []
    for stack in stacks:
        out = GOLDEN_DIR / stack if args.golden else args.out or PROJECT_DIR / "build" / "render" / stack
        try:
            if args.golden:
                files = write_golden(stack, offline=args.offline)
                entries.append(stack_entry(stack, "rendered", 0, out=str(out), files=len(files)))
                lines.append(f"{stack}: {len(files)} golden files → {out.relative_to(PROJECT_DIR)}")
                continue
            index = render(run_stack(stack), out, charts=not args.no_charts, offline=args.offline)
        except (ConfigError, FileNotFoundError, ChartError, RenderError) as exc:
            entries.append(stack_entry(stack, "error", 2, error=str(exc)))
            findings.append({"stack": stack, "finding": "error", "message": str(exc)})
            if not args.json:
                print(f"render {stack}: {exc}", file=sys.stderr)
            break
        chart_objects = 0 if args.no_charts else len(list((out / "helm").glob("*/*/*.yaml")))
        entries.append(stack_entry(stack, "rendered", 0, out=str(out), resources=len(index), chart_objects=chart_objects))
        lines.append(f"{stack}: {len(index)} resources" + ("" if args.no_charts else f", {chart_objects} chart objects") + f" → {out}")
    if args.golden and args.all and not findings and GOLDEN_DIR.is_dir():
        for gone in sorted(d for d in GOLDEN_DIR.iterdir() if d.is_dir() and d.name not in stacks):
            shutil.rmtree(gone)
            lines.append(f"{gone.name}: no stack file any more, its golden render removed")
    return emit(args, envelope("render", {0: "rendered", 2: "error"}, entries, findings), lambda: "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
