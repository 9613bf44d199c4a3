"""The top-level component: the whole hardened stack of one environment.

This is the one place the stack config (``StackConfig``) is mapped onto the components' own
arguments (``NetworkArgs``, ``ClusterArgs``…), each holding only what its component reads: a
component can be used from any Pulumi program without the stack config (examples/).

Also the component package's one component (provider/): no `from __future__ import annotations` here, since
Pulumi's schema analyzer reads the annotations of ``__init__``'s ``args`` and of the class (its outputs) as types.
"""

import asyncio
import gc
from typing import Any, Optional

import pulumi

from hardened_doks.addon import Addon, AddonInstall, namespace_objects, release_args
from hardened_doks.addons import addon_images, enabled, scanner_namespaces
from hardened_doks.addons.kyverno import ADDON as KYVERNO
from hardened_doks.admission import Admission, AdmissionArgs
from hardened_doks.alerts import Alerts, AlertsArgs
from hardened_doks.cluster import Cluster, ClusterArgs
from hardened_doks.config import NAMESPACE, StackConfig
from hardened_doks.firewall import WorkerFirewall, WorkerFirewallArgs
from hardened_doks.kube_access import KubernetesAccess
from hardened_doks.namespaces import SystemNamespaces, SystemNamespacesArgs, TenantNamespaces, TenantNamespacesArgs, pod_security_version
from hardened_doks.network import Network, NetworkArgs
from hardened_doks.network_policies import NetworkPolicies, NetworkPoliciesArgs
from hardened_doks.package_args import HardenedClusterArgs
from hardened_doks.package_config import stack_config_from_args
from hardened_doks.project import Project, ProjectArgs
from hardened_doks.registry_access import RegistryCredentials, RegistryCredentialsArgs, docr_registry
from hardened_doks.rbac import Rbac, RbacArgs
from hardened_doks.scanners import Scanners, ScannersArgs


def network_args(config: StackConfig) -> NetworkArgs:
    return NetworkArgs(
        cluster_name=config.cluster_name, region=config.region, ip_range=config.vpc_ip_range, environment=config.environment, protect=config.protect
    )


def cluster_args(config: StackConfig) -> ClusterArgs:
    return ClusterArgs(
        cluster_name=config.cluster_name,
        region=config.region,
        kubernetes_version_prefix=config.kubernetes_version_prefix,
        cluster_subnet=config.cluster_subnet,
        service_subnet=config.service_subnet,
        system_pool=config.system_pool,
        workload_pools=tuple(config.workload_pools),
        isolate_system_pool=config.system_pool_isolated,
        ha_control_plane=config.ha_control_plane,
        auto_upgrade=config.auto_upgrade,
        kubernetes_minor_upgrade=config.kubernetes_minor_upgrade,
        maintenance_window=config.maintenance_window,
        surge_upgrade=config.surge_upgrade,
        api_allowlist=tuple(config.api_allowlist),
        registry_integration=config.registry_integration,
        tags=tuple(config.base_tags),
        protect=config.protect,
    )


def worker_firewall_args(config: StackConfig) -> WorkerFirewallArgs:
    settings = config.worker_firewall
    return WorkerFirewallArgs(
        cluster_name=config.cluster_name,
        vpc_ip_range=config.vpc_ip_range,
        cluster_subnet=config.cluster_subnet,
        service_subnet=config.service_subnet,
        load_balancer_uids=tuple(settings.load_balancer_uids),
        load_balancer_ports=tuple(settings.load_balancer_ports),
        dns_resolvers=tuple(settings.dns_resolvers),
    )


def project_args(config: StackConfig) -> ProjectArgs:
    project = config.project
    return ProjectArgs(name=project.name or config.cluster_name, environment=config.environment, purpose=project.purpose, description=project.description)


def tenant_namespaces_args(config: StackConfig) -> TenantNamespacesArgs:
    return TenantNamespacesArgs(
        namespaces={namespace: team.name for team in config.teams for namespace in team.namespaces},
        pod_security=config.pod_security,
        pod_security_version=pod_security_version(config),
        quota=config.namespace_quota,
        container_defaults=config.container_defaults,
        environment=config.environment,
        skip_await=config.skip_await,
    )


def system_namespaces_args(config: StackConfig) -> SystemNamespacesArgs:
    return SystemNamespacesArgs(pod_security_version=pod_security_version(config), skip_await=config.skip_await)


def network_policies_args(config: StackConfig) -> NetworkPoliciesArgs:
    return NetworkPoliciesArgs(settings=config.network_policies, skip_await=config.skip_await)


def rbac_args(config: StackConfig) -> RbacArgs:
    return RbacArgs(teams=tuple(config.teams), auditors=config.rbac.auditors, human_access=config.rbac.human_access, skip_await=config.skip_await)


def addon_install(config: StackConfig, addon: Addon) -> AddonInstall:
    """What an add-on's descriptor builds for this config: its namespace, objects and Helm Release."""
    return AddonInstall(
        key=addon.key,
        namespace=addon.namespace,
        namespace_objects=tuple(namespace_objects(config, addon)),
        network_policies=tuple(addon.network_policies(config)),
        extra_objects=tuple(addon.extra_objects(config)),
        release=release_args(config, addon) if addon.chart is not None else None,
    )


def admission_args(config: StackConfig) -> AdmissionArgs:
    return AdmissionArgs(
        settings=config.admission,
        engine=addon_install(config, KYVERNO),
        addon_images=addon_images(config),
        scanner_namespaces=scanner_namespaces(),
        environment=config.environment,
        skip_await=config.skip_await,
    )


def scanners_args(config: StackConfig) -> ScannersArgs:
    return ScannersArgs(addons=tuple(addon_install(config, addon) for addon in enabled(config, "scanners")), skip_await=config.skip_await)


def alerts_args(config: StackConfig) -> AlertsArgs:
    return AlertsArgs(
        addons=tuple(addon_install(config, addon) for addon in enabled(config, "alerts")),
        slack_webhook_set=config.slack_webhook_url is not None,
        skip_await=config.skip_await,
    )


class HardenedCluster(pulumi.ComponentResource):
    """A hardened DigitalOcean Kubernetes cluster: VPC, DOKS cluster, worker firewall, project and the in-cluster
    hardening layer (Pod Security, default-deny network policies, RBAC, admission policies, scanners, alerts).

    In existing-cluster mode (existing_cluster_kubeconfig set) only the in-cluster layer is built, on that cluster.
    """

    # The outputs (the component package's schema reads these annotations; children are not annotated here).
    environment: pulumi.Output[str]
    """Environment profile the settings were resolved with: dev, staging or prod."""
    cluster_name: pulumi.Output[str]
    """Name of the cluster (the existing cluster's name in existing-cluster mode)."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig of the cluster (secret). For a created cluster it holds no credential: its user runs the
    hardened-doks-kube-credentials exec plugin, which fetches a short-lived token with HARDENED_DOKS_CLUSTER_ACCESS_TOKEN."""
    cluster_id: Optional[pulumi.Output[str]]
    """DigitalOcean id of the created cluster (unset in existing-cluster mode)."""
    cluster_endpoint: Optional[pulumi.Output[str]]
    """API server URL of the created cluster (unset in existing-cluster mode)."""
    kubernetes_version: Optional[pulumi.Output[str]]
    """Kubernetes version (DOKS slug) of the created cluster (unset in existing-cluster mode)."""
    vpc_id: Optional[pulumi.Output[str]]
    """Id of the environment's VPC (unset in existing-cluster mode)."""
    worker_firewall_id: Optional[pulumi.Output[str]]
    """Id of the worker Droplets' cloud firewall (unset in existing-cluster mode)."""
    registry_credentials_expire_at: Optional[pulumi.Output[str]]
    """When the read-only registry credential of the signature checks expires (only with a DOCR registry)."""

    def __init__(self, name: str, args: HardenedClusterArgs, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        """``args``: the settings (HardenedClusterArgs; the stack file's keys), or a StackConfig as __main__.py loads
        one. They are validated like a stack file before anything is registered (components/package_config.py)."""
        config = stack_config_from_args(args, stack=pulumi.get_stack())
        super().__init__(f"{NAMESPACE}:index:HardenedCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.config: StackConfig = config
        self.network: Optional[Network] = None
        self.cluster: Optional[Cluster] = None
        self.firewall: Optional[WorkerFirewall] = None
        self.project: Optional[Project] = None
        self.registry: Optional[RegistryCredentials] = None
        if config.existing_cluster:
            assert config.existing_cluster_name is not None
            self.access = KubernetesAccess.for_existing_cluster(
                f"{name}-k8s",
                kubeconfig=config.secret_input("existing_cluster_kubeconfig"),
                cluster_name=config.existing_cluster_name,
                opts=child,
                client=config.kube_client_settings,
            )
        else:
            self.network = Network(f"{name}-network", network_args(config), opts=child)
            self.cluster = Cluster(f"{name}-doks", cluster_args(config), vpc_id=self.network.vpc_id, opts=child)
            self.firewall = WorkerFirewall(f"{name}-workers", worker_firewall_args(config), cluster_id=self.cluster.cluster.id, opts=child)
            self.project = Project(f"{name}-project", project_args(config), resource_urns=[self.cluster.cluster.cluster_urn], opts=child)
            self.access = KubernetesAccess.for_doks(f"{name}-k8s", self.cluster.cluster, opts=child, client=config.kube_client_settings)
            registry = docr_registry(config)
            if registry is not None:
                # Kyverno's read-only, expiring credential for signature checks (issue 17.2).
                self.registry = RegistryCredentials(
                    f"{name}-registry", RegistryCredentialsArgs(registry=registry, rotation_days=config.admission.registry_credentials_rotation_days), opts=child
                )

        # The in-cluster layers (namespaces, network policies, RBAC, admission, scanners, alerts)
        # plug in here, each a component taking (its args, provider).
        provider = self.access.provider
        # Admission first: tenants and the scanners layer wait until its policies are in force
        # (and Kyverno serves the signature policy), so no pod is ever admitted without them
        # (issue 17.10). Network policies and RBAC follow the tenant namespaces.
        self.admission = Admission(
            f"{name}-admission", admission_args(config), provider, opts=child, registry_credentials=self.registry.docker_config if self.registry else None
        )
        after_admission = pulumi.ResourceOptions(parent=self, depends_on=[self.admission])
        self.tenants = TenantNamespaces(f"{name}-tenants", tenant_namespaces_args(config), provider, opts=after_admission)
        self.system_namespaces = SystemNamespaces(f"{name}-system-namespaces", system_namespaces_args(config), provider, opts=child)
        namespaces = {ns: managed.namespace for ns, managed in self.tenants.namespaces.items()}
        self.network_policies = NetworkPolicies(f"{name}-network-policies", network_policies_args(config), provider, namespaces, opts=child)
        self.rbac = Rbac(f"{name}-rbac", rbac_args(config), provider, namespaces, opts=child)
        self.scanners = Scanners(f"{name}-scanners", scanners_args(config), provider, opts=after_admission)
        self.alerts = Alerts(f"{name}-alerts", alerts_args(config), provider, opts=after_admission)
        outputs = self.outputs()
        for key in type(self).__annotations__:
            # Every output attribute is set (an unset one None): the package provider reads them by name.
            setattr(self, key, pulumi.Output.from_input(outputs[key]) if key in outputs else None)
        self.register_outputs(outputs)

    def outputs(self) -> dict[str, Any]:
        """The stack outputs. The kubeconfig is a secret output."""
        outputs: dict[str, Any] = {
            "environment": self.config.environment,
            "cluster_name": self.config.name,
            "kubeconfig": self.access.kubeconfig,
        }
        if self.cluster is not None and self.network is not None and self.firewall is not None:
            outputs.update(
                cluster_id=self.cluster.cluster.id,
                cluster_endpoint=self.cluster.cluster.endpoint,
                kubernetes_version=self.cluster.cluster.version,
                vpc_id=self.network.vpc_id,
                worker_firewall_id=self.firewall.firewall.id,
            )
        if self.registry is not None:
            outputs["registry_credentials_expire_at"] = self.registry.expires_at
        return outputs


#: How many allocations the program makes between collections of Python's youngest generation
#: (CPython's default: 700). See :func:`tune_garbage_collection`.
GC_YOUNG_THRESHOLD = 10_000


def tune_garbage_collection() -> None:
    """Call first in a program: Python's garbage collector then collects its youngest generation
    every 10,000 allocations instead of every 700, and no smaller setting is kept.

    The Pulumi SDK makes many short-lived objects per resource (Outputs, futures, their callbacks).
    Collected every 700 allocations, many are still alive and move on to the oldest generation,
    so full collections, each over every live object, come more often as the stack grows: 16 at
    500 tenant namespaces, when the collector took half of the program's CPU, more per namespace
    the larger the stack (docs/performance.md, "The program's garbage collection"). Given 10,000
    allocations, most are gone by their first collection: 2 full collections at 500 namespaces, a
    quarter less CPU, peak memory within 5 %. The setting is the process's: a program that sets its
    own larger one keeps it.
    """
    young, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), middle, oldest)


async def _one_turn() -> None:
    await asyncio.sleep(0)


def wait_for_registrations() -> None:
    """Call last in a program: the engine's run then waits for the program's resources one
    registration at a time, in linear time.

    Left alone, the Python SDK (3.260 to 3.272 at least) waits at the end of the program in a loop
    over every Output still pending (``pulumi/runtime/stack.py`` ``wait_for_rpcs``:
    ``asyncio.wait(pending, FIRST_COMPLETED)`` again after each completion). Each turn hooks a
    callback on every pending Output, so with R resources (about seven Outputs each) the wait is
    quadratic: two thirds of the program's CPU at 2,611 resources (docs/performance.md, "The program
    under the real engine"). Its first loop, over the registrations it has started, is linear, but
    when the module ends none has started yet. ``pulumi.run`` (the SDK's public async entrypoint,
    run after the module) takes one turn of the event loop here, in which every queued
    registration starts; the SDK then awaits them in turn, and few Outputs remain for the loop.

    Nothing else changes: what is registered, in which order, and the stack outputs. Under the
    SDK's mocks (the unit tier's harness) the root stack is finished before the program runs and
    refuses an entrypoint; there the registrations complete at once and there is nothing to wait for.
    """
    try:
        pulumi.run(_one_turn)
    except pulumi.RunError:
        pass
