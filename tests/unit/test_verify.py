"""Post-deploy verification against an HTTP-level fake of the DigitalOcean API (responses)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import responses

from tests.unit import do_fakes as do
from tests.unit.envelope import check_envelope
from tests.unit.do_fakes import CLUSTER_ID, DROPLETS
from hardened_doks.tools import verify

LINT = f"/v2/kubernetes/clusters/{CLUSTER_ID}/clusterlint"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify, "LINT_POLL_SECONDS", 0)


def deployed(
    api_url: str,
    cluster: dict[str, Any] | None = None,
    firewalls: list[dict[str, Any]] | None = None,
    diagnostics: list[dict[str, Any]] | None = None,
) -> None:
    responses.get(f"{api_url}/v2/kubernetes/clusters", json=do.page("kubernetes_clusters", [
        do.cluster("someone-elses"), *([cluster] if cluster is not None else [do.cluster()])
    ]))
    responses.get(f"{api_url}/v2/droplets", json=do.page("droplets", [do.droplet(d) for d in DROPLETS]))
    for droplet in DROPLETS:
        responses.get(f"{api_url}/v2/droplets/{droplet}/firewalls",
                      json=do.page("firewalls", firewalls if firewalls is not None else do.worker_firewalls()))
    responses.post(f"{api_url}{LINT}", status=202, json={"run_id": "50c2f44c-011d-493e-aee5-361a4a0d1844"})
    responses.get(f"{api_url}{LINT}", json=do.clusterlint(diagnostics or []))


def failures(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("FAIL")]


@responses.activate
def test_a_hardened_cluster_passes(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    deployed(api, diagnostics=[do.diagnostic("resource-requirements", "warning", "Set resource requests and limits")])
    assert verify.main(["--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert "ok    control-plane firewall is enabled" in out
    assert "ok    API allowlist is exactly the configured 0.0.0.0/0" in out
    assert "ok    the stack's firewall hardened-doks-dev-workers is attached to the workers" in out
    assert f"ok    firewall k8s-public-access-{CLUSTER_ID} opens no SSH, kubelet or NodePort to the internet" in out
    assert "warn  clusterlint resource-requirements: [warning] pod/storefront/web: Set resource" in out
    assert "ok    clusterlint run 50c2f44c-011d-493e-aee5-361a4a0d1844: 0 error, 1 warning, 0 suggestion" in out
    # The run is started with a POST, then read back by its run_id.
    lint_calls = [c.request for c in responses.calls if LINT in c.request.url]
    assert [r.method for r in lint_calls] == ["POST", "GET"] and "run_id=50c2f44c" in lint_calls[1].url
    droplet_query = next(c.request.url for c in responses.calls if c.request.url.split("?")[0].endswith("/v2/droplets"))
    assert f"tag_name=k8s%3A{CLUSTER_ID}" in droplet_query


@responses.activate
def test_public_nodeports_ssh_and_kubelet_are_violations(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    public = [do.rule("30000-32767", ["0.0.0.0/0", "::/0"]), do.rule("80", ["0.0.0.0/0"])]
    extra = do.firewall("debug-access", [do.rule("22", ["0.0.0.0/0"]), do.rule("0", ["::/0"], protocol="udp"),
                                         do.rule("0", ["0.0.0.0/0"], protocol="icmp")], tags=["k8s:worker"])
    deployed(api, firewalls=[*do.worker_firewalls(public), extra])
    assert verify.main(["--stack", "dev"]) == 1
    assert failures(capsys.readouterr().out) == [
        f"FAIL  firewall k8s-public-access-{CLUSTER_ID}: opens "
        "NodePorts (30000-32767) over tcp (ports 30000-32767) to 0.0.0.0/0, ::/0",
        "FAIL  firewall debug-access: opens SSH (22) over tcp (ports 22) to 0.0.0.0/0; "
        "SSH (22) over udp (ports 0) to ::/0; kubelet (10250) over udp (ports 0) to ::/0; "
        "NodePorts (30000-32767) over udp (ports 0) to ::/0",
    ]


@responses.activate
def test_firewall_attached_through_tags_to_any_worker_is_found(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    deployed(api)
    # The second worker has one more firewall (another team's, by tag): it is checked too.
    responses.replace(responses.GET, f"{api}/v2/droplets/{DROPLETS[1]}/firewalls", json=do.page("firewalls", [
        *do.worker_firewalls(), do.firewall("kubelet-debug", [do.rule("10250", ["0.0.0.0/0"])], tags=["debug"])
    ]))
    assert verify.main(["--stack", "dev"]) == 1
    assert failures(capsys.readouterr().out) == [
        "FAIL  firewall kubelet-debug: opens kubelet (10250) over tcp (ports 10250) to 0.0.0.0/0"
    ]


@responses.activate
def test_deny_rules_and_internal_sources_are_not_exposures(api: str) -> None:
    deny = {**do.rule("22", ["0.0.0.0/0"]), "action": "deny"}
    deployed(api, firewalls=[*do.worker_firewalls([deny, do.rule("22", ["10.0.0.0/8"]), do.rule("443", ["0.0.0.0/0"])])])
    assert verify.main(["--stack", "dev"]) == 0


@responses.activate
def test_another_firewall_letting_dns_out_to_the_internet_is_warned(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Outbound rules are allow-lists too: a DOKS-managed firewall with everything out to anywhere
    # makes the stack's DNS-to-the-resolvers rule moot. A warning, since the stack cannot change it.
    everything = [{"protocol": p, "ports": "0", "destinations": {"addresses": ["0.0.0.0/0", "::/0"]}} for p in ("tcp", "udp")]
    own, managed, public = do.worker_firewalls()
    managed = do.firewall(managed["name"], managed["inbound_rules"], outbound=everything)
    resolvers = {"protocol": "udp", "ports": "53", "destinations": {"addresses": ["67.207.67.2/32"]}}
    own = do.firewall(own["name"], own["inbound_rules"], outbound=[resolvers])
    deployed(api, firewalls=[own, managed, public])
    assert verify.main(["--stack", "dev"]) == 0, "a warning, not a failure"
    warnings = [line.strip() for line in capsys.readouterr().out.splitlines() if line.strip().startswith("warn  firewall")]
    assert warnings == [
        f"warn  firewall k8s-{CLUSTER_ID}-worker: allows outbound tcp ports 0 to 0.0.0.0/0, ::/0; udp ports 0 to 0.0.0.0/0, ::/0: "
        "the stack's restriction of DNS to 67.207.67.2/32, 67.207.67.3/32 is not in force while it does "
        "(the workers' outbound rules are the union of their firewalls)"
    ]


@responses.activate
def test_missing_stack_firewall(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    deployed(api, firewalls=do.worker_firewalls()[1:])
    assert verify.main(["--stack", "dev"]) == 1
    assert failures(capsys.readouterr().out) == [
        "FAIL  firewall hardened-doks-dev-workers: not attached to the "
        f"workers (attached: k8s-{CLUSTER_ID}-worker, k8s-public-access-{CLUSTER_ID})"
    ]


@responses.activate
def test_control_plane_firewall_must_be_on_with_exactly_the_allowlist(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    deployed(api, cluster=do.cluster("hardened-doks-prod", enabled=False,
                                     allowed=("198.51.100.0/24", "192.0.2.7/32")))
    assert verify.main(["--stack", "prod"]) == 1
    assert failures(capsys.readouterr().out)[:2] == [
        "FAIL  hardened-doks:api_allowlist: the control-plane firewall is disabled",
        "FAIL  hardened-doks:api_allowlist: allows 192.0.2.7/32 which is not configured; does not allow configured 203.0.113.10/32",
    ]


@responses.activate
def test_clusterlint_errors_fail_by_default_and_the_threshold_is_configurable(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    diagnostics = [
        do.diagnostic("privileged-containers", "error", "Privileged container 'debug' found", name="debug"),
        do.diagnostic("latest-tag", "warning", "Avoid using latest tag for container 'web'"),
        do.diagnostic("default-namespace", "suggestion", "Avoid using the default namespace", namespace="default"),
    ]
    deployed(api, diagnostics=diagnostics)
    assert verify.main(["--stack", "dev"]) == 1
    out = capsys.readouterr().out
    assert failures(out) == [
        "FAIL  clusterlint privileged-containers: [error] pod/storefront/debug: Privileged container 'debug' found"
    ]
    assert "1 error, 1 warning, 1 suggestion" in out
    assert verify.main(["--stack", "dev", "--lint-fail-on", "none"]) == 0
    capsys.readouterr()
    deployed(api, diagnostics=diagnostics[1:])
    assert verify.main(["--stack", "dev", "--lint-fail-on", "warning"]) == 1
    assert [f.split(":")[0] for f in failures(capsys.readouterr().out)] == ["FAIL  clusterlint latest-tag"]


@responses.activate
def test_clusterlint_is_polled_until_complete(api: str) -> None:
    deployed(api)
    responses.replace(responses.GET, f"{api}{LINT}", status=404, json=do.not_found("clusterlint run not found"))
    responses.add(responses.GET, f"{api}{LINT}", json=do.clusterlint([], completed=False))
    responses.add(responses.GET, f"{api}{LINT}", json=do.clusterlint([]))
    assert verify.main(["--stack", "dev"]) == 0
    assert [c.response.status_code for c in responses.calls if c.request.method == "GET" and LINT in c.request.url] == [404, 200, 200]


@responses.activate
def test_clusterlint_timeout_is_an_error(api: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(verify, "LINT_TIMEOUT_SECONDS", 0)
    deployed(api)
    responses.replace(responses.GET, f"{api}{LINT}", json=do.clusterlint([], completed=False))
    assert verify.main(["--stack", "dev"]) == 2
    assert "did not complete within 0 s" in capsys.readouterr().out


@responses.activate
def test_json_report_by_severity(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    deployed(api, diagnostics=[do.diagnostic("bare-pods", "warning", "Avoid using bare pods")])
    assert verify.main(["--stack", "dev", "--json"]) == 0
    report = check_envelope(json.loads(capsys.readouterr().out), "verify", ["dev"], 0, "passed")["dev"]
    assert report["status"] == "passed" and report["cluster"]["id"] == CLUSTER_ID
    assert report["clusterlint"]["by_severity"] == {"error": 0, "warning": 1, "suggestion": 0}
    assert report["control_plane_firewall"] == {"enabled": True, "allowed_addresses": ["0.0.0.0/0"]}
    assert report["worker_firewalls"] == sorted(f["name"] for f in do.worker_firewalls())


@responses.activate
def test_cluster_not_deployed(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{api}/v2/kubernetes/clusters", json=do.page("kubernetes_clusters", [do.cluster("other")]))
    assert verify.main(["--stack", "dev"]) == 2
    assert ("ERROR no cluster named 'hardened-doks-dev' in this account (hardened-doks:cluster_name); "
            "deploy the stack first, or pass --cluster-id") in capsys.readouterr().out


@responses.activate
def test_cluster_id_404_body(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{api}/v2/kubernetes/clusters/{CLUSTER_ID}", status=404, json=do.not_found())
    assert verify.main(["--stack", "dev", "--cluster-id", CLUSTER_ID, "--lint-fail-on", "skip"]) == 2
    assert re.search(r"ERROR GET /v2/kubernetes/clusters/\S+: The resource you were accessing could not be found",
                     capsys.readouterr().out)


@responses.activate
def test_cluster_id_and_no_clusterlint(api: str) -> None:
    deployed(api)
    responses.get(f"{api}/v2/kubernetes/clusters/{CLUSTER_ID}", json={"kubernetes_cluster": do.cluster()})
    assert verify.main(["--stack", "dev", "--cluster-id", CLUSTER_ID, "--lint-fail-on", "skip"]) == 0
    assert not any(LINT in c.request.url for c in responses.calls)


@responses.activate
def test_bad_token(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{api}/v2/kubernetes/clusters", status=401, json=do.UNAUTHORIZED)
    assert verify.main(["--stack", "dev"]) == 1
    assert failures(capsys.readouterr().out)[0].startswith("FAIL  DIGITALOCEAN_TOKEN: GET /v2/kubernetes/clusters: the DigitalOcean API refused")


@responses.activate
def test_server_error_on_firewalls(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    deployed(api)
    responses.replace(responses.GET, f"{api}/v2/droplets/{DROPLETS[0]}/firewalls", status=502, body="<html>Bad gateway</html>")
    assert verify.main(["--stack", "dev"]) == 2
    assert f"ERROR GET /v2/droplets/{DROPLETS[0]}/firewalls: HTTP 502 after 5 retries" in capsys.readouterr().out


def test_a_cluster_id_with_all_stacks_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        verify.main(["--all", "--cluster-id", CLUSTER_ID, "--json"])
    assert exited.value.code == 2
    assert "--cluster-id names one cluster: use it with --stack, not --all" in capsys.readouterr().err


@responses.activate
def test_all_stacks_in_one_envelope(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    deployed(api)
    code = verify.main(["--all", "--json", "--lint-fail-on", "skip"])
    report = json.loads(capsys.readouterr().out)
    check_envelope(report, "verify", ["dev", "prod", "staging"], code, report["status"])
