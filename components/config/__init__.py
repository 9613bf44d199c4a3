"""The stack configuration schema: the one place every setting is declared.

Every setting has a type, a default (possibly per environment profile), its allowed
values and a one-line description. Values are read from Pulumi config under the
``hardened-doks`` namespace (``stacks/Pulumi.<stack>.yaml``); unknown keys and unsafe
combinations are refused with a :class:`ConfigError` that names the key and what is
allowed, before the program registers any resource.

One module per layer: ``fields`` (helpers and validators), ``digitalocean``, ``tenancy``,
``addresses`` (address space of CIDR lists), ``cron``, ``admission``, ``scanners``, ``stack`` (:class:`StackConfig`), ``profiles`` (the profiles and
the one table of security floors), ``checks`` (the cross-field checks) and ``loader``.
``addon_facts`` reads what validation needs of the add-ons from their descriptors (components/addons/,
which sit above the config and hold every add-on's namespace, chart pin and images). This module
re-exports the public names.
"""

from __future__ import annotations

from hardened_doks.config.fields import (
    NAMESPACE,
    Environment,
    ENVIRONMENTS,
    ConfigError,
    setting,
    Section,
)
from hardened_doks.config.addresses import (
    IPV4_IN_IPV6,
    normalise,
    Coverage,
    coverage,
    limit_problem,
)
from hardened_doks.config.cron import (
    cron_schedule,
)
from hardened_doks.config.digitalocean import (
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
from hardened_doks.config.tenancy import (
    KUBERNETES_NAMESPACES,
    reserved_namespaces,
    PodSecurityLevel,
    Subjects,
    Team,
    NamespaceQuota,
    ContainerDefaults,
    PodSecurity,
    ALLOW_RULE_CIDR_LIMIT,
    AllowRule,
    ApiServerAccess,
    NetworkPolicies,
    Rbac,
)
from hardened_doks.config.admission import (
    DOCR_HOST,
    SHARED_REGISTRY_HOSTS,
    PUBLIC_REGISTRIES,
    registry_problem,
    Keyless,
    Admission,
)
from hardened_doks.config.scanners import (
    Severity,
    SEVERITIES,
    KUBESCAPE_FRAMEWORKS,
    SLACK_WEBHOOK_HOST,
    KubescapeScanner,
    TrivyScanner,
    SnykScanner,
    FalcoScanner,
    Scanners,
    Alerts,
)
from hardened_doks.config.stack import (
    SECRET_PLACEHOLDER,
    SECRET_SETTINGS,
    kubeconfig_problem,
    KubeClient,
    StackConfig,
)
from hardened_doks.config.profiles import (
    PROFILES,
    Floor,
    FLOORS,
)
from hardened_doks.config.checks import (
    CHECKS,
    cross_field_problems,
)
from hardened_doks.config.loader import (
    checked_stack_config,
    namespace_typos,
    parse_stack_config,
    load_stack_config,
    registry_warnings,
    system_pool_warning,
)

__all__ = [
    'checked_stack_config',
    'NAMESPACE',
    'Environment',
    'ENVIRONMENTS',
    'ConfigError',
    'setting',
    'Section',
    'IPV4_IN_IPV6',
    'normalise',
    'Coverage',
    'coverage',
    'limit_problem',
    'cron_schedule',
    'WEEKDAYS',
    'KNOWN_REGIONS',
    'KNOWN_SIZES',
    'DO_RESERVED_RANGES',
    'API_ALLOWLIST_MIN_PREFIX',
    'MaintenanceWindow',
    'Taint',
    'NodePool',
    'DIGITALOCEAN_RESOLVERS',
    'WorkerFirewall',
    'Project',
    'SYSTEM_POOL_TAINT',
    'POOL_LABEL',
    'KUBERNETES_NAMESPACES',
    'reserved_namespaces',
    'PodSecurityLevel',
    'Subjects',
    'Team',
    'NamespaceQuota',
    'ContainerDefaults',
    'PodSecurity',
    'ALLOW_RULE_CIDR_LIMIT',
    'AllowRule',
    'ApiServerAccess',
    'NetworkPolicies',
    'Rbac',
    'DOCR_HOST',
    'SHARED_REGISTRY_HOSTS',
    'PUBLIC_REGISTRIES',
    'registry_problem',
    'Keyless',
    'Admission',
    'Severity',
    'SEVERITIES',
    'KUBESCAPE_FRAMEWORKS',
    'SLACK_WEBHOOK_HOST',
    'KubescapeScanner',
    'TrivyScanner',
    'SnykScanner',
    'FalcoScanner',
    'Scanners',
    'Alerts',
    'SECRET_PLACEHOLDER',
    'SECRET_SETTINGS',
    'kubeconfig_problem',
    'KubeClient',
    'StackConfig',
    'PROFILES',
    'Floor',
    'FLOORS',
    'CHECKS',
    'cross_field_problems',
    'namespace_typos',
    'parse_stack_config',
    'load_stack_config',
    'registry_warnings',
    'system_pool_warning',
]
