"""Kyverno: the pinned chart, hardened values, local-chart and skip-await modes, and its signature policy.

The API server's admission policies are tested in tests/unit/test_admission_policies.py (specs)
and tests/e2e/test_admission.py (evaluated live)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardened_doks.admission import EXCLUDED_NAMESPACES, SIGNATURE_POLICY
from hardened_doks.addons import SCANNER_NAMESPACES
from hardened_doks.config import ConfigError
from hardened_doks.addons.kyverno import CHART as KYVERNO_CHART, KYVERNO_NAMESPACE
from tests.unit.manifests import helm_release, named, of_kind
from hardened_doks.tools.offline import ProgramRun, run_stack

MODE = {"dev": "Audit", "staging": "Enforce", "prod": "Enforce"}
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexample0000000000000000000000000\n-----END PUBLIC KEY-----\n"


def _policies(run: ProgramRun) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in of_kind(run, "ClusterPolicy")}


def from_rules(policy: dict) -> list[dict]:
    return policy["spec"]["rules"]


def test_the_chart_is_pinned_with_its_repository(stack_run: ProgramRun) -> None:
    release = helm_release(stack_run)
    assert (release["chart"], release["version"], release["repositoryOpts"]["repo"]) == ("kyverno", KYVERNO_CHART.version, KYVERNO_CHART.repo)
    assert release["namespace"] == KYVERNO_NAMESPACE and release["name"] == "kyverno"
    assert release["skipAwait"] is False and release["createNamespace"] is False


def test_replicas_and_disruption_budget_per_profile(stack_run: ProgramRun) -> None:
    controller = helm_release(stack_run)["values"]["admissionController"]
    expected = 1 if stack_run.stack == "dev" else 3
    assert controller["replicas"] == expected
    assert controller["podDisruptionBudget"]["enabled"] is (expected > 1)


def test_every_controller_has_requests_and_limits(stack_run: ProgramRun) -> None:
    values = helm_release(stack_run)["values"]
    resources = [
        values["admissionController"]["container"]["resources"],
        values["admissionController"]["initContainer"]["resources"],
        values["backgroundController"]["resources"],
        values["cleanupController"]["resources"],
        values["reportsController"]["resources"],
        values["webhooksCleanup"]["resources"],
        values["crds"]["migration"]["podResources"],
    ]
    for r in resources:
        assert set(r["requests"]) == {"cpu", "memory"} and set(r["limits"]) == {"cpu", "memory"}


def test_engine_hardening_values(stack_run: ProgramRun) -> None:
    values = helm_release(stack_run)["values"]
    assert values["features"]["policyExceptions"]["enabled"] is False
    assert values["features"]["registryClient"]["allowInsecure"] is False
    excluded = values["config"]["webhooks"]["namespaceSelector"]["matchExpressions"][0]
    assert (excluded["operator"], excluded["values"]) == ("NotIn", list(EXCLUDED_NAMESPACES))
    for controller in ("admissionController", "backgroundController", "cleanupController", "reportsController"):
        assert values[controller]["networkPolicy"]["enabled"] is False, "the stack writes Kyverno's network policies"


def test_kyverno_keeps_only_the_signature_policy(stack_run: ProgramRun) -> None:
    # Every rule decidable without a registry is a ValidatingAdmissionPolicy now.
    expected = {SIGNATURE_POLICY} if stack_run.stack != "dev" else set()
    assert set(_policies(stack_run)) == expected


def test_signature_policy_enforces_in_staging_and_prod_and_audits_in_dev() -> None:
    for run, mode in ((run_stack("dev", {"admission": {"cosign_public_key": PUBLIC_KEY}}), "Audit"), (run_stack("staging"), "Enforce")):
        policy = _policies(run)[SIGNATURE_POLICY]
        assert policy["spec"]["webhookConfiguration"]["failurePolicy"] == ("Fail" if mode == "Enforce" else "Ignore")
        (rule,) = from_rules(policy)
        assert [v["failureAction"] for v in rule["verifyImages"]] == [mode]


def test_signature_policy_leaves_out_kube_system_kyverno_and_the_add_ons(run_of) -> None:
    (rule,) = from_rules(_policies(run_of("prod"))[SIGNATURE_POLICY])
    assert rule["match"] == {"any": [{"resources": {"kinds": ["Pod"]}}]}
    assert rule["exclude"] == {"any": [{"resources": {"namespaces": ["kube-system", KYVERNO_NAMESPACE, *SCANNER_NAMESPACES]}}]}


def test_signature_policy_scans_existing_pods_in_the_background(run_of) -> None:
    # Issue 17.10: with background: false, pods admitted before the policy (an existing cluster,
    # an unreachable webhook in dev) were never flagged. The reports controller re-verifies them.
    for stack in ("staging", "prod"):
        assert _policies(run_of(stack))[SIGNATURE_POLICY]["spec"]["background"] is True


def test_what_depends_on_admission_waits_for_kyverno_to_serve_the_signature_policy(run_of) -> None:
    policy = _policies(run_of("prod"))[SIGNATURE_POLICY]
    assert policy["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


def test_keyless_signature_verification_in_staging_and_prod(run_of) -> None:
    for stack in ("staging", "prod"):
        (rule,) = from_rules(_policies(run_of(stack))[SIGNATURE_POLICY])
        (verify,) = rule["verifyImages"]
        assert verify["imageReferences"] == ["registry.digitalocean.com/hardened-doks/*"]
        assert verify["mutateDigest"] is True and verify["verifyDigest"] is True and verify["required"] is True
        (entry,) = verify["attestors"][0]["entries"]
        assert entry["keyless"]["issuer"] == "https://token.actions.githubusercontent.com"
        assert entry["keyless"]["subjectRegExp"] == r"^https://github\.com/example-org/apps/\.github/workflows/build-sign-push\.yml@refs/heads/main$"
        assert entry["keyless"]["rekor"] == {"url": "https://rekor.sigstore.dev"}


def test_cosign_key_in_audit_mode_does_not_mutate_digests() -> None:
    run = run_stack("dev", {"admission": {"cosign_public_key": PUBLIC_KEY}})
    (rule,) = from_rules(_policies(run)[SIGNATURE_POLICY])
    (verify,) = rule["verifyImages"]
    assert verify["mutateDigest"] is False, "Kyverno refuses mutateDigest in Audit mode"
    assert verify["attestors"][0]["entries"] == [{"keys": {"publicKeys": PUBLIC_KEY.strip()}}]


def test_signature_policy_is_applied_after_the_release(run_of) -> None:
    run = run_of("prod")
    (release,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "kyverno"]
    (policy,) = run.of_type("kubernetes:kyverno.io/v1:ClusterPolicy")
    assert release.urn in policy.dependencies and policy.provider == release.provider


def test_skip_await_reaches_the_release_and_disables_hook_jobs() -> None:
    release = helm_release(run_stack("dev", {"skip_await": True}))
    assert release["skipAwait"] is True
    assert release["values"]["webhooksCleanup"]["enabled"] is False
    assert release["values"]["crds"]["migration"]["enabled"] is False


def _fake_chart(path: Path, version: str = KYVERNO_CHART.version) -> Path:
    path.mkdir(parents=True)
    (path / "Chart.yaml").write_text(f"apiVersion: v2\nname: kyverno\nversion: {version}\n")
    return path


def test_local_chart_path_installs_without_a_repository(tmp_path: Path) -> None:
    chart = _fake_chart(tmp_path / "kyverno")
    release = helm_release(run_stack("dev", {"admission": {"chart_path": str(chart)}}))
    assert release["chart"] == str(chart)
    assert "repositoryOpts" not in release and "version" not in release


@pytest.mark.parametrize(("make", "message"), [(False, "no chart at"), (True, "the stack pins kyverno 3.9.1")])
def test_local_chart_path_must_hold_the_pinned_chart(tmp_path: Path, make: bool, message: str) -> None:
    chart = _fake_chart(tmp_path / "kyverno", "3.8.0") if make else tmp_path / "missing"
    with pytest.raises(ConfigError, match="hardened-doks:admission.chart_path: .*" + message):
        run_stack("dev", {"admission": {"chart_path": str(chart)}})


def test_kyverno_namespace_baseline(stack_run: ProgramRun) -> None:
    namespace = named(stack_run, "Namespace", KYVERNO_NAMESPACE)["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    assert named(stack_run, "ServiceAccount", "default", KYVERNO_NAMESPACE)["automountServiceAccountToken"] is False
