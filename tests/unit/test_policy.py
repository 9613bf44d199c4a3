"""The CrossGuard policy pack: each policy on a passing and a violating resource, the whole pack
on the mocked resources of every stack, the pack entry point and the generated control matrix."""

from __future__ import annotations

import copy
import json
import runpy
from typing import Any

import pulumi_policy
import pytest
import yaml

from pulumi_policy import EnforcementLevel, Policy, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import _NotApplicableError
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

from hardened_doks.policy import BREAK_GLASS_ANNOTATION, PACK_NAME, all_policies
from tests.unit.envelope import check_envelope
from hardened_doks.tools import policy_check, policy_doc
from hardened_doks.tools.offline import PROJECT_DIR, ProgramRun, RecordedResource

POLICIES = {p.name: p for p in all_policies()}
CLUSTER = "digitalocean:index/kubernetesCluster:KubernetesCluster"
FIREWALL = "digitalocean:index/firewall:Firewall"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def resource(type_: str, inputs: dict[str, Any], name: str = "r") -> RecordedResource:
    return RecordedResource(
        type=type_, name=name, urn=f"urn:pulumi:test::hardened-doks::{type_}::{name}", custom=True,
        parent="", provider="", protect=False, delete_before_replace=False, ignore_changes=[], inputs=inputs,
    )


def violations(policy_name: str, *resources: RecordedResource, config: dict[str, Any] | None = None) -> list[str]:
    """Messages a policy reports, called exactly as the analyzer calls it (props behind the proxy)."""
    policy = POLICIES[policy_name]
    found: list[str] = []
    if isinstance(policy, StackValidationPolicy):
        run = ProgramRun("test", list(resources), {}, set())
        policy.validate(policy_check.stack_args(run, config), lambda message, urn=None: found.append(message))
    else:
        for r in resources:
            try:
                policy.validate(policy_check.resource_args(r, config), lambda message, urn=None: found.append(message))
            except _NotApplicableError:
                pass
    return found


def cluster(**overrides: Any) -> dict[str, Any]:
    props = {
        "name": "c", "region": "fra1", "version": "1.34.4-do.0", "ha": True, "autoUpgrade": True,
        "tags": ["hardened-doks", "env:prod"],
        "controlPlaneFirewall": {"enabled": True, "allowedAddresses": ["203.0.113.0/24"]},
    }
    props.update(overrides)
    return props


def pod_template(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


LIMITED = {"limits": {"cpu": "500m", "memory": "256Mi"}}
DIGEST = "ghcr.io/acme/api@sha256:" + "a" * 64

# (policy, passing resource, violating resource, expected fragment of the violation)
CASES = [
    ("doks-control-plane-firewall", resource(CLUSTER, cluster()),
     resource(CLUSTER, cluster(controlPlaneFirewall={"enabled": False, "allowedAddresses": ["203.0.113.0/24"]})),
     "not enabled"),
    ("doks-control-plane-firewall", resource(CLUSTER, cluster()),
     resource(CLUSTER, cluster(controlPlaneFirewall={"enabled": True, "allowedAddresses": []})), "allows no address"),
    ("doks-prod-api-not-public", resource(CLUSTER, cluster(tags=["env:dev"], controlPlaneFirewall={"enabled": True, "allowedAddresses": ["0.0.0.0/0"]})),
     resource(CLUSTER, cluster(controlPlaneFirewall={"enabled": True, "allowedAddresses": ["198.51.100.0/24", "::/0"]})), "::/0"),
    ("doks-prod-ha-control-plane", resource(CLUSTER, cluster(tags=["env:staging"], ha=False)),
     resource(CLUSTER, cluster(ha=False)), "highly available"),
    ("doks-auto-upgrade", resource(CLUSTER, cluster()), resource(CLUSTER, cluster(autoUpgrade=False)), "autoUpgrade"),
    ("firewall-no-public-admin-ports",
     resource(FIREWALL, {"inboundRules": [
         {"protocol": "tcp", "portRange": "443", "sourceAddresses": ["0.0.0.0/0"]},
         {"protocol": "tcp", "portRange": "1-65535", "sourceAddresses": ["10.110.0.0/20"]},
         {"protocol": "icmp", "sourceAddresses": ["0.0.0.0/0"]}]}),
     resource(FIREWALL, {"inboundRules": [{"protocol": "tcp", "portRange": "30000-30100", "sourceAddresses": ["::/0"]}]}),
     "NodePorts"),
    ("firewall-no-public-admin-ports", resource(FIREWALL, {"inboundRules": []}),
     resource(FIREWALL, {"inboundRules": [{"protocol": "tcp", "portRange": "22", "sourceAddresses": ["0.0.0.0/0"]}]}),
     "SSH (22)"),
    ("firewall-no-public-admin-ports", resource(FIREWALL, {}),
     resource(FIREWALL, {"inboundRules": [{"protocol": "tcp", "sourceAddresses": ["0.0.0.0/0"]}]}), "kubelet (10250)"),
    ("k8s-namespace-pod-security",
     resource(NAMESPACE, {"metadata": {"name": "apps", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}),
     resource(NAMESPACE, {"metadata": {"name": "apps", "labels": {"team": "a"}}}), "no pod-security.kubernetes.io/enforce"),
    ("k8s-namespace-pod-security",
     resource(NAMESPACE, {"metadata": {"name": "falco", "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
                                       "annotations": {BREAK_GLASS_ANNOTATION: "falco needs host access; SEC-42"}}}),
     resource(NAMESPACE, {"metadata": {"name": "falco", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}),
     "privileged without"),
    ("k8s-rbac-no-wildcards",
     resource("kubernetes:rbac.authorization.k8s.io/v1:Role", {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
     resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", {"rules": [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}]}),
     "rules[0].resources"),
    ("k8s-rbac-no-wildcards", resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", {"aggregationRule": {}}),
     resource("kubernetes:rbac.authorization.k8s.io/v1:Role", {"rules": [{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["*"]}]}),
     "verbs"),
    ("k8s-no-cluster-admin-binding",
     resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", {
         "metadata": {"name": "sre-breakglass", "annotations": {BREAK_GLASS_ANNOTATION: "INC-1234, alice, until 2026-12-01"}},
         "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "alice"}]}),
     resource("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", {
         "metadata": {"name": "ci"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": "ci"}]}),
     "ServiceAccount/ci"),
    ("k8s-no-system-subject-binding",
     resource("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", {
         "metadata": {"name": "viewers"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
         "subjects": [{"kind": "Group", "name": "shop-viewers"}, {"kind": "ServiceAccount", "name": "system-sync"}]}),
     resource("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", {
         "metadata": {"name": "everyone"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
         "subjects": [{"kind": "Group", "name": "shop-viewers"}, {"kind": "Group", "name": "system:authenticated"}]}),
     "subjects[1] is Group system:authenticated"),
    ("k8s-services-not-exposed-on-nodes",
     resource("kubernetes:core/v1:Service", {"spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}),
     resource("kubernetes:core/v1:Service", {"spec": {"type": "NodePort", "ports": [{"port": 443}]}}), "NodePort"),
    ("k8s-services-not-exposed-on-nodes",
     resource("kubernetes:core/v1:Service", {"spec": {"ports": [{"port": 443}]}}),
     resource("kubernetes:core/v1:Service", {"spec": {"externalIPs": ["203.0.113.7"], "ports": [{"port": 443}]}}), "CVE-2020-8554"),
    ("k8s-admission-policies-fail-closed",
     resource("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", {"spec": {"failurePolicy": "Fail"}}),
     resource("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", {"spec": {"failurePolicy": "Ignore"}}), "Ignore"),
    ("k8s-images-pinned-or-allowlisted",
     resource(DEPLOYMENT, pod_template({"name": "a", "image": DIGEST}, {"name": "b", "image": "registry.digitalocean.com/acme/b:1.2"})),
     resource(DEPLOYMENT, pod_template({"name": "a", "image": "nginx:1.27"})), "nginx:1.27"),
    ("k8s-images-pinned-or-allowlisted",
     resource("kubernetes:batch/v1:CronJob", {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"image": DIGEST}]}}}}}}),
     resource("kubernetes:batch/v1:CronJob", {"spec": {"jobTemplate": {"spec": {"template": {"spec": {
         "initContainers": [{"image": "registry.digitalocean.com.evil.example/x:1"}], "containers": [{"image": DIGEST}]}}}}}}),
     "initContainers[0]"),
    ("k8s-resource-limits", resource("kubernetes:apps/v1:StatefulSet", pod_template({"name": "db", "resources": LIMITED})),
     resource("kubernetes:apps/v1:DaemonSet", pod_template({"name": "agent", "resources": {"limits": {"memory": "64Mi"}}})),
     "sets no cpu limit"),
    ("k8s-resource-limits",
     resource("kubernetes:helm.sh/v3:Release", {"chart": "x", "values": {"controller": {"resources": LIMITED}, "webhook": {"resources": LIMITED}}}),
     resource("kubernetes:helm.sh/v3:Release", {"chart": "x", "values": {"controller": {"resources": LIMITED}, "jobs": [{"resources": {}}]}}),
     "values.jobs[0].resources"),
]


@pytest.mark.parametrize("policy, passing, violating, fragment", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_policy_passes_and_violates(policy: str, passing: RecordedResource, violating: RecordedResource, fragment: str) -> None:
    assert violations(policy, passing) == []
    found = violations(policy, violating)
    assert found and any(fragment in message for message in found), found


def ns(name: str) -> RecordedResource:
    return resource(NAMESPACE, {"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}, name)


def netpol(namespace: str, spec: dict[str, Any], name: str = "default-deny") -> RecordedResource:
    return resource(NETPOL, {"metadata": {"name": name, "namespace": namespace}, "spec": spec}, f"{namespace}-{name}")


def test_default_deny_is_a_stack_check() -> None:
    both = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert violations("k8s-namespace-default-deny", ns("apps"), netpol("apps", both)) == []
    # Two policies, one per direction, also count.
    split = [netpol("apps", {"podSelector": {}, "policyTypes": [d]}, name=d.lower()) for d in ("Ingress", "Egress")]
    assert violations("k8s-namespace-default-deny", ns("apps"), *split) == []
    # Only ingress denied; a policy that selects some pods or allows something does not count.
    found = violations(
        "k8s-namespace-default-deny",
        ns("apps"),
        netpol("apps", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        netpol("apps", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]}, name="x"),
        netpol("apps", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}, name="allow-all"),
        netpol("other", both),
    )
    assert found == ["namespace apps has no default-deny NetworkPolicy for egress in this stack"]
    assert violations("k8s-namespace-default-deny", ns("lonely")) == [
        "namespace lonely has no default-deny NetworkPolicy for egress and ingress in this stack"
    ]


def test_image_references_are_parsed() -> None:
    from hardened_doks.policy.kubernetes import image_allowed, registry_of

    assert registry_of("nginx") == "docker.io/library/nginx"
    assert registry_of("bitnami/redis:7") == "docker.io/bitnami/redis"
    assert registry_of("localhost:5000/x:1") == "localhost:5000/x"
    assert registry_of("ghcr.io/kyverno/kyverno:v1.19.0@sha256:" + "b" * 64) == "ghcr.io/kyverno/kyverno"
    assert image_allowed("ghcr.io/kyverno/kyverno:v1.19.0", ["ghcr.io/kyverno"])
    assert not image_allowed("ghcr.io/kyvernox/x:1", ["ghcr.io/kyverno"])
    assert not image_allowed("nginx@sha256:short", [])


def test_policy_config_overrides_defaults() -> None:
    dev_cluster = resource(CLUSTER, cluster(tags=["stage:live"], ha=False))
    assert violations("doks-prod-ha-control-plane", dev_cluster) == []
    assert violations("doks-prod-ha-control-plane", dev_cluster, config={"productionTags": ["stage:live"]})
    quay = resource(DEPLOYMENT, pod_template({"image": "quay.io/acme/x:1", "resources": LIMITED}))
    assert violations("k8s-images-pinned-or-allowlisted", quay, config={"allowedRegistries": ["quay.io/acme"]}) == []
    memory_only = resource(DEPLOYMENT, pod_template({"image": DIGEST, "resources": {"limits": {"memory": "1Gi"}}}))
    assert violations("k8s-resource-limits", memory_only, config={"requiredLimits": ["memory"]}) == []


def test_unknown_values_stop_the_policy_like_in_a_preview() -> None:
    """During a preview the analyzer reports UnknownValueError as 'cannot run during preview'."""
    unknown = resource(CLUSTER, cluster(controlPlaneFirewall={"enabled": UNKNOWN_STRING_VALUE, "allowedAddresses": []}))
    with pytest.raises(UnknownValueError):
        violations("doks-control-plane-firewall", unknown)


def test_every_policy_carries_controls_severity_and_remediation() -> None:
    policies = all_policies()
    assert len({p.name for p in policies}) == len(policies)
    for policy in policies:
        assert policy.framework is not None and policy.framework.reference, policy.name
        assert policy.tags and policy.severity is not None and policy.remediation_steps, policy.name
        assert policy.enforcement_level in (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY)
    tested = {case[0] for case in CASES} | {"k8s-namespace-default-deny", "k8s-prod-people-read-only"}  # stack checks: own tests
    assert tested == {p.name for p in policies}, "every policy needs a passing and a violating case"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_pack_passes_on_every_stack(run_of, stack: str) -> None:
    assert policy_check.check(run_of(stack)) == []


def test_the_pack_catches_a_namespace_losing_its_default_deny(run_of) -> None:
    prod = run_of("prod")
    denies = [r for r in prod.resources if r.type == NETPOL and not r.inputs["spec"].get("ingress")
              and not r.inputs["spec"].get("egress") and r.inputs["spec"].get("podSelector") == {}]
    # Every namespace's, the patched Kubernetes namespaces' (default, kube-public…) included.
    assert {"default", "kube-public", "kube-node-lease", "kyverno"} <= {d.inputs["metadata"]["namespace"] for d in denies}
    for deny in denies:
        run = copy.copy(prod)
        run.resources = [r for r in prod.resources if r is not deny]
        found = policy_check.check(run)
        assert [v.policy for v in found] == ["k8s-namespace-default-deny"], deny.name
        assert deny.inputs["metadata"]["namespace"] in found[0].message
        assert policy_check.blocking(found) == found


def _mutated(run: ProgramRun, type_: str, change: Any) -> ProgramRun:
    """A copy of a run in which every resource of ``type_`` has its inputs changed by ``change``."""
    mutated = copy.copy(run)
    mutated.resources = []
    for r in run.resources:
        if r.type == type_:
            r = copy.copy(r)
            r.inputs = copy.deepcopy(r.inputs)
            change(r.inputs)
        mutated.resources.append(r)
    return mutated


@pytest.mark.parametrize(
    "stack, type_, change, policy",
    [
        ("prod", CLUSTER, lambda i: i.update(ha=False), "doks-prod-ha-control-plane"),
        ("prod", CLUSTER, lambda i: i["controlPlaneFirewall"]["allowedAddresses"].append("0.0.0.0/0"), "doks-prod-api-not-public"),
        ("staging", CLUSTER, lambda i: i["controlPlaneFirewall"].update(enabled=False), "doks-control-plane-firewall"),
        ("dev", FIREWALL, lambda i: i["inboundRules"].append({"protocol": "tcp", "portRange": "22", "sourceAddresses": ["0.0.0.0/0"]}),
         "firewall-no-public-admin-ports"),
        ("dev", NAMESPACE, lambda i: i["metadata"]["labels"].pop("pod-security.kubernetes.io/enforce"), "k8s-namespace-pod-security"),
        ("prod", "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy", lambda i: i["spec"].update(failurePolicy="Ignore"),
         "k8s-admission-policies-fail-closed"),
        ("prod", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", lambda i: i["subjects"].append({"kind": "Group", "name": "system:authenticated"}) if i["roleRef"]["name"] == "hardened-doks:viewer" else None,
         "k8s-no-system-subject-binding"),
        # A person bound to the deploy identity's role in prod: exec-free, but Secrets and pod deletion.
        ("prod", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", lambda i: i["subjects"].append({"kind": "Group", "name": "storefront-admins"})
         if i["roleRef"]["name"].endswith(":deployer") else None, "k8s-prod-people-read-only"),
    ],
    ids=["prod-ha", "prod-public-api", "staging-cp-firewall", "dev-public-ssh", "dev-namespace-psa", "prod-admission-fail-open", "prod-system-subject", "prod-person-deploys"],
)
def test_the_pack_sees_the_real_resources(run_of, stack: str, type_: str, change: Any, policy: str) -> None:
    """The stacks pass because they comply, not because the policies miss their resources."""
    found = policy_check.check(_mutated(run_of(stack), type_, change))
    assert found and {v.policy for v in found} == {policy}


def test_policy_check_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert policy_check.main(["--stack", "dev"]) == 0
    assert "dev: 0 mandatory, 0 advisory violations" in capsys.readouterr().out
    assert policy_check.main(["--stack", "nope"]) == 2


def test_policy_check_json_envelope(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, run_of) -> None:
    assert policy_check.main(["--all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    stacks = check_envelope(report, "policy_check", ["dev", "prod", "staging"], 0, "passed")
    assert stacks["dev"]["mandatory"] == 0 and report["findings"] == []
    violating = _mutated(run_of("prod"), CLUSTER, lambda i: i.update(ha=False))
    monkeypatch.setattr(policy_check, "run_stack", lambda stack: violating)
    assert policy_check.main(["--stack", "prod", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert check_envelope(report, "policy_check", ["prod"], 1, "failed")["prod"]["mandatory"] == 1
    assert [(f["finding"], f["policy"]) for f in report["findings"]] == [("violation", "doks-prod-ha-control-plane")]
    monkeypatch.undo()
    assert policy_check.main(["--stack", "nope", "--json"]) == 2
    check_envelope(json.loads(capsys.readouterr().out), "policy_check", ["nope"], 2, "error")


def test_pack_entry_point_only_builds_the_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    built: dict[str, Any] = {}

    def fake_pack(**kwargs: Any) -> None:
        built.update(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", fake_pack)
    runpy.run_path(str(PROJECT_DIR / "policy" / "__main__.py"), run_name="__main__")
    assert built["name"] == PACK_NAME
    assert [p.name for p in built["policies"]] == list(POLICIES)
    assert all(isinstance(p, (ResourceValidationPolicy, StackValidationPolicy)) for p in built["policies"])
    runtime = yaml.safe_load((PROJECT_DIR / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]
    # The pack runs in the project's virtualenv (pulumi-policy, hardened_doks.policy), as the program does.
    assert runtime == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "../.venv"}}


def test_example_policy_config_names_real_policies_and_properties() -> None:
    import json

    example = json.loads((PROJECT_DIR / "policy" / "config.example.json").read_text())
    for name, settings in example.items():
        policy = POLICIES[name]
        known = set(policy.config_schema.properties) if policy.config_schema else set()
        assert set(settings) - {"enforcementLevel"} <= known, name
        assert settings.get("enforcementLevel", "advisory") in {level.value for level in EnforcementLevel}


def test_the_control_matrix_is_generated_from_the_pack() -> None:
    page = policy_doc.DOC.read_text()
    assert policy_doc.section(page) == policy_doc.render_matrix(), "run `make policy-doc` and commit docs/policy-pack.md"
    policy: Policy
    for policy in all_policies():
        assert f"`{policy.name}`" in page


def test_people_are_read_only_in_production() -> None:
    cluster = resource("digitalocean:index/kubernetesCluster:KubernetesCluster", {"tags": ["hardened-doks", "env:prod"]}, "cluster")
    rbac = "kubernetes:rbac.authorization.k8s.io/v1:"
    debug = resource(rbac + "ClusterRole", {"metadata": {"name": "debug"}, "rules": [
        {"apiGroups": [""], "resources": ["pods/exec", "pods", "secrets"], "verbs": ["create", "get", "delete"]},
    ]}, "debug")  # fmt: skip
    reader = resource(rbac + "ClusterRole", {"metadata": {"name": "reader"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}, "reader")

    def binding(role: str, kind: str, name: str = "b") -> RecordedResource:
        subject = {"kind": kind, "name": "ops", **({"namespace": "apps"} if kind == "ServiceAccount" else {})}
        return resource(rbac + "RoleBinding", {"metadata": {"name": name, "namespace": "apps"}, "roleRef": {"kind": "ClusterRole", "name": role}, "subjects": [subject]}, name)

    assert violations("k8s-prod-people-read-only", cluster, debug, binding("debug", "Group")) == [
        "b gives Group/ops create pods/exec, delete pods, get pods/exec, get secrets in production "
        "(people read; a deploy identity changes; exec only through break-glass)"
    ]
    # A deploy identity may; people may read; outside production nothing is checked.
    assert violations("k8s-prod-people-read-only", cluster, debug, binding("debug", "ServiceAccount")) == []
    assert violations("k8s-prod-people-read-only", cluster, reader, binding("reader", "User")) == []
    dev = resource("digitalocean:index/kubernetesCluster:KubernetesCluster", {"tags": ["env:dev"]}, "cluster")
    assert violations("k8s-prod-people-read-only", dev, debug, binding("debug", "Group")) == []


def test_an_existing_cluster_is_production_by_its_namespaces_label() -> None:
    # Existing-cluster mode has no DigitalOcean resource to carry env:prod: the namespaces' label says it.
    from hardened_doks.kube import ENVIRONMENT_LABEL
    from hardened_doks.policy.kubernetes import PRODUCTION_NAMESPACE_LABEL

    assert PRODUCTION_NAMESPACE_LABEL == ENVIRONMENT_LABEL
    rbac = "kubernetes:rbac.authorization.k8s.io/v1:"
    debug = resource(rbac + "ClusterRole", {"metadata": {"name": "debug"}, "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]}, "debug")
    bound = resource(rbac + "RoleBinding", {"metadata": {"name": "b", "namespace": "apps"}, "roleRef": {"kind": "ClusterRole", "name": "debug"},
                                             "subjects": [{"kind": "Group", "name": "ops"}]}, "b")  # fmt: skip

    def namespace(environment: str) -> RecordedResource:
        return resource("kubernetes:core/v1:Namespace", {"metadata": {"name": "apps", "labels": {ENVIRONMENT_LABEL: environment}}}, "apps")

    assert violations("k8s-prod-people-read-only", namespace("prod"), debug, bound) == [
        "b gives Group/ops create pods/exec in production (people read; a deploy identity changes; exec only through break-glass)"
    ]
    assert violations("k8s-prod-people-read-only", namespace("staging"), debug, bound) == []


def test_tenant_namespaces_carry_the_stacks_environment(run_of) -> None:
    from hardened_doks.kube import ENVIRONMENT_LABEL

    for stack in ("dev", "prod"):
        namespaces = [r for r in run_of(stack).resources if r.type == "kubernetes:core/v1:Namespace" and "hardened-doks.io/team" in r.inputs["metadata"].get("labels", {})]
        assert namespaces and {r.inputs["metadata"]["labels"][ENVIRONMENT_LABEL] for r in namespaces} == {stack}
