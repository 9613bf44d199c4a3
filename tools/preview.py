"""Preview a stack with the policy pack, as the pull-request workflow does.

    python -m hardened_doks.tools.preview --stack dev [--no-policy-pack] [--refresh] [--json]
    python -m hardened_doks.tools.preview --all

Runs `pulumi preview --policy-pack policy --diff` through the Automation API (the same
workspace, backend and credential checks as the drift command) and streams the CLI's output.
Exit 0 when the preview succeeds with no mandatory policy violation, 1 when a mandatory
policy is violated, 2 when the preview could not run.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import Optional

from pulumi.automation import EngineEvent
from pulumi.automation.errors import CommandError

from hardened_doks.tools import engine
from hardened_doks.tools.cli import emit, envelope, selected_stacks, stack_entry, stack_parser
from hardened_doks.tools.offline import PROJECT_DIR

POLICY_PACK = PROJECT_DIR / "policy"


def main(argv: Optional[list[str]] = None) -> int:
    parser = stack_parser("preview", __doc__.splitlines()[0])
    parser.add_argument("--no-policy-pack", action="store_true", help="preview without the policy pack")
    parser.add_argument("--refresh", action="store_true", help="refresh the state first")
    args = parser.parse_args(argv)
    entries, findings = [], []
    for name in selected_stacks(args):
        code, problems = preview_stack(name, args)
        status = {0: "passed", 1: "failed", 2: "error"}[code]
        entries.append(stack_entry(name, status, code))
        findings += [{"stack": name, "finding": "violation" if code == 1 else "error", "message": p} for p in problems]
        if not args.json and problems:
            heading = f"{len(problems)} mandatory policy violation(s):" if code == 1 else ""
            print(f"preview {name}: {heading or problems[0]}", file=sys.stderr)
            for problem in problems if heading else []:
                print(f"  {problem}", file=sys.stderr)
    return emit(args, envelope("preview", {0: "passed", 1: "failed", 2: "error"}, entries, findings), lambda: "")


def preview_stack(name: str, args: argparse.Namespace) -> tuple[int, list[str]]:
    """Preview one stack: (exit code, the mandatory violations or the error). The CLI's output
    streams to stdout, or to stderr with --json (stdout is the envelope's)."""
    violations: list[str] = []

    def on_event(event: EngineEvent) -> None:
        policy = event.policy_event
        if policy is not None and policy.enforcement_level == "mandatory":
            violations.append(f"{policy.policy_name}: {policy.message.strip()}")

    try:
        stack = engine.select_stack(name)
        stack.preview(
            policy_packs=[] if args.no_policy_pack else [str(POLICY_PACK)],
            diff=True,
            refresh=args.refresh,
            color="never",
            on_output=functools.partial(print, file=sys.stderr) if args.json else print,
            on_event=on_event,
        )
    except engine.EngineError as exc:
        return 2, [str(exc)]
    except CommandError as exc:
        if violations:
            return 1, violations
        return 2, [engine.last_error_line(exc)]
    return 0, []


if __name__ == "__main__":
    sys.exit(main())
