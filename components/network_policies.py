"""Paths opened through the default-deny policies, from the stack config.

Every managed namespace already denies all ingress and egress and allows DNS
(components/namespaces.py). This component adds only what ``network_policies`` asks for:

- intra-namespace traffic, per namespace;
- named allow rules: from one namespace to another (an egress policy in the source *and*
  an ingress policy in the destination, since both deny by default) or to outside CIDRs;
- access to the Kubernetes API server. DOKS runs Cilium, which matches egress after
  service translation, so a plain NetworkPolicy cannot reliably select the API server: a
  ``CiliumNetworkPolicy`` with ``toEntities: [kube-apiserver]`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from hardened_doks.config import AllowRule, ApiServerAccess, NetworkPolicies as NetworkPolicySettings
from hardened_doks.kube import create, metadata, namespace_deletion
from hardened_doks.namespaces import network_policy

CILIUM_API_VERSION = "cilium.io/v2"
#: Private, shared and link-local ranges: never reachable through ``public_https_egress``.
NON_PUBLIC_RANGES: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


def _namespace_selector(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def intra_namespace(namespace_name: str, ports: Optional[Sequence[int]] = None, name: str = "allow-intra-namespace") -> dict[str, Any]:
    """Pods of one namespace may talk to each other (only where the config asks), on ``ports`` (TCP) when given."""
    same: dict[str, Any] = {"from": [{"podSelector": {}}]}
    to: dict[str, Any] = {"to": [{"podSelector": {}}]}
    if ports:
        same["ports"] = to["ports"] = [{"protocol": "TCP", "port": port} for port in ports]
    return network_policy(name, namespace_name, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [same], "egress": [to]})


def allow_rule(rule: AllowRule) -> list[dict[str, Any]]:
    """The policies that open one named path: egress at the source, ingress at a namespace destination."""
    ports = [{"protocol": rule.protocol, "port": port} for port in rule.ports]
    name = f"allow-{rule.name}"
    if rule.to_namespace is None:
        # CIS 5.3.2: egress to named outside destinations only (CIDRs are checked in config/checks.py).
        to = [{"ipBlock": {"cidr": cidr}} for cidr in rule.to_cidrs]
        return [network_policy(name, rule.from_namespace, {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": to, "ports": ports}]})]
    return [
        network_policy(
            name, rule.from_namespace, {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [_namespace_selector(rule.to_namespace)], "ports": ports}]}
        ),
        network_policy(
            name, rule.to_namespace, {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [_namespace_selector(rule.from_namespace)], "ports": ports}]}
        ),
    ]


def cilium_policy(name: str, namespace_name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """A CiliumNetworkPolicy manifest."""
    return {"apiVersion": CILIUM_API_VERSION, "kind": "CiliumNetworkPolicy", "metadata": metadata(name, namespace_name), "spec": dict(spec)}


def kube_apiserver_egress(name: str, namespace_name: str, pod_labels: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """Egress from the selected pods to the Kubernetes API server only (Cilium entity; any port it serves on)."""
    return cilium_policy(
        name,
        namespace_name,
        {"endpointSelector": {"matchLabels": dict(pod_labels or {})}, "egress": [{"toEntities": ["kube-apiserver"]}]},
    )


def kube_apiserver_access(name: str, namespace_name: str, webhook_port: Optional[int] = None) -> dict[str, Any]:
    """A system add-on's API server access: egress from every pod, and (for admission webhooks)
    ingress on ``webhook_port`` from the API server.

    On DOKS, webhook calls may arrive through the konnectivity agent (kube-system) or from a node
    rather than from the kube-apiserver entity, so those sources are named too.
    """
    spec: dict[str, Any] = {"endpointSelector": {}, "egress": [{"toEntities": ["kube-apiserver"]}]}
    if webhook_port is not None:
        to_ports = [{"ports": [{"port": str(webhook_port), "protocol": "TCP"}]}]
        spec["ingress"] = [
            {"fromEntities": ["kube-apiserver", "host", "remote-node"], "toPorts": to_ports},
            {"fromEndpoints": [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s-app": "konnectivity-agent"}}], "toPorts": to_ports},
        ]
    return cilium_policy(name, namespace_name, spec)


def public_https_egress(name: str, namespace_name: str, pod_selector: Mapping[str, Any]) -> dict[str, Any]:
    """Egress on TCP 443 to public addresses only: never the cluster, VPC or metadata addresses (NSA/CISA)."""
    return network_policy(
        name,
        namespace_name,
        {
            "podSelector": dict(pod_selector),
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NON_PUBLIC_RANGES)}}], "ports": [{"protocol": "TCP", "port": 443}]}],
        },
    )


def api_server_access(access: ApiServerAccess, index: int) -> dict[str, Any]:
    """The configured API server access of one namespace's pods."""
    return kube_apiserver_egress(f"allow-kube-apiserver-{index}", access.namespace, access.pod_labels)


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    """What the NetworkPolicies component reads."""

    #: The configured paths (intra-namespace, allow rules, API server access).
    settings: NetworkPolicySettings
    skip_await: bool = False


def policies(settings: NetworkPolicySettings) -> list[dict[str, Any]]:
    """Every policy the ``network_policies`` settings ask for."""
    objects = [intra_namespace(ns) for ns in settings.intra_namespace]
    for rule in settings.allow:
        objects += allow_rule(rule)
    objects += [api_server_access(access, i) for i, access in enumerate(settings.api_server_access)]
    return objects


class NetworkPolicies(pulumi.ComponentResource):
    """The configured network paths between and out of the managed namespaces."""

    def __init__(
        self,
        name: str,
        args: NetworkPoliciesArgs,
        provider: pulumi.ProviderResource,
        namespaces: Mapping[str, pulumi.Resource],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("hardened-doks:kubernetes:NetworkPolicies", name, None, opts)
        self.resources = [
            create(o, self, provider, depends_on=[ns := namespaces[o["metadata"]["namespace"]]], skip_await=args.skip_await, deleted_with=namespace_deletion(ns))
            for o in policies(args.settings)
        ]
        self.register_outputs({"count": len(self.resources)})
