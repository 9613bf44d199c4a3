"""The add-on descriptors (components/addons/): one module per add-on is all the stack needs."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import hardened_doks.addons
from hardened_doks.addon import Addon, Workload, release_args
from hardened_doks.addons import ADDONS, POD_SECURITY_EXEMPTIONS, addon_images, discover, enabled
from hardened_doks.addons.notifier import REPORTS
from hardened_doks.config import ADDON_NAMESPACES, ChartPin
from hardened_doks.kube import metadata, resources
from hardened_doks.network_policies import public_https_egress
from hardened_doks import notifier
from tests.unit.manifests import helm_release, named
from tests.unit.test_budget import _config
from hardened_doks.tools import budget
from hardened_doks.tools.offline import run_stack

ADDONS_DIR = Path(hardened_doks.addons.__file__).parent
COMPONENTS_DIR = ADDONS_DIR.parent

EXAMPLE = Addon(
    key="example",
    namespace="example-scanner",
    layer="scanners",
    order=99,
    enabled=lambda config: True,
    images=lambda config: ("registry.example.com/scanner/*",),
    network_policies=lambda config: [public_https_egress("example-https-egress", "example-scanner", {})],
    workloads=lambda config, values, nodes: [Workload("scanner", "Deployment", values["replicas"], values["resources"]["requests"])],
    release="example-scanner",
    chart=ChartPin("example-scanner", "1.2.3", "1.2.3", "https://charts.example.com/"),
    values=lambda config: {"replicas": 2, "resources": resources("50m", "64Mi", "100m", "128Mi")},
    extra_objects=lambda config: [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata("example-settings", "example-scanner"), "data": {"a": "b"}}],
)


def test_every_module_is_one_addon_found_without_a_list() -> None:
    modules = sorted(p.stem for p in ADDONS_DIR.glob("*.py") if p.stem != "__init__")
    assert len(ADDONS) == len(modules) == 7
    assert sorted(a.key for a in discover()) == sorted(a.key for a in ADDONS)
    assert len({a.key for a in ADDONS}) == len({a.namespace for a in ADDONS}) == 7
    # Every add-on namespace is reserved: no tenant may take it (components/config.py).
    assert [a.namespace for a in ADDONS] == list(ADDON_NAMESPACES)


def test_only_falco_is_exempt_and_an_exemption_needs_its_reason() -> None:
    assert list(POD_SECURITY_EXEMPTIONS) == ["falco"] and POD_SECURITY_EXEMPTIONS["falco"][0] == "privileged"
    with pytest.raises(ValueError, match="exemption reason"):
        dataclasses.replace(EXAMPLE, pod_security="privileged")
    with pytest.raises(ValueError, match="exemption reason"):
        dataclasses.replace(EXAMPLE, exemption="no reason to be here")


def test_no_module_outside_the_descriptors_names_an_addon_by_key() -> None:
    # No `if addon == "trivy"` chains: the components iterate over the descriptors.
    keys = {a.key for a in ADDONS}
    for path in [*COMPONENTS_DIR.glob("*.py"), Path(budget.__file__)]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(isinstance(c, ast.Constant) and c.value in keys for c in node.comparators):
                raise AssertionError(f"{path.name}:{node.lineno} compares with an add-on key")


def test_the_notifier_may_read_exactly_the_reports_it_reads() -> None:
    read = {(path.split("/")[2], path.split("/")[4]) for _, _, path, _ in notifier.SOURCES}
    granted = {(group, kind) for group, kinds in REPORTS.values() for kind in kinds}
    assert read == granted and len(read) == 8


def test_an_addon_is_one_descriptor(monkeypatch: pytest.MonkeyPatch) -> None:
    # A throwaway add-on, registered as a new module would be: the Scanners component installs it in
    # its own hardened namespace, the admission policies hold that namespace to its images and the
    # budget counts its pods; nothing else is edited.
    monkeypatch.setattr(hardened_doks.addons, "ADDONS", (*ADDONS, EXAMPLE))
    config = _config("dev")
    assert EXAMPLE in enabled(config, "scanners")
    assert addon_images(config)["example-scanner"] == ("registry.example.com/scanner/*",)
    # Its upstream images are not held to the stack's signing identity (restrict-addon-images instead).
    signatures = named(run_stack("prod"), "ClusterPolicy", "verify-image-signatures")
    assert "example-scanner" in signatures["spec"]["rules"][0]["exclude"]["any"][0]["resources"]["namespaces"]
    run = run_stack("dev")
    release = helm_release(run, "example-scanner")
    assert {k: release[k] for k in ("chart", "version", "namespace", "timeout")} == {
        "chart": "example-scanner", "version": "1.2.3", "namespace": "example-scanner", "timeout": 900,
    }  # fmt: skip
    assert release["repositoryOpts"] == {"repo": "https://charts.example.com/"} and release["values"]["replicas"] == 2
    namespace = named(run, "Namespace", "example-scanner")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for kind, name in [("NetworkPolicy", "default-deny"), ("NetworkPolicy", "example-https-egress"), ("ResourceQuota", "tenant-quota"), ("ConfigMap", "example-settings")]:
        named(run, kind, name, "example-scanner")
    addon_policy = named(run, "ValidatingAdmissionPolicy", "restrict-addon-images")
    assert "'example-scanner': ['^registry" in str(addon_policy["spec"])
    counted = [i for i in budget.items(config, 3) if i.addon == "example"]
    assert [(i.component, i.kind, i.count, i.cpu_m) for i in counted] == [("scanner", "Deployment", 2, 50)]
    assert release_args(config, EXAMPLE)["name"] == "example-scanner"
