"""The stack's admission policies, live (components/admission_policies.py): every rule evaluated
by the real kube-apiserver on objects that must pass and objects that must fail, sent as the
users the rules are about (the e2e admin impersonates them), as server-side dry runs.

Evaluated on two targets:

- ``deployed``: the e2e stack that ``pulumi up`` deployed (the prod profile), with the charts'
  real RBAC (the Trivy operator's ClusterRole lets it create Jobs in every namespace);
- ``dev``, ``staging``, ``prod``: a second control plane on which each shipped profile's
  rendered objects (namespaces with their labels, RBAC, quotas, limits, the stack's own
  workloads, the policies and their bindings) are applied in turn, so that each profile's
  actions are what is evaluated: the image rules warn in dev and refuse in staging and prod,
  the other rules refuse everywhere.

The tenant quota is checked live too (issue 17.3), once the ResourceQuota controller these
control planes run has computed its status.
"""

from __future__ import annotations

import contextlib
import copy
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional

import pytest
import requests

from hardened_doks.admission_cel import ACTIONS
from hardened_doks.admission_images import ADDON_POLICY, IMAGE_POLICIES, REGISTRY_POLICY, TAG_POLICY
from hardened_doks.admission_policies import (
    CREDENTIALS_POLICY,
    EXTERNAL_IPS_POLICY,
    NODE_PORT_POLICY,
    ROLEBINDING_POLICY,
    SCANNER_POLICY,
    TOKEN_SECRET_POLICY,
)
from hardened_doks.rbac import DEPLOYER_SERVICE_ACCOUNT
from hardened_doks.config import StackConfig, parse_stack_config
from hardened_doks.addons.kyverno import KYVERNO_NAMESPACE
from hardened_doks.addons.notifier import ALERTS_NAMESPACE
from hardened_doks.addons.trivy import TRIVY_NAMESPACE
from tests.e2e.conftest import SLACK_WEBHOOK
from tests.e2e.controlplane import LocalControlPlane
from tests.unit.manifests import objects
from hardened_doks.tools.offline import read_stack_file, run_stack

#: This module changes the cluster: the stack is as declared before it and after it (conftest.py no_drift).
pytestmark = pytest.mark.usefixtures("no_drift")

PROFILES = ("dev", "staging", "prod")
TARGETS = ("deployed", *PROFILES)
ALL_POLICIES = (
    REGISTRY_POLICY, TAG_POLICY, ADDON_POLICY, NODE_PORT_POLICY, EXTERNAL_IPS_POLICY,
    ROLEBINDING_POLICY, TOKEN_SECRET_POLICY, CREDENTIALS_POLICY, SCANNER_POLICY,
)  # fmt: skip
ADMISSION = "/apis/admissionregistration.k8s.io/v1"
#: The Trivy operator's ServiceAccount (its chart's name) and the images it runs.
SCANNER_USER = f"system:serviceaccount:{TRIVY_NAMESPACE}:trivy-operator"
TRIVY_OPERATOR_IMAGE = "mirror.gcr.io/aquasec/trivy-operator:0.34.0"
TRIVY_IMAGE = "mirror.gcr.io/aquasec/trivy:0.67.2"
KYVERNO_IMAGE = "reg.kyverno.io/kyverno/kyverno:v1.19.1"
GOOD = "registry.digitalocean.com/hardened-doks/app:1.4.2"
PINNED = "registry.digitalocean.com/hardened-doks/app@sha256:" + "a" * 64
TENANT = "<tenant>"
_WARNED_BY = re.compile(r"ValidatingAdmissionPolicy '([^']+)'")

# -- objects ------------------------------------------------------------------------------------

_CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}


def container(image: str, name: str = "app", **fields: Any) -> dict[str, Any]:
    """A container Pod Security restricted admits (so only the stack's policies decide)."""
    return {"name": name, "image": image, "resources": _RESOURCES, "securityContext": _CONTAINER_SECURITY, **fields}


def pod_spec(*images: str, init: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container(image, f"app{i}") for i, image in enumerate(images or (GOOD,))],
        **fields,
    }
    if init:
        spec["initContainers"] = [container(image, f"init{i}") for i, image in enumerate(init)]
    return spec


def pod(spec: dict[str, Any], name: str = "e2e-admission") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def deployment(spec: dict[str, Any], name: str = "e2e-admission") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": spec}},
    }


def job(spec: dict[str, Any], name: str = "e2e-admission") -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": {"template": {"spec": {**spec, "restartPolicy": "Never"}}}}


def cronjob(spec: dict[str, Any], name: str = "e2e-admission") -> dict[str, Any]:
    template = {"spec": {"template": {"spec": {**spec, "restartPolicy": "Never"}}}}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name}, "spec": {"schedule": "0 3 * * *", "jobTemplate": template}}


def service(type_: str = "ClusterIP", ports: int = 1, **fields: Any) -> dict[str, Any]:
    spec = {"type": type_, "selector": {"app": "e2e"}, "ports": [{"name": f"p{i}", "port": 8080 + i, "protocol": "TCP"} for i in range(ports)], **fields}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "e2e-admission"}, "spec": spec}


def role_binding(*subjects: tuple[str, str]) -> dict[str, Any]:
    group = "rbac.authorization.k8s.io"
    return {
        "apiVersion": f"{group}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "e2e-admission"},
        "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": "hardened-doks:viewer"},
        "subjects": [
            {"kind": kind, "name": name, **({"namespace": "<namespace>"} if kind == "ServiceAccount" else {"apiGroup": group})} for kind, name in subjects
        ],
    }


def secret(type_: str, annotations: Optional[dict[str, str]] = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "e2e-admission", "annotations": annotations or {}}, "type": type_, "stringData": {"k": "v"}}


SECRET_VOLUME = {"volumes": [{"name": "creds", "secret": {"secretName": "app-credentials"}}]}
PROJECTED_SECRET = {"volumes": [{"name": "creds", "projected": {"sources": [{"secret": {"name": "app-credentials"}}]}}]}


def with_env(spec: dict[str, Any], **fields: Any) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["containers"][0].update(fields)
    return spec


# -- the cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request: who sends it, where, and which policies must refuse it (none: admitted)."""

    id: str
    who: str
    namespace: str
    body: dict[str, Any]
    refused_by: tuple[str, ...] = ()


CASES: tuple[Case, ...] = (
    # restrict-image-registries: containers, init containers, every pod-template kind.
    Case("registry-pod-allowed", "developer", TENANT, pod(pod_spec(GOOD))),
    Case("registry-pinned-allowed", "developer", TENANT, pod(pod_spec(PINNED))),
    Case("registry-deployment-allowed", "developer", TENANT, deployment(pod_spec(GOOD))),
    Case("registry-cronjob-allowed", "developer", TENANT, cronjob(pod_spec(GOOD))),
    Case("registry-pod-other-registry", "developer", TENANT, pod(pod_spec("ghcr.io/acme/app:1.0")), (REGISTRY_POLICY,)),
    Case("registry-init-container", "developer", TENANT, pod(pod_spec(GOOD, init=("docker.io/library/busybox:1.36",))), (REGISTRY_POLICY,)),
    Case("registry-deployment", "developer", TENANT, deployment(pod_spec("ghcr.io/acme/app:1.0")), (REGISTRY_POLICY,)),
    Case("registry-cronjob", "developer", TENANT, cronjob(pod_spec("ghcr.io/acme/app:1.0")), (REGISTRY_POLICY,)),
    Case("registry-lookalike-host", "developer", TENANT, pod(pod_spec("registry.digitalocean.com.evil.example/hardened-doks/app:1.0")), (REGISTRY_POLICY,)),
    # disallow-latest-tag: a digest or a tag that is not latest, wherever the registry has a port.
    Case("tag-latest", "developer", TENANT, pod(pod_spec(GOOD.replace(":1.4.2", ":latest"))), (TAG_POLICY,)),
    Case("tag-missing", "developer", TENANT, pod(pod_spec(GOOD.split(":")[0])), (TAG_POLICY,)),
    Case("tag-missing-deployment", "developer", TENANT, deployment(pod_spec(GOOD.split(":")[0])), (TAG_POLICY,)),
    Case("tag-registry-port-no-tag", "developer", TENANT, deployment(pod_spec("reg.example:5000/x/app")), (REGISTRY_POLICY, TAG_POLICY)),
    Case("tag-latest-in-kyverno", "admin", KYVERNO_NAMESPACE, pod(pod_spec(KYVERNO_IMAGE.replace(":v1.19.1", ":latest"))), (TAG_POLICY,)),
    Case("tag-missing-in-trivy", "admin", TRIVY_NAMESPACE, pod(pod_spec(TRIVY_OPERATOR_IMAGE.split(":")[0])), (TAG_POLICY,)),
    # restrict-addon-images: each add-on namespace, kyverno's included, runs its chart's images only.
    Case("addon-trivy-allowed", "admin", TRIVY_NAMESPACE, deployment(pod_spec(TRIVY_OPERATOR_IMAGE))),
    Case("addon-trivy-other-image", "admin", TRIVY_NAMESPACE, pod(pod_spec("ghcr.io/evil/miner:1.0")), (ADDON_POLICY,)),
    Case("addon-kyverno-allowed", "admin", KYVERNO_NAMESPACE, pod(pod_spec(KYVERNO_IMAGE))),
    Case("addon-kyverno-tenant-image", "admin", KYVERNO_NAMESPACE, pod(pod_spec(GOOD)), (ADDON_POLICY,)),
    Case("addon-alerts-notifier-allowed", "admin", ALERTS_NAMESPACE, pod(pod_spec("<notifier>"))),
    Case("addon-alerts-unpinned", "admin", ALERTS_NAMESPACE, pod(pod_spec("docker.io/library/python:3.13-alpine")), (ADDON_POLICY,)),
    # disallow-node-ports, disallow-external-ips.
    Case("service-cluster-ip-allowed", "developer", TENANT, service()),
    Case("service-load-balancer-allowed", "developer", TENANT, service("LoadBalancer")),
    Case("service-node-port", "developer", TENANT, service("NodePort"), (NODE_PORT_POLICY,)),
    Case("service-node-port-in-an-addon-namespace", "admin", TRIVY_NAMESPACE, service("NodePort"), (NODE_PORT_POLICY,)),
    Case("service-external-ips", "developer", TENANT, service(externalIPs=["203.0.113.7"]), (EXTERNAL_IPS_POLICY,)),
    Case("service-load-balancer-external-ips", "developer", TENANT, service("LoadBalancer", externalIPs=["203.0.113.7"]), (EXTERNAL_IPS_POLICY,)),
    # restrict-rolebinding-subjects, as the namespace-admin who may create RoleBindings.
    Case("rolebinding-team-group-allowed", "namespace-admin", TENANT, role_binding(("Group", "<viewers>"))),
    Case("rolebinding-service-account-allowed", "namespace-admin", TENANT, role_binding(("ServiceAccount", "default"))),
    Case("rolebinding-system-authenticated", "namespace-admin", TENANT, role_binding(("Group", "system:authenticated")), (ROLEBINDING_POLICY,)),
    Case("rolebinding-system-serviceaccounts", "namespace-admin", TENANT, role_binding(("Group", "<viewers>"), ("Group", "system:serviceaccounts")), (ROLEBINDING_POLICY,)),
    Case("rolebinding-system-anonymous", "namespace-admin", TENANT, role_binding(("User", "system:anonymous")), (ROLEBINDING_POLICY,)),
    # disallow-service-account-token-secrets.
    Case("secret-opaque-allowed", "namespace-admin", TENANT, secret("Opaque")),
    Case(
        "secret-service-account-token",
        "namespace-admin",
        TENANT,
        secret("kubernetes.io/service-account-token", {"kubernetes.io/service-account.name": "default"}),
        (TOKEN_SECRET_POLICY,),
    ),
    # restrict-workload-credentials: developers may not read Secrets, so they may not mount them either.
    Case("credentials-pull-secret-allowed", "developer", TENANT, pod(pod_spec(GOOD, imagePullSecrets=[{"name": "registry"}]))),
    Case("credentials-default-account-allowed", "developer", TENANT, deployment(pod_spec(GOOD, serviceAccountName="default"))),
    Case("credentials-admin-secret-volume-allowed", "namespace-admin", TENANT, pod(pod_spec(GOOD, **SECRET_VOLUME))),
    Case("credentials-admin-service-account-allowed", "namespace-admin", TENANT, deployment(pod_spec(GOOD, serviceAccountName="deployer"))),
    Case("credentials-secret-volume", "developer", TENANT, pod(pod_spec(GOOD, **SECRET_VOLUME)), (CREDENTIALS_POLICY,)),
    Case("credentials-projected-secret", "developer", TENANT, pod(pod_spec(GOOD, **PROJECTED_SECRET)), (CREDENTIALS_POLICY,)),
    Case(
        "credentials-env-secret",
        "developer",
        TENANT,
        pod(with_env(pod_spec(GOOD), env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app-credentials", "key": "token"}}}])),
        (CREDENTIALS_POLICY,),
    ),
    Case(
        "credentials-envfrom-secret-deployment",
        "developer",
        TENANT,
        deployment(with_env(pod_spec(GOOD), envFrom=[{"secretRef": {"name": "app-credentials"}}])),
        (CREDENTIALS_POLICY,),
    ),
    Case("credentials-other-service-account", "developer", TENANT, cronjob(pod_spec(GOOD, serviceAccountName="deployer")), (CREDENTIALS_POLICY,)),
    # restrict-scanner-workloads: the Trivy operator's ServiceAccount, whose chart lets it create Jobs everywhere.
    Case("scanner-own-namespace-allowed", "scanner", TRIVY_NAMESPACE, job(pod_spec(TRIVY_IMAGE))),
    Case("scanner-tenant-namespace", "scanner", TENANT, job(pod_spec(GOOD)), (SCANNER_POLICY,)),
    Case("scanner-kube-system", "scanner", "kube-system", job(pod_spec(TRIVY_IMAGE)), (SCANNER_POLICY,)),
)

# -- targets ------------------------------------------------------------------------------------


@dataclass
class Target:
    """An API server with one profile's policies in force, and the identities of that profile."""

    name: str
    plane: LocalControlPlane
    config: StackConfig
    live_checks: Counter[str]

    @property
    def mode(self) -> str:
        return self.config.admission.mode

    @property
    def tenant(self) -> str:
        return self.config.teams[0].namespaces[0]

    @property
    def read_only(self) -> bool:
        """Prod's human access (rbac.human_access: read-only): no person writes tenant objects; the team's
        deploy identity does, and it may read Secrets (so restrict-workload-credentials admits it)."""
        return self.config.rbac.human_access == "read-only"

    def headers(self, who: str) -> dict[str, str]:
        team = self.config.teams[0]
        if who == "admin":
            return {}
        if who == "scanner":
            # Impersonating a ServiceAccount's name adds its groups (system:serviceaccounts…).
            return {"Impersonate-User": SCANNER_USER}
        if self.read_only:
            # The writes a person makes under operate are the deploy identity's under read-only.
            return {"Impersonate-User": f"system:serviceaccount:{self.tenant}:{DEPLOYER_SERVICE_ACCOUNT}"}
        group = {"developer": team.developers, "namespace-admin": team.admins}[who].groups[0]
        return {"Impersonate-User": f"e2e-{who}", "Impersonate-Group": group}

    def resolve(self, case: Case) -> tuple[str, dict[str, Any]]:
        """The case's namespace and body with this target's names filled in."""
        namespace = self.tenant if case.namespace == TENANT else case.namespace
        names = {"<viewers>": self.config.teams[0].viewers.groups[0], "<namespace>": namespace, "<notifier>": self.config.alerts.notifier_image}
        return namespace, _fill(case.body, names)

    def send(self, method: str, path: str, who: str, body: Any, content_type: Optional[str] = None, dry_run: bool = True) -> requests.Response:
        headers = self.headers(who)
        if content_type:
            headers["Content-Type"] = content_type
        params = {"dryRun": "All"} if dry_run else {}
        kwargs: dict[str, Any] = {"data": body} if isinstance(body, (str, bytes)) else {"json": body}
        return self.plane.request(method, path, params=params, headers=headers, **kwargs)

    def create(self, case: Case) -> requests.Response:
        namespace, body = self.resolve(case)
        return self.send("POST", collection(body, namespace), case.who, body)

    def expect(self, response: requests.Response, refused_by: tuple[str, ...], what: str) -> None:
        """Assert the decision the target's profile must make; count it as a live check."""
        self.live_checks["admission policy decisions"] += 1
        if self.read_only:
            refused_by = tuple(p for p in refused_by if p != CREDENTIALS_POLICY)
        warned = set(_WARNED_BY.findall(response.headers.get("Warning", "")))
        context = f"{self.name}: {what}: {response.status_code} {response.text[:400]} warnings={warned}"
        if not refused_by:
            assert response.status_code in (200, 201) and not warned, context
        elif self.mode == "Audit" and set(refused_by) <= set(IMAGE_POLICIES):
            # dev: the image rules warn the client and write an audit annotation, and admit.
            assert response.status_code in (200, 201) and warned == set(refused_by), context
        else:
            assert response.status_code == 403, context
            denied = _WARNED_BY.findall(response.json().get("message", ""))
            assert denied and set(denied) <= set(refused_by), context


def _fill(value: Any, names: dict[str, str]) -> Any:
    """A copy of ``value`` with every string equal to a key of ``names`` replaced."""
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


_COLLECTIONS = {
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
}


def collection(body: dict[str, Any], namespace: str) -> str:
    return _COLLECTIONS[body["kind"]].format(ns=namespace)


# -- the profile control plane: each profile's rendered objects applied in turn ------------------


def _resource_paths(plane: LocalControlPlane) -> dict[tuple[str, str], tuple[str, bool]]:
    """(apiVersion, kind) → (collection path prefix, namespaced), from the API server's discovery."""
    paths: dict[tuple[str, str], tuple[str, bool]] = {}
    versions = [("v1", "/api/v1")] + [
        (v["groupVersion"], f"/apis/{v['groupVersion']}") for g in plane.get("/apis").json()["groups"] for v in g["versions"]
    ]
    for group_version, prefix in versions:
        for resource in plane.get(prefix).json()["resources"]:
            if "/" not in resource["name"]:
                paths[(group_version, resource["kind"])] = (f"{prefix}/{resource['name']}", resource["namespaced"])
    return paths


def apply_profile(plane: LocalControlPlane, profile: str) -> int:
    """Server-side apply the built-in objects of a profile's render; return how many."""
    run = run_stack(profile, secret_overrides={"slack_webhook_url": SLACK_WEBHOOK})
    paths = _resource_paths(plane)
    # Not the Secrets: the render masks their values; custom resources have no CRD here.
    rendered = [o for o in objects(run) if (o["apiVersion"], o["kind"]) in paths and o["kind"] != "Secret"]
    # Namespaces and roles before what lives in or refers to them, the policies before all else.
    order = {"ValidatingAdmissionPolicy": 0, "ValidatingAdmissionPolicyBinding": 1, "Namespace": 2, "ClusterRole": 3}
    applied = 0
    for obj in sorted(rendered, key=lambda o: order.get(o["kind"], 4)):
        prefix, namespaced = paths[(obj["apiVersion"], obj["kind"])]
        meta = obj["metadata"]
        base, resource = prefix.rsplit("/", 1)
        path = f"{base}/namespaces/{meta['namespace']}/{resource}" if namespaced else prefix
        response = plane.request(
            "PATCH",
            f"{path}/{meta['name']}",
            params={"fieldManager": "e2e-profile", "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
            json=obj,
        )
        assert response.status_code in (200, 201), f"{profile}: {obj['kind']} {meta.get('namespace', '')}/{meta['name']}: {response.text[:500]}"
        applied += 1
    return applied


SCANNER_GRANT = "e2e-trivy-operator-jobs"
_GRANT_PATHS = ("/apis/rbac.authorization.k8s.io/v1/clusterroles", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")


def grant_scanner_jobs(plane: LocalControlPlane) -> None:
    """Jobs everywhere for the Trivy operator's ServiceAccount: what the upstream chart's own
    ClusterRole grants. The stack replaces that role with one writing Jobs in trivy-system only
    (components/scanners.py), so RBAC alone already refuses; this grant shows that the admission
    rule refuses too, should RBAC ever be widened (defence in depth)."""
    rule = {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete", "get", "list", "watch"]}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": SCANNER_GRANT}, "rules": [rule]}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SCANNER_GRANT}
    subjects = [{"kind": "ServiceAccount", "name": "trivy-operator", "namespace": TRIVY_NAMESPACE}]
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": SCANNER_GRANT}, "roleRef": ref, "subjects": subjects}
    for path, body in zip(_GRANT_PATHS, (role, binding), strict=True):
        assert plane.request("POST", path, json=body).status_code in (201, 409)


def revoke_scanner_jobs(plane: LocalControlPlane) -> None:
    for path in reversed(_GRANT_PATHS):
        assert plane.request("DELETE", f"{path}/{SCANNER_GRANT}").status_code in (200, 404)


@pytest.fixture(scope="module")
def deployed_scanner_grant(control_plane: LocalControlPlane) -> Iterator[None]:
    """The grant on the deployed stack's cluster, removed again (the cluster is left as found)."""
    grant_scanner_jobs(control_plane)
    yield
    revoke_scanner_jobs(control_plane)


def _answers(target: Target, case: Case) -> bool:
    """Whether the target already makes the decision ``case`` expects (without counting it)."""
    response = target.create(case)
    warned = set(_WARNED_BY.findall(response.headers.get("Warning", "")))
    if target.mode == "Audit" and set(case.refused_by) <= set(IMAGE_POLICIES):
        return response.status_code == 201 and warned == set(case.refused_by)
    return response.status_code == 403


def wait_until_in_force(target: Target) -> None:
    """The API server loads policy changes asynchronously, each policy and binding on its own: wait
    until every policy answers its first refusing case with this profile's action."""
    probes = {}
    for case in CASES:
        # Under read-only human access the writer is the deploy identity, which may read Secrets: the
        # credentials rule admits it, so it has no refusing case to probe there (it is probed under operate).
        if len(case.refused_by) == 1 and not (target.read_only and case.refused_by[0] == CREDENTIALS_POLICY):
            probes.setdefault(case.refused_by[0], case)
    deadline = time.monotonic() + 30
    pending = list(probes.values())
    while pending:
        pending = [case for case in pending if not _answers(target, case)]
        assert time.monotonic() < deadline or not pending, f"{target.name}: not in force after 30 s: {[c.id for c in pending]}"
        if pending:
            time.sleep(0.5)


@pytest.fixture(scope="module")
def profile_plane(toolchain_bin: Any) -> Iterator[LocalControlPlane]:
    with LocalControlPlane(toolchain_bin) as plane:
        grant_scanner_jobs(plane)
        yield plane


def _profile_config(profile: str) -> StackConfig:
    raw, secrets = read_stack_file(profile)
    return parse_stack_config(raw, stack=profile, secret_keys=secrets)


@pytest.fixture(scope="module", params=TARGETS)
def target(request: pytest.FixtureRequest, live_checks: Counter[str]) -> Target:
    if request.param == "deployed":
        plane = request.getfixturevalue("control_plane")
        request.getfixturevalue("project")
        request.getfixturevalue("deployed_scanner_grant")
        return Target("deployed (prod)", plane, request.getfixturevalue("e2e_config"), live_checks)
    plane = request.getfixturevalue("profile_plane")
    # Every object of the profile's render is admitted under that profile's own policies.
    live_checks["stack objects applied under their profile's policies"] += apply_profile(plane, request.param)
    target = Target(request.param, plane, _profile_config(request.param), live_checks)
    wait_until_in_force(target)
    return target


# -- tests --------------------------------------------------------------------------------------


def test_every_policy_and_binding_is_in_force_with_the_profiles_actions(target: Target) -> None:
    live_policies = {p["metadata"]["name"] for p in target.plane.get(f"{ADMISSION}/validatingadmissionpolicies").json()["items"]}
    bindings = {b["metadata"]["name"]: b["spec"] for b in target.plane.get(f"{ADMISSION}/validatingadmissionpolicybindings").json()["items"]}
    assert set(ALL_POLICIES) <= live_policies and set(ALL_POLICIES) <= set(bindings)
    for name in ALL_POLICIES:
        expected = ACTIONS[target.mode] if name in IMAGE_POLICIES else ["Deny"]
        assert (bindings[name]["policyName"], bindings[name]["validationActions"]) == (name, expected), (target.name, name)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_rule_admits_and_refuses_as_the_profile_says(target: Target, case: Case) -> None:
    if target.read_only and case.who == "namespace-admin" and case.body["kind"] == "RoleBinding":
        # Read-only human access: nobody but the stack binds roles in a tenant namespace, so RBAC refuses
        # the deploy identity before admission is asked (the RoleBinding rule is checked on the dev target).
        response = target.create(case)
        target.live_checks["RBAC refusals of read-only access"] += 1
        assert response.status_code == 403 and "is forbidden" in response.text and not _WARNED_BY.findall(response.text), response.text[:300]
        return
    target.expect(target.create(case), case.refused_by, case.id)


def test_ephemeral_containers_are_held_to_the_registry_allowlist(target: Target) -> None:
    # `kubectl debug` adds a container to a running pod through the ephemeralcontainers subresource.
    path = collection({"kind": "Pod"}, target.tenant)
    created = target.send("POST", path, "admin", pod(pod_spec(GOOD), "e2e-debug-target"), dry_run=False)
    assert created.status_code == 201, created.text[:300]
    try:
        for image, refused_by in (("ghcr.io/acme/debug:1.0", (REGISTRY_POLICY,)), (GOOD, ())):
            debug = container(image, "debug")
            debug.pop("resources")  # ephemeral containers take none
            for _ in range(10):
                # The scheduler and kwok update a new pod on a plane with nodes: a stale copy is a
                # 409 Conflict (no admission decision), so read it again and retry.
                live = target.plane.get(f"{path}/e2e-debug-target").json()
                live["spec"]["ephemeralContainers"] = [debug]
                response = target.send("PUT", f"{path}/e2e-debug-target/ephemeralcontainers", "admin", live)
                if response.status_code != 409:
                    break
                time.sleep(0.5)
            target.expect(response, refused_by, f"ephemeral container {image}")
    finally:
        target.send("DELETE", f"{path}/e2e-debug-target", "admin", {"gracePeriodSeconds": 0}, dry_run=False)


def test_developers_may_not_run_as_another_service_account(target: Target) -> None:
    path = collection({"kind": "Pod"}, target.tenant)
    accounts = f"/api/v1/namespaces/{target.tenant}/serviceaccounts"
    created = target.send("POST", accounts, "admin", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "e2e-deployer"}}, dry_run=False)
    assert created.status_code == 201, created.text[:300]
    try:
        body = pod(pod_spec(GOOD, serviceAccountName="e2e-deployer"))
        target.expect(target.send("POST", path, "developer", body), (CREDENTIALS_POLICY,), "developer pod as e2e-deployer")
        target.expect(target.send("POST", path, "namespace-admin", body), (), "namespace-admin pod as e2e-deployer")
    finally:
        target.send("DELETE", f"{accounts}/e2e-deployer", "admin", {}, dry_run=False)


def test_developers_may_scale_and_relabel_but_not_change_a_workload_holding_credentials(target: Target) -> None:
    # The rules look at the pod spec: metadata-only updates (labels, the garbage collector's
    # finalizers) pass; a new image for a pod that mounts a Secret could read it, so it is refused.
    path = collection({"kind": "Deployment"}, target.tenant)
    created = target.send("POST", path, "namespace-admin", deployment(pod_spec(GOOD, **SECRET_VOLUME), "e2e-holds-secret"), dry_run=False)
    assert created.status_code == 201, created.text[:300]
    merge = "application/merge-patch+json"
    try:
        relabel = '{"metadata": {"labels": {"release": "2"}}}'
        target.expect(target.send("PATCH", f"{path}/e2e-holds-secret", "developer", relabel, merge), (), "developer relabels")
        scale = '{"spec": {"replicas": 3}}'
        target.expect(target.send("PATCH", f"{path}/e2e-holds-secret", "developer", scale, merge), (), "developer scales")
        image = '{"spec": {"template": {"spec": {"containers": [{"name": "app0", "image": "%s"}]}}}}' % PINNED
        target.expect(target.send("PATCH", f"{path}/e2e-holds-secret", "developer", image, "application/strategic-merge-patch+json"), (CREDENTIALS_POLICY,), "developer changes the image")
        target.expect(target.send("PATCH", f"{path}/e2e-holds-secret", "namespace-admin", image, "application/strategic-merge-patch+json"), (), "namespace-admin changes the image")
    finally:
        target.send("DELETE", f"{path}/e2e-holds-secret", "admin", {}, dry_run=False)


def test_the_quota_admits_the_configured_load_balancers_and_bounds_their_node_ports(target: Target) -> None:
    # Issue 17.3: "services.nodeports: 0" refused every LoadBalancer Service (each Service port
    # takes a node port, which the DigitalOcean load balancer forwards to).
    quota = target.config.namespace_quota
    services = collection({"kind": "Service"}, target.tenant)
    with quota_in_force(target.plane, target.tenant):
        within = service("LoadBalancer", ports=quota.node_ports)
        target.expect(target.send("POST", services, "developer", within), (), f"LoadBalancer with {quota.node_ports} ports")
        beyond = target.send("POST", services, "developer", service("LoadBalancer", ports=quota.node_ports + 1))
        target.live_checks["admission policy decisions"] += 1
        assert beyond.status_code == 403 and "exceeded quota" in beyond.text and "services.nodeports" in beyond.text, beyond.text[:400]
        # Up to namespace_quota.load_balancers of them (real ones: quota admission records their use).
        created = []
        try:
            for i in range(quota.load_balancers):
                lb = service("LoadBalancer")
                lb["metadata"]["name"] = f"e2e-lb-{i}"
                response = target.send("POST", services, "developer", lb, dry_run=False)
                target.expect(response, (), f"LoadBalancer {i + 1} of {quota.load_balancers}")
                created.append(lb["metadata"]["name"])
            one_more = target.send("POST", services, "developer", service("LoadBalancer"))
            target.live_checks["admission policy decisions"] += 1
            assert one_more.status_code == 403 and "services.loadbalancers" in one_more.text, one_more.text[:400]
        finally:
            for name in created:
                target.send("DELETE", f"{services}/{name}", "admin", {}, dry_run=False)


@contextlib.contextmanager
def quota_in_force(plane: LocalControlPlane, namespace: str) -> Iterator[None]:
    """The tenant quota once the ResourceQuota controller (which every e2e control plane runs) has
    computed its status: a quota without status limits nothing."""
    path = f"/api/v1/namespaces/{namespace}/resourcequotas/tenant-quota"

    def computed() -> bool:
        quota = plane.get(path).json()
        return (quota.get("status") or {}).get("hard") == quota["spec"]["hard"]

    plane.wait_for(computed, f"the status of {namespace}/tenant-quota")
    yield
