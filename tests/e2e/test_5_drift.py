"""Drift, live: changes made outside Pulumi are reported by the drift command (exit 1, the
resource named); `pulumi up` (and, for what it cannot see, the remedy the report names)
restores the declared state; the drift command then exits 0.

Runs last (it changes the cluster) and leaves the declared state behind.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from typing import Any

import pytest

from components.namespaces import DEFAULT_DENY
from components.rbac import role_name
from tests.e2e.conftest import STACK, Project
from tests.e2e.controlplane import LocalControlPlane

NAMESPACE = "storefront"
LABEL = "pod-security.kubernetes.io/enforce"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
EXTRA_BINDING = "e2e-extra-admin"


def drift(project: Project) -> tuple[int, dict[str, Any]]:
    completed = project.tool("tools.drift", "--stack", STACK, "--json", check=False)
    assert completed.returncode in (0, 1), f"drift failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    report = json.loads(completed.stdout)
    return completed.returncode, report["stacks"][0]


def find(report: dict[str, Any], kind: str, type_suffix: str, name_part: str) -> dict[str, Any]:
    for resource in report["resources"]:
        if resource["kind"] == kind and resource["type"].endswith(type_suffix) and name_part in resource["name"]:
            return resource
    raise AssertionError(f"no {kind} {type_suffix} named like {name_part!r} in {json.dumps(report['resources'], indent=1)[:3000]}")


def managed_role_binding(control_plane: LocalControlPlane) -> dict[str, Any]:
    bindings = control_plane.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings").json()["items"]
    return next(b for b in bindings if b["roleRef"]["name"] == role_name("developer"))


@pytest.fixture(scope="module")
def clean_start(project: Project) -> None:
    code, report = drift(project)
    assert code == 0, report


def test_changes_outside_pulumi_are_reported_and_up_restores_them(
    clean_start: None, project: Project, control_plane: LocalControlPlane, live_checks: Counter[str]
) -> None:
    # 1. a NetworkPolicy deleted
    deleted = control_plane.request("DELETE", f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/{DEFAULT_DENY}")
    assert deleted.status_code == 200, deleted.text
    # 2. a subject added to a managed RoleBinding
    binding = managed_role_binding(control_plane)
    subjects = binding["subjects"] + [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}]
    patched = control_plane.request(
        "PATCH", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings/{binding['metadata']['name']}",
        json={"subjects": subjects}, headers=MERGE_PATCH,
    )
    assert patched.status_code == 200, patched.text
    # 3. the Pod Security label removed
    unlabelled = control_plane.request("PATCH", f"/api/v1/namespaces/{NAMESPACE}", json={"metadata": {"labels": {LABEL: None}}}, headers=MERGE_PATCH)
    assert unlabelled.status_code == 200 and LABEL not in unlabelled.json()["metadata"]["labels"]

    code, report = drift(project)
    assert code == 1 and report["status"] == "drift"
    find(report, "deleted", ":NetworkPolicy", DEFAULT_DENY)
    # Server-side apply hides this one from the plan (kubectl-style edits take over the
    # atomic subjects list); the drift command finds it on the cluster and names the remedy.
    changed_binding = find(report, "changed", ":RoleBinding", "storefront-developer")
    assert [p["path"] for p in changed_binding["properties"]] == ["subjects"], changed_binding
    assert "mallory" in json.dumps(changed_binding["properties"][0]["actual"])
    assert changed_binding["remedy"].startswith(f"pulumi up --stack {STACK} --replace ")
    namespace = find(report, "changed", ":Namespace", NAMESPACE)
    assert any(LABEL in p["path"] for p in namespace["properties"]), namespace
    live_checks["drift scenarios"] += 3

    assert find(report, "deleted", ":NetworkPolicy", DEFAULT_DENY)["remedy"] == f"pulumi up --refresh --stack {STACK}"
    project.up("--refresh")
    assert control_plane.get(f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/{DEFAULT_DENY}").status_code == 200
    project.run(*shlex.split(changed_binding["remedy"]), "--yes", "--skip-preview", "--non-interactive")
    assert managed_role_binding(control_plane)["subjects"] == binding["subjects"]
    assert control_plane.get(f"/api/v1/namespaces/{NAMESPACE}").json()["metadata"]["labels"][LABEL] == "restricted"
    code, report = drift(project)
    assert code == 0, report


def test_a_role_binding_created_outside_pulumi_is_reported(
    clean_start: None, project: Project, control_plane: LocalControlPlane, live_checks: Counter[str]
) -> None:
    extra = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": EXTRA_BINDING, "namespace": NAMESPACE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name("namespace-admin")},
        "subjects": [{"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}],
    }
    created = control_plane.request("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings", json=extra)
    assert created.status_code == 201, created.text
    try:
        code, report = drift(project)
        assert code == 1
        find(report, "created", ":RoleBinding", f"{NAMESPACE}/{EXTRA_BINDING}")
        live_checks["drift scenarios"] += 1
    finally:
        # Pulumi does not delete what it does not manage: removing it is the remediation.
        control_plane.request("DELETE", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings/{EXTRA_BINDING}")
    code, report = drift(project)
    assert code == 0, report
