"""RBAC, live: every (verb, resource) of the permissions table the stack binds, and every decision
of the independent expectations table, asked of the API server with SubjectAccessReviews. The e2e
stack is based on prod, so its people have read-only access (rbac.human_access): the prod table."""

from __future__ import annotations

from collections import Counter
from typing import Any, Optional

from hardened_doks.rbac import DEPLOYER_SERVICE_ACCOUNT, PERMISSIONS, READ_ONLY_TEAM_ROLES, TEAM_ROLES, role_name
from tests.e2e.controlplane import LocalControlPlane
from tests.unit.rbac_expectations import ACCESS_CHECKS, BREAK_GLASS_GRANTS, PROD_ACCESS_CHECKS

USER = "e2e-user"
#: (kind, name) of a subject: a Group, or a ServiceAccount in the namespace asked about.
Subject = tuple[str, str]


def team_roles(config: Any) -> dict[str, str]:
    return READ_ONLY_TEAM_ROLES if config.rbac.human_access == "read-only" else TEAM_ROLES


def subject_of(config: Any, role: str) -> Optional[tuple[Subject, str]]:
    """A subject holding ``role`` in the e2e stack and the namespace it holds it in (None: bound to nobody)."""
    if role == "auditor":
        return ("Group", config.rbac.auditors.groups[0]), ""
    team = config.teams[0]
    field = team_roles(config).get(role)
    if field is None:
        return None
    if role == "deployer":
        return ("ServiceAccount", DEPLOYER_SERVICE_ACCOUNT), team.namespaces[0]
    return ("Group", getattr(team, field).groups[0]), team.namespaces[0]


def bound_roles(config: Any) -> list[str]:
    return sorted(role for role in PERMISSIONS if subject_of(config, role) is not None)


def other_team_namespace(config: Any) -> str:
    return config.teams[1].namespaces[0]


def can(
    control_plane: LocalControlPlane, subject: Subject, namespace: str, verb: str, api_group: str, resource: str, home: Optional[str] = None
) -> bool:
    """The API server's decision for ``subject`` in ``namespace`` (a ServiceAccount lives in ``home``, by default that namespace)."""
    kind, name = subject
    home = home or namespace
    resource, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": api_group, "resource": resource, "namespace": namespace}
    if subresource:
        attributes["subresource"] = subresource
    if kind == "ServiceAccount":
        who: dict[str, Any] = {"user": f"system:serviceaccount:{home}:{name}", "groups": ["system:serviceaccounts", f"system:serviceaccounts:{home}", "system:authenticated"]}
    else:
        who = {"user": USER, "groups": [name, "system:authenticated"]}
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {**who, "resourceAttributes": attributes}}
    response = control_plane.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
    assert response.status_code == 201, response.text[:300]
    return bool(response.json()["status"].get("allowed"))


def table_pairs(role: str) -> list[tuple[str, str, str]]:
    return [(verb, group, resource) for group, resources, verbs in PERMISSIONS[role] for resource in resources for verb in verbs]


def test_every_grant_of_the_table_is_live(control_plane: LocalControlPlane, e2e_config: Any, live_checks: Counter[str]) -> None:
    # Bound: the auditors and the team roles of the stack's human access (break-glass: by hand only).
    assert bound_roles(e2e_config) == sorted({"auditor", *team_roles(e2e_config)})
    denied = []
    for role in bound_roles(e2e_config):
        held = subject_of(e2e_config, role)
        assert held is not None
        subject, namespace = held
        for verb, api_group, resource in table_pairs(role):
            live_checks["access reviews"] += 1
            if not can(control_plane, subject, namespace, verb, api_group, resource):
                denied.append((role, verb, api_group, resource))
    assert not denied, f"roles lack what the table grants: {denied}"


def test_team_roles_grant_nothing_in_another_teams_namespace(control_plane: LocalControlPlane, e2e_config: Any, live_checks: Counter[str]) -> None:
    elsewhere = other_team_namespace(e2e_config)
    home = e2e_config.teams[0].namespaces[0]
    granted = []
    for role in team_roles(e2e_config):
        held = subject_of(e2e_config, role)
        assert held is not None
        subject, _ = held
        for verb, api_group, resource in table_pairs(role):
            live_checks["access reviews"] += 1
            # The deploy identity is the ServiceAccount of the team's own namespace, asking for another's.
            if can(control_plane, subject, elsewhere, verb, api_group, resource, home=home):
                granted.append((role, verb, api_group, resource))
    assert not granted, f"team roles reach into {elsewhere}: {granted}"


def _prod_subject(config: Any, who: str) -> tuple[Subject, str]:
    team = config.teams[0]
    if who == "auditor":
        return ("Group", config.rbac.auditors.groups[0]), team.namespaces[0]
    if who == "deployer":
        return ("ServiceAccount", DEPLOYER_SERVICE_ACCOUNT), team.namespaces[0]
    return ("Group", getattr(team, who).groups[0]), team.namespaces[0]


def test_expectations_table_holds_live(control_plane: LocalControlPlane, e2e_config: Any, live_checks: Counter[str]) -> None:
    """The prod table in read-only mode (the e2e stack's), the dev table otherwise."""
    read_only = e2e_config.rbac.human_access == "read-only"
    wrong = []
    for role, verb, api_group, resource, allowed in PROD_ACCESS_CHECKS if read_only else ACCESS_CHECKS:
        held = _prod_subject(e2e_config, role) if read_only else subject_of(e2e_config, role)
        assert held is not None, role
        subject, namespace = held
        live_checks["access reviews"] += 1
        if can(control_plane, subject, namespace, verb, api_group, resource) != allowed:
            wrong.append((role, verb, api_group, resource, "should be allowed" if allowed else "should be denied"))
    assert not wrong, wrong


def test_break_glass_grants_exec_only_while_bound_by_hand(control_plane: LocalControlPlane, e2e_config: Any, live_checks: Counter[str]) -> None:
    assert e2e_config.rbac.human_access == "read-only", "the e2e stack is prod's, whose floor is read-only human access"
    namespace = e2e_config.teams[0].namespaces[0]
    group = ("Group", e2e_config.rbac.break_glass_group)
    live_checks["access reviews"] += 2 * len(BREAK_GLASS_GRANTS)
    assert not any(can(control_plane, group, namespace, *grant) for grant in BREAK_GLASS_GRANTS), "break-glass is bound to nobody"
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "e2e-incident", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name("break-glass")},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group[1]}],
    }  # fmt: skip
    path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings"
    assert control_plane.request("POST", path, json=binding).status_code == 201
    try:
        assert all(can(control_plane, group, namespace, *grant) for grant in BREAK_GLASS_GRANTS)
    finally:
        # Leave the cluster as found (the drift report would list the binding while it exists).
        assert control_plane.request("DELETE", f"{path}/e2e-incident").status_code == 200


def test_no_role_reaches_kube_system_or_cluster_bindings(control_plane: LocalControlPlane, e2e_config: Any, live_checks: Counter[str]) -> None:
    for role in bound_roles(e2e_config):
        held = subject_of(e2e_config, role)
        assert held is not None
        subject, _ = held
        for verb, api_group, resource in [("create", "rbac.authorization.k8s.io", "clusterrolebindings"), ("get", "", "secrets"), ("delete", "", "namespaces")]:
            live_checks["access reviews"] += 1
            assert not can(control_plane, subject, "kube-system", verb, api_group, resource, home=e2e_config.teams[0].namespaces[0]), (role, verb, resource)
