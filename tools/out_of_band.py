"""Security-relevant Kubernetes changes made outside Pulumi that a preview cannot see.

``pulumi preview --refresh`` misses two kinds of out-of-band change:

1. objects created outside Pulumi: a RoleBinding someone adds by hand to a managed namespace,
   a binding to cluster-admin. They are not in the stack's state, so nothing refreshes them.
2. fields of managed objects that another client took over. With server-side apply the
   Kubernetes provider diffs only the fields Pulumi still owns: ``kubectl edit`` of a
   RoleBinding's ``subjects`` (an atomic list) moves their ownership to kubectl, the refresh
   shows the new subjects, yet the plan is "same" and ``pulumi up`` leaves them in place.

For (2) the live objects of the watched kinds are compared with what the stack declared (the
state's inputs) on the fields that grant access or open paths; the remedy is to replace the
object (``pulumi up --replace <urn>``), which re-applies the declared fields. For (1) the
objects that grant access or open network paths are listed and those the stack does not
manage are reported:

- in every managed namespace (label ``hardened-doks.io/managed-namespace``): Roles,
  RoleBindings, NetworkPolicies and CiliumNetworkPolicies;
- cluster-wide: ClusterRoleBindings to ``cluster-admin`` or to the stack's own ClusterRoles.

An object belongs to the stack when its (kind, namespace, name) is a resource in the stack's
state, or when Helm put it there for a Release in the state. Kubernetes' own bootstrap objects
(label ``kubernetes.io/bootstrapping: rbac-defaults``) are not reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable

import yaml

from components.config import NAMESPACE
from components.kube import MANAGED_NAMESPACE_LABEL

#: (API path under the server, kind, namespaced) of what is scanned in each managed namespace.
NAMESPACED_KINDS: tuple[tuple[str, str], ...] = (
    ("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings", "RoleBinding"),
    ("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles", "Role"),
    ("/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies", "NetworkPolicy"),
    ("/apis/cilium.io/v2/namespaces/{namespace}/ciliumnetworkpolicies", "CiliumNetworkPolicy"),
)
CLUSTER_ROLE_BINDINGS = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")


@dataclass(frozen=True)
class ObjectKey:
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str

    @property
    def display(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def state_keys(resources: Iterable[Mapping[str, Any]]) -> tuple[set[ObjectKey], set[tuple[str, str]]]:
    """The Kubernetes objects and the Helm releases (namespace, name) of a stack's state."""
    objects: set[ObjectKey] = set()
    releases: set[tuple[str, str]] = set()
    for resource in resources:
        type_ = str(resource.get("type", ""))
        outputs = resource.get("outputs") or {}
        if type_ == HELM_RELEASE:
            status = outputs.get("status") or {}
            releases.add((str(status.get("namespace") or outputs.get("namespace") or ""), str(status.get("name") or outputs.get("name") or "")))
        elif type_.startswith("kubernetes:") and isinstance(outputs.get("metadata"), Mapping):
            metadata = outputs["metadata"]
            objects.add(ObjectKey(type_.rsplit(":", 1)[-1], str(metadata.get("namespace") or ""), str(metadata.get("name", ""))))
    return objects, releases


def is_watched_cluster_binding(binding: Mapping[str, Any]) -> bool:
    role = binding.get("roleRef", {}).get("name", "")
    return role == "cluster-admin" or role.startswith(f"{NAMESPACE}:")


#: A JSON GET of an API path with query parameters; an empty mapping when absent (404).
Getter = Callable[[str, Mapping[str, str]], Mapping[str, Any]]


#: Watched kinds: API path of one object, and the fields compared with the declared ones.
WATCHED: dict[str, tuple[str, tuple[str, ...]]] = {
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings/{name}", ("subjects", "roleRef")),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}", ("subjects", "roleRef")),
    "Role": ("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/{name}", ("rules",)),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}", ("rules", "aggregationRule")),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies/{name}", ("spec",)),
    "CiliumNetworkPolicy": ("/apis/cilium.io/v2/namespaces/{namespace}/ciliumnetworkpolicies/{name}", ("spec",)),
    "Namespace": ("/api/v1/namespaces/{name}", ("metadata.labels",)),
}


@dataclass
class FieldChange:
    path: str
    declared: Any
    live: Any


@dataclass
class ChangedObject:
    """A managed object whose access-granting fields differ from the declared ones."""

    type: str
    urn: str
    key: ObjectKey
    changes: list[FieldChange]


def _same(declared: Any, live: Any) -> bool:
    """``live`` matches ``declared``: every declared key present and equal; lists element-wise.

    Keys only the server adds (defaults) are not differences; numbers compare by value.
    """
    if isinstance(declared, Mapping):
        return isinstance(live, Mapping) and all(_same(v, live.get(k)) for k, v in declared.items())
    if isinstance(declared, list):
        return isinstance(live, list) and len(declared) == len(live) and all(_same(d, x) for d, x in zip(declared, live))
    if isinstance(declared, (int, float)) and not isinstance(declared, bool) and isinstance(live, (int, float)):
        return float(declared) == float(live)
    return declared == live


def _field(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def changed_objects(resources: Iterable[Mapping[str, Any]], get: Getter) -> list[ChangedObject]:
    """Managed objects of the watched kinds whose live fields differ from the state's inputs."""
    found = []
    for resource in resources:
        kind = str(resource.get("type", "")).rsplit(":", 1)[-1]
        declared = resource.get("inputs") or {}
        if not str(resource.get("type", "")).startswith("kubernetes:") or kind not in WATCHED or "metadata" not in declared:
            continue
        path, fields = WATCHED[kind]
        metadata = declared["metadata"]
        key = ObjectKey(kind, str(metadata.get("namespace") or ""), str(metadata.get("name", "")))
        live = get(path.format(namespace=key.namespace, name=key.name), {})
        if not live:  # deleted: the preview reports it, and `pulumi up` recreates it
            continue
        changes = [
            FieldChange(field, _field(declared, field), _field(live, field))
            for field in fields
            if _field(declared, field) is not None and not _same(_field(declared, field), _field(live, field))
        ]
        if changes:
            found.append(ChangedObject(str(resource["type"]), str(resource.get("urn", "")), key, changes))
    return found


def unmanaged(
    live: Iterable[tuple[str, Mapping[str, Any]]], objects: set[ObjectKey], releases: set[tuple[str, str]]
) -> list[ObjectKey]:
    """The live (kind, object) pairs that neither the state nor a managed Helm release explains."""
    found = []
    for kind, obj in live:
        metadata = obj.get("metadata", {})
        labels = metadata.get("labels") or {}
        annotations = metadata.get("annotations") or {}
        key = ObjectKey(kind, metadata.get("namespace", ""), metadata.get("name", ""))
        if key in objects or labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1]:
            continue
        helm_release = (annotations.get("meta.helm.sh/release-namespace", ""), annotations.get("meta.helm.sh/release-name", ""))
        if labels.get("app.kubernetes.io/managed-by") == "Helm" and helm_release in releases:
            continue
        found.append(key)
    return sorted(found, key=lambda k: (k.kind, k.namespace, k.name))


def live_objects(get: Getter) -> list[tuple[str, Mapping[str, Any]]]:
    """List the scanned kinds through ``get(path, params) -> JSON`` (None for an absent API)."""
    namespaces = get("/api/v1/namespaces", {"labelSelector": MANAGED_NAMESPACE_LABEL})
    found: list[tuple[str, Mapping[str, Any]]] = []
    for namespace in (n["metadata"]["name"] for n in (namespaces or {}).get("items", [])):
        for path, kind in NAMESPACED_KINDS:
            listed = get(path.format(namespace=namespace), {})
            found += [(kind, item) for item in (listed or {}).get("items", [])]
    bindings = get(CLUSTER_ROLE_BINDINGS, {}) or {}
    found += [("ClusterRoleBinding", b) for b in bindings.get("items", []) if is_watched_cluster_binding(b)]
    return found


def kubernetes_getter(kubeconfig: str) -> Getter:
    """A JSON GET through the official Kubernetes client (any kubeconfig auth, exec plugins included)."""
    from kubernetes import client, config

    api = config.new_client_from_config_dict(yaml.safe_load(kubeconfig))

    def get(path: str, params: Mapping[str, str]) -> Mapping[str, Any]:
        request = api.param_serialize(
            "GET", path, query_params=list(params.items()), header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        response = api.call_api(*request)
        if response.status == 404:  # e.g. no Cilium CRD on this cluster
            return {}
        if response.status != 200:
            raise client.ApiException(status=response.status, reason=f"GET {path}: {response.read()[:300]!r}")
        return json.loads(response.read())

    return get


@dataclass
class OutOfBand:
    """What a preview cannot see: objects created outside Pulumi, fields taken over by others."""

    created: list[ObjectKey]
    changed: list[ChangedObject]


def scan(resources: list[Mapping[str, Any]], get: Getter) -> OutOfBand:
    """Both checks, for a stack's state resources, against the cluster behind ``get``."""
    objects, releases = state_keys(resources)
    return OutOfBand(unmanaged(live_objects(get), objects, releases), changed_objects(resources, get))
