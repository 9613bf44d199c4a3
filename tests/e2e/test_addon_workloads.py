"""Every workload of every add-on, live on the simulated nodes: its pods were created by their
controller, admitted by Pod Security at their namespace's level, and placed by the scheduler.

`pulumi up` (conftest) installed Kyverno, Kubescape, the Trivy operator, the Snyk monitor, Falco
with falcosidekick, and the Slack notifier, each from its chart (the notifier from the stack's own
manifests), and waited for them. Here, per add-on namespace: every Deployment and StatefulSet has
its desired replicas as scheduled, Running pods; every DaemonSet one pod per node it must cover
(Falco: every node, in its exempt namespace); every CronJob runs: a Job triggered from it (as
``kubectl create job --from=cronjob/…``) gets a scheduled pod that completes. No ``FailedCreate``
event (a pod refused by admission or quota), and no pod left unschedulable.

kwok runs no container: what a container does (the notifier reading its webhook file, a scanner
reaching its database) is out of reach here; creation, admission and scheduling are real.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from hardened_doks.addons import ADDONS
from hardened_doks.addons.notifier import NOTIFIER
from hardened_doks.config import StackConfig
from hardened_doks.addons import POD_SECURITY_EXEMPTIONS
from tests.e2e.conftest import Project
from tests.e2e.controlplane import LocalControlPlane

#: This module changes the cluster: the stack is as declared before it and after it (conftest.py no_drift).
pytestmark = pytest.mark.usefixtures("no_drift")

WORKLOAD_KINDS = {"Deployment": "deployments", "DaemonSet": "daemonsets", "StatefulSet": "statefulsets"}
JOB_TIMEOUT_SECONDS = 120


def addon_namespaces(config: StackConfig) -> list[str]:
    """The namespaces of the add-ons the stack installs: Kyverno's, each scanner's, the notifier's."""
    return [addon.namespace for addon in ADDONS if addon.enabled(config)]


@pytest.fixture(scope="module")
def namespaces(project: Project, e2e_config: StackConfig) -> list[str]:
    found = addon_namespaces(e2e_config)
    # The e2e stack turns every add-on on: a missing one would make the checks below vacuous.
    assert len(found) == 7, found
    return found


def items(plane: LocalControlPlane, path: str, **params: str) -> list[dict[str, Any]]:
    response = plane.get(path, params=params or None)
    assert response.status_code == 200, (path, response.text[:300])
    return response.json()["items"]


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def pods_of(plane: LocalControlPlane, namespace: str, workload: dict[str, Any]) -> list[dict[str, Any]]:
    """The live pods a workload owns (by its selector, then by owner chain)."""
    match = workload["spec"]["selector"].get("matchLabels") or {}
    pods = items(plane, f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector(match))
    return [p for p in pods if p["metadata"].get("deletionTimestamp") is None]


def assert_scheduled_and_running(pod: dict[str, Any], phase: str = "Running") -> None:
    name = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    conditions = {c["type"]: c for c in pod["status"].get("conditions") or []}
    assert pod["spec"].get("nodeName"), f"{name} was not scheduled: {conditions.get('PodScheduled')}"
    assert conditions.get("PodScheduled", {}).get("status") == "True", (name, conditions.get("PodScheduled"))
    assert pod["status"].get("phase") == phase, (name, pod["status"].get("phase"))


def tolerates(pod_spec: dict[str, Any], taint: dict[str, Any]) -> bool:
    for toleration in pod_spec.get("tolerations") or []:
        if toleration.get("effect") not in (None, "", taint["effect"]):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, "", taint["key"]):
            return True
        if toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", ""):
            return True
    return False


def eligible_nodes(plane: LocalControlPlane, pod_spec: dict[str, Any]) -> set[str]:
    """The nodes a DaemonSet must cover: its node selector matches and every NoSchedule or
    NoExecute taint is tolerated (the DaemonSet controller's own test)."""
    wanted = pod_spec.get("nodeSelector") or {}
    found = set()
    for node in items(plane, "/api/v1/nodes"):
        labels = node["metadata"].get("labels") or {}
        taints = [t for t in node["spec"].get("taints") or [] if t["effect"] in ("NoSchedule", "NoExecute")]
        if all(labels.get(k) == v for k, v in wanted.items()) and all(tolerates(pod_spec, t) for t in taints):
            found.add(node["metadata"]["name"])
    return found


def test_every_addon_namespace_enforces_its_pod_security_level(
    control_plane: LocalControlPlane, namespaces: list[str], live_checks: Counter[str]
) -> None:
    """The level each add-on's pods were admitted at: restricted, but the documented exemption."""
    for namespace in namespaces:
        labels = control_plane.get(f"/api/v1/namespaces/{namespace}").json()["metadata"]["labels"]
        expected = POD_SECURITY_EXEMPTIONS.get(namespace, ("restricted", ""))[0]
        live_checks["add-on pod security levels"] += 1
        assert labels["pod-security.kubernetes.io/enforce"] == expected, namespace


def test_every_addon_has_workloads(control_plane: LocalControlPlane, namespaces: list[str]) -> None:
    for namespace in namespaces:
        kinds = [*WORKLOAD_KINDS.values(), "cronjobs"]
        found = [w for kind in kinds for w in items(control_plane, f"/apis/{'batch' if kind == 'cronjobs' else 'apps'}/v1/namespaces/{namespace}/{kind}")]
        assert found, f"{namespace}: the add-on installed no workload"


def test_deployments_and_statefulsets_reach_their_replicas_on_scheduled_pods(
    control_plane: LocalControlPlane, namespaces: list[str], live_checks: Counter[str]
) -> None:
    for namespace in namespaces:
        for kind in ("deployments", "statefulsets"):
            for workload in items(control_plane, f"/apis/apps/v1/namespaces/{namespace}/{kind}"):
                name = f"{namespace}/{workload['metadata']['name']}"
                desired = workload["spec"].get("replicas", 1)
                status = workload.get("status") or {}
                assert desired >= 1, name
                assert status.get("readyReplicas", 0) == desired, (name, status)
                pods = [p for p in pods_of(control_plane, namespace, workload) if p["status"].get("phase") != "Succeeded"]
                assert len(pods) == desired, (name, [p["metadata"]["name"] for p in pods])
                for pod in pods:
                    assert_scheduled_and_running(pod)
                    live_checks["add-on pods scheduled"] += 1
                live_checks[f"add-on {kind}"] += 1


def test_daemonsets_run_one_pod_per_node_they_cover(control_plane: LocalControlPlane, namespaces: list[str], live_checks: Counter[str]) -> None:
    all_nodes = {n["metadata"]["name"] for n in items(control_plane, "/api/v1/nodes")}
    seen_falco = False
    for namespace in namespaces:
        for workload in items(control_plane, f"/apis/apps/v1/namespaces/{namespace}/daemonsets"):
            name = f"{namespace}/{workload['metadata']['name']}"
            covered = eligible_nodes(control_plane, workload["spec"]["template"]["spec"])
            status = workload["status"]
            assert status["desiredNumberScheduled"] == len(covered), (name, status, sorted(covered))
            assert status["currentNumberScheduled"] == status["numberReady"] == len(covered), (name, status)
            assert status.get("numberMisscheduled", 0) == 0, (name, status)
            pods = pods_of(control_plane, namespace, workload)
            for pod in pods:
                assert_scheduled_and_running(pod)
                live_checks["add-on pods scheduled"] += 1
            on = Counter(p["spec"]["nodeName"] for p in pods)
            assert set(on) == covered and set(on.values()) == {1}, (name, on)
            if namespace == "falco":
                # Runtime detection must see every node's system calls: no node left out.
                seen_falco = True
                assert covered == all_nodes, (name, sorted(all_nodes - covered))
            live_checks["add-on daemonsets"] += 1
    assert seen_falco, "the e2e stack installs Falco's DaemonSet"


def trigger(plane: LocalControlPlane, namespace: str, cronjob: dict[str, Any]) -> dict[str, Any]:
    """A Job from the CronJob's template, owned by it, as ``kubectl create job --from=cronjob/…``."""
    template = cronjob["spec"]["jobTemplate"]
    name = f"{cronjob['metadata']['name'][:40]}-e2e-{uuid.uuid4().hex[:6]}"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": (template.get("metadata") or {}).get("labels") or {},
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [
                {"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob["metadata"]["name"], "uid": cronjob["metadata"]["uid"], "controller": True}
            ],
        },
        "spec": template["spec"],
    }
    return plane.create(f"/apis/batch/v1/namespaces/{namespace}/jobs", job)


@pytest.fixture
def triggered_jobs(control_plane: LocalControlPlane) -> Iterator[list[tuple[str, str]]]:
    """Jobs a test triggers; deleted with their pods afterwards (the cluster is left as found)."""
    created: list[tuple[str, str]] = []
    yield created
    for namespace, name in created:
        control_plane.request("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}", json={"propagationPolicy": "Foreground"})
    for namespace, name in created:
        control_plane.wait_for(
            lambda namespace=namespace, name=name: control_plane.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}").status_code == 404
            and not items(control_plane, f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"job-name={name}"),
            f"job {namespace}/{name} and its pods deleted",
        )


def test_every_cronjob_runs_through_a_triggered_job(
    control_plane: LocalControlPlane, namespaces: list[str], triggered_jobs: list[tuple[str, str]], live_checks: Counter[str]
) -> None:
    cronjobs = [(ns, c) for ns in namespaces for c in items(control_plane, f"/apis/batch/v1/namespaces/{ns}/cronjobs")]
    # Kubescape's two scan schedulers and the Slack notifier at least.
    assert {c["metadata"]["name"] for _, c in cronjobs} >= {"kubescape-scheduler", "kubevuln-scheduler", NOTIFIER}
    for namespace, cronjob in cronjobs:
        job = trigger(control_plane, namespace, cronjob)
        triggered_jobs.append((namespace, job["metadata"]["name"]))
    for namespace, name in triggered_jobs:
        path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"

        def complete(path: str = path, name: str = name) -> bool:
            conditions = {c["type"]: c["status"] for c in (control_plane.get(path).json().get("status") or {}).get("conditions") or []}
            assert conditions.get("Failed") != "True", (name, conditions)
            return conditions.get("Complete") == "True"

        control_plane.wait_for(complete, f"job {namespace}/{name} complete", timeout=JOB_TIMEOUT_SECONDS)
        (pod,) = items(control_plane, f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"job-name={name}")
        assert_scheduled_and_running(pod, phase="Succeeded")
        live_checks["add-on pods scheduled"] += 1
        live_checks["add-on cronjob runs"] += 1


def test_no_pod_was_refused_and_none_is_unschedulable(control_plane: LocalControlPlane, namespaces: list[str], live_checks: Counter[str]) -> None:
    for namespace in namespaces:
        events = items(control_plane, f"/api/v1/namespaces/{namespace}/events")
        refused = [f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}: {e['message']}" for e in events if e["reason"] == "FailedCreate"]
        assert not refused, (namespace, refused)
        for pod in items(control_plane, f"/api/v1/namespaces/{namespace}/pods"):
            scheduled = {c["type"]: c for c in pod["status"].get("conditions") or []}.get("PodScheduled", {})
            assert scheduled.get("status") == "True", (namespace, pod["metadata"]["name"], scheduled)
        live_checks["add-on namespaces without refused or unschedulable pods"] += 1


def test_the_exempt_namespace_runs_only_pods_that_need_the_exemption(
    control_plane: LocalControlPlane, namespaces: list[str], live_checks: Counter[str]
) -> None:
    """Each pod of a namespace below restricted (Falco's) is refused by restricted Pod Security
    (a server-side dry run in a restricted add-on namespace): the exemption grants nothing its pods
    do not use."""
    restricted = next(ns for ns in namespaces if ns not in POD_SECURITY_EXEMPTIONS)
    exempt = [ns for ns in namespaces if ns in POD_SECURITY_EXEMPTIONS]
    assert exempt, "the e2e stack installs Falco, the one exemption"
    for namespace in exempt:
        pods = items(control_plane, f"/api/v1/namespaces/{namespace}/pods")
        assert pods, namespace
        for pod in pods:
            spec = {k: v for k, v in pod["spec"].items() if k not in ("nodeName", "serviceAccountName", "serviceAccount")}
            # Without the API token volume ServiceAccount admission added for its own account.
            spec["volumes"] = [v for v in spec.get("volumes") or [] if not v["name"].startswith("kube-api-access")]
            for container in spec.get("initContainers", []) + spec["containers"]:
                container["volumeMounts"] = [m for m in container.get("volumeMounts") or [] if not m["name"].startswith("kube-api-access")]
            probe = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"exemption-probe-{uuid.uuid4().hex[:6]}"}, "spec": spec}
            response = control_plane.request("POST", f"/api/v1/namespaces/{restricted}/pods", params={"dryRun": "All"}, json=probe)
            live_checks["admission decisions"] += 1
            assert response.status_code == 403 and "violates PodSecurity" in response.json()["message"], (pod["metadata"]["name"], response.text[:300])
