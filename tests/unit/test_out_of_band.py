"""What tools/out_of_band.py finds on a cluster, on plain data: objects created outside Pulumi, and
managed objects whose live content differs from the declared one (any kind, through discovery)."""

from __future__ import annotations

from typing import Any

from hardened_doks.tools.out_of_band import (
    KubeObject,
    ObjectKey,
    compare_managed,
    live_objects,
    remove_added,
    scan,
    state_keys,
    type_token,
    unmanaged,
)

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
    found = unmanaged([KubeObject("", "", ObjectKey(k, o["metadata"]["namespace"], o["metadata"]["name"]), o) for k, o in live], objects, releases)
    assert [o.key for o in found] == [
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
            # Listed cluster-wide: what is outside the managed namespaces is not the scan's.
            return {"items": [obj("extra", "storefront"), obj("system", "kube-system")]}
        return {}

    found = live_objects(get)
    assert [(o.key.kind, o.key.name) for o in found] == [("RoleBinding", "extra"), ("ClusterRoleBinding", "x"), ("ClusterRoleBinding", "z")]
    assert found[0].type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding" and found[0].object["kind"] == "RoleBinding"
    assert "/apis/cilium.io/v2/ciliumnetworkpolicies" in calls


def test_the_out_of_band_listing_costs_a_request_per_kind_whatever_the_namespace_count() -> None:
    def requests_for(namespaces: int) -> list[str]:
        calls: list[str] = []

        def get(path: str, params: dict[str, str]) -> dict[str, Any]:
            calls.append(path)
            if path == "/api/v1/namespaces":
                return {"items": [obj(f"team-{i}") for i in range(namespaces)]}
            if path.endswith("/rolebindings"):
                return {"items": [obj("extra", f"team-{i}") for i in range(namespaces)]}
            return {}

        assert len(live_objects(get)) == namespaces
        return calls

    assert requests_for(2) == requests_for(300)


DISCOVERY = {
    "/api/v1": {"resources": [{"name": "namespaces", "kind": "Namespace", "namespaced": False},
                              {"name": "serviceaccounts", "kind": "ServiceAccount", "namespaced": True},
                              {"name": "secrets", "kind": "Secret", "namespaced": True},
                              {"name": "serviceaccounts/token", "kind": "TokenRequest", "namespaced": True}]},
    "/apis/rbac.authorization.k8s.io/v1": {"resources": [{"name": "rolebindings", "kind": "RoleBinding", "namespaced": True},
                                                         {"name": "clusterroles", "kind": "ClusterRole", "namespaced": False}]},
    "/apis/networking.k8s.io/v1": {"resources": [{"name": "networkpolicies", "kind": "NetworkPolicy", "namespaced": True}]},
    "/apis/example.com/v1": {"resources": [{"name": "widgets", "kind": "Widget", "namespaced": False}]},
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com": {"spec": {"versions": [
        {"name": "v1", "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "mode": {"type": "string"}, "admission": {"type": "boolean", "default": True}}}}}}}]}},
}


def state(*objects: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": t, "urn": f"urn:pulumi:e2e::hardened-doks::{t}::{o['metadata']['name']}", "inputs": o} for t, o in objects]


BINDING = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "developer", "namespace": "storefront"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "hardened-doks:developer"},
           "subjects": [{"kind": "Group", "name": "devs"}]}
POLICY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "default-deny", "namespace": "storefront"},
          "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
SERVICE_ACCOUNT = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "storefront"}, "automountServiceAccountToken": False}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"mode": "Enforce"}}
MANAGED = state(
    ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", BINDING),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", POLICY),
    ("kubernetes:core/v1:ServiceAccountPatch", SERVICE_ACCOUNT),
    ("kubernetes:example.com/v1:Widget", WIDGET),
    ("kubernetes:helm.sh/v3:Release", {"metadata": {"name": "kyverno"}, "kind": "Release"}),
) + [{"type": "pulumi:providers:kubernetes", "urn": "urn:p", "inputs": {}}]


def cluster(live: dict[str, Any]) -> tuple[Any, list[str]]:
    calls: list[str] = []

    def get(path: str, params: Any) -> Any:
        calls.append(path)
        return live.get(path) or DISCOVERY.get(path, {})

    return get, calls


def clean_cluster() -> dict[str, Any]:
    return {
        "/apis/rbac.authorization.k8s.io/v1/namespaces/storefront/rolebindings/developer": {
            **BINDING, "subjects": [{"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}]},
        "/apis/networking.k8s.io/v1/namespaces/storefront/networkpolicies/default-deny": POLICY,
        "/api/v1/namespaces/storefront/serviceaccounts/default": {**SERVICE_ACCOUNT, "secrets": [{"name": "x"}]},
        "/apis/example.com/v1/widgets/w": {**WIDGET, "spec": {"mode": "Enforce", "admission": True}, "status": {"ok": True}},
    }


def test_a_kind_declared_many_times_is_listed_once_not_read_object_by_object() -> None:
    from hardened_doks.tools.out_of_band import LIST_THRESHOLD

    policies = [{**POLICY, "metadata": {"name": "default-deny", "namespace": f"team-{i}"}} for i in range(LIST_THRESHOLD)]
    live = {"/apis/networking.k8s.io/v1/networkpolicies": {"items": [
        {k: v for k, v in p.items() if k not in ("apiVersion", "kind")} for p in policies[1:]  # list items carry no kind
    ] + [{**POLICY, "metadata": {"name": "default-deny", "namespace": "team-0"}, "spec": {"podSelector": {"matchLabels": {"a": "b"}}}}]}}
    live["/apis/networking.k8s.io/v1/networkpolicies"]["items"][-1].pop("apiVersion")
    get, calls = cluster(live)
    changed, read = compare_managed(state(*(("kubernetes:networking.k8s.io/v1:NetworkPolicy", p) for p in policies)), get)
    assert len(read) == LIST_THRESHOLD
    assert [c.key.namespace for c in changed] == ["team-0"]  # the one changed outside Pulumi, found in the list
    assert calls.count("/apis/networking.k8s.io/v1/networkpolicies") == 1
    assert not [c for c in calls if "/namespaces/" in c]


def test_every_managed_object_is_compared_through_discovery() -> None:
    get, calls = cluster(clean_cluster())
    changed, read = compare_managed(MANAGED, get)
    assert changed == []  # defaults (apiGroup, the CRD's admission) and others' fields are not drift
    assert [o.key.kind for o in read] == ["RoleBinding", "NetworkPolicy", "ServiceAccount", "Widget"]
    assert "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com" in calls
    assert not any("kyverno" in c for c in calls)  # a Helm release is not one object


def test_changes_of_any_kind_are_found_whoever_made_them() -> None:
    live = clean_cluster()
    live["/apis/networking.k8s.io/v1/namespaces/storefront/networkpolicies/default-deny"] = {
        **POLICY, "spec": {**POLICY["spec"], "podSelector": {"matchLabels": {"none": "x"}}}}
    live["/api/v1/namespaces/storefront/serviceaccounts/default"] = {**SERVICE_ACCOUNT, "automountServiceAccountToken": True}
    live["/apis/example.com/v1/widgets/w"] = {**WIDGET, "spec": {"mode": "Audit", "admission": True}}
    live["/apis/rbac.authorization.k8s.io/v1/namespaces/storefront/rolebindings/developer"] = {
        **BINDING, "subjects": BINDING["subjects"] + [{"kind": "User", "name": "mallory"}]}
    get, _ = cluster(live)
    changed, _ = compare_managed(MANAGED, get)
    assert {c.key.kind: [(d.path, d.change) for d in c.changes] for c in changed} == {
        "RoleBinding": [("subjects[1]", "added")],
        "NetworkPolicy": [("spec.podSelector.matchLabels", "added")],
        "ServiceAccount": [("automountServiceAccountToken", "changed")],
        "Widget": [("spec.mode", "changed")],
    }
    assert changed[0].urn.endswith("::developer") and changed[0].type.endswith(":RoleBinding")


def test_deleted_objects_are_left_to_the_preview() -> None:
    get, _ = cluster({})
    assert compare_managed(MANAGED, get) == ([], [])


def test_secret_values_are_never_compared() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hook", "namespace": "a"},
              "type": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}}
    get, _ = cluster({"/api/v1/namespaces/a/secrets/hook": {**secret, "type": "Opaque", "data": {"url": "eA=="}}})
    changed, read = compare_managed(state(("kubernetes:core/v1:Secret", secret)), get)
    assert changed == [] and len(read) == 1


def test_remove_added_patches_only_what_was_added() -> None:
    live = clean_cluster()
    path = "/apis/rbac.authorization.k8s.io/v1/namespaces/storefront/rolebindings/developer"
    mallory = {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}
    live[path] = {**BINDING, "subjects": [mallory, {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}]}
    get, _ = cluster(live)
    patches: list[tuple[str, list[dict[str, Any]]]] = []
    removed = remove_added(MANAGED[0], get, lambda p, ops: patches.append((p, ops)) or {})
    assert [d.path for d in removed] == ["subjects[0]"]
    assert patches == [(path, [{"op": "test", "path": "/subjects/0", "value": mallory}, {"op": "remove", "path": "/subjects/0"}])]
    patches.clear()
    get, _ = cluster(clean_cluster())
    assert remove_added(MANAGED[0], get, lambda p, ops: patches.append((p, ops)) or {}) == [] and patches == []


def test_scan_returns_the_declared_and_live_objects_for_the_policy_check() -> None:
    live = clean_cluster()
    live["/api/v1/namespaces"] = {"items": [obj("storefront")]}
    live["/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"] = {"items": [obj("oops", roleRef={"name": "cluster-admin"})]}
    get, _ = cluster(live)
    found = scan(MANAGED, get)
    assert [o.key.display for o in found.created] == ["oops"]
    assert len(found.declared) == 4 and len(found.live) == 5 and found.live[-1].urn == ""


def test_type_tokens() -> None:
    assert type_token("v1", "Namespace") == "kubernetes:core/v1:Namespace"
    assert type_token("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") == "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"


def test_the_programs_object_is_compared_and_a_program_change_is_pending() -> None:
    """A refresh rewrites the state's inputs from the live object; the program's object does not
    change with it. Where the cluster still matches the last deployment, the program changed."""
    get, _ = cluster(clean_cluster())
    program = {**BINDING, "subjects": BINDING["subjects"] + [{"kind": "Group", "name": "ops"}]}
    desired = {MANAGED[0]["urn"]: program, MANAGED[1]["urn"]: None}  # the policy left the program
    changed, read = compare_managed(MANAGED, get, desired)
    assert [(c.key.kind, [d.path for d in c.changes], c.pending) for c in changed] == [("RoleBinding", ["subjects[1]"], {"subjects[1]"})]
    assert "NetworkPolicy" not in [o.key.kind for o in read]
    # the state refreshed with a tampered value still loses to the program
    refreshed = [{**MANAGED[0], "inputs": {**BINDING, "subjects": [{"kind": "User", "name": "mallory"}]}}]
    live = clean_cluster()
    live["/apis/rbac.authorization.k8s.io/v1/namespaces/storefront/rolebindings/developer"]["subjects"] = [{"kind": "User", "name": "mallory"}]
    get, _ = cluster(live)
    changed, _ = compare_managed(refreshed, get, {MANAGED[0]["urn"]: BINDING})
    assert [d.path for d in changed[0].changes] == ["subjects[0].kind", "subjects[0].name"]
