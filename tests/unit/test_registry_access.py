"""Kyverno's registry credentials for signature checks (issue 17.2): a read-only, expiring DOCR
credential, kept secret, in a dockerconfigjson Secret that Kyverno's --imagePullSecrets names;
rotation before expiry; an existing Secret instead in existing-cluster mode."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from hardened_doks.config import NAMESPACE, ConfigError
from hardened_doks.addons.kyverno import KYVERNO_NAMESPACE
from hardened_doks.registry_access import PERIODS_VALID, PULL_SECRET, rotation_period
from tests.unit.manifests import helm_release, objects
from hardened_doks.tools.offline import OfflineMocks, ProgramRun, RecordingMonitor, read_stack_file, run_stack
from tests.unit.kubeconfig import kubeconfig

CREDENTIAL = "digitalocean:index/containerRegistryDockerCredentials:ContainerRegistryDockerCredentials"
SECRET = "kubernetes:core/v1:Secret"
#: The token inside the offline mocks' stand-in credential (tools/offline.py).
OFFLINE_TOKEN = "offline-registry-token"
EXISTING = {"existing_cluster_name": "legacy"}
EXISTING_SECRETS = {"existing_cluster_kubeconfig": kubeconfig()}


def admission(**settings: Any) -> dict[str, Any]:
    """The prod stack file's admission settings (its keyless identity) with ``settings`` on top."""
    return {"admission": {**json.loads(read_stack_file("prod")[0][f"{NAMESPACE}:admission"]), **settings}}


def pull_secrets(run: ProgramRun) -> list[Any]:
    return [r for r in run.of_type(SECRET) if r.inputs["metadata"]["name"] == PULL_SECRET]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_credential_is_read_only_expiring_and_for_the_allowlisted_registry(stack: str, run_of: Any) -> None:
    run = run_of(stack)
    credential = run.one(CREDENTIAL)
    # registry.digitalocean.com/hardened-doks in admission.allowed_registries → registry "hardened-doks".
    assert credential.inputs["registryName"] == "hardened-doks"
    assert credential.inputs["write"] is False, "Kyverno only reads signatures: never a push credential"
    assert credential.inputs["expirySeconds"] == PERIODS_VALID * 30 * 86400, "expires after three 30-day periods"
    assert run.outputs["registry_credentials_expire_at"] == "2027-01-01T00:00:00Z" and "registry_credentials_expire_at" not in run.secret_outputs


def test_a_new_rotation_period_replaces_the_credential() -> None:
    before = rotation_period(datetime.now(timezone.utc), 30)
    run = run_stack("prod", admission(registry_credentials_rotation_days=30))
    after = rotation_period(datetime.now(timezone.utc), 30)
    assert run.one(CREDENTIAL).replacement_trigger in (before, after)
    days = run_stack("prod", admission(registry_credentials_rotation_days=7)).one(CREDENTIAL)
    assert days.inputs["expirySeconds"] == 3 * 7 * 86400


def test_rotation_periods_leave_two_periods_before_expiry() -> None:
    start = datetime(2026, 11, 3, tzinfo=timezone.utc)  # a period start for 30 days (1970-01-01 + 683 × 30 days)
    assert rotation_period(start, 30) == "2026-11-03"
    assert rotation_period(start + timedelta(days=29, hours=23), 30) == "2026-11-03"
    assert rotation_period(start + timedelta(days=30), 30) == "2026-12-03"
    for offset in range(0, 30 * 24, 7):  # any moment of a period
        created = start + timedelta(hours=offset)
        expires = created + timedelta(days=PERIODS_VALID * 30)
        next_period = datetime.fromisoformat(rotation_period(created, 30)).replace(tzinfo=timezone.utc) + timedelta(days=30)
        # The first `pulumi up` of the next period replaces it; even one two periods late comes before expiry.
        assert expires - next_period >= timedelta(days=60)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_credential_reaches_kyverno_only_as_a_secret(stack: str, run_of: Any) -> None:
    run = run_of(stack)
    (secret,) = pull_secrets(run)
    assert secret.inputs["metadata"]["namespace"] == KYVERNO_NAMESPACE and secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
    assert secret.is_secret("stringData"), "the Docker config is a secret Output: encrypted in state, [secret] in renders"
    assert set(secret.inputs["stringData"]) == {".dockerconfigjson"}
    assert OFFLINE_TOKEN not in str(objects(run)), "the rendered objects never show the credential"
    for resource in run.resources:
        if resource is not secret and "offline@example.com" in str(resource.inputs):
            pytest.fail(f"{resource.type} {resource.name} carries the credential in plain inputs")
    (release,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs.get("name") == "kyverno"]
    assert secret.urn in release.dependencies, "the Secret exists before Kyverno starts"
    values = helm_release(run)["values"]
    assert values["existingImagePullSecrets"] == [PULL_SECRET], "Kyverno's --imagePullSecrets names it"
    assert "imagePullSecrets" not in values, "never the chart's own Secret from plain values"


def test_no_credential_without_signature_verification(run_of: Any) -> None:
    run = run_of("dev")  # no signing identity: Kyverno never reads the registry
    assert not run.of_type(CREDENTIAL) and not pull_secrets(run)
    assert "existingImagePullSecrets" not in helm_release(run)["values"]


def test_an_existing_pull_secret_is_used_instead() -> None:
    run = run_stack("prod", admission(registry_pull_secret="docr-read"))
    assert not run.of_type(CREDENTIAL) and not pull_secrets(run)
    assert helm_release(run)["values"]["existingImagePullSecrets"] == ["docr-read"]


def test_existing_cluster_mode_names_an_existing_secret() -> None:
    run = run_stack("prod", {**EXISTING, **admission(registry_pull_secret="docr-read")}, EXISTING_SECRETS)
    assert not [r for r in run.resources if r.type.startswith("digitalocean:")]
    assert helm_release(run)["values"]["existingImagePullSecrets"] == ["docr-read"]


@pytest.mark.parametrize(
    ("overrides", "key", "says"),
    [
        # Existing cluster, DOCR, signatures verified, no Secret: every image would be refused.
        ({**EXISTING}, "admission.registry_pull_secret", "required in existing-cluster mode"),
        (admission(allowed_registries=["registry.digitalocean.com/a", "registry.digitalocean.com/b/app"]), "admission.allowed_registries", "names 2 DOCR registries (a, b)"),
        (admission(allowed_registries=["registry.digitalocean.com"]), "admission.allowed_registries", "without a registry"),
        (admission(registry_credentials_rotation_days=0), "admission.registry_credentials_rotation_days", "between 1 and 180"),
        (admission(registry_credentials_rotation_days=181), "admission.registry_credentials_rotation_days", "between 1 and 180"),
        (admission(registry_pull_secret="Not_A_Name"), "admission.registry_pull_secret", "not a Secret name"),
    ],
)
def test_configs_that_leave_kyverno_without_credentials_are_refused(overrides: dict[str, Any], key: str, says: str) -> None:
    monitor = RecordingMonitor(OfflineMocks())
    secrets = EXISTING_SECRETS if "existing_cluster_name" in overrides else None
    with pytest.raises(ConfigError) as error:
        run_stack("prod", overrides, secrets, monitor=monitor)
    assert f"{NAMESPACE}:{key}" in str(error.value) and says in str(error.value), str(error.value)
    assert monitor.recorded == []
