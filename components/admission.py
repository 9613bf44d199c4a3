"""Trusted images at admission: the API server's own policies, and Kyverno for signatures.

Two engines, each for what it does best:

- **ValidatingAdmissionPolicy** (components/admission_policies.py) for every rule that can be
  decided from the request alone: the registry allowlist, no ``:latest`` or missing tag, the
  add-on namespaces' image allowlists, NodePort and ``externalIPs`` Services, RoleBindings to
  ``system:`` subjects, ServiceAccount token Secrets, developers' Secret references and the
  scanners' ServiceAccounts. The Kubernetes API server evaluates them in-process (GA since
  1.30; DOKS 1.34 serves them): no webhook and so no ``failurePolicy`` trade-off, still in force
  while Kyverno's pods are down or not yet installed, and live-tested against the end-to-end
  tier's real kube-apiserver;
- **Kyverno** for what needs a registry: image signature verification (``verifyImages``,
  cosign keys or keyless Fulcio/Rekor identities), which a CEL rule cannot do.

Why Kyverno rather than the sigstore policy-controller for signatures:

- its official chart and CRDs can be installed with no chart repository reachable: the Go
  module zip of ``github.com/kyverno/kyverno@v1.19.1`` carries ``charts/kyverno`` (chart
  3.9.1) with the ``kyverno.io`` CRDs as a local subchart (scripts/kyverno-chart.sh
  prepares it; the e2e tier installs it from there);
- it enforces in every namespace that is not excluded, whereas the policy-controller only
  acts in namespaces labelled ``policy.sigstore.dev/include``: a forgotten label would
  silently admit unsigned images.

The signature policy is a ``kyverno.io/v1`` ClusterPolicy, the type whose CRD the chart's own
``crds`` subchart ships (the newer ``policies.kyverno.io`` types come from a remote
dependency chart that is not in the module zip).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from components import admission_policies
from components.admission_policies import SCANNER_NAMESPACES
from components.config import (
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
from components.registry_access import pull_secret, pull_secret_name
from components.scanners import addon_images, scheduling, with_digests

#: Namespaces Kyverno's webhooks and its signature policy never see, each for a reason:
#: - kube-system: DOKS-managed (CoreDNS, Cilium, konnectivity…); DigitalOcean deploys its images,
#:   and policing them could block the cluster's own recovery;
#: - kyverno: the policy engine itself; if its pods needed its own webhook to start, a
#:   restart with no replica running would deadlock admission. (The API server's policies
#:   have no such loop: they hold the kyverno namespace to its chart's images.)
EXCLUDED_NAMESPACES: tuple[str, ...] = ("kube-system", KYVERNO_NAMESPACE)
#: Kyverno's webhook server port (admission and cleanup controllers).
WEBHOOK_PORT = 9443
SIGNATURE_POLICY = "verify-image-signatures"
#: Kyverno sets this condition once the policy's webhook rules are registered and serving
#: (api/kyverno/v1/policy_status.go); pulumi-kubernetes waits for it (``pulumi.com/waitFor``).
READY_CONDITION = "condition=Ready"


def chart_values(config: StackConfig) -> dict[str, Any]:
    """The Kyverno chart values; every security-relevant one with the control it serves."""
    replicas = config.admission.replicas
    excluded = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(EXCLUDED_NAMESPACES)}]}
    # Requests and limits on every container (NSA/CISA: resource limits; CIS 5.7).
    small = resources("10m", "64Mi", "100m", "256Mi")
    # Pod-level security context on every pod (Pod Security Standards restricted: non-root,
    # RuntimeDefault seccomp; the chart already drops all capabilities per container).
    pod_security = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
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
                # What depends on admission (tenants, scanners) waits until Kyverno serves the
                # policy (issue 17.10: no first deploy without admission).
                "pulumi.com/waitFor": READY_CONDITION,
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


def attestor(settings: AdmissionSettings) -> dict[str, Any]:
    """Who must have signed: a cosign public key, or a keyless (Fulcio/Rekor) identity."""
    if settings.cosign_public_key is not None:
        keys: dict[str, Any] = {"publicKeys": settings.cosign_public_key.strip()}
        if not settings.cosign_key_transparency_log:
            # Signed with --tlog-upload=false: no Rekor entry to check, and a key has no certificate (so no SCT).
            # Without these Kyverno fetches Sigstore's Rekor and CT log keys and refuses every such signature
            # (shown by the Kyverno CLI in tests/e2e/test_9_supply_chain.py).
            keys["rekor"] = {"ignoreTlog": True}
            keys["ctlog"] = {"ignoreSCT": True}
        return {"keys": keys}
    keyless = settings.keyless
    assert keyless is not None
    entry: dict[str, Any] = {"issuer": keyless.issuer, "rekor": {"url": keyless.rekor_url}}
    if keyless.subject is not None:
        entry["subject"] = keyless.subject
    else:
        entry["subjectRegExp"] = keyless.subject_regexp
    return {"keyless": entry}


def signature_policy(settings: AdmissionSettings) -> Optional[dict[str, Any]]:
    """Images from the allowlisted registries carry a valid signature of the configured identity."""
    if settings.cosign_public_key is None and settings.keyless is None:
        return None
    enforce = settings.mode == "Enforce"
    return _cluster_policy(
        SIGNATURE_POLICY,
        "Verify image signatures",
        "Images from the allowed registries must be signed by the configured cosign key or keyless identity (DigitalOcean supply-chain checklist).",
        settings.mode,
        [
            {
                "name": "verify-signatures",
                # The add-on namespaces run their charts' upstream images, not signed by the
                # stack's identity: each is held to its chart's images (restrict-addon-images).
                **_match_pods(EXCLUDED_NAMESPACES + SCANNER_NAMESPACES),
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
        # Background scans (Kyverno's reports controller, hourly) re-verify pods that exist
        # already: those admitted before the policy (an existing cluster hardened by this stack,
        # pods from a time the webhook was unreachable in dev's Ignore mode), and images whose
        # signature was revoked since. Failures land in PolicyReports; nothing is evicted.
        background=True,
    )


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
    """The API server's admission policies, and Kyverno in its own hardened namespace for image signatures.

    Image rules audit in dev and enforce in staging/prod (``admission.mode``); the other
    policies deny in every profile (components/admission_policies.py).
    """

    def __init__(
        self,
        name: str,
        config: StackConfig,
        provider: pulumi.ProviderResource,
        opts: Optional[pulumi.ResourceOptions] = None,
        registry_credentials: Optional[pulumi.Input[str]] = None,
    ):
        super().__init__("hardened-doks:kubernetes:Admission", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The API server's policies first: they need nothing else, and what comes after (Kyverno
        # included) is admitted under them.
        pairs = admission_policies.policies(config.admission, addon_images(config))
        self.validating_policies = [create(p, self, provider, skip_await=config.skip_await) for p, _ in pairs]
        self.validating_bindings = [
            create(b, self, provider, depends_on=[p], skip_await=config.skip_await) for p, (_, b) in zip(self.validating_policies, pairs)
        ]
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
        # The Secret Kyverno's --imagePullSecrets names (components/registry_access.py), before Kyverno starts.
        secrets = [] if registry_credentials is None else [create(pull_secret(registry_credentials), self, provider, depends_on=depends, skip_await=config.skip_await)]
        warning = self.policies_warning(config)
        if warning:
            pulumi.log.warn(warning, self)
        self.release = kubernetes.helm.v3.Release(
            f"{name}-kyverno",
            **release_args(config),
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=depends + self.network_policies + secrets + self.validating_policies + self.validating_bindings
            ),
        )
        signatures = signature_policy(config.admission)
        self.policies = [create(signatures, self, provider, depends_on=[self.release], skip_await=config.skip_await)] if signatures else []
        self.register_outputs(
            {
                "namespace": KYVERNO_NAMESPACE,
                "validating_policies": [p["metadata"]["name"] for p, _ in pairs],
                "policies": [signatures["metadata"]["name"]] if signatures else [],
            }
        )

    @staticmethod
    def policies_warning(config: StackConfig) -> Optional[str]:
        """The warning shown when image signatures are not checked (dev without a signing identity)."""
        if signature_policy(config.admission) is None:
            return (
                "hardened-doks:admission: no cosign_public_key or keyless identity is set, so image signatures are not "
                f"verified in this {config.environment} stack; staging and prod require one"
            )
        return None

