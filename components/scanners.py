"""In-cluster security scanners: Kubescape, Trivy, Snyk (when configured) and Falco (opt-in).

Each add-on is its official Helm chart through ``helm.v3.Release`` (chart and version pinned in
``components.config.SCANNER_CHARTS``), with values built here by one pure function per add-on —
every security-relevant value carries a comment naming the control it serves — in its own
managed namespace with the tenants' baseline (``components.namespaces.baseline``: Pod Security
labels, ResourceQuota, LimitRange, default-deny ingress and egress, DNS, the default
ServiceAccount without a token) plus exactly the network paths it needs:

==============  =====================  ================================================================
add-on          namespace (enforce)    beyond default-deny + DNS
==============  =====================  ================================================================
Kubescape       kubescape (restricted) API server (Cilium entity), aggregated-API ingress on 8443 from
                                       the API server, the operator's ports inside the namespace,
                                       HTTPS to public addresses for the scanner (control library) and
                                       kubevuln (vulnerability DB, image registries)
Trivy           trivy-system (restr.)  API server, HTTPS to public addresses (trivy-db and checks from
                                       mirror.gcr.io, image registries for scan Jobs)
Snyk            snyk-monitor (restr.)  API server, HTTPS to public addresses (Snyk, image registries)
Falco           falco (privileged)     HTTPS to public addresses (falcoctl rule/plugin artifacts from
                                       ghcr.io), falcosidekick on 2801
falcosidekick   falcosidekick (restr.) ingress from Falco on 2801, HTTPS to public addresses (Slack)
==============  =====================  ================================================================

Only Falco's node agent runs below ``restricted``: see :data:`POD_SECURITY_EXEMPTIONS`.
Nothing is sent to a vendor unless configured: Kubescape's ``server`` and Trivy's
``webhookBroadcastURL`` stay empty; the Snyk monitor (a SaaS agent by design) is installed only
with its secret integration id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from components.config import (
    ALERTS_NAMESPACE,
    FALCO_NAMESPACE,
    FALCOSIDEKICK_NAMESPACE,
    KUBESCAPE_NAMESPACE,
    SCANNER_CHARTS,
    SEVERITIES,
    SNYK_NAMESPACE,
    TRIVY_NAMESPACE,
    PodSecurity,
    StackConfig,
)
from components.kube import create, resources, secret
from components.namespaces import RESTRICTED, ManagedNamespace, baseline, network_policy, pod_security_version
from components.network_policies import intra_namespace, kube_apiserver_access, public_https_egress

#: The one place a namespace of this layer runs below Pod Security ``restricted``, and why.
#: components/namespaces.py labels it; the policy pack requires the break-glass annotation on
#: every namespace enforcing ``privileged``, so the reason is also on the Namespace object.
POD_SECURITY_EXEMPTIONS: dict[str, tuple[str, str]] = {
    FALCO_NAMESPACE: (
        "privileged",
        "Falco's node agent (DaemonSet) reads every system call through its modern eBPF probe: it needs the "
        "capabilities BPF, PERFMON, SYS_RESOURCE and SYS_PTRACE and hostPath mounts of the node (/proc, /etc, "
        "/sys/kernel, the container runtime socket…); baseline forbids added capabilities and hostPath. Opt-in "
        "(scanners.falco.enabled); nothing else runs in this namespace (falcosidekick has its own, restricted).",
    ),
}
#: The annotation the policy pack requires on a namespace enforcing privileged, holding the reason.
BREAK_GLASS_ANNOTATION = "hardened-doks.io/break-glass"

#: Kubescape's aggregated API server (storage) port, reached by the Kubernetes API server.
KUBESCAPE_STORAGE_PORT = 8443
#: Ports Kubescape's components call each other on inside the namespace (operator 4002; scanner
#: and kubevuln 8080).
KUBESCAPE_INTERNAL_PORTS = (4002, 8080)
#: falcosidekick's HTTP input, where Falco posts its events.
FALCOSIDEKICK_PORT = 2801
FALCOSIDEKICK_SECRET = "falcosidekick-slack"
SNYK_SECRET = "snyk-monitor"

#: Falco rule priorities per severity threshold (Falco and falcosidekick use these names).
FALCO_PRIORITIES: dict[str, str] = {"LOW": "notice", "MEDIUM": "warning", "HIGH": "error", "CRITICAL": "critical"}

# Pod-level security context of the charts' pods (Pod Security Standards restricted: non-root,
# RuntimeDefault seccomp).
_POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
# Container-level security context (restricted: no privilege escalation, all capabilities
# dropped; NSA/CISA: read-only root filesystem, non-root).
_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}


#: The image repositories each add-on's chart pulls from (the chart defaults the values here keep),
#: as Kyverno image patterns: the add-on image policy (components/admission.py) admits nothing else
#: in that namespace (DigitalOcean supply-chain checklist: trusted registries only).
ADDON_IMAGES: dict[str, tuple[str, ...]] = {
    KUBESCAPE_NAMESPACE: ("quay.io/kubescape/*",),
    TRIVY_NAMESPACE: ("mirror.gcr.io/aquasec/*",),
    SNYK_NAMESPACE: ("snyk/*", "docker.io/snyk/*"),
    FALCO_NAMESPACE: ("falcosecurity/*", "docker.io/falcosecurity/*"),
    FALCOSIDEKICK_NAMESPACE: ("falcosecurity/*", "docker.io/falcosecurity/*"),
}


def addon_images(config: StackConfig) -> dict[str, tuple[str, ...]]:
    """Every add-on namespace → the images it may run; the notifier's is exactly its pinned image."""
    return {**ADDON_IMAGES, ALERTS_NAMESPACE: (config.alerts.notifier_image,)}


def severities_from(threshold: str) -> list[str]:
    """The severities at or above ``threshold``, lowest first."""
    return list(SEVERITIES[SEVERITIES.index(threshold) :])


# -- values, one pure function per chart ------------------------------------------------


def kubescape_values(config: StackConfig) -> dict[str, Any]:
    """The kubescape-operator chart values."""
    settings = config.scanners.kubescape
    off = "disable"
    return {
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
        "kubescape": {
            # Requests and limits on every container (NSA/CISA: resource limits; CIS 5.7).
            "resources": resources("100m", "256Mi", "600m", "1Gi"),
            # No call home for version checks (nothing sent to a vendor).
            "skipUpdateCheck": True,
            "serviceMonitor": {"enabled": False},
        },
        "operator": {"resources": resources("50m", "100Mi", "300m", "300Mi")},
        "kubevuln": {"resources": resources("200m", "768Mi", "1500m", "2560Mi")},
        "storage": {"resources": resources("50m", "256Mi", "500m", "1Gi")},
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
        },
        "kubevulnScheduler": {"scanSchedule": settings.vulnerability_scan_schedule, "resources": resources("1m", "10Mi", "10m", "20Mi")},
    }


def trivy_values(config: StackConfig) -> dict[str, Any]:
    """The trivy-operator chart values."""
    settings = config.scanners.trivy
    return {
        # DOKS-managed namespaces hold nothing tenants can fix; every other namespace is scanned.
        "excludeNamespaces": "kube-system,kube-public,kube-node-lease",
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
            # Reading image pull secrets cluster-wide lets scan Jobs pull private (DOCR) images;
            # scanners.trivy.private_registries: false drops that grant (CIS 5.1.2).
            "accessGlobalSecretsAndServiceAccount": settings.private_registries,
            "builtInTrivyServer": False,
            "metricsFindingsEnabled": False,
        },
        "serviceMonitor": {"enabled": False},
        "trivyOperator": {
            # Scan Jobs get no API credential (CIS 5.1.6) and the restricted security contexts.
            "scanJobAutomountServiceAccountToken": False,
            "scanJobPodTemplatePodSecurityContext": {**_POD_SECURITY, "runAsUser": 65534, "runAsGroup": 65534},
            "scanJobPodTemplateContainerSecurityContext": _CONTAINER_SECURITY,
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
        # The operator's tag is the chart's appVersion; Always re-resolves it against the registry on
        # every start (CIS 5.5.1: run what the registry serves for the pinned tag).
        "image": {"pullPolicy": "Always"},
        "podSecurityContext": {**_POD_SECURITY, "runAsUser": 10000, "runAsGroup": 10000, "fsGroup": 10000},
        "securityContext": _CONTAINER_SECURITY,
        "resources": resources("50m", "128Mi", "500m", "512Mi"),
    }


def snyk_values(config: StackConfig) -> dict[str, Any]:
    """The snyk-monitor chart values (its credentials are in the Secret snyk_secret() builds)."""
    return {
        "clusterName": config.name,
        # The Secret built from secret config (integration id, service account token, dockercfg).
        "monitorSecrets": SNYK_SECRET,
        "scope": "Cluster",
        # Snyk's default upload endpoint; the monitor is a SaaS agent and is installed only when
        # configured (scanners.snyk.enabled with the secret integration id).
        "integrationApi": "",
        "requests": {"cpu": "100m", "memory": "400Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
        # Pod Security Standards restricted: RuntimeDefault seccomp at pod level.
        "podSecurityContext": _POD_SECURITY,
        "temporaryStorageSize": "10Gi",
        "skip_k8s_jobs": True,
    }


def falco_values(config: StackConfig) -> dict[str, Any]:
    """The falco chart values: modern eBPF with capabilities instead of a privileged container."""
    priority = FALCO_PRIORITIES[config.scanners.severity]
    sidekick = config.slack_webhook_url is not None
    return {
        "driver": {
            "kind": "modern_ebpf",
            # Least privilege (NSA/CISA): BPF, PERFMON, SYS_RESOURCE, SYS_PTRACE instead of
            # privileged: true (see POD_SECURITY_EXEMPTIONS).
            "modernEbpf": {"leastPrivileged": True},
        },
        # No Kubernetes metadata collector (another Deployment and API access); container
        # metadata comes from the runtime socket.
        "collectors": {"kubernetes": {"enabled": False}},
        # falcosidekick runs as its own release in a restricted namespace, not inside this one.
        "falcosidekick": {"enabled": False},
        "falcoctl": {
            "artifact": {
                "install": {"enabled": True},
                # Rules change only with the pinned chart version (change control): no live follow.
                "follow": {"enabled": False},
            }
        },
        "falco": {
            "priority": priority,
            "json_output": True,
            "json_include_output_property": True,
            "http_output": {
                "enabled": sidekick,
                "url": f"http://falcosidekick.{FALCOSIDEKICK_NAMESPACE}.svc.cluster.local:{FALCOSIDEKICK_PORT}/" if sidekick else "",
            },
        },
        "metrics": {"enabled": False},
        # Requests and limits (NSA/CISA: resource limits), per node.
        "resources": resources("100m", "256Mi", "1", "1Gi"),
    }


def falcosidekick_values(config: StackConfig) -> dict[str, Any]:
    """The falcosidekick chart values; the Slack settings come from the Secret it names."""
    return {
        "replicaCount": 1,
        # Webhook URL and Slack settings as environment from a Secret built from secret config:
        # never in the values (state, rendered files).
        "config": {"existingSecret": FALCOSIDEKICK_SECRET},
        "webui": {"enabled": False},
        "podSecurityContext": {**_POD_SECURITY, "runAsUser": 1234, "fsGroup": 1234},
        "securityContext": _CONTAINER_SECURITY,
        "resources": resources("10m", "32Mi", "100m", "128Mi"),
    }


# -- the objects the stack creates around the charts ------------------------------------


def namespace_objects(config: StackConfig, name: str) -> list[dict[str, Any]]:
    """An add-on's managed namespace with the tenants' baseline (Pod Security, quota, LimitRange,
    default-deny, DNS): restricted, or its documented exemption (with the reason)."""
    version = pod_security_version(config)
    labels = {"app.kubernetes.io/name": name}
    level, reason = POD_SECURITY_EXEMPTIONS.get(name, ("restricted", ""))
    # Enforce only what an exempt node agent needs; warn and audit at restricted, so anything else
    # that lands there is visible.
    pod_security = RESTRICTED if not reason else PodSecurity(enforce=level, warn="restricted", audit="restricted")
    # The quota and LimitRange bound what an add-on can take from the cluster (NSA/CISA: resource
    # policies) and give defaults to any chart container that sets no requests.
    objects = baseline(name, pod_security, version, labels, config.namespace_quota, config.container_defaults)
    if reason:
        objects[0]["metadata"]["annotations"] = {BREAK_GLASS_ANNOTATION: reason}
    return objects


def network_policies(config: StackConfig, addon: str) -> list[dict[str, Any]]:
    """What one add-on needs beyond its namespace baseline (default-deny + DNS), and nothing more."""
    if addon == "kubescape":
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
    if addon == "trivy":
        ns = TRIVY_NAMESPACE
        return [
            kube_apiserver_access("trivy-kube-apiserver", ns),
            # The operator fetches the checks bundle; scan Jobs fetch trivy-db (mirror.gcr.io) and
            # pull the images they scan.
            public_https_egress("trivy-https-egress", ns, {}),
        ]
    if addon == "snyk":
        ns = SNYK_NAMESPACE
        return [kube_apiserver_access("snyk-kube-apiserver", ns), public_https_egress("snyk-https-egress", ns, {})]
    if addon == "falco":
        policies = [
            # falcoctl's init container installs the rules and plugin artifacts from ghcr.io.
            public_https_egress("falco-https-egress", FALCO_NAMESPACE, {}),
        ]
        if config.slack_webhook_url is not None:
            policies.append(
                network_policy(
                    "falco-to-falcosidekick",
                    FALCO_NAMESPACE,
                    {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [_namespace(FALCOSIDEKICK_NAMESPACE)], "ports": [_tcp(FALCOSIDEKICK_PORT)]}]},
                )
            )
        return policies
    if addon == "falcosidekick":
        ns = FALCOSIDEKICK_NAMESPACE
        return [
            network_policy(
                "falcosidekick-from-falco",
                ns,
                {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [_namespace(FALCO_NAMESPACE)], "ports": [_tcp(FALCOSIDEKICK_PORT)]}]},
            ),
            # Slack's webhook endpoint.
            public_https_egress("falcosidekick-https-egress", ns, {}),
        ]
    raise ValueError(addon)


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def snyk_secret(config: StackConfig) -> dict[str, Any]:
    """The Snyk monitor's Secret, every value a secret Output (never plain in state or renders)."""
    assert config.snyk_integration_id is not None and config.snyk_service_account_token is not None
    dockercfg = config.snyk_dockercfg.get_secret_value() if config.snyk_dockercfg is not None else "{}"
    return secret(
        SNYK_SECRET,
        SNYK_NAMESPACE,
        {
            "integrationId": pulumi.Output.secret(config.snyk_integration_id.get_secret_value()),
            "serviceAccountApiToken": pulumi.Output.secret(config.snyk_service_account_token.get_secret_value()),
            "dockercfg.json": pulumi.Output.secret(dockercfg),
        },
    )


def falcosidekick_secret(config: StackConfig) -> dict[str, Any]:
    """falcosidekick's Slack output settings; the webhook URL only as a secret Output."""
    assert config.slack_webhook_url is not None
    return secret(
        FALCOSIDEKICK_SECRET,
        FALCOSIDEKICK_NAMESPACE,
        {
            "SLACK_WEBHOOKURL": pulumi.Output.secret(config.slack_webhook_url.get_secret_value()),
            # Falco events at or above the alert threshold go to Slack (alerts.min_severity).
            "SLACK_MINIMUMPRIORITY": FALCO_PRIORITIES[config.alerts.min_severity],
            "SLACK_OUTPUTFORMAT": "all",
        },
    )


# -- releases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Addon:
    """One Helm release of this layer: its chart pin, namespace, release name and local chart."""

    key: str
    namespace: str
    release: str
    chart_path: Optional[str]


def addons(config: StackConfig) -> list[Addon]:
    """The add-ons the config enables, in install order."""
    s = config.scanners
    found = []
    if s.kubescape.enabled:
        found.append(Addon("kubescape", KUBESCAPE_NAMESPACE, "kubescape", s.kubescape.chart_path))
    if s.trivy.enabled:
        found.append(Addon("trivy", TRIVY_NAMESPACE, "trivy-operator", s.trivy.chart_path))
    if s.snyk.enabled:
        found.append(Addon("snyk", SNYK_NAMESPACE, "snyk-monitor", s.snyk.chart_path))
    if s.falco.enabled:
        if config.slack_webhook_url is not None:
            found.append(Addon("falcosidekick", FALCOSIDEKICK_NAMESPACE, "falcosidekick", s.falco.sidekick_chart_path))
        found.append(Addon("falco", FALCO_NAMESPACE, "falco", s.falco.chart_path))
    return found


VALUES = {
    "kubescape": kubescape_values,
    "trivy": trivy_values,
    "snyk": snyk_values,
    "falco": falco_values,
    "falcosidekick": falcosidekick_values,
}


def release_args(config: StackConfig, addon: Addon) -> dict[str, Any]:
    """A Helm Release's arguments: the pinned chart from its repository, or from a local directory."""
    pin = SCANNER_CHARTS[addon.key]
    chart: dict[str, Any]
    if addon.chart_path is not None:
        chart = {"chart": addon.chart_path}
    else:
        chart = {"chart": pin.name, "version": pin.version, "repository_opts": {"repo": pin.repo}}
    return {
        **chart,
        "name": addon.release,
        "namespace": addon.namespace,
        "create_namespace": False,
        "values": VALUES[addon.key](config),
        "skip_await": config.skip_await,
        "timeout": 900,
        "max_history": 10,
    }


def extra_objects(config: StackConfig, addon: Addon) -> list[dict[str, Any]]:
    """Objects an add-on's chart reads that the stack creates (its credentials)."""
    if addon.key == "snyk":
        return [snyk_secret(config)]
    if addon.key == "falcosidekick":
        return [falcosidekick_secret(config)]
    return []


class Scanners(pulumi.ComponentResource):
    """The enabled scanners, each in its hardened namespace with exactly the network paths it needs."""

    def __init__(self, name: str, config: StackConfig, provider: pulumi.ProviderResource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:kubernetes:Scanners", name, None, opts)
        self.namespaces: dict[str, ManagedNamespace] = {}
        self.releases: dict[str, kubernetes.helm.v3.Release] = {}
        for addon in addons(config):
            namespace = ManagedNamespace(
                f"{name}-{addon.namespace}",
                provider,
                namespace_objects(config, addon.namespace),
                skip_await=config.skip_await,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.namespaces[addon.namespace] = namespace
            depends: list[pulumi.Resource] = [namespace]
            depends += [create(o, self, provider, depends_on=[namespace], skip_await=config.skip_await) for o in network_policies(config, addon.key)]
            depends += [create(o, self, provider, depends_on=[namespace], skip_await=config.skip_await) for o in extra_objects(config, addon)]
            self.releases[addon.key] = kubernetes.helm.v3.Release(
                f"{name}-{addon.release}",
                **release_args(config, addon),
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends),
            )
        self.register_outputs({"addons": [a.key for a in addons(config)]})


def chart_values_of(config: StackConfig) -> Mapping[str, dict[str, Any]]:
    """Every enabled add-on's values, by add-on key (the budget report reads them)."""
    return {addon.key: VALUES[addon.key](config) for addon in addons(config)}
