"""The stack configuration schema: the one place every setting is declared.

Every setting has a type, a default (possibly per environment profile), its allowed
values and a one-line description. Values are read from Pulumi config under the
``hardened-doks`` namespace (``stacks/Pulumi.<stack>.yaml``); unknown keys and unsafe
combinations are refused with a :class:`ConfigError` that names the key and what is
allowed, before the program registers any resource.

Environment profiles (``dev`` → ``staging`` → ``prod``) tighten the defaults. A stack
file may override a profile default only where that is safe: the settings listed in
:data:`SECURITY_FLOORS` cannot be loosened below the profile's value.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import pulumi
import pulumi_digitalocean as digitalocean
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator

#: Pulumi config namespace of this project (the ``name`` in Pulumi.yaml).
NAMESPACE = "hardened-doks"

Environment = Literal["dev", "staging", "prod"]
ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")
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

#: The host of DigitalOcean Container Registry (DOCR) images: registry.digitalocean.com/<registry>/<repository>.
DOCR_HOST = "registry.digitalocean.com"

#: Widest API allowlist entry accepted per profile (minimum prefix length, IPv4 / IPv6).
#: Serves CIS Kubernetes Benchmark 5.4 / NSA-CISA "limit access to the control plane":
#: staging and prod refuse "the whole internet" and very wide blocks.
API_ALLOWLIST_MIN_PREFIX: dict[str, tuple[int, int]] = {"dev": (0, 0), "staging": (8, 32), "prod": (16, 48)}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DO_TAG = re.compile(r"^[A-Za-z0-9_:\-]{1,255}$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_VERSION_PREFIX = re.compile(r"^1\.[0-9]{2}$")


class ConfigError(pulumi.RunError):
    """A stack configuration problem. Pulumi prints a RunError without a traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


def setting(default: Any = ..., *, description: str, allowed: str, **kwargs: Any) -> Any:
    """Declare one setting: its default, one-line description and allowed values."""
    return Field(default, description=description, json_schema_extra={"allowed": allowed}, **kwargs)


class Section(BaseModel):
    """Base for every config object: unknown keys are refused, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _cidr(value: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IPv4/IPv6 address or CIDR (host bits clear), or a ValueError saying what was expected."""
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not {what} ({exc})") from None


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


def _label_key(value: str) -> str:
    if not _LABEL_KEY.match(value):
        raise ValueError(f"{value!r} is not a valid Kubernetes label key")
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(f"{value!r} is not a valid Kubernetes label value")
    return value


def _do_tags(values: list[str]) -> list[str]:
    for tag in values:
        if not _DO_TAG.match(tag):
            raise ValueError(f"tag {tag!r} may contain only letters, digits, '_', '-' and ':' (max 255)")
    return values


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
KUBERNETES_NAMESPACES: tuple[str, ...] = ("kube-system", "kube-public", "kube-node-lease", "default")
#: The policy engine's namespace (components/admission.py).
KYVERNO_NAMESPACE = "kyverno"
#: Namespaces of the scanners layer (components/scanners.py, components/alerts.py), one per add-on.
KUBESCAPE_NAMESPACE = "kubescape"
TRIVY_NAMESPACE = "trivy-system"
SNYK_NAMESPACE = "snyk-monitor"
FALCO_NAMESPACE = "falco"
FALCOSIDEKICK_NAMESPACE = "falcosidekick"
ALERTS_NAMESPACE = "security-alerts"
#: Namespaces of the security add-ons: the policy engine's, and those the scanners layer uses.
ADDON_NAMESPACES: tuple[str, ...] = (
    KYVERNO_NAMESPACE, KUBESCAPE_NAMESPACE, TRIVY_NAMESPACE, SNYK_NAMESPACE, FALCO_NAMESPACE, FALCOSIDEKICK_NAMESPACE, ALERTS_NAMESPACE,
)  # fmt: skip
#: The Kyverno Helm chart, pinned: chart 3.9.1 is Kyverno v1.19.1. The same chart is in the Go
#: module zip of github.com/kyverno/kyverno@v1.19.1 under charts/kyverno (scripts/kyverno-chart.sh).
KYVERNO_CHART = "kyverno"
KYVERNO_CHART_VERSION = "3.9.1"
KYVERNO_CHART_REPO = "https://kyverno.github.io/kyverno/"


@dataclass(frozen=True)
class ChartPin:
    """An official Helm chart, pinned: name, chart version, app version and its repository."""

    name: str
    version: str
    app_version: str
    repo: str
    #: How to get the chart with no chart repository reachable ("" when it cannot be fetched offline).
    offline: str = ""
    #: SHA-256 of the published archive, as the repository's index.yaml lists it ("" where the chart
    #: comes from a Go module zip). `make check-pins` compares it with the live index: a re-published
    #: archive under the same version is a change of what runs (supply chain: know what you install).
    digest: str = ""


#: Kyverno's chart as a pin (the KYVERNO_CHART* constants above are its fields).
KYVERNO_PIN = ChartPin(KYVERNO_CHART, KYVERNO_CHART_VERSION, "v1.19.1", KYVERNO_CHART_REPO, "scripts/kyverno-chart.sh")
#: The scanners layer's charts, pinned to versions their repositories published (docs/scanners.md,
#: "Where the charts come from, what the tests render, and how to bump a pin"). tests/unit/test_chart_pins.py checks
#: every pin against the repositories' index snapshots in ../shared/charts/index (Kyverno's and
#: Trivy's against the chart in their Go module zip); `make check-pins` against the live indexes.
SCANNER_CHARTS: dict[str, ChartPin] = {
    "kubescape": ChartPin(
        "kubescape-operator", "1.40.3", "1.40.3", "https://kubescape.github.io/helm-charts/",
        digest="2a0ffaa69068218f03a44139ac77c81905350208413c14ba697e9514f204af07",
    ),
    "trivy": ChartPin("trivy-operator", "0.36.0", "0.34.0", "https://aquasecurity.github.io/helm-charts/", "scripts/trivy-chart.sh"),
    # The snyk-monitor chart declares no appVersion; its image tag is the chart version.
    "snyk": ChartPin(
        "snyk-monitor", "2.23.8", "", "https://snyk.github.io/kubernetes-monitor/",
        digest="4a7ca0f58084b5d86b12301cd0a3db6fdb757563199946b483b57fcbc153d415",
    ),
    "falco": ChartPin(
        "falco", "9.1.0", "0.44.1", "https://falcosecurity.github.io/charts",
        digest="2a767d6aeccf2392c5e263ae1f5e0950520affe3a9908ff7986ac213649c45b4",
    ),
    "falcosidekick": ChartPin(
        "falcosidekick", "0.12.0", "2.31.1", "https://falcosecurity.github.io/charts",
        digest="ab1495091089fbcd214c5fa761215ae59817559c92c7497753ec395b5c289dbb",
    ),
}  # fmt: skip
#: Every pinned chart of the stack, by add-on key.
CHART_PINS: dict[str, ChartPin] = {"kyverno": KYVERNO_PIN, **SCANNER_CHARTS}


@dataclass(frozen=True)
class PinnedImage:
    """An image (or OCI artifact) a pinned chart runs, and the chart value that names it.

    ``value`` is the path in the chart's values of the image's tag (``form="tag"``) or of its whole
    reference (``form="reference"``); a digest set in ``addon_image_digests`` is appended there as
    ``…@sha256:<digest>`` (the tag stays for readability; the runtime pulls by digest).
    """

    addon: str
    reference: str
    value: tuple[str | int, ...]
    form: Literal["tag", "reference"] = "tag"
    #: An OCI artifact falcoctl or Trivy downloads (rules, plugins, checks), not a container image.
    artifact: bool = False

    @property
    def tag(self) -> str:
        return self.reference.rsplit(":", 1)[1]


#: The rules falcoctl installs into Falco at start: an exact release of falcosecurity/rules (the
#: chart's default, ``falco-rules:5``, follows every 5.x release: rules would change without a change
#: here). 5.1.0 is the release public deployments of chart 9.1.0 (Falco 0.44.1) pin; the machines that
#: test this project cannot reach ghcr.io to list its tags.
FALCO_RULES = "ghcr.io/falcosecurity/rules/falco-rules:5.1.0"
#: Every image and artifact the pinned charts run with the stack's values, by the reference the chart
#: renders (one entry per value naming it). tests/unit/test_chart_images.py fails when a rendered chart
#: runs one that is not listed (a chart bump must update this table); `make image-digests` resolves
#: their digests.
PINNED_IMAGES: tuple[PinnedImage, ...] = (
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/kyverno:v1.19.1", ("admissionController", "container", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/kyvernopre:v1.19.1", ("admissionController", "initContainer", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/background-controller:v1.19.1", ("backgroundController", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/cleanup-controller:v1.19.1", ("cleanupController", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/reports-controller:v1.19.1", ("reportsController", "image", "tag")),
    PinnedImage("kyverno", "reg.kyverno.io/kyverno/kyverno-cli:v1.19.1", ("crds", "migration", "image", "tag")),
    PinnedImage("kyverno", "ghcr.io/kyverno/readiness-checker:v1.19.1", ("webhooksCleanup", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/kubescape:v4.0.11", ("kubescape", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/kubevuln:v0.3.159", ("kubevuln", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/operator:v0.2.159", ("operator", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/storage:v0.0.297", ("storage", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/http-request:v0.2.20", ("kubescapeScheduler", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/http-request:v0.2.20", ("kubevulnScheduler", "image", "tag")),
    PinnedImage("kubescape", "quay.io/kubescape/http-request:v0.2.20", ("registryScanScheduler", "image", "tag")),
    PinnedImage("trivy", "mirror.gcr.io/aquasec/trivy-operator:0.34.0", ("image", "tag")),
    PinnedImage("trivy", "mirror.gcr.io/aquasec/trivy:0.74.0", ("trivy", "image", "tag")),
    PinnedImage("trivy", "mirror.gcr.io/aquasec/trivy-checks:1", ("policiesBundle", "tag"), artifact=True),
    PinnedImage("snyk", "docker.io/snyk/kubernetes-monitor:2.23.8", ("image", "tag")),
    PinnedImage("falco", "docker.io/falcosecurity/falco:0.44.1", ("image", "tag")),
    PinnedImage("falco", "docker.io/falcosecurity/falcoctl:0.13.0", ("falcoctl", "image", "tag")),
    PinnedImage("falco", FALCO_RULES, ("falcoctl", "config", "artifact", "install", "refs", 0), "reference", artifact=True),
    PinnedImage("falco", "ghcr.io/falcosecurity/plugins/plugin/container:0.7.1", ("collectors", "containerEngine", "pluginRef"), "reference", artifact=True),
    PinnedImage("falcosidekick", "docker.io/falcosecurity/falcosidekick:2.32.0", ("image", "tag")),
)  # fmt: skip
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
#: No tenant namespace may take one of these names.
RESERVED_NAMESPACES: frozenset[str] = frozenset(KUBERNETES_NAMESPACES + ADDON_NAMESPACES)

PodSecurityLevel = Literal["privileged", "baseline", "restricted"]
_POD_SECURITY_LEVELS = "privileged, baseline, restricted"
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
# A registry host (with a dot, or localhost, optional port) and an optional repository path:
# "registry.digitalocean.com/my-registry", "ghcr.io/my-org". No scheme, wildcard, tag or digest.
_REGISTRY = re.compile(
    r"^(localhost|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+)(:[0-9]{1,5})?"
    r"(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
)


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)")
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi")
    return value


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
            if name in RESERVED_NAMESPACES or name.startswith("kube-"):
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


class AllowRule(Section):
    """One named network path opened through the default-deny policies."""

    name: str = setting(description="Rule name (names its NetworkPolicies).", allowed="DNS label")
    from_namespace: str = setting(description="Managed namespace whose pods may connect.", allowed="a team namespace")
    to_namespace: Optional[str] = setting(None, description="Managed namespace whose pods may be reached.", allowed="a team namespace")
    to_cidrs: list[str] = setting(
        [], description="Destinations outside the cluster.", allowed="IP CIDRs; not /0-wide, link-local/metadata, loopback or the cluster's own ranges"
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
            net = _cidr(item, "a CIDR such as 203.0.113.0/24")
            # NSA/CISA: pods must not reach the cloud metadata service (169.254.169.254) or
            # host-local addresses, and "everything" is not a named path.
            if net.prefixlen < (8 if net.version == 4 else 32):
                raise ValueError(f"{item} is unsafe: wider than /8 (IPv4) or /32 (IPv6); name the destinations")
            if net.is_link_local or net.is_loopback or net.is_multicast or net.is_unspecified or net.is_reserved:
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


class Rbac(Section):
    """Cluster-wide roles: auditors and the break-glass switch."""

    auditors: Subjects = setting(Subjects(), description="Security staff: read everything cluster-wide except Secrets.", allowed="{users, groups}")
    break_glass: bool = setting(False, description="Allow one team (cluster_admin: true) to be bound to cluster-admin.", allowed="true, false")
    break_glass_prod_acknowledged: bool = setting(
        False, description="Acknowledge a cluster-admin break-glass binding in the prod profile.", allowed="true, false"
    )


class Keyless(Section):
    """A Sigstore keyless signing identity (Fulcio certificate + Rekor transparency log)."""

    issuer: str = setting(description="OIDC issuer of the signing identity.", allowed="https URL, e.g. https://token.actions.githubusercontent.com")
    subject: Optional[str] = setting(None, description="Exact certificate subject (e.g. a workflow URL).", allowed="text")
    subject_regexp: Optional[str] = setting(None, description="Regular expression the certificate subject must match.", allowed="a regular expression")
    rekor_url: str = setting("https://rekor.sigstore.dev", description="Rekor transparency log.", allowed="https URL")

    @field_validator("issuer", "rekor_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^https://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an https URL")
        return value

    @model_validator(mode="after")
    def _one_subject(self) -> "Keyless":
        if (self.subject is None) == (self.subject_regexp is None):
            raise ValueError("set exactly one of subject or subject_regexp")
        if self.subject_regexp is not None:
            try:
                re.compile(self.subject_regexp)
            except re.error as exc:
                raise ValueError(f"subject_regexp {self.subject_regexp!r} is not a regular expression ({exc})") from None
        return self


class Admission(Section):
    """Trusted images at admission: the API server's admission policies and Kyverno's signature policy."""

    mode: Literal["Audit", "Enforce"] = setting(
        "Enforce",
        description="For the image rules (registries, tags, add-on images, signatures): Audit warns and reports violations; Enforce rejects them. Must stay Enforce in staging and prod. The other admission rules reject in every profile.",
        allowed="Audit, Enforce",
    )
    allowed_registries: list[str] = setting(
        ["registry.digitalocean.com/hardened-doks"],
        description="Registries (and optional repository prefixes) pods may pull from; images from them must be signed. Default: a DigitalOcean Container Registry named hardened-doks.",
        allowed="registry host[/path], e.g. registry.digitalocean.com/my-registry",
    )
    cosign_public_key: Optional[str] = setting(
        None, description="Cosign public key (PEM) images must be signed with. Staging and prod need it or keyless.", allowed="PEM public key"
    )
    keyless: Optional[Keyless] = setting(None, description="Keyless signing identity images must be signed by.", allowed="{issuer, subject | subject_regexp, rekor_url}")
    cosign_key_transparency_log: bool = setting(
        True,
        description=(
            "With cosign_public_key: each signature must have its Rekor transparency-log entry (what `cosign sign --key` "
            "uploads by default), so Kyverno must reach Sigstore's TUF and Rekor. false accepts key signatures made with "
            "--tlog-upload=false (air-gapped signing, nothing published to the public log): the key alone is then the trust root."
        ),
        allowed="true, false (cosign_public_key only)",
    )
    replicas: int = setting(3, description="Replicas of the Kyverno admission controller (3 for HA).", allowed="integer ≥ 1")
    chart_path: Optional[str] = setting(
        None,
        description="Install the Kyverno chart from this local folder or .tgz archive instead of its repository (air-gapped; see scripts/kyverno-chart.sh).",
        allowed="path to a chart folder or .tgz of the pinned version",
    )
    registry_pull_secret: Optional[str] = setting(
        None,
        description=(
            "An existing kubernetes.io/dockerconfigjson Secret in the kyverno namespace that Kyverno reads image signatures with "
            "(required in existing-cluster mode with a DigitalOcean Container Registry). Unset: the stack creates a read-only, "
            "expiring DOCR credential for the registry in allowed_registries."
        ),
        allowed="a Secret name (DNS subdomain)",
    )
    registry_credentials_rotation_days: int = setting(
        30,
        description="The stack's DOCR credential for Kyverno is replaced by the first `pulumi up` of every period of this many days, and expires after three.",
        allowed="integer 1–180",
    )

    @property
    def docr_registries(self) -> list[str]:
        """The DigitalOcean Container Registry names in allowed_registries (registry.digitalocean.com/<name>[/…])."""
        names = [r.split("/")[1] for r in self.allowed_registries if r.split("/")[0] == DOCR_HOST and "/" in r]
        return list(dict.fromkeys(names))

    @field_validator("registry_pull_secret")
    @classmethod
    def _secret_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not (len(value) <= 253 and all(_DNS_LABEL.match(part) for part in value.split("."))):
            raise ValueError(f"{value!r} is not a Secret name (lowercase letters, digits, '-' and '.')")
        return value

    @field_validator("registry_credentials_rotation_days")
    @classmethod
    def _rotation(cls, value: int) -> int:
        # Three periods must stay under DOCR's maximum credential lifetime, and a credential should not live for years.
        if not 1 <= value <= 180:
            raise ValueError(f"{value} is not between 1 and 180 days")
        return value

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one registry is required; an empty allowlist rejects every pod")
        for item in value:
            if not _REGISTRY.match(item):
                raise ValueError(
                    f"{item!r} is not a registry host with an optional path, such as registry.digitalocean.com/my-registry "
                    "(no scheme, wildcard, tag or digest)"
                )
        return value

    @field_validator("cosign_public_key")
    @classmethod
    def _pem(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.match(r"^\s*-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----\s*$", value):
            raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----)")
        return value

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, value: int) -> int:
        if value < 1:
            raise ValueError("at least 1 replica is required")
        return value

    @model_validator(mode="after")
    def _transparency_log(self) -> "Admission":
        if not self.cosign_key_transparency_log and self.cosign_public_key is None:
            raise ValueError(
                "cosign_key_transparency_log: false applies to cosign_public_key only; keyless signatures are always checked against Rekor"
            )
        return self


# -- the scanners and alerts layer ------------------------------------------------------

Severity = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
#: Severities, lowest first (the order the thresholds compare in).
SEVERITIES: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_SEVERITIES = "LOW, MEDIUM, HIGH, CRITICAL"
#: Kubescape frameworks a scheduled configuration scan may name (Kubescape's regolibrary ids).
KUBESCAPE_FRAMEWORKS: tuple[str, ...] = ("nsa", "mitre", "cis-v1.10.0", "cis-v1.12.0", "security", "allcontrols", "armobest", "devopsbest", "soc2")
#: What the offline harness (tools/offline.py) passes for a secret config value it cannot decrypt.
SECRET_PLACEHOLDER = "[secret]"
#: Secret settings: refused unless stored encrypted (`pulumi config set --secret`), → how to set them.
SECRET_SETTINGS: dict[str, str] = {
    "existing_cluster_kubeconfig": "pulumi config set --secret existing_cluster_kubeconfig < kubeconfig.yaml",
    "slack_webhook_url": "pulumi config set --secret slack_webhook_url https://hooks.slack.com/services/...",
    "snyk_integration_id": "pulumi config set --secret snyk_integration_id <the Kubernetes integration id>",
    "snyk_service_account_token": "pulumi config set --secret snyk_service_account_token < token.txt",
    "snyk_dockercfg": "pulumi config set --secret snyk_dockercfg < dockercfg.json",
}
_CRON_FIELDS: tuple[tuple[str, int, int], ...] = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_ITEM = re.compile(r"^(\*|(\d+)(-(\d+))?)(/(\d+))?$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# A container image pinned by digest: [registry/]repository[:tag]@sha256:<64 hex>.
_PINNED_IMAGE = re.compile(r"^[a-z0-9]([-a-z0-9._/:]*[a-z0-9])?@sha256:[0-9a-f]{64}$")


def cron_schedule(value: str) -> str:
    """A five-field cron schedule (minute hour day-of-month month day-of-week), as CronJobs take it."""
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{value!r} is not a cron schedule: five fields (minute hour day-of-month month day-of-week), e.g. 0 3 * * *")
    for text, (what, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            match = _CRON_ITEM.match(item)
            if not match:
                raise ValueError(f"{value!r} is not a cron schedule: {what} {text!r} is not *, N, N-M, */S or a list of them")
            numbers = [int(n) for n in (match.group(2), match.group(4)) if n is not None]
            if any(not low <= n <= high for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]):
                raise ValueError(f"{value!r} is not a cron schedule: {what} {text!r} is outside {low}-{high}")
            if match.group(6) is not None and int(match.group(6)) == 0:
                raise ValueError(f"{value!r} is not a cron schedule: step 0 in {what} {text!r}")
    return value


def _chart_path_field(chart: str, hint: str) -> Any:
    return setting(
        None,
        description=f"Install the {chart} chart from this local folder or .tgz archive instead of its repository (air-gapped, e2e{hint}).",
        allowed="path to a chart folder or .tgz of the pinned version",
    )


class KubescapeScanner(Section):
    """Kubescape operator: configuration scans (NSA, CIS…) and image vulnerability scans, results in-cluster."""

    enabled: bool = setting(True, description="Install the Kubescape operator.", allowed="true, false")
    configuration_scan_schedule: str = setting(
        "0 6 * * *", description="When the scheduled configuration scan against the frameworks runs (UTC).", allowed="five-field cron"
    )
    vulnerability_scan_schedule: str = setting(
        "30 6 * * *", description="When the scheduled image vulnerability scan of all running images runs (UTC).", allowed="five-field cron"
    )
    frameworks: list[str] = setting(
        ["nsa", "cis-v1.12.0"], description="Frameworks the scheduled configuration scan checks.", allowed=", ".join(KUBESCAPE_FRAMEWORKS)
    )
    chart_path: Optional[str] = _chart_path_field("kubescape-operator", "")

    @field_validator("configuration_scan_schedule", "vulnerability_scan_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return cron_schedule(value)

    @field_validator("frameworks")
    @classmethod
    def _frameworks(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one framework is required")
        for name in value:
            if name not in KUBESCAPE_FRAMEWORKS:
                raise ValueError(f"{name!r} is not a Kubescape framework; allowed: {', '.join(KUBESCAPE_FRAMEWORKS)}")
        return value


class TrivyScanner(Section):
    """Trivy operator: vulnerability, config-audit, exposed-secret and RBAC-assessment reports."""

    enabled: bool = setting(True, description="Install the Trivy operator.", allowed="true, false")
    compliance_schedule: str = setting(
        "0 7 * * *", description="When the cluster compliance reports (CIS, NSA, Pod Security Standards) are regenerated (UTC).", allowed="five-field cron"
    )
    scan_jobs_limit: int = setting(2, description="Most scan Jobs running at once (each has its own requests).", allowed="1 … 10")
    private_registries: bool = setting(
        False,
        description="Opt-in: let the operator read Secrets and ServiceAccounts cluster-wide (get only) to pull private images (DOCR) for scans. Off: public images only (CIS 5.1.2).",
        allowed="true, false",
    )
    chart_path: Optional[str] = _chart_path_field("trivy-operator", "; see scripts/trivy-chart.sh")

    @field_validator("compliance_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return cron_schedule(value)

    @field_validator("scan_jobs_limit")
    @classmethod
    def _limit(cls, value: int) -> int:
        if not 1 <= value <= 10:
            raise ValueError(f"{value} is outside 1 … 10")
        return value


class SnykScanner(Section):
    """Snyk monitor: sends workload and image data to a Snyk organisation (a SaaS account)."""

    enabled: bool = setting(
        False, description="Install the Snyk monitor; needs the secret snyk_integration_id and snyk_service_account_token.", allowed="true, false"
    )
    chart_path: Optional[str] = _chart_path_field("snyk-monitor", "")


class FalcoScanner(Section):
    """Falco runtime detection (a privileged node agent) and falcosidekick, its alert forwarder."""

    enabled: bool = setting(
        False, description="Install Falco and falcosidekick (opt-in: the node agent needs host access, see docs/scanners.md exemptions).", allowed="true, false"
    )
    chart_path: Optional[str] = _chart_path_field("falco", "")
    sidekick_chart_path: Optional[str] = _chart_path_field("falcosidekick", "")


class Scanners(Section):
    """The in-cluster security scanners and their shared severity threshold."""

    severity: Severity = setting(
        "LOW", description="Lowest severity the scanners report (Trivy's severity filter; lower findings are not stored).", allowed=_SEVERITIES
    )
    kubescape: KubescapeScanner = setting(KubescapeScanner(), description="Kubescape operator.", allowed="{enabled, …}")
    trivy: TrivyScanner = setting(TrivyScanner(), description="Trivy operator.", allowed="{enabled, …}")
    snyk: SnykScanner = setting(SnykScanner(), description="Snyk monitor (off unless enabled with its secrets).", allowed="{enabled, chart_path}")
    falco: FalcoScanner = setting(FalcoScanner(), description="Falco runtime detection (off unless enabled).", allowed="{enabled, chart_path, sidekick_chart_path}")


class Alerts(Section):
    """Findings to Slack: the in-cluster notifier (scanner reports) and falcosidekick (Falco events)."""

    min_severity: Severity = setting("HIGH", description="Findings at or above this severity are posted to Slack.", allowed=_SEVERITIES)
    schedule: str = setting("*/30 * * * *", description="When the notifier reads the scanners' reports and posts new findings (UTC).", allowed="five-field cron")
    notifier_image: str = setting(
        "docker.io/library/python:3.13-alpine@sha256:399babc8b49529dabfd9c922f2b5eea81d611e4512e3ed250d75bd2e7683f4b0",
        description="Image the notifier CronJob runs (Python 3 standard library only), pinned by digest.",
        allowed="image@sha256:<digest>",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return cron_schedule(value)

    @field_validator("notifier_image")
    @classmethod
    def _image(cls, value: str) -> str:
        # CIS 5.5.1 / NSA-CISA: run exactly the image that was reviewed; a tag can be moved.
        if not _PINNED_IMAGE.match(value):
            raise ValueError(f"{value!r} is not pinned by digest (image@sha256:<64 hex digits>)")
        return value


def _secret_text(value: Optional[SecretStr]) -> Optional[str]:
    """A secret value to check, or None when unset or when offline (the value cannot be decrypted)."""
    if value is None or value.get_secret_value() == SECRET_PLACEHOLDER:
        return None
    return value.get_secret_value()


class StackConfig(Section):
    """All settings of one stack. Field order is the order of the config reference."""

    environment: Environment = setting(
        description="Environment profile whose defaults apply; the stack name when it is dev, staging or prod.",
        allowed="dev, staging, prod",
    )
    region: str = setting("nyc3", description="DigitalOcean region of the VPC and cluster.", allowed="a DigitalOcean region slug, e.g. nyc3, fra1, ams3")
    cluster_name: str = setting(description="Name of the cluster and prefix of its resources; defaults to hardened-doks-<stack>.", allowed="DNS label")
    kubernetes_version_prefix: str = setting("1.34", description="Kubernetes minor to run; the latest DOKS patch of it is used.", allowed="1.NN, e.g. 1.34")
    kubernetes_minor_upgrade: bool = setting(
        False,
        description="Set for the one run that moves the cluster to a new kubernetes_version_prefix.",
        allowed="true, false",
    )
    vpc_ip_range: str = setting(description="IP range of the environment's dedicated VPC.", allowed="private IPv4 CIDR, /16 … /24")
    cluster_subnet: str = setting(description="Pod IP range (VPC-native cluster).", allowed="private IPv4 CIDR, not overlapping the other ranges")
    service_subnet: str = setting(description="Service (ClusterIP) range.", allowed="private IPv4 CIDR, not overlapping the other ranges")
    ha_control_plane: bool = setting(description="Highly available control plane (cannot be turned off once on).", allowed="true, false")
    auto_upgrade: bool = setting(True, description="Apply DOKS patch upgrades automatically in the maintenance window.", allowed="true, false")
    surge_upgrade: bool = setting(description="Upgrade nodes by surging new ones before draining old ones.", allowed="true, false")
    maintenance_window: MaintenanceWindow = setting(description="Weekly window for automatic upgrades.", allowed="{day, start_time}")
    api_allowlist: list[str] = setting(
        description="CIDRs allowed to reach the Kubernetes API (control-plane firewall).",
        allowed="IPv4/IPv6 CIDRs; staging refuses blocks wider than /8, prod wider than /16",
    )
    system_pool: NodePool = setting(description="The cluster's default node pool (system add-ons run here).", allowed="a node pool object")
    workload_pools: list[NodePool] = setting([], description="Additional node pools for applications.", allowed="list of node pool objects")
    isolate_system_pool: bool = setting(
        True,
        description="Taint the system pool so only Kyverno, the scanners and the notifier run there; tenants need a workload pool without NoSchedule taints. Dev without one: not tainted, with a warning. Must stay true in staging and prod.",
        allowed="true, false",
    )
    registry_integration: bool = setting(
        False, description="Give the cluster pull access to the account's DigitalOcean Container Registry.", allowed="true, false"
    )
    tags: list[str] = setting([], description="Extra DigitalOcean tags on the cluster and its pools.", allowed="DigitalOcean tag names")
    protect: bool = setting(description="Pulumi protect on the cluster and VPC (refuses deletion).", allowed="true, false")
    worker_firewall: WorkerFirewall = setting(WorkerFirewall(), description="Extra inbound sources for the worker firewall.", allowed="{load_balancer_uids, load_balancer_ports}")
    project: Project = setting(Project(), description="DigitalOcean project grouping the stack's resources.", allowed="{name, purpose, description}")
    existing_cluster_kubeconfig: Optional[SecretStr] = setting(
        None,
        description="Kubeconfig of an existing cluster to harden instead of creating DigitalOcean resources (secret).",
        allowed="kubeconfig YAML, set with --secret",
    )
    existing_cluster_name: Optional[str] = setting(
        None, description="Stable identifier of the existing cluster (keeps resources when credentials change).", allowed="DNS label"
    )
    teams: list[Team] = setting([], description="Application teams: their namespaces and role holders.", allowed="list of team objects")
    namespace_quota: NamespaceQuota = setting(NamespaceQuota(), description="ResourceQuota of every tenant namespace.", allowed="{requests_cpu, requests_memory, …}")
    container_defaults: ContainerDefaults = setting(
        ContainerDefaults(), description="LimitRange of every tenant namespace (per-container defaults and ceilings).", allowed="{default_request_cpu, …}"
    )
    pod_security: PodSecurity = setting(description="Pod Security Admission levels of tenant namespaces.", allowed="{enforce, warn, audit}")
    network_policies: NetworkPolicies = setting(
        NetworkPolicies(), description="Paths opened through the managed namespaces' default-deny policies.", allowed="{intra_namespace, allow, api_server_access}"
    )
    rbac: Rbac = setting(Rbac(), description="Cluster-wide auditors and the break-glass switch.", allowed="{auditors, break_glass, break_glass_prod_acknowledged}")
    admission: Admission = setting(
        description="Admission rules (API server policies) and image signatures (Kyverno).",
        allowed="{mode, allowed_registries, cosign_public_key, keyless, replicas, chart_path, registry_pull_secret, registry_credentials_rotation_days}",
    )
    scanners: Scanners = setting(
        description="In-cluster security scanners: Kubescape, Trivy, Snyk, Falco.", allowed="{severity, kubescape, trivy, snyk, falco}"
    )
    alerts: Alerts = setting(description="Findings at or above a severity to Slack.", allowed="{min_severity, schedule, notifier_image}")
    addon_image_digests: dict[str, str] = setting(
        {},
        description="Digests of the add-on charts' images and artifacts, by the reference the pinned chart uses (`make image-digests` resolves them); each then runs by digest.",
        allowed="image:tag → sha256:<64 hex>, for the images in PINNED_IMAGES",
    )
    slack_webhook_url: Optional[SecretStr] = setting(
        None,
        description="Slack incoming webhook for scanner findings, Falco events and drift reports (secret; one webhook for everything).",
        allowed="https URL, set with --secret",
    )
    snyk_integration_id: Optional[SecretStr] = setting(
        None, description="Snyk Kubernetes integration id (secret); required with scanners.snyk.enabled.", allowed="UUID, set with --secret"
    )
    snyk_service_account_token: Optional[SecretStr] = setting(
        None, description="Snyk service account API token (secret); required with scanners.snyk.enabled.", allowed="token, set with --secret"
    )
    snyk_dockercfg: Optional[SecretStr] = setting(
        None,
        description="Docker config.json with credentials for private registries the Snyk monitor pulls from (secret; default none).",
        allowed="JSON object, set with --secret",
    )
    skip_await: bool = setting(
        False,
        description="Do not wait for workloads and Helm releases to become ready, and skip the charts' Helm hook Jobs: only for an API server with no nodes to run pods (the e2e tier simulates nodes and waits).",
        allowed="true, false",
    )

    #: Credentials that arrived as Outputs (a component package consumer's secrets), each already wrapped in its
    #: validation (components/package_config.py); the field then holds SECRET_PLACEHOLDER. Read with secret_input.
    _secret_outputs: dict[str, pulumi.Output[str]] = PrivateAttr(default_factory=dict)

    def secret_input(self, key: str) -> pulumi.Output[str]:
        """A credential setting (SECRET_SETTINGS) as a secret Output: never plain in state, outputs or renders."""
        pending = self._secret_outputs.get(key)
        if pending is not None:
            return pulumi.Output.secret(pending)
        value = getattr(self, key)
        assert isinstance(value, SecretStr), f"{key} is not set"
        return pulumi.Output.secret(value.get_secret_value())

    # -- single-field checks -------------------------------------------------------

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in KNOWN_REGIONS:
            raise ValueError(f"{value!r} is not a DigitalOcean region; allowed: {', '.join(sorted(KNOWN_REGIONS))}")
        return value

    @field_validator("cluster_name", "existing_cluster_name")
    @classmethod
    def _dns_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a DNS label (lowercase letters, digits and '-', at most 63)")
        return value

    @field_validator("kubernetes_version_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _VERSION_PREFIX.match(value):
            raise ValueError(f"{value!r} is not a Kubernetes minor prefix of the form 1.NN, e.g. 1.34")
        return value

    @field_validator("vpc_ip_range")
    @classmethod
    def _vpc(cls, value: str) -> str:
        net = _private_ipv4_network(value, what="VPC range")
        if not 16 <= net.prefixlen <= 24:
            raise ValueError(f"VPC range {value} must be between /16 and /24 (DigitalOcean VPC limits)")
        return value

    @field_validator("cluster_subnet", "service_subnet")
    @classmethod
    def _subnet(cls, value: str) -> str:
        _private_ipv4_network(value, what="range")
        return value

    @field_validator("api_allowlist")
    @classmethod
    def _allowlist(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one CIDR is required; an empty allowlist locks everyone, Pulumi included, out of the API")
        for item in value:
            try:
                ipaddress.ip_network(item, strict=True)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not a CIDR such as 203.0.113.0/24 ({exc})") from None
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return _do_tags(value)

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        text = _secret_text(value)
        # The webhook is a credential: TLS only (NSA/CISA: encrypt data in transit). Never echoed.
        if text is not None and not re.match(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/\S+$", text):
            raise ValueError("is not an https URL such as https://hooks.slack.com/services/... (the value is not shown)")
        return value

    @field_validator("snyk_integration_id")
    @classmethod
    def _integration_id(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        text = _secret_text(value)
        if text is not None and not _UUID.match(text.strip()):
            raise ValueError("is not a Snyk integration id (a UUID; the value is not shown)")
        return value

    @field_validator("snyk_dockercfg")
    @classmethod
    def _dockercfg(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        text = _secret_text(value)
        if text is not None:
            try:
                ok = isinstance(json.loads(text), dict)
            except json.JSONDecodeError:
                ok = False
            if not ok:
                raise ValueError("is not a Docker config.json object (the value is not shown)")
        return value

    @field_validator("addon_image_digests")
    @classmethod
    def _digests(cls, value: dict[str, str]) -> dict[str, str]:
        known = {image.reference for image in PINNED_IMAGES}
        for reference, digest in value.items():
            # CIS 5.5.1 / NSA-CISA: a digest names exactly the reviewed image; a tag can be moved.
            if reference not in known:
                raise ValueError(f"{reference!r} is not an image of the pinned charts; `make image-digests` lists them")
            if not _DIGEST.match(digest):
                raise ValueError(f"{reference}: {digest!r} is not a digest (sha256:<64 hex digits>)")
        return value

    # -- derived values ------------------------------------------------------------

    @property
    def tenant_pools(self) -> list[NodePool]:
        """Workload pools tenant pods can schedule on (no NoSchedule or NoExecute taint)."""
        return [p for p in self.workload_pools if not any(t.effect in ("NoSchedule", "NoExecute") for t in p.taints)]

    @property
    def max_nodes(self) -> int:
        """The most nodes the pools can reach (each pool's node_count, or its autoscaling maximum).
        In existing-cluster mode the pools are not created: their settings then describe that cluster."""
        return sum(p.max_nodes if p.auto_scale else (p.node_count or 0) for p in [self.system_pool, *self.workload_pools])

    @property
    def system_pool_isolated(self) -> bool:
        """True when the system pool is tainted and the add-ons are placed on it: isolation is on, the
        stack creates the cluster, and tenants have a pool of their own."""
        return self.isolate_system_pool and not self.existing_cluster and bool(self.tenant_pools)

    def image_digest(self, reference: str) -> Optional[str]:
        """The configured digest of a pinned chart's image, if any."""
        return self.addon_image_digests.get(reference)

    @property
    def existing_cluster(self) -> bool:
        """True in existing-cluster mode: harden a given cluster, create no DigitalOcean resources."""
        return self.existing_cluster_kubeconfig is not None

    @property
    def name(self) -> str:
        """The cluster's name: the existing cluster's in existing-cluster mode, else cluster_name."""
        return self.existing_cluster_name or self.cluster_name

    @property
    def base_tags(self) -> list[str]:
        """DigitalOcean tags on everything the stack creates: ownership, environment, then extras."""
        return [NAMESPACE, f"env:{self.environment}", f"cluster:{self.cluster_name}", *self.tags]


#: Per-environment defaults. A stack file's values are merged on top of these.
PROFILES: dict[str, dict[str, Any]] = {
    "dev": {
        "vpc_ip_range": "10.110.0.0/20",
        "cluster_subnet": "10.111.0.0/16",
        "service_subnet": "10.112.0.0/20",
        "ha_control_plane": False,
        "surge_upgrade": False,
        "protect": False,
        "maintenance_window": {"day": "any", "start_time": "04:00"},
        # dev only: reachable from anywhere until you narrow it (the firewall is still on).
        "api_allowlist": ["0.0.0.0/0"],
        "system_pool": {"name": "system", "size": "s-4vcpu-8gb", "auto_scale": True, "min_nodes": 2, "max_nodes": 3},
        # Pod Security Standards: dev enforces baseline and warns/audits restricted, so
        # workloads can be fixed before they reach staging, which enforces restricted.
        "pod_security": {"enforce": "baseline", "warn": "restricted", "audit": "restricted"},
        # The image rules warn and report only in dev; they reject in staging and prod.
        "admission": {"mode": "Audit", "replicas": 1},
        # Scanners: daily scans, findings from MEDIUM up are kept, only CRITICAL ones page Slack.
        "scanners": {
            "severity": "MEDIUM",
            "kubescape": {"configuration_scan_schedule": "0 6 * * *", "vulnerability_scan_schedule": "30 6 * * *"},
            "trivy": {"compliance_schedule": "0 7 * * *", "scan_jobs_limit": 1},
        },
        "alerts": {"min_severity": "CRITICAL", "schedule": "0 * * * *"},
    },
    "staging": {
        "vpc_ip_range": "10.120.0.0/20",
        "cluster_subnet": "10.121.0.0/16",
        "service_subnet": "10.122.0.0/20",
        "ha_control_plane": True,
        "surge_upgrade": True,
        "protect": False,
        "maintenance_window": {"day": "tuesday", "start_time": "03:00"},
        "system_pool": {"name": "system", "size": "s-4vcpu-8gb", "auto_scale": True, "min_nodes": 3, "max_nodes": 5},
        # Pod Security Standards: restricted enforced (CIS 5.2.x).
        "pod_security": {"enforce": "restricted", "warn": "restricted", "audit": "restricted"},
        # Image rules reject violations; 3 Kyverno admission replicas keep the signature webhook available.
        "admission": {"mode": "Enforce", "replicas": 3},
        # Scanners: twice a day, every severity kept, HIGH and CRITICAL findings to Slack.
        "scanners": {
            "severity": "LOW",
            "kubescape": {"configuration_scan_schedule": "0 */12 * * *", "vulnerability_scan_schedule": "30 */12 * * *"},
            "trivy": {"compliance_schedule": "15 */12 * * *", "scan_jobs_limit": 2},
        },
        "alerts": {"min_severity": "HIGH", "schedule": "*/30 * * * *"},
    },
    "prod": {
        "vpc_ip_range": "10.130.0.0/20",
        "cluster_subnet": "10.131.0.0/16",
        "service_subnet": "10.132.0.0/20",
        "ha_control_plane": True,
        "surge_upgrade": True,
        "protect": True,
        "maintenance_window": {"day": "sunday", "start_time": "03:00"},
        "system_pool": {"name": "system", "size": "s-8vcpu-16gb", "auto_scale": True, "min_nodes": 3, "max_nodes": 6},
        # Pod Security Standards: restricted enforced (CIS 5.2.x).
        "pod_security": {"enforce": "restricted", "warn": "restricted", "audit": "restricted"},
        # Image rules reject violations; 3 Kyverno admission replicas keep the signature webhook available.
        "admission": {"mode": "Enforce", "replicas": 3},
        # Scanners: every 6 hours, every severity kept, HIGH and CRITICAL findings to Slack within 15 minutes.
        "scanners": {
            "severity": "LOW",
            "kubescape": {"configuration_scan_schedule": "0 */6 * * *", "vulnerability_scan_schedule": "30 */6 * * *"},
            "trivy": {"compliance_schedule": "15 */6 * * *", "scan_jobs_limit": 3},
        },
        "alerts": {"min_severity": "HIGH", "schedule": "*/15 * * * *"},
    },
}

#: Settings a stack may not loosen below its profile: key → environments where the
#: profile value is a floor, and why.
SECURITY_FLOORS: dict[str, tuple[frozenset[str], str]] = {
    # Availability of the API server during upgrades and zone failures (NSA/CISA: resilient control plane).
    "ha_control_plane": (frozenset({"staging", "prod"}), "a single control-plane replica is not allowed"),
    # Regular patching (DigitalOcean checklist "regular upgrades"; CIS Kubernetes Benchmark, keep versions supported).
    "auto_upgrade": (frozenset({"staging", "prod"}), "patch upgrades must stay automatic"),
    # Upgrades without capacity loss, so patching is never postponed for fear of downtime.
    "surge_upgrade": (frozenset({"staging", "prod"}), "node upgrades must surge"),
    # Accidental `pulumi destroy` of production is refused by the engine.
    "protect": (frozenset({"prod"}), "production resources must be protected"),
    # Tenant pods never share a node with the policy engine and the scanners (NSA/CISA: isolation).
    "isolate_system_pool": (frozenset({"staging", "prod"}), "tenant pods must not share nodes with the security add-ons"),
}


def cross_field_problems(config: StackConfig) -> list[str]:
    """Unsafe combinations of otherwise valid settings, each naming the key to change."""
    problems: list[str] = []
    ranges = {key: ipaddress.IPv4Network(getattr(config, key)) for key in ("vpc_ip_range", "cluster_subnet", "service_subnet")}
    names = list(ranges)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if ranges[first].overlaps(ranges[second]):
                problems.append(
                    f"{NAMESPACE}:{second}: {ranges[second]} overlaps {first} {ranges[first]}; "
                    "VPC, pod and service ranges must be disjoint"
                )

    min_v4, min_v6 = API_ALLOWLIST_MIN_PREFIX[config.environment]
    for i, item in enumerate(config.api_allowlist):
        net = ipaddress.ip_network(item)
        if net.prefixlen < (min_v4 if net.version == 4 else min_v6):
            problems.append(
                f"{NAMESPACE}:api_allowlist[{i}]: {item} is too wide for the {config.environment} profile; "
                f"allowed are IPv4 blocks of /{min_v4} or narrower and IPv6 /{min_v6} or narrower"
            )

    names = [config.system_pool.name] + [p.name for p in config.workload_pools]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"{NAMESPACE}:workload_pools: node pool names must be unique; repeated: {', '.join(repeated)}")
    if config.isolate_system_pool and not config.existing_cluster and not config.tenant_pools and config.environment != "dev":
        problems.append(
            f"{NAMESPACE}:workload_pools: the {config.environment} profile taints the system pool for the security add-ons "
            "(isolate_system_pool), so tenants need a workload pool without NoSchedule/NoExecute taints; add one, e.g. "
            "{name: apps, size: s-4vcpu-8gb, min_nodes: 2, max_nodes: 4}"
        )

    for key, (environments, why) in SECURITY_FLOORS.items():
        floor = PROFILES[config.environment].get(key, StackConfig.model_fields[key].default)
        if config.environment in environments and getattr(config, key) != floor:
            problems.append(f"{NAMESPACE}:{key}: must stay {str(floor).lower()} in the {config.environment} profile ({why})")

    problems.extend(in_cluster_problems(config))

    if config.existing_cluster and config.existing_cluster_name is None:
        problems.append(f"{NAMESPACE}:existing_cluster_name: required with existing_cluster_kubeconfig (a DNS label naming that cluster)")
    return problems


#: Settings of the in-cluster layer that staging and prod may not loosen: (section, field) → value.
IN_CLUSTER_FLOORS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    # Pod Security Standards "restricted" (CIS 5.2.x; NSA/CISA: non-root, no privilege escalation).
    ("pod_security", "enforce"): (frozenset({"staging", "prod"}), "restricted"),
    # Untrusted or unsigned images are rejected, not only reported (DigitalOcean supply-chain checklist).
    ("admission", "mode"): (frozenset({"staging", "prod"}), "Enforce"),
}


def chart_metadata(path: str) -> Optional[dict[str, Any]]:
    """The Chart.yaml of a local chart: an unpacked folder or a packaged ``.tgz`` archive (None if neither).

    Helm installs both forms (``helm install NAME ./chart`` or ``./chart-1.2.3.tgz``); an archive
    holds one top-level folder with the chart's Chart.yaml in it.
    """
    import tarfile

    import yaml

    local = Path(path).expanduser()
    if local.is_dir():
        chart_file = local / "Chart.yaml"
        return (yaml.safe_load(chart_file.read_text()) or {}) if chart_file.is_file() else None
    if not local.is_file() or not tarfile.is_tarfile(local):
        return None
    with tarfile.open(local) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")]
        if len(members) != 1:
            return None
        handle = archive.extractfile(members[0])
        return (yaml.safe_load(handle.read()) or {}) if handle is not None else None


def local_chart_problems(path: str, name: str = KYVERNO_CHART, version: str = KYVERNO_CHART_VERSION, how: str = "scripts/kyverno-chart.sh") -> list[str]:
    """Why ``path`` is not chart ``name`` of the pinned ``version``, as a folder or .tgz (empty when it is)."""
    chart = chart_metadata(path)
    if chart is None:
        return [f"no chart at {path} (neither a folder with Chart.yaml nor a chart .tgz archive); prepare one with {how}"]
    if (chart.get("name"), str(chart.get("version"))) != (name, version):
        return [f"{path} holds chart {chart.get('name')} {chart.get('version')}; the stack pins {name} {version}"]
    return []


def scanner_problems(config: StackConfig) -> list[str]:
    """Cross-field checks of the scanners and alerts layer, each naming the key to change."""
    problems: list[str] = []
    key = NAMESPACE + ":"
    scanners = config.scanners
    local = [
        ("scanners.kubescape.chart_path", scanners.kubescape.chart_path, "kubescape"),
        ("scanners.trivy.chart_path", scanners.trivy.chart_path, "trivy"),
        ("scanners.snyk.chart_path", scanners.snyk.chart_path, "snyk"),
        ("scanners.falco.chart_path", scanners.falco.chart_path, "falco"),
        ("scanners.falco.sidekick_chart_path", scanners.falco.sidekick_chart_path, "falcosidekick"),
    ]
    for path, value, chart in local:
        if value is not None:
            pin = SCANNER_CHARTS[chart]
            how = pin.offline or f"`helm pull {pin.name} --version {pin.version} --repo {pin.repo}`"
            problems.extend(f"{key}{path}: {p}" for p in local_chart_problems(value, pin.name, pin.version, how))

    snyk_secrets = ("snyk_integration_id", "snyk_service_account_token")
    if scanners.snyk.enabled:
        for name in snyk_secrets:
            if getattr(config, name) is None:
                problems.append(f"{key}{name}: required with scanners.snyk.enabled: true; set it with `{SECRET_SETTINGS[name]}`")
    else:
        for name in (*snyk_secrets, "snyk_dockercfg"):
            if getattr(config, name) is not None:
                problems.append(f"{key}{name}: set, but scanners.snyk.enabled is false; enable the Snyk monitor or remove the key")

    # Findings the scanners drop can never reach Slack.
    if SEVERITIES.index(config.alerts.min_severity) < SEVERITIES.index(scanners.severity):
        problems.append(
            f"{key}alerts.min_severity: {config.alerts.min_severity} is below scanners.severity {scanners.severity}; "
            "the scanners do not keep findings below it"
        )
    return problems


def in_cluster_problems(config: StackConfig) -> list[str]:
    """Cross-field checks of the in-cluster layer: teams, namespaces, network rules, RBAC, admission."""
    problems: list[str] = []
    key = NAMESPACE + ":"

    for (section, field), (environments, floor) in IN_CLUSTER_FLOORS.items():
        if config.environment in environments and getattr(getattr(config, section), field) != floor:
            problems.append(f"{key}{section}.{field}: must stay {floor} in the {config.environment} profile")

    team_names = [team.name for team in config.teams]
    for name in sorted({n for n in team_names if team_names.count(n) > 1}):
        problems.append(f"{key}teams: team names must be unique; repeated: {name}")
    seen: dict[str, str] = {}
    for i, team in enumerate(config.teams):
        for j, namespace in enumerate(team.namespaces):
            if namespace in seen:
                problems.append(f"{key}teams[{i}].namespaces[{j}]: {namespace!r} already belongs to team {seen[namespace]!r}")
            seen.setdefault(namespace, team.name)
    managed = set(seen)

    def unknown(path: str, namespace: Optional[str]) -> None:
        if namespace is not None and namespace not in managed:
            known = ", ".join(sorted(managed)) or "none configured"
            problems.append(f"{key}{path}: {namespace!r} is not a team namespace (known: {known})")

    policies = config.network_policies
    for i, namespace in enumerate(policies.intra_namespace):
        unknown(f"network_policies.intra_namespace[{i}]", namespace)
    rule_names = [rule.name for rule in policies.allow]
    for name in sorted({n for n in rule_names if rule_names.count(n) > 1}):
        problems.append(f"{key}network_policies.allow: rule names must be unique; repeated: {name}")
    cluster_ranges = {
        "cluster_subnet": ipaddress.ip_network(config.cluster_subnet),
        "service_subnet": ipaddress.ip_network(config.service_subnet),
        **{f"DOKS-reserved {r}": r for r in DO_RESERVED_RANGES},
    }
    for i, rule in enumerate(policies.allow):
        unknown(f"network_policies.allow[{i}].from_namespace", rule.from_namespace)
        unknown(f"network_policies.allow[{i}].to_namespace", rule.to_namespace)
        for j, cidr in enumerate(rule.to_cidrs):
            net = ipaddress.ip_network(cidr)
            for what, cluster_range in cluster_ranges.items():
                if net.version == cluster_range.version and net.overlaps(cluster_range):  # type: ignore[arg-type]
                    problems.append(
                        f"{key}network_policies.allow[{i}].to_cidrs[{j}]: {cidr} is unsafe: it overlaps {what} "
                        f"({cluster_range}); reach pods and Services with to_namespace instead"
                    )
    for i, access in enumerate(policies.api_server_access):
        unknown(f"network_policies.api_server_access[{i}].namespace", access.namespace)

    admins = [(i, team) for i, team in enumerate(config.teams) if team.cluster_admin]
    for i, team in admins:
        path = f"{key}teams[{i}].cluster_admin"
        # CIS 5.1.1: cluster-admin only where required; here only as an explicit break-glass group.
        if not config.rbac.break_glass:
            problems.append(f"{path}: binding a team to cluster-admin needs the break-glass flag rbac.break_glass: true")
        elif config.environment == "prod" and not config.rbac.break_glass_prod_acknowledged:
            problems.append(f"{path}: a cluster-admin break-glass binding in prod needs rbac.break_glass_prod_acknowledged: true")
        if team.admins.users or len(team.admins.groups) != 1:
            problems.append(f"{path}: the break-glass binding is to exactly one group; set teams[{i}].admins to one group and no users")
    if len(admins) > 1:
        problems.append(f"{key}teams: only one team may be the cluster-admin break-glass group; found {', '.join(t.name for _, t in admins)}")
    if config.rbac.break_glass and not admins:
        problems.append(f"{key}rbac.break_glass: set, but no team has cluster_admin: true; unset it")

    problems.extend(scanner_problems(config))

    admission = config.admission
    if admission.chart_path is not None:
        problems.extend(f"{key}admission.chart_path: {p}" for p in local_chart_problems(admission.chart_path))
    if admission.cosign_public_key is not None and admission.keyless is not None:
        problems.append(f"{key}admission.keyless: set either admission.cosign_public_key or admission.keyless, not both")
    if config.environment != "dev" and admission.cosign_public_key is None and admission.keyless is None:
        problems.append(
            f"{key}admission.keyless: required in the {config.environment} profile: the identity images must be signed by "
            "(admission.keyless or admission.cosign_public_key)"
        )
    problems.extend(registry_credential_problems(config))
    return problems


def registry_credential_problems(config: StackConfig) -> list[str]:
    """Kyverno must be able to read signatures from a private DOCR: it needs credentials, and the
    stack can make them only in DOKS mode, for one registry (components/registry_access.py)."""
    admission, key = config.admission, f"{NAMESPACE}:admission"
    verifies = admission.cosign_public_key is not None or admission.keyless is not None
    docr = [r for r in admission.allowed_registries if r.split("/")[0] == DOCR_HOST]
    if not (verifies and docr) or admission.registry_pull_secret is not None:
        return []
    if config.existing_cluster:
        return [
            f"{key}.registry_pull_secret: required in existing-cluster mode when allowed_registries names a DigitalOcean Container "
            f"Registry ({', '.join(docr)}) and signatures are verified: the stack creates no DigitalOcean resource there, and without "
            "credentials Kyverno cannot read signatures from the private registry, so every image is refused. Create a "
            "kubernetes.io/dockerconfigjson Secret in the kyverno namespace with read access (e.g. `doctl registry kubernetes-manifest "
            "--name kyverno-registry --namespace kyverno | kubectl apply -f -`) and name it here"
        ]
    names = admission.docr_registries
    if len(names) != 1:
        found = f"names {len(names)} DOCR registries ({', '.join(names)})" if names else f"names {DOCR_HOST} without a registry"
        return [
            f"{key}.allowed_registries: {found}; the stack makes Kyverno's read-only credential for exactly one, so list "
            f"{DOCR_HOST}/<registry> for one registry, or set admission.registry_pull_secret to a Secret you manage"
        ]
    return []


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_value(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text; scalars stay strings."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return f"{NAMESPACE}:{path}" if path else NAMESPACE


def _format_error(error: Mapping[str, Any]) -> str:
    loc = tuple(p for p in error["loc"] if p not in ("function-after",))
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting (see the configuration reference, docs/configuration.md)"
    elif error["type"] == "missing":
        message = "required: no default in this environment profile; set it in the stack file"
    elif error["type"] == "literal_error" and loc and loc[-1] == "environment":
        message = f"must be one of {', '.join(ENVIRONMENTS)}"
    return f"{_key_path(loc)}: {message}"


def parse_stack_config(
    raw: Mapping[str, Any], *, stack: str, secret_keys: frozenset[str] = frozenset()
) -> StackConfig:
    """Validate raw Pulumi config (``namespace:key`` → value) into a :class:`StackConfig`.

    Pure: no Pulumi runtime needed. Raises :class:`ConfigError` listing every problem.
    """
    # Secret settings are text (a dockercfg is JSON text): never parsed as structured config.
    ours = {
        key: value if key in SECRET_SETTINGS else _parse_value(value)
        for key, value in ((k.split(":", 1)[1], v) for k, v in raw.items() if k.startswith(f"{NAMESPACE}:"))
    }
    problems: list[str] = []

    environment = ours.get("environment", stack if stack in ENVIRONMENTS else None)
    if environment not in ENVIRONMENTS:
        shown = "not set" if environment is None else repr(environment)
        raise ConfigError(
            [f"{NAMESPACE}:environment: {shown}; must be one of {', '.join(ENVIRONMENTS)} (required when the stack is not named after one)"]
        )
    for key, how in SECRET_SETTINGS.items():
        # A credential in plain text would sit unencrypted in the stack file and in state.
        if key in ours and f"{NAMESPACE}:{key}" not in secret_keys:
            problems.append(f"{NAMESPACE}:{key}: must be stored encrypted; set it with `{how}`")

    defaults = _deep_merge({"cluster_name": f"{NAMESPACE}-{stack}"}, PROFILES[environment])
    values = _deep_merge(defaults, {**ours, "environment": environment})
    try:
        config = StackConfig.model_validate(values)
    except ValidationError as exc:
        problems.extend(_format_error(e) for e in exc.errors())
        raise ConfigError(problems) from None

    problems.extend(cross_field_problems(config))
    if problems:
        raise ConfigError(problems)
    return config


def load_stack_config() -> StackConfig:
    """Read and validate the running stack's config from the Pulumi runtime."""
    from components.sdk_internals import all_config

    raw = all_config()
    secret_keys = frozenset(key for key in raw if pulumi.runtime.is_config_secret(key))
    return checked_stack_config(parse_stack_config(raw, stack=pulumi.get_stack(), secret_keys=secret_keys))


def checked_stack_config(config: StackConfig) -> StackConfig:
    """The checks and warnings that need the Pulumi runtime, after parse_stack_config (stack files and the
    component package's args alike)."""
    from components.do_endpoint import endpoint_override_problem

    # The DigitalOcean provider sends DIGITALOCEAN_TOKEN to DIGITALOCEAN_API_URL when it is set:
    # refused before any DigitalOcean resource (and so the provider) is registered.
    override = None if config.existing_cluster else endpoint_override_problem()
    if override:
        raise ConfigError([override])
    if config.environment == "dev" and any(ipaddress.ip_network(c).prefixlen == 0 for c in config.api_allowlist):
        pulumi.log.warn(
            f"{NAMESPACE}:api_allowlist allows the whole internet to reach the Kubernetes API (dev default); "
            "narrow it to your addresses with `pulumi config set --path 'api_allowlist[0]' <your-ip>/32`"
        )
    warning = system_pool_warning(config)
    if warning:
        pulumi.log.warn(warning)
    return config


def system_pool_warning(config: StackConfig) -> Optional[str]:
    """The warning when isolation is asked for but cannot be applied (dev without a tenant pool)."""
    if config.isolate_system_pool and not config.existing_cluster and not config.tenant_pools:
        return (
            f"{NAMESPACE}:isolate_system_pool: this {config.environment} stack has no workload pool tenants can run on, so the "
            "system pool is not tainted and tenant pods share nodes with Kyverno and the scanners; add one under "
            f"{NAMESPACE}:workload_pools to isolate it, or set isolate_system_pool: false to accept sharing"
        )
    return None
