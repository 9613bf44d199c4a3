"""The config schema: defaults per profile, and bad or unsafe configs refused by key."""

from __future__ import annotations

from typing import Any

import pytest

from hardened_doks.config import (
    NAMESPACE,
    PROFILES,
    ConfigError,
    StackConfig,
    parse_stack_config,
)
from tests.unit.kubeconfig import kubeconfig
from hardened_doks.tools.offline import OfflineMocks, RecordingMonitor, read_stack_file, run_stack


def parse(stack: str, **overrides: Any) -> StackConfig:
    import json

    raw, secrets = read_stack_file(stack)
    for key, value in overrides.items():
        raw[f"{NAMESPACE}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return parse_stack_config(raw, stack=stack, secret_keys=secrets)


def test_shipped_stacks_are_the_three_environments() -> None:
    from hardened_doks.tools.offline import stack_names

    assert stack_names() == ["dev", "prod", "staging"]


def test_profiles_tighten_from_dev_to_prod() -> None:
    dev, staging, prod = parse("dev"), parse("staging"), parse("prod")
    assert (dev.ha_control_plane, staging.ha_control_plane, prod.ha_control_plane) == (False, True, True)
    assert (dev.surge_upgrade, staging.surge_upgrade, prod.surge_upgrade) == (False, True, True)
    assert (dev.protect, staging.protect, prod.protect) == (False, False, True)
    assert dev.api_allowlist == ["0.0.0.0/0"]
    assert "0.0.0.0/0" not in staging.api_allowlist + prod.api_allowlist


def test_every_setting_is_documented() -> None:
    for name, field in StackConfig.model_fields.items():
        assert field.description, name
        assert (field.json_schema_extra or {}).get("allowed"), name


def test_a_stack_may_tighten_a_profile_default() -> None:
    assert parse("dev", ha_control_plane=True, surge_upgrade=True, protect=True).protect is True


def test_structured_values_merge_with_profile_defaults() -> None:
    config = parse("dev", system_pool={"size": "s-2vcpu-4gb"})
    assert config.system_pool.size == "s-2vcpu-4gb"
    assert config.system_pool.min_nodes == PROFILES["dev"]["system_pool"]["min_nodes"]


def test_environment_defaults_to_a_stack_named_after_it() -> None:
    config = parse_stack_config({}, stack="dev")
    assert config.environment == "dev" and config.cluster_name == "hardened-doks-dev"


# (stack, overrides, the key the message must name, a fragment of what is allowed)
BAD_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    ("prod", {"api_allowlist": ["0.0.0.0/0"]}, "api_allowlist", "/16 or narrower"),
    ("staging", {"api_allowlist": ["::/0"]}, "api_allowlist", "IPv6 /32"),
    ("prod", {"api_allowlist": ["10.0.0.0/8"]}, "api_allowlist", "too wide"),
    ("dev", {"api_allowlist": []}, "api_allowlist", "at least one CIDR"),
    ("dev", {"api_allowlist": ["300.1.1.1/32"]}, "api_allowlist", "is not a CIDR"),
    ("dev", {"vpc_ip_range": "10.110.0.0/33"}, "vpc_ip_range", "IPv4 CIDR"),
    ("dev", {"vpc_ip_range": "10.110.0.1/20"}, "vpc_ip_range", "IPv4 CIDR"),
    ("dev", {"vpc_ip_range": "8.8.0.0/20"}, "vpc_ip_range", "private"),
    ("dev", {"vpc_ip_range": "10.96.0.0/12"}, "vpc_ip_range", "/16 and /24"),
    ("dev", {"vpc_ip_range": "10.244.0.0/20"}, "vpc_ip_range", "reserves"),
    ("dev", {"cluster_subnet": "10.110.0.0/16"}, "cluster_subnet", "overlaps vpc_ip_range"),
    ("dev", {"service_subnet": "10.111.16.0/20"}, "service_subnet", "overlaps cluster_subnet"),
    ("dev", {"maintenance_window": {"day": "funday"}}, "maintenance_window.day", "monday"),
    ("dev", {"maintenance_window": {"start_time": "25:00"}}, "maintenance_window.start_time", "HH:MM"),
    ("dev", {"system_pool": {"min_nodes": 4, "max_nodes": 3}}, "system_pool", "must not exceed max_nodes"),
    ("dev", {"system_pool": {"min_nodes": 0}}, "system_pool", "at least 1"),
    ("dev", {"system_pool": {"size": "s-99vcpu-1tb"}}, "system_pool.size", "Droplet size slug"),
    ("prod", {"workload_pools": [{"name": "apps", "size": "huge"}]}, "workload_pools[0].size", "Droplet size slug"),
    ("dev", {"workload_pools": [{"name": "Apps_1", "size": "s-2vcpu-4gb"}]}, "workload_pools[0].name", "DNS label"),
    ("dev", {"workload_pools": [{"name": "system", "size": "s-2vcpu-4gb"}]}, "workload_pools", "unique"),
    ("dev", {"workload_pools": [{"name": "batch", "size": "s-2vcpu-4gb", "auto_scale": False}]}, "workload_pools[0]", "node_count"),
    ("dev", {"region": "mars1"}, "region", "nyc3"),
    ("dev", {"kubernetes_version_prefix": "1.34.2"}, "kubernetes_version_prefix", "1.NN"),
    ("dev", {"kubernetes_version_prefix": "v1.34"}, "kubernetes_version_prefix", "1.NN"),
    ("dev", {"enviroment": "dev"}, "enviroment", "unknown setting"),
    ("dev", {"system_pool": {"sizes": "s-2vcpu-4gb"}}, "system_pool.sizes", "unknown setting"),
    ("dev", {"environment": "production"}, "environment", "dev, staging, prod"),
    ("prod", {"ha_control_plane": False}, "ha_control_plane", "must stay true in the prod profile"),
    ("staging", {"surge_upgrade": False}, "surge_upgrade", "must stay true"),
    ("prod", {"auto_upgrade": False}, "auto_upgrade", "must stay true"),
    ("prod", {"protect": False}, "protect", "must stay true"),
    ("dev", {"tags": ["has space"]}, "tags", "letters, digits"),
    ("dev", {"system_pool": {"taints": [{"key": "dedicated", "effect": "Sometimes"}]}}, "system_pool.taints[0].effect", "NoSchedule"),
    ("dev", {"system_pool": {"labels": {"bad key!": "x"}}}, "system_pool.labels", "label key"),
    ("dev", {"worker_firewall": {"load_balancer_ports": ["70000"]}}, "worker_firewall.load_balancer_ports", "port"),
    ("dev", {"existing_cluster_kubeconfig": "apiVersion: v1"}, "existing_cluster_kubeconfig", "--secret"),
    ("dev", {"worker_firewall": {"dns_resolvers": ["0.0.0.0/0"]}}, "worker_firewall.dns_resolvers", "/24 or narrower"),
    ("dev", {"worker_firewall": {"dns_resolvers": ["resolver.example"]}}, "worker_firewall.dns_resolvers", "address or CIDR"),
]


@pytest.mark.parametrize(("stack", "overrides", "key", "allowed"), BAD_CONFIGS, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(BAD_CONFIGS)])
def test_bad_config_is_refused_naming_the_key_and_registers_nothing(
    stack: str, overrides: dict[str, Any], key: str, allowed: str
) -> None:
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError) as error:
        run_stack(stack, overrides, monitor=monitor)
    message = str(error.value)
    expected_key = key if key == NAMESPACE else f"{NAMESPACE}:{key}"
    assert expected_key in message, message
    assert allowed in message, message
    assert "Traceback" not in message
    assert monitor.recorded == [], "a refused config must not register any resource"


def _egress(*cidrs: str, rules: int = 1) -> dict[str, Any]:
    """prod/staging network policies whose payments namespace may reach ``cidrs`` (split over ``rules`` rules)."""
    allow = [{"name": f"out-{i}", "from_namespace": "payments", "to_cidrs": list(cidrs[i::rules]), "ports": [443]} for i in range(rules)]
    return {"network_policies": {"allow": allow}}


def _kubeconfig(**changes: Any) -> str:
    import yaml

    document = yaml.safe_load(kubeconfig())
    document.update(changes)
    return yaml.safe_dump(document)


_SLASH_8S = [f"{i}.0.0.0/8" for i in range(1, 200)]
_SLASH_24S = [f"198.{i // 256}.{i % 256}.0/24" for i in range(300)]
_LEGACY = {"existing_cluster_name": "legacy"}

# Refused by what the value means, not how it is spelt (issue 13):
# (stack, overrides, secret overrides, the key the message must name, a fragment of the reason)
MEANING_BAD_CONFIGS: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # allowlists judged by the union of the address space they cover, IPv6 spellings of IPv4 as IPv4
    ("staging", {"api_allowlist": _SLASH_8S}, {}, "api_allowlist", "78% of all IPv4"),
    ("prod", {"api_allowlist": ["198.51.0.0/16", "203.0.0.0/16"]}, {}, "api_allowlist", "in total"),
    ("prod", {"api_allowlist": _SLASH_24S}, {}, "api_allowlist", "76,800 IPv4 addresses"),
    ("prod", {"api_allowlist": ["2001:db8:1::/48", "2001:db8:2::/48"]}, {}, "api_allowlist", "IPv6 /48 in total"),
    ("prod", {"api_allowlist": ["::ffff:0:0/96"]}, {}, "api_allowlist[0]", "it reaches 0.0.0.0/0"),
    ("staging", {"api_allowlist": ["198.51.100.0/24", "::ffff:0.0.0.0/97"]}, {}, "api_allowlist[1]", "it reaches 0.0.0.0/1"),
    ("prod", {"api_allowlist": ["2002::/16"]}, {}, "api_allowlist[0]", "too wide"),
    ("prod", {"api_allowlist": ["64:ff9b::/96"]}, {}, "api_allowlist[0]", "too wide"),
    ("prod", _egress("11.0.0.0/9"), {}, "network_policies.allow[].to_cidrs", "IPv4 /12"),
    ("staging", _egress("11.0.0.0/9", "12.0.0.0/9", "13.0.0.0/9", rules=3), {}, "network_policies.allow[].to_cidrs", "IPv4 /8"),
    ("prod", _egress("::ffff:0:0/96"), {}, "network_policies.allow[0].to_cidrs", "it reaches 0.0.0.0/0"),
    ("dev", {"network_policies": {"allow": [{"name": "md", "from_namespace": "x", "to_cidrs": ["::ffff:169.254.169.254/128"], "ports": [80]}]}}, {}, "network_policies.allow[0].to_cidrs", "link-local"),
    ("prod", _egress("2002:a9fe:a9fe::/48"), {}, "network_policies.allow[0].to_cidrs", "link-local"),
    # registries: public hosts and shared hosts without your path refused outside dev
    ("prod", {"admission": {"allowed_registries": ["docker.io"]}}, {}, "admission.allowed_registries[0]", "shared by every customer"),
    ("prod", {"admission": {"allowed_registries": ["registry.digitalocean.com/hardened-doks", "ghcr.io"]}}, {}, "admission.allowed_registries[1]", "ghcr.io/<your-organisation>"),
    ("staging", {"admission": {"allowed_registries": ["quay.io"]}}, {}, "admission.allowed_registries[0]", "shared by every customer"),
    ("prod", {"admission": {"allowed_registries": ["registry.k8s.io"]}}, {}, "admission.allowed_registries[0]", "public registry"),
    ("prod", {"admission": {"allowed_registries": ["registry.digitalocean.com"]}}, {}, "admission.allowed_registries[0]", "registry.digitalocean.com/<your-registry>"),
    ("staging", {"admission": {"allowed_registries": ["docker.io/library"]}}, {}, "admission.allowed_registries[0]", "public registry"),
    ("prod", {"admission": {"allowed_registries": ["public.ecr.aws"]}}, {}, "admission.allowed_registries[0]", "shared by every customer"),
    ("prod", {"admission": {"allowed_registries": ["gcr.io"]}}, {}, "admission.allowed_registries[0]", "shared by every customer"),
    ("prod", {"admission": {"allowed_registries": ["mcr.microsoft.com/dotnet"]}}, {}, "admission.allowed_registries[0]", "public registry"),
    # Slack: only Slack's webhook host unless another is listed
    ("dev", {}, {"slack_webhook_url": "https://collector.example.com/hook"}, "slack_webhook_url", "is not hooks.slack.com"),
    ("prod", {}, {"slack_webhook_url": "https://hooks.slack.com.evil.example/services/T0/B0/x"}, "slack_webhook_url", "alerts.slack_webhook_allowed_hosts"),
    ("dev", {"alerts": {"slack_webhook_allowed_hosts": ["relay.example.com"]}}, {"slack_webhook_url": "https://other.example.com/x"}, "slack_webhook_url", "is not hooks.slack.com"),
    ("dev", {"alerts": {"slack_webhook_allowed_hosts": ["https://relay.example.com"]}}, {}, "alerts.slack_webhook_allowed_hosts", "not a host name"),
    # cron: what Kubernetes accepts, and never a schedule that never fires
    ("dev", {"scanners": {"kubescape": {"configuration_scan_schedule": "0 0 30 2 *"}}}, {}, "scanners.kubescape.configuration_scan_schedule", "never fires"),
    ("dev", {"alerts": {"schedule": "0 0 31 4,6,9,11 *"}}, {}, "alerts.schedule", "never fires"),
    ("dev", {"scanners": {"trivy": {"compliance_schedule": "0 0 * * 7"}}}, {}, "scanners.trivy.compliance_schedule", "outside 0-6"),
    ("dev", {"alerts": {"schedule": "@every 1h"}}, {}, "alerts.schedule", "unknown descriptor"),
    ("dev", {"alerts": {"schedule": "CRON_TZ=UTC 0 * * * *"}}, {}, "alerts.schedule", "time zone"),
    ("dev", {"alerts": {"schedule": "0 0 L * *"}}, {}, "alerts.schedule", "not a number 1-31"),
    ("dev", {"scanners": {"kubescape": {"vulnerability_scan_schedule": "0 0 * JANUARY *"}}}, {}, "scanners.kubescape.vulnerability_scan_schedule", "JAN-DEC"),
    # existing-cluster mode: both keys or neither, and a kubeconfig that names one https cluster with credentials
    ("dev", _LEGACY, {}, "existing_cluster_kubeconfig", "required with existing_cluster_name"),
    ("dev", _LEGACY, {"existing_cluster_kubeconfig": "apiVersion: v1"}, "existing_cluster_kubeconfig", "names 0 clusters"),
    ("dev", _LEGACY, {"existing_cluster_kubeconfig": kubeconfig(server="http://203.0.113.5:8080")}, "existing_cluster_kubeconfig", "https"),
    ("dev", _LEGACY, {"existing_cluster_kubeconfig": _kubeconfig(users=[{"name": "admin", "user": {}}])}, "existing_cluster_kubeconfig", "no user credentials"),
    ("dev", _LEGACY, {"existing_cluster_kubeconfig": _kubeconfig(clusters=[{"name": "a", "cluster": {"server": "https://a"}}, {"name": "b", "cluster": {"server": "https://b"}}])}, "existing_cluster_kubeconfig", "exactly one"),
    ("dev", _LEGACY, {"existing_cluster_kubeconfig": "clusters: [\n  - {server: https://x"}, "existing_cluster_kubeconfig", "is not YAML at line"),
]


@pytest.mark.parametrize(
    ("stack", "overrides", "secrets", "key", "reason"), MEANING_BAD_CONFIGS, ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(MEANING_BAD_CONFIGS)]
)
def test_config_refused_by_what_it_means_naming_the_key_and_registers_nothing(
    stack: str, overrides: dict[str, Any], secrets: dict[str, Any], key: str, reason: str
) -> None:
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError) as error:
        run_stack(stack, overrides, secrets, monitor=monitor)
    message = str(error.value)
    assert f"{NAMESPACE}:{key}:" in message, message
    assert reason in message, message
    assert "Traceback" not in message
    for secret in secrets.values():
        assert secret not in message, "a secret value must never be echoed"
    assert monitor.recorded == [], "a refused config must not register any resource"


def test_valid_unusual_configs_are_accepted() -> None:
    narrow = [f"198.51.{i // 256}.{i % 256}/32" for i in range(400)]
    config = parse(
        "prod",
        api_allowlist=[*narrow, "2001:db8:1::/56", "2001:db8:2::/56", "::ffff:203.0.113.7/128"],
        network_policies=_egress(*(f"203.0.{i}.0/24" for i in range(100)), "2001:db8:9::/48", rules=2)["network_policies"],
        admission={**parse("prod").admission.model_dump(mode="json"), "allowed_registries": ["registry.digitalocean.com/acme", "ghcr.io/acme", "localhost:5000"]},
        alerts={"schedule": "*/15 8-18 * * MON-FRI"},
        scanners={"kubescape": {"configuration_scan_schedule": "@daily", "vulnerability_scan_schedule": "0 3 ? jan,JUL SUN"}, "trivy": {"compliance_schedule": "0 0 29 2 *"}},
    )
    assert len(config.api_allowlist) == 403 and config.alerts.schedule.endswith("MON-FRI")
    raw, secrets = read_stack_file("dev")
    relay = {f"{NAMESPACE}:slack_webhook_url": "https://relay.example.com:8443/slack/T0"}
    relayed = parse_stack_config(
        {**raw, **relay, f"{NAMESPACE}:alerts": '{"slack_webhook_allowed_hosts": ["relay.example.com:8443"]}'},
        stack="dev",
        secret_keys=secrets | frozenset(relay),
    )
    assert relayed.alerts.slack_webhook_allowed_hosts == ["relay.example.com:8443"]


def test_dev_warns_about_registries_staging_and_prod_refuse() -> None:
    from hardened_doks.config import registry_warnings

    warnings = registry_warnings(parse("dev", admission={"allowed_registries": ["docker.io", "registry.digitalocean.com/acme"]}))
    assert warnings == [
        f"{NAMESPACE}:admission.allowed_registries[0]: docker.io is a registry shared by every customer; add the repository path "
        "you own, e.g. docker.io/<your-organisation> (staging and prod refuse it)"
    ]


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        parse("dev", region="mars1", system_pool={"size": "nope"})
    assert len(error.value.problems) == 2


def test_existing_cluster_mode_needs_a_secret_kubeconfig_and_a_name() -> None:
    raw = {f"{NAMESPACE}:existing_cluster_kubeconfig": kubeconfig()}
    with pytest.raises(ConfigError, match="existing_cluster_name: required"):
        parse_stack_config(raw, stack="dev", secret_keys=frozenset(raw))
    config = parse_stack_config(
        {**raw, f"{NAMESPACE}:existing_cluster_name": "legacy"}, stack="dev", secret_keys=frozenset(raw)
    )
    assert config.existing_cluster and config.name == "legacy"
    assert "apiVersion" not in repr(config), "the kubeconfig must not leak through repr"


# -- stack files read as the Pulumi CLI reads them (YAML 1.2) ------------------------------


def _stack_file(tmp_path: Any, body: str) -> Any:
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  hardened-doks:environment: dev\n" + body)
    return tmp_path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  hardened-doks:kubernetes_version_prefix: 1.30\n", "hardened-doks:kubernetes_version_prefix: read as the number 1.3"),
        ("  hardened-doks:region: 1\n", "hardened-doks:region: read as the number 1"),
        ("  hardened-doks:system_pool: {name: system, size: s-2vcpu-4gb, labels: {tier: true}}\n", "hardened-doks:system_pool.labels.tier: read as the boolean true"),
        ("  hardened-doks:workload_pools: [{name: 1, size: s-2vcpu-4gb}]\n", "hardened-doks:workload_pools[0].name: read as the number 1"),
        ("  hardened-doks:region: nyc3\n  hardened-doks:region: fra1\n", "Pulumi.dev.yaml:4:3: duplicate key 'hardened-doks:region' (first at line 3)"),
        ("  hardened-doks:api_allowlist: [203.0.113.0/24\n  hardened-doks:region: nyc3\n", "Pulumi.dev.yaml:4:23: expected ',' or ']'"),
        ("  hardened-doks:teams:\n    - name: a\n   namespaces: [a]\n", "Pulumi.dev.yaml:5:4:"),
    ],
)
def test_stack_file_refused_as_the_cli_would_in_one_line(tmp_path: Any, body: str, expected: str) -> None:
    from hardened_doks.config.stack_file import StackFileError

    with pytest.raises(StackFileError) as error:
        read_stack_file("dev", _stack_file(tmp_path, body))
    assert len(error.value.problems) == 1 and expected in error.value.problems[0], error.value.problems
    assert "Traceback" not in str(error.value) and "<unicode string>" not in str(error.value)
    assert str(tmp_path / "Pulumi.dev.yaml") in error.value.problems[0]


def test_stack_file_values_are_typed_as_yaml_1_2() -> None:
    from hardened_doks.config.stack_file import load_yaml

    assert load_yaml("a: on\nb: 12:30\nc: 1.30\nd: yes\ne: 0o17\nf: 012\ng: off\n", "x.yaml") == {
        "a": "on", "b": "12:30", "c": 1.3, "d": "yes", "e": 15, "f": 12, "g": "off",
    }  # fmt: skip


def test_unquoted_yaml_1_2_strings_are_accepted(tmp_path: Any) -> None:
    raw, secrets = read_stack_file("dev", _stack_file(tmp_path, "  hardened-doks:maintenance_window: {day: any, start_time: 12:30}\n"))
    assert parse_stack_config(raw, stack="dev", secret_keys=secrets).maintenance_window.start_time == "12:30"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"regoin": "nyc3"}, "hardened-doks:regoin: unknown setting (did you mean region?"),
        ({"system_pool": {"sizes": "s-2vcpu-4gb"}}, "hardened-doks:system_pool.sizes: unknown setting (did you mean size?"),
        ({"alerts": {"min_severty": "HIGH"}}, "hardened-doks:alerts.min_severty: unknown setting (did you mean min_severity?"),
        ({"teams": [{"name": "a", "namespace": ["a"]}]}, "hardened-doks:teams[0].namespace: unknown setting (did you mean namespaces?"),
    ],
)
def test_unknown_keys_get_the_closest_known_key(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse("dev", **overrides)
    assert any(p.startswith(expected) for p in error.value.problems), error.value.problems


@pytest.mark.parametrize("namespace", ["hardened_doks", "Hardened-Doks", "hardend-doks"])
def test_a_misspelt_namespace_is_refused_outside_dev_and_warned_in_dev(namespace: str) -> None:
    from hardened_doks.config import namespace_typos

    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError) as error:
        run_stack("prod", {f"{namespace}:region": "ams3"}, monitor=monitor)
    assert f"{namespace}:region: namespace {namespace!r} is not this project's (hardened-doks)" in str(error.value)
    assert "refused in the prod profile" in str(error.value) and monitor.recorded == []
    raw, _ = read_stack_file("dev")
    assert parse_stack_config({**raw, f"{namespace}:region": "ams3"}, stack="dev").region == "nyc3"
    assert namespace_typos({f"{namespace}:region": "ams3", "kubernetes:context": "x"}) == [
        f"{namespace}:region: namespace {namespace!r} is not this project's (hardened-doks); the setting is ignored. Write it as hardened-doks:region"
    ]
