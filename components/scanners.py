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
    FALCO_RULES,
    FALCOSIDEKICK_NAMESPACE,
    KUBESCAPE_NAMESPACE,
    PINNED_IMAGES,
    SCANNER_CHARTS,
    SEVERITIES,
    SNYK_NAMESPACE,
    TRIVY_NAMESPACE,
    NamespaceQuota,
    PodSecurity,
    StackConfig,
)
from components.kube import addon_scheduling, create, format_quantity, metadata, quantity_value, resources, secret
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


def with_digests(config: StackConfig, addon: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every configured digest of the add-on's images set where its chart names it.

    CIS 5.5.1 / NSA-CISA: an image by digest is exactly the image that was reviewed; a tag (and an
    OCI artifact's tag) can be moved to other content. The tag stays in front for readability
    (``repo:tag@sha256:…``: the runtime pulls by digest). Digests come from ``addon_image_digests``
    (``make image-digests`` resolves them); none is invented here.
    """
    for image in (i for i in PINNED_IMAGES if i.addon == addon):
        digest = config.image_digest(image.reference)
        if digest is None:
            continue
        *parents, leaf = image.value
        node: Any = values
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[leaf] = f"{image.tag if image.form == 'tag' else image.reference}@{digest}"
    return values


def scheduling(config: StackConfig, node_selector: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """nodeSelector and tolerations of an add-on's pods: the isolated system pool (if it is)."""
    selector, tolerations = addon_scheduling(config)
    return {"nodeSelector": {**(node_selector or {}), **selector}, "tolerations": tolerations}


#: Why no add-on pod sets seLinuxOptions (the review asked): DOKS worker nodes are Debian-based and
#: run no SELinux policy, so an SELinux label would be inert; the Linux hardening in force is seccomp
#: RuntimeDefault plus all capabilities dropped (Kubescape C-0055 accepts either). AppArmor's
#: RuntimeDefault is not set either: a node without AppArmor rejects pods that ask for a profile, and
#: DOKS's AppArmor state could not be verified from here.
SELINUX_NOT_SET = "DOKS nodes run no SELinux policy: seLinuxOptions would be inert (seccomp RuntimeDefault and drop ALL apply instead)"


# -- values, one pure function per chart ------------------------------------------------


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
    return with_digests(config, "kubescape", values)


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
            "scanJobPodTemplatePodSecurityContext": {**_POD_SECURITY, "runAsUser": 65534, "runAsGroup": 65534},
            "scanJobPodTemplateContainerSecurityContext": _CONTAINER_SECURITY,
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
        "image": {"tag": SCANNER_CHARTS["trivy"].app_version, "pullPolicy": "IfNotPresent"},
        "podSecurityContext": {**_POD_SECURITY, "runAsUser": 10000, "runAsGroup": 10000, "fsGroup": 10000},
        "securityContext": _CONTAINER_SECURITY,
        "resources": resources("50m", "128Mi", "500m", "512Mi"),
        **placed,
    }
    return with_digests(config, "trivy", values)


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


#: The user and group the snyk/kubernetes-monitor image is built to run as (its Dockerfile: USER 10001:10001).
SNYK_UID = 10001


def snyk_values(config: StackConfig) -> dict[str, Any]:
    """The snyk-monitor chart values (its credentials are in the Secret snyk_secret() builds)."""
    placed = scheduling(config)
    values: dict[str, Any] = {
        "clusterName": config.name,
        # The Secret built from secret config (integration id, service account token, dockercfg).
        "monitorSecrets": SNYK_SECRET,
        "scope": "Cluster",
        # Snyk's default upload endpoint; the monitor is a SaaS agent and is installed only when
        # configured (scanners.snyk.enabled with the secret integration id).
        "integrationApi": "",
        "requests": {"cpu": "100m", "memory": "400Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
        # Pod Security Standards restricted: the chart's init container (busybox:latest, runAsNonRoot
        # false, only a `chmod` of the scratch volume) is refused by restricted admission and runs a
        # floating tag. Off: the scratch volume is an emptyDir, writable by any user, and fsGroup
        # gives it the monitor's group.
        "initContainers": {"enabled": False},
        # Restricted: non-root (the image's own 10001:10001, never group 0), RuntimeDefault seccomp.
        "podSecurityContext": {**_POD_SECURITY, "runAsUser": SNYK_UID, "runAsGroup": SNYK_UID, "fsGroup": SNYK_UID},
        # The chart's tag is the pinned version (digest: addon_image_digests); pulled once per node.
        "image": {"pullPolicy": "IfNotPresent"},
        "temporaryStorageSize": "10Gi",
        "skip_k8s_jobs": True,
        # The chart's own NetworkPolicy allows all egress (`egress: [{}]`), which would add to the
        # namespace's default-deny: off; the stack writes exactly the monitor's paths (NSA/CISA).
        "networkPolicy": {"enabled": False},
        **placed,
    }
    return with_digests(config, "snyk", values)


def falco_values(config: StackConfig) -> dict[str, Any]:
    """The falco chart values: modern eBPF with capabilities instead of a privileged container."""
    priority = FALCO_PRIORITIES[config.scanners.severity]
    sidekick = config.slack_webhook_url is not None
    # The node agent runs on every node (a DaemonSet): it tolerates the isolated system pool's taint
    # (next to the chart's control-plane tolerations) and selects no pool.
    _, tolerations = addon_scheduling(config)
    values: dict[str, Any] = {
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
                "install": {
                    "enabled": True,
                    # The init container only downloads artifacts into emptyDirs: no capability,
                    # no privilege escalation, RuntimeDefault seccomp (NSA/CISA least privilege).
                    "securityContext": {**_CONTAINER_SECURITY, "readOnlyRootFilesystem": False, "runAsNonRoot": False,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    # Requests and limits (NSA/CISA: resource limits; CIS 5.7).
                    "resources": resources("10m", "32Mi", "200m", "128Mi"),
                },
                # Rules change only with a change here (change control): no live follow.
                "follow": {"enabled": False},
            },
            "config": {
                "artifact": {
                    "install": {
                        # An exact rules release instead of the chart's floating `falco-rules:5`
                        # (the README's "rules fixed"; digest: addon_image_digests), and exactly
                        # the listed artifacts: no dependency resolution to newer plugin versions.
                        "refs": [FALCO_RULES],
                        "resolveDeps": False,
                    }
                }
            },
        },  # fmt: skip
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
        "resources": FALCO_RESOURCES,
        "tolerations": [
            {"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"},
            {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"},
            *tolerations,
        ],
    }
    return with_digests(config, "falco", values)


def falcosidekick_values(config: StackConfig) -> dict[str, Any]:
    """The falcosidekick chart values; the Slack settings come from the Secret it names."""
    values: dict[str, Any] = {
        "replicaCount": 1,
        # Webhook URL and Slack settings as environment from a Secret built from secret config:
        # never in the values (state, rendered files).
        "config": {"existingSecret": FALCOSIDEKICK_SECRET},
        "webui": {"enabled": False},
        # Restricted: the image's own non-root user 1234 and its group (never group 0).
        "podSecurityContext": {**_POD_SECURITY, "runAsUser": 1234, "runAsGroup": 1234, "fsGroup": 1234},
        "securityContext": _CONTAINER_SECURITY,
        "resources": resources("10m", "32Mi", "100m", "128Mi"),
        **scheduling(config),
    }
    return with_digests(config, "falcosidekick", values)


# -- the objects the stack creates around the charts ------------------------------------


#: Falco's requests and limits per pod (one pod per node).
FALCO_RESOURCES = resources("100m", "256Mi", "1", "1Gi")
#: The quota fields that bound compute, → (the requests/limits key, the resource).
_COMPUTE_QUOTA = {
    "requests_cpu": ("requests", "cpu"),
    "requests_memory": ("requests", "memory"),
    "limits_cpu": ("limits", "cpu"),
    "limits_memory": ("limits", "memory"),
}


def node_agent_quota(config: StackConfig, per_pod: Mapping[str, Mapping[str, str]]) -> NamespaceQuota:
    """The quota of a namespace running one pod per node: the tenants' quota, with its compute and
    pod counts raised to what that pod takes on the most nodes the pools can reach.

    The tenants' quota (4 CPUs of requests, 8 of limits…) would stop a DaemonSet's pods at 8 nodes
    while prod's pools autoscale to 15: nodes without Falco are nodes nobody watches. The quota still
    bounds the namespace (NSA/CISA: resource policies), to exactly what the agent needs."""
    nodes = config.max_nodes
    quota = config.namespace_quota
    raised: dict[str, Any] = {"pods": max(quota.pods, nodes)}
    for field, (kind, resource) in _COMPUTE_QUOTA.items():
        needed = quantity_value(per_pod[kind][resource]) * nodes
        if needed > quantity_value(getattr(quota, field)):
            raised[field] = format_quantity(needed, resource)
    return quota.model_copy(update=raised)


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
    quota = node_agent_quota(config, FALCO_RESOURCES) if name == FALCO_NAMESPACE else config.namespace_quota
    objects = baseline(name, pod_security, version, labels, quota, config.container_defaults)
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
    dockercfg = config.secret_input("snyk_dockercfg") if config.snyk_dockercfg is not None else pulumi.Output.secret("{}")
    return secret(
        SNYK_SECRET,
        SNYK_NAMESPACE,
        {
            "integrationId": config.secret_input("snyk_integration_id"),
            "serviceAccountApiToken": config.secret_input("snyk_service_account_token"),
            "dockercfg.json": dockercfg,
        },
    )


def falcosidekick_secret(config: StackConfig) -> dict[str, Any]:
    """falcosidekick's Slack output settings; the webhook URL only as a secret Output."""
    assert config.slack_webhook_url is not None
    return secret(
        FALCOSIDEKICK_SECRET,
        FALCOSIDEKICK_NAMESPACE,
        {
            "SLACK_WEBHOOKURL": config.secret_input("slack_webhook_url"),
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


#: Releases whose chart hard-codes security contexts no value can complete: Helm pipes their manifests
#: through the project's post-renderer (tools/helm_postrender.py: drop ALL capabilities, a non-root
#: group), which Pod Security restricted needs. Relative to the project folder, the provider's working
#: directory.
POSTRENDERED = {"kubescape": "tools/helm_postrender.py"}


def release_args(config: StackConfig, addon: Addon) -> dict[str, Any]:
    """A Helm Release's arguments: the pinned chart from its repository, or a local folder or archive."""
    pin = SCANNER_CHARTS[addon.key]
    chart: dict[str, Any]
    if addon.chart_path is not None:
        chart = {"chart": addon.chart_path}
    else:
        chart = {"chart": pin.name, "version": pin.version, "repository_opts": {"repo": pin.repo}}
    if addon.key in POSTRENDERED:
        chart["postrender"] = POSTRENDERED[addon.key]
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
    """Objects an add-on's chart needs that the stack creates (credentials, Trivy's RBAC)."""
    if addon.key == "trivy":
        return trivy_rbac(config)
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
