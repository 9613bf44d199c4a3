"""The command-line shape the stack commands share: `--stack NAME` or `--all`, and `--json`."""

from __future__ import annotations

import argparse

from tools.offline import stack_names


def stack_parser(module: str, description: str, all_stacks: bool = True) -> argparse.ArgumentParser:
    """A parser for `python -m tools.<module>` with --stack (or --all) and --json."""
    parser = argparse.ArgumentParser(prog=f"python -m tools.{module}", description=description)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack", help="stack name (a stacks/Pulumi.<stack>.yaml file)")
    if all_stacks:
        target.add_argument("--all", action="store_true", help="every stack in stacks/")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def selected_stacks(args: argparse.Namespace) -> list[str]:
    return stack_names() if getattr(args, "all", False) else [args.stack]
