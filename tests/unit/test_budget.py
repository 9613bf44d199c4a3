"""The resource budget report: requests read from the values the stack sets, the capacity model,
and the 25 % budget of the dev profile on its default node pool."""

from __future__ import annotations

import json

import pytest

from components.config import NAMESPACE, PROFILES, parse_stack_config
from tests.conftest import ALL_ADDONS, ALL_ADDONS_SECRETS
from tests.unit.manifests import helm_release
from tools import budget
from tools.offline import ProgramRun, read_stack_file


def test_dev_on_its_default_pool_stays_within_a_quarter_of_cpu_and_memory() -> None:
    report = budget.check("dev")
    assert PROFILES["dev"]["system_pool"]["size"] == "s-4vcpu-8gb" and PROFILES["dev"]["system_pool"]["min_nodes"] == 2
    assert report.pools == ["system: 2 × s-4vcpu-8gb"]
    assert report.cpu_share <= 0.25, f"{report.cpu_share:.1%} of allocatable CPU"
    assert report.memory_share <= 0.25, f"{report.memory_share:.1%} of allocatable memory"
    assert report.budget == 0.25 and report.within


def test_the_report_prints_the_figures_of_every_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert budget.main(["--all"]) == budget.EXIT_OK
    out = capsys.readouterr().out
    for stack in ("dev", "staging", "prod"):
        assert f"budget {stack} ({stack};" in out
    assert "share of allocatable" in out and "budget 25%: ok" in out
    assert budget.main(["--stack", "prod", "--json"]) == budget.EXIT_OK
    (report,) = json.loads(capsys.readouterr().out)["stacks"]
    # prod isolates its system pool: the add-ons' capacity is the system pool's alone.
    assert report["pools"] == ["system: 3 × s-8vcpu-16gb"] and report["nodes"] == 3
    assert report["within_budget"] is True and 0 < report["share"]["cpu"] < 1


def test_requests_are_the_ones_the_stack_sets(stack_run: ProgramRun) -> None:
    items = {(i.addon, i.component): i for i in budget.check(stack_run.stack).items}
    trivy = helm_release(stack_run, "trivy-operator")["values"]
    assert items[("trivy", "operator")].cpu_m == budget.cpu_millicores(trivy["resources"]["requests"]["cpu"])
    assert items[("trivy", "scan-job")].count == trivy["operator"]["scanJobsConcurrentLimit"]
    kubescape = helm_release(stack_run, "kubescape")["values"]
    assert items[("kubescape", "kubevuln")].memory_mib == budget.memory_mib(kubescape["kubevuln"]["resources"]["requests"]["memory"])
    kyverno = helm_release(stack_run, "kyverno")["values"]
    assert items[("kyverno", "admission-controller")].count == kyverno["admissionController"]["replicas"]


def test_daemonsets_count_per_node_and_optional_addons_count_when_on() -> None:
    raw, secrets = read_stack_file("prod")
    raw.update({f"{NAMESPACE}:scanners": json.dumps(ALL_ADDONS["scanners"])})
    raw.update({f"{NAMESPACE}:{k}": v for k, v in ALL_ADDONS_SECRETS.items()})
    config = parse_stack_config(raw, stack="prod", secret_keys=secrets | {f"{NAMESPACE}:{k}" for k in ALL_ADDONS_SECRETS})
    report = budget.stack_budget("prod", config)
    by = {(i.addon, i.component): i for i in report.items}
    assert by[("falco", "falco")].kind == "DaemonSet" and by[("falco", "falco")].count == report.nodes == 3
    assert {("snyk", "monitor"), ("falcosidekick", "falcosidekick"), ("alerts", "security-notifier")} <= set(by)
    assert report.cpu_m > budget.check("prod").cpu_m


def test_capacity_model() -> None:
    assert budget.size_of("s-4vcpu-8gb") == (4, 8) and budget.size_of("c-8") == (8, 16)
    assert budget.size_of("s-2vcpu-8gb-amd") == (2, 8) and budget.size_of("s-1vcpu-512mb-10gb") == (1, 0.5)
    cpu, memory = budget.allocatable("s-4vcpu-8gb")
    assert cpu == pytest.approx(3920) and memory == pytest.approx(8 * 1024 - 1.8 * 1024 - 100)
    with pytest.raises(budget.BudgetError, match="gpu-h100x1-80gb"):
        budget.size_of("gpu-h100x1-80gb")
    assert budget.cpu_millicores("1500m") == 1500 and budget.cpu_millicores("2") == 2000
    assert budget.memory_mib("1Gi") == 1024 and budget.memory_mib("500M") == pytest.approx(476.84, abs=0.01)


def test_an_over_budget_stack_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(budget.BUDGET, "dev", 0.05)
    assert budget.main(["--stack", "dev"]) == budget.EXIT_OVER
    assert "OVER BUDGET" in capsys.readouterr().out
    assert budget.main(["--stack", "nope"]) == budget.EXIT_ERROR


def test_the_readme_shows_the_current_figures_of_every_profile() -> None:
    from tools.offline import PROJECT_DIR

    readme = (PROJECT_DIR / "README.md").read_text()
    for stack in ("dev", "staging", "prod"):
        report = budget.check(stack)
        assert f"{report.cpu_share:.1%} CPU, {report.memory_share:.1%} memory" in readme, f"update the README budget table ({stack})"
