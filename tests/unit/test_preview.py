"""The preview command (pull-request workflow): policy violations, engine failures, exit codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.automation import EngineEvent
from pulumi.automation import CommandResult
from pulumi.automation.errors import CommandError

from tests.unit.envelope import check_envelope
from hardened_doks.tools import engine, preview


class FakeStack:
    """Stands in for an Automation API stack: records the call, replays events, fails like the CLI."""

    def __init__(self, events: list[dict[str, Any]], stderr: str = "", code: int = 0):
        self.events, self.stderr, self.code = events, stderr, code
        self.kwargs: dict[str, Any] = {}

    def preview(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        for event in self.events:
            kwargs["on_event"](EngineEvent.from_json(event))
        if self.code:
            raise CommandError(CommandResult("", self.stderr, self.code))


VIOLATION = {
    "sequence": 9,
    "timestamp": 1795708524,
    "policyEvent": {
        "resourceUrn": "urn:pulumi:dev::hardened-doks::kubernetes:core/v1:Namespace::bad",
        "message": "namespace has no pod-security.kubernetes.io/enforce label",
        "color": "never",
        "policyName": "k8s-namespace-pod-security",
        "policyPackName": "hardened-doks",
        "policyPackVersion": "0.1.0",
        "policyPackVersionTag": "0.1.0",
        "enforcementLevel": "mandatory",
    },
}


def use(monkeypatch: pytest.MonkeyPatch, stack: FakeStack) -> FakeStack:
    monkeypatch.setattr(engine, "select_stack", lambda name, check=True: stack)
    return stack


def test_clean_preview_runs_the_policy_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = use(monkeypatch, FakeStack([]))
    assert preview.main(["--stack", "dev"]) == 0
    assert stack.kwargs["policy_packs"] == [str(preview.POLICY_PACK)] and stack.kwargs["diff"] is True
    assert (preview.POLICY_PACK / "PulumiPolicy.yaml").is_file()
    assert preview.main(["--stack", "dev", "--no-policy-pack"]) == 0 and stack.kwargs["policy_packs"] == []


def test_mandatory_violations_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, FakeStack([VIOLATION], "error: preview failed\n", 255))
    assert preview.main(["--stack", "dev"]) == 1
    assert "k8s-namespace-pod-security: namespace has no pod-security.kubernetes.io/enforce label" in capsys.readouterr().err


def test_advisory_violations_do_not_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    advisory = {**VIOLATION, "policyEvent": {**VIOLATION["policyEvent"], "enforcementLevel": "advisory"}}
    use(monkeypatch, FakeStack([advisory]))
    assert preview.main(["--stack", "dev"]) == 0


def test_engine_failure_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, FakeStack([], "error: failed to load policy pack: exit status 1\n", 255))
    assert preview.main(["--stack", "dev"]) == 2
    assert "error: failed to load policy pack" in capsys.readouterr().err


def test_missing_credentials_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DIGITALOCEAN_TOKEN", raising=False)
    monkeypatch.delenv("DIGITALOCEAN_ACCESS_TOKEN", raising=False)
    assert preview.main(["--stack", "dev"]) == 2
    assert "no DigitalOcean API token" in capsys.readouterr().err
    assert preview.main(["--stack", "qa"]) == 2
    assert "unknown stack 'qa'" in capsys.readouterr().err


def test_json_envelope_of_every_stack(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    use(monkeypatch, FakeStack([VIOLATION], "error: preview failed\n", 255))
    assert preview.main(["--all", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    check_envelope(report, "preview", ["dev", "prod", "staging"], 1, "failed")
    assert {(f["stack"], f["finding"]) for f in report["findings"]} == {(s, "violation") for s in ("dev", "prod", "staging")}
    assert report["findings"][0]["message"].startswith("k8s-namespace-pod-security: namespace has no")
    use(monkeypatch, FakeStack([]))
    assert preview.main(["--stack", "dev", "--json"]) == 0
    check_envelope(json.loads(capsys.readouterr().out), "preview", ["dev"], 0, "passed")
