"""Managed namespaces: the baseline every namespace the stack owns gets, and the tenant namespaces.

The baseline of a managed namespace:

- Pod Security Admission labels, each level pinned to the cluster's minor (``-version``);
- the ``default`` ServiceAccount with ``automountServiceAccountToken: false``;
- for tenants, a ResourceQuota and a LimitRange;
- a default-deny NetworkPolicy for ingress and egress, and the one allow every pod needs:
  DNS to CoreDNS (``k8s-app: kube-dns`` in kube-system) on UDP and TCP 53.

kube-system is never touched: DOKS manages it and reverts changes. The other namespaces
Kubernetes creates itself (``default``, ``kube-public``, ``kube-node-lease``) get the baseline
too, at ``restricted``, as patches of the existing objects (:class:`SystemNamespaces`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from hardened_doks.config import KUBERNETES_NAMESPACES, ContainerDefaults, NamespaceQuota, PodSecurity, StackConfig
from hardened_doks.kube import ENVIRONMENT_LABEL, MANAGED_NAMESPACE_LABEL, TEAM_LABEL, create, metadata, namespace_deletion

#: Pod Security levels for the add-on namespaces whose pods are restricted-compliant.
RESTRICTED = PodSecurity(enforce="restricted", warn="restricted", audit="restricted")
#: Namespaces Kubernetes creates in every cluster that the stack patches with the baseline: nothing
#: should run there, so a pod that does is held to restricted and to no network (issue 17.9).
#: kube-system is DOKS's (it reverts changes there) and is left alone.
SYSTEM_NAMESPACES: tuple[str, ...] = tuple(n for n in KUBERNETES_NAMESPACES if n != "kube-system")
#: Names of the baseline network policies (tests and the drift tier look them up).
DEFAULT_DENY = "default-deny"
ALLOW_DNS = "allow-dns"


def pod_security_version(config: StackConfig) -> str:
    """The Pod Security Standards version the labels pin: the cluster's minor, e.g. v1.34."""
    return f"v{config.kubernetes_version_prefix}"


def namespace(name: str, pod_security: PodSecurity, version: str, labels: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """A namespace with Pod Security Admission labels (Pod Security Standards; CIS 5.2.x)."""
    psa: dict[str, str] = {}
    for mode in ("enforce", "warn", "audit"):
        psa[f"pod-security.kubernetes.io/{mode}"] = getattr(pod_security, mode)
        # Pinned version: a Kubernetes upgrade does not silently change what a level means.
        psa[f"pod-security.kubernetes.io/{mode}-version"] = version
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata(name, labels={MANAGED_NAMESPACE_LABEL: "true", **(labels or {}), **psa}),
    }


def is_default_service_account(manifest: Mapping[str, Any]) -> bool:
    """The namespace's ``default`` ServiceAccount, which Kubernetes creates: the stack patches it."""
    return manifest["kind"] == "ServiceAccount" and manifest["metadata"]["name"] == "default"


def default_service_account(namespace_name: str) -> dict[str, Any]:
    """The namespace's default ServiceAccount without an API token mounted (CIS 5.1.6).

    Applied as a patch (server-side apply): Kubernetes creates ``default`` with the namespace.
    """
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata("default", namespace_name),
        # CIS 5.1.5/5.1.6: pods that do not name a ServiceAccount get no API credential.
        "automountServiceAccountToken": False,
    }


def resource_quota(namespace_name: str, quota: NamespaceQuota) -> dict[str, Any]:
    """Per-namespace resource ceilings (NSA/CISA: resource quotas limit the blast radius of a tenant)."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": metadata("tenant-quota", namespace_name),
        "spec": {
            "hard": {
                "requests.cpu": quota.requests_cpu,
                "requests.memory": quota.requests_memory,
                "limits.cpu": quota.limits_cpu,
                "limits.memory": quota.limits_memory,
                "requests.storage": quota.requests_storage,
                # Node disk (emptyDir, container logs, writable layers): a tenant cannot fill the
                # workers' disks and get every pod beside it evicted (NSA/CISA: resource policies).
                "requests.ephemeral-storage": quota.requests_ephemeral_storage,
                "limits.ephemeral-storage": quota.limits_ephemeral_storage,
                "pods": str(quota.pods),
                "persistentvolumeclaims": str(quota.persistent_volume_claims),
                "services.loadbalancers": str(quota.load_balancers),
                # Kubernetes counts the node ports a LoadBalancer Service allocates (one per port),
                # and DigitalOcean load balancers forward to them: 0 here made every LoadBalancer
                # impossible. NodePort Services themselves are refused at admission
                # (disallow-node-ports); this bounds a tenant's share of the cluster's 2768 ports.
                "services.nodeports": str(quota.node_ports),
                # Object counts: every object is etcd space and controller work, and nothing else
                # bounds these (NSA/CISA: resource policies; denial of service of the API server).
                "configmaps": str(quota.config_maps),
                "secrets": str(quota.secrets),
                "services": str(quota.services),
                "count/deployments.apps": str(quota.deployments),
                "count/jobs.batch": str(quota.jobs),
                "count/cronjobs.batch": str(quota.cron_jobs),
            }
        },
    }


def limit_range(namespace_name: str, defaults: ContainerDefaults) -> dict[str, Any]:
    """Per-container defaults and ceilings, so every container has requests and limits (CIS 5.7 / NSA-CISA)."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": metadata("container-defaults", namespace_name),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    # Ephemeral storage too, so every container counts against the namespace's
                    # ephemeral-storage quota and is evicted, alone, past its limit (NSA/CISA:
                    # resource policies; a pod filling the node's disk evicts its neighbours).
                    "defaultRequest": {
                        "cpu": defaults.default_request_cpu,
                        "memory": defaults.default_request_memory,
                        "ephemeral-storage": defaults.default_request_ephemeral_storage,
                    },
                    "default": {
                        "cpu": defaults.default_limit_cpu,
                        "memory": defaults.default_limit_memory,
                        "ephemeral-storage": defaults.default_limit_ephemeral_storage,
                    },
                    "max": {"cpu": defaults.max_cpu, "memory": defaults.max_memory},
                }
            ]
        },
    }


def network_policy(name: str, namespace_name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A NetworkPolicy manifest."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": metadata(name, namespace_name), "spec": dict(spec)}


def default_deny(namespace_name: str) -> dict[str, Any]:
    """Deny all ingress and egress of every pod (CIS 5.3.2; NSA/CISA: default-deny network policies)."""
    return network_policy(DEFAULT_DENY, namespace_name, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def allow_dns(namespace_name: str) -> dict[str, Any]:
    """Egress to CoreDNS on UDP and TCP 53: without it a default-deny egress silently breaks every pod."""
    return network_policy(
        ALLOW_DNS,
        namespace_name,
        {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
    )


def baseline(
    name: str,
    pod_security: PodSecurity,
    version: str,
    labels: Optional[Mapping[str, str]] = None,
    quota: Optional[NamespaceQuota] = None,
    defaults: Optional[ContainerDefaults] = None,
) -> list[dict[str, Any]]:
    """Every object of a managed namespace's baseline, the Namespace first."""
    objects = [namespace(name, pod_security, version, labels), default_service_account(name)]
    if quota is not None:
        objects.append(resource_quota(name, quota))
    if defaults is not None:
        objects.append(limit_range(name, defaults))
    return objects + [default_deny(name), allow_dns(name)]


class ManagedNamespace(pulumi.ComponentResource):
    """One namespace with the stack's baseline (see the module docstring).

    ``existing``: Kubernetes created the namespace; the stack patches it (server-side apply) and
    never deletes it.
    """

    namespace: pulumi.CustomResource
    resources: list[pulumi.CustomResource]

    def __init__(
        self,
        name: str,
        provider: pulumi.ProviderResource,
        objects: list[dict[str, Any]],
        skip_await: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
        existing: bool = False,
    ):
        super().__init__("hardened-doks:kubernetes:ManagedNamespace", name, None, opts)
        first, *rest = objects
        self.name = first["metadata"]["name"]
        self.namespace = create(first, self, provider, skip_await=skip_await, patch=existing)
        self.resources = [self.namespace] + [
            create(o, self, provider, depends_on=[self.namespace], skip_await=skip_await, patch=is_default_service_account(o), deleted_with=self.deletes(o))
            for o in rest
        ]
        self.register_outputs({"name": self.name})

    def deletes(self, manifest: Mapping[str, Any]) -> Optional[pulumi.Resource]:
        """This namespace's resource, when deleting it deletes ``manifest``: the object lives in it and
        the stack created it (not a patched one Kubernetes created). ``create``'s ``deleted_with``."""
        if manifest["metadata"].get("namespace") != self.name:
            return None
        return namespace_deletion(self.namespace)


@dataclass(frozen=True)
class TenantNamespacesArgs:
    """What the TenantNamespaces component reads."""

    #: Every tenant namespace → the team that owns it, in creation order.
    namespaces: Mapping[str, str]
    #: The Pod Security levels the namespaces enforce, warn and audit.
    pod_security: PodSecurity
    #: The Pod Security Standards version the labels pin (``v1.34``).
    pod_security_version: str
    quota: NamespaceQuota
    container_defaults: ContainerDefaults
    #: The stack's environment (dev, staging, prod), labelled on each namespace; empty: no label.
    environment: str = ""
    #: Do not wait for the objects to become ready (an API server without nodes).
    skip_await: bool = False


class TenantNamespaces(pulumi.ComponentResource):
    """The application teams' namespaces, each with the tenant baseline (Pod Security per profile, quota, limits)."""

    namespaces: dict[str, ManagedNamespace]

    def __init__(self, name: str, args: TenantNamespacesArgs, provider: pulumi.ProviderResource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:kubernetes:TenantNamespaces", name, None, opts)
        self.namespaces = {}
        for ns, team in args.namespaces.items():
            # The environment label lets the policy pack hold production's people read-only on any cluster.
            labels = {TEAM_LABEL: team, **({ENVIRONMENT_LABEL: args.environment} if args.environment else {})}
            objects = baseline(ns, args.pod_security, args.pod_security_version, labels, args.quota, args.container_defaults)
            self.namespaces[ns] = ManagedNamespace(f"{name}-{ns}", provider, objects, skip_await=args.skip_await, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"namespaces": sorted(self.namespaces)})


@dataclass(frozen=True)
class SystemNamespacesArgs:
    """What the SystemNamespaces component reads."""

    #: The Pod Security Standards version the labels pin (``v1.34``).
    pod_security_version: str
    skip_await: bool = False


class SystemNamespaces(pulumi.ComponentResource):
    """``default``, ``kube-public`` and ``kube-node-lease`` with the baseline at ``restricted``
    (Pod Security Standards; CIS 5.2.x and 5.3.2: no namespace without Pod Security labels and a
    default-deny policy), patched in place: Kubernetes creates them, and destroying the stack
    only takes the stack's labels back off (CIS 5.7.4: keep workloads out of ``default``)."""

    namespaces: dict[str, ManagedNamespace]

    def __init__(self, name: str, args: SystemNamespacesArgs, provider: pulumi.ProviderResource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:kubernetes:SystemNamespaces", name, None, opts)
        self.namespaces = {
            ns: ManagedNamespace(
                f"{name}-{ns}",
                provider,
                baseline(ns, RESTRICTED, args.pod_security_version),
                skip_await=args.skip_await,
                existing=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for ns in SYSTEM_NAMESPACES
        }
        self.register_outputs({"namespaces": list(self.namespaces)})
