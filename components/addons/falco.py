"""Falco: runtime detection on every node (opt-in), the one add-on below Pod Security restricted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hardened_doks.addon import CONTAINER_SECURITY, Addon, Workload, from_namespace, tcp, with_digests
from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.config import NamespaceQuota, StackConfig
from hardened_doks.kube import addon_scheduling, format_quantity, quantity_value, resources
from hardened_doks.namespaces import network_policy
from hardened_doks.network_policies import public_https_egress

FALCO_NAMESPACE = "falco"
#: The Falco Helm chart, pinned (docs/scanners.md, "Where the charts come from").
CHART = ChartPin("falco", "9.1.0", "0.44.1", "https://falcosecurity.github.io/charts", digest="2a767d6aeccf2392c5e263ae1f5e0950520affe3a9908ff7986ac213649c45b4")
#: The rules falcoctl installs into Falco at start: an exact release of falcosecurity/rules (the
#: chart's default, ``falco-rules:5``, follows every 5.x release: rules would change without a change
#: here). 5.1.0 is the release public deployments of chart 9.1.0 (Falco 0.44.1) pin; the machines that
#: test this project cannot reach ghcr.io to list its tags.
FALCO_RULES = "ghcr.io/falcosecurity/rules/falco-rules:5.1.0"
#: Every image and OCI artifact the pinned chart runs with the stack's values, and the value naming it.
CHART_IMAGES: tuple[PinnedImage, ...] = (
    PinnedImage("docker.io/falcosecurity/falco:0.44.1", ("image", "tag")),
    PinnedImage("docker.io/falcosecurity/falcoctl:0.13.0", ("falcoctl", "image", "tag")),
    PinnedImage(FALCO_RULES, ("falcoctl", "config", "artifact", "install", "refs", 0), "reference", artifact=True),
    PinnedImage("ghcr.io/falcosecurity/plugins/plugin/container:0.7.1", ("collectors", "containerEngine", "pluginRef"), "reference", artifact=True),
)  # fmt: skip
#: falcosidekick's namespace and HTTP input, where Falco posts its events (its descriptor,
#: components/addons/falcosidekick.py, takes them from here).
FALCOSIDEKICK_NAMESPACE = "falcosidekick"
FALCOSIDEKICK_PORT = 2801
#: Falco rule priorities per severity threshold (Falco and falcosidekick use these names).
FALCO_PRIORITIES: dict[str, str] = {"LOW": "notice", "MEDIUM": "warning", "HIGH": "error", "CRITICAL": "critical"}
#: Why Falco's namespace enforces privileged (the policy pack requires the reason on the Namespace
#: object as the break-glass annotation; components/addon.py puts it there).
EXEMPTION = (
    "Falco's node agent (DaemonSet) reads every system call through its modern eBPF probe: it needs the "
    "capabilities BPF, PERFMON, SYS_RESOURCE and SYS_PTRACE and hostPath mounts of the node (/proc, /etc, "
    "/sys/kernel, the container runtime socket…); baseline forbids added capabilities and hostPath. Opt-in "
    "(scanners.falco.enabled); nothing else runs in this namespace (falcosidekick has its own, restricted)."
)


def falco_values(config: StackConfig) -> dict[str, Any]:
    """The falco chart values: modern eBPF with capabilities instead of a privileged container."""
    priority = FALCO_PRIORITIES[config.scanners.severity]
    sidekick = config.slack_webhook_url is not None
    # The node agent runs on every node (a DaemonSet): it tolerates the isolated system pool's taint
    # (next to the chart's control-plane tolerations) and selects no pool.
    _, tolerations = addon_scheduling(config)
    values: dict[str, Any] = {
        "driver": {
            "kind": "modern_ebpf",
            # Least privilege (NSA/CISA): BPF, PERFMON, SYS_RESOURCE, SYS_PTRACE instead of
            # privileged: true (see EXEMPTION).
            "modernEbpf": {"leastPrivileged": True},
        },
        # No Kubernetes metadata collector (another Deployment and API access); container
        # metadata comes from the runtime socket.
        "collectors": {"kubernetes": {"enabled": False}},
        # falcosidekick runs as its own release in a restricted namespace, not inside this one.
        "falcosidekick": {"enabled": False},
        "falcoctl": {
            "artifact": {
                "install": {
                    "enabled": True,
                    # The init container only downloads artifacts into emptyDirs: no capability,
                    # no privilege escalation, RuntimeDefault seccomp (NSA/CISA least privilege).
                    "securityContext": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": False, "runAsNonRoot": False,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    # Requests and limits (NSA/CISA: resource limits; CIS 5.7).
                    "resources": resources("10m", "32Mi", "200m", "128Mi"),
                },
                # Rules change only with a change here (change control): no live follow.
                "follow": {"enabled": False},
            },
            "config": {
                "artifact": {
                    "install": {
                        # An exact rules release instead of the chart's floating `falco-rules:5`
                        # (docs/scanners.md, the Falco entry; digest: addon_image_digests), and exactly
                        # the listed artifacts: no dependency resolution to newer plugin versions.
                        "refs": [FALCO_RULES],
                        "resolveDeps": False,
                    }
                }
            },
        },  # fmt: skip
        "falco": {
            "priority": priority,
            "json_output": True,
            "json_include_output_property": True,
            "http_output": {
                "enabled": sidekick,
                "url": f"http://falcosidekick.{FALCOSIDEKICK_NAMESPACE}.svc.cluster.local:{FALCOSIDEKICK_PORT}/" if sidekick else "",
            },
        },
        "metrics": {"enabled": False},
        # Requests and limits (NSA/CISA: resource limits), per node.
        "resources": FALCO_RESOURCES,
        "tolerations": [
            {"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"},
            {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"},
            *tolerations,
        ],
    }
    return with_digests(config, CHART_IMAGES, values)


#: Falco's requests and limits per pod (one pod per node).
FALCO_RESOURCES = resources("100m", "256Mi", "1", "1Gi")
#: The quota fields that bound compute, → (the requests/limits key, the resource).
_COMPUTE_QUOTA = {
    "requests_cpu": ("requests", "cpu"),
    "requests_memory": ("requests", "memory"),
    "limits_cpu": ("limits", "cpu"),
    "limits_memory": ("limits", "memory"),
}


def node_agent_quota(config: StackConfig, per_pod: Mapping[str, Mapping[str, str]]) -> NamespaceQuota:
    """The quota of a namespace running one pod per node: the tenants' quota, with its compute and
    pod counts raised to what that pod takes on the most nodes the pools can reach.

    The tenants' quota (4 CPUs of requests, 8 of limits…) would stop a DaemonSet's pods at 8 nodes
    while prod's pools autoscale to 15: nodes without Falco are nodes nobody watches. The quota still
    bounds the namespace (NSA/CISA: resource policies), to exactly what the agent needs."""
    nodes = config.max_nodes
    quota = config.namespace_quota
    raised: dict[str, Any] = {"pods": max(quota.pods, nodes)}
    for field, (kind, resource) in _COMPUTE_QUOTA.items():
        needed = quantity_value(per_pod[kind][resource]) * nodes
        if needed > quantity_value(getattr(quota, field)):
            raised[field] = format_quantity(needed, resource)
    return quota.model_copy(update=raised)


def network_policies(config: StackConfig) -> list[dict[str, Any]]:
    """falcoctl's downloads, and falcosidekick's input when it is installed; nothing more."""
    policies = [
        # falcoctl's init container installs the rules and plugin artifacts from ghcr.io.
        public_https_egress("falco-https-egress", FALCO_NAMESPACE, {}),
    ]
    if config.slack_webhook_url is not None:
        policies.append(
            network_policy(
                "falco-to-falcosidekick",
                FALCO_NAMESPACE,
                {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [from_namespace(FALCOSIDEKICK_NAMESPACE)], "ports": [tcp(FALCOSIDEKICK_PORT)]}]},
            )
        )
    return policies


def workloads(config: StackConfig, values: Mapping[str, Any], nodes: int) -> list[Workload]:
    """One node agent per node."""
    return [Workload("falco", "DaemonSet", nodes, values["resources"]["requests"])]


ADDON = Addon(
    key="falco",
    namespace=FALCO_NAMESPACE,
    layer="scanners",
    order=45,
    enabled=lambda config: config.scanners.falco.enabled,
    images=lambda config: ("falcosecurity/*", "docker.io/falcosecurity/*"),
    network_policies=network_policies,
    workloads=workloads,
    release="falco",
    chart=CHART,
    pinned_images=CHART_IMAGES,
    chart_path_key="scanners.falco.chart_path",
    values=falco_values,
    pod_security="privileged",
    exemption=EXEMPTION,
    # One pod per node: the tenants' quota raised to what the agent takes on the most nodes.
    quota=lambda config: node_agent_quota(config, FALCO_RESOURCES),
)
