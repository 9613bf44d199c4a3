"""The DigitalOcean settings: regions, sizes, reserved ranges, node pools, the worker firewall, the project."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Optional

import pulumi_digitalocean as digitalocean
from pydantic import field_validator, model_validator

from hardened_doks.config.fields import NAMESPACE, _DNS_LABEL, _HH_MM, Section, _cidr, _do_tags, _label_key, _label_value, setting

WEEKDAYS: tuple[str, ...] = ("any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


#: Regions and Droplet sizes known to the pinned pulumi-digitalocean release. The
#: preflight command checks live availability for DOKS in the chosen region.
KNOWN_REGIONS: frozenset[str] = frozenset(r.value for r in digitalocean.Region)
KNOWN_SIZES: frozenset[str] = frozenset(s.value for s in digitalocean.DropletSlug)

#: Ranges DigitalOcean reserves for DOKS internals; a VPC or cluster range must not overlap them.
DO_RESERVED_RANGES: tuple[ipaddress.IPv4Network, ...] = (
    ipaddress.IPv4Network("10.244.0.0/16"),
    ipaddress.IPv4Network("10.245.0.0/16"),
    ipaddress.IPv4Network("10.246.0.0/24"),
)

#: Widest API allowlist entry accepted per profile (minimum prefix length, IPv4 / IPv6).
#: Serves CIS Kubernetes Benchmark 5.4 / NSA-CISA "limit access to the control plane":
#: staging and prod refuse "the whole internet" and very wide blocks.
API_ALLOWLIST_MIN_PREFIX: dict[str, tuple[int, int]] = {"dev": (0, 0), "staging": (8, 32), "prod": (16, 48)}


def _private_ipv4_network(value: str, *, what: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{what} {value!r} is not an IPv4 CIDR such as 10.110.0.0/20 ({exc})") from None
    if not net.is_private:
        raise ValueError(f"{what} {value} must be a private (RFC 1918) range")
    for reserved in DO_RESERVED_RANGES:
        if net.overlaps(reserved):
            raise ValueError(f"{what} {value} overlaps {reserved}, which DigitalOcean reserves for DOKS")
    return net


class MaintenanceWindow(Section):
    """When DOKS may apply automatic patch upgrades."""

    day: str = setting("any", description="Day of the weekly maintenance window (UTC).", allowed="any, monday … sunday")
    start_time: str = setting("04:00", description="Start of the maintenance window, UTC, 24-hour HH:MM.", allowed="00:00 … 23:59")

    @field_validator("day")
    @classmethod
    def _day(cls, value: str) -> str:
        if value not in WEEKDAYS:
            raise ValueError(f"{value!r} is not a weekday; allowed: {', '.join(WEEKDAYS)}")
        return value

    @field_validator("start_time")
    @classmethod
    def _start(cls, value: str) -> str:
        if not _HH_MM.match(value):
            raise ValueError(f"{value!r} is not a 24-hour time HH:MM such as 04:00")
        return value


class Taint(Section):
    key: str = setting(description="Taint key.", allowed="a Kubernetes label key")
    value: str = setting("", description="Taint value.", allowed="a Kubernetes label value")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = setting(
        "NoSchedule", description="Taint effect.", allowed="NoSchedule, PreferNoSchedule, NoExecute"
    )

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _label_key(value)

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        return _label_value(value)



class NodePool(Section):
    """A DOKS node pool (Droplet workers)."""

    name: str = setting(description="Node pool name.", allowed="DNS label: lowercase letters, digits, '-'")
    size: str = setting(description="Droplet size slug of every node.", allowed="a DigitalOcean Droplet slug, e.g. s-4vcpu-8gb")
    auto_scale: bool = setting(True, description="Let the cluster autoscaler move the node count between min and max.", allowed="true, false")
    min_nodes: int = setting(1, description="Fewest nodes (autoscaling lower bound).", allowed="integer ≥ 1")
    max_nodes: int = setting(3, description="Most nodes (autoscaling upper bound).", allowed="integer ≥ min_nodes")
    node_count: Optional[int] = setting(None, description="Fixed node count; required when auto_scale is false.", allowed="integer ≥ 1")
    labels: dict[str, str] = setting({}, description="Kubernetes labels on every node of the pool.", allowed="label key → label value")
    taints: list[Taint] = setting([], description="Taints on every node of the pool.", allowed="list of {key, value, effect}")
    tags: list[str] = setting([], description="Extra DigitalOcean tags on the pool's Droplets.", allowed="DigitalOcean tag names")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a DNS label (lowercase letters, digits and '-', at most 63)")
        return value

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        if value not in KNOWN_SIZES:
            raise ValueError(f"{value!r} is not a DigitalOcean Droplet size slug (e.g. s-2vcpu-4gb, s-4vcpu-8gb, c-4)")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            _label_key(key)
            _label_value(label)
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return _do_tags(value)

    @model_validator(mode="after")
    def _bounds(self) -> "NodePool":
        if self.min_nodes < 1:
            raise ValueError(f"min_nodes must be at least 1 (got {self.min_nodes}); DOKS cannot scale a pool to zero")
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes ({self.min_nodes}) must not exceed max_nodes ({self.max_nodes})")
        if not self.auto_scale and (self.node_count is None or self.node_count < 1):
            raise ValueError("node_count (≥ 1) is required when auto_scale is false")
        return self


#: The resolvers DigitalOcean writes into a Droplet's /etc/resolv.conf (from its metadata service,
#: ``/metadata/v1/dns/nameservers``), as seen on Droplets; DigitalOcean's documentation shows the
#: endpoint but lists no addresses. CoreDNS (Kubernetes' default Corefile) forwards to the node's resolvers.
DIGITALOCEAN_RESOLVERS: tuple[str, ...] = ("67.207.67.2/32", "67.207.67.3/32")


class WorkerFirewall(Section):
    """The project's own tag-scoped cloud firewall on the worker Droplets."""

    load_balancer_uids: list[str] = setting(
        [], description="DigitalOcean load balancers whose traffic may reach the workers.", allowed="load balancer UUIDs"
    )
    load_balancer_ports: list[str] = setting(
        ["80", "443"], description="Worker ports the configured load balancers may reach.", allowed='ports or ranges such as "443" or "30000-30100"'
    )

    dns_resolvers: list[str] = setting(
        list(DIGITALOCEAN_RESOLVERS),
        description=(
            "The only addresses outside the VPC the workers may send DNS (TCP/UDP 53) to: the resolvers in their "
            "/etc/resolv.conf (DigitalOcean's by default; confirm with the metadata API, docs/architecture.md worker firewall)."
        ),
        allowed="IPv4/IPv6 addresses or CIDRs no wider than /24 (IPv6 /64)",
    )

    @field_validator("load_balancer_ports")
    @classmethod
    def _ports(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.match(r"^\d{1,5}(-\d{1,5})?$", item) or not all(1 <= int(p) <= 65535 for p in item.split("-")):
                raise ValueError(f"{item!r} is not a port or port range such as 443 or 8000-9000")
        return value

    @field_validator("dns_resolvers")
    @classmethod
    def _resolvers(cls, value: list[str]) -> list[str]:
        # Port 53 to a wide range is a channel to any host listening there (exfiltration), not DNS.
        resolvers = []
        for item in value:
            net = _cidr(item, "an address or CIDR such as 67.207.67.2")
            if net.prefixlen < (24 if net.version == 4 else 64):
                raise ValueError(f"{item} is too wide for DNS resolvers; list the resolvers' addresses (/24 or narrower, IPv6 /64)")
            resolvers.append(str(net))
        return resolvers


class Project(Section):
    """The DigitalOcean project that groups the stack's resources."""

    name: Optional[str] = setting(None, description="Project name; defaults to the cluster name.", allowed="text, 1–175 characters")
    purpose: str = setting("Kubernetes cluster", description="Project purpose shown in the DigitalOcean console.", allowed="text")
    description: str = setting("Hardened DOKS stack managed by Pulumi", description="Project description.", allowed="text")


# -- the in-cluster hardening layer ---------------------------------------------------

#: The taint of the system (default) node pool when it is isolated (``isolate_system_pool``): tenant
#: pods carry no toleration for it, so they run on the workload pools, while Kyverno, the scanners and
#: the notifier tolerate it and select the system pool's nodes (NSA/CISA: isolate security-critical
#: components from workloads; CIS 5.7: separate workloads by sensitivity).
SYSTEM_POOL_TAINT: dict[str, str] = {"key": f"{NAMESPACE}/system-pool", "value": "true", "effect": "NoSchedule"}
#: The node label every pool's nodes carry (components/cluster.py): ``hardened-doks/pool: <pool name>``.
POOL_LABEL = f"{NAMESPACE}/pool"
#: Kubernetes' own namespaces (DOKS manages kube-system; DigitalOcean reverts edits there).
