"""The add-on descriptors (components/addons/): one module per add-on is all the stack needs."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import hardened_doks.addons
from hardened_doks.addon import Addon, Workload, release_args
from hardened_doks.addons import ADDONS, POD_SECURITY_EXEMPTIONS, addon_images, discover, enabled
from hardened_doks.addons.notifier import REPORTS
from hardened_doks.addons import ADDON_NAMESPACES
from hardened_doks.chart_pin import ChartPin
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
    # The lists of add-on facts are derived from the descriptors, in their order.
    assert [a.namespace for a in ADDONS] == list(ADDON_NAMESPACES)


def test_the_config_and_other_components_name_no_addon() -> None:
    # The add-on facts live in their descriptors: no chart repository, pinned image or namespace of an
    # add-on is spelled out in the config package or a component outside components/addons/. (Names
    # an add-on's key shares, such as "falco", are its config section's and its reports' too.)
    names = {a.key for a in ADDONS} | {a.chart.name for a in ADDONS if a.chart}
    facts = {a.chart.repo for a in ADDONS if a.chart} | {i.reference for a in ADDONS for i in a.pinned_images} | ({a.namespace for a in ADDONS} - names)
    assert {"trivy-system", "security-alerts", "https://kyverno.github.io/kyverno/"} <= facts
    for path in [*(COMPONENTS_DIR / "config").glob("*.py"), *COMPONENTS_DIR.glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in facts:
                raise AssertionError(f"{path.relative_to(COMPONENTS_DIR)}:{node.lineno} names an add-on's fact {node.value!r}")


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


#: A new add-on exactly as a maintainer would add it: one module, nothing else.
NEW_MODULE = """
from hardened_doks.addon import Addon, Workload, with_digests
from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.kube import resources
from hardened_doks.network_policies import public_https_egress

NEW_NAMESPACE = "new-scanner"
CHART = ChartPin("new-scanner", "2.0.1", "2.0.1", "https://charts.example.com/")
CHART_IMAGES = (PinnedImage("registry.example.com/new/agent:2.0.1", ("image", "tag")),)


def values(config):
    return with_digests(config, CHART_IMAGES, {"image": {"tag": "2.0.1"}, "replicas": 1, "resources": resources("20m", "32Mi", "100m", "64Mi")})


def workloads(config, values, nodes):
    return [Workload("agent", "Deployment", values["replicas"], values["resources"]["requests"])]


ADDON = Addon(key="new", namespace=NEW_NAMESPACE, layer="scanners", order=98, enabled=lambda config: True, release="new-scanner", values=values,
    images=lambda config: ("registry.example.com/new/*",), chart=CHART, pinned_images=CHART_IMAGES, workloads=workloads,
    network_policies=lambda config: [public_https_egress("new-https-egress", NEW_NAMESPACE, {})])
"""

#: Run in a fresh interpreter whose add-on package also searches a temporary folder holding NEW_MODULE:
#: what the registry, the config, the program and the tools then see, as JSON.
PROBE = """
import importlib.util, json, sys
from pathlib import Path

import hardened_doks

init = Path(hardened_doks.__file__).parent / "addons" / "__init__.py"
spec = importlib.util.spec_from_file_location("hardened_doks.addons", init, submodule_search_locations=[str(init.parent), sys.argv[1]])
package = importlib.util.module_from_spec(spec)
sys.modules["hardened_doks.addons"] = package
hardened_doks.addons = package
spec.loader.exec_module(package)

from hardened_doks.config import ConfigError
from hardened_doks.tools import budget, charts, image_digests
from hardened_doks.tools.offline import run_stack
from tests.unit.manifests import helm_release, named
from tests.unit.test_budget import _config

digest = "sha256:" + "a" * 64
found = {
    "namespaces": package.ADDON_NAMESPACES,
    "scanner_namespaces": package.SCANNER_NAMESPACES,
    "pins": {k: [p.name, p.version] for k, p in package.CHART_PINS.items()},
    "images": [[i.addon, i.reference] for i in package.PINNED_IMAGES],
    "pin_for": charts.pin_for("new-scanner", "2.0.1")[0],
    "references": image_digests.references(),
    "budget": [[i.addon, i.component, i.count, i.cpu_m] for i in budget.items(_config("dev"), 3)],
}
try:
    run_stack("dev", {"teams": [{"name": "shop", "namespaces": ["new-scanner"]}]})
except ConfigError as error:
    found["tenant_refused"] = str(error)
try:
    run_stack("dev", {"addon_image_digests": {"registry.example.com/new/other:1": digest}})
except ConfigError as error:
    found["unknown_image_refused"] = str(error)
run = run_stack("prod", {"addon_image_digests": {"registry.example.com/new/agent:2.0.1": digest}})
release = helm_release(run, "new-scanner")
found["release"] = [release["chart"], release["version"], release["namespace"], release["values"]["image"]["tag"]]
found["namespace_enforce"] = named(run, "Namespace", "new-scanner")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
found["egress"] = bool(named(run, "NetworkPolicy", "new-https-egress", "new-scanner"))
found["addon_images_policy"] = str(named(run, "ValidatingAdmissionPolicy", "restrict-addon-images")["spec"])
found["scanner_policy"] = str(named(run, "ValidatingAdmissionPolicy", "restrict-scanner-workloads")["spec"])
found["signatures_exclude"] = named(run, "ClusterPolicy", "verify-image-signatures")["spec"]["rules"][0]["exclude"]["any"][0]["resources"]["namespaces"]
print(json.dumps(found))
"""


def test_a_new_addon_is_one_new_module_and_nothing_else(tmp_path: Path) -> None:
    # A real module file, found by the registry like the seven: every list of add-on facts, the
    # config's checks, the program and the tools take it in, with no edit anywhere else.
    (tmp_path / "new_scanner.py").write_text(textwrap.dedent(NEW_MODULE))
    probe = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, cwd=COMPONENTS_DIR.parent, check=False)
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout.splitlines()[-1])
    assert found["namespaces"][-1] == "new-scanner" and "new-scanner" in found["scanner_namespaces"]
    assert found["pins"]["new"] == ["new-scanner", "2.0.1"] and found["pin_for"] == "new"
    assert ["new", "registry.example.com/new/agent:2.0.1"] in found["images"] and "registry.example.com/new/agent:2.0.1" in found["references"]
    assert ["new", "agent", 1, 20] in found["budget"]
    # The config: its namespace is reserved from tenants; a digest must name one of its chart's images.
    assert "teams[0].namespaces" in found["tenant_refused"] and "reserved" in found["tenant_refused"]
    assert "registry.example.com/new/other:1" in found["unknown_image_refused"] and "not an image of the pinned charts" in found["unknown_image_refused"]
    # The program: its release by digest in its own restricted namespace with its egress, and the admission rules for it.
    assert found["release"] == ["new-scanner", "2.0.1", "new-scanner", "2.0.1@sha256:" + "a" * 64]
    assert found["namespace_enforce"] == "restricted" and found["egress"]
    assert "'new-scanner': ['^registry" in found["addon_images_policy"] and "com/new/.*$']" in found["addon_images_policy"]
    assert "'system:serviceaccount:new-scanner:'" in found["scanner_policy"] and "new-scanner" in found["signatures_exclude"]
