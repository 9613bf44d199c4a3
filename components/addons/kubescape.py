"""Kubescape: configuration and vulnerability scans, results kept in the cluster (its aggregated API)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hardened_doks.addon import Addon, Workload, scheduling, with_digests
from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.config import StackConfig
from hardened_doks.kube import resources
from hardened_doks.network_policies import intra_namespace, kube_apiserver_access, public_https_egress

KUBESCAPE_NAMESPACE = "kubescape"
#: The Kubescape operator Helm chart, pinned to a version its repository published (docs/scanners.md, "Where the
#: charts come from, what the tests render, and how to bump a pin"); tests/unit/test_chart_pins.py checks it.
CHART = ChartPin("kubescape-operator", "1.40.3", "1.40.3", "https://kubescape.github.io/helm-charts/", digest="2a0ffaa69068218f03a44139ac77c81905350208413c14ba697e9514f204af07")
#: Every image the pinned chart runs with the stack's values, by the value naming it.
CHART_IMAGES: tuple[PinnedImage, ...] = (
    PinnedImage("quay.io/kubescape/kubescape:v4.0.11", ("kubescape", "image", "tag")),
    PinnedImage("quay.io/kubescape/kubevuln:v0.3.159", ("kubevuln", "image", "tag")),
    PinnedImage("quay.io/kubescape/operator:v0.2.159", ("operator", "image", "tag")),
    PinnedImage("quay.io/kubescape/storage:v0.0.297", ("storage", "image", "tag")),
    PinnedImage("quay.io/kubescape/http-request:v0.2.20", ("kubescapeScheduler", "image", "tag")),
    PinnedImage("quay.io/kubescape/http-request:v0.2.20", ("kubevulnScheduler", "image", "tag")),
    PinnedImage("quay.io/kubescape/http-request:v0.2.20", ("registryScanScheduler", "image", "tag")),
)  # fmt: skip
#: Kubescape's aggregated API server (storage) port, reached by the Kubernetes API server.
KUBESCAPE_STORAGE_PORT = 8443
#: Ports Kubescape's components call each other on inside the namespace (operator 4002; scanner
#: and kubevuln 8080).
KUBESCAPE_INTERNAL_PORTS = (4002, 8080)


def kubescape_values(config: StackConfig) -> dict[str, Any]:
    """The kubescape-operator chart values."""
    settings = config.scanners.kubescape
    off = "disable"
    # Every component on the isolated system pool (its nodeSelector also keeps the chart's Linux pin).
    placed = scheduling(config, {"kubernetes.io/os": "linux"})
    values: dict[str, Any] = {
        "clusterName": config.name,
        "ksNamespace": KUBESCAPE_NAMESPACE,
        # No SaaS account: an empty server keeps every result in the cluster (its aggregated API);
        # nothing is sent to a vendor.
        "server": "",
        "account": "",
        "accessKey": "",
        "capabilities": {
            "configurationScan": "enable",
            # Re-scan a workload's configuration when it is created or changed (new workloads are
            # scanned when deployed).
            "continuousScan": "enable",
            "vulnerabilityScan": "enable",
            # Everything below needs Kubescape's node agent, a privileged eBPF DaemonSet (hostPID,
            # hostPath /, SYS_ADMIN…): off, so this namespace stays restricted (Pod Security
            # Standards). Runtime detection is Falco's job here (opt-in, in its own namespace).
            "nodeScan": off,
            "nodeSbomGeneration": off,
            "relevancy": off,
            "runtimeObservability": off,
            "runtimeDetection": off,
            "malwareDetection": off,
            "networkPolicyService": off,
            "seccompProfileService": off,
            "nodeProfileService": off,
            "httpDetection": off,
            "networkEventsStreaming": off,
            # Admission is Kyverno's (components/admission.py): no second webhook.
            "admissionController": off,
            # The chart version is pinned in code: no in-cluster self-upgrade (change control).
            "autoUpgrading": off,
            "manageWorkloads": off,
            "syncSBOM": off,
            "prometheusExporter": off,
        },
        "global": {
            # CIS 5.1.2 (minimise access to Secrets): no cluster-wide Secret read for the scanner
            # and operator. Images behind pull secrets are scanned by Trivy (scanners.trivy).
            "enableClusterWideSecretAccess": False,
            # The stack writes this namespace's network policies (network_policies()).
            "networkPolicy": {"enabled": False},
        },
        # Components without their own placement fall back to this one.
        "customScheduling": placed,
        "kubescape": {
            # Requests and limits on every container (NSA/CISA: resource limits; CIS 5.7).
            "resources": resources("100m", "256Mi", "600m", "1Gi"),
            # No call home for version checks (nothing sent to a vendor).
            "skipUpdateCheck": True,
            "serviceMonitor": {"enabled": False},
            **placed,
        },
        "operator": {"resources": resources("50m", "100Mi", "300m", "300Mi"), **placed},
        "kubevuln": {"resources": resources("200m", "768Mi", "1500m", "2560Mi"), **placed},
        "storage": {"resources": resources("50m", "256Mi", "500m", "1Gi"), **placed},
        "kubescapeScheduler": {
            "scanSchedule": settings.configuration_scan_schedule,
            # The scheduled scan checks the configured frameworks (NSA/CISA hardening guide, CIS
            # Kubernetes Benchmark…) and keeps its results local.
            "requestBody": {
                "commands": [
                    {
                        "CommandName": "kubescapeScan",
                        "args": {"scanV1": {"targetType": "framework", "targetNames": list(settings.frameworks), "keepLocal": True}},
                    }
                ]
            },
            "resources": resources("1m", "10Mi", "10m", "20Mi"),
            **placed,
        },
        "kubevulnScheduler": {"scanSchedule": settings.vulnerability_scan_schedule, "resources": resources("1m", "10Mi", "10m", "20Mi"), **placed},
        # The registry scan CronJobs the operator creates from its template (none unless asked).
        "registryScanScheduler": {"resources": resources("1m", "10Mi", "10m", "20Mi"), **placed},
    }
    return with_digests(config, CHART_IMAGES, values)


def network_policies(config: StackConfig) -> list[dict[str, Any]]:
    """What Kubescape needs beyond its namespace baseline (default-deny + DNS), and nothing more."""
    ns = KUBESCAPE_NAMESPACE
    return [
        # Every component watches the API; the storage component is an aggregated API server
        # the Kubernetes API server calls on 8443.
        kube_apiserver_access("kubescape-kube-apiserver", ns, webhook_port=KUBESCAPE_STORAGE_PORT),
        # Scheduler CronJobs → operator; operator → scanner and kubevuln.
        intra_namespace(ns, ports=KUBESCAPE_INTERNAL_PORTS, name="kubescape-internal"),
        # The scanner downloads its control library; kubevuln its vulnerability DB and the images
        # it scans: HTTPS to public addresses only (never the VPC or metadata addresses).
        public_https_egress("kubescape-https-egress", ns, {"matchExpressions": [{"key": "app", "operator": "In", "values": ["kubescape", "kubevuln"]}]}),
    ]


def workloads(config: StackConfig, values: Mapping[str, Any], nodes: int) -> list[Workload]:
    """The four Deployments and the two scheduler CronJobs."""
    found = [Workload(component, "Deployment", 1, values[component]["resources"]["requests"]) for component in ("kubescape", "operator", "kubevuln", "storage")]
    for scheduler in ("kubescapeScheduler", "kubevulnScheduler"):
        found.append(Workload(scheduler.replace("Scheduler", "-scheduler"), "CronJob", 1, values[scheduler]["resources"]["requests"]))
    return found


ADDON = Addon(
    key="kubescape",
    namespace=KUBESCAPE_NAMESPACE,
    layer="scanners",
    order=10,
    enabled=lambda config: config.scanners.kubescape.enabled,
    # The chart's image repositories (the chart defaults the values keep), as Kyverno image patterns:
    # the add-on image policy admits nothing else here (DigitalOcean supply-chain checklist).
    images=lambda config: ("quay.io/kubescape/*",),
    network_policies=network_policies,
    workloads=workloads,
    release="kubescape",
    chart=CHART,
    pinned_images=CHART_IMAGES,
    chart_path_key="scanners.kubescape.chart_path",
    values=kubescape_values,
    # The chart hard-codes security contexts no value can complete: Helm pipes its manifests through
    # the project's post-renderer (tools/helm_postrender.py: drop ALL capabilities, a non-root group),
    # which Pod Security restricted needs. Relative to the project folder, the provider's working directory.
    postrender="tools/helm_postrender.py",
)
