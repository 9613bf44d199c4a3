"""Admission settings: trusted registries and the signing identity images must carry."""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import field_validator, model_validator

from hardened_doks.config.fields import _DNS_LABEL, Section, setting

#: The host of DigitalOcean Container Registry (DOCR) images: registry.digitalocean.com/<registry>/<repository>.
DOCR_HOST = "registry.digitalocean.com"

#: Registries shared by many publishers: anyone can push an image there under their own name, so
#: only a repository path names whose images they are (``ghcr.io/<your-org>``, ``DOCR_HOST/<your-registry>``).
#: Staging and prod refuse these hosts without a path (supply chain: pull only from sources you control).
SHARED_REGISTRY_HOSTS: frozenset[str] = frozenset({
    DOCR_HOST, "docker.io", "index.docker.io", "registry-1.docker.io", "ghcr.io", "quay.io", "gcr.io", "us.gcr.io",
    "eu.gcr.io", "asia.gcr.io", "public.ecr.aws", "registry.gitlab.com", "docker.pkg.dev", "nvcr.io", "registry.hub.docker.com",
})  # fmt: skip
#: Public registries (and paths) of one publisher that is not you: a project's or vendor's images and
#: mirrors of public images. Staging and prod refuse them whatever the path.
PUBLIC_REGISTRIES: frozenset[str] = frozenset({
    "registry.k8s.io", "k8s.gcr.io", "mcr.microsoft.com", "mirror.gcr.io", "docker.io/library", "registry.access.redhat.com",
    "registry.redhat.io", "cgr.dev/chainguard",
})  # fmt: skip


def registry_problem(item: str) -> str | None:
    """Why ``item`` (registry host[/path]) is not a source of your own images, or None when it may be."""
    address, _, path = item.partition("/")
    host = address.split(":")[0]
    if any(item == public or item.startswith(public + "/") for public in PUBLIC_REGISTRIES) or host in PUBLIC_REGISTRIES:
        return f"{item} is a public registry of images you do not publish; list your own registry or organisation"
    if not path and (host in SHARED_REGISTRY_HOSTS or host.endswith("-docker.pkg.dev")):
        example = f"{DOCR_HOST}/<your-registry>" if host == DOCR_HOST else f"{host}/<your-organisation>"
        return f"{item} is a registry shared by every customer; add the repository path you own, e.g. {example}"
    return None

# A registry host (with a dot, or localhost, optional port) and an optional repository path:
# "registry.digitalocean.com/my-registry", "ghcr.io/my-org". No scheme, wildcard, tag or digest.
_REGISTRY = re.compile(
    r"^(localhost|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+)(:[0-9]{1,5})?"
    r"(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
)



class Keyless(Section):
    """A Sigstore keyless signing identity (Fulcio certificate + Rekor transparency log)."""

    issuer: str = setting(description="OIDC issuer of the signing identity.", allowed="https URL, e.g. https://token.actions.githubusercontent.com")
    subject: Optional[str] = setting(None, description="Exact certificate subject (e.g. a workflow URL).", allowed="text")
    subject_regexp: Optional[str] = setting(None, description="Regular expression the certificate subject must match.", allowed="a regular expression")
    rekor_url: str = setting("https://rekor.sigstore.dev", description="Rekor transparency log.", allowed="https URL")

    @field_validator("issuer", "rekor_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^https://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an https URL")
        return value

    @model_validator(mode="after")
    def _one_subject(self) -> "Keyless":
        if (self.subject is None) == (self.subject_regexp is None):
            raise ValueError("set exactly one of subject or subject_regexp")
        if self.subject_regexp is not None:
            try:
                re.compile(self.subject_regexp)
            except re.error as exc:
                raise ValueError(f"subject_regexp {self.subject_regexp!r} is not a regular expression ({exc})") from None
        return self


class Admission(Section):
    """Trusted images at admission: the API server's admission policies and Kyverno's signature policy."""

    mode: Literal["Audit", "Enforce"] = setting(
        "Enforce",
        description="For the image rules (registries, tags, add-on images, signatures): Audit warns and reports violations; Enforce rejects them. Must stay Enforce in staging and prod. The other admission rules reject in every profile.",
        allowed="Audit, Enforce",
    )
    allowed_registries: list[str] = setting(
        ["registry.digitalocean.com/hardened-doks"],
        description="Registries (and optional repository prefixes) pods may pull from; images from them must be signed. Default: a DigitalOcean Container Registry named hardened-doks.",
        allowed=(
            "registry host[/path], e.g. registry.digitalocean.com/my-registry; staging and prod refuse public registries (registry.k8s.io, "
            "docker.io/library, mcr.microsoft.com…) and shared hosts without your path (docker.io, ghcr.io, quay.io, registry.digitalocean.com…), dev warns"
        ),
    )
    cosign_public_key: Optional[str] = setting(
        None, description="Cosign public key (PEM) images must be signed with. Staging and prod need it or keyless.", allowed="PEM public key"
    )
    keyless: Optional[Keyless] = setting(None, description="Keyless signing identity images must be signed by.", allowed="{issuer, subject | subject_regexp, rekor_url}")
    cosign_key_transparency_log: bool = setting(
        True,
        description=(
            "With cosign_public_key: each signature must have its Rekor transparency-log entry (what `cosign sign --key` "
            "uploads by default), so Kyverno must reach Sigstore's TUF and Rekor. false accepts key signatures made with "
            "--tlog-upload=false (air-gapped signing, nothing published to the public log): the key alone is then the trust root."
        ),
        allowed="true, false (cosign_public_key only)",
    )
    replicas: int = setting(3, description="Replicas of the Kyverno admission controller (3 for HA).", allowed="integer ≥ 1")
    chart_path: Optional[str] = setting(
        None,
        description="Install the Kyverno chart from this local folder or .tgz archive instead of its repository (air-gapped; see scripts/kyverno-chart.sh).",
        allowed="path to a chart folder or .tgz of the pinned version",
    )
    registry_pull_secret: Optional[str] = setting(
        None,
        description=(
            "An existing kubernetes.io/dockerconfigjson Secret in the kyverno namespace that Kyverno reads image signatures with "
            "(required in existing-cluster mode with a DigitalOcean Container Registry). Unset: the stack creates a read-only, "
            "expiring DOCR credential for the registry in allowed_registries."
        ),
        allowed="a Secret name (DNS subdomain)",
    )
    registry_credentials_rotation_days: int = setting(
        30,
        description="The stack's DOCR credential for Kyverno is replaced by the first `pulumi up` of every period of this many days, and expires after three.",
        allowed="integer 1–180",
    )

    @property
    def docr_registries(self) -> list[str]:
        """The DigitalOcean Container Registry names in allowed_registries (registry.digitalocean.com/<name>[/…])."""
        names = [r.split("/")[1] for r in self.allowed_registries if r.split("/")[0] == DOCR_HOST and "/" in r]
        return list(dict.fromkeys(names))

    @field_validator("registry_pull_secret")
    @classmethod
    def _secret_name(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not (len(value) <= 253 and all(_DNS_LABEL.match(part) for part in value.split("."))):
            raise ValueError(f"{value!r} is not a Secret name (lowercase letters, digits, '-' and '.')")
        return value

    @field_validator("registry_credentials_rotation_days")
    @classmethod
    def _rotation(cls, value: int) -> int:
        # Three periods must stay under DOCR's maximum credential lifetime, and a credential should not live for years.
        if not 1 <= value <= 180:
            raise ValueError(f"{value} is not between 1 and 180 days")
        return value

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one registry is required; an empty allowlist rejects every pod")
        for item in value:
            if not _REGISTRY.match(item):
                raise ValueError(
                    f"{item!r} is not a registry host with an optional path, such as registry.digitalocean.com/my-registry "
                    "(no scheme, wildcard, tag or digest)"
                )
        return value

    @field_validator("cosign_public_key")
    @classmethod
    def _pem(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.match(r"^\s*-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----\s*$", value):
            raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY----- … -----END PUBLIC KEY-----)")
        return value

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, value: int) -> int:
        if value < 1:
            raise ValueError("at least 1 replica is required")
        return value

    @model_validator(mode="after")
    def _transparency_log(self) -> "Admission":
        if not self.cosign_key_transparency_log and self.cosign_public_key is None:
            raise ValueError(
                "cosign_key_transparency_log: false applies to cosign_public_key only; keyless signatures are always checked against Rekor"
            )
        return self


# -- the scanners and alerts layer ------------------------------------------------------
