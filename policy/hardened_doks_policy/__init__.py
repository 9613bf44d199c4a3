"""The hardened-doks CrossGuard policy pack: its policies, importable without starting the pack.

``policy/__main__.py`` serves them with ``PolicyPack`` (which blocks forever); tests and the
offline checker call each policy's ``validate(args, report_violation)`` directly.
"""

from __future__ import annotations

from pulumi_policy import Policy

from hardened_doks.policy import digitalocean, kubernetes
from hardened_doks.policy.meta import BREAK_GLASS_ANNOTATION

PACK_NAME = "hardened-doks"
PACK_DESCRIPTION = "Hardening invariants of DigitalOcean Kubernetes stacks (DOKS, firewalls, namespaces, RBAC, workloads)."


def all_policies() -> list[Policy]:
    """Every policy of the pack, DigitalOcean first."""
    return [*digitalocean.policies(), *kubernetes.policies()]


__all__ = ["BREAK_GLASS_ANNOTATION", "PACK_DESCRIPTION", "PACK_NAME", "all_policies"]
