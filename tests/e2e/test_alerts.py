"""The stack's own workload (the Slack notifier), live: its pod passes restricted Pod Security
admission in its namespace, and the webhook reaches the cluster as a Secret while the state
holds it only encrypted."""

from __future__ import annotations

import base64
from collections import Counter

from hardened_doks.addons.notifier import NOTIFIER, WEBHOOK_SECRET
from hardened_doks.addons.notifier import ALERTS_NAMESPACE
from tests.e2e.conftest import SLACK_WEBHOOK, Project
from tests.e2e.controlplane import LocalControlPlane


def test_notifier_pod_is_admitted_as_restricted(project: Project, control_plane: LocalControlPlane, live_checks: Counter[str]) -> None:
    namespace = control_plane.get(f"/api/v1/namespaces/{ALERTS_NAMESPACE}").json()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    cronjob = control_plane.get(f"/apis/batch/v1/namespaces/{ALERTS_NAMESPACE}/cronjobs/{NOTIFIER}").json()
    template = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "notifier-e2e", **{k: v for k, v in template["metadata"].items() if k == "labels"}}, "spec": template["spec"]}
    response = control_plane.request("POST", f"/api/v1/namespaces/{ALERTS_NAMESPACE}/pods", params={"dryRun": "All"}, json=pod)
    live_checks["admission decisions"] += 1
    assert response.status_code == 201, response.text[:500]


def test_webhook_is_a_secret_in_the_cluster_and_encrypted_in_state(project: Project, control_plane: LocalControlPlane) -> None:
    secret = control_plane.get(f"/api/v1/namespaces/{ALERTS_NAMESPACE}/secrets/{WEBHOOK_SECRET}").json()
    assert base64.b64decode(secret["data"]["url"]).decode() == SLACK_WEBHOOK
    state = project.pulumi("stack", "export").stdout
    assert SLACK_WEBHOOK not in state and "e2eSecretWebhookToken" not in state
    outputs = project.pulumi("stack", "output", "--json").stdout
    assert "e2eSecretWebhookToken" not in outputs
