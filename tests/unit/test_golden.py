"""The committed golden renders (tests/golden/<stack>) are what the program renders today.

A change of the program's output — a stack's own object, a DigitalOcean input, a Helm release's
values, or any object a chart installs — fails here until `make golden` rewrites them, so the pull
request shows the change as a diff of real manifests (docs/render.md, "Golden renders").
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.unit.rendered import STACKS, variant
from hardened_doks.tools import render


def _committed(stack: str) -> dict[str, str]:
    folder = render.GOLDEN_DIR / stack
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("stack", STACKS)
def test_the_golden_render_is_what_the_program_renders(stack: str) -> None:
    committed, rendered = _committed(stack), render.golden_files(variant(stack).out)
    missing, extra = sorted(set(rendered) - set(committed)), sorted(set(committed) - set(rendered))
    changed = sorted(f for f in set(rendered) & set(committed) if rendered[f] != committed[f])
    assert not (missing or extra or changed), (
        f"tests/golden/{stack} is not what the program renders: new {missing[:5]}, gone {extra[:5]}, changed {changed[:5]}; "
        "review the change and run `make golden`"
    )


def test_every_shipped_stack_has_a_golden_render_and_nothing_else_does() -> None:
    assert sorted(d.name for d in render.GOLDEN_DIR.iterdir()) == sorted(STACKS)


def test_a_change_inside_a_chart_changes_its_golden_summary(tmp_path: Path) -> None:
    out = tmp_path / "dev"
    shutil.copytree(variant("dev").out, out)
    before = render.golden_files(out)
    deployment = next((out / "helm" / "hardened-doks-admission-kyverno" / "kyverno").glob("deployment-*.yaml"))
    document = yaml.safe_load(deployment.read_text())
    document["spec"]["replicas"] = 7
    deployment.write_text(yaml.safe_dump(document, sort_keys=True))
    after = render.golden_files(out)
    assert [f for f in before if before[f] != after[f]] == ["helm/hardened-doks-admission-kyverno.objects"]


def test_generated_certificates_and_secret_values_do_not_enter_the_summary() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"}, "data": {"tls.key": "a2V5"}}
    webhook = {"kind": "APIService", "spec": {"caBundle": "Y2E=", "service": {"name": "s"}}}
    assert render.canonical_sha256(secret) == render.canonical_sha256({**secret, "data": {"tls.key": "b3RoZXI="}})
    assert render.canonical_sha256(secret) != render.canonical_sha256({**secret, "data": {"ca.crt": "a2V5"}}), "the keys still count"
    assert render.canonical_sha256(webhook) == render.canonical_sha256({**webhook, "spec": {"caBundle": "b3RoZXI=", "service": {"name": "s"}}})
    assert render.canonical_sha256(webhook) != render.canonical_sha256({**webhook, "spec": {"caBundle": "Y2E=", "service": {"name": "t"}}})


@pytest.mark.parametrize("stack", STACKS)
def test_golden_renders_hold_no_secret_and_nothing_of_this_machine(stack: str) -> None:
    for name, text in _committed(stack).items():
        assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text, name
        for local in (str(render.PROJECT_DIR), str(Path.home()), "/tmp/"):
            assert local not in text, f"{name} holds {local}"
        if name.startswith("kubernetes/") and "/secret-" in name:
            data = yaml.safe_load(text)
            for field in ("data", "stringData"):
                value = data.get(field, render.SECRET_PLACEHOLDER)
                assert value == render.SECRET_PLACEHOLDER or set(value.values()) == {render.SECRET_PLACEHOLDER}, f"{name} {field}"
