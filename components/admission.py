"""Trusted images at admission: Kyverno, hardened, and three policies.

Why Kyverno rather than the sigstore policy-controller:

- its official chart and CRDs can be installed with no chart repository reachable: the Go
  module zip of ``github.com/kyverno/kyverno@v1.19.1`` carries ``charts/kyverno`` (chart
  3.9.1) with the ``kyverno.io`` CRDs as a local subchart (scripts/kyverno-chart.sh
  prepares it; the e2e tier installs it from there);
- one engine covers all three rules the stack needs (registry allowlist, signatures, no
  ``:latest``), while the policy-controller only verifies signatures and would need a
  second engine for the other two;
- it enforces in every namespace that is not excluded, whereas the policy-controller only
  acts in namespaces labelled ``policy.sigstore.dev/include``: a forgotten label would
  silently admit unsigned images.

The policies are ``kyverno.io/v1`` ClusterPolicies, the type whose CRD the chart's own
``crds`` subchart ships (the newer ``policies.kyverno.io`` types come from a remote
dependency chart that is not in the module zip).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from components.config import (
    ADDON_NAMESPACES,
    KYVERNO_CHART,
    KYVERNO_CHART_REPO,
    KYVERNO_CHART_VERSION,
    KYVERNO_NAMESPACE,
    Admission as AdmissionSettings,
    StackConfig,
)
from components.kube import create, metadata, resources
from components.namespaces import RESTRICTED, ManagedNamespace, baseline, pod_security_version
from components.network_policies import kube_apiserver_access, public_https_egress
from components.scanners import addon_images, scheduling, with_digests

#: Namespaces no policy applies to, each for a reason:
#: - kube-system: DOKS-managed (CoreDNS, Cilium, konnectivity…); DigitalOcean deploys its images,
#:   and policing them could block the cluster's own recovery;
#: - kyverno: the policy engine itself; if its pods needed its own webhook to start, a
#:   restart with no replica running would deadlock admission.
EXCLUDED_NAMESPACES: tuple[str, ...] = ("kube-system", KYVERNO_NAMESPACE)
#: The scanners layer's namespaces (components/scanners.py, components/alerts.py): their pods run the
#: pinned upstream charts' images, which are neither in the tenants' registry allowlist nor signed by
#: the stack's identity. The registry and signature policies leave them out; each is held to its own
#: image allowlist instead (``restrict-addon-images``). The ``:latest`` policy applies to them too.
ADDON_IMAGE_NAMESPACES: tuple[str, ...] = tuple(ns for ns in ADDON_NAMESPACES if ns != KYVERNO_NAMESPACE)
ADDON_POLICY_NAME = "restrict-addon-images"
#: Kyverno's webhook server port (admission and cleanup controllers).
WEBHOOK_PORT = 9443
POLICY_NAMES = ("restrict-image-registries", "disallow-latest-tag", "verify-image-signatures")


def chart_values(config: StackConfig) -> dict[str, Any]:
    """The Kyverno chart values; every security-relevant one with the control it serves."""
    replicas = config.admission.replicas
    excluded = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(EXCLUDED_NAMESPACES)}]}
    # Requests and limits on every container (NSA/CISA: resource limits; CIS 5.7).
    small = resources("10m", "64Mi", "100m", "256Mi")
    # Pod-level security context on every pod (Pod Security Standards restricted: non-root,
    # RuntimeDefault seccomp; the chart already drops all capabilities per container).
    pod_security = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    values: dict[str, Any] = {
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
            for controller in ("backgroundController", "cleanupController", "reportsController")
        },
    }
    # Images by digest where configured (addon_image_digests; CIS 5.5.1).
    return with_digests(config, "kyverno", values)


def network_policies() -> list[dict[str, Any]]:
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


def image_patterns(registries: list[str]) -> list[str]:
    """Kyverno wildcard patterns for images under each allowed registry or repository prefix."""
    return [f"{registry}/*" for registry in registries]


def _cluster_policy(name: str, title: str, description: str, mode: str, rules: list[dict[str, Any]], background: bool) -> dict[str, Any]:
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": metadata(
            name,
            annotations={
                "policies.kyverno.io/title": title,
                "policies.kyverno.io/category": "Supply Chain Security",
                "policies.kyverno.io/severity": "high",
                "policies.kyverno.io/subject": "Pod",
                "policies.kyverno.io/description": description,
            },
        ),
        "spec": {
            "background": background,
            "webhookConfiguration": {
                # Enforce fails closed (a down webhook rejects rather than admits); Audit never blocks.
                "failurePolicy": "Fail" if mode == "Enforce" else "Ignore",
                # Signature checks fetch from registries: allow the maximum webhook timeout.
                "timeoutSeconds": 30,
            },
            "rules": rules,
        },
    }


def _match_pods(excluded: Sequence[str] = EXCLUDED_NAMESPACES) -> dict[str, Any]:
    # Pods in every namespace but the excluded ones (Kyverno auto-generates the rules for
    # Deployments, StatefulSets, Jobs… from these Pod rules).
    return {
        "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
        "exclude": {"any": [{"resources": {"namespaces": list(excluded)}}]},
    }


def _containers(image: str) -> dict[str, Any]:
    entry = [{"image": image}]
    return {"spec": {"=(ephemeralContainers)": entry, "=(initContainers)": entry, "containers": entry}}


def registry_policy(settings: AdmissionSettings) -> dict[str, Any]:
    """(a) Images only from the allowlisted registries."""
    allowed = " | ".join(image_patterns(settings.allowed_registries))
    return _cluster_policy(
        "restrict-image-registries",
        "Restrict image registries",
        "Images must come from the stack's registry allowlist (DigitalOcean supply-chain checklist; NSA/CISA: trusted repositories).",
        settings.mode,
        [
            {
                "name": "allowed-registries",
                **_match_pods(EXCLUDED_NAMESPACES + ADDON_IMAGE_NAMESPACES),
                "validate": {
                    "failureAction": settings.mode,
                    "message": f"Images must come from an allowed registry: {', '.join(settings.allowed_registries)}.",
                    "pattern": _containers(allowed),
                },
            }
        ],
        background=True,
    )


def latest_tag_policy(settings: AdmissionSettings) -> dict[str, Any]:
    """(c) No mutable ``:latest`` (or missing) tags."""
    return _cluster_policy(
        "disallow-latest-tag",
        "Disallow latest tag",
        "Images must name an immutable tag or digest, never :latest (NSA/CISA: know what runs).",
        settings.mode,
        [
            {
                "name": "require-image-tag",
                **_match_pods(),
                "validate": {"failureAction": settings.mode, "message": "An image tag or digest is required.", "pattern": _containers("*:*")},
            },
            {
                "name": "disallow-latest",
                **_match_pods(),
                "validate": {"failureAction": settings.mode, "message": "The mutable :latest tag is not allowed.", "pattern": _containers("!*:latest")},
            },
        ],
        background=True,
    )


def attestor(settings: AdmissionSettings) -> dict[str, Any]:
    """Who must have signed: a cosign public key, or a keyless (Fulcio/Rekor) identity."""
    if settings.cosign_public_key is not None:
        return {"keys": {"publicKeys": settings.cosign_public_key.strip()}}
    keyless = settings.keyless
    assert keyless is not None
    entry: dict[str, Any] = {"issuer": keyless.issuer, "rekor": {"url": keyless.rekor_url}}
    if keyless.subject is not None:
        entry["subject"] = keyless.subject
    else:
        entry["subjectRegExp"] = keyless.subject_regexp
    return {"keyless": entry}


def signature_policy(settings: AdmissionSettings) -> Optional[dict[str, Any]]:
    """(b) Images from the allowlisted registries carry a valid signature of the configured identity."""
    if settings.cosign_public_key is None and settings.keyless is None:
        return None
    enforce = settings.mode == "Enforce"
    return _cluster_policy(
        "verify-image-signatures",
        "Verify image signatures",
        "Images from the allowed registries must be signed by the configured cosign key or keyless identity (DigitalOcean supply-chain checklist).",
        settings.mode,
        [
            {
                "name": "verify-signatures",
                **_match_pods(EXCLUDED_NAMESPACES + ADDON_IMAGE_NAMESPACES),
                "verifyImages": [
                    {
                        "imageReferences": image_patterns(settings.allowed_registries),
                        "failureAction": settings.mode,
                        "type": "Cosign",
                        # Pin the verified digest into the pod (Kyverno refuses this in Audit mode).
                        "mutateDigest": enforce,
                        "verifyDigest": True,
                        "required": True,
                        "attestors": [{"count": 1, "entries": [attestor(settings)]}],
                    }
                ],
            }
        ],
        # Verification calls registries; keep it to admission time, not periodic rescans.
        background=False,
    )


def addon_image_policy(settings: AdmissionSettings, images_by_namespace: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """(a) for the scanners layer: each add-on namespace admits only its pinned chart's image repositories."""
    return _cluster_policy(
        ADDON_POLICY_NAME,
        "Restrict add-on images",
        "Pods in a security add-on's namespace run only that add-on's upstream images (DigitalOcean supply-chain checklist; NSA/CISA: trusted repositories).",
        settings.mode,
        [
            {
                "name": f"{namespace}-images",
                "match": {"any": [{"resources": {"kinds": ["Pod"], "namespaces": [namespace]}}]},
                "validate": {
                    "failureAction": settings.mode,
                    "message": f"Images in {namespace} must come from: {', '.join(images)}.",
                    "pattern": _containers(" | ".join(images)),
                },
            }
            for namespace, images in images_by_namespace.items()
        ],
        background=True,
    )


def cluster_policies(settings: AdmissionSettings, images_by_namespace: Optional[Mapping[str, Sequence[str]]] = None) -> list[dict[str, Any]]:
    policies = [registry_policy(settings), latest_tag_policy(settings), signature_policy(settings)]
    if images_by_namespace:
        policies.append(addon_image_policy(settings, images_by_namespace))
    return [p for p in policies if p is not None]


def release_args(config: StackConfig) -> dict[str, Any]:
    """The Helm Release's arguments: the pinned chart from its repository, or from a local directory."""
    chart: dict[str, Any]
    if config.admission.chart_path is not None:
        chart = {"chart": config.admission.chart_path}
    else:
        chart = {"chart": KYVERNO_CHART, "version": KYVERNO_CHART_VERSION, "repository_opts": {"repo": KYVERNO_CHART_REPO}}
    return {
        **chart,
        "name": "kyverno",
        "namespace": KYVERNO_NAMESPACE,
        "create_namespace": False,
        "values": chart_values(config),
        "skip_await": config.skip_await,
        "timeout": 600,
        "max_history": 10,
    }


class Admission(pulumi.ComponentResource):
    """Kyverno in its own hardened namespace, and the image policies (Audit in dev, Enforce in staging/prod)."""

    def __init__(self, name: str, config: StackConfig, provider: pulumi.ProviderResource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:kubernetes:Admission", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Kyverno's pods run as non-root with all capabilities dropped: its namespace enforces
        # restricted in every profile (Pod Security Standards).
        self.namespace = ManagedNamespace(
            f"{name}-namespace",
            provider,
            baseline(KYVERNO_NAMESPACE, RESTRICTED, pod_security_version(config), {"app.kubernetes.io/name": "kyverno"}),
            skip_await=config.skip_await,
            opts=child,
        )
        depends = [self.namespace]
        self.network_policies = [create(o, self, provider, depends_on=depends, skip_await=config.skip_await) for o in network_policies()]
        warning = self.policies_warning(config)
        if warning:
            pulumi.log.warn(warning, self)
        self.release = kubernetes.helm.v3.Release(
            f"{name}-kyverno",
            **release_args(config),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends + self.network_policies),
        )
        policies = cluster_policies(config.admission, addon_images(config))
        self.policies = [create(o, self, provider, depends_on=[self.release], skip_await=config.skip_await) for o in policies]
        self.register_outputs({"namespace": KYVERNO_NAMESPACE, "policies": [p["metadata"]["name"] for p in policies]})

    @staticmethod
    def policies_warning(config: StackConfig) -> Optional[str]:
        """The warning shown when image signatures are not checked (dev without a signing identity)."""
        if signature_policy(config.admission) is None:
            return (
                "hardened-doks:admission: no cosign_public_key or keyless identity is set, so image signatures are not "
                f"verified in this {config.environment} stack; staging and prod require one"
            )
        return None

