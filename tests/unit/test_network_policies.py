"""Default-deny everywhere, the DNS allow, and the configured paths (NetworkPolicy and CiliumNetworkPolicy)."""

from __future__ import annotations

from typing import Any

from hardened_doks.addons import ADDON_NAMESPACES
from hardened_doks.addons.kubescape import KUBESCAPE_NAMESPACE
from hardened_doks.addons.kyverno import KYVERNO_NAMESPACE
from hardened_doks.addons.trivy import TRIVY_NAMESPACE
from hardened_doks.namespaces import SYSTEM_NAMESPACES
from tests.unit.manifests import managed_namespaces, named, of_kind
from hardened_doks.tools.offline import ProgramRun, run_stack


def _denies_everything(policy: dict[str, Any]) -> bool:
    spec = policy["spec"]
    return (
        spec["podSelector"] == {}
        and set(spec["policyTypes"]) == {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def _allows_dns(policy: dict[str, Any]) -> bool:
    spec = policy["spec"]
    if spec["podSelector"] != {} or "Egress" not in spec["policyTypes"]:
        return False
    for rule in spec.get("egress", []):
        peers_ok = any(
            peer.get("namespaceSelector") == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
            and peer.get("podSelector") == {"matchLabels": {"k8s-app": "kube-dns"}}
            for peer in rule.get("to", [])
        )
        ports = {(p["protocol"], p["port"]) for p in rule.get("ports", [])}
        if peers_ok and {("UDP", 53), ("TCP", 53)} <= ports:
            return True
    return False


def assert_baseline_everywhere(run: ProgramRun) -> set[str]:
    """Every managed namespace denies both directions by default and allows DNS; return them."""
    namespaces = managed_namespaces(run)
    for namespace in namespaces:
        policies = of_kind(run, "NetworkPolicy", namespace)
        assert any(_denies_everything(p) for p in policies), f"{namespace}: no default-deny for ingress and egress"
        assert any(_allows_dns(p) for p in policies), f"{namespace}: no DNS allow to kube-dns on UDP and TCP 53"
    return namespaces


def test_every_managed_namespace_has_default_deny_and_dns(stack_run: ProgramRun) -> None:
    namespaces = assert_baseline_everywhere(stack_run)
    assert {"storefront", "storefront-jobs", "payments", KYVERNO_NAMESPACE} <= namespaces


def test_a_new_team_namespace_gets_the_baseline_too() -> None:
    teams = [
        {"name": "storefront", "namespaces": ["storefront"]},
        {"name": "search", "namespaces": ["search", "search-index"]},
    ]
    run = run_stack("prod", {"teams": teams, "network_policies": {}})
    assert assert_baseline_everywhere(run) == {"storefront", "search", "search-index", KYVERNO_NAMESPACE, KUBESCAPE_NAMESPACE, TRIVY_NAMESPACE, *SYSTEM_NAMESPACES}


def test_intra_namespace_traffic_only_where_asked(stack_run: ProgramRun) -> None:
    with_intra = {p["metadata"]["namespace"] for p in of_kind(stack_run, "NetworkPolicy") if p["metadata"]["name"] == "allow-intra-namespace"}
    assert with_intra == {"storefront", "payments"}
    policy = named(stack_run, "NetworkPolicy", "allow-intra-namespace", "payments")["spec"]
    assert policy["ingress"] == [{"from": [{"podSelector": {}}]}] and policy["egress"] == [{"to": [{"podSelector": {}}]}]


def test_a_namespace_rule_opens_egress_at_the_source_and_ingress_at_the_destination(stack_run: ProgramRun) -> None:
    egress = named(stack_run, "NetworkPolicy", "allow-storefront-to-payments", "storefront")["spec"]
    ingress = named(stack_run, "NetworkPolicy", "allow-storefront-to-payments", "payments")["spec"]
    assert egress["policyTypes"] == ["Egress"] and ingress["policyTypes"] == ["Ingress"]
    assert egress["egress"] == [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "payments"}}}], "ports": [{"protocol": "TCP", "port": 8443}]}
    ]
    assert ingress["ingress"] == [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "storefront"}}}], "ports": [{"protocol": "TCP", "port": 8443}]}
    ]


def test_a_cidr_rule_is_egress_only(run_of) -> None:
    policy = named(run_of("prod"), "NetworkPolicy", "allow-payments-to-psp", "payments")["spec"]
    assert policy["policyTypes"] == ["Egress"]
    assert policy["egress"] == [{"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}], "ports": [{"protocol": "TCP", "port": 443}]}]


def test_api_server_access_is_a_cilium_entity_rule(stack_run: ProgramRun) -> None:
    (policy,) = of_kind(stack_run, "CiliumNetworkPolicy", "storefront-jobs")
    assert policy["apiVersion"] == "cilium.io/v2"
    assert policy["spec"] == {
        "endpointSelector": {"matchLabels": {"app.kubernetes.io/name": "migrations"}},
        "egress": [{"toEntities": ["kube-apiserver"]}],
    }
    # Nothing else in the tenant namespaces may reach the API server.
    tenants = {"storefront", "payments"}
    assert not [p for p in of_kind(stack_run, "CiliumNetworkPolicy") if p["metadata"]["namespace"] in tenants]


def test_no_tenant_policy_opens_everything(stack_run: ProgramRun) -> None:
    for policy in of_kind(stack_run, "NetworkPolicy"):
        if policy["metadata"]["namespace"] in ADDON_NAMESPACES:  # their HTTPS egress: tests of admission, scanners
            continue
        for rule in policy["spec"].get("egress", []) + policy["spec"].get("ingress", []):
            peers = rule.get("to", rule.get("from"))
            assert peers, f"{policy['metadata']}: a rule without peers allows every source or destination"
            for peer in peers:
                assert peer.get("ipBlock", {}).get("cidr") not in ("0.0.0.0/0", "::/0"), policy["metadata"]


def test_kyverno_gets_exactly_api_server_webhook_and_https_egress(stack_run: ProgramRun) -> None:
    (cilium,) = of_kind(stack_run, "CiliumNetworkPolicy", KYVERNO_NAMESPACE)
    assert cilium["spec"]["egress"] == [{"toEntities": ["kube-apiserver"]}]
    ingress_ports = {p["port"] for rule in cilium["spec"]["ingress"] for tp in rule["toPorts"] for p in tp["ports"]}
    assert ingress_ports == {"9443"}
    assert "kube-apiserver" in cilium["spec"]["ingress"][0]["fromEntities"]
    registry = named(stack_run, "NetworkPolicy", "kyverno-registry-egress", KYVERNO_NAMESPACE)["spec"]
    (rule,) = registry["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    (peer,) = rule["to"]
    assert {"10.0.0.0/8", "169.254.0.0/16"} <= set(peer["ipBlock"]["except"]), "no cluster, VPC or metadata addresses"
    names = {p["metadata"]["name"] for p in of_kind(stack_run, "NetworkPolicy", KYVERNO_NAMESPACE)}
    assert names == {"default-deny", "allow-dns", "kyverno-registry-egress"}
