"""The DOKS cluster: version from a minor prefix, HA, upgrades, control-plane firewall, node pools."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_digitalocean as digitalocean

from hardened_doks.config import NAMESPACE, POOL_LABEL, SYSTEM_POOL_TAINT, ConfigError, MaintenanceWindow, NodePool

#: Lifetime of the admin kubeconfig DigitalOcean returns on the cluster resource (and so
#: keeps in state, encrypted). Nothing in the stack uses it: the Kubernetes provider
#: fetches short-lived credentials itself (components/kube_access.py). One hour instead
#: of the default seven days limits what a leaked state file is worth
#: (CIS Kubernetes Benchmark 5.1: minimise access to credentials).
STATE_KUBECONFIG_TTL_SECONDS = 3600


@dataclass(frozen=True)
class ClusterArgs:
    """What the Cluster component reads."""

    cluster_name: str
    #: The DigitalOcean region slug.
    region: str
    #: The Kubernetes minor (``1.34``): the cluster runs its latest DOKS release.
    kubernetes_version_prefix: str
    #: The pods' and the Services' ranges (CIDR).
    cluster_subnet: str
    service_subnet: str
    #: The cluster's default pool (Kyverno and the scanners run there), and the tenants' pools.
    system_pool: NodePool
    workload_pools: Sequence[NodePool] = ()
    #: Taint the system pool so only the add-ons run there (needs a workload pool).
    isolate_system_pool: bool = False
    ha_control_plane: bool = False
    auto_upgrade: bool = True
    #: Let this run change the Kubernetes minor (``version`` is otherwise DOKS's under auto-upgrade).
    kubernetes_minor_upgrade: bool = False
    maintenance_window: MaintenanceWindow = MaintenanceWindow()
    surge_upgrade: bool = True
    #: The addresses that may reach the Kubernetes API (CIDR).
    api_allowlist: Sequence[str] = ()
    registry_integration: bool = False
    #: DigitalOcean tags on the cluster and every pool.
    tags: Sequence[str] = ()
    #: Refuse deletion of the cluster.
    protect: bool = False


def node_pool_args(pool: NodePool, args: ClusterArgs, system: bool = False) -> dict[str, Any]:
    """Inputs of one node pool (the cluster's default pool, ``system``, or a separate KubernetesNodePool)."""
    taints = [t.model_dump() for t in pool.taints]
    if system and args.isolate_system_pool and SYSTEM_POOL_TAINT not in taints:
        # Tenant pods cannot schedule beside Kyverno and the scanners: they do not tolerate this
        # taint, the add-ons do (hardened_doks.kube.addon_scheduling). NSA/CISA: isolate critical
        # components. DOKS's own workloads that do not tolerate it (CoreDNS…) run on the workload
        # pools, which is why isolation needs one (StackConfig.tenant_pools). NoSchedule evicts
        # nothing already running.
        taints.append(dict(SYSTEM_POOL_TAINT))
    inputs: dict[str, Any] = {
        "name": pool.name,
        "size": pool.size,
        "auto_scale": pool.auto_scale,
        "labels": {POOL_LABEL: pool.name, **pool.labels},
        "taints": taints,
        "tags": [*args.tags, f"pool:{pool.name}", *pool.tags],
    }
    if pool.auto_scale:
        # Bounds only: the autoscaler owns the count (see node_count_ignored).
        inputs.update(min_nodes=pool.min_nodes, max_nodes=pool.max_nodes)
    else:
        inputs["node_count"] = pool.node_count
    return inputs


def cluster_args(args: ClusterArgs, version: pulumi.Input[str], vpc_id: pulumi.Input[str]) -> dict[str, Any]:
    """Inputs of the DOKS cluster, each security setting with the control it serves."""
    return {
        "name": args.cluster_name,
        "region": args.region,
        "version": version,
        "vpc_uuid": vpc_id,
        "cluster_subnet": args.cluster_subnet,
        "service_subnet": args.service_subnet,
        # Control-plane availability in staging and prod (DigitalOcean HA control plane, 99.95% SLA).
        "ha": args.ha_control_plane,
        # "Regular upgrades" (DigitalOcean supply-chain checklist; CIS Kubernetes Benchmark:
        # run a supported, patched version): DOKS applies patch releases in the window.
        "auto_upgrade": args.auto_upgrade,
        "maintenance_policy": {"day": args.maintenance_window.day, "start_time": args.maintenance_window.start_time},
        # Surge upgrades keep capacity during node replacement, so patching is never deferred.
        "surge_upgrade": args.surge_upgrade,
        # API reachable only from allowed addresses (DigitalOcean checklist; NSA/CISA
        # hardening guide "limit access to the control plane"; CIS 5.4 network boundaries).
        "control_plane_firewall": {"enabled": True, "allowed_addresses": list(args.api_allowlist)},
        "registry_integration": args.registry_integration,
        "kubeconfig_expire_seconds": STATE_KUBECONFIG_TTL_SECONDS,
        "tags": list(args.tags),
        "node_pool": node_pool_args(args.system_pool, args, system=True),
    }


def cluster_ignore_changes(args: ClusterArgs) -> list[str]:
    """Fields DOKS changes by itself, so that a refresh after it did comes back clean.

    - ``version`` under auto-upgrade: DOKS moves the patch release in the maintenance
      window. ``kubernetes_minor_upgrade`` lifts this for the run that changes the minor.
    - the default pool's ``nodeCount`` under autoscaling: the cluster autoscaler owns it.
    """
    ignored = []
    if args.auto_upgrade and not args.kubernetes_minor_upgrade:
        ignored.append("version")
    if args.system_pool.auto_scale:
        ignored.append("nodePool.nodeCount")
    return ignored


def node_count_ignored(pool: NodePool) -> list[str]:
    """A separate pool's count is the autoscaler's when autoscaling is on."""
    return ["nodeCount"] if pool.auto_scale else []


def latest_version(prefix: str, available: Optional[str]) -> str:
    """The newest DOKS release of a minor, or a config error naming the key."""
    if not available:
        raise ConfigError(
            [f"{NAMESPACE}:kubernetes_version_prefix: DigitalOcean offers no {prefix}.x release; "
             "run `make preflight` to list the supported versions"]
        )
    return available


class Cluster(pulumi.ComponentResource):
    """The DOKS cluster and its node pools."""

    cluster: digitalocean.KubernetesCluster
    node_pools: list[digitalocean.KubernetesNodePool]

    def __init__(
        self,
        name: str,
        args: ClusterArgs,
        vpc_id: pulumi.Input[str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("hardened-doks:digitalocean:Cluster", name, None, opts)
        prefix = args.kubernetes_version_prefix
        # The latest patch of the configured minor, resolved on every run: together with
        # ignore_changes on version this keeps DOKS auto-upgrades from showing as drift.
        versions = digitalocean.get_kubernetes_versions_output(
            version_prefix=f"{prefix}.", opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.version = versions.latest_version.apply(lambda v: latest_version(prefix, v))
        self.cluster = digitalocean.KubernetesCluster(
            f"{name}-cluster",
            **cluster_args(args, self.version, vpc_id),
            opts=pulumi.ResourceOptions(
                parent=self,
                # Prod: refuse deletion of the cluster (and with it every workload).
                protect=args.protect,
                ignore_changes=cluster_ignore_changes(args),
            ),
        )
        self.node_pools = [
            digitalocean.KubernetesNodePool(
                f"{name}-pool-{pool.name}",
                cluster_id=self.cluster.id,
                **node_pool_args(pool, args),
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=node_count_ignored(pool)),
            )
            for pool in args.workload_pools
        ]
        self.register_outputs(
            {
                "cluster_id": self.cluster.id,
                "endpoint": self.cluster.endpoint,
                "version": self.cluster.version,
                "cluster_urn": self.cluster.cluster_urn,
            }
        )
