"""Registry read access for Kyverno's signature checks: a read-only, expiring DOCR credential.

DigitalOcean Container Registry (DOCR) is private: it answers anonymous reads with 401. Kyverno
reads an image's signatures (and its digest) from the registry at admission, so without
credentials every signed image of ``admission.allowed_registries`` is refused in Enforce mode,
re-creations after a lost node included. The stack therefore, in DOKS mode, when signatures are
verified and the allowlist names one DOCR registry:

- creates a DOCR Docker credential with ``write: false`` (read only: Kyverno never pushes) that
  expires (``expiry_seconds``), through ``ContainerRegistryDockerCredentials``, whose
  ``dockerCredentials`` output is a secret;
- puts it into a ``kubernetes.io/dockerconfigjson`` Secret in the kyverno namespace, as a secret
  Output (encrypted in state, ``[secret]`` in renders);
- names that Secret in Kyverno's ``--imagePullSecrets`` (the chart's ``existingImagePullSecrets``;
  components/admission.py). Kyverno resolves the Secret on every registry call, so a rotated one
  is used without a restart.

Rotation, before expiry: the credential carries a ``replacement_trigger``, the start date of the
current rotation period (``admission.registry_credentials_rotation_days``, default 30). The first
`pulumi up` of a new period replaces it: the new credential is created, the Secret updated, then
the old credential deleted, which revokes its token. A credential lives three periods, so one
`pulumi up` at least every two periods keeps Kyverno's credential valid (docs/admission.md, "Registry
credentials for signature checks"). The provider itself only regenerates a credential that has
already expired, and only when refreshed (`pulumi up --refresh`): too late for admission.

In existing-cluster mode no DigitalOcean resource is created: ``admission.registry_pull_secret``
names a Secret the operator manages (components/config/checks.py refuses a config that would leave
Kyverno without credentials).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

import pulumi
import pulumi_digitalocean as digitalocean

from hardened_doks.config import StackConfig
from hardened_doks.kube import metadata

#: The Secret the stack creates for Kyverno (in the kyverno namespace).
PULL_SECRET = "kyverno-registry-credentials"
#: A credential is valid for this many rotation periods.
PERIODS_VALID = 3
_EPOCH = date(1970, 1, 1)


def signatures_verified(config: StackConfig) -> bool:
    """Kyverno reads from the registry only to verify signatures (the other policies are patterns)."""
    return config.admission.cosign_public_key is not None or config.admission.keyless is not None


def docr_registry(config: StackConfig) -> Optional[str]:
    """The DOCR registry the stack makes Kyverno's credential for, or None when it makes none."""
    admission = config.admission
    if config.existing_cluster or admission.registry_pull_secret is not None or not signatures_verified(config):
        return None
    names = admission.docr_registries
    return names[0] if len(names) == 1 else None  # more than one is refused by the config


def pull_secret_name(config: StackConfig) -> Optional[str]:
    """The Secret Kyverno reads registries with: the configured one, the stack's own, or none."""
    return config.admission.registry_pull_secret or (PULL_SECRET if docr_registry(config) else None)


def rotation_period(now: datetime, days: int) -> str:
    """The start date of the rotation period ``now`` falls in (periods of ``days`` from 1970-01-01)."""
    elapsed = (now.astimezone(timezone.utc).date() - _EPOCH).days
    return (_EPOCH + timedelta(days=elapsed - elapsed % days)).isoformat()


def credential_args(registry: str, days: int) -> dict[str, Any]:
    """Inputs of the DOCR credential: read only, expiring after PERIODS_VALID rotation periods."""
    return {
        "registry_name": registry,
        # Read only (least privilege; DigitalOcean supply-chain checklist): Kyverno never pushes.
        "write": False,
        # Expiring (CIS 5.1: short-lived credentials): three periods, replaced after one.
        "expiry_seconds": PERIODS_VALID * days * 86400,
    }


def pull_secret(docker_config: pulumi.Input[str], namespace: str) -> dict[str, Any]:
    """The dockerconfigjson Secret Kyverno's --imagePullSecrets names, in Kyverno's ``namespace``; the data only as a secret Output."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(PULL_SECRET, namespace),
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": pulumi.Output.secret(docker_config)},
    }


@dataclass(frozen=True)
class RegistryCredentialsArgs:
    """What the RegistryCredentials component reads."""

    #: The DOCR registry (``registry.digitalocean.com/<name>``).
    registry: str
    #: Days between rotations (the credential lives PERIODS_VALID rotation periods).
    rotation_days: int


class RegistryCredentials(pulumi.ComponentResource):
    """Kyverno's read-only, expiring credential for the stack's DOCR registry (see the module docstring)."""

    credentials: digitalocean.ContainerRegistryDockerCredentials
    docker_config: pulumi.Output[str]
    expires_at: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryCredentialsArgs, opts: Optional[pulumi.ResourceOptions] = None, now: Optional[datetime] = None):
        super().__init__("hardened-doks:digitalocean:RegistryCredentials", name, None, opts)
        registry, days = args.registry, args.rotation_days
        period = rotation_period(now or datetime.now(timezone.utc), days)
        self.credentials = digitalocean.ContainerRegistryDockerCredentials(
            f"{name}-docr",
            **credential_args(registry, days),
            # A new period replaces the credential (create the new, update the Secret, delete the
            # old, which revokes it) long before it expires.
            opts=pulumi.ResourceOptions(parent=self, replacement_trigger=period),
        )
        self.docker_config = pulumi.Output.secret(self.credentials.docker_credentials)
        self.expires_at = self.credentials.credential_expiration_time
        self.register_outputs({"registry": registry, "rotation_period": period, "expires_at": self.expires_at})

