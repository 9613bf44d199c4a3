"""Bad or unsafe settings of the scanners and alerts layer: each refused with a message naming the key.

Secret values (the Slack webhook, Snyk's credentials) are never echoed in the messages.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest

from hardened_doks.config import NAMESPACE, ConfigError, StackConfig, cron_schedule, parse_stack_config
from hardened_doks.tools.offline import SECRET_PLACEHOLDER, read_stack_file

WEBHOOK = "https://hooks.slack.com/services/T0000/B0000/bad-config-webhook"
SNYK_ID = "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
SNYK = {"snyk_integration_id": SNYK_ID, "snyk_service_account_token": "snyk-token"}


def parse(stack: str, overrides: Optional[dict[str, Any]] = None, secrets: Optional[dict[str, str]] = None, plain: Optional[dict[str, str]] = None) -> StackConfig:
    """The stack file with ``overrides``, ``secrets`` (stored encrypted) and ``plain`` (secret keys set in plain text)."""
    raw, secret_keys = read_stack_file(stack)
    keys = set(secret_keys)
    for key, value in (overrides or {}).items():
        raw[f"{NAMESPACE}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    for key, value in (secrets or {}).items():
        raw[f"{NAMESPACE}:{key}"] = value
        keys.add(f"{NAMESPACE}:{key}")
    for key, value in (plain or {}).items():
        raw[f"{NAMESPACE}:{key}"] = value
    return parse_stack_config(raw, stack=stack, secret_keys=frozenset(keys))


def kubescape(**settings: Any) -> dict[str, Any]:
    return {"scanners": {"kubescape": settings}}


# (stack, overrides, secrets, plain-text secrets, the key the message must name, a fragment of the message)
BAD: list[tuple[str, dict[str, Any], dict[str, str], dict[str, str], str, str]] = [
    # schedules
    ("dev", kubescape(configuration_scan_schedule="0 6 * *"), {}, {}, "scanners.kubescape.configuration_scan_schedule", "five fields"),
    ("dev", kubescape(configuration_scan_schedule="61 6 * * *"), {}, {}, "scanners.kubescape.configuration_scan_schedule", "minute 61 is outside 0-59"),
    ("dev", kubescape(vulnerability_scan_schedule="0 24 * * *"), {}, {}, "scanners.kubescape.vulnerability_scan_schedule", "hour 24 is outside 0-23"),
    ("dev", kubescape(vulnerability_scan_schedule="@fortnightly"), {}, {}, "scanners.kubescape.vulnerability_scan_schedule", "unknown descriptor"),
    ("prod", {"scanners": {"trivy": {"compliance_schedule": "0 3 * * monday"}}}, {}, {}, "scanners.trivy.compliance_schedule", "day of week 'monday'"),
    ("prod", {"scanners": {"trivy": {"compliance_schedule": "*/0 * * * *"}}}, {}, {}, "scanners.trivy.compliance_schedule", "step 0"),
    ("staging", {"alerts": {"schedule": "0 0 32 * *"}}, {}, {}, "alerts.schedule", "day of month 32 is outside 1-31"),
    ("dev", {"alerts": {"schedule": "0 0 1 5-2 *"}}, {}, {}, "alerts.schedule", "month '5-2': the range starts after it ends"),
    # severities, frameworks, limits
    ("dev", {"scanners": {"severity": "SEVERE"}}, {}, {}, "scanners.severity", "LOW"),
    ("dev", {"alerts": {"min_severity": "high"}}, {}, {}, "alerts.min_severity", "CRITICAL"),
    ("prod", {"alerts": {"min_severity": "LOW"}, "scanners": {"severity": "MEDIUM"}}, {}, {}, "alerts.min_severity", "below scanners.severity"),
    ("dev", kubescape(frameworks=["nsa", "pci"]), {}, {}, "scanners.kubescape.frameworks", "'pci' is not a Kubescape framework"),
    ("dev", kubescape(frameworks=[]), {}, {}, "scanners.kubescape.frameworks", "at least one framework"),
    ("dev", {"scanners": {"trivy": {"scan_jobs_limit": 0}}}, {}, {}, "scanners.trivy.scan_jobs_limit", "outside 1 … 10"),
    ("dev", {"scanners": {"trivy": {"webhook": "https://x"}}}, {}, {}, "scanners.trivy.webhook", "unknown setting"),
    ("dev", {"alerts": {"notifier_image": "python:3.13-alpine"}}, {}, {}, "alerts.notifier_image", "not pinned by digest"),
    # the Slack webhook
    ("dev", {}, {"slack_webhook_url": "http://hooks.slack.com/services/T0/B0/x"}, {}, "slack_webhook_url", "not an https URL"),
    ("dev", {}, {"slack_webhook_url": "hooks.slack.com/services/T0/B0/x"}, {}, "slack_webhook_url", "not an https URL"),
    ("dev", {}, {"slack_webhook_url": "https://"}, {}, "slack_webhook_url", "not an https URL"),
    ("dev", {}, {}, {"slack_webhook_url": WEBHOOK}, "slack_webhook_url", "must be stored encrypted"),
    # Snyk
    ("dev", {"scanners": {"snyk": {"enabled": True}}}, {}, {}, "snyk_integration_id", "required with scanners.snyk.enabled"),
    ("dev", {"scanners": {"snyk": {"enabled": True}}}, {"snyk_integration_id": SNYK_ID}, {}, "snyk_service_account_token", "required with scanners.snyk.enabled"),
    ("dev", {"scanners": {"snyk": {"enabled": True}}}, {**SNYK, "snyk_integration_id": "not-a-uuid"}, {}, "snyk_integration_id", "not a Snyk integration id"),
    ("dev", {"scanners": {"snyk": {"enabled": True}}}, {"snyk_service_account_token": "t"}, {"snyk_integration_id": SNYK_ID}, "snyk_integration_id", "must be stored encrypted"),
    ("dev", {"scanners": {"snyk": {"enabled": True}}}, {**SNYK, "snyk_dockercfg": "auths: {}"}, {}, "snyk_dockercfg", "not a Docker config.json"),
    ("dev", {}, SNYK, {}, "snyk_integration_id", "scanners.snyk.enabled is false"),
]


@pytest.mark.parametrize(("stack", "overrides", "secrets", "plain", "key", "fragment"), BAD, ids=[f"{b[0]}-{b[4]}-{i}" for i, b in enumerate(BAD)])
def test_bad_scanner_config_is_refused_naming_the_key(stack: str, overrides: dict, secrets: dict, plain: dict, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse(stack, overrides, secrets, plain)
    message = str(error.value)
    assert f"{NAMESPACE}:{key}:" in message, message
    assert fragment in message, message
    for value in [*secrets.values(), *plain.values()]:
        if len(value) > 8:
            assert value not in message, "a secret value is echoed"


def test_good_scanner_settings_are_accepted() -> None:
    config = parse(
        "prod",
        {
            "scanners": {"severity": "MEDIUM", "snyk": {"enabled": True}, "falco": {"enabled": True}, "kubescape": {"frameworks": ["nsa", "mitre", "cis-v1.10.0"]}},
            "alerts": {"min_severity": "CRITICAL", "schedule": "5,35 8-18 * * 1-5"},
        },
        {**SNYK, "slack_webhook_url": WEBHOOK, "snyk_dockercfg": '{"auths": {}}'},
    )
    assert config.scanners.snyk.enabled and config.slack_webhook_url is not None
    assert config.slack_webhook_url.get_secret_value() == WEBHOOK
    assert WEBHOOK not in repr(config), "secret settings are SecretStr: never in reprs or logs"


def test_offline_placeholders_of_secret_config_are_accepted() -> None:
    """A stack file's encrypted values reach the offline render as a placeholder, which is not checked."""
    placeholders = {key: SECRET_PLACEHOLDER for key in ("slack_webhook_url", "snyk_integration_id", "snyk_service_account_token", "snyk_dockercfg")}
    config = parse("staging", {"scanners": {"snyk": {"enabled": True}}}, placeholders)
    assert config.snyk_integration_id is not None


@pytest.mark.parametrize("schedule", ["* * * * *", "0 0 * * 0", "0 0 * * SUN", "*/15 * * * *", "0 1-5/2 * * *", "0,30 9,17 1,15 1-12 1-5", "0 6 * * mon-FRI", "@daily", "@hourly", "0 0 ? * *", "5/10 * * * *", "0 0 29 2 *", "0 0 31 2 MON", "0 0 1 JAN,jul *"])
def test_valid_cron_schedules(schedule: str) -> None:
    assert cron_schedule(schedule) == schedule
