"""The DigitalOcean layer as registered by the real program under mocks, per stack."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from hardened_doks.config import NAMESPACE, ConfigError
from hardened_doks.kube_access import CREDENTIALS_COMMAND
from hardened_doks.tools.offline import OfflineMocks, ProgramRun, RecordingMonitor, fake_id, run_stack
from tests.unit.kubeconfig import kubeconfig as make_kubeconfig

CLUSTER = "digitalocean:index/kubernetesCluster:KubernetesCluster"
VPC = "digitalocean:index/vpc:Vpc"
FIREWALL = "digitalocean:index/firewall:Firewall"
PROJECT = "digitalocean:index/project:Project"
NODE_POOL = "digitalocean:index/kubernetesNodePool:KubernetesNodePool"
K8S_PROVIDER = "pulumi:providers:kubernetes"

EXPECTED = {
    "dev": {"ha": False, "surge": False, "protect": False, "day": "any", "region": "nyc3", "vpc": "10.110.0.0/20"},
    "staging": {"ha": True, "surge": True, "protect": False, "day": "tuesday", "region": "fra1", "vpc": "10.120.0.0/20"},
    "prod": {"ha": True, "surge": True, "protect": True, "day": "sunday", "region": "fra1", "vpc": "10.130.0.0/20"},
}


def test_version_is_the_latest_patch_of_the_prefix(stack_run: ProgramRun) -> None:
    cluster = stack_run.one(CLUSTER)
    assert cluster.inputs["version"] == "1.34.4-do.0"  # newest 1.34.x in OfflineMocks' table
    assert "version" in cluster.ignore_changes, "auto-upgrades must not show as drift"


def test_a_new_minor_lifts_the_version_ignore_for_one_run() -> None:
    run = run_stack("dev", {"kubernetes_version_prefix": "1.35", "kubernetes_minor_upgrade": True})
    cluster = run.one(CLUSTER)
    assert cluster.inputs["version"] == "1.35.3-do.0"
    assert "version" not in cluster.ignore_changes


def test_an_unknown_minor_is_a_config_error_naming_the_key() -> None:
    from hardened_doks.config import ConfigError

    with pytest.raises(ConfigError, match=f"{NAMESPACE}:kubernetes_version_prefix: DigitalOcean offers no 1.29.x"):
        run_stack("dev", {"kubernetes_version_prefix": "1.29"})


def test_cluster_profile_settings(stack_run: ProgramRun) -> None:
    expected = EXPECTED[stack_run.stack]
    cluster = stack_run.one(CLUSTER).inputs
    assert cluster["ha"] is expected["ha"]
    assert cluster["autoUpgrade"] is True
    assert cluster["surgeUpgrade"] is expected["surge"]
    assert cluster["maintenancePolicy"]["day"] == expected["day"]
    assert cluster["region"] == expected["region"]
    assert cluster["kubeconfigExpireSeconds"] == 3600


def test_control_plane_firewall_is_enabled_with_the_allowlist(stack_run: ProgramRun) -> None:
    firewall = stack_run.one(CLUSTER).inputs["controlPlaneFirewall"]
    assert firewall["enabled"] is True
    from hardened_doks.tools.offline import read_stack_file

    raw, _ = read_stack_file(stack_run.stack)
    import json

    configured = json.loads(raw.get(f"{NAMESPACE}:api_allowlist", '["0.0.0.0/0"]'))
    assert firewall["allowedAddresses"] == configured
    if stack_run.stack == "prod":
        assert all(ipaddress.ip_network(c).prefixlen >= 16 for c in firewall["allowedAddresses"])


def test_cluster_sits_in_the_dedicated_vpc(stack_run: ProgramRun) -> None:
    vpc = stack_run.one(VPC)
    cluster = stack_run.one(CLUSTER)
    assert vpc.inputs["ipRange"] == EXPECTED[stack_run.stack]["vpc"]
    assert vpc.inputs["region"] == cluster.inputs["region"]
    assert cluster.inputs["vpcUuid"] == fake_id(vpc.name)  # the dedicated VPC's id, not another one
    subnets = [ipaddress.ip_network(cluster.inputs[k]) for k in ("clusterSubnet", "serviceSubnet")]
    assert not any(s.overlaps(ipaddress.ip_network(vpc.inputs["ipRange"])) for s in subnets)


def test_protect_on_cluster_and_vpc_only_in_prod(stack_run: ProgramRun) -> None:
    protect = EXPECTED[stack_run.stack]["protect"]
    assert stack_run.one(CLUSTER).protect is protect
    assert stack_run.one(VPC).protect is protect


def test_tags_mark_ownership_and_environment(stack_run: ProgramRun) -> None:
    cluster = stack_run.one(CLUSTER).inputs
    assert {NAMESPACE, f"env:{stack_run.stack}"} <= set(cluster["tags"])
    assert {NAMESPACE, f"env:{stack_run.stack}", "pool:system"} <= set(cluster["nodePool"]["tags"])


def test_autoscaled_pools_leave_node_count_to_the_autoscaler(stack_run: ProgramRun) -> None:
    cluster = stack_run.one(CLUSTER)
    assert "nodeCount" not in cluster.inputs["nodePool"]
    assert cluster.inputs["nodePool"]["minNodes"] >= 1
    assert "nodePool.nodeCount" in cluster.ignore_changes
    for pool in stack_run.of_type(NODE_POOL):
        assert pool.ignore_changes == ["nodeCount"]


def test_fixed_size_pool_sets_its_count_and_ignores_nothing() -> None:
    run = run_stack("dev", {"workload_pools": [{"name": "batch", "size": "s-2vcpu-4gb", "auto_scale": False, "node_count": 2, "taints": [{"key": "batch", "value": "true", "effect": "NoSchedule"}]}]})
    pool = run.one(NODE_POOL)
    assert pool.inputs["nodeCount"] == 2 and pool.ignore_changes == []
    assert pool.inputs["taints"] == [{"key": "batch", "value": "true", "effect": "NoSchedule"}]
    assert pool.inputs["clusterId"] == run.one(CLUSTER).inputs.get("id", pool.inputs["clusterId"])


def test_prod_has_a_separate_workload_pool(run_of) -> None:
    pools = run_of("prod").of_type(NODE_POOL)
    assert [p.inputs["name"] for p in pools] == ["apps"]
    assert pools[0].inputs["labels"]["workload"] == "apps"


def test_worker_firewall_is_tag_scoped_and_opens_nothing_to_the_internet(stack_run: ProgramRun) -> None:
    firewall = stack_run.one(FIREWALL).inputs
    cluster_id = stack_run.outputs["cluster_id"]
    assert firewall["tags"] == [f"k8s:{cluster_id}"]
    vpc = ipaddress.ip_network(EXPECTED[stack_run.stack]["vpc"])
    for rule in firewall["inboundRules"]:
        for source in rule.get("sourceAddresses", []):
            net = ipaddress.ip_network(source)
            assert net.is_private, f"inbound from a public range: {rule}"
        assert "sourceAddresses" in rule or "sourceLoadBalancerUids" in rule
    assert any(ipaddress.ip_network(s) == vpc for r in firewall["inboundRules"] for s in r.get("sourceAddresses", []))


def _opens(rule: dict, port: int) -> bool:
    port_range = rule.get("portRange")
    if rule["protocol"] == "icmp" or not port_range:
        return False
    low, _, high = port_range.partition("-")
    return int(low) <= port <= int(high or low)


@pytest.mark.parametrize("port", [22, 10250, 30000, 31000, 32767, 2379])
def test_no_public_ssh_kubelet_nodeport_or_etcd(stack_run: ProgramRun, port: int) -> None:
    for rule in stack_run.one(FIREWALL).inputs["inboundRules"]:
        if _opens(rule, port):
            assert all(ipaddress.ip_network(s).is_private for s in rule.get("sourceAddresses", []))


def test_outbound_rules_are_explicit(stack_run: ProgramRun) -> None:
    rules = stack_run.one(FIREWALL).inputs["outboundRules"]
    public = [r for r in rules if "0.0.0.0/0" in r.get("destinationAddresses", [])]
    assert {(r["protocol"], r["portRange"]) for r in public} == {("tcp", "443"), ("udp", "123")}
    assert not any(r.get("portRange") == "1-65535" for r in public), "no 'everything to anywhere' rule"


def test_dns_goes_only_to_the_resolvers(stack_run: ProgramRun) -> None:
    # Issue 17.12: port 53 to anywhere is an exfiltration channel to any host listening there.
    rules = stack_run.one(FIREWALL).inputs["outboundRules"]
    dns = [r for r in rules if r.get("portRange") == "53"]
    assert sorted((r["protocol"], tuple(r["destinationAddresses"])) for r in dns) == [
        ("tcp", ("67.207.67.2/32", "67.207.67.3/32")),
        ("udp", ("67.207.67.2/32", "67.207.67.3/32")),
    ]
    internet = [r for r in rules if any(ipaddress.ip_network(a).prefixlen == 0 for a in r.get("destinationAddresses", []))]
    assert not [r for r in internet if _opens(r, 53)], "no rule opens 53 to the internet, not even inside a range"


def test_dns_resolvers_are_configurable_or_none_beyond_the_vpc() -> None:
    run = run_stack("dev", {"worker_firewall": {"dns_resolvers": ["198.51.100.53", "2001:db8::53"]}})
    dns = [r for r in run.one(FIREWALL).inputs["outboundRules"] if r.get("portRange") == "53"]
    assert {tuple(r["destinationAddresses"]) for r in dns} == {("198.51.100.53/32", "2001:db8::53/128")}
    none = run_stack("dev", {"worker_firewall": {"dns_resolvers": []}})
    assert not [r for r in none.one(FIREWALL).inputs["outboundRules"] if r.get("portRange") == "53"]


def test_load_balancer_sources_when_configured() -> None:
    run = run_stack("dev", {"worker_firewall": {"load_balancer_uids": ["4de7ac8b-495b-4884-9a69-1050c6793cd6"], "load_balancer_ports": ["443"]}})
    rules = run.one(FIREWALL).inputs["inboundRules"]
    lb_rules = [r for r in rules if "sourceLoadBalancerUids" in r]
    assert lb_rules == [{"protocol": "tcp", "portRange": "443", "sourceLoadBalancerUids": ["4de7ac8b-495b-4884-9a69-1050c6793cd6"]}]


def test_project_groups_the_cluster(stack_run: ProgramRun) -> None:
    project = stack_run.one(PROJECT).inputs
    assert project["resources"] == [f"do:kubernetes:{stack_run.outputs['cluster_id']}"]
    assert project["environment"] == {"dev": "Development", "staging": "Staging", "prod": "Production"}[stack_run.stack]


def test_children_are_parented_to_their_components(stack_run: ProgramRun) -> None:
    by_urn = {r.urn: r for r in stack_run.resources}
    for resource in stack_run.resources:
        if resource.type.startswith(("digitalocean:", "pulumi:providers:")):
            parent = by_urn.get(resource.parent)
            assert parent is not None and parent.type.startswith(f"{NAMESPACE}:"), resource.name


def test_kubernetes_provider_uses_fresh_credentials_and_a_stable_identifier(stack_run: ProgramRun) -> None:
    import yaml

    provider = stack_run.one(K8S_PROVIDER)
    assert provider.inputs["clusterIdentifier"] == stack_run.outputs["cluster_id"]
    assert provider.inputs["enableServerSideApply"] == "true"  # provider config travels as text; Patch resources need SSA
    assert provider.is_secret("kubeconfig")
    kubeconfig = yaml.safe_load(provider.inputs["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    assert set(user) == {"exec"}, "no token or certificate may be stored in the provider's config"
    assert user["exec"]["command"] == CREDENTIALS_COMMAND
    assert user["exec"]["args"] == ["--cluster-id", stack_run.outputs["cluster_id"]]
    assert kubeconfig["clusters"][0]["cluster"]["server"] == stack_run.outputs["cluster_endpoint"]


def client_settings(run: ProgramRun) -> dict[str, float]:
    import json

    value = run.one(K8S_PROVIDER).inputs["kubeClientSettings"]
    return json.loads(value) if isinstance(value, str) else value  # provider config travels as text


def test_kubernetes_provider_request_rate_is_raised_and_configurable(stack_run: ProgramRun) -> None:
    # The provider's own 50 requests a second paced `up` and refresh of a large stack (docs/performance.md).
    assert client_settings(stack_run) == {"qps": 200.0, "burst": 400}
    slower = run_stack(stack_run.stack, {"kube_client_settings": {"qps": 20, "burst": 40}})
    assert client_settings(slower) == {"qps": 20.0, "burst": 40}


@pytest.mark.parametrize(
    ("settings", "key", "says"),
    [
        ({"qps": 0}, "kube_client_settings.qps", "greater than or equal to 1"),
        ({"burst": 20000}, "kube_client_settings.burst", "less than or equal to 10000"),
        ({"rate": 5}, "kube_client_settings.rate", "unknown setting"),
    ],
)
def test_bad_request_rates_are_refused(settings: dict[str, Any], key: str, says: str) -> None:
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError) as error:
        run_stack("dev", {"kube_client_settings": settings}, monitor=monitor)
    assert f"{NAMESPACE}:{key}" in str(error.value) and says in str(error.value), str(error.value)
    assert monitor.recorded == []


def test_existing_cluster_mode_creates_no_digitalocean_resources() -> None:
    config_text = make_kubeconfig(token="s3cr3t-token")
    run = run_stack("dev", secret_overrides={"existing_cluster_kubeconfig": config_text}, overrides={"existing_cluster_name": "legacy"})
    assert not [r for r in run.resources if r.type.startswith("digitalocean:")]
    provider = run.one(K8S_PROVIDER)
    assert provider.inputs["clusterIdentifier"] == "legacy"
    assert provider.inputs["kubeconfig"] == config_text and provider.is_secret("kubeconfig")
    assert "kubeconfig" in run.secret_outputs
    assert run.outputs["cluster_name"] == "legacy"


def test_refused_config_in_existing_mode_registers_nothing() -> None:
    from hardened_doks.config import ConfigError

    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError):
        run_stack("dev", secret_overrides={"existing_cluster_kubeconfig": "x"}, monitor=monitor)
    assert monitor.recorded == []


def test_kubernetes_objects_are_replaced_delete_first(stack_run: ProgramRun) -> None:
    """Fixed names: a create-before-delete replacement would apply to, then delete, the same
    object."""
    objects = [r for r in stack_run.resources if r.custom and r.type.startswith("kubernetes:") and "metadata" in r.inputs]
    assert objects
    assert [r.name for r in objects if not r.delete_before_replace] == []
