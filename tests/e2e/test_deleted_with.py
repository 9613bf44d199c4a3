"""Objects deleted with their namespace, live (components/kube.py ``deleted_with``; docs/performance.md,
"Destroy: objects deleted with their namespace").

Every namespaced object in a namespace the stack creates names that Namespace in ``deleted_with``:
when the engine deletes the namespace in the same run, it leaves the objects in it to the namespace
controller instead of deleting them one by one. Here, on the deployed stack:

- an object removed **alone** from the config (a team's admins, an allow rule) is still deleted by
  the engine while its namespace stays, and comes back when the config does;
- a **namespace** removed from the config (after `pulumi state unprotect`: namespaces are protected)
  goes with everything in it, and none of its resources stays in the state.

Both leave the stack as found (``no_drift``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Project, also, finalize_emptied_namespaces, stack_config, state_resources, while_up
from tests.e2e.controlplane import LocalControlPlane

pytestmark = pytest.mark.usefixtures("no_drift")

TEAMS_KEY, POLICIES_KEY = "hardened-doks:teams", "hardened-doks:network_policies"
#: The storefront team's admins' bindings, one in each of its namespaces.
ADMIN_BINDINGS = tuple(
    f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/hardened-doks:storefront-namespace-reader" for ns in ("storefront", "storefront-jobs")
)
ALLOW_RULE = "/apis/networking.k8s.io/v1/namespaces/payments/networkpolicies/allow-storefront-to-payments"
GONE = "gone-a"


def status(plane: LocalControlPlane, path: str) -> int:
    return plane.get(path).status_code


def test_a_binding_and_a_rule_removed_alone_are_deleted_while_their_namespaces_stay(project: Project, control_plane: LocalControlPlane) -> None:
    removed = (*ADMIN_BINDINGS, ALLOW_RULE)
    assert [status(control_plane, path) for path in removed] == [200] * len(removed), "the deployed stack lacks an object this test removes"

    def without(config: dict[str, Any]) -> None:
        for team in config[TEAMS_KEY]:
            if team["name"] == "storefront":
                team.pop("admins")
        config[POLICIES_KEY]["allow"] = [rule for rule in config[POLICIES_KEY]["allow"] if rule["name"] != "storefront-to-payments"]

    try:
        with stack_config(project, without):
            project.up(watch=while_up(control_plane), timeout=600)
            # The engine deleted them itself: their namespaces were not deleted in this run.
            assert [status(control_plane, path) for path in removed] == [404] * len(removed)
            for namespace in ("storefront", "storefront-jobs", "payments"):
                live = control_plane.get(f"/api/v1/namespaces/{namespace}").json()
                assert live["status"]["phase"] == "Active", namespace
    finally:
        project.up(watch=while_up(control_plane), timeout=600)
    assert [status(control_plane, path) for path in removed] == [200] * len(removed), "the restored config did not bring them back"


def test_a_namespace_removed_from_the_config_goes_with_everything_in_it(project: Project, control_plane: LocalControlPlane) -> None:
    def with_team(config: dict[str, Any]) -> None:
        config[TEAMS_KEY] = [*config[TEAMS_KEY], {"name": "gone", "namespaces": [GONE], "developers": {"groups": ["gone-developers"]}}]

    finalize = finalize_emptied_namespaces(control_plane, {GONE})
    try:
        with stack_config(project, with_team):
            project.up(watch=while_up(control_plane), timeout=600)
        resources = state_resources(project)
        namespace_urn = next(r["urn"] for r in resources if r["type"] == "kubernetes:core/v1:Namespace" and r["outputs"]["metadata"]["name"] == GONE)
        inside = [r for r in resources if (r.get("outputs") or {}).get("metadata", {}).get("namespace") == GONE]
        assert inside and all(r.get("deletedWith") == namespace_urn for r in inside), [r["urn"] for r in inside if r.get("deletedWith") != namespace_urn]
        bindings = control_plane.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{GONE}/rolebindings").json()["items"]
        policies = control_plane.get(f"/apis/networking.k8s.io/v1/namespaces/{GONE}/networkpolicies").json()["items"]
        assert bindings and policies
    finally:
        # The stack file is the original again: the team is gone from it. Unprotected, its namespace is deleted.
        urns = [r["urn"] for r in state_resources(project) if r["type"] == "kubernetes:core/v1:Namespace" and r["outputs"]["metadata"]["name"] == GONE]
        if urns:
            project.pulumi("state", "unprotect", *urns, "--yes", timeout=120)
        project.up(watch=also(while_up(control_plane), finalize), timeout=600)
    control_plane.wait_for(lambda: finalize() is None and status(control_plane, f"/api/v1/namespaces/{GONE}") == 404, f"namespace {GONE} deleted", timeout=120)
    left = [r["urn"] for r in state_resources(project) if GONE in r["urn"] or (r.get("outputs") or {}).get("metadata", {}).get("namespace") == GONE]
    assert left == [], left
