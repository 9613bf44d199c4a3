"""The loader: raw Pulumi config (``hardened-doks:key`` → value) → a validated :class:`StackConfig`."""

from __future__ import annotations

import difflib
import ipaddress
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Optional

import pulumi
from pydantic import ValidationError

from hardened_doks.config.addresses import normalise
from hardened_doks.config.checks import cross_field_problems, registry_findings
from hardened_doks.config.fields import ENVIRONMENTS, NAMESPACE, ConfigError
from hardened_doks.config.profiles import PROFILES
from hardened_doks.config.stack import SECRET_SETTINGS, StackConfig


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _parse_value(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text; scalars stay strings."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return f"{NAMESPACE}:{path}" if path else NAMESPACE


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    """The setting names of the object at ``loc`` in the schema (empty where that is not an object)."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
        while typing.get_origin(model) in (list, typing.Union, types.UnionType):
            model = next(a for a in typing.get_args(model) if a is not type(None))
    return list(getattr(model, "model_fields", {}))


def _similar_namespace(namespace: str) -> bool:
    """A config namespace that is probably a misspelling of ours (hardened_doks, Hardened-DOKS, hardend-doks)."""
    plain = namespace.lower().replace("_", "-")
    return namespace != NAMESPACE and (plain == NAMESPACE or difflib.SequenceMatcher(None, plain, NAMESPACE).ratio() >= 0.8)


def namespace_typos(raw: Mapping[str, Any]) -> list[str]:
    """Keys under another config namespace that look like ours: ignored by the program, so probably a typo."""
    return [
        f"{key}: namespace {key.split(':', 1)[0]!r} is not this project's ({NAMESPACE}); the setting is ignored. "
        f"Write it as {NAMESPACE}:{key.split(':', 1)[1]}"
        for key in raw
        if ":" in key and _similar_namespace(key.split(":", 1)[0])
    ]


def _format_error(error: Mapping[str, Any]) -> str:
    loc = tuple(p for p in error["loc"] if p not in ("function-after",))
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc[:-1]), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        message = f"unknown setting ({hint}see the configuration reference, docs/configuration.md)"
    elif error["type"] == "missing":
        message = "required: no default in this environment profile; set it in the stack file"
    elif error["type"] == "literal_error" and loc and loc[-1] == "environment":
        message = f"must be one of {', '.join(ENVIRONMENTS)}"
    return f"{_key_path(loc)}: {message}"


def parse_stack_config(
    raw: Mapping[str, Any], *, stack: str, secret_keys: frozenset[str] = frozenset()
) -> StackConfig:
    """Validate raw Pulumi config (``namespace:key`` → value) into a :class:`StackConfig`.

    Pure: no Pulumi runtime needed. Raises :class:`ConfigError` listing every problem.
    """
    # Secret settings are text (a dockercfg is JSON text): never parsed as structured config.
    ours = {
        key: value if key in SECRET_SETTINGS else _parse_value(value)
        for key, value in ((k.split(":", 1)[1], v) for k, v in raw.items() if k.startswith(f"{NAMESPACE}:"))
    }
    problems: list[str] = []

    environment = ours.get("environment", stack if stack in ENVIRONMENTS else None)
    if environment not in ENVIRONMENTS:
        shown = "not set" if environment is None else repr(environment)
        raise ConfigError(
            [f"{NAMESPACE}:environment: {shown}; must be one of {', '.join(ENVIRONMENTS)} (required when the stack is not named after one)"]
        )
    for key, how in SECRET_SETTINGS.items():
        # A credential in plain text would sit unencrypted in the stack file and in state.
        if key in ours and f"{NAMESPACE}:{key}" not in secret_keys:
            problems.append(f"{NAMESPACE}:{key}: must be stored encrypted; set it with `{how}`")

    # A misspelt namespace silently drops the setting: refused where defaults are not safe to fall back on.
    if environment != "dev":
        problems.extend(f"{p} (refused in the {environment} profile)" for p in namespace_typos(raw))

    defaults = _deep_merge({"cluster_name": f"{NAMESPACE}-{stack}"}, PROFILES[environment])
    values = _deep_merge(defaults, {**ours, "environment": environment})
    try:
        config = StackConfig.model_validate(values)
    except ValidationError as exc:
        problems.extend(_format_error(e) for e in exc.errors())
        raise ConfigError(problems) from None

    problems.extend(cross_field_problems(config))
    if problems:
        raise ConfigError(problems)
    return config


def load_stack_config() -> StackConfig:
    """Read and validate the running stack's config from the Pulumi runtime."""
    from hardened_doks.sdk_internals import all_config

    raw = all_config()
    secret_keys = frozenset(key for key in raw if pulumi.runtime.is_config_secret(key))
    return checked_stack_config(parse_stack_config(raw, stack=pulumi.get_stack(), secret_keys=secret_keys), raw)


def checked_stack_config(config: StackConfig, raw: Optional[Mapping[str, Any]] = None) -> StackConfig:
    """The checks and warnings that need the Pulumi runtime, after parse_stack_config (stack files and the
    component package's args alike; ``raw``: the stack's config keys, for dev's namespace-typo warnings)."""
    from hardened_doks.do_endpoint import endpoint_override_problem

    # The DigitalOcean provider sends DIGITALOCEAN_TOKEN to DIGITALOCEAN_API_URL when it is set:
    # refused before any DigitalOcean resource (and so the provider) is registered.
    override = None if config.existing_cluster else endpoint_override_problem()
    if override:
        raise ConfigError([override])
    if config.environment == "dev" and any(n.prefixlen == 0 for c in config.api_allowlist for n in normalise(ipaddress.ip_network(c))):
        pulumi.log.warn(
            f"{NAMESPACE}:api_allowlist allows the whole internet to reach the Kubernetes API (dev default); "
            "narrow it to your addresses with `pulumi config set --path 'api_allowlist[0]' <your-ip>/32`"
        )
    typos = namespace_typos(raw) if raw is not None and config.environment == "dev" else []
    for warning in [system_pool_warning(config), *registry_warnings(config), *typos]:
        if warning:
            pulumi.log.warn(warning)
    return config


def registry_warnings(config: StackConfig) -> list[str]:
    """Dev's warnings for registries staging and prod refuse (public, or a shared host without your path)."""
    return registry_findings(config, "staging and prod refuse it") if config.environment == "dev" else []


def system_pool_warning(config: StackConfig) -> Optional[str]:
    """The warning when isolation is asked for but cannot be applied (dev without a tenant pool)."""
    if config.isolate_system_pool and not config.existing_cluster and not config.tenant_pools:
        return (
            f"{NAMESPACE}:isolate_system_pool: this {config.environment} stack has no workload pool tenants can run on, so the "
            "system pool is not tainted and tenant pods share nodes with Kyverno and the scanners; add one under "
            f"{NAMESPACE}:workload_pools to isolate it, or set isolate_system_pool: false to accept sharing"
        )
    return None
