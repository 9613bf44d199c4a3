"""HardenedCluster's args as the component package hands them over, validated exactly like a stack file.

A consumer program (Python, YAML, any language through the provider in provider/) passes the settings of
components/package_args.py as a dict. They go through the stack file's own loader (parse_stack_config, then
checked_stack_config), so the named-key errors and the security floors are the same, and they are raised before
the component registers anything. Differences from a stack file, and why:

- Enum members (the package's Literal fields) become their values; integers that arrive as floats (Pulumi
  3.260.0 sends every number as a float) are accepted by the schema's own int coercion (2.0 is 2; 2.5 is refused).
- Credentials (SECRET_SETTINGS) are secret whatever the consumer did: the component wraps each in a secret
  Output. One that arrives as an Output (a secret config value, another resource's output) is not known yet: the
  settings are validated with a placeholder for it, and the value itself is checked with the same loader inside
  the Output chain that feeds the resources using it, so a bad one fails those resources, named, before they exist.
- Every other setting must be a plain value: it decides what is registered, so it is checked before anything is.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

import pulumi

from hardened_doks.config import (
    NAMESPACE,
    SECRET_PLACEHOLDER,
    SECRET_SETTINGS,
    ConfigError,
    StackConfig,
    checked_stack_config,
    parse_stack_config,
)

#: Every credential counts as stored encrypted: the component makes each a secret itself.
_ALL_SECRET = frozenset(f"{NAMESPACE}:{key}" for key in SECRET_SETTINGS)


def _plain(value: Any, key: str, problems: list[str]) -> Any:
    """A setting's value with Enum members replaced by their values; an Output is a problem."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v, f"{key}.{k}", problems) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, pulumi.Output):
        problems.append(
            f"{NAMESPACE}:{key}: must be a plain value known before deployment (it decides what is created); "
            "only the credentials may be outputs"
        )
    return value


def _raw(args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, pulumi.Output[str]]]:
    """The args as parse_stack_config's raw config, and the credentials that arrived as Outputs."""
    raw: dict[str, Any] = {}
    pending: dict[str, pulumi.Output[str]] = {}
    problems: list[str] = []
    for key, value in args.items():
        if value is None:
            continue  # an unset optional input
        if key in SECRET_SETTINGS and isinstance(value, pulumi.Output):
            pending[key] = value
            value = SECRET_PLACEHOLDER  # the loader's validators skip it; the value is checked in its Output chain
        elif key in SECRET_SETTINGS and not isinstance(value, str):
            problems.append(f"{NAMESPACE}:{key}: must be a string (the value is not shown)")
        elif key not in SECRET_SETTINGS:
            value = _plain(value, key, problems)
        raw[f"{NAMESPACE}:{key}"] = value
    if problems:
        raise ConfigError(problems)
    return raw, pending


def _checked_secret(raw: Mapping[str, Any], stack: str, key: str, value: str) -> str:
    """The credential, once the whole config validates with it in place (else the ConfigError naming it)."""
    parse_stack_config({**raw, f"{NAMESPACE}:{key}": value}, stack=stack, secret_keys=_ALL_SECRET)
    return value


def stack_config_from_args(args: StackConfig | Mapping[str, Any], *, stack: str) -> StackConfig:
    """HardenedCluster's settings from its args (a StackConfig as __main__.py loads it, or the package's dict)."""
    if isinstance(args, StackConfig):
        return args
    if not isinstance(args, Mapping):
        raise ConfigError([f"{NAMESPACE}: HardenedCluster takes a dict of settings (HardenedClusterArgs) or a StackConfig, not {type(args).__name__}"])
    raw, pending = _raw(args)
    config = parse_stack_config(raw, stack=stack, secret_keys=_ALL_SECRET)
    for key, output in pending.items():
        config._secret_outputs[key] = output.apply(lambda value, key=key: _checked_secret(raw, stack, key, value))
    return checked_stack_config(config)
