"""Run the CrossGuard policy pack offline against what a stack would register.

    python -m hardened_doks.tools.policy_check --stack dev          # or --all; --json for a machine-readable report

The real program runs under Pulumi's mocks (tools/offline.py); each recorded resource is handed
to every policy of policy/ exactly as the engine's analyzer would (inputs in wire form behind
pulumi-policy's unknown-checking proxy; stack policies see the whole stack). No engine, no
credentials: this is the policy gate CI applies before a preview, and what the unit tests run.
Exit 0 when no mandatory policy is violated, 1 when one is, 2 on a config or stack error.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any, Optional

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from hardened_doks.sdk_internals import NotApplicableError as _NotApplicableError
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from hardened_doks.config import ConfigError
from hardened_doks.policy import all_policies
from hardened_doks.tools.cli import emit, envelope, selected_stacks, stack_entry, stack_parser
from hardened_doks.tools.offline import ProgramRun, RecordedResource, run_stack


@dataclass
class Violation:
    policy: str
    enforcement: str
    severity: str
    type: str
    name: str
    message: str


def _options(resource: RecordedResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=resource.delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent or None,
    )


def resource_args(resource: RecordedResource, config: Optional[dict[str, Any]] = None) -> ResourceValidationArgs:
    """The arguments the analyzer would pass a resource policy for this resource."""
    return ResourceValidationArgs(
        resource.type, unknown_checking_proxy(resource.inputs), resource.urn, resource.name, _options(resource), None, config
    )


def stack_args(run: ProgramRun, config: Optional[dict[str, Any]] = None) -> StackValidationArgs:
    """The arguments the analyzer would pass a stack policy for this run."""
    resources = [
        PolicyResource(r.type, unknown_checking_proxy(r.inputs), r.urn, r.name, _options(r), None, None, [], {})
        for r in run.resources
        if r.custom
    ]
    return StackValidationArgs(resources, config)


def check(run: ProgramRun, policies: Optional[list[Policy]] = None) -> list[Violation]:
    """Every violation of the pack's policies by one offline run."""
    violations: list[Violation] = []
    resources = [r for r in run.resources if r.custom]
    by_urn = {r.urn: r for r in resources}

    def reporter(policy: Policy, resource: Optional[RecordedResource]) -> Any:
        def report(message: str, urn: Optional[str] = None) -> None:
            target = by_urn.get(urn or "") or resource
            violations.append(
                Violation(
                    policy.name,
                    (policy.enforcement_level or EnforcementLevel.ADVISORY).value,
                    policy.severity.value if policy.severity else "",
                    target.type if target else "stack",
                    target.name if target else run.stack,
                    message,
                )
            )

        return report

    # Each resource's arguments (a proxy over the whole of its inputs) are built once and read by every
    # policy: built per policy, they were most of the pack's cost (issue 18; docs/performance.md).
    arguments = [(resource, resource_args(resource)) for resource in resources]
    stack_arguments = stack_args(run)
    for policy in policies if policies is not None else all_policies():
        try:
            if isinstance(policy, StackValidationPolicy):
                policy.validate(stack_arguments, reporter(policy, None))
            elif isinstance(policy, ResourceValidationPolicy):
                for resource, args in arguments:
                    try:
                        policy.validate(args, reporter(policy, resource))
                    except _NotApplicableError:
                        continue
        except (_NotApplicableError, UnknownValueError):
            continue
    return violations


def blocking(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.enforcement == EnforcementLevel.MANDATORY.value]


def main(argv: Optional[list[str]] = None) -> int:
    args = stack_parser("policy_check", __doc__.splitlines()[0]).parse_args(argv)
    stacks: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    lines: list[str] = []
    for stack in selected_stacks(args):
        try:
            violations = check(run_stack(stack))
        except (ConfigError, FileNotFoundError) as exc:
            stacks.append(stack_entry(stack, "error", 2, error=str(exc)))
            findings.append({"stack": stack, "finding": "error", "message": str(exc)})
            if not args.json:
                print(f"policy_check {stack}: {exc}", file=sys.stderr)
            continue
        mandatory = len(blocking(violations))
        stacks.append(stack_entry(stack, "failed" if mandatory else "passed", 1 if mandatory else 0, mandatory=mandatory, advisory=len(violations) - mandatory))
        findings += [{"stack": stack, "finding": "violation", **asdict(v)} for v in violations]
        lines.append(f"{stack}: {mandatory} mandatory, {len(violations) - mandatory} advisory violations")
        lines += [f"  [{v.enforcement}/{v.severity}] {v.policy}: {v.type} {v.name}: {v.message}" for v in violations]
    report = envelope("policy_check", {0: "passed", 1: "failed", 2: "error"}, stacks, findings)
    return emit(args, report, lambda: "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
