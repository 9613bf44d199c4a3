"""What the DigitalOcean API checks (preflight, verify) share: findings, the report, exit codes, the CLI.

A check produces :class:`Finding` lines. A failed finding names what to fix: a stack-config
key (``hardened-doks:<key>``) or an environment variable. The report prints as a human table
or as JSON; the exit code is 0 when every finding passed, 1 when one failed, and 2 when the
checks could not run (unknown stack, missing token, the API unreachable or answering nonsense).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import pydo

from hardened_doks.config import NAMESPACE, ConfigError, StackConfig, parse_stack_config
from hardened_doks.tools import do_api
from hardened_doks.tools.cli import emit, envelope, selected_stacks, stack_entry, stack_parser
from hardened_doks.tools.offline import read_stack_file

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


def key(name: str) -> str:
    """The full stack-config key of a setting, e.g. ``hardened-doks:region``."""
    return f"{NAMESPACE}:{name}"


@dataclass
class Finding:
    """One checked fact. ``fix`` names the stack-config key or variable to change when it fails."""

    check: str
    ok: bool
    message: str
    fix: Optional[str] = None
    severity: str = "error"

    def line(self) -> str:
        if self.ok:
            return f"  ok    {self.message}"
        label = "FAIL " if self.severity == "error" else "warn "
        return f"  {label} {self.fix + ': ' if self.fix else ''}{self.message}"


@dataclass
class Report:
    """The findings of one command on one stack, plus an error when it could not finish."""

    command: str
    stack: str
    findings: list[Finding] = field(default_factory=list)
    error: Optional[str] = None
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, check: str, ok: bool, message: str, fix: Optional[str] = None, severity: str = "error") -> Finding:
        finding = Finding(check, ok, message, fix, severity)
        self.findings.append(finding)
        return finding

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok and f.severity == "error"]

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_ERROR
        return EXIT_FAILED if self.failures else EXIT_OK

    def status(self) -> str:
        return {EXIT_OK: "passed", EXIT_FAILED: "failed", EXIT_ERROR: "error"}[self.exit_code]

    def as_json(self) -> dict[str, Any]:
        """This stack's element of the envelope's ``stacks`` (tools/cli.py)."""
        return stack_entry(self.stack, self.status(), self.exit_code, error=self.error, findings=[asdict(f) for f in self.findings], **self.details)

    def human(self) -> str:
        lines = [f"{self.command} {self.stack}:"]
        lines += [f.line() for f in self.findings]
        if self.error is not None:
            lines.append(f"  ERROR {self.error}")
        failed = len(self.failures)
        lines.append(f"{self.command} {self.stack}: {self.status()}" + (f" ({failed} to fix)" if failed else ""))
        return "\n".join(lines)


def load_config(stack: str) -> StackConfig:
    """The validated config of a stack file, as the program would see it."""
    raw, secret_keys = read_stack_file(stack)
    return parse_stack_config(raw, stack=stack, secret_keys=secret_keys)


#: A check: the DigitalOcean client is None in existing-cluster mode (no token is needed or asked for).
Run = Callable[[Optional[pydo.Client], str, StackConfig, argparse.Namespace, Report], None]


def main(
    command: str,
    description: str,
    run: Run,
    argv: Optional[list[str]] = None,
    add_arguments: Optional[Callable[[argparse.ArgumentParser], None]] = None,
    check_arguments: Optional[Callable[[argparse.ArgumentParser, argparse.Namespace], None]] = None,
) -> int:
    """The CLI shared by the checks: parse, load each stack's config, run, print, exit code."""
    parser = stack_parser(command, description)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    if check_arguments:
        check_arguments(parser, args)
    reports = [_check(command, stack, run, args) for stack in selected_stacks(args)]
    return emit(args, as_json(command, reports), lambda: "\n\n".join(r.human() for r in reports))


def as_json(command: str, reports: list[Report]) -> dict[str, Any]:
    """The shared envelope: each stack's report; as findings, every finding that did not pass."""
    findings = [{"stack": r.stack, **asdict(f)} for r in reports for f in r.findings if not f.ok]
    findings += [{"stack": r.stack, "check": "error", "ok": False, "message": r.error, "fix": None, "severity": "error"} for r in reports if r.error]
    return envelope(command, {EXIT_OK: "passed", EXIT_FAILED: "failed", EXIT_ERROR: "error"}, [r.as_json() for r in reports], findings)


def _check(command: str, stack: str, run: Run, args: argparse.Namespace) -> Report:
    report = Report(command, stack)
    try:
        config = load_config(stack)
    except FileNotFoundError as exc:
        report.error = str(exc)
    except ConfigError as exc:
        for problem in exc.problems:
            fix, _, message = problem.partition(": ")
            report.add("config", False, message, fix)
    else:
        try:
            run(None if config.existing_cluster else do_api.client(), stack, config, args, report)
        except do_api.CredentialError as exc:  # no token, or an API-URL override (refused)
            report.error = str(exc)
        except do_api.ApiError as exc:
            if exc.status == 401:
                report.add("token", False, str(exc), do_api.TOKEN_ENV_VARS[0])
            else:
                report.error = str(exc)
    return report
