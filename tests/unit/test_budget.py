"""The resource budget report: requests read from the values the stack sets, the capacity model,
and the 25 % budget of the dev profile on its default node pool."""

from __future__ import annotations

import json

import pytest

from hardened_doks.config import NAMESPACE, PROFILES, parse_stack_config
from tests.conftest import ALL_ADDONS, ALL_ADDONS_SECRETS
from tests.unit.envelope import check_envelope
from tests.unit.manifests import helm_release
from hardened_doks.tools import budget
from hardened_doks.tools.offline import ProgramRun, read_stack_file


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
    (report,) = check_envelope(json.loads(capsys.readouterr().out), "budget", ["prod"], 0, "within").values()
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


def test_the_docs_show_the_current_figures_of_every_profile() -> None:
    from hardened_doks.tools.offline import PROJECT_DIR

    page = (PROJECT_DIR / "docs" / "scanners.md").read_text()
    for stack in ("dev", "staging", "prod"):
        report = budget.check(stack)
        assert f"{report.cpu_share:.1%} CPU, {report.memory_share:.1%} memory" in page, f"update the budget table of docs/scanners.md ({stack})"


# -- the scheduler's measurement: nodes shaped like a pool, one pod per counted replica ---------


def _config(stack: str = "dev", **pool: object):
    raw, secrets = read_stack_file(stack)
    if pool:
        raw[f"{NAMESPACE}:system_pool"] = json.dumps({**PROFILES[stack]["system_pool"], **pool})
    return parse_stack_config(raw, stack=stack, secret_keys=secrets)


def test_a_node_has_the_allocatable_capacity_of_its_droplet_size_and_the_pools_labels_and_taints() -> None:
    config = _config(labels={"tier": "system"}, taints=[{"key": "dedicated", "value": "system", "effect": "NoSchedule"}])
    node = budget.node_manifest(config, config.system_pool, 1, doks_version="1.34.4-do.0")
    labels = node["metadata"]["labels"]
    assert node["metadata"]["name"] == "system-00001" == labels["kubernetes.io/hostname"]
    assert labels["doks.digitalocean.com/node-pool"] == "system" and labels["doks.digitalocean.com/version"] == "1.34.4-do.0"
    assert labels["node.kubernetes.io/instance-type"] == "s-4vcpu-8gb" and labels["topology.kubernetes.io/region"] == config.region
    # The pool's labels and taints as the stack gives them to DOKS.
    assert labels["tier"] == "system" and labels[f"{NAMESPACE}/pool"] == "system"
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "system", "effect": "NoSchedule"}]
    cpu_m, memory = budget.allocatable("s-4vcpu-8gb")
    assert node["status"]["capacity"] == {"cpu": "4", "memory": "8192Mi", "pods": "110", "ephemeral-storage": "160G"}
    assert node["status"]["allocatable"]["cpu"] == f"{int(cpu_m)}m" == "3920m"
    assert node["status"]["allocatable"]["memory"] == f"{int(memory)}Mi"
    assert budget.memory_mib(node["status"]["allocatable"]["ephemeral-storage"]) < 160 * 1000**3 / 1024**2


def test_pool_nodes_are_every_pool_at_its_minimum() -> None:
    names = [n["metadata"]["name"] for n in budget.pool_nodes(_config("prod"), doks_version="1.34.4-do.0")]
    assert names == ["system-00000", "system-00001", "system-00002", "apps-00000", "apps-00001", "apps-00002"]


def test_the_plan_has_one_pod_per_counted_replica_requesting_exactly_the_items() -> None:
    config = _config(taints=[{"key": "dedicated", "value": "system", "effect": "NoSchedule"}])
    plan = budget.scheduling_plan(config, config.system_pool, scenario="s", namespace="budget-s", doks_version="1")
    report = budget.stack_budget("dev", config)
    assert len(plan.pods) == sum(i.count if i.kind != "DaemonSet" else len(plan.nodes) for i in report.items)
    assert sum(budget._requests(p)[0] for p in plan.pods) == pytest.approx(sum(i.cpu_m * i.count for i in report.items), abs=len(plan.pods))
    assert len({p["metadata"]["name"] for p in plan.pods}) == len(plan.pods)
    for pod in plan.pods:
        assert pod["spec"]["nodeSelector"] == {budget.SCENARIO_LABEL: "s"}
        assert pod["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "system", "effect": "NoSchedule"}]
    assert all(n["metadata"]["labels"][budget.SCENARIO_LABEL] == "s" for n in plan.nodes)


def test_a_daemonset_gets_one_pod_bound_to_each_node() -> None:
    raw, secrets = read_stack_file("dev")
    raw[f"{NAMESPACE}:scanners"] = json.dumps(ALL_ADDONS["scanners"])
    raw.update({f"{NAMESPACE}:{k}": v for k, v in ALL_ADDONS_SECRETS.items()})
    config = parse_stack_config(raw, stack="dev", secret_keys=secrets | {f"{NAMESPACE}:{k}" for k in ALL_ADDONS_SECRETS})
    plan = budget.scheduling_plan(config, config.system_pool, scenario="d", namespace="n", doks_version="1")
    falco = [p for p in plan.pods if p["metadata"]["labels"]["app.kubernetes.io/name"] == "falco"]
    bound = [p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchFields"][0]["values"] for p in falco]
    assert sorted(v for (v,) in bound) == sorted(n["metadata"]["name"] for n in plan.nodes)


def test_the_fit_report_names_unschedulable_pods_with_the_schedulers_reason() -> None:
    config = _config()
    plan = budget.scheduling_plan(config, config.system_pool, scenario="s", namespace="n", doks_version="1")
    first, second, *rest = plan.pods
    live = [
        {**first, "spec": {**first["spec"], "nodeName": "system-s-00000"}},
        {**second, "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available: 2 Insufficient memory."}]}},
    ]
    report = budget.fit_report(plan, live, plan.nodes)
    assert not report.fits and [p.pod for p in report.unschedulable] == [second["metadata"]["name"]]
    text = budget.fit_human(report)
    assert f"unschedulable: {second['metadata']['name']}" in text and "2 Insufficient memory" in text
    assert "1 of 2 pods UNSCHEDULABLE" in text
    (used,) = [n for n in report.nodes if n.pods]
    assert used.node == "system-s-00000" and used.cpu_m == budget._requests(first)[0]


def test_the_json_envelope_of_every_stack_and_of_one_that_cannot_be_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert budget.main(["--all", "--json"]) == budget.EXIT_OK
    check_envelope(json.loads(capsys.readouterr().out), "budget", ["dev", "prod", "staging"], 0, "within")
    assert budget.main(["--stack", "qa", "--json"]) == budget.EXIT_ERROR
    report = json.loads(capsys.readouterr().out)
    check_envelope(report, "budget", ["qa"], 2, "error")
    (finding,) = report["findings"]
    assert finding["finding"] == "error" and "known stacks: dev, prod, staging" in finding["message"]


def test_a_tainted_workload_pool_is_not_capacity_for_the_addons(monkeypatch: pytest.MonkeyPatch) -> None:
    raw, secrets = read_stack_file("dev")
    tainted = {"name": "gpu", "size": "s-8vcpu-16gb", "min_nodes": 4, "max_nodes": 4, "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}
    raw[f"{NAMESPACE}:workload_pools"] = json.dumps([tainted])
    config = parse_stack_config(raw, stack="dev", secret_keys=secrets)
    assert not config.system_pool_isolated, "dev with only a tainted workload pool: the system pool is not isolated"
    report = budget.stack_budget("dev", config)
    # Only the system pool counts: the add-ons do not tolerate the gpu pool's taint.
    assert report.pools == ["system: 2 × s-4vcpu-8gb"] and report.nodes == 2
    assert report.cpu_m == budget.stack_budget("dev", _config()).cpu_m
    # Over budget on the system pool stays over budget when the tainted pool is added.
    monkeypatch.setitem(budget.BUDGET, "dev", report.cpu_share / 2)
    assert not budget.stack_budget("dev", config).within
    # The same pool untainted is a tenant pool: the system pool is then isolated and alone counts.
    untainted = parse_stack_config({**raw, f"{NAMESPACE}:workload_pools": json.dumps([{**tainted, "taints": []}])}, stack="dev", secret_keys=secrets)
    assert untainted.system_pool_isolated and budget.stack_budget("dev", untainted).pools == ["system: 2 × s-4vcpu-8gb"]


def test_tolerations_follow_the_kubernetes_rule() -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    assert budget.tolerates([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}], taint)
    assert budget.tolerates([{"key": "dedicated", "operator": "Exists"}], taint)
    assert budget.tolerates([{"operator": "Exists"}], taint)
    assert not budget.tolerates([{"key": "dedicated", "operator": "Equal", "value": "cpu"}], taint)
    assert not budget.tolerates([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}], taint)
    assert not budget.tolerates([], taint)
