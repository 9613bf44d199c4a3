"""The one JSON envelope every stack command prints with --json (tools/cli.py)."""

from __future__ import annotations

from typing import Any


def check_envelope(report: dict[str, Any], command: str, stacks: list[str], code: int, status: str) -> dict[str, Any]:
    """Assert the envelope's shape and figures; return the stacks by name."""
    assert list(report) == ["command", "status", "exit_code", "stacks", "findings"], list(report)
    assert (report["command"], report["status"], report["exit_code"]) == (command, status, code)
    assert [s["stack"] for s in report["stacks"]] == stacks
    for entry in report["stacks"]:
        assert {"stack", "status", "exit_code"} <= set(entry) and isinstance(entry["exit_code"], int), entry
    assert max(s["exit_code"] for s in report["stacks"]) == code, "the exit code is the worst stack's"
    assert all(f["stack"] in stacks for f in report["findings"]), "every finding names its stack"
    return {s["stack"]: s for s in report["stacks"]}
