"""The exec credential plugin, against an HTTP-level fake of the DigitalOcean API: its own
cluster-access token, no fallback to the write-capable one, no endpoint from the environment."""

from __future__ import annotations

import base64
import json

import pytest
import responses

from hardened_doks.tools import kube_credentials

API = "https://api.digitalocean.com"
CLUSTER_ID = "bd5f5959-5e1e-4205-a714-a914373942af"
URL = f"{API}/v2/kubernetes/clusters/{CLUSTER_ID}/credentials"


CLUSTER_TOKEN = "dop_v1_cluster_access_only"


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARDENED_DOKS_CLUSTER_ACCESS_TOKEN", CLUSTER_TOKEN)
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_write_capable")
    monkeypatch.delenv("DIGITALOCEAN_API_URL", raising=False)


@responses.activate
def test_prints_a_short_lived_token(capsys: pytest.CaptureFixture[str]) -> None:
    # Response shape from the DigitalOcean API reference (GET .../credentials).
    responses.get(URL, json={
        "server": "https://bd5f5959.k8s.ondigitalocean.com",
        "certificate_authority_data": base64.b64encode(b"CA").decode(),
        "token": "dop_v1_cluster_token",
        "expires_at": "2026-11-26T16:00:00Z",
    })
    assert kube_credentials.main(["--cluster-id", CLUSTER_ID]) == 0
    credential = json.loads(capsys.readouterr().out)
    assert credential == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": "dop_v1_cluster_token", "expirationTimestamp": "2026-11-26T16:00:00Z"},
    }
    request = responses.calls[0].request
    assert "expiry_seconds=3600" in request.url
    assert request.headers["Authorization"] == f"Bearer {CLUSTER_TOKEN}", "its own token, never DIGITALOCEAN_TOKEN"


@responses.activate
def test_certificate_clusters_get_client_certificates(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(URL, json={
        "client_certificate_data": base64.b64encode(b"CERT").decode(),
        "client_key_data": base64.b64encode(b"KEY").decode(),
        "expires_at": "2026-11-26 16:00:00",
    })
    assert kube_credentials.main(["--cluster-id", CLUSTER_ID]) == 0
    status = json.loads(capsys.readouterr().out)["status"]
    assert status == {"clientCertificateData": "CERT", "clientKeyData": "KEY", "expirationTimestamp": "2026-11-26T16:00:00Z"}


@responses.activate
def test_unknown_cluster_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(URL, status=404, json={"id": "not_found", "message": "The resource you were accessing could not be found."})
    assert kube_credentials.main(["--cluster-id", CLUSTER_ID]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "could not be found" in captured.err and "Traceback" not in captured.err


@responses.activate
def test_bad_token_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    responses.get(URL, status=401, json={"id": "unauthorized", "message": "Unable to authenticate you"})
    assert kube_credentials.main(["--cluster-id", CLUSTER_ID]) == 1
    assert "authenticate" in capsys.readouterr().err


@responses.activate
def test_no_fallback_to_the_write_capable_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HARDENED_DOKS_CLUSTER_ACCESS_TOKEN")
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", "dop_v1_also_write_capable")
    assert kube_credentials.main(["--cluster-id", CLUSTER_ID]) == 1
    err = capsys.readouterr().err
    assert "no cluster-access token: export HARDENED_DOKS_CLUSTER_ACCESS_TOKEN" in err and "kubernetes:access_cluster" in err
    assert "DIGITALOCEAN_TOKEN is never used here" in err and len(responses.calls) == 0


@responses.activate
def test_reusing_the_write_capable_token_is_warned(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", CLUSTER_TOKEN)
    responses.get(URL, json={"token": "dop_v1_cluster_token", "expires_at": "2026-11-26T16:00:00Z"})
    assert kube_credentials.main(["--cluster-id", CLUSTER_ID]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"]["token"] == "dop_v1_cluster_token"
    assert "warning: HARDENED_DOKS_CLUSTER_ACCESS_TOKEN is the same token as DIGITALOCEAN_TOKEN" in captured.err


@responses.activate
def test_an_api_url_from_the_environment_is_refused_before_any_request(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # A planted endpoint would receive the token: the plugin refuses to run, it does not follow it.
    monkeypatch.setenv("DIGITALOCEAN_API_URL", "https://collector.example")
    responses.get(f"https://collector.example/v2/kubernetes/clusters/{CLUSTER_ID}/credentials", json={"token": "x"})
    responses.get(URL, json={"token": "x"})
    assert kube_credentials.main(["--cluster-id", CLUSTER_ID]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "DIGITALOCEAN_API_URL is set ('https://collector.example')" in captured.err
    assert len(responses.calls) == 0
