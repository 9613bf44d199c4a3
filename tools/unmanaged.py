"""Security-relevant Kubernetes objects created outside Pulumi.

``pulumi preview --refresh`` only sees resources in the stack's state: a RoleBinding someone
adds by hand to a managed namespace, or a binding to cluster-admin, is invisible to it. This
lists the objects that grant access or open network paths and reports those the stack does
not manage:

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


Getter = Callable[[str, Mapping[str, str]], Mapping[str, Any]]


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
