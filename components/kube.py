"""Shared pieces of the in-cluster layers: object metadata, and creating a manifest as a resource.

The in-cluster components build every object as a plain manifest dict (``apiVersion``,
``kind``, ``metadata``, …, keys in the Kubernetes wire form) with pure functions, so the
specs are testable without Pulumi. :func:`create` turns one manifest into the matching
pulumi-kubernetes resource, parented to the calling component and bound to its provider.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from hardened_doks.config import NAMESPACE, POOL_LABEL, SYSTEM_POOL_TAINT, StackConfig

#: Labels on every object the stack creates in the cluster.
MANAGED_LABELS: dict[str, str] = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": NAMESPACE}
#: Label marking a namespace that has the stack's baseline (Pod Security, default-deny, DNS allow).
MANAGED_NAMESPACE_LABEL = "hardened-doks.io/managed-namespace"
#: Label naming the owning team of a tenant namespace.
TEAM_LABEL = "hardened-doks.io/team"
#: Label naming the stack's environment (dev, staging, prod) on a tenant namespace: how the policy pack
#: knows a cluster is production when no DigitalOcean resource says so (existing-cluster mode; its
#: k8s-prod-people-read-only rule, hardened_doks.policy.kubernetes PRODUCTION_NAMESPACE_LABEL).
ENVIRONMENT_LABEL = "hardened-doks.io/environment"
#: Annotation telling pulumi-kubernetes not to wait for readiness (no nodes in the e2e tier).
SKIP_AWAIT_ANNOTATION = "pulumi.com/skipAwait"
#: Annotation making pulumi-kubernetes force server-side-apply conflicts for one object (the
#: provider's documented switch; it decides per object from its inputs).
PATCH_FORCE_ANNOTATION = "pulumi.com/patchForce"

#: Kinds the stack applies with conflicts forced, each with why. With server-side apply another
#: client's edit of a field (``kubectl label --overwrite``, ``kubectl edit``, a merge patch) makes
#: that client the field's owner; an apply that does not force then fails with a field conflict,
#: so `pulumi up` could never restore a declared Pod Security label or automount setting (the
#: drift command's remedy for a changed field is `pulumi up --refresh`). Forcing only takes the
#: fields the stack declares: what other controllers set beside them (a ServiceAccount's
#: imagePullSecrets, a policy's status) is left alone. A kind missing here is applied without
#: force: that is right for a field another controller legitimately owns (an autoscaler's
#: replicas), where a conflict must stop `pulumi up` instead of fighting the controller.
FORCE_CONFLICTS: dict[str, str] = {
    "Namespace": "Pod Security labels (PSS; CIS 5.2) and the managed-namespace label are the stack's alone",
    "ServiceAccount": "automountServiceAccountToken: false on the default ServiceAccount (CIS 5.1.6)",
    "ResourceQuota": "tenant ceilings (NSA/CISA: resource quotas limit a tenant's blast radius)",
    "LimitRange": "per-container defaults and ceilings (CIS 5.7; NSA/CISA resource limits)",
    "NetworkPolicy": "default-deny and the exact allows (CIS 5.3.2; NSA/CISA network separation)",
    "CiliumNetworkPolicy": "API-server egress allows (NSA/CISA network separation)",
    "Role": "the RBAC table's roles (CIS 5.1; NSA/CISA least privilege)",
    "ClusterRole": "the RBAC table's roles (CIS 5.1.3: no wildcards)",
    "RoleBinding": "who holds each role (CIS 5.1; NSA/CISA least privilege)",
    "ClusterRoleBinding": "who holds each cluster role (CIS 5.1.1: no stray cluster-admin)",
    "ClusterPolicy": "Kyverno's image policies (DigitalOcean supply-chain checklist); Kyverno writes only their status",
    "ValidatingAdmissionPolicy": "admission rules the API server enforces (DigitalOcean supply-chain checklist)",
    "ValidatingAdmissionPolicyBinding": "where and how those rules are enforced (Deny, not Audit)",
    "Secret": "the Slack webhook the alerts read (a tampered URL would send findings elsewhere)",
    "ConfigMap": "the notifier's script: the code that runs with its ServiceAccount",
    "CronJob": "the notifier's pod spec (restricted security context, no API token automount)",
}
#: Kinds the engine must never delete (``protect``): deleting a Namespace deletes every workload,
#: Secret and volume in it, and deleting the kyverno namespace leaves its fail-closed webhooks with
#: no server. No remedy, replacement or config mistake may do that; removing one on purpose is a
#: `pulumi state unprotect` first (docs/operations.md, "Teardown").
PROTECTED_KINDS = frozenset({"Namespace"})

#: (apiVersion, kind) → pulumi-kubernetes class; anything else is a CustomResource.
_CLASSES: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): kubernetes.core.v1.Namespace,
    ("v1", "ServiceAccount"): kubernetes.core.v1.ServiceAccount,
    ("v1", "ResourceQuota"): kubernetes.core.v1.ResourceQuota,
    ("v1", "LimitRange"): kubernetes.core.v1.LimitRange,
    ("v1", "Secret"): kubernetes.core.v1.Secret,
    ("v1", "ConfigMap"): kubernetes.core.v1.ConfigMap,
    ("batch/v1", "CronJob"): kubernetes.batch.v1.CronJob,
    ("networking.k8s.io/v1", "NetworkPolicy"): kubernetes.networking.v1.NetworkPolicy,
    ("rbac.authorization.k8s.io/v1", "Role"): kubernetes.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): kubernetes.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): kubernetes.rbac.v1.RoleBinding,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): kubernetes.rbac.v1.ClusterRoleBinding,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): kubernetes.admissionregistration.v1.ValidatingAdmissionPolicy,
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): kubernetes.admissionregistration.v1.ValidatingAdmissionPolicyBinding,
}
#: Objects Kubernetes creates itself, which the stack only patches (server-side apply): the
#: provider refuses to create an object that already exists, and deleting the stack must not
#: delete them (deleting a Patch only gives up its fields). A Patch also creates the object
#: where no controller has (an API server alone). Namespaces: default, kube-public, kube-node-lease.
_PATCH_CLASSES: dict[tuple[str, str], Any] = {
    ("v1", "ServiceAccount"): kubernetes.core.v1.ServiceAccountPatch,
    ("v1", "Namespace"): kubernetes.core.v1.NamespacePatch,
}
#: Top-level manifest keys whose Python argument name differs.
_ARGUMENTS = {
    "roleRef": "role_ref",
    "automountServiceAccountToken": "automount_service_account_token",
    "aggregationRule": "aggregation_rule",
    "stringData": "string_data",
}


def system_toleration() -> dict[str, str]:
    """The toleration of the isolated system pool's taint (components/cluster.py sets the taint)."""
    return {"key": SYSTEM_POOL_TAINT["key"], "operator": "Equal", "value": SYSTEM_POOL_TAINT["value"], "effect": SYSTEM_POOL_TAINT["effect"]}


def addon_scheduling(config: StackConfig) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(nodeSelector, tolerations) of a security add-on's pods: the system pool when it is isolated.

    The add-ons tolerate the system pool's taint and select its nodes, so they never share a node
    with tenant pods, which do not tolerate it (NSA/CISA: isolate security-critical components).
    Empty when the system pool is not isolated (dev without a workload pool, existing clusters).
    """
    if not config.system_pool_isolated:
        return {}, []
    return {POOL_LABEL: config.system_pool.name}, [system_toleration()]


def pod_scheduling(config: StackConfig) -> dict[str, Any]:
    """An add-on pod spec's nodeSelector and tolerations (see addon_scheduling); {} when not isolated."""
    selector, tolerations = addon_scheduling(config)
    return {"nodeSelector": selector, "tolerations": tolerations} if selector else {}


def metadata(
    name: str,
    namespace: Optional[str] = None,
    labels: Optional[Mapping[str, str]] = None,
    annotations: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """Object metadata with an explicit name (no Pulumi auto-suffix) and the stack's labels."""
    meta: dict[str, Any] = {"name": name, "labels": {**MANAGED_LABELS, **(labels or {})}}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    """A container's requests and limits (NSA/CISA: resource limits; CIS 5.7), as Helm values take them."""
    return {"requests": {"cpu": cpu_request, "memory": memory_request}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


_QUANTITY_SUFFIXES = {"m": 0.001, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def quantity_value(quantity: str) -> float:
    """A Kubernetes quantity's value in base units (cores, bytes): ``500m`` → 0.5, ``1Gi`` → 1073741824."""
    number = quantity.rstrip("mkMGKiT")
    return float(number) * _QUANTITY_SUFFIXES[quantity[len(number):]]


def format_quantity(value: float, resource: str) -> str:
    """A quantity for ``resource`` (``cpu`` in millicores, memory and storage in Mi), rounded up."""
    if resource == "cpu":
        return f"{math.ceil(value * 1000)}m"
    return f"{math.ceil(value / 1024**2)}Mi"


def secret(name: str, namespace: str, string_data: Mapping[str, Any]) -> dict[str, Any]:
    """An Opaque Secret manifest. Pass credentials as ``pulumi.Output.secret`` values: the provider
    stores ``stringData`` encrypted, and the render writes ``[secret]``."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata(name, namespace), "type": "Opaque", "stringData": dict(string_data)}


def skip_await_annotations(skip_await: bool) -> dict[str, str]:
    """The annotation that makes pulumi-kubernetes skip its readiness await, when asked to."""
    return {SKIP_AWAIT_ANNOTATION: "true"} if skip_await else {}


def resource_name(manifest: Mapping[str, Any]) -> str:
    """A stack-unique logical name: kind, namespace and object name."""
    meta = manifest["metadata"]
    parts = [manifest["kind"].lower(), meta.get("namespace", ""), meta["name"]]
    return "-".join(p for p in parts if p).replace(":", "-")


def namespace_deletion(namespace: Optional[pulumi.Resource]) -> Optional[pulumi.Resource]:
    """``namespace`` when deleting it deletes what lives in it: a Namespace the program creates (not
    a NamespacePatch of one Kubernetes created, whose deletion only gives up the stack's fields, nor
    a component); else None. What :func:`create`'s ``deleted_with`` takes."""
    return namespace if isinstance(namespace, kubernetes.core.v1.Namespace) else None


def create(
    manifest: Mapping[str, Any],
    parent: pulumi.Resource,
    provider: pulumi.ProviderResource,
    depends_on: Optional[list[pulumi.Resource]] = None,
    skip_await: bool = False,
    patch: bool = False,
    deleted_with: Optional[pulumi.Resource] = None,
) -> pulumi.CustomResource:
    """Register one manifest as a resource, parented to ``parent`` and using ``provider``.

    With ``patch``, the object is one Kubernetes creates itself (see ``_PATCH_CLASSES``). Kinds in
    ``FORCE_CONFLICTS`` are applied with conflicts forced, kinds in ``PROTECTED_KINDS`` protected.

    ``deleted_with``: the Namespace (from :func:`namespace_deletion`) the object lives in. When the
    engine deletes that namespace in the same run (``destroy``, or the namespace removed from the
    config), it does not delete the object one by one: the namespace controller deletes everything
    in a deleted namespace (Pulumi's ``deleted_with`` option; docs/performance.md, "Destroy"). When
    only the object goes (a binding or rule removed from the config), the engine deletes it as
    before. Only for a namespaced object, in that namespace: a cluster-scoped one outlives any
    namespace, so the engine must always delete it itself.
    """
    manifest = dict(manifest)
    meta = dict(manifest.pop("metadata"))
    if deleted_with is not None and (not meta.get("namespace") or namespace_deletion(deleted_with) is None):
        raise ValueError(f"{manifest.get('kind')} {meta.get('name')}: deleted_with is only for a namespaced object, with the Namespace the program creates for it")
    api_version, kind = manifest.pop("apiVersion"), manifest.pop("kind")
    force = {PATCH_FORCE_ANNOTATION: "true"} if kind in FORCE_CONFLICTS else {}
    annotations = {**meta.get("annotations", {}), **skip_await_annotations(skip_await), **force}
    if annotations:
        meta["annotations"] = annotations
    name = resource_name({"kind": kind, "metadata": meta}) + ("-patch" if patch else "")
    # Every object has a fixed name, so a replacement must delete the old object first: a
    # create-before-delete would apply to the same object and then delete it.
    opts = pulumi.ResourceOptions(
        parent=parent,
        provider=provider,
        depends_on=depends_on or [],
        delete_before_replace=True,
        protect=kind in PROTECTED_KINDS and not patch,
        deleted_with=deleted_with,
    )
    cls = (_PATCH_CLASSES if patch else _CLASSES).get((api_version, kind))
    if cls is None:
        return kubernetes.apiextensions.CustomResource(name, api_version=api_version, kind=kind, metadata=meta, opts=opts, **manifest)
    arguments = {_ARGUMENTS.get(key, key): value for key, value in manifest.items()}
    return cls(name, metadata=meta, opts=opts, **arguments)
