"""What changed on the cluster outside Pulumi, read from the cluster itself.

``pulumi preview --refresh`` misses two kinds of out-of-band change:

1. **objects created outside Pulumi**: a RoleBinding someone adds by hand to a managed namespace,
   a binding to cluster-admin. They are not in the stack's state, so nothing refreshes them.
2. **what the Kubernetes provider's diff cannot see**: it compares the declared object with the
   live one *pruned to the declared shape*, so whatever is added outside Pulumi is invisible to it
   (a ``matchLabels`` under the default-deny policy's empty ``podSelector``, a rule appended to a
   ClusterRole, a subject appended to a RoleBinding, a label), however it got there.

For (2) every Kubernetes object in the state is read live and compared with what the stack
declared (the state's inputs) *in meaning* (tools/object_diff.py: defaults, empty values, list
order), on every kind and every field but annotations and Secret values; the differences do not
depend on which field manager owns a field. For (1) the objects that grant access or open network
paths are listed and those the stack does not manage are reported:

- in every managed namespace (label ``hardened-doks.io/managed-namespace``): Roles,
  RoleBindings, NetworkPolicies and CiliumNetworkPolicies;
- cluster-wide: ClusterRoleBindings to ``cluster-admin`` or to the stack's own ClusterRoles.

An object belongs to the stack when its (kind, namespace, name) is a resource in the stack's
state, or when Helm put it there for a Release in the state. Kubernetes' own bootstrap objects
(label ``kubernetes.io/bootstrapping: rbac-defaults``) are not reported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import yaml

from hardened_doks.config import NAMESPACE
from hardened_doks.kube import MANAGED_NAMESPACE_LABEL
from hardened_doks.sdk_internals import SECRET_SIG  # the wire marker of a secret value in the state (never compared or printed)
from hardened_doks.tools.object_diff import Difference, differences, removal_patch

#: (apiVersion, cluster-wide list path, kind) of what is scanned in the managed namespaces: each kind
#: is listed once for the whole cluster and kept where it is in a managed namespace (a request per
#: kind, not per kind and namespace: the scan costs the same few requests at 5 namespaces or 500).
NAMESPACED_KINDS: tuple[tuple[str, str, str], ...] = (
    ("rbac.authorization.k8s.io/v1", "/apis/rbac.authorization.k8s.io/v1/rolebindings", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "/apis/rbac.authorization.k8s.io/v1/roles", "Role"),
    ("networking.k8s.io/v1", "/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicy"),
    ("cilium.io/v2", "/apis/cilium.io/v2/ciliumnetworkpolicies", "CiliumNetworkPolicy"),
)
CLUSTER_ROLE_BINDINGS = ("rbac.authorization.k8s.io/v1", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "ClusterRoleBinding")
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
#: A JSON GET of an API path with query parameters; an empty mapping when absent (404).
Getter = Callable[[str, Mapping[str, str]], Mapping[str, Any]]
#: A JSON patch (RFC 6902) of the object at an API path; returns the patched object.
Patcher = Callable[[str, list[dict[str, Any]]], Mapping[str, Any]]


def type_token(api_version: str, kind: str) -> str:
    """The pulumi-kubernetes type of a kind: ``kubernetes:rbac.authorization.k8s.io/v1:RoleBinding``."""
    return f"kubernetes:{api_version if '/' in api_version else 'core/' + api_version}:{kind}"


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


#: State resource types that are not one Kubernetes object of the stack's own.
NOT_OBJECTS = (HELM_RELEASE, "kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml/v2:ConfigFile")


def group_path(api_version: str) -> str:
    """``v1`` → ``/api/v1``; ``rbac.authorization.k8s.io/v1`` → ``/apis/rbac.authorization.k8s.io/v1``."""
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


class Discovery:
    """Where each kind lives on this API server (discovery), and a custom resource's CRD schema."""

    def __init__(self, get: Getter):
        self.get = get
        self._groups: dict[str, Mapping[str, tuple[str, bool]]] = {}
        self._schemas: dict[tuple[str, str], Any] = {}

    def resource(self, api_version: str, kind: str) -> Optional[tuple[str, bool]]:
        """(plural, namespaced) of a kind, or None when the server does not serve it."""
        if api_version not in self._groups:
            listed = self.get(group_path(api_version), {}) or {}
            self._groups[api_version] = {
                r["kind"]: (r["name"], bool(r.get("namespaced"))) for r in listed.get("resources", []) if "/" not in r.get("name", "")
            }
        return self._groups[api_version].get(kind)

    def object_path(self, api_version: str, kind: str, namespace: str, name: str) -> Optional[str]:
        found = self.resource(api_version, kind)
        if found is None:
            return None
        plural, namespaced = found
        where = f"/namespaces/{namespace}" if namespaced and namespace else ""
        return f"{group_path(api_version)}{where}/{plural}/{name}"

    def schema(self, api_version: str, kind: str) -> Optional[Mapping[str, Any]]:
        """The ``openAPIV3Schema`` of a custom resource's version; None for built-in kinds."""
        if (api_version, kind) not in self._schemas:
            schema = None
            found = self.resource(api_version, kind) if "/" in api_version else None
            if found is not None:
                group, version = api_version.split("/", 1)
                crd = self.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{found[0]}.{group}", {}) or {}
                for served in crd.get("spec", {}).get("versions", []):
                    if served.get("name") == version:
                        schema = (served.get("schema") or {}).get("openAPIV3Schema")
            self._schemas[(api_version, kind)] = schema
        return self._schemas[(api_version, kind)]


#: The engine's placeholder for a value not known before the update (never compared).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _opaque(value: Any) -> bool:
    """A secret (as the state or the engine's events carry it) or an unknown value inside ``value``."""
    if isinstance(value, Mapping):
        return SECRET_SIG in value or any(_opaque(v) for v in value.values())
    if isinstance(value, list):
        return any(_opaque(v) for v in value)
    return value in (UNKNOWN, "[secret]")


@dataclass
class KubeObject:
    """A Kubernetes object: declared (from the state) or read live; a managed one has its state
    ``type`` and ``urn``, one created outside Pulumi an empty ``urn``."""

    type: str
    urn: str
    key: ObjectKey
    object: Mapping[str, Any]


@dataclass
class ChangedObject:
    """A managed object whose live content differs in meaning from what the stack declared."""

    type: str
    urn: str
    key: ObjectKey
    changes: list[Difference]
    #: paths where the live object still matches the last deployment: the program changed
    #: there (not applied yet), nobody changed the cluster
    pending: set[str] = field(default_factory=set)


def managed_objects(resources: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(state resource, declared object) of every Kubernetes object in a stack's state."""
    for resource in resources:
        type_ = str(resource.get("type", ""))
        declared = resource.get("inputs") or {}
        if type_.startswith("kubernetes:") and type_ not in NOT_OBJECTS and isinstance(declared.get("metadata"), Mapping) and declared.get("kind"):
            yield resource, declared


#: A kind the stack declares at least this many objects of is listed once, cluster-wide, instead of
#: read object by object: the comparison then costs a request per kind, not per object. Secrets are
#: always read one by one (a cluster-wide list would carry every Secret's value).
LIST_THRESHOLD = 10


class LiveObjects:
    """The live counterpart of a declared object: from one cluster-wide list of its kind when the
    stack declares many of that kind, else by a GET of the object."""

    def __init__(self, get: Getter, discovery: Discovery, declared: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]):
        self.get, self.discovery = get, discovery
        counts: dict[tuple[str, str], int] = {}
        for _, obj in declared:
            kind = (str(obj.get("apiVersion", "")), str(obj["kind"]))
            counts[kind] = counts.get(kind, 0) + 1
        self.listed_kinds = {kind for kind, count in counts.items() if count >= LIST_THRESHOLD and kind[1] != "Secret"}
        self._lists: dict[tuple[str, str], dict[tuple[str, str], Mapping[str, Any]]] = {}

    def __call__(self, api_version: str, kind: str, key: ObjectKey) -> Mapping[str, Any]:
        found = self.discovery.resource(api_version, kind)
        if found is None:
            return {}
        if (api_version, kind) not in self.listed_kinds:
            path = self.discovery.object_path(api_version, kind, key.namespace or "default", key.name)
            return (self.get(path, {}) if path else {}) or {}
        if (api_version, kind) not in self._lists:
            listed = self.get(f"{group_path(api_version)}/{found[0]}", {}) or {}
            # A list's items carry no apiVersion/kind (the list has them): put them back, as a GET returns them.
            self._lists[(api_version, kind)] = {
                (str(item["metadata"].get("namespace") or ""), str(item["metadata"]["name"])): {"apiVersion": api_version, "kind": kind, **item}
                for item in listed.get("items", [])
            }
        namespace = (key.namespace or "default") if found[1] else ""
        return self._lists[(api_version, kind)].get((namespace, key.name), {})


#: URN → the program's declared object (a preview's goal inputs); None: no longer in the program.
Desired = Mapping[str, Optional[Mapping[str, Any]]]


def compare_managed(
    resources: Iterable[Mapping[str, Any]], get: Getter, desired: Optional[Desired] = None
) -> tuple[list[ChangedObject], list[KubeObject]]:
    """Every managed object compared with its live counterpart (tools/object_diff.py), and the
    live objects read. Deleted objects are left to the preview (`pulumi up` recreates them).

    The declared object is the program's (``desired``, from a preview) where given: a refresh
    rewrites the state's inputs from the live object, so after a `pulumi refresh` the state
    holds what was changed outside Pulumi. The state's inputs serve where the preview did not
    reach a resource; one the program no longer declares (None) is the preview's to delete.
    """
    discovery = Discovery(get)
    live_of = LiveObjects(get, discovery, managed_objects(resources))
    changed: list[ChangedObject] = []
    read: list[KubeObject] = []
    for resource, state_declared in managed_objects(resources):
        urn = str(resource.get("urn", ""))
        if desired is not None and urn in desired and desired[urn] is None:
            continue  # no longer in the program: the preview plans its deletion
        declared = (desired or {}).get(urn) or state_declared
        metadata = declared["metadata"]
        api_version, kind = str(declared.get("apiVersion", "")), str(declared["kind"])
        key = ObjectKey(kind, str(metadata.get("namespace") or ""), str(metadata.get("name", "")))
        live = live_of(api_version, kind, key)
        if not live:
            continue
        type_ = str(resource["type"])
        read.append(KubeObject(type_, urn, key, live))
        schema, patch = discovery.schema(api_version, kind), type_.endswith("Patch")
        found = [d for d in differences(declared, live, schema, patch=patch) if not _opaque(d.declared)]
        if found:
            outside = {d.path for d in differences(state_declared, live, schema, patch=patch)} if declared is not state_declared else None
            pending = {d.path for d in found if outside is not None and d.path not in outside}
            changed.append(ChangedObject(type_, urn, key, found, pending))
    return changed, read


def unmanaged(live: Iterable[KubeObject], objects: set[ObjectKey], releases: set[tuple[str, str]]) -> list[KubeObject]:
    """The live objects that neither the state nor a managed Helm release explains."""
    found = []
    for item in live:
        metadata = item.object.get("metadata", {})
        labels = metadata.get("labels") or {}
        annotations = metadata.get("annotations") or {}
        if item.key in objects or labels.get(BOOTSTRAP_LABEL[0]) == BOOTSTRAP_LABEL[1]:
            continue
        helm_release = (annotations.get("meta.helm.sh/release-namespace", ""), annotations.get("meta.helm.sh/release-name", ""))
        if labels.get("app.kubernetes.io/managed-by") == "Helm" and helm_release in releases:
            continue
        found.append(item)
    return sorted(found, key=lambda o: (o.key.kind, o.key.namespace, o.key.name))


def live_objects(get: Getter) -> list[KubeObject]:
    """List the scanned kinds through ``get(path, params) -> JSON`` (empty for an absent API)."""
    namespaces = get("/api/v1/namespaces", {"labelSelector": MANAGED_NAMESPACE_LABEL})
    managed = {n["metadata"]["name"] for n in (namespaces or {}).get("items", [])}
    listed: list[tuple[str, str, Mapping[str, Any]]] = []
    for api_version, path, kind in NAMESPACED_KINDS if managed else ():
        items = (get(path, {}) or {}).get("items", [])
        listed += [(api_version, kind, item) for item in items if item.get("metadata", {}).get("namespace") in managed]
    api_version, path, kind = CLUSTER_ROLE_BINDINGS
    listed += [(api_version, kind, b) for b in (get(path, {}) or {}).get("items", []) if is_watched_cluster_binding(b)]
    found = []
    for api_version, kind, item in listed:
        metadata = item.get("metadata", {})
        key = ObjectKey(kind, metadata.get("namespace", ""), metadata.get("name", ""))
        found.append(KubeObject(type_token(api_version, kind), "", key, {"apiVersion": api_version, "kind": kind, **item}))
    return found


def _api_client(kubeconfig: str) -> Any:
    from kubernetes import config

    return config.new_client_from_config_dict(yaml.safe_load(kubeconfig))


def _call(api: Any, method: str, path: str, params: Mapping[str, str], body: Any = None, content_type: str = "") -> Any:
    from kubernetes import client

    headers = {"Accept": "application/json", **({"Content-Type": content_type} if content_type else {})}
    request = api.param_serialize(method, path, query_params=list(params.items()), header_params=headers, body=body, auth_settings=["BearerToken"])
    response = api.call_api(*request)
    if response.status == 404 and method == "GET":  # e.g. no Cilium CRD on this cluster
        return {}
    if response.status != 200:
        raise client.ApiException(status=response.status, reason=f"{method} {path}: {response.read()[:300]!r}")
    return json.loads(response.read())


def kubernetes_getter(kubeconfig: str) -> Getter:
    """A JSON GET through the official Kubernetes client (any kubeconfig auth, exec plugins included)."""
    api = _api_client(kubeconfig)
    return lambda path, params: _call(api, "GET", path, params)


#: The field manager of the drift command's own writes (the removal remedy), as the audit log shows it.
FIELD_MANAGER = "hardened-doks-drift"


def kubernetes_patcher(kubeconfig: str) -> Patcher:
    """A JSON patch through the official Kubernetes client, under the drift command's field manager."""
    api = _api_client(kubeconfig)
    return lambda path, ops: _call(api, "PATCH", path, {"fieldManager": FIELD_MANAGER}, ops, "application/json-patch+json")


@dataclass
class OutOfBand:
    """What a preview cannot see: objects created outside Pulumi, and managed objects whose live
    content differs from the declared one. ``live`` (every object read, created ones included) and
    ``declared`` (every managed object as the state has it) are for the policy check."""

    created: list[KubeObject]
    changed: list[ChangedObject]
    live: list[KubeObject] = field(default_factory=list)
    declared: list[KubeObject] = field(default_factory=list)


def declared_objects(resources: Iterable[Mapping[str, Any]], desired: Optional[Desired] = None) -> list[KubeObject]:
    found = []
    for resource, declared in managed_objects(resources):
        declared = (desired or {}).get(str(resource.get("urn", ""))) or declared
        metadata = declared["metadata"]
        key = ObjectKey(str(declared["kind"]), str(metadata.get("namespace") or ""), str(metadata.get("name", "")))
        found.append(KubeObject(str(resource["type"]), str(resource.get("urn", "")), key, declared))
    return found


def scan(resources: list[Mapping[str, Any]], get: Getter, desired: Optional[Desired] = None) -> OutOfBand:
    """Both checks, for a stack's state resources (and the program's ``desired`` objects), against
    the cluster behind ``get``."""
    objects, releases = state_keys(resources)
    created = unmanaged(live_objects(get), objects, releases)
    changed, read = compare_managed(resources, get, desired)
    return OutOfBand(created, changed, read + created, declared_objects(resources, desired))


def state_resource(resources: Iterable[Mapping[str, Any]], urn: str) -> Mapping[str, Any]:
    """The state resource of a managed Kubernetes object by URN (KeyError when there is none)."""
    for resource, _ in managed_objects(resources):
        if resource.get("urn") == urn:
            return resource
    raise KeyError(f"no Kubernetes object with URN {urn!r} in the stack's state")


def remove_added(resource: Mapping[str, Any], get: Getter, patch: Patcher, desired: Optional[Desired] = None) -> list[Difference]:
    """Remove from one live object what the provider's diff cannot restore: fields and list
    elements added outside Pulumi, and defaults overwritten (the API server re-applies them).
    One JSON patch, each removal guarded by a test of the value drift saw; returns what it removed.
    ``desired``: the program's objects (from a preview); never the refreshed state's alone."""
    (changed, read) = compare_managed([resource], get, desired)
    if not changed:
        return []
    removable = [d for d in changed[0].changes if d.removable]
    if removable:
        declared = resource["inputs"]
        discovery = Discovery(get)
        path = discovery.object_path(str(declared["apiVersion"]), str(declared["kind"]), read[0].key.namespace or "default", read[0].key.name)
        assert path is not None  # it was just read through the same discovery
        patch(path, removal_patch(removable))
    return removable
