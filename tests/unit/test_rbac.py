"""RBAC, computed from the rendered Roles, ClusterRoles and bindings: the intended allow/deny table."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from hardened_doks.rbac import PERMISSIONS, READ_ONLY_ROLES, role_name
from hardened_doks.addons.trivy import TRIVY_SERVICE_ACCOUNT
from tests.unit.manifests import objects, of_kind
from tests.unit.rbac_expectations import (
    ACCESS_CHECKS,
    BREAK_GLASS_GRANTS,
    OTHER_NAMESPACE,
    OWN_NAMESPACE,
    PRIVILEGE_VERBS,
    PROD_ACCESS_CHECKS,
    PROD_SUBJECTS,
    SUBJECTS,
)
from hardened_doks.tools.offline import ProgramRun, run_stack


def is_allowed(objs: list[dict[str, Any]], subject: tuple[str, str], verb: str, group: str, resource: str, namespace: Optional[str]) -> bool:
    """The RBAC authorizer's decision, from the given objects only (no built-in roles but cluster-admin)."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o.get("rules", []) for o in objs if o["kind"] in ("Role", "ClusterRole")}
    kind, name = subject
    for binding in objs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if binding["kind"] == "RoleBinding" and binding["metadata"]["namespace"] != namespace:
            continue
        if not any(s["kind"] == kind and s["name"] == name for s in binding.get("subjects", [])):
            continue
        ref = binding["roleRef"]
        if ref["kind"] == "ClusterRole" and ref["name"] == "cluster-admin":
            return True
        key = (ref["kind"], binding["metadata"].get("namespace") if ref["kind"] == "Role" else None, ref["name"])
        for rule in roles.get(key, []):
            if group in rule.get("apiGroups", []) and resource in rule.get("resources", []) and verb in rule.get("verbs", []):
                return True
    return False


@pytest.fixture
def dev_objects(run_of) -> list[dict[str, Any]]:
    return objects(run_of("dev"))


@pytest.mark.parametrize(("role", "verb", "group", "resource", "allowed"), ACCESS_CHECKS, ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in ACCESS_CHECKS])
def test_access_table(dev_objects, role: str, verb: str, group: str, resource: str, allowed: bool) -> None:
    assert is_allowed(dev_objects, SUBJECTS[role], verb, group, resource, OWN_NAMESPACE) is allowed


@pytest.mark.parametrize("role", ["namespace-admin", "developer", "viewer"])
def test_team_roles_grant_nothing_in_another_teams_namespace(dev_objects, role: str) -> None:
    for _, verb, group, resource, _ in ACCESS_CHECKS:
        assert not is_allowed(dev_objects, SUBJECTS[role], verb, group, resource, OTHER_NAMESPACE), (role, verb, resource)


def test_auditor_reads_in_every_namespace_and_cluster_wide(dev_objects) -> None:
    for namespace in (OWN_NAMESPACE, OTHER_NAMESPACE, "kyverno", None):
        assert is_allowed(dev_objects, SUBJECTS["auditor"], "list", "", "pods", namespace)
        assert not is_allowed(dev_objects, SUBJECTS["auditor"], "get", "", "secrets", namespace)


def test_the_table_covers_every_role() -> None:
    # dev's table covers the operate roles; prod's, by subject, the read-only ones (break-glass below).
    assert {row[0] for row in ACCESS_CHECKS} | {"namespace-reader", "deployer", "break-glass"} == set(PERMISSIONS)


@pytest.fixture
def prod_objects(run_of) -> list[dict[str, Any]]:
    return objects(run_of("prod"))


@pytest.mark.parametrize(("who", "verb", "group", "resource", "allowed"), PROD_ACCESS_CHECKS, ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in PROD_ACCESS_CHECKS])
def test_prod_access_table(prod_objects, who: str, verb: str, group: str, resource: str, allowed: bool) -> None:
    assert is_allowed(prod_objects, PROD_SUBJECTS[who], verb, group, resource, OWN_NAMESPACE) is allowed


def test_prod_gives_each_team_namespace_a_deploy_identity_and_binds_break_glass_to_nobody(run_of) -> None:
    run = run_of("prod")
    accounts = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects(run) if o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "hardened-doks-deployer"}
    assert set(accounts) == {(ns, "hardened-doks-deployer") for ns in ("storefront", "storefront-jobs", "payments")}
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())
    bindings = of_kind(run, "RoleBinding") + of_kind(run, "ClusterRoleBinding")
    assert not [b for b in bindings if b["roleRef"]["name"] == role_name("break-glass")], "break-glass is bound by hand, in an incident only"
    (role,) = [r for r in of_kind(run, "ClusterRole") if r["metadata"]["name"] == role_name("break-glass")]
    for verb, group, resource in BREAK_GLASS_GRANTS:
        binding = {"kind": "RoleBinding", "metadata": {"name": "bg", "namespace": OWN_NAMESPACE}, "roleRef": {"kind": "ClusterRole", "name": role_name("break-glass")}, "subjects": [{"kind": "Group", "name": "hardened-doks-break-glass"}]}
        assert is_allowed([role, binding], ("Group", "hardened-doks-break-glass"), verb, group, resource, OWN_NAMESPACE)


def test_dev_and_staging_keep_the_operate_roles(run_of) -> None:
    for stack in ("dev", "staging"):
        names = {r["metadata"]["name"] for r in of_kind(run_of(stack), "ClusterRole")}
        assert role_name("developer") in names and role_name("deployer") not in names, stack


def test_no_wildcards_and_no_privilege_verbs(stack_run: ProgramRun) -> None:
    # CIS 5.1.3 (no wildcards) and 5.1.8 (no escalate, bind, impersonate).
    for role in of_kind(stack_run, "ClusterRole") + of_kind(stack_run, "Role"):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], (role["metadata"]["name"], rule)
            assert not set(PRIVILEGE_VERBS) & set(rule["verbs"]), (role["metadata"]["name"], rule)


def test_roles_are_generated_from_the_table(stack_run: ProgramRun) -> None:
    # The Trivy operator's own ClusterRole (hardened_doks.addons.trivy.trivy_rbac) is an add-on's, not the table's.
    generated = {r["metadata"]["name"] for r in of_kind(stack_run, "ClusterRole")} - {TRIVY_SERVICE_ACCOUNT}
    # prod (read-only human access) adds namespace-reader, deployer and break-glass.
    assert generated == {role_name(role) for role in PERMISSIONS if stack_run.stack == "prod" or role not in READ_ONLY_ROLES}


def test_no_binding_to_cluster_admin_by_default(stack_run: ProgramRun) -> None:
    for binding in of_kind(stack_run, "ClusterRoleBinding") + of_kind(stack_run, "RoleBinding"):
        assert binding["roleRef"]["name"] != "cluster-admin", binding["metadata"]
        for subject in binding["subjects"]:
            assert not subject["name"].startswith("system:")


BREAK_GLASS_TEAM = {"name": "platform", "namespaces": [], "admins": {"groups": ["platform-oncall"]}, "cluster_admin": True}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_break_glass_binds_exactly_one_group_to_cluster_admin(stack: str) -> None:
    rbac = {"break_glass": True, "break_glass_prod_acknowledged": stack == "prod"}
    run = run_stack(stack, {"teams": [BREAK_GLASS_TEAM], "rbac": rbac, "network_policies": {}})
    (binding,) = [b for b in of_kind(run, "ClusterRoleBinding") if b["roleRef"]["name"] == "cluster-admin"]
    assert binding["subjects"] == [{"kind": "Group", "name": "platform-oncall", "apiGroup": "rbac.authorization.k8s.io"}]
    assert is_allowed(objects(run), ("Group", "platform-oncall"), "delete", "", "namespaces", None)


def test_bindings_skip_roles_without_subjects(run_of) -> None:
    # payments has no viewers in the shipped stacks: no empty RoleBinding is created.
    names = {b["metadata"]["name"] for b in of_kind(run_of("dev"), "RoleBinding", "payments")}
    assert names == {"hardened-doks:payments-namespace-admin", "hardened-doks:payments-developer"}
