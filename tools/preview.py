"""Preview a stack with the policy pack, as the pull-request workflow does.

    python -m tools.preview --stack dev [--no-policy-pack] [--refresh]

Runs `pulumi preview --policy-pack policy --diff` through the Automation API (the same
workspace, backend and credential checks as the drift command) and streams the CLI's output.
Exit 0 when the preview succeeds with no mandatory policy violation, 1 when a mandatory
policy is violated, 2 when the preview could not run.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from pulumi.automation import EngineEvent
from pulumi.automation.errors import CommandError

from tools import engine
from tools.offline import PROJECT_DIR

POLICY_PACK = PROJECT_DIR / "policy"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name (a stacks/Pulumi.<stack>.yaml file)")
    parser.add_argument("--no-policy-pack", action="store_true", help="preview without the policy pack")
    parser.add_argument("--refresh", action="store_true", help="refresh the state first")
    args = parser.parse_args(argv)
    violations: list[str] = []

    def on_event(event: EngineEvent) -> None:
        policy = event.policy_event
        if policy is not None and policy.enforcement_level == "mandatory":
            violations.append(f"{policy.policy_name}: {policy.message.strip()}")

    try:
        stack = engine.select_stack(args.stack)
        stack.preview(
            policy_packs=[] if args.no_policy_pack else [str(POLICY_PACK)],
            diff=True,
            refresh=args.refresh,
            color="never",
            on_output=print,
            on_event=on_event,
        )
    except engine.EngineError as exc:
        print(f"preview {args.stack}: {exc}", file=sys.stderr)
        return 2
    except CommandError as exc:
        if violations:
            print(f"preview {args.stack}: {len(violations)} mandatory policy violation(s):", file=sys.stderr)
            for violation in violations:
                print(f"  {violation}", file=sys.stderr)
            return 1
        print(f"preview {args.stack}: {engine.last_error_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
