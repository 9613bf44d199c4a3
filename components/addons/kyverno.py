"""Kyverno, the policy engine that verifies image signatures (built by components/admission.py).

Its chart values, network paths and budget live here; the signature policy, the engine's excluded
namespaces and the API server's own admission policies stay with the Admission component.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hardened_doks.addon import POD_SECURITY, Addon, Workload, scheduling, with_digests
from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.config import StackConfig
from hardened_doks.kube import resources
from hardened_doks.network_policies import kube_apiserver_access, public_https_egress
from hardened_doks.registry_access import pull_secret_name

#: The policy engine's namespace.
KYVERNO_NAMESPACE = "kyverno"
#: The Kyverno Helm chart, pinned: chart 3.9.1 is Kyverno v1.19.1. The same chart is in the Go
#: module zip of github.com/kyverno/kyverno@v1.19.1 under charts/kyverno (scripts/kyverno-chart.sh).
CHART = ChartPin("kyverno", "3.9.1", "v1.19.1", "https://kyverno.github.io/kyverno/", "scripts/kyverno-chart.sh")
#: Every image the pinned chart runs with the stack's values, and the value naming it.
CHART_IMAGES: tuple[PinnedImage, ...] = (
    PinnedImage("reg.kyverno.io/kyverno/kyverno:v1.19.1", ("admissionController", "container", "image", "tag")),
    PinnedImage("reg.kyverno.io/kyverno/kyvernopre:v1.19.1", ("admissionController", "initContainer", "image", "tag")),
    PinnedImage("reg.kyverno.io/kyverno/background-controller:v1.19.1", ("backgroundController", "image", "tag")),
    PinnedImage("reg.kyverno.io/kyverno/cleanup-controller:v1.19.1", ("cleanupController", "image", "tag")),
    PinnedImage("reg.kyverno.io/kyverno/reports-controller:v1.19.1", ("reportsController", "image", "tag")),
    PinnedImage("reg.kyverno.io/kyverno/kyverno-cli:v1.19.1", ("crds", "migration", "image", "tag")),
    PinnedImage("ghcr.io/kyverno/readiness-checker:v1.19.1", ("webhooksCleanup", "image", "tag")),
)  # fmt: skip
#: The images Kyverno's pinned chart runs (its controllers and its hook Jobs): the engine's
#: namespace is held to them like every add-on namespace to its chart's (DigitalOcean
#: supply-chain checklist: trusted registries only). Unlike Kyverno's own webhook, a
#: ValidatingAdmissionPolicy cannot deadlock Kyverno's start: the API server evaluates it.
KYVERNO_IMAGES: tuple[str, ...] = ("reg.kyverno.io/kyverno/*", "ghcr.io/kyverno/*")
#: Namespaces Kyverno's webhooks and its signature policy never see, each for a reason:
#: - kube-system: DOKS-managed (CoreDNS, Cilium, konnectivity…); DigitalOcean deploys its images,
#:   and policing them could block the cluster's own recovery;
#: - kyverno: the policy engine itself; if its pods needed its own webhook to start, a
#:   restart with no replica running would deadlock admission. (The API server's policies
#:   have no such loop: they hold the kyverno namespace to its chart's images.)
EXCLUDED_NAMESPACES: tuple[str, ...] = ("kube-system", KYVERNO_NAMESPACE)
#: Kyverno's webhook server port (admission and cleanup controllers).
WEBHOOK_PORT = 9443
#: The controllers besides the admission controller (one replica each).
CONTROLLERS = ("backgroundController", "cleanupController", "reportsController")


def chart_values(config: StackConfig) -> dict[str, Any]:
    """The Kyverno chart values; every security-relevant one with the control it serves."""
    replicas = config.admission.replicas
    excluded = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(EXCLUDED_NAMESPACES)}]}
    # Requests and limits on every container (NSA/CISA: resource limits; CIS 5.7).
    small = resources("10m", "64Mi", "100m", "256Mi")
    # Pod-level security context on every pod (Pod Security Standards restricted: non-root,
    # RuntimeDefault seccomp; the chart already drops all capabilities per container).
    pod_security = POD_SECURITY
    # Registry credentials for signature checks (--imagePullSecrets): a private DOCR refuses
    # anonymous reads, so without them every signed image is refused (components/registry_access.py).
    secret = pull_secret_name(config)
    values: dict[str, Any] = {
        **({"existingImagePullSecrets": [secret]} if secret else {}),
        # Every Kyverno pod (controllers and hook Jobs) on the isolated system pool, away from tenant
        # pods (NSA/CISA: isolate security-critical components); the chart's Linux pin stays.
        "global": scheduling(config, {"kubernetes.io/os": "linux"}),
        "crds": {
            "install": True,
            # Helm hook Jobs (CRD migration on upgrade, webhook clean-up on delete) need a node
            # to run on; with skip_await (an API server without nodes) they would never finish.
            "migration": {"enabled": not config.skip_await, "podResources": small, "podSecurityContext": pod_security},
        },
        "webhooksCleanup": {"enabled": not config.skip_await, "resources": small, "podSecurityContext": pod_security},
        "grafana": {"enabled": False},
        "config": {
            # The webhooks never see the excluded namespaces (see EXCLUDED_NAMESPACES).
            "webhooks": {"namespaceSelector": excluded},
            "excludeKyvernoNamespace": True,
            # The chart's default resource filters skip kube-public and kube-node-lease entirely:
            # the stack holds them to the baseline like any namespace (issue 17.9), so the signature
            # policy applies there too. kube-system stays filtered (see EXCLUDED_NAMESPACES).
            "resourceFiltersExcludeNamespaces": ["kube-public", "kube-node-lease"],
        },
        "features": {
            # PolicyExceptions would let any namespace owner opt out of the policies: off.
            "policyExceptions": {"enabled": False},
            # Kyverno-created resources cannot be edited by others.
            "protectManagedResources": {"enabled": True},
            # Registries are reached over TLS only (NSA/CISA: encrypt traffic).
            "registryClient": {"allowInsecure": False},
        },
        "admissionController": {
            # HA webhook in staging/prod: a Fail-closed webhook with one replica blocks deploys.
            "replicas": replicas,
            "podDisruptionBudget": {"enabled": replicas > 1, "minAvailable": 1},
            "podSecurityContext": pod_security,
            "initContainer": {"resources": small},
            "container": {"resources": resources("100m", "128Mi", "1", "512Mi")},
            # The stack writes its own network policies (see network_policies()).
            "networkPolicy": {"enabled": False},
        },
        **{
            controller: {"resources": resources("100m", "64Mi", "500m", "256Mi"), "podSecurityContext": pod_security, "networkPolicy": {"enabled": False}}
            for controller in CONTROLLERS
        },
    }
    # Images by digest where configured (addon_image_digests; CIS 5.5.1).
    return with_digests(config, CHART_IMAGES, values)


def network_policies(config: StackConfig) -> list[dict[str, Any]]:
    """What Kyverno needs beyond the namespace baseline (default-deny + DNS), and nothing more."""
    return [
        # Every controller watches and writes through the API server; the admission and cleanup
        # controllers receive webhook calls from it.
        kube_apiserver_access("kyverno-kube-apiserver", KYVERNO_NAMESPACE, webhook_port=WEBHOOK_PORT),
        # Signature verification: registries and Sigstore (TUF, Rekor, Fulcio) over HTTPS.
        public_https_egress(
            "kyverno-registry-egress",
            KYVERNO_NAMESPACE,
            {
                "matchExpressions": [
                    {"key": "app.kubernetes.io/component", "operator": "In", "values": ["admission-controller", "reports-controller", "background-controller"]}
                ]
            },
        ),
    ]


def workloads(config: StackConfig, values: Mapping[str, Any], nodes: int) -> list[Workload]:
    """The admission controller's replicas and one pod of each other controller."""
    found = [Workload("admission-controller", "Deployment", values["admissionController"]["replicas"], values["admissionController"]["container"]["resources"]["requests"])]
    for controller in CONTROLLERS:
        found.append(Workload(controller.removesuffix("Controller") + "-controller", "Deployment", 1, values[controller]["resources"]["requests"]))
    return found


ADDON = Addon(
    key="kyverno",
    namespace=KYVERNO_NAMESPACE,
    layer="admission",
    order=0,
    # Always installed: the signature policy needs it (and staging/prod require a signing identity).
    enabled=lambda config: True,
    # The engine's namespace is held to its chart's images (restrict-addon-images).
    images=lambda config: KYVERNO_IMAGES,
    network_policies=network_policies,
    workloads=workloads,
    release="kyverno",
    chart=CHART,
    pinned_images=CHART_IMAGES,
    chart_path_key="admission.chart_path",
    values=chart_values,
    # Kyverno's pods run as non-root with all capabilities dropped: restricted in every profile.
    pod_security="restricted",
    # No ResourceQuota or LimitRange: the engine's replicas are set by admission.replicas.
    quota=None,
    timeout=600,
)
