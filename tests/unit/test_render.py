"""The offline render command, for every shipped stack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.unit.envelope import check_envelope
from tests.unit.rendered import documents
from hardened_doks.tools import render
from hardened_doks.tools.offline import SECRET_PLACEHOLDER, run_stack
from tests.unit.kubeconfig import kubeconfig


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_render_writes_every_resource_once(stack: str, tmp_path: Path, run_of) -> None:
    assert render.main(["--stack", stack, "--out", str(tmp_path)]) == 0
    index = json.loads((tmp_path / "index.json").read_text())
    run = run_of(stack)
    expected = [r for r in run.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    assert sorted(e["name"] for e in index) == sorted(r.name for r in expected)
    for entry in index:
        path = tmp_path / entry["file"]
        assert path.is_file()
        if path.suffix == ".yaml":
            documents = list(yaml.safe_load_all(path.read_text()))
            assert len(documents) == 1, f"{path} holds {len(documents)} objects"
            assert {"apiVersion", "kind", "metadata"} <= set(documents[0])
        elif entry["type"] == render.HELM_RELEASE:
            document = json.loads(path.read_text())
            assert {"chart", "namespace", "values"} <= set(document), "a Helm release is written as its inputs"
        else:
            document = json.loads(path.read_text())
            assert document["type"] == entry["type"] and "inputs" in document
    cluster = next(e for e in index if e["type"].endswith(":KubernetesCluster"))
    inputs = json.loads((tmp_path / cluster["file"]).read_text())["inputs"]
    assert isinstance(inputs["nodePool"]["minNodes"], int), "wire floats are written back as integers"


def test_render_masks_secrets(tmp_path: Path) -> None:
    run = run_stack("dev", secret_overrides={"existing_cluster_kubeconfig": kubeconfig(token="hunter2")}, overrides={"existing_cluster_name": "legacy"})
    render.render(run, tmp_path)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert "hunter2" not in path.read_text(), path


def test_render_unknown_stack_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert render.main(["--stack", "qa", "--out", str(tmp_path)]) == 2
    assert "known stacks: dev, prod, staging" in capsys.readouterr().err


def test_render_bad_config_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    (stacks / "Pulumi.prod.yaml").write_text("config:\n  hardened-doks:api_allowlist: ['0.0.0.0/0']\n")
    monkeypatch.setattr("hardened_doks.tools.offline.STACKS_DIR", stacks)
    monkeypatch.setattr("hardened_doks.tools.cli.stack_names", lambda: ["prod"])
    import hardened_doks.tools.offline

    monkeypatch.setattr(hardened_doks.tools.offline.read_stack_file, "__defaults__", (stacks,))
    assert render.main(["--stack", "prod", "--out", str(tmp_path / "out")]) == 2
    assert "hardened-doks:api_allowlist" in capsys.readouterr().err
    assert SECRET_PLACEHOLDER == "[secret]"


def test_render_is_deterministic_named_by_what_each_object_is_and_indexed_in_apply_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    render.render(run_stack("staging"), first)
    render.render(run_stack("staging"), second)
    files = sorted(p.relative_to(first).as_posix() for p in (first / "kubernetes").rglob("*.yaml"))
    assert files == sorted(p.relative_to(second).as_posix() for p in (second / "kubernetes").rglob("*.yaml"))
    for name in files:
        assert (first / name).read_text() == (second / name).read_text()
        document = yaml.safe_load((first / name).read_text())
        metadata = document["metadata"]
        # No position in a name: <namespace or _cluster>/<kind>-<name>.yaml, keys sorted.
        slug = re.sub(r"[^a-z0-9.-]+", "-", metadata["name"])  # hardened-doks:auditor → hardened-doks-auditor
        assert name == f"kubernetes/{metadata.get('namespace', '_cluster')}/{document['kind'].lower()}-{slug}.yaml", name
        assert list(document) == sorted(document) and list(metadata) == sorted(metadata), name
    index = json.loads((first / "index.json").read_text())
    kinds = [yaml.safe_load((first / e["file"]).read_text())["kind"] for e in index if e["file"].startswith("kubernetes/")]
    assert kinds.index("Namespace") == 0 and max(i for i, k in enumerate(kinds) if k == "Namespace") < kinds.index("NetworkPolicy")


def test_objects_that_would_share_a_file_are_told_apart_by_their_api_group_or_refused() -> None:
    objects = [
        ("kyverno.io/v1", "Policy", "payments", "p"),
        ("policy/v1", "Policy", "payments", "p"),
        ("v1", "ConfigMap", "", "c"),
        ("v1", "ConfigMap", "storefront", "c"),
    ]
    assert render.unique_files(objects) == [
        "payments/policy.kyverno.io-p.yaml",
        "payments/policy.policy-p.yaml",
        "_cluster/configmap-c.yaml",
        "storefront/configmap-c.yaml",
    ]
    with pytest.raises(render.RenderError, match="2 objects would be written to payments/secret.core-a-b.yaml: v1 Secret payments/a_b; v1 Secret payments/a-b"):
        render.unique_files([("v1", "Secret", "payments", "a_b"), ("v1", "Secret", "payments", "a-b")])


def test_render_writes_each_charts_objects_beside_its_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(["--stack", "prod", "--out", str(tmp_path), "--offline"]) == 0
    assert "chart objects" in capsys.readouterr().out
    helm = tmp_path / "helm"
    releases = sorted(p.stem for p in helm.glob("*.json"))
    assert releases == sorted(p.name for p in helm.iterdir() if p.is_dir()), "one folder of objects beside each release"
    for folder in (p for p in helm.iterdir() if p.is_dir()):
        files = sorted(folder.rglob("*.yaml"))
        assert files, folder
        for path in files:
            (document,) = documents([path])  # parsed once per content in the session (the CRDs are megabytes)
            assert {"apiVersion", "kind", "metadata"} <= set(document), path
    kyverno = documents(sorted((helm / "hardened-doks-admission-kyverno").glob("*/deployment-*.yaml")))
    assert len(kyverno) >= 3, "the admission, background, cleanup and reports controllers"
    assert {d["metadata"]["namespace"] for d in kyverno} == {"kyverno"}


def test_render_without_charts_needs_no_helm(tmp_path: Path) -> None:
    assert render.main(["--stack", "dev", "--out", str(tmp_path), "--no-charts"]) == 0
    assert not [p for p in (tmp_path / "helm").iterdir() if p.is_dir()]


def test_a_chart_without_a_local_copy_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HARDENED_DOKS_CHARTS", str(tmp_path / "empty"))
    assert render.main(["--stack", "dev", "--out", str(tmp_path / "out"), "--offline"]) == 2
    assert "no local copy of chart kubescape-operator 1.40.3" in capsys.readouterr().err


def test_render_json_envelope(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render.main(["--stack", "dev", "--out", str(tmp_path / "dev"), "--no-charts", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    dev = check_envelope(report, "render", ["dev"], 0, "rendered")["dev"]
    assert dev["resources"] == len(json.loads((tmp_path / "dev" / "index.json").read_text())) and report["findings"] == []
    assert render.main(["--stack", "qa", "--out", str(tmp_path / "qa"), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    check_envelope(report, "render", ["qa"], 2, "error")
    assert "known stacks: dev, prod, staging" in report["findings"][0]["message"]


def test_a_charts_objects_that_would_share_a_file_get_their_api_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_of) -> None:
    manifests = [
        ("Policy", "kyverno", "p", "apiVersion: kyverno.io/v1\nkind: Policy\nmetadata: {name: p, namespace: kyverno}\n"),
        ("Policy", "kyverno", "p", "apiVersion: wgpolicyk8s.io/v1alpha2\nkind: Policy\nmetadata: {name: p, namespace: kyverno}\n"),
        ("ConfigMap", "kyverno", "c", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: kyverno}\n"),
    ]
    monkeypatch.setattr(render, "release_manifests", lambda *args, **kwargs: manifests)
    release = next(iter(run_of("dev").of_type(render.HELM_RELEASE)))
    files = render.chart_files(release, tmp_path, "1.34.0")
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [
        "kyverno/configmap-c.yaml", "kyverno/policy.kyverno.io-p.yaml", "kyverno/policy.wgpolicyk8s.io-p.yaml",
    ]
    assert "wgpolicyk8s.io" in (tmp_path / "kyverno" / "policy.wgpolicyk8s.io-p.yaml").read_text()
