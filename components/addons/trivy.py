"""The Trivy operator: vulnerability, configuration, secret and RBAC reports beside the workloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hardened_doks.addon import CONTAINER_SECURITY, POD_SECURITY, Addon, Workload, scheduling, with_digests
from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.config import SEVERITIES, StackConfig
from hardened_doks.kube import metadata, resources
from hardened_doks.network_policies import kube_apiserver_access, public_https_egress

TRIVY_NAMESPACE = "trivy-system"
#: The Trivy operator Helm chart, pinned to a version its repository published (docs/scanners.md, "Where the
#: charts come from, what the tests render, and how to bump a pin"); tests/unit/test_chart_pins.py checks it.
CHART = ChartPin("trivy-operator", "0.36.0", "0.34.0", "https://aquasecurity.github.io/helm-charts/", "scripts/trivy-chart.sh")
#: Every image and OCI artifact the pinned chart runs with the stack's values, and the value naming it.
CHART_IMAGES: tuple[PinnedImage, ...] = (
    PinnedImage("mirror.gcr.io/aquasec/trivy-operator:0.34.0", ("image", "tag")),
    PinnedImage("mirror.gcr.io/aquasec/trivy:0.74.0", ("trivy", "image", "tag")),
    PinnedImage("mirror.gcr.io/aquasec/trivy-checks:1", ("policiesBundle", "tag"), artifact=True),
)  # fmt: skip


def severities_from(threshold: str) -> list[str]:
    """The severities at or above ``threshold``, lowest first."""
    return list(SEVERITIES[SEVERITIES.index(threshold) :])


def trivy_values(config: StackConfig) -> dict[str, Any]:
    """The trivy-operator chart values (its RBAC is the stack's own: trivy_rbac())."""
    settings = config.scanners.trivy
    placed = scheduling(config)
    values: dict[str, Any] = {
        # kube-system is DOKS-managed and holds nothing tenants can fix; every other namespace is
        # scanned, kube-public and kube-node-lease included (the stack holds them to the baseline).
        "excludeNamespaces": "kube-system",
        # CIS 5.1.x least privilege: the chart's ClusterRole creates and deletes Jobs in every
        # namespace (and, with private registries, creates and updates Secrets and reads nodes/proxy,
        # the kubelet's exec endpoint). The stack writes the operator's RBAC instead (trivy_rbac()):
        # read-only cluster-wide, writes in trivy-system only.
        "rbac": {"create": False},
        "operator": {
            "replicas": 1,
            "scanJobsConcurrentLimit": settings.scan_jobs_limit,
            "scanJobTTL": "10m",
            "vulnerabilityScannerEnabled": True,
            "configAuditScannerEnabled": True,
            "exposedSecretScannerEnabled": True,
            "rbacAssessmentScannerEnabled": True,
            "clusterComplianceEnabled": True,
            # The infra assessment runs Trivy's node-collector with hostPath mounts of the node's
            # kubelet and etcd directories: it would need a privileged namespace, and DOKS manages
            # the control plane anyway. Off (Pod Security Standards restricted).
            "infraAssessmentScannerEnabled": False,
            # SBOMs are large objects in etcd; Kubescape keeps its own in its storage API.
            "sbomGenerationEnabled": False,
            # No SaaS/webhook endpoint: reports stay in the cluster (empty = nothing sent out).
            "webhookBroadcastURL": "",
            # Reading image pull secrets of other namespaces lets scan Jobs pull private (DOCR)
            # images: an explicit opt-in (scanners.trivy.private_registries, default off; CIS 5.1.2).
            "accessGlobalSecretsAndServiceAccount": settings.private_registries,
            "builtInTrivyServer": False,
            "metricsFindingsEnabled": False,
        },
        "serviceMonitor": {"enabled": False},
        "trivyOperator": {
            # Scan Jobs run in trivy-system, where the operator's Role lets it create them (never
            # in tenants' namespaces: no Job writes there).
            "scanJobsInSameNamespace": False,
            # Scan Jobs get no API credential (CIS 5.1.6) and the restricted security contexts.
            "scanJobAutomountServiceAccountToken": False,
            "scanJobPodTemplatePodSecurityContext": {**POD_SECURITY, "runAsUser": 65534, "runAsGroup": 65534},
            "scanJobPodTemplateContainerSecurityContext": CONTAINER_SECURITY,
            # Scan Jobs on the isolated system pool, beside the operator.
            "scanJobTolerations": placed["tolerations"],
            "scanJobNodeSelector": placed["nodeSelector"],
        },
        "trivy": {
            # Only findings at or above the configured severity are stored (scanners.severity).
            "severity": ",".join(severities_from(config.scanners.severity)),
            "mode": "Standalone",
            "ignoreUnfixed": False,
            # Vulnerability DB from Trivy's public mirror over HTTPS (TLS verified).
            "dbRegistry": "mirror.gcr.io",
            "dbRepository": "aquasec/trivy-db",
            "dbRepositoryInsecure": "false",
            "resources": resources("100m", "256Mi", "1", "1Gi"),
        },
        "compliance": {"cron": settings.compliance_schedule, "specs": ["k8s-cis-1.23", "k8s-nsa-1.0", "k8s-pss-baseline-0.1", "k8s-pss-restricted-0.1"]},
        # The operator's image by the chart's appVersion tag (digest: addon_image_digests), pulled
        # once per node: no re-resolving a tag on every start (CIS 5.5.1: run the reviewed image).
        "image": {"tag": CHART.app_version, "pullPolicy": "IfNotPresent"},
        "podSecurityContext": {**POD_SECURITY, "runAsUser": 10000, "runAsGroup": 10000, "fsGroup": 10000},
        "securityContext": CONTAINER_SECURITY,
        "resources": resources("50m", "128Mi", "500m", "512Mi"),
        **placed,
    }
    return with_digests(config, CHART_IMAGES, values)


#: The Trivy operator's ServiceAccount (the chart's fullname, with rbac.create off it is still created).
TRIVY_SERVICE_ACCOUNT = "trivy-operator"
_READ = ["get", "list", "watch"]


def trivy_rbac(config: StackConfig) -> list[dict[str, Any]]:
    """The Trivy operator's RBAC, least privilege (CIS 5.1.x; NSA/CISA): what the chart's generated
    ClusterRole grants, minus every write outside trivy-system.

    - cluster-wide: read the workloads, RBAC and network objects it assesses; write only its own
      report types (they live beside the workloads they describe);
    - trivy-system only: create and delete its scan Jobs, and the ConfigMaps, Secrets and leases it
      keeps there (the chart's namespaced Role and leader election);
    - with ``scanners.trivy.private_registries`` (opt-in): get Secrets and ServiceAccounts
      cluster-wide, to read the pull secrets of the workloads it scans; never create or update them,
      and never ``nodes/proxy`` (the kubelet's exec endpoint), which the chart adds with it.
    """
    reports = [
        "clustercompliancedetailreports", "clustercompliancereports", "clusterconfigauditreports", "clusterinfraassessmentreports",
        "clusterrbacassessmentreports", "clustersbomreports", "clustervulnerabilityreports", "configauditreports",
        "exposedsecretreports", "infraassessmentreports", "rbacassessmentreports", "sbomreports", "vulnerabilityreports",
    ]  # fmt: skip
    cluster_rules: list[dict[str, Any]] = [
        {
            "apiGroups": [""],
            "resources": ["configmaps", "limitranges", "nodes", "persistentvolumeclaims", "persistentvolumes", "pods",
                          "replicationcontrollers", "resourcequotas", "services"],
            "verbs": _READ,
        },  # fmt: skip
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
        {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": _READ},
        {"apiGroups": ["apps"], "resources": ["daemonsets", "deployments", "replicasets", "statefulsets"], "verbs": _READ},
        # Jobs and CronJobs are scanned as workloads: read only (scan Jobs are written in trivy-system).
        {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": _READ},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"], "verbs": _READ},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterrolebindings", "clusterroles", "rolebindings", "roles"], "verbs": _READ},
        {"apiGroups": ["aquasecurity.github.io"], "resources": reports, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
        {"apiGroups": ["aquasecurity.github.io"], "resources": ["clustercompliancereports/status"], "verbs": ["get", "patch", "update"]},
    ]
    if config.scanners.trivy.private_registries:
        cluster_rules.append({"apiGroups": [""], "resources": ["secrets", "serviceaccounts"], "verbs": ["get"]})
    namespace_rules = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete", "get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "get", "delete", "update"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "get", "update"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
    ]
    subject = [{"kind": "ServiceAccount", "name": TRIVY_SERVICE_ACCOUNT, "namespace": TRIVY_NAMESPACE}]
    rbac = "rbac.authorization.k8s.io"
    name = TRIVY_SERVICE_ACCOUNT
    return [
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRole", "metadata": metadata(name), "rules": cluster_rules},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding", "metadata": metadata(name),
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": name}, "subjects": subject},
        {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": metadata(name, TRIVY_NAMESPACE), "rules": namespace_rules},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": metadata(name, TRIVY_NAMESPACE),
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": name}, "subjects": subject},
    ]  # fmt: skip


def network_policies(config: StackConfig) -> list[dict[str, Any]]:
    """What Trivy needs beyond its namespace baseline (default-deny + DNS), and nothing more."""
    return [
        kube_apiserver_access("trivy-kube-apiserver", TRIVY_NAMESPACE),
        # The operator fetches the checks bundle; scan Jobs fetch trivy-db (mirror.gcr.io) and
        # pull the images they scan.
        public_https_egress("trivy-https-egress", TRIVY_NAMESPACE, {}),
    ]


def workloads(config: StackConfig, values: Mapping[str, Any], nodes: int) -> list[Workload]:
    """The operator, and as many scan Jobs as it runs at once."""
    return [
        Workload("operator", "Deployment", values["operator"]["replicas"], values["resources"]["requests"]),
        # One scanner container per scan Job (a workload's pod with one container) at the concurrency limit.
        Workload("scan-job", "Job", values["operator"]["scanJobsConcurrentLimit"], values["trivy"]["resources"]["requests"]),
    ]


ADDON = Addon(
    key="trivy",
    namespace=TRIVY_NAMESPACE,
    layer="scanners",
    order=20,
    enabled=lambda config: config.scanners.trivy.enabled,
    images=lambda config: ("mirror.gcr.io/aquasec/*",),
    network_policies=network_policies,
    workloads=workloads,
    release="trivy-operator",
    chart=CHART,
    pinned_images=CHART_IMAGES,
    chart_path_key="scanners.trivy.chart_path",
    values=trivy_values,
    extra_objects=trivy_rbac,
)
