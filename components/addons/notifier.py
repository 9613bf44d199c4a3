"""Security findings to Slack: the in-cluster notifier.

Why a small notifier of our own (a CronJob running components/notifier.py, Python standard
library only) and not a scanner's own output:

- Kubescape has no Slack output; its results are objects of its aggregated API;
- the Trivy operator's ``webhookBroadcastURL`` posts each raw report as JSON, which a Slack
  incoming webhook rejects (it needs ``{"text": ...}``), with no severity filter;
- falcosidekick's Slack output covers Falco events only. It is used for those (components/scanners.py,
  when Falco is enabled), since Falco events are a stream, not stored reports.

The notifier reads both scanners' report objects, keeps those at or above ``alerts.min_severity``
and posts only new or grown findings, so one webhook (``slack_webhook_url``, secret config) and
one threshold serve every scanner; ``tools/drift.py`` posts drift to the same webhook. The URL
goes from secret config into a Kubernetes Secret as a secret Output and is mounted as a file:
never in plain text in state, outputs, rendered files or the pod's environment.

The notifier has its own managed namespace (restricted, default-deny, DNS) and may reach only the
API server and HTTPS on public addresses (Slack). Its ServiceAccount may read the report types and
nothing else cluster-wide, and create or update one ConfigMap (its state) in its namespace.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


from hardened_doks import notifier
from hardened_doks.addon import CONTAINER_SECURITY, Addon, Workload
from hardened_doks.config import NAMESPACE, StackConfig
from hardened_doks.kube import metadata, pod_scheduling, resources, secret
from hardened_doks.network_policies import kube_apiserver_access, public_https_egress

#: The notifier's namespace.
ALERTS_NAMESPACE = "security-alerts"
NOTIFIER = "security-notifier"
STATE_CONFIGMAP = "security-notifier-state"
WEBHOOK_SECRET = "slack-webhook"
WEBHOOK_MOUNT = "/var/run/secrets/slack"
SCRIPT = Path(notifier.__file__)
#: The notifier's UID and GID: "nobody", non-root (Pod Security Standards restricted).
NOTIFIER_UID = 65534
#: The webhook file's mode: owner and group may read it, others may not.
WEBHOOK_MODE = 0o440
RBAC_GROUP = "rbac.authorization.k8s.io"


def reports() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The report types the notifier reads, per scanner (API group → resources): exactly the
    notifier's own list (components/notifier.py SOURCES), so what it may read is what it reads."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for scanner, _, path, _ in notifier.SOURCES:
        _, _, group, _, resource = path.split("/")
        found[scanner] = (group, (*found.get(scanner, (group, ()))[1], resource))
    return found


#: The report types the notifier may read, per scanner (API group → resources).
REPORTS = reports()


def enabled(config: StackConfig) -> bool:
    """The notifier runs when there is a webhook to post to and a scanner to read."""
    return config.slack_webhook_url is not None and bool(read_rules(config))


def read_rules(config: StackConfig) -> list[dict[str, Any]]:
    """Read access to the enabled scanners' reports only (CIS 5.1.3: named groups, resources, verbs)."""
    scanners = {"trivy": config.scanners.trivy.enabled, "kubescape": config.scanners.kubescape.enabled}
    return [{"apiGroups": [group], "resources": list(kinds), "verbs": ["get", "list"]} for name, (group, kinds) in REPORTS.items() if scanners[name]]


def webhook_secret(config: StackConfig) -> dict[str, Any]:
    """The webhook URL, from secret config, as a secret Output (never plain in state or renders)."""
    assert config.slack_webhook_url is not None
    return secret(WEBHOOK_SECRET, ALERTS_NAMESPACE, {"url": config.secret_input("slack_webhook_url")})


def objects(config: StackConfig) -> list[dict[str, Any]]:
    """Everything of the notifier but its namespace and Secret, as plain manifests."""
    role_name = f"{NAMESPACE}:{NOTIFIER}"
    subject = [{"kind": "ServiceAccount", "name": NOTIFIER, "namespace": ALERTS_NAMESPACE}]
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata(NOTIFIER, ALERTS_NAMESPACE), "data": {"notify.py": SCRIPT.read_text()}},
        # No token unless the pod asks for one (CIS 5.1.6); the CronJob's pod does.
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(NOTIFIER, ALERTS_NAMESPACE), "automountServiceAccountToken": False},
        {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": metadata(role_name), "rules": read_rules(config)},
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": metadata(role_name),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role_name},
            "subjects": subject,
        },
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "Role",
            "metadata": metadata(NOTIFIER, ALERTS_NAMESPACE),
            "rules": [
                # Its state: create it once, then read and update that one object (CIS 5.1.x: least privilege).
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [STATE_CONFIGMAP], "verbs": ["get", "update"]},
            ],
        },
        {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": "RoleBinding",
            "metadata": metadata(NOTIFIER, ALERTS_NAMESPACE),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": NOTIFIER},
            "subjects": subject,
        },
        cronjob(config),
    ]


def cronjob(config: StackConfig) -> dict[str, Any]:
    """The notifier CronJob: restricted pod, read-only root, pinned image, webhook as a file."""
    alerts = config.alerts
    container = {
        "name": "notifier",
        # Pinned by digest (CIS 5.5.1; alerts.notifier_image); Always re-checks it with the registry.
        "image": alerts.notifier_image,
        "imagePullPolicy": "Always",
        "command": ["python3", "/opt/notifier/notify.py"],
        "env": [
            {"name": "MIN_SEVERITY", "value": alerts.min_severity},
            {"name": "SLACK_WEBHOOK_FILE", "value": f"{WEBHOOK_MOUNT}/url"},
            {"name": "STATE_CONFIGMAP", "value": STATE_CONFIGMAP},
            {"name": "CLUSTER_NAME", "value": config.name},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        ],
        # Requests and limits (NSA/CISA: resource limits).
        "resources": resources("10m", "64Mi", "200m", "128Mi"),
        # Pod Security Standards restricted; NSA/CISA: immutable root filesystem, non-root.
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": [
            {"name": "script", "mountPath": "/opt/notifier", "readOnly": True},
            # The webhook as a file from its Secret, not an environment variable (not in `env` dumps).
            {"name": "webhook", "mountPath": WEBHOOK_MOUNT, "readOnly": True},
        ],
    }
    pod = {
        "serviceAccountName": NOTIFIER,
        # Only this pod gets an API token, to read the reports it is allowed to read.
        "automountServiceAccountToken": True,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NOTIFIER_UID,
            "runAsGroup": NOTIFIER_UID,
            # The kubelet writes Secret files as root; with an fsGroup it gives them that group
            # (and at least 0440), so the non-root notifier can read its webhook while no other
            # user of the node can (NSA/CISA: non-root containers; protect secrets at rest).
            "fsGroup": NOTIFIER_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "script", "configMap": {"name": NOTIFIER, "defaultMode": 0o444}},
            # Owner and group read only (root:fsGroup on disk); never world-readable.
            {"name": "webhook", "secret": {"secretName": WEBHOOK_SECRET, "defaultMode": WEBHOOK_MODE}},
        ],
        # On the isolated system pool with the other add-ons, never beside tenant pods (NSA/CISA).
        **pod_scheduling(config),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(NOTIFIER, ALERTS_NAMESPACE),
        "spec": {
            "schedule": alerts.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": 300,
                    "ttlSecondsAfterFinished": 3600,
                    "template": {"metadata": {"labels": {"app.kubernetes.io/name": NOTIFIER}}, "spec": pod},
                }
            },
        },
    }


def network_policies(config: StackConfig) -> list[dict[str, Any]]:
    """The notifier's paths beyond default-deny + DNS: the API server, and HTTPS to Slack."""
    return [
        kube_apiserver_access("notifier-kube-apiserver", ALERTS_NAMESPACE),
        public_https_egress("notifier-https-egress", ALERTS_NAMESPACE, {"matchLabels": {"app.kubernetes.io/name": NOTIFIER}}),
    ]


def workloads(config: StackConfig, values: Mapping[str, Any], nodes: int) -> list[Workload]:
    """The notifier CronJob's one pod."""
    (container,) = cronjob(config)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return [Workload(NOTIFIER, "CronJob", 1, container["resources"]["requests"])]


ADDON = Addon(
    # The budget and the reports name it "alerts", the layer it belongs to.
    key="alerts",
    namespace=ALERTS_NAMESPACE,
    layer="alerts",
    order=60,
    enabled=enabled,
    # Exactly its pinned image (alerts.notifier_image, by digest).
    images=lambda config: (config.alerts.notifier_image,),
    network_policies=network_policies,
    workloads=workloads,
    extra_objects=lambda config: [webhook_secret(config), *objects(config)],
    label=NOTIFIER,
)
