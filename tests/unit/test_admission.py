"""Kyverno: the pinned chart, hardened values, local-chart and skip-await modes, and the three image policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.admission import ADDON_IMAGE_NAMESPACES, ADDON_POLICY_NAME, EXCLUDED_NAMESPACES, POLICY_NAMES
from components.config import KYVERNO_APP_VERSION, KYVERNO_CHART_REPO, KYVERNO_CHART_VERSION, KYVERNO_NAMESPACE, ConfigError
from tests.unit.manifests import helm_release, named, of_kind
from tools.offline import ProgramRun, run_stack

MODE = {"dev": "Audit", "staging": "Enforce", "prod": "Enforce"}
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexample0000000000000000000000000\n-----END PUBLIC KEY-----\n"


def _policies(run: ProgramRun) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in of_kind(run, "ClusterPolicy")}


def _rules(run: ProgramRun):
    for policy in _policies(run).values():
        yield policy, from_rules(policy)


def from_rules(policy: dict) -> list[dict]:
    return policy["spec"]["rules"]


def test_the_chart_is_pinned_with_its_repository(stack_run: ProgramRun) -> None:
    release = helm_release(stack_run)
    assert (release["chart"], release["version"], release["repositoryOpts"]["repo"]) == ("kyverno", KYVERNO_CHART_VERSION, KYVERNO_CHART_REPO)
    assert (KYVERNO_CHART_VERSION, KYVERNO_APP_VERSION) == ("3.9.1", "v1.19.1")
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


def test_policies_audit_in_dev_and_enforce_elsewhere(stack_run: ProgramRun) -> None:
    mode = MODE[stack_run.stack]
    policies = _policies(stack_run)
    expected = set(POLICY_NAMES) if stack_run.stack != "dev" else set(POLICY_NAMES) - {"verify-image-signatures"}
    assert set(policies) == expected | {ADDON_POLICY_NAME}
    for policy in policies.values():
        assert policy["spec"]["webhookConfiguration"]["failurePolicy"] == ("Fail" if mode == "Enforce" else "Ignore")
        for rule in from_rules(policy):
            for check in [rule.get("validate")] + rule.get("verifyImages", []):
                if check:
                    assert check["failureAction"] == mode


def test_engine_and_kube_system_are_excluded_explicitly(stack_run: ProgramRun) -> None:
    # The add-on namespaces leave the tenants' registry and signature policies for their own allowlist.
    addons = {"restrict-image-registries", "verify-image-signatures"}
    for policy, rules in _rules(stack_run):
        name = policy["metadata"]["name"]
        if name == ADDON_POLICY_NAME:
            continue
        for rule in rules:
            excluded = ["kube-system", KYVERNO_NAMESPACE] + (list(ADDON_IMAGE_NAMESPACES) if name in addons else [])
            assert rule["exclude"] == {"any": [{"resources": {"namespaces": excluded}}]}
            assert rule["match"] == {"any": [{"resources": {"kinds": ["Pod"]}}]}


def test_each_addon_namespace_admits_only_its_own_images(stack_run: ProgramRun) -> None:
    rules = {r["match"]["any"][0]["resources"]["namespaces"][0]: r for r in from_rules(_policies(stack_run)[ADDON_POLICY_NAME])}
    assert set(rules) == set(ADDON_IMAGE_NAMESPACES)
    images = {ns: r["validate"]["pattern"]["spec"]["containers"][0]["image"] for ns, r in rules.items()}
    assert images["kubescape"] == "quay.io/kubescape/*"
    assert images["trivy-system"] == "mirror.gcr.io/aquasec/*"
    assert images["security-alerts"].startswith("docker.io/library/python:3.13-alpine@sha256:") and "*" not in images["security-alerts"]
    for rule in rules.values():
        assert rule["validate"]["failureAction"] == MODE[stack_run.stack]
        assert set(rule["validate"]["pattern"]["spec"]) == {"containers", "=(initContainers)", "=(ephemeralContainers)"}


def test_registry_allowlist_pattern_covers_every_container_kind(stack_run: ProgramRun) -> None:
    (rule,) = from_rules(_policies(stack_run)["restrict-image-registries"])
    pattern = rule["validate"]["pattern"]["spec"]
    for key in ("containers", "=(initContainers)", "=(ephemeralContainers)"):
        assert pattern[key] == [{"image": "registry.digitalocean.com/hardened-doks/*"}]


def test_allowlist_with_several_registries() -> None:
    run = run_stack("dev", {"admission": {"allowed_registries": ["registry.digitalocean.com/acme", "ghcr.io/acme"]}})
    (rule,) = from_rules(_policies(run)["restrict-image-registries"])
    assert rule["validate"]["pattern"]["spec"]["containers"] == [{"image": "registry.digitalocean.com/acme/* | ghcr.io/acme/*"}]


def test_latest_tag_is_denied_and_a_tag_required(stack_run: ProgramRun) -> None:
    rules = {r["name"]: r for r in from_rules(_policies(stack_run)["disallow-latest-tag"])}
    assert rules["disallow-latest"]["validate"]["pattern"]["spec"]["containers"] == [{"image": "!*:latest"}]
    assert rules["require-image-tag"]["validate"]["pattern"]["spec"]["containers"] == [{"image": "*:*"}]


def test_keyless_signature_verification_in_staging_and_prod(run_of) -> None:
    for stack in ("staging", "prod"):
        (rule,) = from_rules(_policies(run_of(stack))["verify-image-signatures"])
        (verify,) = rule["verifyImages"]
        assert verify["imageReferences"] == ["registry.digitalocean.com/hardened-doks/*"]
        assert verify["mutateDigest"] is True and verify["verifyDigest"] is True and verify["required"] is True
        (entry,) = verify["attestors"][0]["entries"]
        assert entry["keyless"]["issuer"] == "https://token.actions.githubusercontent.com"
        assert entry["keyless"]["subjectRegExp"] == r"^https://github\.com/example-org/apps/\.github/workflows/build-sign-push\.yml@refs/heads/main$"
        assert entry["keyless"]["rekor"] == {"url": "https://rekor.sigstore.dev"}


def test_cosign_key_in_audit_mode_does_not_mutate_digests() -> None:
    run = run_stack("dev", {"admission": {"cosign_public_key": PUBLIC_KEY}})
    (rule,) = from_rules(_policies(run)["verify-image-signatures"])
    (verify,) = rule["verifyImages"]
    assert verify["mutateDigest"] is False, "Kyverno refuses mutateDigest in Audit mode"
    assert verify["attestors"][0]["entries"] == [{"keys": {"publicKeys": PUBLIC_KEY.strip()}}]


def test_policies_depend_on_the_release(stack_run: ProgramRun) -> None:
    (release,) = [r for r in stack_run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "kyverno"]
    policies = [r for r in stack_run.resources if r.type == "kubernetes:kyverno.io/v1:ClusterPolicy"]
    assert policies and all(p.provider == release.provider for p in policies)


def test_skip_await_reaches_the_release_and_disables_hook_jobs() -> None:
    release = helm_release(run_stack("dev", {"skip_await": True}))
    assert release["skipAwait"] is True
    assert release["values"]["webhooksCleanup"]["enabled"] is False
    assert release["values"]["crds"]["migration"]["enabled"] is False


def _fake_chart(path: Path, version: str = KYVERNO_CHART_VERSION) -> Path:
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
