"""The resource budget measured by the scheduler, not only added up (``make budget-fit``).

tools/budget.py counts the add-ons' requests (``make budget``); here the same counted replicas
become pods (:func:`hardened_doks.tools.budget.scheduling_plan`) that the real kube-scheduler places on nodes
kwok simulates in the shape of a pool (Droplet size → allocatable CPU, memory, pods; the pool's
labels and taints), and :func:`hardened_doks.tools.budget.fit_report` reads back what fit where:

- the dev stack on its system pool, with its default add-ons and with every add-on on: every pod
  is placed (the report prints the requests per node);
- a pool too small for them (one s-1vcpu-2gb node): pods are left unschedulable, and the report
  names each with the scheduler's reason.

Each measurement has its own namespace and nodes (selected by a label) on a control plane of its
own (no stack is deployed on it), stopped at the end of the module.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hardened_doks.config import NAMESPACE, NodePool, StackConfig, parse_stack_config
from tests.conftest import ALL_ADDONS, ALL_ADDONS_SECRETS
from tests.e2e.conftest import doks_version
from tests.e2e.controlplane import LocalControlPlane
from hardened_doks.tools import budget
from hardened_doks.tools.offline import read_stack_file

DECISION_TIMEOUT_SECONDS = 120


@pytest.fixture(scope="module")
def plane(toolchain_bin: Path) -> Iterator[LocalControlPlane]:
    """A control plane of its own: scheduler, kwok, and the node lifecycle controller (which lifts
    the not-ready taint of new nodes); no workload controllers, the pods are created directly."""
    with LocalControlPlane(toolchain_bin, controllers=("garbage-collector-controller", "node-lifecycle-controller")) as plane:
        yield plane


def dev_config(all_addons: bool = False) -> StackConfig:
    raw, secrets = read_stack_file("dev")
    if all_addons:
        raw[f"{NAMESPACE}:scanners"] = json.dumps(ALL_ADDONS["scanners"])
        raw.update({f"{NAMESPACE}:{k}": v for k, v in ALL_ADDONS_SECRETS.items()})
        secrets = secrets | {f"{NAMESPACE}:{k}" for k in ALL_ADDONS_SECRETS}
    return parse_stack_config(raw, stack="dev", secret_keys=secrets)


def measure(plane: LocalControlPlane, config: StackConfig, pool: NodePool, scenario: str, live_checks: Counter[str]) -> budget.FitReport:
    """Create the plan's nodes and pods, wait until the scheduler decided on every pod, report."""
    namespace = f"budget-{scenario}"
    plane.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    # What the ServiceAccount controller (not run here) would create; admission requires it.
    plane.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}})
    plan = budget.scheduling_plan(config, pool, scenario=scenario, namespace=namespace, doks_version=doks_version(plane))
    plane.add_nodes(plan.nodes)
    for pod in plan.pods:
        plane.create(f"/api/v1/namespaces/{namespace}/pods", pod)
    selector = {"labelSelector": f"{budget.SCENARIO_LABEL}={scenario}"}

    def live_pods() -> list[dict[str, Any]]:
        return plane.get(f"/api/v1/namespaces/{namespace}/pods", params=selector).json()["items"]

    def decided(pod: dict[str, Any]) -> bool:
        conditions = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}
        return bool(pod["spec"].get("nodeName")) or conditions.get("PodScheduled", {}).get("reason") == "Unschedulable"

    plane.wait_for(lambda: all(decided(p) for p in live_pods()), f"the scheduler's decision on every pod of {scenario}", DECISION_TIMEOUT_SECONDS)
    nodes = plane.get("/api/v1/nodes", params=selector).json()["items"]
    report = budget.fit_report(plan, live_pods(), nodes)
    print("\n" + budget.fit_human(report))
    assert sorted(p.pod for p in report.placements) == sorted(p["metadata"]["name"] for p in plan.pods), "every planned pod is reported"
    live_checks["budget pods placed or refused by the scheduler"] += len(report.placements)
    return report


def test_budget_fit_dev_add_ons_fit_its_system_pool(plane: LocalControlPlane, live_checks: Counter[str]) -> None:
    config = dev_config()
    report = measure(plane, config, config.system_pool, "dev", live_checks)
    assert report.fits, budget.fit_human(report)
    assert len(report.nodes) == config.system_pool.min_nodes and sum(n.pods for n in report.nodes) == len(report.placements)
    for node in report.nodes:
        assert node.cpu_m <= node.allocatable_cpu_m and node.memory_mib <= node.allocatable_memory_mib, node


def test_budget_fit_dev_with_every_add_on_fits_its_system_pool(plane: LocalControlPlane, live_checks: Counter[str]) -> None:
    config = dev_config(all_addons=True)
    report = measure(plane, config, config.system_pool, "dev-all-addons", live_checks)
    assert report.fits, budget.fit_human(report)
    # Falco's node agent: one pod on each node.
    falco = Counter(p.node for p in report.placements if p.pod.startswith("falco-falco-"))
    assert set(falco) == {n.node for n in report.nodes} and set(falco.values()) == {1}, falco


def test_budget_fit_a_too_small_pool_reports_the_pods_that_do_not_fit(plane: LocalControlPlane, live_checks: Counter[str]) -> None:
    config = dev_config()
    small = config.system_pool.model_copy(update={"size": "s-1vcpu-2gb", "min_nodes": 1, "max_nodes": 1})
    report = measure(plane, config, small, "too-small", live_checks)
    assert not report.fits
    text = budget.fit_human(report)
    assert f"{len(report.unschedulable)} of {len(report.placements)} pods UNSCHEDULABLE" in text
    for pod in report.unschedulable:
        # Named, with the scheduler's own reason (e.g. "0/1 nodes are available: 1 Insufficient memory").
        assert f"unschedulable: {pod.pod} " in text and "Insufficient" in pod.message, pod
    placed_cpu = sum(p.cpu_m for p in report.placements if p.node)
    (node,) = report.nodes
    assert placed_cpu <= node.allocatable_cpu_m and node.memory_mib <= node.allocatable_memory_mib
