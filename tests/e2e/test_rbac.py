"""RBAC, live: every (verb, resource) of the permissions table, and every decision of the
independent expectations table, asked of the API server with SubjectAccessReviews."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from components.rbac import PERMISSIONS, TEAM_ROLES
from tests.e2e.controlplane import LocalControlPlane
from tests.unit.rbac_expectations import ACCESS_CHECKS

USER = "e2e-user"


def subject_group(config: Any, role: str) -> tuple[str, str]:
    """A group holding ``role`` in the e2e stack, and the namespace it holds it in."""
    if role == "auditor":
        return config.rbac.auditors.groups[0], ""
    team = config.teams[0]
    return getattr(team, TEAM_ROLES[role]).groups[0], team.namespaces[0]


def other_team_namespace(config: Any) -> str:
    return config.teams[1].namespaces[0]


def can(control_plane: LocalControlPlane, group: str, namespace: str, verb: str, api_group: str, resource: str) -> bool:
    resource, _, subresource = resource.partition("/")
    attributes = {"verb": verb, "group": api_group, "resource": resource, "namespace": namespace}
    if subresource:
        attributes["subresource"] = subresource
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": USER, "groups": [group, "system:authenticated"], "resourceAttributes": attributes},
    }
    response = control_plane.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
    assert response.status_code == 201, response.text[:300]
    return bool(response.json()["status"].get("allowed"))


def table_pairs(role: str) -> list[tuple[str, str, str]]:
    return [(verb, group, resource) for group, resources, verbs in PERMISSIONS[role] for resource in resources for verb in verbs]


@pytest.mark.parametrize("role", sorted(PERMISSIONS))
def test_every_grant_of_the_table_is_live(control_plane: LocalControlPlane, e2e_config: Any, role: str, live_checks: Counter[str]) -> None:
    group, namespace = subject_group(e2e_config, role)
    denied = []
    for verb, api_group, resource in table_pairs(role):
        live_checks["access reviews"] += 1
        if not can(control_plane, group, namespace, verb, api_group, resource):
            denied.append((verb, api_group, resource))
    assert not denied, f"{role} ({group}) lacks what the table grants: {denied}"


@pytest.mark.parametrize("role", sorted(TEAM_ROLES))
def test_team_roles_grant_nothing_in_another_teams_namespace(
    control_plane: LocalControlPlane, e2e_config: Any, role: str, live_checks: Counter[str]
) -> None:
    group, _ = subject_group(e2e_config, role)
    elsewhere = other_team_namespace(e2e_config)
    granted = []
    for verb, api_group, resource in table_pairs(role):
        live_checks["access reviews"] += 1
        if can(control_plane, group, elsewhere, verb, api_group, resource):
            granted.append((verb, api_group, resource))
    assert not granted, f"{role} reaches into {elsewhere}: {granted}"


def test_expectations_table_holds_live(control_plane: LocalControlPlane, e2e_config: Any, live_checks: Counter[str]) -> None:
    wrong = []
    for role, verb, api_group, resource, allowed in ACCESS_CHECKS:
        group, namespace = subject_group(e2e_config, role)
        live_checks["access reviews"] += 1
        if can(control_plane, group, namespace, verb, api_group, resource) != allowed:
            wrong.append((role, verb, api_group, resource, "should be allowed" if allowed else "should be denied"))
    assert not wrong, wrong


def test_no_role_reaches_kube_system_or_cluster_bindings(control_plane: LocalControlPlane, e2e_config: Any, live_checks: Counter[str]) -> None:
    for role in PERMISSIONS:
        group, namespace = subject_group(e2e_config, role)
        for verb, api_group, resource in [("create", "rbac.authorization.k8s.io", "clusterrolebindings"), ("get", "", "secrets"), ("delete", "", "namespaces")]:
            live_checks["access reviews"] += 1
            assert not can(control_plane, group, "kube-system", verb, api_group, resource), (role, verb, resource)
