"""A DigitalOcean token goes to DigitalOcean's API only: an API-URL override in the environment is
refused by the tools, the drift engine and the program (whose provider would follow it), before
any request or resource. Tests reach their fakes by patching ``hardened_doks.tools.do_api.ENDPOINT``."""

from __future__ import annotations

import pytest
import responses

from hardened_doks.config import ConfigError
from hardened_doks.tools import do_api, engine, preflight
from hardened_doks.tools.offline import OfflineMocks, RecordingMonitor, run_stack
from tests.unit.kubeconfig import kubeconfig

PLANTED = "https://collector.example"


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_write_capable")
    monkeypatch.setenv("DIGITALOCEAN_API_URL", PLANTED)


@responses.activate
def test_the_client_targets_digitalocean_or_the_endpoint_a_test_patched_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGITALOCEAN_API_URL", raising=False)
    responses.get("https://api.digitalocean.com/v2/account", json={"account": {}})
    responses.get("https://testing.local/v2/account", json={"account": {}})
    do_api.client("t").account.get()
    monkeypatch.setattr(do_api, "ENDPOINT", "https://testing.local")
    do_api.client("t").account.get()
    assert [c.request.url for c in responses.calls] == ["https://api.digitalocean.com/v2/account", "https://testing.local/v2/account"]


def test_the_client_refuses_an_override(planted: None) -> None:
    with pytest.raises(do_api.UnsafeEndpoint, match="DIGITALOCEAN_API_URL is set .'https://collector.example'.: a DigitalOcean token is only sent to https://api.digitalocean.com"):
        do_api.client()


@responses.activate
def test_preflight_refuses_and_sends_nothing(planted: None, capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(f"{PLANTED}/v2/account", json={})
    assert preflight.main(["--stack", "dev"]) == 2
    assert "unset DIGITALOCEAN_API_URL" in capsys.readouterr().out
    assert len(responses.calls) == 0


def test_the_drift_engine_refuses_before_running_pulumi(planted: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "x")
    with pytest.raises(engine.EngineError, match="DIGITALOCEAN_API_URL is set"):
        engine.check_credentials("dev")


def test_the_program_refuses_before_registering_anything(planted: None) -> None:
    # pulumi up: the DigitalOcean provider reads DIGITALOCEAN_API_URL itself.
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError, match="DIGITALOCEAN_API_URL is set"):
        run_stack("prod", monitor=monitor)
    assert monitor.recorded == []


def test_existing_cluster_mode_has_no_digitalocean_provider_to_protect(planted: None) -> None:
    run = run_stack("dev", secret_overrides={"existing_cluster_kubeconfig": kubeconfig()}, overrides={"existing_cluster_name": "legacy"})
    assert not [r for r in run.resources if r.type.startswith("digitalocean:")]
