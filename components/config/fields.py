"""Field helpers and validators shared by every config section: the error type, ``setting()``,
the ``Section`` base and the single-value checks (CIDRs, labels, tags, quantities, cron)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field

#: Pulumi config namespace of this project (the ``name`` in Pulumi.yaml).
NAMESPACE = "hardened-doks"

Environment = Literal["dev", "staging", "prod"]
ENVIRONMENTS: tuple[str, ...] = ("dev", "staging", "prod")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DO_TAG = re.compile(r"^[A-Za-z0-9_:\-]{1,255}$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_VERSION_PREFIX = re.compile(r"^1\.[0-9]{2}$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")



class ConfigError(pulumi.RunError):
    """A stack configuration problem. Pulumi prints a RunError without a traceback."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


def setting(default: Any = ..., *, description: str, allowed: str, **kwargs: Any) -> Any:
    """Declare one setting: its default, one-line description and allowed values."""
    return Field(default, description=description, json_schema_extra={"allowed": allowed}, **kwargs)


class Section(BaseModel):
    """Base for every config object: unknown keys are refused, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _cidr(value: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IPv4/IPv6 address or CIDR (host bits clear), or a ValueError saying what was expected."""
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not {what} ({exc})") from None



def _label_key(value: str) -> str:
    if not _LABEL_KEY.match(value):
        raise ValueError(f"{value!r} is not a valid Kubernetes label key")
    return value


def _label_value(value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ValueError(f"{value!r} is not a valid Kubernetes label value")
    return value


def _do_tags(values: list[str]) -> list[str]:
    for tag in values:
        if not _DO_TAG.match(tag):
            raise ValueError(f"tag {tag!r} may contain only letters, digits, '_', '-' and ':' (max 255)")
    return values


def _dns_label(value: str) -> str:
    if not _DNS_LABEL.match(value):
        raise ValueError(f"{value!r} is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)")
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity such as 500m, 2, 512Mi or 4Gi")
    return value
