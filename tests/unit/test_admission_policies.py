"""The API server's admission policies as the stack registers them, per profile (under mocks).

What they decide is evaluated by the real kube-apiserver in tests/e2e/test_admission.py; here:
which policies and bindings exist, their actions per profile, what they match and where, the
values they take from the config and the scanners layer, and the order they are applied in.
"""

from __future__ import annotations

import re

import pytest

from hardened_doks import admission_cel as cel
from hardened_doks import admission_images as images
from hardened_doks import admission_policies as ap
from hardened_doks.addons.kyverno import KYVERNO_IMAGES, KYVERNO_NAMESPACE
from hardened_doks.addons.notifier import ALERTS_NAMESPACE
from hardened_doks.addons.trivy import TRIVY_NAMESPACE
from hardened_doks.addons import ADDONS, SCANNER_NAMESPACES, addon_images
from tests.unit.manifests import of_kind
from hardened_doks.tools.offline import ProgramRun, run_stack

MODE = {"dev": "Audit", "staging": "Enforce", "prod": "Enforce"}
POLICIES = (
    images.REGISTRY_POLICY, images.TAG_POLICY, images.ADDON_POLICY, ap.NODE_PORT_POLICY, ap.EXTERNAL_IPS_POLICY,
    ap.ROLEBINDING_POLICY, ap.TOKEN_SECRET_POLICY, ap.CREDENTIALS_POLICY, ap.SCANNER_POLICY,
)  # fmt: skip
POD_RULES = (images.REGISTRY_POLICY, images.TAG_POLICY, images.ADDON_POLICY, ap.CREDENTIALS_POLICY, ap.SCANNER_POLICY)
VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VAPB = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"


def _policies(run: ProgramRun) -> dict[str, dict]:
    return {p["metadata"]["name"]: p["spec"] for p in of_kind(run, "ValidatingAdmissionPolicy")}


def _bindings(run: ProgramRun) -> dict[str, dict]:
    return {b["metadata"]["name"]: b["spec"] for b in of_kind(run, "ValidatingAdmissionPolicyBinding")}


def _variables(spec: dict) -> dict[str, str]:
    return {v["name"]: v["expression"] for v in spec.get("variables", [])}


def test_every_rule_is_a_policy_with_its_binding(stack_run: ProgramRun) -> None:
    policies, bindings = _policies(stack_run), _bindings(stack_run)
    assert set(policies) == set(bindings) == set(POLICIES)
    assert all(bindings[name]["policyName"] == name for name in POLICIES)


def test_image_rules_warn_and_audit_in_dev_and_deny_in_staging_and_prod(stack_run: ProgramRun) -> None:
    bindings = _bindings(stack_run)
    expected = {"Audit": ["Warn", "Audit"], "Enforce": ["Deny"]}[MODE[stack_run.stack]]
    for name in images.IMAGE_POLICIES:
        assert bindings[name]["validationActions"] == expected, name


def test_escalation_and_exposure_rules_deny_in_every_profile(stack_run: ProgramRun) -> None:
    bindings = _bindings(stack_run)
    for name in set(POLICIES) - set(images.IMAGE_POLICIES):
        assert bindings[name]["validationActions"] == ["Deny"], name


def test_policies_fail_closed_and_refuse_as_forbidden(stack_run: ProgramRun) -> None:
    for name, spec in _policies(stack_run).items():
        # An expression that cannot be evaluated counts as a failed validation (no fail-open).
        assert spec["failurePolicy"] == "Fail", name
        assert spec["validations"] and all(v["reason"] == "Forbidden" for v in spec["validations"]), name
        assert all("message" in v or "messageExpression" in v for v in spec["validations"]), name


def test_pod_rules_match_pods_ephemeral_containers_and_every_pod_template_kind(run_of) -> None:
    policies = _policies(run_of("prod"))
    expected = {
        ("", "pods"), ("", "pods/ephemeralcontainers"), ("", "replicationcontrollers"),
        ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
        ("batch", "jobs"), ("batch", "cronjobs"),
    }  # fmt: skip
    for name in POD_RULES:
        rules = policies[name]["matchConstraints"]["resourceRules"]
        assert {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]} == expected, name
        assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in rules), name


def test_pod_rules_read_every_container_of_every_pod_spec_shape(run_of) -> None:
    for name in POD_RULES[:-1]:
        variables = _variables(_policies(run_of("prod"))[name])
        assert "object.kind == 'CronJob'" in variables["podSpec"] and "spec.jobTemplate.spec.template.spec" in variables["podSpec"]
        assert "spec.template.spec" in variables["podSpec"] and "dyn(object.spec)" in variables["podSpec"]
        for field in ("containers", "initContainers", "ephemeralContainers"):
            assert f"variables.podSpec.{field}" in variables["containers"], (name, field)


def test_updates_are_checked_whenever_the_pod_spec_changes(run_of) -> None:
    # Creates always; updates only when what runs changes (not the garbage collector's finalizers).
    policies = _policies(run_of("prod"))
    for name in POD_RULES[:-1]:
        (condition,) = [c for c in policies[name]["matchConditions"] if c["name"] == "pod-spec-created-or-changed"]
        assert condition["expression"].startswith("request.operation == 'CREATE' || (")
        assert "oldObject" in condition["expression"]


def test_namespace_scopes(run_of) -> None:
    bindings = _bindings(run_of("prod"))

    def selector(name: str) -> dict:
        return bindings[name].get("matchResources", {}).get("namespaceSelector", {})

    addon_namespaces = [addon.namespace for addon in ADDONS]
    name_label = "kubernetes.io/metadata.name"
    # The tenants' allowlist everywhere but kube-system and the add-on namespaces (their own allowlists).
    assert selector(images.REGISTRY_POLICY) == {"matchExpressions": [{"key": name_label, "operator": "NotIn", "values": ["kube-system", *addon_namespaces]}]}
    assert selector(images.ADDON_POLICY) == {"matchExpressions": [{"key": name_label, "operator": "In", "values": addon_namespaces}]}
    # Only kube-system (DOKS-managed) is outside the tag and exposure rules; kyverno is not.
    for name in (images.TAG_POLICY, ap.NODE_PORT_POLICY, ap.EXTERNAL_IPS_POLICY):
        assert selector(name) == {"matchExpressions": [{"key": name_label, "operator": "NotIn", "values": ["kube-system"]}]}, name
    for name in (ap.ROLEBINDING_POLICY, ap.TOKEN_SECRET_POLICY, ap.CREDENTIALS_POLICY):
        assert selector(name) == {"matchExpressions": [{"key": "hardened-doks.io/team", "operator": "Exists"}]}, name
    # Keyed on who asks: every namespace, kube-system included.
    assert "matchResources" not in bindings[ap.SCANNER_POLICY]


def test_the_registry_allowlist_comes_from_the_config() -> None:
    run = run_stack("dev", {"admission": {"allowed_registries": ["registry.digitalocean.com/acme", "ghcr.io/acme", "localhost:5000"]}})
    disallowed = _variables(_policies(run)[images.REGISTRY_POLICY])["disallowed"]
    # A trailing slash: "registry.digitalocean.com/acme" must not admit "registry.digitalocean.com/acme-evil/…".
    assert "['registry.digitalocean.com/acme/', 'ghcr.io/acme/', 'localhost:5000/']" in disallowed


def test_add_on_allowlists_come_from_the_scanners_layer_and_kyverno(run_of) -> None:
    disallowed = _variables(_policies(run_of("prod"))[images.ADDON_POLICY])["disallowed"]
    from tests.unit.test_budget import _config

    for namespace, patterns in addon_images(_config("prod")).items():
        assert f"{cel.cel_string(namespace)}: {cel.cel_list([cel.glob_regex(p) for p in patterns])}" in disallowed, namespace
    # The notifier's namespace admits exactly its pinned image.
    assert f"'{ALERTS_NAMESPACE}': ['^docker\\\\.io/library/python:3\\\\.13-alpine@sha256:" in disallowed


def test_kyverno_images_are_its_charts_registries() -> None:
    from tests.unit.test_budget import _config

    assert KYVERNO_IMAGES == ("reg.kyverno.io/kyverno/*", "ghcr.io/kyverno/*")
    # Kyverno's namespace is held to them like every add-on namespace to its chart's, first.
    allowlists = addon_images(_config("prod"))
    assert list(allowlists)[0] == KYVERNO_NAMESPACE and allowlists[KYVERNO_NAMESPACE] == KYVERNO_IMAGES
    assert allowlists[TRIVY_NAMESPACE] == ("mirror.gcr.io/aquasec/*",)


@pytest.mark.parametrize(
    ("pattern", "image", "matches"),
    [
        ("quay.io/kubescape/*", "quay.io/kubescape/operator:v0.2.9", True),
        ("quay.io/kubescape/*", "quay.io/kubescape/kubevuln@sha256:" + "b" * 64, True),
        ("quay.io/kubescape/*", "quay.io/kubescapes/operator:v1", False),
        ("quay.io/kubescape/*", "evil.example/quay.io/kubescape/operator:v1", False),
        ("quay.io/kubescape/*", "quayXio/kubescape/operator:v1", False),
        ("snyk/*", "docker.io/snyk/kubernetes-monitor:2.23.8", False),
        ("docker.io/library/python:3.13-alpine@sha256:" + "c" * 64, "docker.io/library/python:3.13-alpine@sha256:" + "c" * 64, True),
        ("docker.io/library/python:3.13-alpine@sha256:" + "c" * 64, "docker.io/library/python:3.13-alpine", False),
        ("ghcr.io/kyverno/readiness-checker:v?.*", "ghcr.io/kyverno/readiness-checker:v1.19.1", True),
    ],
)
def test_image_wildcards_become_anchored_regexes(pattern: str, image: str, matches: bool) -> None:
    # RE2 (CEL's matches) and Python's re agree on these: literals, '.', '.*' and anchors only.
    assert bool(re.fullmatch(cel.glob_regex(pattern), image)) is matches


@pytest.mark.parametrize(
    ("image", "untagged", "latest"),
    [
        ("registry.digitalocean.com/hardened-doks/app:1.4.2", False, False),
        ("registry.digitalocean.com/hardened-doks/app", True, False),
        ("registry.digitalocean.com/hardened-doks/app:latest", False, True),
        # Issue 17.12: the registry's port is no tag.
        ("reg.example:5000/x/app", True, False),
        ("reg.example:5000/app", True, False),
        ("reg.example:5000/x/app:2.0", False, False),
        ("reg.example:5000/x/app:latest", False, True),
        ("app", True, False),
        ("app:latest", False, True),
    ],
)
def test_tag_patterns(image: str, untagged: bool, latest: bool) -> None:
    assert (re.search(images.TAGGED, image) is None, re.search(images.LATEST, image) is not None) == (untagged, latest)


def test_a_digest_pins_an_image_whatever_its_tag(run_of) -> None:
    variables = _variables(_policies(run_of("prod"))[images.TAG_POLICY])
    assert variables["untagged"].startswith("variables.images.filter(i, !i.contains('@') && ")
    assert variables["latest"].startswith("variables.images.filter(i, !i.contains('@') && ")


def test_services_may_not_be_node_ports_or_set_external_ips(run_of) -> None:
    policies = _policies(run_of("prod"))
    for name, needle in ((ap.NODE_PORT_POLICY, "object.spec.type != 'NodePort'"), (ap.EXTERNAL_IPS_POLICY, "size(object.spec.externalIPs) == 0")):
        (rule,) = policies[name]["matchConstraints"]["resourceRules"]
        assert (rule["apiGroups"], rule["resources"]) == ([""], ["services"]), name
        assert needle in policies[name]["validations"][0]["expression"], name


def test_role_bindings_may_not_name_system_users_or_groups(run_of) -> None:
    spec = _policies(run_of("prod"))[ap.ROLEBINDING_POLICY]
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert (rule["apiGroups"], rule["resources"]) == (["rbac.authorization.k8s.io"], ["rolebindings"])
    assert "s.kind != 'ServiceAccount' && s.name.startsWith('system:')" in spec["validations"][0]["expression"]


def test_service_account_token_secrets_are_refused(run_of) -> None:
    spec = _policies(run_of("prod"))[ap.TOKEN_SECRET_POLICY]
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert (rule["resources"], rule["operations"]) == (["secrets"], ["CREATE"])
    assert "object.type != 'kubernetes.io/service-account-token'" in spec["validations"][0]["expression"]


def test_workload_credentials_need_the_right_to_read_secrets(run_of) -> None:
    spec = _policies(run_of("prod"))[ap.CREDENTIALS_POLICY]
    variables = _variables(spec)
    assert variables["mayReadSecrets"] == "authorizer.group('').resource('secrets').namespace(request.namespace).check('get').allowed()"
    for reference in ("has(v.secret)", "s.secret", "e.valueFrom.secretKeyRef", "e.secretRef"):
        assert reference in variables["usesSecrets"], reference
    assert "serviceAccountName" in variables["serviceAccount"] and "'default'" in variables["serviceAccount"]
    assert [v["expression"] for v in spec["validations"]] == [
        "!variables.usesSecrets || variables.mayReadSecrets",
        "variables.serviceAccount == 'default' || variables.mayReadSecrets",
    ]
    # Kubernetes' controllers create the pods of workloads checked when a person applied them.
    (controllers,) = [c for c in spec["matchConditions"] if c["name"] == "not-a-kubernetes-controller"]
    assert "system:serviceaccount:kube-system:" in controllers["expression"] and "system:kube-controller-manager" in controllers["expression"]


def test_scanners_create_workloads_only_in_their_own_namespace(run_of) -> None:
    spec = _policies(run_of("prod"))[ap.SCANNER_POLICY]
    (condition,) = spec["matchConditions"]
    for namespace in SCANNER_NAMESPACES:
        assert f"'system:serviceaccount:{namespace}:'" in condition["expression"], namespace
    assert KYVERNO_NAMESPACE not in SCANNER_NAMESPACES and TRIVY_NAMESPACE in SCANNER_NAMESPACES
    assert spec["validations"][0]["expression"] == "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')"


def test_cel_strings_are_escaped() -> None:
    assert cel.cel_string("it's a \\ test") == "'it\\'s a \\\\ test'"
    assert cel.cel_list(["a", "b"]) == "['a', 'b']"


def test_policies_come_before_kyverno_and_bindings_after_their_policy(run_of) -> None:
    run = run_of("prod")
    policies = {r.inputs["metadata"]["name"]: r for r in run.of_type(VAP)}
    bindings = {r.inputs["metadata"]["name"]: r for r in run.of_type(VAPB)}
    (release,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "kyverno"]
    # Kyverno's own pods are admitted under the API server's policies (restrict-addon-images).
    assert {r.urn for r in [*policies.values(), *bindings.values()]} <= set(release.dependencies)
    for name, binding in bindings.items():
        assert policies[name].urn in binding.dependencies, name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_tenants_scanners_and_alerts_wait_for_admission(run_of, stack: str) -> None:
    # Issue 17.10: nothing lands in a tenant or scanner namespace before admission is in force.
    run = run_of(stack) if stack != "dev" else run_stack("dev", secret_overrides={"slack_webhook_url": "https://hooks.slack.com/services/T0/B0/x"})
    admission = {r.urn for r in run.resources if r.type in (VAP, VAPB, "kubernetes:kyverno.io/v1:ClusterPolicy")}
    assert len(admission) == 2 * len(POLICIES) + (1 if stack != "dev" else 0)
    for component in ("TenantNamespaces", "Scanners", "Alerts"):
        (resource,) = run.of_type(f"hardened-doks:kubernetes:{component}")
        assert admission <= set(resource.dependencies), component
