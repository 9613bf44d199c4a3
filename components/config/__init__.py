"""The stack configuration schema: the one place every setting is declared.

Every setting has a type, a default (possibly per environment profile), its allowed
values and a one-line description. Values are read from Pulumi config under the
``hardened-doks`` namespace (``stacks/Pulumi.<stack>.yaml``); unknown keys and unsafe
combinations are refused with a :class:`ConfigError` that names the key and what is
allowed, before the program registers any resource.

One module per layer: ``fields`` (helpers and validators), ``digitalocean``, ``tenancy``,
``admission``, ``scanners``, ``stack`` (:class:`StackConfig`), ``profiles`` (the profiles and
the one table of security floors), ``checks`` (the cross-field checks) and ``loader``.
``catalogue`` holds the add-on catalogue (not configuration). This module re-exports the public names.
"""

from __future__ import annotations

from components.config.fields import (
    NAMESPACE,
    Environment,
    ENVIRONMENTS,
    ConfigError,
    setting,
    Section,
    cron_schedule,
)
from components.config.catalogue import (
    KYVERNO_NAMESPACE,
    KUBESCAPE_NAMESPACE,
    TRIVY_NAMESPACE,
    SNYK_NAMESPACE,
    FALCO_NAMESPACE,
    FALCOSIDEKICK_NAMESPACE,
    ALERTS_NAMESPACE,
    ADDON_NAMESPACES,
    KYVERNO_CHART,
    KYVERNO_CHART_VERSION,
    KYVERNO_APP_VERSION,
    KYVERNO_CHART_REPO,
    ChartPin,
    KYVERNO_PIN,
    SCANNER_CHARTS,
    CHART_PINS,
    PinnedImage,
    FALCO_RULES,
    PINNED_IMAGES,
    chart_metadata,
    local_chart_problems,
)
from components.config.digitalocean import (
    WEEKDAYS,
    KNOWN_REGIONS,
    KNOWN_SIZES,
    DO_RESERVED_RANGES,
    API_ALLOWLIST_MIN_PREFIX,
    MaintenanceWindow,
    Taint,
    NodePool,
    DIGITALOCEAN_RESOLVERS,
    WorkerFirewall,
    Project,
    SYSTEM_POOL_TAINT,
    POOL_LABEL,
)
from components.config.tenancy import (
    KUBERNETES_NAMESPACES,
    RESERVED_NAMESPACES,
    PodSecurityLevel,
    Subjects,
    Team,
    NamespaceQuota,
    ContainerDefaults,
    PodSecurity,
    AllowRule,
    ApiServerAccess,
    NetworkPolicies,
    Rbac,
    tenant_namespaces,
)
from components.config.admission import (
    DOCR_HOST,
    Keyless,
    Admission,
)
from components.config.scanners import (
    Severity,
    SEVERITIES,
    KUBESCAPE_FRAMEWORKS,
    KubescapeScanner,
    TrivyScanner,
    SnykScanner,
    FalcoScanner,
    Scanners,
    Alerts,
)
from components.config.stack import (
    SECRET_PLACEHOLDER,
    SECRET_SETTINGS,
    StackConfig,
)
from components.config.profiles import (
    PROFILES,
    Floor,
    FLOORS,
)
from components.config.checks import (
    disjoint_ranges,
    api_allowlist_width,
    unique_pool_names,
    tenant_pool_for_isolation,
    floors,
    unique_teams,
    network_policy_namespaces,
    break_glass,
    scanner_chart_paths,
    snyk_secrets,
    alert_severity,
    admission_chart_path,
    signing_identity,
    registry_credentials,
    existing_cluster_keys,
    CHECKS,
    cross_field_problems,
)
from components.config.loader import (
    parse_stack_config,
    load_stack_config,
    system_pool_warning,
)

__all__ = ['NAMESPACE', 'Environment', 'ENVIRONMENTS', 'ConfigError', 'setting', 'Section', 'cron_schedule', 'KYVERNO_NAMESPACE', 'KUBESCAPE_NAMESPACE', 'TRIVY_NAMESPACE', 'SNYK_NAMESPACE', 'FALCO_NAMESPACE', 'FALCOSIDEKICK_NAMESPACE', 'ALERTS_NAMESPACE', 'ADDON_NAMESPACES', 'KYVERNO_CHART', 'KYVERNO_CHART_VERSION', 'KYVERNO_APP_VERSION', 'KYVERNO_CHART_REPO', 'ChartPin', 'KYVERNO_PIN', 'SCANNER_CHARTS', 'CHART_PINS', 'PinnedImage', 'FALCO_RULES', 'PINNED_IMAGES', 'chart_metadata', 'local_chart_problems', 'WEEKDAYS', 'KNOWN_REGIONS', 'KNOWN_SIZES', 'DO_RESERVED_RANGES', 'API_ALLOWLIST_MIN_PREFIX', 'MaintenanceWindow', 'Taint', 'NodePool', 'DIGITALOCEAN_RESOLVERS', 'WorkerFirewall', 'Project', 'SYSTEM_POOL_TAINT', 'POOL_LABEL', 'KUBERNETES_NAMESPACES', 'RESERVED_NAMESPACES', 'PodSecurityLevel', 'Subjects', 'Team', 'NamespaceQuota', 'ContainerDefaults', 'PodSecurity', 'AllowRule', 'ApiServerAccess', 'NetworkPolicies', 'Rbac', 'tenant_namespaces', 'DOCR_HOST', 'Keyless', 'Admission', 'Severity', 'SEVERITIES', 'KUBESCAPE_FRAMEWORKS', 'KubescapeScanner', 'TrivyScanner', 'SnykScanner', 'FalcoScanner', 'Scanners', 'Alerts', 'SECRET_PLACEHOLDER', 'SECRET_SETTINGS', 'StackConfig', 'PROFILES', 'Floor', 'FLOORS', 'disjoint_ranges', 'api_allowlist_width', 'unique_pool_names', 'tenant_pool_for_isolation', 'floors', 'unique_teams', 'network_policy_namespaces', 'break_glass', 'scanner_chart_paths', 'snyk_secrets', 'alert_severity', 'admission_chart_path', 'signing_identity', 'registry_credentials', 'existing_cluster_keys', 'CHECKS', 'cross_field_problems', 'parse_stack_config', 'load_stack_config', 'system_pool_warning']
