"""Drift detection: classification of recorded engine events, and the command's exit codes.

The event logs in fixtures/drift/ were recorded from a real `pulumi preview --refresh
--expect-no-changes --event-log` (pulumi 3.260.0) of fixtures/drift/lab, a stand-in stack whose
"cloud" is a file edited between runs (fixtures/drift/record.py re-records them). The command's
engine path is replaced by a replay of those events, so no engine runs here.
"""

from __future__ import annotations

import copy
import threading
import json
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import responses
from pulumi.automation import ConfigValue, EngineEvent
from pulumi.automation import CommandResult
from pulumi.automation.errors import CommandError

from hardened_doks.sdk_internals import SECRET_SIG
from tests.unit.envelope import check_envelope
from hardened_doks.tools import drift, engine
from hardened_doks.tools.object_diff import Difference
from hardened_doks.tools.out_of_band import ChangedObject, KubeObject, ObjectKey, OutOfBand

FIXTURES = Path(__file__).parent / "fixtures" / "drift"


@pytest.fixture(autouse=True)
def no_cluster_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorded previews come without a cluster: nothing was created outside Pulumi."""
    monkeypatch.setattr(drift, "engine_out_of_band", lambda stack, desired: OutOfBand([], []))
LAB = "pulumi-python:dynamic:Resource"
#: The lab's cluster has the ignore_changes of components/cluster.py.
LAB_IGNORES = {(LAB, "cluster"): ["version", "nodePool.nodeCount"]}
SCENARIOS = ("clean", "doks_managed", "outside", "pending", "broken")


def recorded(scenario: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / f"{scenario}.jsonl").read_text().splitlines()]


def recorded_result(scenario: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{scenario}.result.json").read_text())


def by_name(report: drift.StackDrift) -> dict[str, drift.ResourceDrift]:
    return {r.name: r for r in report.resources}


def props(resource: drift.ResourceDrift) -> dict[str, tuple[str, str, bool]]:
    return {p.path: (p.change, p.diff, p.replace) for p in resource.properties}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fixtures_are_engine_event_logs(scenario: str) -> None:
    events = recorded(scenario)
    parsed = [EngineEvent.from_json(e) for e in events]
    assert [e.sequence for e in parsed] == sorted(e.sequence for e in parsed)
    assert any(e.prelude_event for e in parsed) and any(e.summary_event for e in parsed)
    assert recorded_result(scenario)["exit_code"] == {"clean": 0, "doks_managed": 0, "broken": 1}.get(scenario, 7)


def test_clean_stack() -> None:
    report = drift.classify("dev", recorded("clean"), LAB_IGNORES)
    assert (report.status, report.resources, report.ignored, report.errors) == ("clean", [], [], [])
    assert report.exit_code == drift.EXIT_CLEAN


def test_fields_doks_changes_itself_are_not_drift() -> None:
    """version (auto-upgrade) and nodePool.nodeCount (autoscaler) moved in the cloud: not drift."""
    report = drift.classify("dev", recorded("doks_managed"), LAB_IGNORES)
    assert report.status == "clean" and report.resources == []
    assert report.ignored == [{"type": LAB, "name": "cluster", "properties": ["nodePool.nodeCount", "version"]}]
    # The engine leaves them out of the plan by itself; the mapping only adds the note.
    assert drift.classify("dev", recorded("doks_managed")).resources == []


def test_changes_outside_pulumi_are_classified() -> None:
    report = drift.classify("dev", recorded("outside"), LAB_IGNORES)
    assert report.status == "drift" and report.exit_code == drift.EXIT_DRIFT
    resources = by_name(report)
    assert [r.kind for r in report.resources] == ["deleted", "changed", "changed", "changed"]
    assert resources["namespace-payments"].kind == "deleted" and resources["namespace-payments"].properties == []
    assert props(resources["cluster"]) == {
        "controlPlaneFirewall.allowedAddresses[1]": ("deleted", "add", False),
        "controlPlaneFirewall.enabled": ("changed", "update", False),
    }
    cluster = {p.path: p for p in resources["cluster"].properties}
    assert (cluster["controlPlaneFirewall.enabled"].expected, cluster["controlPlaneFirewall.enabled"].actual) == (True, False)
    assert props(resources["vpc"]) == {"ipRange": ("changed", "update", True)}
    assert resources["vpc"].op == "create-replacement"
    assert props(resources["workers-firewall"]) == {"inboundRules[2]": ("created", "delete", False)}
    assert {p.path: p.actual for p in resources["workers-firewall"].properties}["inboundRules[2]"]["portRange"] == "22"
    # DOKS moved version and nodeCount in the same run: noted, never reported as drift.
    assert all("version" not in props(r) and "nodePool.nodeCount" not in props(r) for r in report.resources)
    assert report.ignored == [{"type": LAB, "name": "cluster", "properties": ["nodePool.nodeCount", "version"]}]
    assert report.summary == {"create": 1, "replace": 1, "same": 1, "update": 2}


def test_program_changes_not_applied_are_pending() -> None:
    report = drift.classify("dev", recorded("pending"), LAB_IGNORES)
    assert report.status == "drift"
    resources = by_name(report)
    assert (resources["cluster"].kind, props(resources["cluster"])) == ("pending", {"ha": ("pending", "update", False)})
    assert (resources["namespace-billing"].kind, resources["namespace-billing"].op) == ("pending", "create")


def test_engine_failure_is_an_error() -> None:
    report = drift.classify("dev", recorded("broken"), LAB_IGNORES)
    assert report.status == "error" and report.exit_code == drift.EXIT_ERROR
    assert "simulated program failure" in report.errors[0]
    assert drift.one_line(report.errors[0]).endswith("hardened-doks:api_allowlist could not be read")


def with_detailed_diffs(events: list[dict[str, Any]], extra_plan_paths: Optional[dict[str, str]] = None) -> list[dict[str, Any]]:
    """The recorded events as a provider that reports detailed diffs (Terraform-bridged providers
    such as DigitalOcean's) sends them: refresh diffs framed cloud → state (inverted), plan diffs
    framed program → cloud."""
    events = copy.deepcopy(events)
    for event in events:
        step = event.get("resOutputsEvent") or event.get("resourcePreEvent")
        if not step or not step["metadata"]["urn"].endswith("::cluster"):
            continue
        metadata = step["metadata"]
        if metadata["op"] == "refresh" and metadata.get("new"):
            metadata["detailedDiff"] = {"controlPlaneFirewall.allowedAddresses[1]": {"diffKind": "delete", "inputDiff": True},
                                        "controlPlaneFirewall.enabled": {"diffKind": "update", "inputDiff": True}}
        elif metadata["op"] == "update":
            metadata["detailedDiff"] = {"controlPlaneFirewall.allowedAddresses[1]": {"diffKind": "add", "inputDiff": False},
                                        "controlPlaneFirewall.enabled": {"diffKind": "update", "inputDiff": False},
                                        **{k: {"diffKind": v, "inputDiff": False} for k, v in (extra_plan_paths or {}).items()}}
            metadata["diffs"] = ["controlPlaneFirewall"]
    return events


def test_engine_detailed_diffs_are_used_when_the_provider_gives_them() -> None:
    report = drift.classify("dev", with_detailed_diffs(recorded("outside")), LAB_IGNORES)
    assert props(by_name(report)["cluster"]) == {
        "controlPlaneFirewall.allowedAddresses[1]": ("deleted", "add", False),
        "controlPlaneFirewall.enabled": ("changed", "update", False),
    }
    # An engine that did put an ignore_changes field in the plan diff still does not make it drift.
    report = drift.classify("dev", with_detailed_diffs(recorded("outside"), {"version": "update"}), LAB_IGNORES)
    assert "version" not in props(by_name(report)["cluster"])


def test_property_paths() -> None:
    assert drift.path_tokens('a.b[1]["app.kubernetes.io/name"]') == ["a", "b", 1, "app.kubernetes.io/name"]
    assert drift.is_ignored("nodePool.nodeCount", ["nodePool.nodeCount"])
    assert drift.is_ignored("nodePool[0].nodeCount", ["nodePool.nodeCount"])
    assert drift.is_ignored("version", ["version"]) and not drift.is_ignored("versionPrefix", ["version"])
    assert not drift.is_ignored("nodePool.size", ["nodePool.nodeCount"])
    old = {"labels": {"app.kubernetes.io/name": "a"}, "rules": [1, 2, 3], "x": 1, "__provider": "p"}
    new = {"labels": {"app.kubernetes.io/name": "b"}, "rules": [1, 2], "y": 2, "__provider": "q"}
    assert drift.diff_values(old, new) == {
        'labels["app.kubernetes.io/name"]': "update", "rules[2]": "delete", "x": "delete", "y": "add",
    }
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]"}
    assert drift.shown({"token": secret}) == {"token": "[secret]"}


# -- the command -----------------------------------------------------------------------


def replay(scenarios: dict[str, str]) -> Callable[[str, Callable[[EngineEvent], None]], None]:
    """A stand-in for engine_preview: feeds the recorded events of each stack's scenario and fails
    the way the CLI did (the Automation API raises CommandError on a non-zero exit)."""

    def preview(stack: str, on_event: Callable[[EngineEvent], None]) -> None:
        scenario = scenarios[stack]
        for event in recorded(scenario):
            on_event(EngineEvent.from_json(event))
        result = recorded_result(scenario)
        if result["exit_code"]:
            raise CommandError(CommandResult(stdout="", stderr=result["stderr"], code=result["exit_code"]))

    return preview


@pytest.fixture(autouse=True)
def lab_ignores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift, "ignore_changes_of", lambda stack: LAB_IGNORES)


@pytest.mark.parametrize("scenario, code", [("clean", 0), ("doks_managed", 0), ("outside", 1), ("pending", 1), ("broken", 2)])
def test_exit_codes(scenario: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert drift.main(["--stack", "dev"], preview=replay({"dev": scenario})) == code
    out = capsys.readouterr().out
    assert out.startswith(f"dev: {['clean', 'drift', 'error'][code]}")


def test_human_report(capsys: pytest.CaptureFixture[str]) -> None:
    drift.main(["--stack", "dev"], preview=replay({"dev": "outside"}))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "dev: drift (4 resources)"
    assert lines[1].split() == ["KIND", "TYPE", "NAME", "PROPERTIES"]
    assert any(line.split()[:3] == ["deleted", LAB, "namespace-payments"] for line in lines)
    assert any("inboundRules[2] (added outside Pulumi): program: absent, cloud {" in line for line in lines)
    assert any("controlPlaneFirewall.enabled (changed outside Pulumi): program true, cloud false" in line for line in lines)
    assert any("ipRange (changed outside Pulumi, forces replacement)" in line for line in lines)
    assert lines[-1] == f"  ignored (DOKS-managed, in ignore_changes): {LAB} cluster: nodePool.nodeCount, version"


def test_json_report_for_all_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    code = drift.main(["--all", "--json"], preview=replay({"dev": "outside", "staging": "clean", "prod": "doks_managed"}))
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and (report["status"], report["exit_code"]) == ("drift", 1)
    check_envelope(report, "drift", ["dev", "prod", "staging"], 1, "drift")
    assert {s["stack"]: s["status"] for s in report["stacks"]} == {"dev": "drift", "prod": "clean", "staging": "clean"}
    assert {f["stack"] for f in report["findings"]} == {"dev"} and {f["finding"] for f in report["findings"]} == {"drift"}
    assert sorted(f["name"] for f in report["findings"]) == sorted(r["name"] for r in next(s for s in report["stacks"] if s["stack"] == "dev")["resources"])
    dev = next(s for s in report["stacks"] if s["stack"] == "dev")
    firewall = next(r for r in dev["resources"] if r["name"] == "workers-firewall")
    assert firewall["properties"][0] == {
        "path": "inboundRules[2]", "change": "created", "diff": "delete", "replace": False, "expected": None,
        "actual": {"portRange": "22", "protocol": "tcp", "sourceAddresses": ["0.0.0.0/0"]}, "removable": False,
    }
    # An error anywhere makes the whole run an error (the check is incomplete).
    assert drift.main(["--all"], preview=replay({"dev": "outside", "staging": "broken", "prod": "clean"})) == 2


def test_unknown_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert drift.main(["--stack", "qa"], preview=replay({})) == 2
    assert "unknown stack 'qa': there is no stacks/Pulumi.qa.yaml (known stacks: dev, prod, staging)" in capsys.readouterr().out


def test_missing_credentials(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("DIGITALOCEAN_TOKEN", "DIGITALOCEAN_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert drift.main(["--stack", "dev"]) == 2
    assert "no DigitalOcean API token: export DIGITALOCEAN_TOKEN" in capsys.readouterr().out
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_test")
    assert drift.main(["--stack", "dev"]) == 2
    assert "no secrets passphrase: export PULUMI_CONFIG_PASSPHRASE" in capsys.readouterr().out


def test_missing_pulumi_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_test")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(engine, "PROJECT_DIR", tmp_path)  # no scripts/toolchain.sh either
    assert drift.main(["--stack", "dev"]) == 2
    assert "the pulumi CLI is not on PATH" in capsys.readouterr().out


def test_the_offline_toolchain_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    built = tmp_path / "toolchain" / "bin"
    built.mkdir(parents=True)
    (built / "pulumi").write_text("#!/bin/sh\n")
    (tmp_path / "scripts").mkdir()
    script = tmp_path / "scripts" / "toolchain.sh"
    script.write_text(f"#!/bin/sh\necho {built}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(engine, "PROJECT_DIR", tmp_path)
    assert engine.pulumi_bin() == built
    assert engine.environment()["PATH"].split(":")[1] == str(built)


def test_unexplained_changes_are_an_error_not_a_pass() -> None:
    """The CLI said changes were proposed but the events explain none: never report clean."""

    def preview(stack: str, on_event: Callable[[EngineEvent], None]) -> None:
        raise CommandError(CommandResult("", "error: no changes were expected for preview but changes were proposed\n", 7))

    report = drift.check_stack("dev", preview)
    assert report.status == "error" and "could not be classified" in report.errors[0]


def test_cli_error_line_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def preview(stack: str, on_event: Callable[[EngineEvent], None]) -> None:
        raise CommandError(CommandResult("", "error: failed to decrypt: incorrect passphrase\n", 255))

    report = drift.check_stack("dev", preview)
    assert report.errors == ["engine failure: error: failed to decrypt: incorrect passphrase"]


# -- Slack -----------------------------------------------------------------------------

WEBHOOK = "https://hooks.slack.com/services/T000/B000/XXXX"


@responses.activate
def test_slack_summary_on_drift(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(drift.SLACK_WEBHOOK_ENV, WEBHOOK)
    responses.post(WEBHOOK, body="ok")
    assert drift.main(["--all", "--slack"], preview=replay({"dev": "outside", "staging": "clean", "prod": "clean"})) == 1
    assert len(responses.calls) == 1  # clean stacks post nothing
    text = json.loads(responses.calls[0].request.body)["text"]
    assert text.startswith("hardened-doks drift check, stack *dev*: drift")
    assert "• changed: pulumi-python:dynamic:Resource `workers-firewall` (inboundRules[2])" in text
    assert "0.0.0.0/0" not in text and "203.0.113.10" not in text  # names and paths only, never values


@responses.activate
def test_slack_failure_does_not_change_the_exit_code(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(drift.SLACK_WEBHOOK_ENV, WEBHOOK)
    responses.post(WEBHOOK, status=500)
    assert drift.main(["--stack", "dev", "--slack"], preview=replay({"dev": "broken"})) == 2
    assert "posting to Slack failed" in capsys.readouterr().err


def test_slack_webhook_is_the_stacks_one_webhook_then_the_drift_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(drift.SLACK_WEBHOOK_ENV, raising=False)
    monkeypatch.setattr(engine, "select_stack", lambda stack, check=True: object())
    keys: list[str] = []
    stored = {"drift:slack_webhook_url": ConfigValue(WEBHOOK + "/drift", secret=True)}
    monkeypatch.setattr(engine, "config_value", lambda stack, key: keys.append(key) or stored.get(key))
    assert drift.slack_webhook("dev") == WEBHOOK + "/drift"
    assert keys == ["hardened-doks:slack_webhook_url", "drift:slack_webhook_url"]
    stored["hardened-doks:slack_webhook_url"] = ConfigValue(WEBHOOK, secret=True)
    assert drift.slack_webhook("dev") == WEBHOOK, "the alerts webhook (secret config slack_webhook_url) comes first"


def test_slack_webhook_from_secret_config_only(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(drift.SLACK_WEBHOOK_ENV, raising=False)
    monkeypatch.setattr(engine, "select_stack", lambda stack, check=True: object())
    monkeypatch.setattr(engine, "config_value", lambda stack, key: ConfigValue(WEBHOOK, secret=True))
    assert drift.slack_webhook("dev") == WEBHOOK
    monkeypatch.setattr(engine, "config_value", lambda stack, key: ConfigValue(WEBHOOK, secret=False))
    assert drift.slack_webhook("dev") is None
    assert "is not a secret" in capsys.readouterr().err


def test_ignore_changes_come_from_the_program(run_of) -> None:
    ignores = drift.ignore_changes_in(run_of("prod"))
    assert ignores[("digitalocean:index/kubernetesCluster:KubernetesCluster", "hardened-doks-doks-cluster")] == [
        "version", "nodePool.nodeCount",
    ]
    assert ignores[("digitalocean:index/kubernetesNodePool:KubernetesNodePool", "hardened-doks-doks-pool-apps")] == ["nodeCount"]


def test_ignore_changes_of_a_stack_file_runs_the_program_quietly(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.undo()  # the real ignore_changes_of, not the lab's
    assert drift.ignore_changes_of("dev") == {
        ("digitalocean:index/kubernetesCluster:KubernetesCluster", "hardened-doks-doks-cluster"): ["version", "nodePool.nodeCount"]
    }
    assert capsys.readouterr() == ("", "")  # the program's warnings stay out of the report


BINDING_URN = "urn:pulumi:dev::hardened-doks::kubernetes:rbac.authorization.k8s.io/v1:RoleBinding::developer"
BINDING_TYPE = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
NAMESPACE_URN = "urn:pulumi:dev::hardened-doks::kubernetes:core/v1:Namespace::namespace-storefront"
MALLORY = {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}


def binding(subjects: list[dict[str, Any]], role: str = "hardened-doks:developer") -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "developer", "namespace": "storefront"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}, "subjects": subjects}


def cluster_admin_binding() -> KubeObject:
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "oops-admin"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}, "subjects": [MALLORY]}
    return KubeObject("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "", ObjectKey("ClusterRoleBinding", "", "oops-admin"), obj)


def test_changes_a_preview_cannot_see_are_drift_with_a_remedy(capsys: pytest.CaptureFixture[str]) -> None:
    devs = {"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}
    key = ObjectKey("RoleBinding", "storefront", "developer")
    added = Difference("subjects[1]", "added", None, MALLORY, "/subjects/1", explicit=False)
    extra = KubeObject("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "", ObjectKey("RoleBinding", "storefront", "extra-admin"), {})
    found = OutOfBand(
        created=[extra, cluster_admin_binding()],
        changed=[ChangedObject(BINDING_TYPE, BINDING_URN, key, [added])],
        live=[KubeObject(BINDING_TYPE, BINDING_URN, key, binding([devs, MALLORY])), extra, cluster_admin_binding()],
        declared=[KubeObject(BINDING_TYPE, BINDING_URN, key, binding([devs]))],
    )
    desired: list[Any] = []
    code = drift.main(["--stack", "dev", "--json"], preview=replay({"dev": "clean"}), scan=lambda stack, goals: desired.append(goals) or found)
    assert code == drift.EXIT_DRIFT
    assert desired and all(isinstance(v, dict) for v in desired[0].values())  # the program's objects reach the scan
    report = json.loads(capsys.readouterr().out)["stacks"][0]
    assert [(r["kind"], r["type"], r["name"]) for r in report["resources"]] == [
        ("changed", BINDING_TYPE, "developer"),
        ("created", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "storefront/extra-admin"),
        ("created", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "oops-admin"),
    ]
    changed = report["resources"][0]
    assert changed["properties"] == [{"path": "subjects[1]", "change": "created", "diff": "delete", "replace": False,
                                      "expected": None, "actual": MALLORY, "removable": True}]
    # the provider's pruned diff never sees an appended subject: the named remedy removes it
    assert changed["remedy"] == f"python -m hardened_doks.tools.drift --stack dev --remove-added '{BINDING_URN}'"
    assert report["resources"][1]["remedy"].endswith("kubectl delete rolebinding extra-admin -n storefront")
    assert report["resources"][2]["remedy"].endswith("kubectl delete clusterrolebinding oops-admin")
    # the policy pack, offline on the live objects: the binding it did not break before is named
    assert [p.split(":")[0] for p in report["resources"][2]["policies"]] == ["k8s-no-cluster-admin-binding"]
    assert report["resources"][0]["policies"] == []


def namespace_object(enforce: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "storefront", "labels": {"pod-security.kubernetes.io/enforce": enforce}}}


def test_a_declared_value_changed_is_healed_by_up_and_its_broken_policy_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    key = ObjectKey("Namespace", "", "storefront")
    change = Difference('metadata.labels["pod-security.kubernetes.io/enforce"]', "changed", "restricted", "privileged",
                        "/metadata/labels/pod-security.kubernetes.io~1enforce", explicit=True)
    found = OutOfBand([], [ChangedObject("kubernetes:core/v1:Namespace", NAMESPACE_URN, key, [change])],
                      live=[KubeObject("kubernetes:core/v1:Namespace", NAMESPACE_URN, key, namespace_object("privileged"))],
                      declared=[KubeObject("kubernetes:core/v1:Namespace", NAMESPACE_URN, key, namespace_object("restricted"))])
    assert drift.main(["--stack", "dev"], preview=replay({"dev": "clean"}), scan=lambda stack, goals: found) == drift.EXIT_DRIFT
    out = capsys.readouterr().out
    assert 'namespace-storefront  metadata.labels["pod-security.kubernetes.io/enforce"] (changed outside Pulumi): program "restricted", cloud "privileged"' in out
    assert "  policy violated by namespace-storefront: k8s-namespace-pod-security: pod-security.kubernetes.io/enforce=privileged without" in out
    # never a replacement of a Namespace: a forced server-side apply puts the label back
    assert "  remedy for namespace-storefront: pulumi up --refresh --stack dev" in out.splitlines()


def test_a_program_change_not_applied_stays_pending_with_up_as_its_remedy(capsys: pytest.CaptureFixture[str]) -> None:
    key = ObjectKey("RoleBinding", "storefront", "developer")
    added = Difference("subjects[1]", "removed", {"kind": "Group", "name": "ops"}, None, "", explicit=True)
    found = OutOfBand([], [ChangedObject(BINDING_TYPE, BINDING_URN, key, [added], pending={"subjects[1]"})])
    assert drift.main(["--stack", "dev", "--json"], preview=replay({"dev": "clean"}), scan=lambda stack, goals: found) == drift.EXIT_DRIFT
    (row,) = json.loads(capsys.readouterr().out)["stacks"][0]["resources"]
    assert (row["kind"], row["properties"][0]["change"], row["remedy"]) == ("pending", "pending", "pulumi up --stack dev")


def test_remedies() -> None:
    row = drift.ResourceDrift("changed", BINDING_TYPE, "developer", BINDING_URN, op="none", properties=[
        drift.PropertyDrift("subjects[1]", "created", "delete", removable=True), drift.PropertyDrift("roleRef.name", "changed", "update")])
    both = f"python -m hardened_doks.tools.drift --stack dev --remove-added '{BINDING_URN}' && pulumi up --refresh --stack dev"
    assert drift.remedy("dev", row) == both
    assert drift.remedy("dev", drift.ResourceDrift("deleted", BINDING_TYPE, "developer", BINDING_URN, "create")) == "pulumi up --refresh --stack dev"
    assert drift.remedy("dev", drift.ResourceDrift("pending", BINDING_TYPE, "developer", BINDING_URN, "update")) == "pulumi up --stack dev"
    row = drift.ResourceDrift("changed", BINDING_TYPE, "developer", BINDING_URN, "update", conflict='conflict with "kubectl" using v1: .subjects')
    assert drift.remedy("dev", row) == f"PULUMI_K8S_ENABLE_PATCH_FORCE=true pulumi up --refresh --stack dev --target '{BINDING_URN}'"


def with_conflict(events: list[dict[str, Any]], urn_suffix: str) -> list[dict[str, Any]]:
    """The recorded events plus the diagnostics a preview's server-side-apply dry run emits when
    another field manager owns a declared field (the provider's message, as recorded live)."""
    urn = next(e["resourcePreEvent"]["metadata"]["urn"] for e in events if "resourcePreEvent" in e and e["resourcePreEvent"]["metadata"]["urn"].endswith(urn_suffix))
    message = ('Preview failed: 1 error occurred:\n\t* the Kubernetes API server reported that "storefront" failed to fully initialize or become live: '
               "Server-Side Apply field conflict detected. See https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/ "
               'for troubleshooting help.\nThe resource managed by field manager "pulumi-kubernetes-89ec0684" had an apply conflict: Apply failed with 1 conflict: '
               'conflict with "kubectl-label" using v1: .metadata.labels.pod-security.kubernetes.io/enforce')
    sequence = max(e["sequence"] for e in events)
    extra = [{"sequence": sequence + 1, "timestamp": 0, "diagnosticEvent": {"urn": urn, "message": message, "color": "never", "severity": "error"}},
             {"sequence": sequence + 2, "timestamp": 0, "diagnosticEvent": {"message": "preview failed", "color": "never", "severity": "error"}}]
    return events[:-1] + extra + events[-1:]


def test_a_field_conflict_in_the_preview_is_drift_not_an_engine_error() -> None:
    events = with_conflict(recorded("outside"), "::workers-firewall")
    report = drift.classify("dev", events, LAB_IGNORES)
    assert report.status == "drift" and report.errors == []
    firewall = by_name(report)["workers-firewall"]
    assert firewall.conflict == 'conflict with "kubectl-label" using v1: .metadata.labels.pod-security.kubernetes.io/enforce'

    def preview(stack: str, on_event: Callable[[EngineEvent], None]) -> None:
        for event in events:
            on_event(EngineEvent.from_json(event))
        raise CommandError(CommandResult("", "error: preview failed\n", 255))

    assert drift.check_stack("dev", preview).exit_code == drift.EXIT_DRIFT
    # an error the conflicts do not explain stays an error
    broken = events[:-1] + [{"sequence": 999, "timestamp": 0, "diagnosticEvent": {"message": "boom", "color": "never", "severity": "error"}}] + events[-1:]
    assert drift.classify("dev", broken, LAB_IGNORES).status == "error"


def test_goal_inputs_are_the_programs_objects() -> None:
    goals = drift.goal_inputs(recorded("pending"))
    cluster = next(v for k, v in goals.items() if k.endswith("::cluster"))
    assert cluster["ha"] != next(
        e["resourcePreEvent"]["metadata"]["old"]["inputs"]["ha"] for e in recorded("pending")
        if "resourcePreEvent" in e and e["resourcePreEvent"]["metadata"]["urn"].endswith("::cluster") and e["resourcePreEvent"]["metadata"]["op"] == "update"
    )


def test_a_failed_cluster_scan_is_an_error_not_clean() -> None:
    def unreachable(stack: str, desired: Any) -> list:
        raise ConnectionError("connection refused")

    report = drift.check_stack("dev", replay({"dev": "clean"}), scan=unreachable)  # type: ignore[arg-type]
    assert report.status == "error" and "connection refused" in report.errors[0]


def test_the_tools_run_the_engine_without_per_step_checkpoints_unless_the_caller_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine's per-step checkpoint makes `up` quadratic (docs/performance.md).
    monkeypatch.setattr(engine, "pulumi_bin", lambda: Path("/opt/pulumi/bin"))
    monkeypatch.delenv("PULUMI_SKIP_CHECKPOINTS", raising=False)
    assert engine.environment()["PULUMI_SKIP_CHECKPOINTS"] == "true"
    monkeypatch.setenv("PULUMI_SKIP_CHECKPOINTS", "false")
    assert engine.environment()["PULUMI_SKIP_CHECKPOINTS"] == "false"


def test_the_preview_and_the_offline_program_run_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each waits until the other has started: run one after the other, the first would time out.
    started = {"preview": threading.Event(), "program": threading.Event()}

    def both_running(mine: str, other: str) -> None:
        started[mine].set()
        assert started[other].wait(timeout=10), f"the {other} did not run while the {mine} did"

    def offline(stack: str) -> dict[tuple[str, str], list[str]]:
        both_running("program", "preview")
        return LAB_IGNORES

    def preview(stack: str, on_event: Callable[[EngineEvent], None]) -> None:
        both_running("preview", "program")
        for event in recorded("clean"):
            on_event(EngineEvent.from_json(event))

    monkeypatch.setattr(drift, "ignore_changes_of", offline)
    assert drift.check_stack("dev", preview=preview).status == "clean"


def test_the_kubeconfig_output_is_read_from_the_exported_state() -> None:
    plain = {"type": "pulumi:pulumi:Stack", "outputs": {"clusterName": "c1", "kubeconfig": {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "plaintext": json.dumps("apiVersion: v1\n")}}}
    deployment = {"resources": [{"type": "kubernetes:core/v1:Namespace", "outputs": {"kubeconfig": "not the stack's"}}, plain]}
    assert drift.stack_output(deployment, "kubeconfig") == "apiVersion: v1\n"
    assert drift.stack_output(deployment, "clusterName") == "c1"
    assert drift.stack_output(deployment, "nope") is None
    assert drift.stack_output({"resources": []}, "kubeconfig") is None
