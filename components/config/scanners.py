"""Scanner and alert settings: Kubescape, Trivy, Snyk, Falco, and the Slack notifier."""

from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import field_validator

from hardened_doks.config.cron import ALLOWED as CRON, cron_schedule
from hardened_doks.config.fields import Section, setting


Severity = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
#: Severities, lowest first (the order the thresholds compare in).
SEVERITIES: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
_SEVERITIES = "LOW, MEDIUM, HIGH, CRITICAL"
#: Kubescape frameworks a scheduled configuration scan may name (Kubescape's regolibrary ids).
KUBESCAPE_FRAMEWORKS: tuple[str, ...] = ("nsa", "mitre", "cis-v1.10.0", "cis-v1.12.0", "security", "allcontrols", "armobest", "devopsbest", "soc2")
#: Slack's incoming-webhook host, the only destination slack_webhook_url may name by default.
SLACK_WEBHOOK_HOST = "hooks.slack.com"
_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+(:[0-9]{1,5})?$")
_PINNED_IMAGE = re.compile(r"^[a-z0-9]([-a-z0-9._/:]*[a-z0-9])?@sha256:[0-9a-f]{64}$")



def _chart_path_field(chart: str, hint: str) -> Any:
    return setting(
        None,
        description=f"Install the {chart} chart from this local folder or .tgz archive instead of its repository (air-gapped, e2e{hint}).",
        allowed="path to a chart folder or .tgz of the pinned version",
    )


class KubescapeScanner(Section):
    """Kubescape operator: configuration scans (NSA, CIS…) and image vulnerability scans, results in-cluster."""

    enabled: bool = setting(True, description="Install the Kubescape operator.", allowed="true, false")
    configuration_scan_schedule: str = setting(
        "0 6 * * *", description="When the scheduled configuration scan against the frameworks runs (UTC).", allowed=CRON
    )
    vulnerability_scan_schedule: str = setting(
        "30 6 * * *", description="When the scheduled image vulnerability scan of all running images runs (UTC).", allowed=CRON
    )
    frameworks: list[str] = setting(
        ["nsa", "cis-v1.12.0"], description="Frameworks the scheduled configuration scan checks.", allowed=", ".join(KUBESCAPE_FRAMEWORKS)
    )
    chart_path: Optional[str] = _chart_path_field("kubescape-operator", "")

    @field_validator("configuration_scan_schedule", "vulnerability_scan_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return cron_schedule(value)

    @field_validator("frameworks")
    @classmethod
    def _frameworks(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one framework is required")
        for name in value:
            if name not in KUBESCAPE_FRAMEWORKS:
                raise ValueError(f"{name!r} is not a Kubescape framework; allowed: {', '.join(KUBESCAPE_FRAMEWORKS)}")
        return value


class TrivyScanner(Section):
    """Trivy operator: vulnerability, config-audit, exposed-secret and RBAC-assessment reports."""

    enabled: bool = setting(True, description="Install the Trivy operator.", allowed="true, false")
    compliance_schedule: str = setting(
        "0 7 * * *", description="When the cluster compliance reports (CIS, NSA, Pod Security Standards) are regenerated (UTC).", allowed=CRON
    )
    scan_jobs_limit: int = setting(2, description="Most scan Jobs running at once (each has its own requests).", allowed="1 … 10")
    private_registries: bool = setting(
        False,
        description="Opt-in: let the operator read Secrets and ServiceAccounts cluster-wide (get only) to pull private images (DOCR) for scans. Off: public images only (CIS 5.1.2).",
        allowed="true, false",
    )
    chart_path: Optional[str] = _chart_path_field("trivy-operator", "; see scripts/trivy-chart.sh")

    @field_validator("compliance_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return cron_schedule(value)

    @field_validator("scan_jobs_limit")
    @classmethod
    def _limit(cls, value: int) -> int:
        if not 1 <= value <= 10:
            raise ValueError(f"{value} is outside 1 … 10")
        return value


class SnykScanner(Section):
    """Snyk monitor: sends workload and image data to a Snyk organisation (a SaaS account)."""

    enabled: bool = setting(
        False, description="Install the Snyk monitor; needs the secret snyk_integration_id and snyk_service_account_token.", allowed="true, false"
    )
    chart_path: Optional[str] = _chart_path_field("snyk-monitor", "")


class FalcoScanner(Section):
    """Falco runtime detection (a privileged node agent) and falcosidekick, its alert forwarder."""

    enabled: bool = setting(
        False, description="Install Falco and falcosidekick (opt-in: the node agent needs host access, see docs/scanners.md exemptions).", allowed="true, false"
    )
    chart_path: Optional[str] = _chart_path_field("falco", "")
    sidekick_chart_path: Optional[str] = _chart_path_field("falcosidekick", "")


class Scanners(Section):
    """The in-cluster security scanners and their shared severity threshold."""

    severity: Severity = setting(
        "LOW", description="Lowest severity the scanners report (Trivy's severity filter; lower findings are not stored).", allowed=_SEVERITIES
    )
    kubescape: KubescapeScanner = setting(KubescapeScanner(), description="Kubescape operator.", allowed="{enabled, …}")
    trivy: TrivyScanner = setting(TrivyScanner(), description="Trivy operator.", allowed="{enabled, …}")
    snyk: SnykScanner = setting(SnykScanner(), description="Snyk monitor (off unless enabled with its secrets).", allowed="{enabled, chart_path}")
    falco: FalcoScanner = setting(FalcoScanner(), description="Falco runtime detection (off unless enabled).", allowed="{enabled, chart_path, sidekick_chart_path}")


class Alerts(Section):
    """Findings to Slack: the in-cluster notifier (scanner reports) and falcosidekick (Falco events)."""

    min_severity: Severity = setting("HIGH", description="Findings at or above this severity are posted to Slack.", allowed=_SEVERITIES)
    schedule: str = setting("*/30 * * * *", description="When the notifier reads the scanners' reports and posts new findings (UTC).", allowed=CRON)
    slack_webhook_allowed_hosts: list[str] = setting(
        [],
        description=(
            f"Hosts besides {SLACK_WEBHOOK_HOST} that slack_webhook_url may name (a proxy or a self-hosted relay); "
            "the URL must still be https. Empty: only Slack's own webhook host, so findings cannot be sent elsewhere."
        ),
        allowed="host names (optionally :port), no scheme or path",
    )
    notifier_image: str = setting(
        "docker.io/library/python:3.13-alpine@sha256:399babc8b49529dabfd9c922f2b5eea81d611e4512e3ed250d75bd2e7683f4b0",
        description="Image the notifier CronJob runs (Python 3 standard library only), pinned by digest.",
        allowed="image@sha256:<digest>",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return cron_schedule(value)

    @field_validator("slack_webhook_allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not _HOST.match(host):
                raise ValueError(f"{host!r} is not a host name such as relay.example.com (no scheme, path or wildcard)")
        return value

    @field_validator("notifier_image")
    @classmethod
    def _image(cls, value: str) -> str:
        # CIS 5.5.1 / NSA-CISA: run exactly the image that was reviewed; a tag can be moved.
        if not _PINNED_IMAGE.match(value):
            raise ValueError(f"{value!r} is not pinned by digest (image@sha256:<64 hex digits>)")
        return value

