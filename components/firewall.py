"""The stack's own cloud firewall on the worker Droplets.

DigitalOcean Cloud Firewalls are allow-lists, and a Droplet's effective rules are the
union of every firewall attached to it. DOKS attaches two firewalls of its own to the
workers and reconciles them (NodePort/load-balancer rules come and go with Services);
edits to those are reverted. This firewall therefore does not try to subtract from
them: it declares the traffic the workers need, opens nothing to the internet, and
`tools/verify` checks the union of all attached firewalls for public SSH, kubelet and
NodePort rules after deploy.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_digitalocean as digitalocean

ANYWHERE = ["0.0.0.0/0", "::/0"]
ALL_PORTS = "1-65535"


@dataclass(frozen=True)
class WorkerFirewallArgs:
    """What the WorkerFirewall component reads."""

    #: The cluster's name: the firewall is named after it.
    cluster_name: str
    #: The VPC's, the pods' and the Services' ranges (CIDR): in-cluster traffic.
    vpc_ip_range: str
    cluster_subnet: str
    service_subnet: str
    #: Load balancers allowed in, and on which ports.
    load_balancer_uids: Sequence[str] = ()
    load_balancer_ports: Sequence[str] = ()
    #: The DNS resolvers the nodes may query (port 53).
    dns_resolvers: Sequence[str] = ()


def worker_tag(cluster_id: str) -> str:
    """The tag DOKS puts on every worker Droplet of a cluster."""
    return f"k8s:{cluster_id}"


def inbound_rules(args: WorkerFirewallArgs) -> list[dict[str, Any]]:
    """Inbound: only from inside the VPC (nodes, pods) and configured load balancers.

    Nothing from the internet: no SSH (22), no kubelet (10250), no NodePorts
    (30000-32767) (DigitalOcean checklist; NSA/CISA hardening guide "network
    separation"; CIS Kubernetes Benchmark 4.2 protects the kubelet, which must not be
    reachable from outside the cluster network).
    """
    internal = [args.vpc_ip_range, args.cluster_subnet]
    rules: list[dict[str, Any]] = [
        {"protocol": "tcp", "port_range": ALL_PORTS, "source_addresses": internal},
        {"protocol": "udp", "port_range": ALL_PORTS, "source_addresses": internal},
        {"protocol": "icmp", "source_addresses": internal},
    ]
    if args.load_balancer_uids:
        # Only the listed load balancers, only on the listed ports.
        rules += [
            {"protocol": "tcp", "port_range": port, "source_load_balancer_uids": list(args.load_balancer_uids)}
            for port in args.load_balancer_ports
        ]
    return rules


def outbound_rules(args: WorkerFirewallArgs) -> list[dict[str, Any]]:
    """Outbound, explicitly: in-cluster traffic, HTTPS, DNS to the resolvers and NTP, nothing else.

    HTTPS reaches the control plane, container registries and the DigitalOcean API; NTP keeps
    certificates valid. DNS goes only to the resolvers the nodes use (CoreDNS forwards to them):
    port 53 to anywhere would be a channel to any host that listens there (NSA/CISA hardening
    guide: restrict egress to what is needed). Queries the resolvers recurse for are not limited
    by this; see docs/architecture.md, "What the worker firewall can and cannot do".
    """
    internal = [args.vpc_ip_range, args.cluster_subnet, args.service_subnet]
    rules: list[dict[str, Any]] = [
        {"protocol": "tcp", "port_range": ALL_PORTS, "destination_addresses": internal},
        {"protocol": "udp", "port_range": ALL_PORTS, "destination_addresses": internal},
        {"protocol": "icmp", "destination_addresses": internal},
        {"protocol": "tcp", "port_range": "443", "destination_addresses": ANYWHERE},
        {"protocol": "udp", "port_range": "123", "destination_addresses": ANYWHERE},
    ]
    resolvers = list(args.dns_resolvers)
    if resolvers:
        rules += [{"protocol": protocol, "port_range": "53", "destination_addresses": resolvers} for protocol in ("udp", "tcp")]
    return rules


class WorkerFirewall(pulumi.ComponentResource):
    """A tag-scoped cloud firewall on the cluster's worker Droplets."""

    firewall: digitalocean.Firewall

    def __init__(
        self,
        name: str,
        args: WorkerFirewallArgs,
        cluster_id: pulumi.Input[str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("hardened-doks:digitalocean:WorkerFirewall", name, None, opts)
        self.firewall = digitalocean.Firewall(
            f"{name}-firewall",
            name=f"{args.cluster_name}-workers",
            # Scoped by the DOKS worker tag, so nodes added by the autoscaler or by an
            # upgrade are covered from their first boot.
            tags=[pulumi.Output.from_input(cluster_id).apply(worker_tag)],
            inbound_rules=inbound_rules(args),
            outbound_rules=outbound_rules(args),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"firewall_id": self.firewall.id})
