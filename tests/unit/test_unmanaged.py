"""Which live objects count as created outside Pulumi (tools/unmanaged.py), on plain data."""

from __future__ import annotations

from typing import Any

from tools.unmanaged import ObjectKey, live_objects, state_keys, unmanaged

STATE = [
    {"type": "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "outputs": {"metadata": {"name": "developer", "namespace": "storefront"}}},
    {"type": "kubernetes:networking.k8s.io/v1:NetworkPolicy", "outputs": {"metadata": {"name": "default-deny", "namespace": "storefront"}}},
    {"type": "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "outputs": {"metadata": {"name": "hardened-doks:auditor"}}},
    {"type": "kubernetes:helm.sh/v3:Release", "outputs": {"name": "kyverno", "namespace": "kyverno", "status": {"name": "kyverno", "namespace": "kyverno"}}},
    {"type": "pulumi:providers:kubernetes", "outputs": {}},
]


def obj(name: str, namespace: str = "", labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": annotations or {}}, **extra}


def test_state_keys_read_objects_and_releases() -> None:
    objects, releases = state_keys(STATE)
    assert ObjectKey("RoleBinding", "storefront", "developer") in objects
    assert ObjectKey("ClusterRoleBinding", "", "hardened-doks:auditor") in objects
    assert releases == {("kyverno", "kyverno")}


def test_only_objects_nobody_manages_are_reported() -> None:
    objects, releases = state_keys(STATE)
    helm = {"app.kubernetes.io/managed-by": "Helm"}
    live = [
        ("RoleBinding", obj("developer", "storefront")),  # in state
        ("RoleBinding", obj("extra-admin", "storefront")),  # added by hand
        ("RoleBinding", obj("kyverno:admission", "kyverno", helm, {"meta.helm.sh/release-name": "kyverno", "meta.helm.sh/release-namespace": "kyverno"})),
        ("RoleBinding", obj("rogue", "kyverno", helm, {"meta.helm.sh/release-name": "other", "meta.helm.sh/release-namespace": "kyverno"})),
        ("ClusterRoleBinding", obj("cluster-admin", labels={"kubernetes.io/bootstrapping": "rbac-defaults"})),
        ("NetworkPolicy", obj("allow-all", "storefront")),
    ]
    assert unmanaged(live, objects, releases) == [
        ObjectKey("NetworkPolicy", "storefront", "allow-all"),
        ObjectKey("RoleBinding", "kyverno", "rogue"),
        ObjectKey("RoleBinding", "storefront", "extra-admin"),
    ]


def test_live_objects_scans_managed_namespaces_and_watched_cluster_bindings() -> None:
    calls: list[str] = []
    bindings = [obj("x", roleRef={"name": "cluster-admin"}), obj("y", roleRef={"name": "view"}), obj("z", roleRef={"name": "hardened-doks:viewer"})]

    def get(path: str, params: dict[str, str]) -> dict[str, Any]:
        calls.append(path)
        if path == "/api/v1/namespaces":
            assert params == {"labelSelector": "hardened-doks.io/managed-namespace"}
            return {"items": [obj("storefront")]}
        if path.endswith("/clusterrolebindings"):
            return {"items": bindings}
        if path.endswith("/rolebindings"):
            return {"items": [obj("extra", "storefront")]}
        return {}

    found = live_objects(get)
    assert [(k, o["metadata"]["name"]) for k, o in found] == [("RoleBinding", "extra"), ("ClusterRoleBinding", "x"), ("ClusterRoleBinding", "z")]
    assert "/apis/cilium.io/v2/namespaces/storefront/ciliumnetworkpolicies" in calls
