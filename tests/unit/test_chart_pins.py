"""Every chart pin is published: against its repository's index snapshot, or the chart in its Go
module zip; the local copies are the pinned charts; local charts are folders or archives; and the
live check (`make check-pins`) against an index served over HTTP."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hardened_doks.config import ConfigError
from hardened_doks.addons import CHART_PINS, SCANNER_CHARTS
from hardened_doks.tools import charts, check_pins
from hardened_doks.tools.offline import run_stack

#: Pins whose repository's index.yaml has a snapshot in <shared charts>/index.
INDEXED = [key for key, pin in CHART_PINS.items() if pin.repo in charts.INDEX_SNAPSHOTS]
#: Pins fetched from a Go module zip (no index snapshot): checked against the zip's Chart.yaml.
FROM_MODULES = [key for key, pin in CHART_PINS.items() if pin.offline]


@functools.cache
def _index(repo: str) -> dict:
    path = charts.shared_charts_dir() / "index" / charts.INDEX_SNAPSHOTS[repo]
    assert path.is_file(), f"no index snapshot {path}: point {charts.CHARTS_ENV} at the shared charts folder (its index/ holds the snapshots)"
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_every_pin_is_checked_one_way_or_the_other() -> None:
    assert sorted(INDEXED + FROM_MODULES) == sorted(CHART_PINS)
    assert set(FROM_MODULES) == {"kyverno", "trivy"}


@pytest.mark.parametrize("key", INDEXED)
def test_the_pin_is_published_in_its_repositorys_index(key: str) -> None:
    pin = CHART_PINS[key]
    assert charts.pin_problems(pin, _index(pin.repo)) == []
    assert pin.digest, "a published archive's digest is pinned with the version"


@pytest.mark.parametrize("key", FROM_MODULES)
def test_the_pin_is_the_chart_of_its_go_module_zip(key: str) -> None:
    assert charts.local_pin_problems(CHART_PINS[key], charts.local_chart(key)) == []


@pytest.mark.parametrize("key", INDEXED)
def test_the_local_copy_is_the_pinned_chart(key: str) -> None:
    path = charts.local_chart(key)
    assert path.name == f"{CHART_PINS[key].name}-{CHART_PINS[key].version}.tgz"
    assert charts.local_pin_problems(CHART_PINS[key], path) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"version": "9.1.1"}, "falco 9.1.1: not published in https://falcosecurity.github.io/charts (newest listed: "),
        ({"app_version": "0.45.0"}, "the repository says app 0.44.1, the pin says 0.45.0"),
        ({"digest": "0" * 64}, "re-published?"),
        ({"name": "falco-operatorx"}, "lists no chart of that name"),
    ],
    ids=["unpublished-version", "other-app-version", "other-digest", "unknown-chart"],
)
def test_an_unpublished_or_changed_pin_is_reported(change: dict, problem: str) -> None:
    pin = dataclasses.replace(SCANNER_CHARTS["falco"], **change)
    (found,) = charts.pin_problems(pin, _index(pin.repo))
    assert problem in found


def test_a_missing_shared_charts_folder_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(charts.CHARTS_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(charts.ChartError, match=r"no local copy of chart falco 9\.1\.0: .*nowhere/falco-9\.1\.0\.tgz is missing\. Point HARDENED_DOKS_CHARTS"):
        charts.local_chart("falco")


# -- local charts: a folder or an archive of the pinned version -----------------------------


def test_chart_path_takes_the_pinned_archive_and_refuses_another_version() -> None:
    archive = str(charts.local_chart("snyk"))
    run = run_stack("dev", {"scanners": {"snyk": {"enabled": True, "chart_path": archive}}}, {"snyk_integration_id": "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "snyk_service_account_token": "t"})
    release = next(r for r in run.resources if r.inputs.get("name") == "snyk-monitor")
    assert release.inputs["chart"] == archive and "version" not in release.inputs
    older = str(charts.shared_charts_dir() / "snyk-monitor-2.22.20.tgz")
    with pytest.raises(ConfigError, match=r"hardened-doks:scanners\.snyk\.chart_path: .*snyk-monitor-2\.22\.20\.tgz holds chart snyk-monitor 2\.22\.20; the stack pins snyk-monitor 2\.23\.8"):
        run_stack("dev", {"scanners": {"snyk": {"enabled": True, "chart_path": older}}}, {"snyk_integration_id": "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "snyk_service_account_token": "t"})


def test_chart_path_refuses_what_is_no_chart(tmp_path: Path) -> None:
    (tmp_path / "notes.tgz").write_text("not an archive")
    with pytest.raises(ConfigError, match=r"scanners\.falco\.chart_path: no chart at .*notes\.tgz \(neither a folder with Chart\.yaml nor a chart \.tgz archive\); prepare one with `helm pull falco --version 9\.1\.0 --repo https://falcosecurity\.github\.io/charts`"):
        run_stack("dev", {"scanners": {"falco": {"enabled": True, "chart_path": str(tmp_path / "notes.tgz")}}})


def test_the_same_chart_renders_from_its_archive_and_its_folder(tmp_path: Path) -> None:
    archive = charts.local_chart("falcosidekick")
    shutil.unpack_archive(archive, tmp_path)
    release = {"name": "falcosidekick", "namespace": "falcosidekick", "values": {"replicaCount": 1}}
    from_archive = charts.render_release({**release, "chart": str(archive)}, "1.34.0")
    from_folder = charts.render_release({**release, "chart": str(tmp_path / "falcosidekick")}, "1.34.0")
    assert from_archive == from_folder and {d["kind"] for d in from_archive} >= {"Deployment", "Service"}


# -- the live check, against an index served over HTTP ---------------------------------------


@pytest.fixture
def served_indexes(tmp_path: Path) -> Iterator[str]:
    """The shared index snapshots served over HTTP as each repository's index.yaml."""
    for repo, name in charts.INDEX_SNAPSHOTS.items():
        folder = tmp_path / repo.split("//")[1].rstrip("/")
        folder.mkdir(parents=True)
        (folder / "index.yaml").write_bytes((charts.shared_charts_dir() / "index" / name).read_bytes())

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def _served(base: str, **changes: dict) -> dict:
    pins = {k: p for k, p in CHART_PINS.items() if p.repo in charts.INDEX_SNAPSHOTS}
    return {k: dataclasses.replace(p, repo=base + p.repo.split("//")[1], **changes.get(k, {})) for k, p in pins.items()}


def test_check_pins_reads_each_live_index_once_and_finds_every_pin(served_indexes: str) -> None:
    findings, errors = check_pins.check(_served(served_indexes))
    assert errors == [] and [f["chart"] for f in findings if f["ok"]] == ["kubescape-operator", "snyk-monitor", "falco", "falcosidekick"]


def test_check_pins_reports_an_unpublished_pin_and_an_unreachable_repository(served_indexes: str) -> None:
    pins = _served(served_indexes, snyk={"version": "2.22.15"})
    pins["kyverno"] = dataclasses.replace(CHART_PINS["kyverno"], repo=served_indexes + "no-such-repo/")
    findings, errors = check_pins.check(pins)
    (bad,) = [f for f in findings if not f["ok"]]
    assert bad["chart"] == "snyk-monitor" and "snyk-monitor 2.22.15: not published" in bad["problems"][0]
    assert len(errors) == 1 and "no-such-repo/index.yaml: HTTP Error 404" in errors[0]


def test_check_pins_command_on_the_snapshots(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_pins.main(["--index-dir", str(charts.shared_charts_dir() / "index")]) == check_pins.EXIT_OK
    out = capsys.readouterr().out
    assert "ok  falco 9.1.0 (https://falcosecurity.github.io/charts)" in out
    assert "--  kyverno 3.9.1" in out and "not checked: no index snapshot" in out


def test_check_pins_json_is_the_tools_envelope(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_pins.main(["--index-dir", str(charts.shared_charts_dir() / "index"), "--json"]) == check_pins.EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert list(report) == ["command", "status", "exit_code", "stacks", "findings"]
    assert (report["command"], report["status"], report["exit_code"], report["stacks"]) == ("check_pins", "passed", 0, [])
    assert {f["chart"] for f in report["findings"]} >= {"falco", "kyverno"} and all(f["ok"] for f in report["findings"])
