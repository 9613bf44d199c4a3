"""The config schema: defaults per profile, and bad or unsafe configs refused by key."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import (
    NAMESPACE,
    PROFILES,
    ConfigError,
    StackConfig,
    parse_stack_config,
)
from tools.offline import OfflineMocks, RecordingMonitor, read_stack_file, run_stack


def parse(stack: str, **overrides: Any) -> StackConfig:
    import json

    raw, secrets = read_stack_file(stack)
    for key, value in overrides.items():
        raw[f"{NAMESPACE}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return parse_stack_config(raw, stack=stack, secret_keys=secrets)


def test_shipped_stacks_are_the_three_environments() -> None:
    from tools.offline import stack_names

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


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        parse("dev", region="mars1", system_pool={"size": "nope"})
    assert len(error.value.problems) == 2


def test_existing_cluster_mode_needs_a_secret_kubeconfig_and_a_name() -> None:
    raw = {f"{NAMESPACE}:existing_cluster_kubeconfig": "apiVersion: v1"}
    with pytest.raises(ConfigError, match="existing_cluster_name: required"):
        parse_stack_config(raw, stack="dev", secret_keys=frozenset(raw))
    config = parse_stack_config(
        {**raw, f"{NAMESPACE}:existing_cluster_name": "legacy"}, stack="dev", secret_keys=frozenset(raw)
    )
    assert config.existing_cluster and config.name == "legacy"
    assert "apiVersion" not in repr(config), "the kubeconfig must not leak through repr"
