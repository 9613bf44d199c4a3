"""The one stack-file reader: ``stacks/Pulumi.<stack>.yaml`` read as the Pulumi CLI reads it.

The CLI parses stack files with go-yaml v3, i.e. YAML 1.2's core schema: ``on``, ``yes`` and
``no`` are strings, ``12:30`` is a string (no base-60 numbers), ``1.30`` is the number 1.3, and a
key given twice is an error. PyYAML's safe loader follows YAML 1.1, where all of these differ, so
this module gives it the 1.2 core schema and refuses duplicate keys. Every refusal is one line
naming the file, line and column. Every tool that reads a stack file goes through
:func:`read_stack_file` (tools/offline.py re-exports it).
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from hardened_doks.config.fields import NAMESPACE, ConfigError
from hardened_doks.config.stack import SECRET_PLACEHOLDER, StackConfig


class StackFileError(ConfigError):
    """A stack file the CLI would not read the same way (or at all): one line per problem."""


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with the YAML 1.2 core schema's implicit types, and duplicate keys refused."""

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if key in seen:
                first = seen[key].start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first.line + 1}); the Pulumi CLI refuses it", key_node.start_mark
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _int_12(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    return int(text, 8 if text.lstrip("+-").startswith("0o") else 16 if text.lstrip("+-").startswith("0x") else 10)


# The YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_CORE: list[tuple[str, str, str]] = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN\0"),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
]
for _tag, _pattern, _first in _CORE:
    Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _int_12)


def load_yaml(text: str, path: Path | str) -> Any:
    """``text`` parsed as the Pulumi CLI parses it; a syntax error or duplicate key is one line."""
    try:
        return yaml.load(text, Loader=Yaml12Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise StackFileError([f"{where}: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise StackFileError([f"{path}: {' '.join(str(exc).split())}"]) from None


def stack_file(stack: str, stacks_dir: Path) -> Path:
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"no stack file {path}; known stacks: {', '.join(known) or 'none'}")
    return path


def _not_strings(value: Any, annotation: Any, path: str) -> list[str]:
    """Where a setting wants text but YAML 1.2 reads a number or boolean: (dotted path, value) refusals."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _not_strings(value, options[0], path) if len(options) == 1 else []
    if annotation is str or (origin is typing.Literal and all(isinstance(a, str) for a in args)):
        if isinstance(value, (bool, int, float)):
            shown = json.dumps(value)
            return [f"{path}: read as the {'boolean' if isinstance(value, bool) else 'number'} {shown} (YAML 1.2, as the Pulumi CLI reads it); quote it if you mean text"]
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, Mapping):
        fields = annotation.model_fields
        return [p for k, v in value.items() if k in fields for p in _not_strings(v, fields[k].annotation, f"{path}.{k}")]
    if origin is list and args and isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _not_strings(v, args[0], f"{path}[{i}]")]
    if origin is dict and len(args) == 2 and isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _not_strings(v, args[1], f"{path}.{k}")]
    return []


def read_stack_file(stack: str, stacks_dir: Path) -> tuple[dict[str, str], frozenset[str]]:
    """A stack file's config as Pulumi hands it to the program (structured values as JSON text),
    and the keys stored encrypted (their values are :data:`SECRET_PLACEHOLDER`: not decryptable here)."""
    path = stack_file(stack, stacks_dir)
    document = load_yaml(path.read_text(), path) or {}
    if not isinstance(document, Mapping):
        raise StackFileError([f"{path}:1:1: a stack file is a YAML mapping (config:, encryptionsalt:…)"])
    config: dict[str, str] = {}
    secrets: set[str] = set()
    entries = document.get("config") or {}
    fields = StackConfig.model_fields
    problems = [
        f"{path}: {NAMESPACE}:{problem}"
        for key, value in entries.items()
        if str(key).removeprefix(f"{NAMESPACE}:") in fields and (":" not in str(key) or str(key).startswith(f"{NAMESPACE}:"))
        for problem in _not_strings(value, fields[str(key).removeprefix(f"{NAMESPACE}:")].annotation, str(key).removeprefix(f"{NAMESPACE}:"))
    ]
    if problems:
        raise StackFileError(problems)
    for key, value in entries.items():
        full_key = key if ":" in str(key) else f"{NAMESPACE}:{key}"
        if isinstance(value, Mapping) and set(value) == {"secure"}:
            config[full_key] = SECRET_PLACEHOLDER
            secrets.add(full_key)
        else:
            config[full_key] = value if isinstance(value, str) else json.dumps(value)
    return config, frozenset(secrets)
