"""Policies on DigitalOcean resources: the DOKS control plane and cloud firewalls."""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs, Severity

from hardened_doks.policy.exposure import exposures, is_internet
from hardened_doks.policy.meta import config_value, digitalocean, get, items, nsa, resource_policy

CLUSTER = "digitalocean:index/kubernetesCluster:KubernetesCluster"
FIREWALL = "digitalocean:index/firewall:Firewall"

#: Cluster tags that mark production (this project tags everything ``env:<environment>``).
DEFAULT_PRODUCTION_TAGS = ["env:prod", "env:production"]
PRODUCTION_SCHEMA = PolicyConfigSchema(
    properties={
        "productionTags": {
            "type": "array",
            "items": {"type": "string"},
            "default": DEFAULT_PRODUCTION_TAGS,
            "description": "DigitalOcean tags that mark a production cluster.",
        }
    }
)


def _is_production(args: ResourceValidationArgs) -> bool:
    tags = {str(t) for t in items(args.props.get("tags"))}
    return bool(tags & set(config_value(args, "productionTags", DEFAULT_PRODUCTION_TAGS)))


def _validate_control_plane_firewall(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != CLUSTER:
        return
    firewall = args.props.get("controlPlaneFirewall")
    if get(firewall, "enabled") is not True:
        report_violation("the control-plane firewall is not enabled: the Kubernetes API is reachable from anywhere", None)
    elif not items(get(firewall, "allowedAddresses")):
        report_violation("the control-plane firewall allows no address (set allowedAddresses)", None)


def _validate_prod_allowlist(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != CLUSTER or not _is_production(args):
        return
    allowed = items(get(args.props.get("controlPlaneFirewall"), "allowedAddresses"))
    for address in allowed:
        if is_internet(address):
            report_violation(f"production control-plane allowlist contains {address} (the whole internet)", None)


def _validate_prod_ha(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == CLUSTER and _is_production(args) and args.props.get("ha") is not True:
        report_violation("production cluster without a highly available control plane (ha: false)", None)


def _validate_auto_upgrade(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == CLUSTER and args.props.get("autoUpgrade") is not True:
        report_violation("automatic patch upgrades are off (autoUpgrade: false)", None)


def _validate_firewall(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FIREWALL:
        return
    for index, rule in enumerate(items(args.props.get("inboundRules"))):
        found: list[str] = exposures(
            get(rule, "protocol"), get(rule, "portRange"), items(get(rule, "sourceAddresses")), get(rule, "action", default="allow")
        )
        for exposure in found:
            report_violation(f"inboundRules[{index}] opens {exposure}", None)


def policies() -> list[Any]:
    return [
        resource_policy(
            "doks-control-plane-firewall",
            "DOKS clusters have the control-plane firewall enabled with a non-empty allowlist.",
            _validate_control_plane_firewall,
            controls=[nsa("Control plane hardening"), digitalocean("Control plane firewall")],
            severity=Severity.CRITICAL,
            remediation="Set control_plane_firewall {enabled: true, allowed_addresses: [...]} on the cluster "
            "(this stack: hardened-doks:api_allowlist).",
        ),
        resource_policy(
            "doks-prod-api-not-public",
            "Production DOKS clusters do not allow 0.0.0.0/0 or ::/0 to reach the Kubernetes API.",
            _validate_prod_allowlist,
            controls=[nsa("Control plane hardening"), digitalocean("Control plane firewall")],
            severity=Severity.CRITICAL,
            remediation="List only VPN, office and CI runner ranges in hardened-doks:api_allowlist "
            "(the prod profile refuses blocks wider than /16).",
            config_schema=PRODUCTION_SCHEMA,
        ),
        resource_policy(
            "doks-prod-ha-control-plane",
            "Production DOKS clusters run a highly available control plane.",
            _validate_prod_ha,
            controls=[digitalocean("High-availability control plane")],
            severity=Severity.HIGH,
            remediation="Set ha: true on the cluster (hardened-doks:ha_control_plane; a floor in staging and prod).",
            config_schema=PRODUCTION_SCHEMA,
        ),
        resource_policy(
            "doks-auto-upgrade",
            "DOKS clusters apply patch releases automatically in their maintenance window.",
            _validate_auto_upgrade,
            controls=[nsa("Upgrading and application security practices"), digitalocean("Regular upgrades")],
            severity=Severity.MEDIUM,
            remediation="Set auto_upgrade: true and a maintenance_policy (hardened-doks:auto_upgrade, "
            "hardened-doks:maintenance_window).",
            enforcement=EnforcementLevel.ADVISORY,
        ),
        resource_policy(
            "firewall-no-public-admin-ports",
            "Cloud firewalls do not open SSH (22), the kubelet (10250) or NodePorts (30000-32767) to 0.0.0.0/0 or ::/0.",
            _validate_firewall,
            controls=[nsa("Network separation and hardening"), digitalocean("Worker firewalls")],
            severity=Severity.CRITICAL,
            remediation="Allow those ports only from the VPC and pod ranges or from load balancers; reach nodes "
            "with `kubectl debug node/...` instead of SSH; expose Services through a LoadBalancer or ingress.",
        ),
    ]
