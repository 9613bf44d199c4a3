"""Which live objects count as created outside Pulumi (tools.out_of_band.py), on plain data."""

from __future__ import annotations

from typing import Any

from tools.out_of_band import ObjectKey, changed_objects, live_objects, state_keys, unmanaged

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


def test_taken_over_fields_of_watched_objects_are_changes() -> None:
    declared = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "developer", "namespace": "storefront"},
                "roleRef": {"kind": "ClusterRole", "name": "hardened-doks:developer"}, "subjects": [{"kind": "Group", "name": "devs"}]}
    policy = {"metadata": {"name": "default-deny", "namespace": "storefront"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
    resources = [
        {"type": "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "urn": "urn:rb", "inputs": declared},
        {"type": "kubernetes:networking.k8s.io/v1:NetworkPolicy", "urn": "urn:np", "inputs": policy},
        {"type": "kubernetes:core/v1:ConfigMap", "urn": "urn:cm", "inputs": {"metadata": {"name": "x"}}},
    ]
    live = {
        # the server adds apiGroup and namespace defaults: not a difference
        "/apis/rbac.authorization.k8s.io/v1/namespaces/storefront/rolebindings/developer": {
            **declared, "roleRef": {**declared["roleRef"], "apiGroup": "rbac.authorization.k8s.io"},
            "subjects": [{"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}, {"kind": "User", "name": "mallory"}],
        },
        "/apis/networking.k8s.io/v1/namespaces/storefront/networkpolicies/default-deny": {**policy, "spec": {**policy["spec"], "extra": 1}},
    }
    found = changed_objects(resources, lambda path, params: live.get(path, {}))
    assert [(c.urn, [f.path for f in c.changes]) for c in found] == [("urn:rb", ["subjects"])]
    assert found[0].changes[0].live[1] == {"kind": "User", "name": "mallory"}


def test_deleted_objects_are_left_to_the_preview() -> None:
    resources = [{"type": "kubernetes:networking.k8s.io/v1:NetworkPolicy", "urn": "urn:np",
                  "inputs": {"metadata": {"name": "gone", "namespace": "a"}, "spec": {"podSelector": {}}}}]
    assert changed_objects(resources, lambda path, params: {}) == []
