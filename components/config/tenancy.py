"""Tenancy: teams, their namespaces and defaults, network policies and RBAC."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Literal, Optional

from pydantic import field_validator, model_validator

from hardened_doks.config.addresses import normalise
from hardened_doks.config.addon_facts import addon_namespaces
from hardened_doks.config.fields import Section, _cidr, _dns_label, _label_key, _label_value, _quantity, setting

if TYPE_CHECKING:
    pass

KUBERNETES_NAMESPACES: tuple[str, ...] = ("kube-system", "kube-public", "kube-node-lease", "default")


def reserved_namespaces() -> frozenset[str]:
    """The names no tenant namespace may take: Kubernetes' own and every add-on's (from its descriptor)."""
    return frozenset(KUBERNETES_NAMESPACES) | addon_namespaces()


PodSecurityLevel = Literal["privileged", "baseline", "restricted"]
_POD_SECURITY_LEVELS = "privileged, baseline, restricted"


class Subjects(Section):
    """Who a role is bound to: identity-provider users and groups."""

    users: list[str] = setting([], description="User names, as the API server's authenticator reports them.", allowed="user names")
    groups: list[str] = setting([], description="Group names, as the API server's authenticator reports them.", allowed="group names")

    @field_validator("users", "groups")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.strip():
                raise ValueError("subject names must not be empty")
            # CIS 5.1.x / NSA-CISA: never bind roles to built-in groups such as
            # system:authenticated or system:anonymous, or to system identities.
            if name.startswith("system:"):
                raise ValueError(f"{name!r}: binding to built-in system: users or groups is refused")
        return value

    @property
    def empty(self) -> bool:
        return not (self.users or self.groups)


class Team(Section):
    """An application team: its namespaces and who holds which role in them."""

    name: str = setting(description="Team name (labels its namespaces and names its roles).", allowed="DNS label")
    namespaces: list[str] = setting([], description="The team's namespaces; each gets the tenant baseline.", allowed="DNS-1123 labels, not reserved")
    admins: Subjects = setting(Subjects(), description="Namespace admins: manage workloads, Secrets and RoleBindings.", allowed="{users, groups}")
    developers: Subjects = setting(Subjects(), description="Developers: deploy workloads; no Secrets, no exec.", allowed="{users, groups}")
    viewers: Subjects = setting(Subjects(), description="Read-only viewers; no Secrets.", allowed="{users, groups}")
    deployers: Subjects = setting(
        Subjects(),
        description=(
            "With rbac.human_access: read-only (prod): extra subjects of the team's deploy identity, e.g. the group or user your CI's "
            "OIDC identity maps to; the stack also creates a ServiceAccount hardened-doks-deployer in each team namespace. "
            "The deploy identity applies workloads and Secrets, never exec, attach or port-forward."
        ),
        allowed="{users, groups}",
    )
    cluster_admin: bool = setting(
        False,
        description="Break-glass: bind the team's one admin group to cluster-admin. Needs rbac.break_glass (and in prod rbac.break_glass_prod_acknowledged).",
        allowed="true, false",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value)

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        for name in value:
            _dns_label(name)
            if name in reserved_namespaces() or name.startswith("kube-"):
                raise ValueError(f"{name!r} is reserved (Kubernetes, DOKS or a security add-on); choose another name")
        return value


class NamespaceQuota(Section):
    """The ResourceQuota of every tenant namespace (NSA/CISA: limit resource use per namespace)."""

    requests_cpu: str = setting("4", description="Summed CPU requests.", allowed="a quantity such as 4 or 2500m")
    requests_memory: str = setting("8Gi", description="Summed memory requests.", allowed="a quantity such as 8Gi")
    limits_cpu: str = setting("8", description="Summed CPU limits.", allowed="a quantity")
    limits_memory: str = setting("16Gi", description="Summed memory limits.", allowed="a quantity")
    requests_storage: str = setting("100Gi", description="Summed storage requested by PersistentVolumeClaims.", allowed="a quantity")
    pods: int = setting(50, description="Most pods.", allowed="integer ≥ 1")
    persistent_volume_claims: int = setting(10, description="Most PersistentVolumeClaims (DigitalOcean volumes).", allowed="integer ≥ 0")
    load_balancers: int = setting(1, description="Most Services of type LoadBalancer (each a billed DigitalOcean load balancer).", allowed="integer ≥ 0")
    node_ports: int = setting(
        4,
        description="Most node ports the namespace's LoadBalancer Services take (one per Service port; the DigitalOcean load balancer forwards to them; the cluster has 2768). NodePort Services are refused at admission.",
        allowed="integer ≥ load_balancers",
    )
    requests_ephemeral_storage: str = setting("20Gi", description="Summed ephemeral-storage requests (node disk: emptyDir, logs, writable layers).", allowed="a quantity")
    limits_ephemeral_storage: str = setting("100Gi", description="Summed ephemeral-storage limits.", allowed="a quantity")
    config_maps: int = setting(100, description="Most ConfigMaps.", allowed="integer ≥ 0")
    secrets: int = setting(100, description="Most Secrets (Helm keeps each release's history in them).", allowed="integer ≥ 0")
    services: int = setting(20, description="Most Services.", allowed="integer ≥ 0")
    deployments: int = setting(50, description="Most Deployments.", allowed="integer ≥ 0")
    jobs: int = setting(100, description="Most Jobs (CronJobs' finished Jobs count until their history limit removes them).", allowed="integer ≥ 0")
    cron_jobs: int = setting(20, description="Most CronJobs.", allowed="integer ≥ 0")

    @field_validator("requests_cpu", "requests_memory", "limits_cpu", "limits_memory", "requests_storage", "requests_ephemeral_storage", "limits_ephemeral_storage")
    @classmethod
    def _quantities(cls, value: str) -> str:
        return _quantity(value)

    @model_validator(mode="after")
    def _node_ports_for_load_balancers(self) -> "NamespaceQuota":
        if self.node_ports < self.load_balancers:
            raise ValueError(
                f"node_ports ({self.node_ports}) must be at least load_balancers ({self.load_balancers}): "
                "each LoadBalancer Service takes one node port per Service port"
            )
        return self


class ContainerDefaults(Section):
    """The LimitRange of every tenant namespace: defaults and ceilings per container."""

    default_request_cpu: str = setting("100m", description="CPU request of a container that sets none.", allowed="a quantity")
    default_request_memory: str = setting("128Mi", description="Memory request of a container that sets none.", allowed="a quantity")
    default_limit_cpu: str = setting("500m", description="CPU limit of a container that sets none.", allowed="a quantity")
    default_limit_memory: str = setting("512Mi", description="Memory limit of a container that sets none.", allowed="a quantity")
    max_cpu: str = setting("2", description="Largest CPU limit of one container.", allowed="a quantity")
    max_memory: str = setting("4Gi", description="Largest memory limit of one container.", allowed="a quantity")
    default_request_ephemeral_storage: str = setting("100Mi", description="Ephemeral-storage request of a container that sets none.", allowed="a quantity")
    default_limit_ephemeral_storage: str = setting(
        "2Gi", description="Ephemeral-storage limit of a container that sets none (the kubelet evicts a pod beyond it).", allowed="a quantity"
    )

    @field_validator("*")
    @classmethod
    def _quantities(cls, value: str) -> str:
        return _quantity(value)


class PodSecurity(Section):
    """Pod Security Admission levels of tenant namespaces (Pod Security Standards)."""

    enforce: PodSecurityLevel = setting(
        "restricted", description="Level whose violations are rejected. Must stay restricted in staging and prod.", allowed=_POD_SECURITY_LEVELS
    )
    warn: PodSecurityLevel = setting("restricted", description="Level whose violations warn the client.", allowed=_POD_SECURITY_LEVELS)
    audit: PodSecurityLevel = setting("restricted", description="Level whose violations are written to the audit log.", allowed=_POD_SECURITY_LEVELS)


#: The most address space the CIDR destinations of all allow rules may cover together, per profile,
#: as the size of one IPv4 / IPv6 block (None: no total limit; each block is still at most a /8).
#: NSA/CISA: egress to named destinations only; many wide blocks are "the internet" again.
ALLOW_RULE_CIDR_LIMIT: dict[str, Optional[tuple[int, int]]] = {"dev": None, "staging": (8, 32), "prod": (12, 40)}


class AllowRule(Section):
    """One named network path opened through the default-deny policies."""

    name: str = setting(description="Rule name (names its NetworkPolicies).", allowed="DNS label")
    from_namespace: str = setting(description="Managed namespace whose pods may connect.", allowed="a team namespace")
    to_namespace: Optional[str] = setting(None, description="Managed namespace whose pods may be reached.", allowed="a team namespace")
    to_cidrs: list[str] = setting(
        [], description="Destinations outside the cluster.", allowed=(
            "IP CIDRs (IPv6 spellings of IPv4 judged as the IPv4 they reach); none wider than /8 (IPv6 /32), link-local/metadata, loopback "
            "or the cluster's own ranges; all rules' CIDRs together at most one /8 (IPv6 /32) in staging, one /12 (IPv6 /40) in prod"
        ),
    )
    ports: list[int] = setting(description="Destination ports.", allowed="ports 1 … 65535")
    protocol: Literal["TCP", "UDP"] = setting("TCP", description="Protocol of the ports.", allowed="TCP, UDP")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _dns_label(value)

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one port is required (least privilege: no all-ports rules)")
        for port in value:
            if not 1 <= port <= 65535:
                raise ValueError(f"{port} is not a port (1 … 65535)")
        return value

    @field_validator("to_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for item in value:
            given = _cidr(item, "a CIDR such as 203.0.113.0/24")
            # IPv6 spellings of IPv4 (::ffff:0:0/96 is all of IPv4) are judged as the IPv4 they reach.
            reached = normalise(given)
            # NSA/CISA: pods must not reach the cloud metadata service (169.254.169.254) or
            # host-local addresses, and "everything" is not a named path.
            for net in [given, *reached]:
                if net.prefixlen < (8 if net.version == 4 else 32):
                    shown = f" (it reaches {net})" if net != given else ""
                    raise ValueError(f"{item} is unsafe{shown}: wider than /8 (IPv4) or /32 (IPv6); name the destinations")
            for net in reached:
                if given.is_loopback or net.is_link_local or net.is_loopback or net.is_multicast or net.is_unspecified or net.is_reserved:
                    raise ValueError(f"{item} is unsafe: link-local (cloud metadata), loopback, multicast or reserved addresses")
                if net.version == 4 and net.overlaps(ipaddress.IPv4Network("169.254.0.0/16")):
                    raise ValueError(f"{item} is unsafe: it contains the cloud metadata address 169.254.169.254")
        return value

    @model_validator(mode="after")
    def _one_destination(self) -> "AllowRule":
        if (self.to_namespace is None) == (not self.to_cidrs):
            raise ValueError("set exactly one of to_namespace or to_cidrs")
        return self


class ApiServerAccess(Section):
    """Pods that may reach the Kubernetes API server (a CiliumNetworkPolicy, toEntities kube-apiserver)."""

    namespace: str = setting(description="Managed namespace of the pods.", allowed="a team namespace")
    pod_labels: dict[str, str] = setting({}, description="Labels selecting the pods; empty selects every pod of the namespace.", allowed="label key → value")

    @field_validator("pod_labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            _label_key(key)
            _label_value(label)
        return value


class NetworkPolicies(Section):
    """Paths opened through the default-deny policies of the managed namespaces."""

    intra_namespace: list[str] = setting([], description="Namespaces whose pods may talk to each other.", allowed="team namespaces")
    allow: list[AllowRule] = setting([], description="Named paths between namespaces or to outside CIDRs.", allowed="list of allow rules")
    api_server_access: list[ApiServerAccess] = setting([], description="Pods that may call the Kubernetes API.", allowed="list of {namespace, pod_labels}")


#: How much the team roles let people do (rbac.human_access).
HumanAccess = Literal["operate", "read-only"]


class Rbac(Section):
    """Cluster-wide roles: auditors and the break-glass switch."""

    auditors: Subjects = setting(Subjects(), description="Security staff: read everything cluster-wide except Secrets.", allowed="{users, groups}")
    break_glass: bool = setting(False, description="Allow one team (cluster_admin: true) to be bound to cluster-admin.", allowed="true, false")
    break_glass_prod_acknowledged: bool = setting(
        False, description="Acknowledge a cluster-admin break-glass binding in the prod profile.", allowed="true, false"
    )
    human_access: HumanAccess = setting(
        "operate",
        description=(
            "What the team roles let people do. operate: developers deploy, namespace admins also read Secrets, exec and "
            "port-forward. read-only: every human role only reads (no Secrets, exec, attach, port-forward or pod deletion); "
            "changes go through each team's deploy identity (teams[].deployers), emergency access through the break-glass "
            "ClusterRole hardened-doks:break-glass, bound by hand to rbac.break_glass_group only during an incident "
            "(`make drift` reports the binding; docs/operations.md). Must stay read-only in prod."
        ),
        allowed="operate, read-only",
    )
    break_glass_group: str = setting(
        "hardened-doks-break-glass",
        description="The identity-provider group that may be bound to hardened-doks:break-glass in an emergency (read-only human access).",
        allowed="a group name (not system:)",
    )

    @field_validator("break_glass_group")
    @classmethod
    def _group(cls, value: str) -> str:
        Subjects(groups=[value])
        return value

