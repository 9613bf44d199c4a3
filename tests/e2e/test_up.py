"""`pulumi up` of the whole in-cluster layer, checked on the live API server; then a preview
that must propose no change."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hardened_doks.admission import SIGNATURE_POLICY
from hardened_doks.namespaces import ALLOW_DNS, DEFAULT_DENY
from hardened_doks.rbac import PERMISSIONS, role_name
from hardened_doks.addons import ADDONS, POD_SECURITY_EXEMPTIONS
from tests.e2e.conftest import Project
from tests.e2e.controlplane import LocalControlPlane


def test_every_team_namespace_is_managed(managed_namespaces: dict[str, Any], e2e_config: Any) -> None:
    team_namespaces = {ns for team in e2e_config.teams for ns in team.namespaces}
    assert team_namespaces, "the e2e stack must declare teams"
    assert team_namespaces <= set(managed_namespaces)
    assert "kyverno" in managed_namespaces


def test_namespaces_carry_pinned_pod_security_labels(managed_namespaces: dict[str, Any], e2e_config: Any, live_checks: Counter[str]) -> None:
    version = f"v{e2e_config.kubernetes_version_prefix}"
    for name, namespace in managed_namespaces.items():
        labels = namespace["metadata"]["labels"]
        live_checks["namespace labels"] += 1
        for mode in ("enforce", "warn", "audit"):
            # Restricted everywhere but the documented exemption's enforce level (Falco's node agent).
            expected = POD_SECURITY_EXEMPTIONS.get(name, ("restricted",))[0] if mode == "enforce" else "restricted"
            assert labels[f"pod-security.kubernetes.io/{mode}"] == expected, (name, mode)
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == version, (name, mode)


def test_every_managed_namespace_denies_by_default_and_allows_dns(
    managed_namespaces: dict[str, Any], control_plane: LocalControlPlane, live_checks: Counter[str]
) -> None:
    for name in managed_namespaces:
        policies = {
            p["metadata"]["name"]: p["spec"]
            for p in control_plane.get(f"/apis/networking.k8s.io/v1/namespaces/{name}/networkpolicies").json()["items"]
        }
        live_checks["network policies"] += 1
        deny = policies[DEFAULT_DENY]
        assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"], name
        assert not deny.get("ingress") and not deny.get("egress"), name
        dns_ports = {(p["protocol"], p["port"]) for rule in policies[ALLOW_DNS]["egress"] for p in rule["ports"]}
        assert dns_ports == {("UDP", 53), ("TCP", 53)}, name


def test_default_service_accounts_mount_no_token(managed_namespaces: dict[str, Any], control_plane: LocalControlPlane) -> None:
    for name in managed_namespaces:
        account = control_plane.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").json()
        assert account["automountServiceAccountToken"] is False, name


def test_roles_from_the_permissions_table_exist_without_wildcards(control_plane: LocalControlPlane) -> None:
    for role in PERMISSIONS:
        live = control_plane.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{role_name(role)}")
        assert live.status_code == 200, role
        for rule in live.json()["rules"]:
            assert "*" not in rule.get("verbs", []) + rule.get("resources", []) + rule.get("apiGroups", []), role


def test_kyverno_release_crds_and_policies_are_installed(project: Project, control_plane: LocalControlPlane) -> None:
    crd = control_plane.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clusterpolicies.kyverno.io")
    assert crd.status_code == 200, "the Helm release from the local chart installs the CRDs"
    # Kyverno keeps signature verification; the other rules are the API server's (test_admission).
    policies = {p["metadata"]["name"]: p for p in control_plane.get("/apis/kyverno.io/v1/clusterpolicies").json()["items"]}
    assert set(policies) == {SIGNATURE_POLICY}
    for rule in policies[SIGNATURE_POLICY]["spec"]["rules"]:
        actions = [v["failureAction"] for v in rule["verifyImages"]]
        assert actions and set(actions) == {"Enforce"}, f"prod profile enforces: {rule['name']}"
    deployments = control_plane.get("/apis/apps/v1/namespaces/kyverno/deployments").json()["items"]
    assert any(d["metadata"]["name"] == "kyverno-admission-controller" for d in deployments)
    helm_secrets = control_plane.get("/api/v1/namespaces/kyverno/secrets", params={"labelSelector": "owner=helm"}).json()["items"]
    assert any(s["metadata"]["labels"].get("status") == "deployed" for s in helm_secrets), "the Helm release is recorded as deployed"


def test_every_helm_release_of_the_stack_is_deployed(project: Project, control_plane: LocalControlPlane, live_checks: Counter[str]) -> None:
    state = json.loads(project.pulumi("stack", "export").stdout)["deployment"]["resources"]
    releases = {(r["outputs"]["status"]["namespace"], r["outputs"]["status"]["name"]) for r in state if r["type"] == "kubernetes:helm.sh/v3:Release"}
    # Kyverno, Kubescape, the Trivy operator, the Snyk monitor, Falco and falcosidekick, from their local charts.
    assert releases == {(addon.namespace, addon.release) for addon in ADDONS if addon.release}
    deployed = control_plane.get("/api/v1/secrets", params={"labelSelector": "owner=helm,status=deployed"}).json()["items"]
    live = {(s["metadata"]["namespace"], s["metadata"]["labels"]["name"]) for s in deployed}
    live_checks["helm release checks"] += len(releases)
    assert releases <= live, releases - live


def test_second_preview_shows_no_changes(project: Project) -> None:
    preview = project.pulumi("preview", "--expect-no-changes", "--diff")
    assert "error" not in preview.stderr.lower(), preview.stderr
