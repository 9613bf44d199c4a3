"""Every image and OCI artifact the rendered charts run is one of PINNED_IMAGES (no floating tag),
and a digest configured in addon_image_digests reaches every place the chart names it."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardened_doks.config import ConfigError
from hardened_doks.addons import PINNED_IMAGES
from hardened_doks.addons.falco import FALCO_RULES
from tests.conftest import ALL_ADDONS, ALL_ADDONS_SECRETS
from tests.unit.rendered import ALL_RELEASES, VARIANTS, documents, pod_templates, variant
from hardened_doks.tools import image_digests, render
from hardened_doks.tools.offline import run_stack

PINNED = {image.reference for image in PINNED_IMAGES}


def references(docs: list[dict[str, Any]]) -> set[str]:
    """Every image a chart's pods run and every artifact its operators download (as rendered)."""
    found = {c["image"] for _, _, template in pod_templates(docs) for key in ("initContainers", "containers") for c in template["spec"].get(key) or []}
    for document in (d for d in docs if d["kind"] == "ConfigMap"):
        data = document.get("data") or {}
        if "trivy.repository" in data:  # the image of Trivy's scan Jobs
            found.add(f"{data['trivy.repository']}:{data['trivy.tag']}")
        if "policies.bundle.oci.ref" in data:  # Trivy's checks bundle
            found.add(data["policies.bundle.oci.ref"])
        if "falcoctl.yaml" in data:  # the rules and plugins falcoctl installs
            found |= set(yaml.safe_load(data["falcoctl.yaml"])["artifact"]["install"]["refs"])
    return {image_digests.normalize(r) for r in found}


@pytest.mark.parametrize("variant_name", list(VARIANTS))
def test_every_rendered_image_and_artifact_is_pinned(variant_name: str) -> None:
    for release, files in variant(variant_name).charts.items():
        unknown = references(documents(files)) - PINNED
        assert not unknown, f"{release} runs images the PINNED_IMAGES table does not list (a chart bump?): {sorted(unknown)}"


def test_every_pinned_image_is_run_by_some_variant() -> None:
    seen = set().union(*(references(documents(files)) for name in VARIANTS for files in variant(name).charts.values()))
    assert seen == PINNED, f"stale PINNED_IMAGES entries: {sorted(PINNED - seen)}"


def test_no_floating_rules_tag() -> None:
    # The falco chart's default `falco-rules:5` follows every 5.x release; the stack pins one.
    (falco,) = [files for name, files in variant("prod-all-addons").charts.items() if name == "falco"]
    refs = references(documents(falco))
    assert FALCO_RULES in refs and not any(r.endswith("falco-rules:5") for r in refs)


def _digest(reference: str) -> str:
    """A well-formed digest derived from the reference: test data, never a real image's digest."""
    return "sha256:" + hashlib.sha256(reference.encode()).hexdigest()


@functools.cache
def _with_digests(tmp: str) -> dict[str, list[Path]]:
    digests = {reference: _digest(reference) for reference in PINNED}
    run = run_stack("prod", {**ALL_ADDONS, "addon_image_digests": digests}, ALL_ADDONS_SECRETS)
    out = Path(tmp) / "digests"
    render.render(run, out, charts=True)
    return {d.name: sorted(d.rglob("*.yaml")) for d in (out / "helm").iterdir() if d.is_dir()}


def test_configured_digests_reach_every_image_and_artifact(tmp_path_factory: pytest.TempPathFactory) -> None:
    rendered = _with_digests(str(tmp_path_factory.mktemp("digests")))
    assert len(rendered) == len(ALL_RELEASES)
    by_name = {r.split("@")[0]: r for files in rendered.values() for r in references(documents(files))}
    assert set(by_name) == PINNED
    for reference, pinned in by_name.items():
        assert pinned == f"{reference}@{_digest(reference)}", pinned


@pytest.mark.parametrize(
    ("digests", "message"),
    [
        ({"quay.io/kubescape/kubescape:latest": "sha256:" + "0" * 64}, "'quay.io/kubescape/kubescape:latest' is not an image of the pinned charts; `make image-digests` lists them"),
        ({"quay.io/kubescape/kubescape:v4.0.11": "sha256:abc"}, "quay.io/kubescape/kubescape:v4.0.11: 'sha256:abc' is not a digest"),
    ],
    ids=["unknown-image", "malformed-digest"],
)
def test_a_bad_digest_is_refused_naming_the_key(digests: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match="hardened-doks:addon_image_digests: " + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        run_stack("dev", {"addon_image_digests": digests})
