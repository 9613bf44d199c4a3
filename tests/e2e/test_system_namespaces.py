"""Kubernetes' own namespaces, live: default, kube-public and kube-node-lease carry the baseline
(restricted Pod Security, default-deny, DNS; the other e2e tests check those on every managed
namespace) through server-side-apply patches of the objects the API server created; kube-system
is left exactly as Kubernetes made it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hardened_doks.kube import MANAGED_NAMESPACE_LABEL
from hardened_doks.namespaces import SYSTEM_NAMESPACES
from tests.e2e.controlplane import LocalControlPlane


def test_kubernetes_namespaces_are_patched_not_created(managed_namespaces: dict[str, Any], live_checks: Counter[str]) -> None:
    assert set(SYSTEM_NAMESPACES) <= set(managed_namespaces)
    for name in SYSTEM_NAMESPACES:
        fields = managed_namespaces[name]["metadata"]["managedFields"]
        live_checks["namespace labels"] += 1
        # The API server's own entry (it created the namespace) plus the provider's Apply of the labels.
        applied = [f for f in fields if f["operation"] == "Apply" and "f:pod-security.kubernetes.io/enforce" in str(f.get("fieldsV1"))]
        assert applied, (name, [(f["manager"], f["operation"]) for f in fields])


def test_kube_system_is_untouched(control_plane: LocalControlPlane, live_checks: Counter[str]) -> None:
    labels = control_plane.get("/api/v1/namespaces/kube-system").json()["metadata"].get("labels") or {}
    assert MANAGED_NAMESPACE_LABEL not in labels and not [k for k in labels if k.startswith("pod-security.kubernetes.io/")]
    policies = control_plane.get("/apis/networking.k8s.io/v1/namespaces/kube-system/networkpolicies").json()["items"]
    live_checks["network policies"] += 1
    assert policies == []
