"""The command-line shape every stack command shares: `--stack NAME` or `--all`, and `--json`
printing one envelope (docs/operations.md, "Command-line tools"):

    {"command": ..., "status": ..., "exit_code": ..., "stacks": [...], "findings": [...]}

- ``status``: the command's word for its exit code (e.g. drift: clean, drift, error);
- ``exit_code``: what the process exits with (the worst of the stacks');
- ``stacks``: one object per stack, each with at least ``stack``, ``status`` and ``exit_code``;
- ``findings``: every finding of every stack, flat, each with its ``stack``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Iterable, Mapping

from hardened_doks.tools.offline import stack_names


def stack_parser(module: str, description: str) -> argparse.ArgumentParser:
    """A parser for `python -m hardened_doks.tools.<module>` with --stack (or --all) and --json."""
    parser = argparse.ArgumentParser(prog=f"python -m hardened_doks.tools.{module}", description=description)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name (a stacks/Pulumi.<stack>.yaml file)")
    target.add_argument("--all", action="store_true", help="every stack in stacks/")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON envelope (docs/operations.md)")
    return parser


def selected_stacks(args: argparse.Namespace) -> list[str]:
    return stack_names() if getattr(args, "all", False) else [args.stack]


def stack_entry(stack: str, status: str, exit_code: int, **details: Any) -> dict[str, Any]:
    """One element of the envelope's ``stacks``."""
    return {"stack": stack, "status": status, "exit_code": exit_code, **details}


def envelope(
    command: str,
    statuses: Mapping[int, str],
    stacks: list[dict[str, Any]],
    findings: Iterable[Mapping[str, Any]],
    exit_code: int | None = None,
) -> dict[str, Any]:
    """The one JSON shape of every command: the exit code is the worst stack's (or, for a command
    about no stack, e.g. check_pins, its own, and ``stacks`` is empty)."""
    code = max((s["exit_code"] for s in stacks), default=0) if exit_code is None else exit_code
    return {"command": command, "status": statuses[code], "exit_code": code, "stacks": stacks, "findings": [dict(f) for f in findings]}


def emit(args: argparse.Namespace, report: dict[str, Any], human: Callable[[], str]) -> int:
    """Print the envelope (``--json``) or the human report; return the exit code."""
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        print()
    else:
        text = human()
        if text:
            print(text)
    return int(report["exit_code"])
