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
from typing import Any, Literal, Optional

import pulumi
import pulumi_digitalocean as digitalocean
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

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


class WorkerFirewall(Section):
    """The project's own tag-scoped cloud firewall on the worker Droplets."""

    load_balancer_uids: list[str] = setting(
        [], description="DigitalOcean load balancers whose traffic may reach the workers.", allowed="load balancer UUIDs"
    )
    load_balancer_ports: list[str] = setting(
        ["80", "443"], description="Worker ports the configured load balancers may reach.", allowed='ports or ranges such as "443" or "30000-30100"'
    )

    @field_validator("load_balancer_ports")
    @classmethod
    def _ports(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.match(r"^\d{1,5}(-\d{1,5})?$", item) or not all(1 <= int(p) <= 65535 for p in item.split("-")):
                raise ValueError(f"{item!r} is not a port or port range such as 443 or 8000-9000")
        return value


class Project(Section):
    """The DigitalOcean project that groups the stack's resources."""

    name: Optional[str] = setting(None, description="Project name; defaults to the cluster name.", allowed="text, 1–175 characters")
    purpose: str = setting("Kubernetes cluster", description="Project purpose shown in the DigitalOcean console.", allowed="text")
    description: str = setting("Hardened DOKS stack managed by Pulumi", description="Project description.", allowed="text")


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

    # -- derived values ------------------------------------------------------------

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

    for key, (environments, why) in SECURITY_FLOORS.items():
        floor = PROFILES[config.environment].get(key, StackConfig.model_fields[key].default)
        if config.environment in environments and getattr(config, key) != floor:
            problems.append(f"{NAMESPACE}:{key}: must stay {str(floor).lower()} in the {config.environment} profile ({why})")

    if config.existing_cluster and config.existing_cluster_name is None:
        problems.append(f"{NAMESPACE}:existing_cluster_name: required with existing_cluster_kubeconfig (a DNS label naming that cluster)")
    return problems


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
        message = "unknown setting (see the config reference in README.md)"
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
    ours = {k.split(":", 1)[1]: _parse_value(v) for k, v in raw.items() if k.startswith(f"{NAMESPACE}:")}
    problems: list[str] = []

    environment = ours.get("environment", stack if stack in ENVIRONMENTS else None)
    if environment not in ENVIRONMENTS:
        shown = "not set" if environment is None else repr(environment)
        raise ConfigError(
            [f"{NAMESPACE}:environment: {shown}; must be one of {', '.join(ENVIRONMENTS)} (required when the stack is not named after one)"]
        )
    if "existing_cluster_kubeconfig" in ours and f"{NAMESPACE}:existing_cluster_kubeconfig" not in secret_keys:
        problems.append(
            f"{NAMESPACE}:existing_cluster_kubeconfig: must be stored encrypted; set it with "
            f"`pulumi config set --secret existing_cluster_kubeconfig < kubeconfig.yaml`"
        )

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
    from pulumi.runtime import config as runtime_config

    raw = dict(runtime_config.CONFIG.get())
    secret_keys = frozenset(runtime_config._SECRET_KEYS.get())  # noqa: SLF001 - the SDK exposes no public getter
    config = parse_stack_config(raw, stack=pulumi.get_stack(), secret_keys=secret_keys)
    if config.environment == "dev" and any(ipaddress.ip_network(c).prefixlen == 0 for c in config.api_allowlist):
        pulumi.log.warn(
            f"{NAMESPACE}:api_allowlist allows the whole internet to reach the Kubernetes API (dev default); "
            "narrow it to your addresses with `pulumi config set --path 'api_allowlist[0]' <your-ip>/32`"
        )
    return config
