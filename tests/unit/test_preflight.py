"""Preflight against an HTTP-level fake of the DigitalOcean API (responses), error paths included."""

from __future__ import annotations

import json

import pytest
import responses

from hardened_doks.config import ConfigError
from tests.unit import do_fakes as do
from tests.unit.envelope import check_envelope
from hardened_doks.tools import checks, do_api, preflight


def healthy(api_url: str, vpcs: list | None = None) -> None:
    responses.get(f"{api_url}/v2/account", json=do.account())
    responses.get(f"{api_url}/v2/kubernetes/options", json=do.kubernetes_options())
    responses.get(f"{api_url}/v2/sizes", json=do.page("sizes", [do.size("s-4vcpu-8gb"), do.size("s-8vcpu-16gb", ("fra1",))]))
    responses.get(f"{api_url}/v2/vpcs", json=do.page("vpcs", vpcs if vpcs is not None else [
        do.vpc("default-nyc3", "10.116.0.0/20"),
        do.vpc("hardened-doks-dev-vpc", "10.110.0.0/20"),  # this stack's own, from an earlier `up`
    ]))


def failures(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("FAIL")]


@responses.activate
def test_all_checks_pass(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(api)
    assert preflight.main(["--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert "ok    token accepted (team My Team, status active)" in out
    assert "ok    region nyc3 offers DOKS" in out
    assert "ok    Kubernetes 1.34: DOKS offers 1.34.4-do.0" in out
    assert "ok    node pool system: s-4vcpu-8gb is available for DOKS in nyc3" in out
    assert "vpc_ip_range 10.110.0.0/20 collides with none of the account's 1 other VPCs" in out
    assert out.rstrip().endswith("preflight dev: passed")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer dop_v1_test"


@responses.activate
def test_each_failure_is_one_line_naming_the_key(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{api}/v2/account", json=do.account())
    responses.get(f"{api}/v2/kubernetes/options", json=do.kubernetes_options(regions=("nyc1", "sfo3"), versions=("1.33.9-do.0", "1.35.3-do.0")))
    responses.get(f"{api}/v2/sizes", json=do.page("sizes", [do.size("s-4vcpu-8gb", ("fra1",))]))
    responses.get(f"{api}/v2/vpcs", json=do.page("vpcs", [do.vpc("legacy", "10.110.0.0/16"), do.vpc("pods", "10.111.128.0/24", "sfo3")]))
    assert preflight.main(["--stack", "dev"]) == 1
    out = capsys.readouterr().out
    assert failures(out) == [
        "FAIL  hardened-doks:region: DOKS is not offered in 'nyc3'; regions with DOKS: nyc1, sfo3",
        "FAIL  hardened-doks:kubernetes_version_prefix: no DOKS release of Kubernetes 1.34; supported minors: 1.33, 1.35",
        "FAIL  hardened-doks:system_pool.size: s-4vcpu-8gb is not available in nyc3",
        "FAIL  hardened-doks:vpc_ip_range: 10.110.0.0/20 overlaps VPC legacy (10.110.0.0/16, nyc3); choose a free private range",
        "FAIL  hardened-doks:cluster_subnet: 10.111.0.0/16 overlaps VPC pods (10.111.128.0/24, sfo3); choose a free private range",
    ]
    assert out.rstrip().endswith("preflight dev: failed (5 to fix)")


@responses.activate
def test_workload_pool_sizes_are_checked(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{api}/v2/account", json=do.account())
    responses.get(f"{api}/v2/kubernetes/options", json=do.kubernetes_options(sizes=("s-8vcpu-16gb",)))
    responses.get(f"{api}/v2/sizes", json=do.page("sizes", [do.size("s-8vcpu-16gb", ("fra1",)), do.size("s-4vcpu-8gb", ("fra1",))]))
    responses.get(f"{api}/v2/vpcs", json=do.page("vpcs", []))
    assert preflight.main(["--stack", "prod"]) == 1
    assert failures(capsys.readouterr().out) == [
        "FAIL  hardened-doks:workload_pools[0].size: s-4vcpu-8gb is not offered for DOKS nodes (see `doctl kubernetes options sizes`)"
    ]


@responses.activate
def test_pagination_is_followed(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(api, vpcs=[])
    responses.replace(responses.GET, f"{api}/v2/vpcs", json=do.page("vpcs", [do.vpc("a", "10.200.0.0/20")], f"{api}/v2/vpcs?page=2&per_page=200"))
    responses.add(responses.GET, f"{api}/v2/vpcs", json=do.page("vpcs", [do.vpc("b", "10.110.8.0/24")]))
    assert preflight.main(["--stack", "dev"]) == 1
    assert "page=2" in responses.calls[-1].request.url
    assert failures(capsys.readouterr().out)[0].startswith("FAIL  hardened-doks:vpc_ip_range: 10.110.0.0/20 overlaps VPC b")


@responses.activate
def test_bad_token_is_a_failure_naming_the_variable(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{api}/v2/account", status=401, json=do.UNAUTHORIZED)
    assert preflight.main(["--stack", "dev"]) == 1
    assert failures(capsys.readouterr().out) == [
        "FAIL  DIGITALOCEAN_TOKEN: GET /v2/account: the DigitalOcean API refused the token (401: Unable to authenticate you); "
        "check DIGITALOCEAN_TOKEN"
    ]


@responses.activate
def test_locked_account(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(api)
    responses.replace(responses.GET, f"{api}/v2/account", json=do.account("locked"))
    assert preflight.main(["--stack", "dev"]) == 1
    assert failures(capsys.readouterr().out) == [
        "FAIL  DIGITALOCEAN_TOKEN: token accepted (team My Team, status locked): Your account has been locked for non-payment."
    ]


@responses.activate
def test_rate_limit_is_retried(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    """429 with Retry-After: azure-core's RetryPolicy (configured in tools/do_api.py) retries it."""
    healthy(api)
    responses.replace(responses.GET, f"{api}/v2/account", status=429, json=do.RATE_LIMITED, headers={"Retry-After": "0", "ratelimit-remaining": "0"})
    responses.add(responses.GET, f"{api}/v2/account", json=do.account())
    assert preflight.main(["--stack", "dev"]) == 0
    calls = [c.response.status_code for c in responses.calls if c.request.url.endswith("/v2/account")]
    assert calls == [429, 200]


@responses.activate
def test_rate_limit_exhausted_is_an_error(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{api}/v2/account", status=429, json=do.RATE_LIMITED)
    assert preflight.main(["--stack", "dev"]) == 2
    assert len(responses.calls) == do_api.RETRY["retry_status"] + 1
    assert "ERROR GET /v2/account: HTTP 429 (rate limited) after 5 retries: API Rate limit exceeded." in capsys.readouterr().out


@responses.activate
def test_server_errors_are_retried_then_reported(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(api)
    responses.replace(responses.GET, f"{api}/v2/kubernetes/options", status=503, json=do.SERVER_ERROR)
    assert preflight.main(["--stack", "dev"]) == 2
    options_calls = [c for c in responses.calls if "/kubernetes/options" in c.request.url]
    assert len(options_calls) == do_api.RETRY["retry_status"] + 1
    assert "ERROR GET /v2/kubernetes/options: HTTP 503 after 5 retries: Unexpected server-side error" in capsys.readouterr().out


@responses.activate
def test_a_transient_server_error_recovers(api: str) -> None:
    healthy(api)
    responses.replace(responses.GET, f"{api}/v2/kubernetes/options", status=500, json=do.SERVER_ERROR)
    responses.add(responses.GET, f"{api}/v2/kubernetes/options", json=do.kubernetes_options())
    assert preflight.main(["--stack", "dev"]) == 0


@responses.activate
def test_404_body_is_not_taken_for_data(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    """pydo returns a 404's body instead of raising; it must not read as 'no regions'."""
    healthy(api)
    responses.replace(responses.GET, f"{api}/v2/kubernetes/options", status=404, json=do.not_found())
    assert preflight.main(["--stack", "dev"]) == 2
    assert "ERROR GET /v2/kubernetes/options: The resource you were accessing could not be found. (not_found)" in capsys.readouterr().out


@responses.activate
def test_malformed_json(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(api)
    responses.replace(responses.GET, f"{api}/v2/sizes", body='{"sizes": [', content_type="application/json")
    assert preflight.main(["--stack", "dev"]) == 2
    assert "ERROR GET /v2/sizes: the API answered with malformed JSON" in capsys.readouterr().out


@responses.activate
def test_unexpected_shape(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(api)
    responses.replace(responses.GET, f"{api}/v2/sizes", json={"droplet_sizes": []})
    assert preflight.main(["--stack", "dev"]) == 2
    assert "ERROR GET /v2/sizes: the response has no 'sizes' list" in capsys.readouterr().out


@responses.activate
def test_json_report(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(api)
    responses.replace(responses.GET, f"{api}/v2/sizes", json=do.page("sizes", [do.size("s-4vcpu-8gb", ("nyc3",))]))
    assert preflight.main(["--stack", "staging", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    staging = check_envelope(report, "preflight", ["staging"], 1, "failed")["staging"]
    failed = [f for f in staging["findings"] if not f["ok"]]
    # staging's system pool and its workload pool (tenants' own, the system pool being isolated).
    assert failed == [{"check": "size", "ok": False, "message": "s-4vcpu-8gb is not available in fra1",
                       "fix": f"hardened-doks:{pool}.size", "severity": "error"} for pool in ("system_pool", "workload_pools[0]")]
    assert report["findings"] == [{"stack": "staging", **f} for f in failed], "the envelope's findings: what did not pass"


@responses.activate
def test_all_stacks_in_one_envelope(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    healthy(api)
    assert preflight.main(["--all", "--json"]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    check_envelope(report, "preflight", ["dev", "prod", "staging"], report["exit_code"], report["status"])


def test_missing_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DIGITALOCEAN_TOKEN", raising=False)
    monkeypatch.delenv("DIGITALOCEAN_ACCESS_TOKEN", raising=False)
    assert preflight.main(["--stack", "dev"]) == 2
    assert "no DigitalOcean API token: export DIGITALOCEAN_TOKEN" in capsys.readouterr().out


def test_unknown_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert preflight.main(["--stack", "qa"]) == 2
    assert "no stack file" in capsys.readouterr().out


def test_invalid_config_lines_name_the_key(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def invalid(stack: str) -> None:
        raise ConfigError(["hardened-doks:region: 'mars1' is not a DigitalOcean region; allowed: nyc3"])

    monkeypatch.setattr(checks, "load_config", invalid)
    assert preflight.main(["--stack", "dev"]) == 1
    assert failures(capsys.readouterr().out) == ["FAIL  hardened-doks:region: 'mars1' is not a DigitalOcean region; allowed: nyc3"]


def test_existing_cluster_mode_needs_no_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from hardened_doks.config import parse_stack_config
    from tests.unit.kubeconfig import kubeconfig
    from hardened_doks.tools.offline import read_stack_file

    raw, secrets = read_stack_file("dev")
    existing = {"hardened-doks:existing_cluster_kubeconfig": kubeconfig(), "hardened-doks:existing_cluster_name": "legacy"}
    config = parse_stack_config({**raw, **existing}, stack="dev", secret_keys=secrets | {"hardened-doks:existing_cluster_kubeconfig"})
    monkeypatch.setattr(checks, "load_config", lambda stack: config)
    for name in do_api.TOKEN_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    with responses.RequestsMock() as calls:  # no request may reach the DigitalOcean API
        assert preflight.main(["--stack", "dev"]) == 0
        assert len(calls.calls) == 0
    assert "existing-cluster mode: the stack creates no DigitalOcean resources to check (no token needed)" in capsys.readouterr().out
