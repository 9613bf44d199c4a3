"""``StackConfig``: all settings of one stack, and its derived values."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Optional

import pulumi
from pydantic import PrivateAttr, SecretStr, field_validator

from hardened_doks.config.admission import Admission
from hardened_doks.config.addon_facts import pinned_references
from hardened_doks.config.digitalocean import KNOWN_REGIONS, MaintenanceWindow, NodePool, Project, WorkerFirewall, _private_ipv4_network
from hardened_doks.config.fields import NAMESPACE, _DNS_LABEL, _VERSION_PREFIX, Environment, Section, _do_tags, setting
from hardened_doks.config.scanners import Alerts, Scanners
from hardened_doks.config.tenancy import ContainerDefaults, NamespaceQuota, NetworkPolicies, PodSecurity, Rbac, Team

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
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


#: User fields that carry credentials in a kubeconfig (client-go's AuthInfo).
_CREDENTIALS: tuple[tuple[str, ...], ...] = (
    ("token",), ("tokenFile",), ("client-certificate-data", "client-key-data"), ("client-certificate", "client-key"),
    ("exec",), ("auth-provider",), ("username", "password"),
)  # fmt: skip


def kubeconfig_problem(text: str) -> Optional[str]:
    """Why ``text`` is not a kubeconfig of exactly one cluster with an https server and credentials
    (None when it is), checked before the Kubernetes provider is given it. Names no value."""
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"is not YAML{where}; give the kubeconfig file's contents"
    if not isinstance(document, dict) or document.get("kind", "Config") != "Config":
        return "is not a kubeconfig (a YAML object of kind Config with clusters, users and contexts)"
    clusters, users = document.get("clusters") or [], document.get("users") or []
    if not isinstance(clusters, list) or len(clusters) != 1:
        count = len(clusters) if isinstance(clusters, list) else "no list of"
        return f"names {count} clusters; it must name exactly one (the cluster to harden)"
    server = str(((clusters[0] or {}).get("cluster") or {}).get("server", ""))
    if not server.startswith("https://") or len(server) <= len("https://"):
        return "the cluster's server is not an https URL (the API must be reached over TLS)"
    user_fields = [((u or {}).get("user") or {}) for u in users if isinstance(u, dict)] if isinstance(users, list) else []
    if not any(all(f in fields for f in need) for fields in user_fields if isinstance(fields, dict) for need in _CREDENTIALS):
        return "has no user credentials (token, client certificate and key, or an exec plugin)"
    return None


def _secret_text(value: Optional[SecretStr]) -> Optional[str]:
    """A secret value to check, or None when unset or when offline (the value cannot be decrypted)."""
    if value is None or value.get_secret_value() == SECRET_PLACEHOLDER:
        return None
    return value.get_secret_value()


class KubeClient(Section):
    """How fast the Kubernetes provider may call the API server (the provider's ``kubeClientSettings``)."""

    # Performance, not a control: the provider's own client-side limit (50 requests a second) made
    # it wait between calls for most of an `up` and a `preview --refresh` of a platform-sized stack
    # (docs/performance.md, "The provider's request rate"). The API server protects itself with API
    # Priority and Fairness (429 and Retry-After, which the client honours), not with a client's limit.
    qps: float = setting(
        200.0,
        description="Requests per second the Kubernetes provider may send to the API server, sustained (the provider's own default is 50).",
        allowed="a number from 1 to 5000",
        ge=1.0,
        le=5000.0,
    )
    burst: int = setting(
        400,
        description="Requests the Kubernetes provider may send at once above qps (the provider's own default is 120).",
        allowed="an integer from 1 to 10000",
        ge=1,
        le=10000,
    )


class StackConfig(Section):
    """All settings of one stack. Field order is the order of the config reference."""

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
        allowed=(
            "IPv4/IPv6 CIDRs, judged by the address space they cover together (IPv6 spellings of IPv4 such as ::ffff:0:0/96 count as IPv4): "
            "staging refuses blocks wider than /8 (IPv6 /32) and lists covering more than one /8 (IPv6 /32) in total, prod the same for /16 (IPv6 /48)"
        ),
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
        description="Kubeconfig of an existing cluster to harden instead of creating DigitalOcean resources (secret): exactly one cluster with an https server, and user credentials (token, client certificate, exec plugin); needs existing_cluster_name. No DigitalOcean token is needed in this mode.",
        allowed="kubeconfig YAML, set with --secret",
    )
    existing_cluster_name: Optional[str] = setting(
        None, description="Stable identifier of the existing cluster (keeps resources when credentials change); set with existing_cluster_kubeconfig or not at all.", allowed="DNS label"
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
    rbac: Rbac = setting(Rbac(), description="Cluster-wide auditors, the break-glass switch, and how much the team roles let people do (read-only in prod).", allowed="{auditors, break_glass, break_glass_prod_acknowledged, human_access, break_glass_group}")
    admission: Admission = setting(
        description="Admission rules (API server policies) and image signatures (Kyverno).",
        allowed="{mode, allowed_registries, cosign_public_key, keyless, replicas, chart_path, registry_pull_secret, registry_credentials_rotation_days}",
    )
    scanners: Scanners = setting(
        description="In-cluster security scanners: Kubescape, Trivy, Snyk, Falco.", allowed="{severity, kubescape, trivy, snyk, falco}"
    )
    alerts: Alerts = setting(description="Findings at or above a severity to Slack.", allowed="{min_severity, schedule, slack_webhook_allowed_hosts, notifier_image}")
    addon_image_digests: dict[str, str] = setting(
        {},
        description="Digests of the add-on charts' images and artifacts, by the reference the pinned chart uses (`make image-digests` resolves them); each then runs by digest.",
        allowed="image:tag → sha256:<64 hex>, for the images in PINNED_IMAGES",
    )
    slack_webhook_url: Optional[SecretStr] = setting(
        None,
        description="Slack incoming webhook for scanner findings, Falco events and drift reports (secret; one webhook for everything).",
        allowed="https URL on hooks.slack.com (or a host in alerts.slack_webhook_allowed_hosts), set with --secret",
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
    kube_client_settings: KubeClient = setting(
        KubeClient(),
        description="Request rate of the Kubernetes provider against the cluster's API server; lower it if the API server answers 429 (too many requests).",
        allowed="{qps, burst}",
    )
    skip_await: bool = setting(
        False,
        description="Do not wait for workloads and Helm releases to become ready, and skip the charts' Helm hook Jobs: only for an API server with no nodes to run pods (the e2e tier simulates nodes and waits).",
        allowed="true, false",
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

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        text = _secret_text(value)
        # The webhook is a credential: TLS only (NSA/CISA: encrypt data in transit). Never echoed.
        if text is not None and not re.match(r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/\S+$", text):
            raise ValueError("is not an https URL such as https://hooks.slack.com/services/... (the value is not shown)")
        return value

    @field_validator("existing_cluster_kubeconfig")
    @classmethod
    def _kubeconfig(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        text = _secret_text(value)
        if text is not None:
            problem = kubeconfig_problem(text)
            if problem:
                raise ValueError(f"{problem} (the value is not shown)")
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
        known = pinned_references()
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


