"""Bad or unsafe settings of the in-cluster layer: each refused with a message naming the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hardened_doks.config import NAMESPACE, ConfigError, StackConfig, parse_stack_config
from hardened_doks.tools.offline import OfflineMocks, RecordingMonitor, read_stack_file, run_stack

TEAM = {"name": "shop", "namespaces": ["shop"]}
KEYLESS = {"issuer": "https://token.actions.githubusercontent.com", "subject_regexp": "^https://github.com/acme/.+$"}


def parse(stack: str, **overrides: Any) -> StackConfig:
    raw, secrets = read_stack_file(stack)
    for key, value in overrides.items():
        raw[f"{NAMESPACE}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return parse_stack_config(raw, stack=stack, secret_keys=secrets)


def rules(*allow: dict[str, Any]) -> dict[str, Any]:
    return {"allow": list(allow)}


# (stack, overrides, the key the message must name, a fragment of what is wrong or allowed)
BAD_CONFIGS: list[tuple[str, dict[str, Any], str, str]] = [
    # namespaces
    ("dev", {"teams": [{"name": "shop", "namespaces": ["Shop_1"]}]}, "teams[0].namespaces", "DNS-1123"),
    ("dev", {"teams": [{"name": "shop", "namespaces": ["a" * 64]}]}, "teams[0].namespaces", "DNS-1123"),
    ("dev", {"teams": [{"name": "shop", "namespaces": ["kube-system"]}]}, "teams[0].namespaces", "reserved"),
    ("dev", {"teams": [{"name": "shop", "namespaces": ["default"]}]}, "teams[0].namespaces", "reserved"),
    ("dev", {"teams": [{"name": "shop", "namespaces": ["kube-public"]}]}, "teams[0].namespaces", "reserved"),
    ("dev", {"teams": [{"name": "shop", "namespaces": ["kube-node-lease"]}]}, "teams[0].namespaces", "reserved"),
    ("dev", {"teams": [{"name": "shop", "namespaces": ["kyverno"]}]}, "teams[0].namespaces", "reserved"),
    ("dev", {"teams": [{"name": "shop", "namespaces": ["kube-custom"]}]}, "teams[0].namespaces", "reserved"),
    ("dev", {"teams": [TEAM, {"name": "shop2", "namespaces": ["shop"]}], "network_policies": {}}, "teams[1].namespaces[0]", "already belongs"),
    ("dev", {"teams": [TEAM, TEAM], "network_policies": {}}, "teams", "unique"),
    ("dev", {"teams": [{"name": "Shop", "namespaces": []}]}, "teams[0].name", "DNS-1123"),
    ("dev", {"teams": [{"name": "shop", "namespace": ["shop"]}]}, "teams[0].namespace", "unknown setting"),
    # RBAC
    ("dev", {"teams": [{**TEAM, "cluster_admin": True, "admins": {"groups": ["ops"]}}], "network_policies": {}}, "teams[0].cluster_admin", "break-glass flag"),
    (
        "prod",
        {"teams": [{**TEAM, "cluster_admin": True, "admins": {"groups": ["ops"]}}], "rbac": {"break_glass": True}, "network_policies": {}},
        "teams[0].cluster_admin",
        "break_glass_prod_acknowledged",
    ),
    (
        "dev",
        {"teams": [{**TEAM, "cluster_admin": True, "admins": {"users": ["eve"]}}], "rbac": {"break_glass": True}, "network_policies": {}},
        "teams[0].cluster_admin",
        "exactly one group",
    ),
    ("dev", {"rbac": {"break_glass": True}}, "rbac.break_glass", "no team has cluster_admin"),
    ("dev", {"rbac": {"auditors": {"groups": ["system:authenticated"]}}}, "rbac.auditors.groups", "system:"),
    ("dev", {"teams": [{**TEAM, "viewers": {"users": ["system:anonymous"]}}], "network_policies": {}}, "teams[0].viewers.users", "system:"),
    # network policies
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "storefront", "to_namespace": "billing", "ports": [80]})}, "network_policies.allow[0].to_namespace", "not a team namespace"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "nowhere", "to_namespace": "payments", "ports": [80]})}, "network_policies.allow[0].from_namespace", "not a team namespace"),
    ("dev", {"network_policies": {"intra_namespace": ["kube-system"]}}, "network_policies.intra_namespace[0]", "not a team namespace"),
    ("dev", {"network_policies": {"api_server_access": [{"namespace": "ghost"}]}}, "network_policies.api_server_access[0].namespace", "not a team namespace"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "payments", "to_cidrs": ["0.0.0.0/0"], "ports": [443]})}, "network_policies.allow[0].to_cidrs", "unsafe"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "payments", "to_cidrs": ["169.254.169.254/32"], "ports": [80]})}, "network_policies.allow[0].to_cidrs", "metadata"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "payments", "to_cidrs": ["127.0.0.0/8"], "ports": [80]})}, "network_policies.allow[0].to_cidrs", "loopback"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "payments", "to_cidrs": ["10.111.4.0/24"], "ports": [80]})}, "network_policies.allow[0].to_cidrs[0]", "overlaps cluster_subnet"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "payments", "to_cidrs": ["203.0.113.7/24"], "ports": [80]})}, "network_policies.allow[0].to_cidrs", "is not a CIDR"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "payments", "ports": [80]})}, "network_policies.allow[0]", "exactly one of to_namespace or to_cidrs"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "payments", "to_namespace": "storefront", "ports": []})}, "network_policies.allow[0].ports", "at least one port"),
    ("dev", {"network_policies": rules({"name": "x", "from_namespace": "payments", "to_namespace": "storefront", "ports": [70000]})}, "network_policies.allow[0].ports", "not a port"),
    (
        "dev",
        {"network_policies": rules(*[{"name": "x", "from_namespace": "payments", "to_namespace": "storefront", "ports": [80]}] * 2)},
        "network_policies.allow",
        "unique",
    ),
    # admission
    ("dev", {"admission": {"allowed_registries": ["nginx"]}}, "admission.allowed_registries", "not a registry host"),
    ("dev", {"admission": {"allowed_registries": ["https://ghcr.io/acme"]}}, "admission.allowed_registries", "not a registry host"),
    ("dev", {"admission": {"allowed_registries": ["ghcr.io/*"]}}, "admission.allowed_registries", "no scheme, wildcard"),
    ("dev", {"admission": {"allowed_registries": ["ghcr.io/acme/app:latest"]}}, "admission.allowed_registries", "not a registry host"),
    ("dev", {"admission": {"allowed_registries": []}}, "admission.allowed_registries", "at least one registry"),
    ("prod", {"admission": {"mode": "Audit", "keyless": KEYLESS}}, "admission.mode", "must stay Enforce"),
    ("staging", {"admission": {"mode": "Audit", "keyless": KEYLESS}}, "admission.mode", "must stay Enforce"),
    ("prod", {"admission": {}}, "admission.keyless", "required in the prod profile"),
    ("dev", {"admission": {"keyless": {**KEYLESS, "subject": "x"}}}, "admission.keyless", "exactly one of subject or subject_regexp"),
    ("dev", {"admission": {"keyless": {**KEYLESS, "issuer": "http://issuer"}}}, "admission.keyless.issuer", "https URL"),
    ("dev", {"admission": {"cosign_public_key": "ssh-rsa AAAA"}}, "admission.cosign_public_key", "PEM public key"),
    ("dev", {"admission": {"mode": "Warn"}}, "admission.mode", "Audit"),
    ("dev", {"admission": {"replicas": 0}}, "admission.replicas", "at least 1"),
    # pod security, quota
    ("prod", {"pod_security": {"enforce": "baseline"}}, "pod_security.enforce", "must stay restricted"),
    ("staging", {"pod_security": {"enforce": "privileged"}}, "pod_security.enforce", "must stay restricted"),
    ("dev", {"pod_security": {"enforce": "strict"}}, "pod_security.enforce", "restricted"),
    ("dev", {"namespace_quota": {"requests_cpu": "four"}}, "namespace_quota.requests_cpu", "quantity"),
    ("dev", {"namespace_quota": {"limits_ephemeral_storage": "lots"}}, "namespace_quota.limits_ephemeral_storage", "quantity"),
    ("dev", {"namespace_quota": {"load_balancers": 3, "node_ports": 2}}, "namespace_quota", "node_ports (2) must be at least load_balancers (3)"),
    ("dev", {"container_defaults": {"max_memory": "4 GB"}}, "container_defaults.max_memory", "quantity"),
]


@pytest.mark.parametrize(("stack", "overrides", "key", "fragment"), BAD_CONFIGS, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(BAD_CONFIGS)])
def test_bad_in_cluster_config_is_refused_naming_the_key(stack: str, overrides: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(stack, **overrides)
    message = str(error.value)
    assert f"{NAMESPACE}:{key}" in message, message
    assert fragment in message, message


@pytest.mark.parametrize("overrides", [BAD_CONFIGS[2][1], BAD_CONFIGS[12][1]])
def test_a_refused_in_cluster_config_registers_nothing(overrides: dict[str, Any]) -> None:
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError):
        run_stack("dev", overrides, monitor=monitor)
    assert monitor.recorded == []


def test_good_settings_are_accepted() -> None:
    config = parse(
        "prod",
        teams=[{**TEAM, "cluster_admin": True, "admins": {"groups": ["ops"]}}],
        rbac={"break_glass": True, "break_glass_prod_acknowledged": True},
        network_policies=rules({"name": "psp", "from_namespace": "shop", "to_cidrs": ["198.51.100.0/24", "2001:db8::/48"], "ports": [443]}),
        admission={"allowed_registries": ["registry.digitalocean.com/acme", "ghcr.io/acme/apps", "localhost:5000"], "keyless": KEYLESS},
    )
    assert config.teams[0].cluster_admin and config.admission.mode == "Enforce"


def test_dev_may_loosen_pod_security_and_audit_only() -> None:
    config = parse("dev", pod_security={"enforce": "privileged"})
    assert config.pod_security.enforce == "privileged" and config.admission.mode == "Audit"
