"""The example programs (examples/) under mocks: the components work without the stack config."""

from __future__ import annotations

import ast

from hardened_doks.tools.offline import PROJECT_DIR, run_program

EXAMPLE = PROJECT_DIR / "examples" / "vpc-and-firewall"


def test_the_example_uses_two_components_and_no_stack_config() -> None:
    imported = {n.module for n in ast.walk(ast.parse((EXAMPLE / "__main__.py").read_text())) if isinstance(n, ast.ImportFrom)}
    assert imported == {"hardened_doks.network", "hardened_doks.firewall"}


def test_the_example_builds_a_vpc_and_the_worker_firewall_under_mocks() -> None:
    config = {"vpc-and-firewall:cluster_name": "shop", "vpc-and-firewall:cluster_id": "c0ffee"}
    run = run_program("dev", config, program=EXAMPLE / "__main__.py", project="vpc-and-firewall")
    (vpc,) = run.of_type("digitalocean:index/vpc:Vpc")
    (firewall,) = run.of_type("digitalocean:index/firewall:Firewall")
    assert (vpc.inputs["name"], vpc.inputs["region"], vpc.inputs["ipRange"]) == ("shop-vpc", "fra1", "10.120.0.0/20")
    assert firewall.inputs["name"] == "shop-workers" and firewall.inputs["tags"] == ["k8s:c0ffee"]
    # Nothing from the internet; DNS only to the given resolvers.
    assert all("0.0.0.0/0" not in rule.get("sourceAddresses", []) for rule in firewall.inputs["inboundRules"])
    dns = [r for r in firewall.inputs["outboundRules"] if r.get("portRange") == "53"]
    assert [r["destinationAddresses"] for r in dns] == [["67.207.67.2", "67.207.67.3"]] * 2
    assert set(run.outputs) == {"vpc_id", "worker_firewall_id"}
    types = {r.type for r in run.resources}
    assert "hardened-doks:digitalocean:Network" in types and "hardened-doks:digitalocean:WorkerFirewall" in types
