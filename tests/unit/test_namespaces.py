"""Tenant namespaces: Pod Security per profile, quota, limits, default ServiceAccount; the component wiring."""

from __future__ import annotations

import pytest

from hardened_doks.config import KUBERNETES_NAMESPACES
from hardened_doks.addons.kubescape import KUBESCAPE_NAMESPACE
from hardened_doks.addons.kyverno import KYVERNO_NAMESPACE
from hardened_doks.addons.trivy import TRIVY_NAMESPACE
from hardened_doks.kube import TEAM_LABEL
from hardened_doks.namespaces import ALLOW_DNS, DEFAULT_DENY, SYSTEM_NAMESPACES
from tests.unit.manifests import IN_CLUSTER_COMPONENTS, managed_namespaces, named
from hardened_doks.tools.offline import ProgramRun, iter_kubernetes, run_stack

SHIPPED_TENANTS = {"storefront": "storefront", "storefront-jobs": "storefront", "payments": "payments"}
#: enforce, warn, audit per profile (Pod Security Standards; docs/in-cluster-hardening.md, "Namespaces and Pod Security").
EXPECTED_PSA = {
    "dev": ("baseline", "restricted", "restricted"),
    "staging": ("restricted", "restricted", "restricted"),
    "prod": ("restricted", "restricted", "restricted"),
}


#: The add-on namespaces of a stack that enables no optional add-on: Kyverno, Kubescape and Trivy.
DEFAULT_ADDON_NAMESPACES = {KYVERNO_NAMESPACE, KUBESCAPE_NAMESPACE, TRIVY_NAMESPACE}


def test_every_team_namespace_is_created_with_its_team_label(stack_run: ProgramRun) -> None:
    for namespace, team in SHIPPED_TENANTS.items():
        assert named(stack_run, "Namespace", namespace)["metadata"]["labels"][TEAM_LABEL] == team
    assert managed_namespaces(stack_run) == set(SHIPPED_TENANTS) | DEFAULT_ADDON_NAMESPACES | set(SYSTEM_NAMESPACES)


def test_pod_security_labels_follow_the_profile_and_pin_the_minor(stack_run: ProgramRun) -> None:
    enforce, warn, audit = EXPECTED_PSA[stack_run.stack]
    for namespace in SHIPPED_TENANTS:
        labels = named(stack_run, "Namespace", namespace)["metadata"]["labels"]
        assert (labels["pod-security.kubernetes.io/enforce"], labels["pod-security.kubernetes.io/warn"], labels["pod-security.kubernetes.io/audit"]) == (
            enforce,
            warn,
            audit,
        )
        for mode in ("enforce", "warn", "audit"):
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "v1.34"


def test_the_policy_engine_namespace_is_restricted_in_every_profile(stack_run: ProgramRun) -> None:
    labels = named(stack_run, "Namespace", KYVERNO_NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_pod_security_version_follows_the_kubernetes_minor() -> None:
    run = run_stack("dev", {"kubernetes_version_prefix": "1.35", "kubernetes_minor_upgrade": True})
    assert named(run, "Namespace", "payments")["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.35"


def test_default_service_accounts_mount_no_token(stack_run: ProgramRun) -> None:
    for namespace in managed_namespaces(stack_run):
        assert named(stack_run, "ServiceAccount", "default", namespace)["automountServiceAccountToken"] is False


def test_tenants_have_a_quota_and_a_limit_range(stack_run: ProgramRun) -> None:
    for namespace in SHIPPED_TENANTS:
        hard = named(stack_run, "ResourceQuota", "tenant-quota", namespace)["spec"]["hard"]
        assert {"requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "pods"} <= set(hard)
        (limits,) = named(stack_run, "LimitRange", "container-defaults", namespace)["spec"]["limits"]
        assert limits["type"] == "Container" and {"default", "defaultRequest", "max"} <= set(limits)


def test_the_quota_leaves_node_ports_for_the_configured_load_balancers(stack_run: ProgramRun) -> None:
    # Issue 17.3: Kubernetes counts a LoadBalancer Service's node ports, so "services.nodeports: 0"
    # refused every LoadBalancer. NodePort Services are refused at admission (disallow-node-ports).
    for namespace in SHIPPED_TENANTS:
        hard = named(stack_run, "ResourceQuota", "tenant-quota", namespace)["spec"]["hard"]
        assert (hard["services.loadbalancers"], hard["services.nodeports"]) == ("1", "4")
        assert int(hard["services.nodeports"]) >= int(hard["services.loadbalancers"])


def test_the_quota_bounds_ephemeral_storage_and_object_counts(stack_run: ProgramRun) -> None:
    # Issue 17.12: node disk and API objects were unbounded.
    for namespace in SHIPPED_TENANTS:
        hard = named(stack_run, "ResourceQuota", "tenant-quota", namespace)["spec"]["hard"]
        assert (hard["requests.ephemeral-storage"], hard["limits.ephemeral-storage"]) == ("20Gi", "100Gi")
        counts = {k: hard[k] for k in ("configmaps", "secrets", "services", "count/deployments.apps", "count/jobs.batch", "count/cronjobs.batch")}
        assert counts == {
            "configmaps": "100", "secrets": "100", "services": "20",
            "count/deployments.apps": "50", "count/jobs.batch": "100", "count/cronjobs.batch": "20",
        }  # fmt: skip
        (limits,) = named(stack_run, "LimitRange", "container-defaults", namespace)["spec"]["limits"]
        # Every container is counted against the ephemeral-storage quota and evicted alone past its limit.
        assert (limits["defaultRequest"]["ephemeral-storage"], limits["default"]["ephemeral-storage"]) == ("100Mi", "2Gi")


def test_quota_and_limits_come_from_config() -> None:
    run = run_stack(
        "dev",
        {
            "namespace_quota": {"pods": 7, "load_balancers": 2, "node_ports": 6, "secrets": 30, "requests_ephemeral_storage": "5Gi"},
            "container_defaults": {"max_memory": "1Gi", "default_limit_ephemeral_storage": "1Gi"},
        },
    )
    hard = named(run, "ResourceQuota", "tenant-quota", "payments")["spec"]["hard"]
    assert (hard["pods"], hard["services.loadbalancers"], hard["services.nodeports"], hard["secrets"]) == ("7", "2", "6", "30")
    assert hard["requests.ephemeral-storage"] == "5Gi"
    (limits,) = named(run, "LimitRange", "container-defaults", "payments")["spec"]["limits"]
    assert (limits["max"]["memory"], limits["default"]["ephemeral-storage"]) == ("1Gi", "1Gi")


def test_kube_system_is_never_touched_and_kubernetes_other_namespaces_are_only_patched(stack_run: ProgramRun) -> None:
    assert set(SYSTEM_NAMESPACES) == set(KUBERNETES_NAMESPACES) - {"kube-system"}
    in_system: dict[str, set[tuple[str, str]]] = {ns: set() for ns in SYSTEM_NAMESPACES}
    for resource in iter_kubernetes(stack_run):
        metadata = resource.inputs["metadata"]
        assert "kube-system" not in (metadata.get("namespace"), metadata["name"] if resource.inputs["kind"] == "Namespace" else None), metadata
        if resource.inputs["kind"] == "Namespace" and metadata["name"] in SYSTEM_NAMESPACES:
            # Kubernetes creates them: a create would fail, a delete would take the cluster's own namespace.
            assert resource.type == "kubernetes:core/v1:NamespacePatch", resource.type
            in_system[metadata["name"]].add((resource.type, metadata["name"]))
        elif metadata.get("namespace") in SYSTEM_NAMESPACES:
            in_system[metadata["namespace"]].add((resource.type, metadata["name"]))
    for ns, found in in_system.items():
        assert found == {
            ("kubernetes:core/v1:NamespacePatch", ns),
            ("kubernetes:core/v1:ServiceAccountPatch", "default"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", DEFAULT_DENY),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", ALLOW_DNS),
        }, ns


def test_system_namespaces_are_restricted_default_deny_with_dns_in_every_profile(stack_run: ProgramRun) -> None:
    # Issue 17.9: default, kube-public and kube-node-lease had no Pod Security labels and no default-deny.
    version = named(stack_run, "Namespace", "payments")["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"]  # the cluster's minor
    for ns in SYSTEM_NAMESPACES:
        labels = named(stack_run, "Namespace", ns)["metadata"]["labels"]
        for mode in ("enforce", "warn", "audit"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", (ns, mode)
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == version
        deny = named(stack_run, "NetworkPolicy", DEFAULT_DENY, ns)["spec"]
        assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        dns = named(stack_run, "NetworkPolicy", ALLOW_DNS, ns)["spec"]
        assert dns["policyTypes"] == ["Egress"] and dns["egress"][0]["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
        assert named(stack_run, "ServiceAccount", "default", ns)["automountServiceAccountToken"] is False


def test_every_in_cluster_object_is_named_parented_and_uses_the_cluster_provider(stack_run: ProgramRun) -> None:
    (provider,) = stack_run.of_type("pulumi:providers:kubernetes")
    components = {r.urn: r.type for r in stack_run.resources if not r.custom}
    assert IN_CLUSTER_COMPONENTS <= set(components.values())
    for r in stack_run.resources:
        if r.type.startswith("kubernetes:"):
            assert r.provider.startswith(provider.urn + "::"), r.name
            assert components.get(r.parent) in IN_CLUSTER_COMPONENTS, f"{r.name} is parented to {r.parent}"
            if "metadata" in r.inputs:
                assert r.inputs["metadata"]["name"], r.name


def test_adding_a_team_adds_its_namespaces() -> None:
    teams = [{"name": "search", "namespaces": ["search", "search-index"], "developers": {"users": ["dana@example.com"]}}]
    run = run_stack("dev", {"teams": teams, "network_policies": {}})
    assert managed_namespaces(run) == {"search", "search-index"} | DEFAULT_ADDON_NAMESPACES | set(SYSTEM_NAMESPACES)
    assert named(run, "Namespace", "search-index")["metadata"]["labels"][TEAM_LABEL] == "search"


@pytest.mark.parametrize("skip", [True, False])
def test_skip_await_annotates_every_object(skip: bool) -> None:
    run = run_stack("dev", {"skip_await": skip})
    for obj in (r.inputs for r in iter_kubernetes(run)):
        annotations = obj["metadata"].get("annotations", {})
        assert (annotations.get("pulumi.com/skipAwait") == "true") is skip, obj["metadata"]["name"]


def test_the_default_service_account_is_patched_not_created(stack_run: ProgramRun) -> None:
    # Kubernetes creates `default` with the namespace: creating it again would fail, and
    # deleting the stack must not delete it. A server-side-apply patch does neither.
    patches = stack_run.of_type("kubernetes:core/v1:ServiceAccountPatch")
    assert {p.inputs["metadata"]["namespace"] for p in patches} == managed_namespaces(stack_run)
    # The only ServiceAccounts the stack creates: prod's deploy identity (hardened_doks.rbac), one per team namespace.
    created = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in stack_run.of_type("kubernetes:core/v1:ServiceAccount")}
    teams = ("storefront", "storefront-jobs", "payments")
    expected = {(ns, "hardened-doks-deployer") for ns in teams} if stack_run.stack == "prod" else set()
    assert created == expected
