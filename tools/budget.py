"""Resource budget of the security add-ons, per stack, against the node pools' allocatable capacity.

    python -m hardened_doks.tools.budget --stack dev [--json]
    python -m hardened_doks.tools.budget --all [--json]

Sums the CPU and memory **requests** of every security add-on the stack installs — Kyverno, the
scanners and the notifier, each counting the workloads its descriptor in components/addons/ lists —
read from the very values and manifests the stack passes to them, and
compares them with the allocatable capacity of the configured node pools:

- Deployments count their replicas; DaemonSets (Falco) count once per node; scan Jobs count at
  their concurrency limit and CronJobs once (the peak: they are all running at once);
- Helm hook Jobs (Kyverno's CRD migration on upgrade) and init containers are left out: a hook
  runs only during an upgrade, and a pod's init containers never run beside its containers;
- capacity is every pool the add-ons can be scheduled on (:func:`addons_schedule_on`: their node
  selector matches its labels and they tolerate its taints; a tainted workload pool never counts) at
  its autoscaling minimum (``min_nodes``, or ``node_count``): the smallest the cluster can be, so
  the shares are the worst case. A node's allocatable capacity is
  its Droplet size (:data:`SIZES`) minus the system reservation of :func:`allocatable`.

Exit 0 when every stack with a budget (:data:`BUDGET`: dev, 25 % of CPU and memory) is within
it, 1 when one is over, 2 when a stack cannot be evaluated (unknown stack, invalid config, a node
size this table does not know).

A sum cannot tell whether the pods fit node by node. :func:`scheduling_plan` turns the same items
into Node objects shaped like a pool's Droplets (:func:`node_manifest`: DOKS's labels, the pool's
labels and taints, the allocatable capacity of the model) and one Pod per counted replica, and
:func:`fit_report` reads back what the real kube-scheduler did with them: the e2e tier runs it
against simulated nodes (tests/e2e/test_budget_fit.py, ``make budget-fit``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional

from hardened_doks import cluster, kube
from hardened_doks.addons import installed
from hardened_doks.stack import cluster_args
from hardened_doks.config import ConfigError, NodePool, StackConfig, parse_stack_config
from hardened_doks.tools.cli import emit, envelope, selected_stacks, stack_entry, stack_parser
from hardened_doks.tools.offline import read_stack_file

EXIT_OK, EXIT_OVER, EXIT_ERROR = 0, 1, 2
#: The budget per environment profile: the largest share of allocatable CPU and memory the
#: security add-ons may request (issue: at most 25 % in dev on its default node pool).
BUDGET: dict[str, float] = {"dev": 0.25}

#: DigitalOcean Droplet sizes (vCPU, memory GiB) that DOKS node pools use, as DigitalOcean lists
#: them (https://docs.digitalocean.com/products/droplets/details/pricing/, and `GET /v2/sizes`:
#: `vcpus`, `memory` in MiB). Slugs of the form `<class>-<N>vcpu-<M>gb[-…]` are read from the slug
#: itself by :func:`size_of`; CPU-optimized `c-<N>` sizes have 2 GiB per vCPU.
SIZES: dict[str, tuple[int, float]] = {
    "s-1vcpu-2gb": (1, 2),
    "s-2vcpu-2gb": (2, 2),
    "s-2vcpu-4gb": (2, 4),
    "s-4vcpu-8gb": (4, 8),
    "s-8vcpu-16gb": (8, 16),
    "c-2": (2, 4),
    "c-4": (4, 8),
    "c-8": (8, 16),
    "c-16": (16, 32),
    "g-2vcpu-8gb": (2, 8),
    "g-4vcpu-16gb": (4, 16),
    "m-2vcpu-16gb": (2, 16),
}
_SLUG = re.compile(r"^[a-z0-9_]+-(\d+)vcpu-(\d+)(gb|mb)(-.*)?$")
_CPU_OPTIMIZED = re.compile(r"^c-(\d+)(-intel)?$")

#: The system reservation assumed per node (what the kubelet keeps out of allocatable for the OS,
#: kubelet and container runtime), the tiered model managed Kubernetes services document, e.g.
#: https://cloud.google.com/kubernetes-engine/docs/concepts/plan-node-sizes#memory_and_cpu_reservations :
#: CPU 6 % of the first core, 1 % of the second, 0.5 % of cores 3–4, 0.25 % above; memory 25 % of
#: the first 4 GiB, 20 % of the next 4, 10 % of the next 8, 6 % of the next 112, 2 % above, plus the
#: 100 MiB eviction threshold. DOKS reports each node's allocatable capacity (`kubectl describe
#: node`); on an s-4vcpu-8gb node this model leaves 3.92 CPU and 6.1 GiB. DOKS's own kube-system
#: pods (Cilium, CoreDNS, CSI…) are part of the cluster's load, not of this budget.
CPU_RESERVED_TIERS: tuple[tuple[float, float], ...] = ((1, 0.06), (1, 0.01), (2, 0.005), (float("inf"), 0.0025))
MEMORY_RESERVED_TIERS: tuple[tuple[float, float], ...] = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (float("inf"), 0.02))
EVICTION_MIB = 100


class BudgetError(Exception):
    """A stack whose budget cannot be computed, naming the key to fix."""


def size_of(slug: str) -> tuple[int, float]:
    """A Droplet size's vCPUs and memory (GiB)."""
    if slug in SIZES:
        return SIZES[slug]
    if match := _SLUG.match(slug):
        memory = int(match.group(2)) / (1024 if match.group(3) == "mb" else 1)
        return int(match.group(1)), memory
    if match := _CPU_OPTIMIZED.match(slug):
        return int(match.group(1)), 2.0 * int(match.group(1))
    raise BudgetError(f"size {slug!r} is not in the budget's size table (tools/budget.py SIZES)")


def _tiered(total: float, tiers: tuple[tuple[float, float], ...]) -> float:
    reserved, left = 0.0, total
    for width, share in tiers:
        part = min(left, width)
        reserved += part * share
        left -= part
        if left <= 0:
            break
    return reserved


def allocatable(slug: str) -> tuple[float, float]:
    """A node's allocatable CPU (millicores) and memory (MiB) under the assumed system reservation."""
    vcpus, memory_gib = size_of(slug)
    cpu = vcpus * 1000 - _tiered(vcpus, CPU_RESERVED_TIERS) * 1000
    memory = memory_gib * 1024 - _tiered(memory_gib, MEMORY_RESERVED_TIERS) * 1024 - EVICTION_MIB
    return cpu, memory


#: Pods per node: the kubelet's default ``maxPods`` (110). DOKS's own setting was not checked from
#: here (``kubectl describe node`` shows it as ``pods`` under Capacity); it only matters for pools of
#: very many small pods, never for the add-ons' budget.
MAX_PODS = 110
#: Each Droplet size's disk (GB), the node's ephemeral storage, as DigitalOcean's size list gives
#: it (``GET /v2/sizes``: ``disk``; same sources as :data:`SIZES`, not re-checked live from here).
#: Only the scheduler's measurement uses it (kubevuln requests 5 GiB of ephemeral storage). Sizes
#: not listed get the smallest disk of the table (25 GB), the conservative case.
DISKS_GB: dict[str, int] = {
    "s-1vcpu-2gb": 50,
    "s-2vcpu-2gb": 60,
    "s-2vcpu-4gb": 80,
    "s-4vcpu-8gb": 160,
    "s-8vcpu-16gb": 320,
    "c-2": 25,
    "c-4": 50,
    "c-8": 100,
    "c-16": 200,
    "g-2vcpu-8gb": 25,
    "g-4vcpu-16gb": 50,
    "m-2vcpu-16gb": 50,
}
#: The kubelet's default hard eviction threshold for the node filesystem (nodefs.available < 10 %):
#: what is left of the disk for pods' ephemeral storage.
NODEFS_EVICTION = 0.10


def ephemeral_storage_gib(slug: str) -> float:
    """A node's allocatable ephemeral storage (GiB): its Droplet disk less the eviction threshold."""
    disk_bytes = DISKS_GB.get(slug, min(DISKS_GB.values())) * 1000**3
    return disk_bytes * (1 - NODEFS_EVICTION) / 1024**3


def cpu_millicores(quantity: Any) -> float:
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024**2, "k": 1000 / 1024**2, "M": 1000**2 / 1024**2, "G": 1000**3 / 1024**2}


def memory_mib(quantity: Any) -> float:
    text = str(quantity)
    for unit, factor in sorted(_MEMORY_UNITS.items(), key=lambda u: -len(u[0])):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text) / 1024**2


@dataclass
class Item:
    """One component of an add-on: its requests per pod, and how many pods count."""

    addon: str
    component: str
    kind: str
    count: int
    cpu_m: float
    memory_mib: float


@dataclass
class StackBudget:
    stack: str
    environment: str
    pools: list[str]
    nodes: int
    allocatable_cpu_m: float
    allocatable_memory_mib: float
    items: list[Item]
    budget: Optional[float]

    @property
    def cpu_m(self) -> float:
        return sum(i.cpu_m * i.count for i in self.items)

    @property
    def memory_mib(self) -> float:
        return sum(i.memory_mib * i.count for i in self.items)

    @property
    def cpu_share(self) -> float:
        return self.cpu_m / self.allocatable_cpu_m

    @property
    def memory_share(self) -> float:
        return self.memory_mib / self.allocatable_memory_mib

    @property
    def within(self) -> bool:
        return self.budget is None or (self.cpu_share <= self.budget and self.memory_share <= self.budget)


def _item(addon: str, component: str, kind: str, count: int, requests: Mapping[str, Any]) -> Item:
    return Item(addon, component, kind, count, cpu_millicores(requests["cpu"]), memory_mib(requests["memory"]))


def items(config: StackConfig, nodes: int) -> list[Item]:
    """Every add-on component the config installs, with requests read from the values it sets."""
    found: list[Item] = []
    for addon in installed(config):
        values = addon.values(config) if addon.values is not None else {}
        found += [_item(addon.key, w.component, w.kind, w.count, w.requests) for w in addon.workloads(config, values, nodes)]
    return found


def _minimum(pool: NodePool) -> int:
    return pool.min_nodes if pool.auto_scale else int(pool.node_count or 0)


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Whether one of ``tolerations`` tolerates ``taint`` (Kubernetes' rule: same key, or an empty key
    with Exists; Equal compares the value, Exists does not; an empty effect matches every effect)."""
    for toleration in tolerations:
        operator = toleration.get("operator", "Equal")
        if toleration.get("effect") not in (None, "", taint.get("effect")):
            continue
        if not toleration.get("key") and operator == "Exists":
            return True
        if toleration.get("key") == taint.get("key") and (operator == "Exists" or toleration.get("value", "") == taint.get("value", "")):
            return True
    return False


def addons_schedule_on(config: StackConfig, pool: NodePool) -> bool:
    """Whether the add-ons' pods can run on ``pool``'s nodes: its labels match their node selector
    (hardened_doks.kube.addon_scheduling) and they tolerate each of its NoSchedule/NoExecute taints."""
    selector, tolerations = kube.addon_scheduling(config)
    args = pool_args(config, pool)
    if any(args["labels"].get(k) != v for k, v in selector.items()):
        return False
    return all(tolerates(tolerations, taint) for taint in args["taints"] if taint.get("effect") in ("NoSchedule", "NoExecute"))


def stack_budget(stack: str, config: StackConfig) -> StackBudget:
    # Capacity is only what the add-ons can be scheduled on: the system pool (their home, as the
    # scheduling plan below models it), and a workload pool only when their node selector matches it
    # and they tolerate its taints (never when the system pool is isolated, never a tainted pool).
    # Falco's DaemonSet pods on the other pools are counted against those, not here.
    pools = [("system_pool", config.system_pool)] + [
        (f"workload_pools[{i}]", p) for i, p in enumerate(config.workload_pools) if addons_schedule_on(config, p)
    ]
    cpu = memory = 0.0
    nodes = 0
    described = []
    for key, pool in pools:
        try:
            node_cpu, node_memory = allocatable(pool.size)
        except BudgetError as exc:
            raise BudgetError(f"hardened-doks:{key}.size: {exc}") from None
        count = _minimum(pool)
        nodes += count
        cpu += count * node_cpu
        memory += count * node_memory
        described.append(f"{pool.name}: {count} × {pool.size}")
    return StackBudget(stack, config.environment, described, nodes, cpu, memory, items(config, nodes), BUDGET.get(config.environment))


# -- scheduling: the same items, placed by the real scheduler on nodes of a pool's shape ---------

#: Label on the budget's Nodes and Pods: which measurement they belong to (the Pods select their
#: own Nodes by it, so several measurements can share one API server).
SCENARIO_LABEL = "hardened-doks.io/budget-scenario"
#: A container image for the budget's pods (kwok runs no container; the image is never pulled).
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def pool_args(config: StackConfig, pool: NodePool) -> dict[str, Any]:
    """The inputs the stack gives DOKS for ``pool`` (hardened_doks.cluster.node_pool_args): the one
    source of a simulated node's pool labels and taints, so the nodes carry exactly what DOKS puts
    on the real ones."""
    return cluster.node_pool_args(pool, cluster_args(config), system=pool.name == config.system_pool.name)


def doks_node_labels(config: StackConfig, pool: NodePool, name: str, doks_version: str) -> dict[str, str]:
    """The labels DOKS and its cloud controller manager put on a worker node, then the pool's own.

    As on a DOKS node (``kubectl get nodes --show-labels``): the kubelet's well-known labels
    (hostname, os, arch), the Droplet size as instance type, the region as topology, and DOKS's
    ``doks.digitalocean.com/*`` labels (node pool name and id, node id, DOKS version), as
    DigitalOcean's documentation and public examples show them (not checked against a live cluster
    from here). Ids are derived from the names (a real cluster has UUIDs). The pool's labels are the ones the stack
    gives DOKS for it (hardened_doks.cluster.node_pool_args: the configured ones and the stack's own)."""
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": pool.size,
        "beta.kubernetes.io/instance-type": pool.size,
        "topology.kubernetes.io/region": config.region,
        "failure-domain.beta.kubernetes.io/region": config.region,
        "region": config.region,
        "doks.digitalocean.com/node-pool": pool.name,
        "doks.digitalocean.com/node-pool-id": f"{config.name}-{pool.name}",
        "doks.digitalocean.com/node-id": name,
        "doks.digitalocean.com/version": doks_version,
    }
    return {**labels, **pool_args(config, pool)["labels"]}


def node_manifest(
    config: StackConfig, pool: NodePool, index: int, *, doks_version: str, scenario: Optional[str] = None
) -> dict[str, Any]:
    """A Node shaped like one Droplet of ``pool``: labels, taints, capacity and allocatable.

    Capacity is the Droplet size (:func:`size_of`, :data:`DISKS_GB`, :data:`MAX_PODS`);
    allocatable is :func:`allocatable` (the system reservation model) and
    :func:`ephemeral_storage_gib`. Status is set at creation, as a kubelet registering does; kwok
    then keeps the node Ready."""
    vcpus, memory_gib = size_of(pool.size)
    cpu_m, memory = allocatable(pool.size)
    name = f"{pool.name}-{scenario + '-' if scenario else ''}{index:05d}"
    labels = doks_node_labels(config, pool, name, doks_version)
    if scenario:
        labels[SCENARIO_LABEL] = scenario
    disk = DISKS_GB.get(pool.size, min(DISKS_GB.values()))
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "providerID": f"digitalocean://{name}",
            # The taints the stack gives DOKS for the pool (hardened_doks.cluster.node_pool_args).
            "taints": [dict(t) for t in pool_args(config, pool)["taints"]],
        },
        "status": {
            "addresses": [{"type": "Hostname", "address": name}],
            "capacity": {"cpu": str(vcpus), "memory": f"{int(memory_gib * 1024)}Mi", "pods": str(MAX_PODS), "ephemeral-storage": f"{disk}G"},
            "allocatable": {
                "cpu": f"{int(cpu_m)}m",
                "memory": f"{int(memory)}Mi",
                "pods": str(MAX_PODS),
                "ephemeral-storage": f"{int(ephemeral_storage_gib(pool.size) * 1024)}Mi",
            },
        },
    }


def pool_nodes(config: StackConfig, *, doks_version: str) -> list[dict[str, Any]]:
    """Nodes of every pool of the config at its autoscaling minimum (what :func:`stack_budget` counts)."""
    pools = [config.system_pool, *config.workload_pools]
    return [node_manifest(config, pool, i, doks_version=doks_version) for pool in pools for i in range(_minimum(pool))]


def _pod_name(item: Item, index: int) -> str:
    return re.sub(r"[^a-z0-9-]", "-", f"{item.addon}-{item.component}-{index}".lower())


def budget_pod(item: Item, index: int, namespace: str, scenario: str, tolerations: list[dict[str, Any]], node: Optional[str] = None) -> dict[str, Any]:
    """One counted replica of ``item`` as a Pod requesting exactly its CPU and memory.

    It selects the scenario's nodes and tolerates the pool's taints (the add-ons are meant to run
    on the pool measured). A DaemonSet's pod is bound to its node by node affinity, as the
    DaemonSet controller does."""
    spec: dict[str, Any] = {
        "nodeSelector": {SCENARIO_LABEL: scenario},
        "tolerations": tolerations,
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "requests",
                "image": PAUSE_IMAGE,
                "resources": {"requests": {"cpu": f"{int(item.cpu_m)}m", "memory": f"{int(item.memory_mib)}Mi"}},
            }
        ],
    }
    if node is not None:
        term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}
    labels = {SCENARIO_LABEL: scenario, "app.kubernetes.io/name": item.addon, "app.kubernetes.io/component": item.component}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": _pod_name(item, index), "namespace": namespace, "labels": labels}, "spec": spec}


@dataclass
class SchedulingPlan:
    """What one measurement creates: the pool's nodes and one pod per counted add-on replica."""

    scenario: str
    pool: str
    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]


def scheduling_plan(config: StackConfig, pool: NodePool, *, scenario: str, namespace: str, doks_version: str) -> SchedulingPlan:
    """The add-ons of ``config`` (:func:`items`, one pod per counted replica) and ``pool`` at its
    minimum as nodes, for the scheduler to place. DaemonSets get one pod per node of the pool."""
    nodes = [node_manifest(config, pool, i, doks_version=doks_version, scenario=scenario) for i in range(_minimum(pool))]
    tolerations = [{"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]} for t in nodes[0]["spec"]["taints"]] if nodes else []
    pods: list[dict[str, Any]] = []
    for item in items(config, len(nodes)):
        if item.kind == "DaemonSet":
            pods += [budget_pod(item, i, namespace, scenario, tolerations, node["metadata"]["name"]) for i, node in enumerate(nodes)]
        else:
            pods += [budget_pod(item, i, namespace, scenario, tolerations) for i in range(item.count)]
    return SchedulingPlan(scenario, f"{pool.name}: {_minimum(pool)} × {pool.size}", nodes, pods)


@dataclass
class Placement:
    """Where the scheduler put one pod, or why it could not."""

    pod: str
    node: Optional[str]
    cpu_m: float
    memory_mib: float
    message: str = ""


@dataclass
class NodeUse:
    node: str
    allocatable_cpu_m: float
    allocatable_memory_mib: float
    cpu_m: float = 0.0
    memory_mib: float = 0.0
    pods: int = 0


@dataclass
class FitReport:
    """The scheduler's verdict on one plan: placements, use per node, and the pods that did not fit."""

    scenario: str
    pool: str
    placements: list[Placement]
    nodes: list[NodeUse] = field(default_factory=list)

    @property
    def unschedulable(self) -> list[Placement]:
        return [p for p in self.placements if p.node is None]

    @property
    def fits(self) -> bool:
        return not self.unschedulable


def _requests(pod: Mapping[str, Any]) -> tuple[float, float]:
    cpu = memory = 0.0
    for container in pod["spec"]["containers"]:
        requests = (container.get("resources") or {}).get("requests") or {}
        cpu += cpu_millicores(requests.get("cpu", "0"))
        memory += memory_mib(requests.get("memory", "0"))
    return cpu, memory


def fit_report(plan: SchedulingPlan, live_pods: Sequence[Mapping[str, Any]], live_nodes: Sequence[Mapping[str, Any]]) -> FitReport:
    """Read the scheduler's decisions back from the live pods (``spec.nodeName``, or the
    ``PodScheduled`` condition's message) and sum the requests placed on each live node."""
    uses = {
        n["metadata"]["name"]: NodeUse(
            n["metadata"]["name"], cpu_millicores(n["status"]["allocatable"]["cpu"]), memory_mib(n["status"]["allocatable"]["memory"])
        )
        for n in live_nodes
    }
    placements = []
    for pod in live_pods:
        cpu, memory = _requests(pod)
        node = pod["spec"].get("nodeName")
        conditions = {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}
        message = "" if node else conditions.get("PodScheduled", {}).get("message", "not scheduled")
        placements.append(Placement(pod["metadata"]["name"], node, cpu, memory, message))
        if node in uses:
            use = uses[node]
            use.cpu_m, use.memory_mib, use.pods = use.cpu_m + cpu, use.memory_mib + memory, use.pods + 1
    return FitReport(plan.scenario, plan.pool, sorted(placements, key=lambda p: p.pod), sorted(uses.values(), key=lambda u: u.node))


def fit_human(report: FitReport) -> str:
    verdict = "every pod scheduled" if report.fits else f"{len(report.unschedulable)} of {len(report.placements)} pods UNSCHEDULABLE"
    lines = [f"budget fit {report.scenario} ({report.pool}; placed by kube-scheduler): {verdict}"]
    for use in report.nodes:
        lines.append(
            f"  {use.node:<28}{use.pods:>3} pods  CPU {_cpu(use.cpu_m):>6} of {_cpu(use.allocatable_cpu_m):<6}"
            f" ({use.cpu_m / use.allocatable_cpu_m:.0%})  memory {_mem(use.memory_mib)} of {_mem(use.allocatable_memory_mib)}"
            f" ({use.memory_mib / use.allocatable_memory_mib:.0%})"
        )
    for p in report.unschedulable:
        lines.append(f"  unschedulable: {p.pod} (requests {_cpu(p.cpu_m)} CPU, {_mem(p.memory_mib)}): {p.message}")
    return "\n".join(lines)


def check(stack: str) -> StackBudget:
    raw, secrets = read_stack_file(stack)
    return stack_budget(stack, parse_stack_config(raw, stack=stack, secret_keys=secrets))


def _cpu(m: float) -> str:
    return f"{m:.0f}m" if m < 1000 else f"{m / 1000:.2f}"


def _mem(mib: float) -> str:
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def human(report: StackBudget) -> str:
    limit = f"budget {report.budget:.0%}" if report.budget is not None else "no budget set"
    verdict = "ok" if report.within else "OVER BUDGET"
    lines = [
        f"budget {report.stack} ({report.environment}; {', '.join(report.pools)} at the autoscaling minimum; "
        f"allocatable {_cpu(report.allocatable_cpu_m)} CPU, {_mem(report.allocatable_memory_mib)}):",
        f"  {'ADD-ON':<14}{'COMPONENT':<22}{'KIND':<11}{'PODS':>5}{'CPU':>8}{'MEMORY':>12}",
    ]
    for i in report.items:
        lines.append(f"  {i.addon:<14}{i.component:<22}{i.kind:<11}{i.count:>5}{_cpu(i.cpu_m * i.count):>8}{_mem(i.memory_mib * i.count):>12}")
    lines.append(f"  {'total requests':<52}{_cpu(report.cpu_m):>8}{_mem(report.memory_mib):>12}")
    lines.append(f"  {'share of allocatable':<52}{report.cpu_share:>8.1%}{report.memory_share:>12.1%}   {limit}: {verdict}")
    return "\n".join(lines)


def as_json(report: StackBudget) -> dict[str, Any]:
    return {
        **{k: v for k, v in asdict(report).items() if k != "items"},
        "items": [asdict(i) for i in report.items],
        "requests": {"cpu_m": report.cpu_m, "memory_mib": report.memory_mib},
        "share": {"cpu": round(report.cpu_share, 4), "memory": round(report.memory_share, 4)},
        "within_budget": report.within,
    }


def main(argv: Optional[list[str]] = None) -> int:
    args = stack_parser("budget", __doc__.splitlines()[0]).parse_args(argv)
    reports: list[StackBudget] = []
    errors: dict[str, str] = {}
    for stack in selected_stacks(args):
        try:
            reports.append(check(stack))
        except (FileNotFoundError, ConfigError, BudgetError) as exc:
            errors[stack] = str(exc)
    if errors and not args.json:
        for stack, error in errors.items():
            print(f"budget: {stack}: {error}", file=sys.stderr)
    return emit(args, envelope_of(reports, errors), lambda: "\n\n".join(human(r) for r in reports))


def envelope_of(reports: list[StackBudget], errors: dict[str, str]) -> dict[str, Any]:
    """The shared envelope (tools/cli.py): each stack's figures; as findings, a stack over its
    budget (its largest requests first) and a stack that could not be checked."""
    stacks = [
        stack_entry(r.stack, "within" if r.within else "over", EXIT_OK if r.within else EXIT_OVER, **{k: v for k, v in as_json(r).items() if k != "stack"})
        for r in reports
    ]
    stacks = sorted(stacks + [stack_entry(stack, "error", EXIT_ERROR, error=error) for stack, error in errors.items()], key=lambda s: s["stack"])
    findings: list[dict[str, Any]] = [
        {"stack": r.stack, "finding": "over_budget", "budget": r.budget, "share": as_json(r)["share"]} for r in reports if not r.within
    ]
    findings += [{"stack": stack, "finding": "error", "message": error} for stack, error in errors.items()]
    return envelope("budget", {EXIT_OK: "within", EXIT_OVER: "over", EXIT_ERROR: "error"}, stacks, findings)


if __name__ == "__main__":
    sys.exit(main())
