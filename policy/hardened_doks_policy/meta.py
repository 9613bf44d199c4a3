"""Policy metadata: the controls each policy serves, and small helpers to read resource inputs.

Every policy of the pack is built with :func:`resource_policy` or :func:`stack_policy`, which
require its controls (CIS Kubernetes Benchmark, NSA/CISA Kubernetes Hardening Guide, Kubernetes
Pod Security Standards, DigitalOcean), severity and remediation. The control matrix (docs/policy-pack.md)
is generated from these attributes (``python -m hardened_doks.tools.policy_doc``), so they are written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidation,
    ResourceValidationPolicy,
    Severity,
    StackValidation,
    StackValidationPolicy,
)

#: Annotation that exempts a resource from the cluster-admin and privileged-namespace
#: policies. Its value must say who needs it, why and until when (an incident or ticket).
BREAK_GLASS_ANNOTATION = "hardened-doks.io/break-glass"


@dataclass(frozen=True)
class Control:
    """One control of a published hardening framework."""

    framework: str
    version: str
    reference: str

    @property
    def label(self) -> str:
        return f"{SHORT_NAMES[self.framework]} {self.reference}"


CIS = "CIS Kubernetes Benchmark"
NSA = "NSA/CISA Kubernetes Hardening Guide"
PSS = "Kubernetes Pod Security Standards"
DIGITALOCEAN = "DigitalOcean Kubernetes security best practices"
SHORT_NAMES = {CIS: "CIS", NSA: "NSA/CISA", PSS: "PSS", DIGITALOCEAN: "DigitalOcean"}


def cis(reference: str) -> Control:
    return Control(CIS, "1.10", reference)


def nsa(reference: str) -> Control:
    return Control(NSA, "1.2", reference)


def pss(reference: str) -> Control:
    return Control(PSS, "1.34", reference)


def digitalocean(reference: str) -> Control:
    return Control(DIGITALOCEAN, "2026", reference)


def _framework(controls: Sequence[Control]) -> PolicyComplianceFramework:
    first = controls[0]
    return PolicyComplianceFramework(name=first.framework, version=first.version, reference=first.reference)


def _common(
    name: str, controls: Sequence[Control], severity: Severity, remediation: str, enforcement: EnforcementLevel
) -> dict[str, Any]:
    if not controls or not remediation:
        raise ValueError(f"policy {name}: controls and a remediation are required")
    return {
        "enforcement_level": enforcement,
        "severity": severity,
        "framework": _framework(controls),
        "tags": [c.label for c in controls],
        "remediation_steps": remediation,
    }


def resource_policy(
    name: str,
    description: str,
    validate: ResourceValidation,
    *,
    controls: Sequence[Control],
    severity: Severity,
    remediation: str,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
    config_schema: Optional[PolicyConfigSchema] = None,
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        config_schema=config_schema,
        **_common(name, controls, severity, remediation, enforcement),
    )


def stack_policy(
    name: str,
    description: str,
    validate: StackValidation,
    *,
    controls: Sequence[Control],
    severity: Severity,
    remediation: str,
    enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=name, description=description, validate=validate, **_common(name, controls, severity, remediation, enforcement)
    )


# -- reading resource inputs (plain dicts in tests, the engine's proxies in a preview) -----


def get(value: Any, *path: str, default: Any = None) -> Any:
    """``value[path[0]][path[1]]...``, or ``default`` where a step is missing or not a mapping."""
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def items(value: Any) -> list[Any]:
    """A list input as a list (empty when absent)."""
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return list(value)
    return []


def config_value(args: Any, name: str, default: Any) -> Any:
    """A policy config property (``--policy-pack-config``), or its default."""
    config = args.get_config() or {}
    return config.get(name, default)


def has_break_glass(props: Mapping[str, Any]) -> bool:
    """True when the object carries a non-empty break-glass annotation."""
    reason = get(props, "metadata", "annotations", BREAK_GLASS_ANNOTATION)
    return isinstance(reason, str) and bool(reason.strip())
