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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as kubernetes

from hardened_doks import admission_policies
from hardened_doks.addon import AddonInstall
from hardened_doks.addons.kyverno import EXCLUDED_NAMESPACES
from hardened_doks.config import Admission as AdmissionSettings
from hardened_doks.kube import create, metadata
from hardened_doks.namespaces import ManagedNamespace
from hardened_doks.registry_access import pull_secret

SIGNATURE_POLICY = "verify-image-signatures"
#: Kyverno sets this condition once the policy's webhook rules are registered and serving
#: (api/kyverno/v1/policy_status.go); pulumi-kubernetes waits for it (``pulumi.com/waitFor``).
READY_CONDITION = "condition=Ready"


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
            # (shown by the Kyverno CLI in tests/e2e/test_supply_chain.py).
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


def signature_policy(settings: AdmissionSettings, unsigned_namespaces: Sequence[str] = ()) -> Optional[dict[str, Any]]:
    """Images from the allowlisted registries carry a valid signature of the configured identity, in every
    namespace but Kyverno's excluded ones and ``unsigned_namespaces`` (the scanners layer's)."""
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
                **_match_pods((*EXCLUDED_NAMESPACES, *unsigned_namespaces)),
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


@dataclass(frozen=True)
class AdmissionArgs:
    """What the Admission component reads."""

    #: The admission settings: mode, registry allowlist, signing identity.
    settings: AdmissionSettings
    #: The policy engine, Kyverno, as installed (its descriptor, components/addons/kyverno.py).
    engine: AddonInstall
    #: Every add-on namespace → the image patterns it may run (restrict-addon-images).
    addon_images: Mapping[str, tuple[str, ...]]
    #: The scanners layer's namespaces: their ServiceAccounts are held to them, and their upstream
    #: images are not held to the stack's signing identity.
    scanner_namespaces: tuple[str, ...]
    #: The environment profile, named in the warning when signatures are not verified.
    environment: str
    #: Do not wait for the objects to become ready (an API server without nodes).
    skip_await: bool = False


def policies_warning(settings: AdmissionSettings, environment: str) -> Optional[str]:
    """The warning shown when image signatures are not checked (dev without a signing identity)."""
    if signature_policy(settings) is None:
        return (
            "hardened-doks:admission: no cosign_public_key or keyless identity is set, so image signatures are not "
            f"verified in this {environment} stack; staging and prod require one"
        )
    return None


class Admission(pulumi.ComponentResource):
    """The API server's admission policies, and Kyverno in its own hardened namespace for image signatures.

    Image rules audit in dev and enforce in staging/prod (``admission.mode``); the other
    policies deny in every profile (components/admission_policies.py).
    """

    def __init__(
        self,
        name: str,
        args: AdmissionArgs,
        provider: pulumi.ProviderResource,
        opts: Optional[pulumi.ResourceOptions] = None,
        registry_credentials: Optional[pulumi.Input[str]] = None,
    ):
        super().__init__("hardened-doks:kubernetes:Admission", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        engine, skip_await = args.engine, args.skip_await
        assert engine.release is not None, "Kyverno is a Helm chart"
        # The API server's policies first: they need nothing else, and what comes after (Kyverno
        # included) is admitted under them.
        pairs = admission_policies.policies(args.settings, args.addon_images, args.scanner_namespaces)
        self.validating_policies = [create(p, self, provider, skip_await=skip_await) for p, _ in pairs]
        self.validating_bindings = [
            create(b, self, provider, depends_on=[p], skip_await=skip_await) for p, (_, b) in zip(self.validating_policies, pairs, strict=True)
        ]
        # Kyverno's pods run as non-root with all capabilities dropped: its namespace enforces
        # restricted in every profile (Pod Security Standards).
        self.namespace = ManagedNamespace(f"{name}-namespace", provider, list(engine.namespace_objects), skip_await=skip_await, opts=child)
        depends = [self.namespace]
        in_namespace = self.namespace.deletes
        self.network_policies = [create(o, self, provider, depends_on=depends, skip_await=skip_await, deleted_with=in_namespace(o)) for o in engine.network_policies]
        # The Secret Kyverno's --imagePullSecrets names (components/registry_access.py), before Kyverno starts.
        pull = None if registry_credentials is None else pull_secret(registry_credentials, engine.namespace)
        secrets = [] if pull is None else [create(pull, self, provider, depends_on=depends, skip_await=skip_await, deleted_with=in_namespace(pull))]
        warning = policies_warning(args.settings, args.environment)
        if warning:
            pulumi.log.warn(warning, self)
        self.release = kubernetes.helm.v3.Release(
            f"{name}-{engine.release['name']}",
            **engine.release,
            opts=pulumi.ResourceOptions(
                parent=self, provider=provider, depends_on=depends + self.network_policies + secrets + self.validating_policies + self.validating_bindings
            ),
        )
        signatures = signature_policy(args.settings, args.scanner_namespaces)
        self.policies = [create(signatures, self, provider, depends_on=[self.release], skip_await=skip_await)] if signatures else []
        self.register_outputs(
            {
                "namespace": engine.namespace,
                "validating_policies": [p["metadata"]["name"] for p, _ in pairs],
                "policies": [signatures["metadata"]["name"]] if signatures else [],
            }
        )

