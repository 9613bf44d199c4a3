"""Helpers for tests of the in-cluster layer: the Kubernetes objects of an offline run, as rendered."""

from __future__ import annotations

from typing import Any, Optional

from hardened_doks.kube import MANAGED_NAMESPACE_LABEL
from hardened_doks.tools.offline import ProgramRun, RecordedResource, iter_kubernetes
from hardened_doks.tools.render import HELM_RELEASE, clean_inputs, kubernetes_object

IN_CLUSTER_COMPONENTS = {
    "hardened-doks:kubernetes:TenantNamespaces",
    "hardened-doks:kubernetes:SystemNamespaces",
    "hardened-doks:kubernetes:ManagedNamespace",
    "hardened-doks:kubernetes:NetworkPolicies",
    "hardened-doks:kubernetes:Rbac",
    "hardened-doks:kubernetes:Admission",
    "hardened-doks:kubernetes:Scanners",
    "hardened-doks:kubernetes:Alerts",
}


def objects(run: ProgramRun) -> list[dict[str, Any]]:
    """Every Kubernetes object of a run, exactly as the render command writes it."""
    return [kubernetes_object(r) for r in iter_kubernetes(run)]


def of_kind(run: ProgramRun, kind: str, namespace: Optional[str] = None) -> list[dict[str, Any]]:
    return [o for o in objects(run) if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)]


def named(run: ProgramRun, kind: str, name: str, namespace: Optional[str] = None) -> dict[str, Any]:
    found = [o for o in of_kind(run, kind, namespace) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {len(found)}"
    return found[0]


def managed_namespaces(run: ProgramRun) -> set[str]:
    """Namespaces the stack manages (those carrying the managed-namespace label)."""
    return {o["metadata"]["name"] for o in of_kind(run, "Namespace") if o["metadata"]["labels"].get(MANAGED_NAMESPACE_LABEL) == "true"}


def helm_release(run: ProgramRun, name: str = "kyverno") -> dict[str, Any]:
    """A Helm release's inputs (by release name; Kyverno's by default), as rendered."""
    found = [r for r in run.of_type(HELM_RELEASE) if r.inputs.get("name") == name]
    assert len(found) == 1, f"expected one Helm release {name}, found {len(found)}"
    return clean_inputs(found[0])


def helm_releases(run: ProgramRun) -> dict[str, dict[str, Any]]:
    """Every Helm release's inputs by release name."""
    return {r.inputs["name"]: clean_inputs(r) for r in run.of_type(HELM_RELEASE)}


def resource(run: ProgramRun, kind: str, name: str, namespace: Optional[str] = None) -> RecordedResource:
    for r in iter_kubernetes(run):
        meta = r.inputs["metadata"]
        if r.inputs["kind"] == kind and meta["name"] == name and meta.get("namespace") == namespace:
            return r
    raise AssertionError(f"no {kind} {namespace}/{name}")
