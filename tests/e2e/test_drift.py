"""Drift, live: the stack is tampered with the way a hurried admin or an intruder does it (merge
patches and kubectl-style server-side applies, each under its own field manager), across
namespaces, network policies, RBAC, admission policies, quotas, limits and the add-on
namespaces. Each change must be reported by the drift command (exit 1, the object and field
named, the policies it breaks beside it), healed by `pulumi up --refresh` or by the exact remedy
the report names (run here as printed), and the drift command must exit 0 afterwards.

Every test starts from the declared state and leaves it behind, whatever happens: the objects a
test touches are saved first and put back at teardown if anything is left different (so the
order of test files does not matter).
"""

from __future__ import annotations

import copy
import json
import shlex
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from hardened_doks.addons.notifier import NOTIFIER
from hardened_doks.addons.kyverno import KYVERNO_NAMESPACE
from hardened_doks.addons.notifier import ALERTS_NAMESPACE
from hardened_doks.namespaces import DEFAULT_DENY
from hardened_doks.rbac import role_name
from tests.e2e.conftest import STACK, Project, drift
from tests.e2e.controlplane import LocalControlPlane
from hardened_doks.tools import drift as tools_drift
from hardened_doks.tools.object_diff import differences

TENANT = "storefront"
OTHER_TENANT = "payments"
SCANNER_NAMESPACE = "trivy-system"
PSA = "pod-security.kubernetes.io"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
APPLY_PATCH = {"Content-Type": "application/apply-patch+yaml"}
MALLORY = {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}
RBAC = "/apis/rbac.authorization.k8s.io/v1"
NETPOL = "/apis/networking.k8s.io/v1"
KYVERNO = "/apis/kyverno.io/v1/clusterpolicies"
VAP = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
CILIUM = "/apis/cilium.io/v2"
UP = f"pulumi up --refresh --stack {STACK}"


def as_text(report: dict[str, Any]) -> str:
    """The JSON report as the command prints it without --json (for the test log)."""
    rows = [tools_drift.ResourceDrift(**{**r, "properties": [tools_drift.PropertyDrift(**p) for p in r["properties"]]}) for r in report["resources"]]
    stack = tools_drift.StackDrift(**{**{k: v for k, v in report.items() if k != "exit_code"}, "resources": rows})
    return tools_drift.human([stack])


def row(report: dict[str, Any], type_suffix: str, name_part: str, kind: str = "changed") -> dict[str, Any]:
    for resource in report["resources"]:
        if resource["kind"] == kind and resource["type"].endswith(type_suffix) and name_part in resource["name"]:
            return resource
    raise AssertionError(f"no {kind} {type_suffix} named like {name_part!r} in:\n{json.dumps(report['resources'], indent=1)[:6000]}")


def run_remedy(project: Project, remedy: str) -> None:
    """The remedy exactly as the report prints it (`a && b` runs a, then b)."""
    for command in remedy.split(" && "):
        args = shlex.split(command)
        if args[0] == "pulumi" and args[1] == "up":
            args += ["--yes", "--skip-preview", "--non-interactive", "--suppress-progress"]
        project.run(*args)


@dataclass
class Cluster:
    """API access for the tampering, remembering every object touched so teardown can put it back."""

    plane: LocalControlPlane
    saved: dict[str, Optional[dict[str, Any]]] = field(default_factory=dict)  # path → object before (None: absent)

    def get(self, path: str) -> dict[str, Any]:
        response = self.plane.get(path)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def remember(self, path: str) -> None:
        if path not in self.saved:
            response = self.plane.get(path)
            self.saved[path] = response.json() if response.status_code == 200 else None

    def merge(self, path: str, patch: dict[str, Any], manager: str) -> dict[str, Any]:
        self.remember(path)
        response = self.plane.request("PATCH", path, params={"fieldManager": manager}, json=patch, headers=MERGE_PATCH)
        assert response.status_code == 200, f"merge patch {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def apply(self, path: str, obj: dict[str, Any], manager: str) -> dict[str, Any]:
        """`kubectl apply --server-side --force-conflicts --field-manager <manager>`."""
        self.remember(path)
        response = self.plane.request("PATCH", path, params={"fieldManager": manager, "force": "true"}, data=json.dumps(obj), headers=APPLY_PATCH)
        assert response.status_code == 200, f"apply {path}: {response.status_code} {response.text[:500]}"
        return response.json()

    def delete(self, path: str) -> None:
        self.remember(path)
        response = self.plane.request("DELETE", path)
        assert response.status_code == 200, f"DELETE {path}: {response.status_code} {response.text[:300]}"

    def create(self, collection: str, obj: dict[str, Any]) -> str:
        path = f"{collection}/{obj['metadata']['name']}"
        self.remember(path)
        response = self.plane.request("POST", collection, json=obj)
        assert response.status_code == 201, f"POST {collection}: {response.status_code} {response.text[:300]}"
        return path

    def restore(self) -> list[str]:
        """Put back every touched object that still differs from what it was; returns their paths."""
        restored = []
        for path, before in self.saved.items():
            now = self.plane.get(path)
            if before is None:
                if now.status_code == 200:
                    self.plane.request("DELETE", path)
                    restored.append(path)
                continue
            clean = {k: v for k, v in before.items() if k != "status"}
            clean["metadata"] = {k: v for k, v in before["metadata"].items() if k not in ("resourceVersion", "managedFields", "uid", "creationTimestamp")}
            if now.status_code == 404:
                self.plane.request("POST", path.rsplit("/", 1)[0], json=clean)
                restored.append(path)
            elif differences(clean, now.json()):
                self.plane.request("PUT", path, params={"fieldManager": "e2e-restore"}, json={**clean, "metadata": {**clean["metadata"], "resourceVersion": now.json()["metadata"]["resourceVersion"]}})
                restored.append(path)
        return restored


@pytest.fixture(scope="module")
def clean_start(no_drift: None) -> None:
    """The declared stack before these tests and after them (tests/e2e/conftest.py no_drift)."""


@pytest.fixture
def cluster(clean_start: None, project: Project, control_plane: LocalControlPlane) -> Iterator[Cluster]:
    tampered = Cluster(control_plane)
    yield tampered
    restored = tampered.restore()
    if restored:  # the test failed half-way: leave the declared state behind for the next one
        project.up("--refresh")
        pytest.fail(f"the test left objects changed; restored {restored}", pytrace=False)


def binding_path(namespace: str, role: str, cluster: Cluster) -> str:
    items = cluster.get(f"{RBAC}/namespaces/{namespace}/rolebindings")["items"]
    name = next(b["metadata"]["name"] for b in items if b["roleRef"]["name"] == role_name(role))
    return f"{RBAC}/namespaces/{namespace}/rolebindings/{name}"


@dataclass
class Expect:
    """A drifted row: its type, a part of its name, a part of each property path that must be named."""

    type_suffix: str
    name_part: str
    paths: tuple[str, ...]
    kind: str = "changed"
    policy: str = ""  # a policy the drift must be reported to break


def check_reported(report: dict[str, Any], expected: list[Expect]) -> list[dict[str, Any]]:
    rows = []
    for want in expected:
        found = row(report, want.type_suffix, want.name_part, want.kind)
        for part in want.paths:
            assert any(part in p["path"] for p in found["properties"]), (part, found)
        if want.policy:
            assert any(p.startswith(want.policy + ":") for p in found["policies"] + report["policies"]), (want.policy, found, report["policies"])
        assert "--replace" not in found["remedy"], found  # never a delete-and-recreate
        rows.append(found)
    return rows


def test_changed_and_deleted_fields_are_restored_by_up_refresh(
    cluster: Cluster, project: Project, live_checks: Counter[str]
) -> None:
    namespace = f"/api/v1/namespaces/{TENANT}"
    service_account = f"/api/v1/namespaces/{TENANT}/serviceaccounts/default"
    signatures = f"{KYVERNO}/verify-image-signatures"
    latest = f"{VAP}/disallow-latest-tag"
    quota = f"/api/v1/namespaces/{TENANT}/resourcequotas/tenant-quota"
    other_quota = f"/api/v1/namespaces/{OTHER_TENANT}/resourcequotas/tenant-quota"
    limits = f"/api/v1/namespaces/{TENANT}-jobs/limitranges/container-defaults"
    scanner_namespace = f"/api/v1/namespaces/{SCANNER_NAMESPACE}"
    other_namespace = f"/api/v1/namespaces/{OTHER_TENANT}"
    viewer = binding_path(TENANT, "viewer", cluster)
    declared = {path: cluster.get(path) for path in (namespace, service_account, signatures, latest, quota, other_quota, limits, scanner_namespace, other_namespace, viewer)}

    # the issue's table: Pod Security switched off, a token mounted into every pod, Kyverno set
    # to Audit, the quota deleted (kubectl label --overwrite / patch / edit: merge patches)
    cluster.merge(namespace, {"metadata": {"labels": {f"{PSA}/enforce": "privileged"}}}, "kubectl-label")
    cluster.merge(service_account, {"automountServiceAccountToken": True}, "kubectl-patch")
    rules = copy.deepcopy(declared[signatures]["spec"]["rules"])
    for rule in rules:
        for verify in rule["verifyImages"]:
            verify["failureAction"] = "Audit"
    cluster.merge(signatures, {"spec": {"rules": rules}}, "kubectl-edit")
    cluster.delete(quota)
    # more: the scanner namespace's Pod Security warning removed, a tenant namespace unmarked
    # (the out-of-band scan no longer sees it as managed), a policy's webhook set to fail open,
    # quota and limits raised, a binding's subjects replaced by a server-side apply; the API
    # server's tag policy set to fail open
    cluster.merge(scanner_namespace, {"metadata": {"labels": {f"{PSA}/warn": None}}}, "kubectl-label")
    cluster.merge(other_namespace, {"metadata": {"labels": {"hardened-doks.io/managed-namespace": None}}}, "kubectl-label")
    cluster.merge(latest, {"spec": {"failurePolicy": "Ignore"}}, "kubectl-patch")
    cluster.merge(other_quota, {"spec": {"hard": {"pods": "10000"}}}, "kubectl-edit")
    cluster.merge(limits, {"spec": {"limits": [{**declared[limits]["spec"]["limits"][0], "max": {"cpu": "64", "memory": "256Gi"}}]}}, "kubectl-edit")
    cluster.apply(viewer, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                           "metadata": {"name": viewer.rsplit("/", 1)[1], "namespace": TENANT},
                           "roleRef": declared[viewer]["roleRef"], "subjects": [MALLORY]}, "kubectl")

    code, report = drift(project)
    print(as_text(report))
    assert code == 1 and report["status"] == "drift" and report["errors"] == []
    rows = check_reported(report, [
        Expect(":Namespace", f"namespace-{TENANT}", (f'{PSA}/enforce"]',), policy="k8s-namespace-pod-security"),
        Expect(":ServiceAccountPatch", f"serviceaccount-{TENANT}-default", ("automountServiceAccountToken",)),
        Expect(":ClusterPolicy", "verify-image-signatures", ("spec.rules[0].verifyImages[0].failureAction",)),
        Expect(":ResourceQuota", f"resourcequota-{TENANT}-tenant-quota", (), kind="deleted"),
        Expect(":Namespace", f"namespace-{SCANNER_NAMESPACE}", (f'{PSA}/warn"]',)),
        Expect(":Namespace", f"namespace-{OTHER_TENANT}", ('["hardened-doks.io/managed-namespace"]',)),
        Expect(":ValidatingAdmissionPolicy", "disallow-latest-tag", ("spec.failurePolicy",)),
        Expect(":ResourceQuota", f"resourcequota-{OTHER_TENANT}-tenant-quota", ("spec.hard.pods",)),
        Expect(":LimitRange", f"limitrange-{TENANT}-jobs-container-defaults", ("spec.limits[0].max",)),
        Expect(":RoleBinding", f"{TENANT}-hardened-doks-{TENANT}-viewer", ("subjects[0]",)),
    ])
    assert all(r["remedy"] == UP for r in rows), [(r["name"], r["remedy"]) for r in rows]
    live_checks["drift scenarios"] += len(rows)

    project.up("--refresh")
    for path, before in declared.items():
        assert differences(before, cluster.get(path)) == [], path
    assert cluster.get(service_account).get("automountServiceAccountToken") is False
    code, report = drift(project)
    assert code == 0, report


def test_what_the_provider_cannot_see_is_removed_by_the_named_remedy(
    cluster: Cluster, project: Project, live_checks: Counter[str]
) -> None:
    developer = f"{RBAC}/clusterroles/{role_name('developer')}"
    namespace_admin = f"{RBAC}/clusterroles/{role_name('namespace-admin')}"
    tenant_deny = f"{NETPOL}/namespaces/{TENANT}/networkpolicies/{DEFAULT_DENY}"
    kyverno_deny = f"{NETPOL}/namespaces/{KYVERNO_NAMESPACE}/networkpolicies/{DEFAULT_DENY}"
    signatures = f"{KYVERNO}/verify-image-signatures"
    notifier = f"/apis/batch/v1/namespaces/{ALERTS_NAMESPACE}/cronjobs/{NOTIFIER}"
    cilium = f"{CILIUM}/namespaces/{KYVERNO_NAMESPACE}/ciliumnetworkpolicies/kyverno-kube-apiserver"
    auditor = f"{RBAC}/clusterrolebindings/{role_name('auditor')}"
    declared = {path: cluster.get(path) for path in (developer, namespace_admin, tenant_deny, kyverno_deny, signatures, notifier, cilium, auditor)}

    # the issue's table: a wildcard rule appended to a managed ClusterRole, default-deny's
    # podSelector narrowed to nothing (default-deny off for every pod)
    cluster.merge(developer, {"rules": declared[developer]["rules"] + [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}, "kubectl-edit")
    cluster.merge(tenant_deny, {"spec": {"podSelector": {"matchLabels": {"e2e-tamper": "matches-nothing"}}}}, "kubectl-patch")
    # more: an allow-all ingress rule in the add-on namespace's default-deny, a ClusterRole
    # aggregated into `admin` by a label, a tenant namespace exempted from signature checks, the
    # notifier pod on the host network, the Cilium policy opened to the world, a subject
    # appended to the auditors' binding (kubectl-style server-side apply)
    cluster.merge(kyverno_deny, {"spec": {"ingress": [{}]}}, "kubectl-edit")
    cluster.merge(namespace_admin, {"metadata": {"labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}}, "kubectl-label")
    rules = copy.deepcopy(declared[signatures]["spec"]["rules"])
    rules[0]["exclude"]["any"][0]["resources"]["namespaces"].append(TENANT)
    cluster.merge(signatures, {"spec": {"rules": rules}}, "kubectl-edit")
    cluster.merge(notifier, {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"hostNetwork": True}}}}}}, "kubectl-patch")
    cluster.merge(cilium, {"spec": {"egress": declared[cilium]["spec"]["egress"] + [{"toEntities": ["world"]}]}}, "kubectl-edit")
    cluster.apply(auditor, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": role_name("auditor")},
                            "roleRef": declared[auditor]["roleRef"], "subjects": declared[auditor].get("subjects", []) + [MALLORY]}, "kubectl")

    code, report = drift(project)
    print(as_text(report))
    assert code == 1 and report["errors"] == []
    rows = check_reported(report, [
        Expect(":ClusterRole", "clusterrole-hardened-doks-developer", ("rules[",), policy="k8s-rbac-no-wildcards"),
        Expect(":NetworkPolicy", f"networkpolicy-{TENANT}-default-deny", ("spec.podSelector.matchLabels",), policy="k8s-namespace-default-deny"),
        Expect(":NetworkPolicy", f"networkpolicy-{KYVERNO_NAMESPACE}-default-deny", ("spec.ingress",)),
        Expect(":ClusterRole", "clusterrole-hardened-doks-namespace-admin", ('["rbac.authorization.k8s.io/aggregate-to-admin"]',)),
        Expect(":ClusterPolicy", "verify-image-signatures", ("spec.rules[0].exclude.any[0].resources.namespaces[",)),
        Expect(":CronJob", f"cronjob-{ALERTS_NAMESPACE}-{NOTIFIER}", ("spec.jobTemplate.spec.template.spec.hostNetwork",)),
        Expect(":CiliumNetworkPolicy", "kyverno-kube-apiserver", ("spec.egress[",)),
        Expect(":ClusterRoleBinding", "clusterrolebinding-hardened-doks-auditor", ("subjects[",)),
    ])
    live_checks["drift scenarios"] += len(rows)
    for found in rows:
        assert found["remedy"] == f"python -m hardened_doks.tools.drift --stack {STACK} --remove-added '{found['urn']}'", found
        assert all(p["removable"] for p in found["properties"]), found
    # `pulumi up --refresh` alone cannot restore any of these: its diff never sees them
    project.up("--refresh")
    assert differences(declared[tenant_deny], cluster.get(tenant_deny)) != []
    started = time.monotonic()
    for found in rows:
        run_remedy(project, found["remedy"])
    print(f"drift e2e: {len(rows)} --remove-added remedies in {time.monotonic() - started:.1f}s")
    for path, before in declared.items():
        assert differences(before, cluster.get(path)) == [], path
    code, report = drift(project)
    assert code == 0, report


def test_objects_created_outside_pulumi_are_reported_with_the_delete_remedy(
    cluster: Cluster, project: Project, live_checks: Counter[str]
) -> None:
    allow_all = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "e2e-allow-all", "namespace": TENANT},
                 "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]}}
    admin = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "e2e-mallory-admin"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [MALLORY]}
    extra = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "e2e-extra-admin", "namespace": TENANT},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name("namespace-admin")}, "subjects": [MALLORY]}
    created = [
        cluster.create(f"{NETPOL}/namespaces/{TENANT}/networkpolicies", allow_all),
        cluster.create(f"{RBAC}/clusterrolebindings", admin),
        cluster.create(f"{RBAC}/namespaces/{TENANT}/rolebindings", extra),
    ]
    code, report = drift(project)
    assert code == 1
    policy = row(report, ":NetworkPolicy", f"{TENANT}/e2e-allow-all", "created")
    binding = row(report, ":ClusterRoleBinding", "e2e-mallory-admin", "created")
    extra_row = row(report, ":RoleBinding", f"{TENANT}/e2e-extra-admin", "created")
    assert policy["remedy"] == f"review it, then: kubectl delete networkpolicy e2e-allow-all -n {TENANT}"
    assert binding["remedy"] == "review it, then: kubectl delete clusterrolebinding e2e-mallory-admin"
    assert any(p.startswith("k8s-no-cluster-admin-binding:") for p in binding["policies"]), binding
    assert extra_row["remedy"].endswith(f"kubectl delete rolebinding e2e-extra-admin -n {TENANT}")
    live_checks["drift scenarios"] += 3
    for path in created:  # Pulumi does not delete what it does not manage: the remedy is deletion
        cluster.delete(path)
    code, report = drift(project)
    assert code == 0, report


def test_no_remedy_replaces_a_namespace(project: Project, clean_start: None) -> None:
    """Namespaces are protected: the engine refuses to delete one, even when asked to replace it."""
    state = json.loads(project.pulumi("stack", "export").stdout)
    namespaces = [r for r in state["deployment"]["resources"] if r["type"] == "kubernetes:core/v1:Namespace"]
    assert namespaces and all(r.get("protect") for r in namespaces), [r["urn"] for r in namespaces if not r.get("protect")]
    urn = next(r["urn"] for r in namespaces if r["urn"].endswith(f"::namespace-{KYVERNO_NAMESPACE}"))
    refused = project.pulumi("preview", "--replace", urn, check=False)
    assert refused.returncode != 0 and "protect" in (refused.stdout + refused.stderr).lower(), refused.stdout[-2000:]
