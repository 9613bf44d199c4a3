"""The cross-field checks: unsafe combinations of otherwise valid settings.

One flat, named list (:data:`CHECKS`), run in order after every single field is valid; each check
returns its problems, each naming the key to change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Optional
from urllib.parse import urlsplit

from hardened_doks.config.addresses import limit_problem, normalise
from hardened_doks.config.admission import DOCR_HOST, registry_problem
from hardened_doks.chart_pin import local_chart_problems
from hardened_doks.config.addon_facts import addons
from hardened_doks.config.digitalocean import API_ALLOWLIST_MIN_PREFIX, DO_RESERVED_RANGES
from hardened_doks.config.fields import NAMESPACE
from hardened_doks.config.profiles import FLOORS
from hardened_doks.config.scanners import SEVERITIES, SLACK_WEBHOOK_HOST
from hardened_doks.config.stack import SECRET_SETTINGS, StackConfig, _secret_text
from hardened_doks.config.tenancy import ALLOW_RULE_CIDR_LIMIT

KEY = NAMESPACE + ":"


def disjoint_ranges(config: StackConfig) -> list[str]:
    """The VPC, pod and service ranges do not overlap."""
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
    return problems


def api_allowlist_width(config: StackConfig) -> list[str]:
    """No API allowlist block is wider than the profile allows, and together they cover no more than
    one such block (IPv6 spellings of IPv4 normalised first: `::ffff:0:0/96` is all of IPv4)."""
    problems: list[str] = []
    min_v4, min_v6 = API_ALLOWLIST_MIN_PREFIX[config.environment]
    for i, item in enumerate(config.api_allowlist):
        for net in normalise(ipaddress.ip_network(item)):
            if net.prefixlen < (min_v4 if net.version == 4 else min_v6):
                reached = f" (it reaches {net})" if str(net) != item else ""
                problems.append(
                    f"{NAMESPACE}:api_allowlist[{i}]: {item} is too wide for the {config.environment} profile{reached}; "
                    f"allowed are IPv4 blocks of /{min_v4} or narrower and IPv6 /{min_v6} or narrower"
                )
                break
    if not problems:
        problems += limit_problem(config.api_allowlist, key=f"{NAMESPACE}:api_allowlist", environment=config.environment, limit=(min_v4, min_v6))
    return problems


def egress_cidr_coverage(config: StackConfig) -> list[str]:
    """Outside dev, the CIDR destinations of all allow rules together cover no more than the profile's limit."""
    limit = ALLOW_RULE_CIDR_LIMIT[config.environment]
    cidrs = [cidr for rule in config.network_policies.allow for cidr in rule.to_cidrs]
    if limit is None or not cidrs:
        return []
    return limit_problem(cidrs, key=f"{NAMESPACE}:network_policies.allow[].to_cidrs", environment=config.environment, limit=limit)


def unique_pool_names(config: StackConfig) -> list[str]:
    """Node pool names are unique."""
    names = [config.system_pool.name] + [p.name for p in config.workload_pools]
    repeated = sorted({n for n in names if names.count(n) > 1})
    return [f"{NAMESPACE}:workload_pools: node pool names must be unique; repeated: {', '.join(repeated)}"] if repeated else []


def tenant_pool_for_isolation(config: StackConfig) -> list[str]:
    """Outside dev, an isolated system pool needs a workload pool tenants can run on."""
    if config.isolate_system_pool and not config.existing_cluster and not config.tenant_pools and config.environment != "dev":
        return [
            f"{NAMESPACE}:workload_pools: the {config.environment} profile taints the system pool for the security add-ons "
            "(isolate_system_pool), so tenants need a workload pool without NoSchedule/NoExecute taints; add one, e.g. "
            "{name: apps, size: s-4vcpu-8gb, min_nodes: 2, max_nodes: 4}"
        ]
    return []


def _value(config: StackConfig, path: str) -> object:
    value: object = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def floors(config: StackConfig) -> list[str]:
    """No setting in the security floors (FLOORS, components/config/profiles.py) is loosened in its profiles."""
    problems: list[str] = []
    for path, floor in FLOORS.items():
        if config.environment in floor.environments and _value(config, path) != floor.value:
            shown = str(floor.value).lower() if isinstance(floor.value, bool) else floor.value
            why = f" ({floor.reason})" if floor.reason else ""
            problems.append(f"{KEY}{path}: must stay {shown} in the {config.environment} profile{why}")
    return problems


def _team_namespaces(config: StackConfig) -> dict[str, str]:
    """Each namespace → the first team that lists it."""
    seen: dict[str, str] = {}
    for team in config.teams:
        for namespace in team.namespaces:
            seen.setdefault(namespace, team.name)
    return seen


def unique_teams(config: StackConfig) -> list[str]:
    """Team names are unique and no namespace belongs to two teams."""
    problems: list[str] = []
    team_names = [team.name for team in config.teams]
    for name in sorted({n for n in team_names if team_names.count(n) > 1}):
        problems.append(f"{KEY}teams: team names must be unique; repeated: {name}")
    seen: dict[str, str] = {}
    for i, team in enumerate(config.teams):
        for j, namespace in enumerate(team.namespaces):
            if namespace in seen:
                problems.append(f"{KEY}teams[{i}].namespaces[{j}]: {namespace!r} already belongs to team {seen[namespace]!r}")
            seen.setdefault(namespace, team.name)
    return problems


def network_policy_namespaces(config: StackConfig) -> list[str]:
    """Network rules name team namespaces, unique rule names, and no CIDR inside the cluster's ranges."""
    problems: list[str] = []
    managed = set(_team_namespaces(config))

    def unknown(path: str, namespace: Optional[str]) -> None:
        if namespace is not None and namespace not in managed:
            known = ", ".join(sorted(managed)) or "none configured"
            problems.append(f"{KEY}{path}: {namespace!r} is not a team namespace (known: {known})")

    policies = config.network_policies
    for i, namespace in enumerate(policies.intra_namespace):
        unknown(f"network_policies.intra_namespace[{i}]", namespace)
    rule_names = [rule.name for rule in policies.allow]
    for name in sorted({n for n in rule_names if rule_names.count(n) > 1}):
        problems.append(f"{KEY}network_policies.allow: rule names must be unique; repeated: {name}")
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
                        f"{KEY}network_policies.allow[{i}].to_cidrs[{j}]: {cidr} is unsafe: it overlaps {what} "
                        f"({cluster_range}); reach pods and Services with to_namespace instead"
                    )
    for i, access in enumerate(policies.api_server_access):
        unknown(f"network_policies.api_server_access[{i}].namespace", access.namespace)
    return problems


def break_glass(config: StackConfig) -> list[str]:
    """A cluster-admin binding only as one acknowledged break-glass group."""
    problems: list[str] = []
    admins = [(i, team) for i, team in enumerate(config.teams) if team.cluster_admin]
    for i, team in admins:
        path = f"{KEY}teams[{i}].cluster_admin"
        # CIS 5.1.1: cluster-admin only where required; here only as an explicit break-glass group.
        if not config.rbac.break_glass:
            problems.append(f"{path}: binding a team to cluster-admin needs the break-glass flag rbac.break_glass: true")
        elif config.environment == "prod" and not config.rbac.break_glass_prod_acknowledged:
            problems.append(f"{path}: a cluster-admin break-glass binding in prod needs rbac.break_glass_prod_acknowledged: true")
        if team.admins.users or len(team.admins.groups) != 1:
            problems.append(f"{path}: the break-glass binding is to exactly one group; set teams[{i}].admins to one group and no users")
    if len(admins) > 1:
        problems.append(f"{KEY}teams: only one team may be the cluster-admin break-glass group; found {', '.join(t.name for _, t in admins)}")
    if config.rbac.break_glass and not admins:
        problems.append(f"{KEY}rbac.break_glass: set, but no team has cluster_admin: true; unset it")
    return problems


def _local_chart_problems(config: StackConfig, admission: bool) -> list[str]:
    """Each local chart the config names (an add-on's ``chart_path_key``) is that add-on's pinned chart."""
    problems: list[str] = []
    for addon in addons():
        path = addon.chart_path(config)
        if path is not None and addon.chart is not None and (addon.layer == "admission") == admission:
            problems.extend(f"{KEY}{addon.chart_path_key}: {p}" for p in local_chart_problems(path, addon.chart))
    return problems


def scanner_chart_paths(config: StackConfig) -> list[str]:
    """A local scanner chart is the pinned chart and version."""
    return _local_chart_problems(config, admission=False)


def snyk_secrets(config: StackConfig) -> list[str]:
    """The Snyk secrets are set exactly when the Snyk monitor is enabled."""
    problems: list[str] = []
    names = ("snyk_integration_id", "snyk_service_account_token")
    if config.scanners.snyk.enabled:
        for name in names:
            if getattr(config, name) is None:
                problems.append(f"{KEY}{name}: required with scanners.snyk.enabled: true; set it with `{SECRET_SETTINGS[name]}`")
    else:
        for name in (*names, "snyk_dockercfg"):
            if getattr(config, name) is not None:
                problems.append(f"{KEY}{name}: set, but scanners.snyk.enabled is false; enable the Snyk monitor or remove the key")
    return problems


def alert_severity(config: StackConfig) -> list[str]:
    """Findings the scanners drop can never reach Slack."""
    if SEVERITIES.index(config.alerts.min_severity) < SEVERITIES.index(config.scanners.severity):
        return [
            f"{KEY}alerts.min_severity: {config.alerts.min_severity} is below scanners.severity {config.scanners.severity}; "
            "the scanners do not keep findings below it"
        ]
    return []


def slack_webhook_host(config: StackConfig) -> list[str]:
    """Findings go to Slack's webhook host, or to a host listed in alerts.slack_webhook_allowed_hosts."""
    url = _secret_text(config.slack_webhook_url)
    if url is None:
        return []
    host = urlsplit(url).netloc.lower()
    allowed = (SLACK_WEBHOOK_HOST, *config.alerts.slack_webhook_allowed_hosts)
    if host in allowed or host.removesuffix(":443") in allowed:
        return []
    return [
        f"{KEY}slack_webhook_url: the webhook's host {host} is not {SLACK_WEBHOOK_HOST}; scanner findings would be sent "
        "there. Use a Slack incoming webhook, or list a relay you run in alerts.slack_webhook_allowed_hosts (the rest of the URL is not shown)"
    ]


def admission_chart_path(config: StackConfig) -> list[str]:
    """A local Kyverno chart is the pinned chart and version."""
    return _local_chart_problems(config, admission=True)


def signing_identity(config: StackConfig) -> list[str]:
    """One signing identity; required outside dev."""
    problems: list[str] = []
    admission = config.admission
    if admission.cosign_public_key is not None and admission.keyless is not None:
        problems.append(f"{KEY}admission.keyless: set either admission.cosign_public_key or admission.keyless, not both")
    if config.environment != "dev" and admission.cosign_public_key is None and admission.keyless is None:
        problems.append(
            f"{KEY}admission.keyless: required in the {config.environment} profile: the identity images must be signed by "
            "(admission.keyless or admission.cosign_public_key)"
        )
    return problems


def registry_findings(config: StackConfig, note: str) -> list[str]:
    """One line per allowed registry that is not a source of your own images (public, or shared without your path)."""
    return [
        f"{KEY}admission.allowed_registries[{i}]: {problem} ({note})"
        for i, item in enumerate(config.admission.allowed_registries)
        if (problem := registry_problem(item))
    ]


def own_registries(config: StackConfig) -> list[str]:
    """Outside dev, images come only from registries the stack's owner controls (dev warns, see the loader)."""
    return [] if config.environment == "dev" else registry_findings(config, f"refused in the {config.environment} profile")


def registry_credentials(config: StackConfig) -> list[str]:
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


def existing_cluster_keys(config: StackConfig) -> list[str]:
    """Existing-cluster mode: existing_cluster_kubeconfig and existing_cluster_name both or neither (the kubeconfig
    itself must name one cluster, an https server and credentials: checked with the field)."""
    if config.existing_cluster and config.existing_cluster_name is None:
        return [f"{NAMESPACE}:existing_cluster_name: required with existing_cluster_kubeconfig (a DNS label naming that cluster)"]
    # Without the kubeconfig the stack would create a new cluster, while outputs named the existing one.
    if not config.existing_cluster and config.existing_cluster_name is not None:
        return [
            f"{NAMESPACE}:existing_cluster_kubeconfig: required with existing_cluster_name (set both to harden an existing "
            f"cluster, or neither to create one); set it with `{SECRET_SETTINGS['existing_cluster_kubeconfig']}`"
        ]
    return []


#: Every cross-field check, in the order its problems are reported.
CHECKS: tuple[Callable[[StackConfig], list[str]], ...] = (
    disjoint_ranges,
    api_allowlist_width,
    unique_pool_names,
    tenant_pool_for_isolation,
    floors,
    unique_teams,
    network_policy_namespaces,
    egress_cidr_coverage,
    break_glass,
    scanner_chart_paths,
    snyk_secrets,
    alert_severity,
    slack_webhook_host,
    admission_chart_path,
    signing_identity,
    own_registries,
    registry_credentials,
    existing_cluster_keys,
)


def cross_field_problems(config: StackConfig) -> list[str]:
    """Unsafe combinations of otherwise valid settings, each naming the key to change."""
    return [problem for check in CHECKS for problem in check(config)]
