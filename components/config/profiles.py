"""The environment profiles (dev → staging → prod) and the one table of security floors.

A stack file may override a profile default only where that is safe: the settings in
:data:`FLOORS` (dotted key paths) cannot be loosened below their floor in the listed profiles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
        # Humans read only; changes go through each team's deploy identity, exec through break-glass
        # (CIS 5.1.x least privilege; Kubescape C-0002, C-0007, C-0015, C-0063).
        "rbac": {"human_access": "read-only"},
    },
}

#: Settings a stack may not loosen below its profile: key → environments where the


@dataclass(frozen=True)
class Floor:
    """A value a setting must keep in some profiles, and why (shown in the refusal)."""

    value: Any
    environments: frozenset[str]
    reason: str = ""


_STAGING_PROD = frozenset({"staging", "prod"})

#: Settings a stack may not loosen below their profile's floor: dotted key path → floor.
FLOORS: dict[str, Floor] = {
    # Availability of the API server during upgrades and zone failures (NSA/CISA: resilient control plane).
    "ha_control_plane": Floor(True, _STAGING_PROD, "a single control-plane replica is not allowed"),
    # Regular patching (DigitalOcean checklist "regular upgrades"; CIS Kubernetes Benchmark, keep versions supported).
    "auto_upgrade": Floor(True, _STAGING_PROD, "patch upgrades must stay automatic"),
    # Upgrades without capacity loss, so patching is never postponed for fear of downtime.
    "surge_upgrade": Floor(True, _STAGING_PROD, "node upgrades must surge"),
    # Accidental `pulumi destroy` of production is refused by the engine.
    "protect": Floor(True, frozenset({"prod"}), "production resources must be protected"),
    # Tenant pods never share a node with the policy engine and the scanners (NSA/CISA: isolation).
    "isolate_system_pool": Floor(True, _STAGING_PROD, "tenant pods must not share nodes with the security add-ons"),
    # Pod Security Standards "restricted" (CIS 5.2.x; NSA/CISA: non-root, no privilege escalation).
    "pod_security.enforce": Floor("restricted", _STAGING_PROD, "tenant pods must meet the restricted Pod Security Standard"),
    # Untrusted or unsigned images are rejected, not only reported (DigitalOcean supply-chain checklist).
    # No human exec, attach, port-forward, Secrets or pod deletion in prod (CIS 5.1.2, 5.1.x; Kubescape C-0002/C-0007/C-0015/C-0063).
    "rbac.human_access": Floor("read-only", frozenset({"prod"}), "people read; the deploy identity changes, break-glass debugs"),
    "admission.mode": Floor("Enforce", _STAGING_PROD, "untrusted or unsigned images must be rejected"),
}
