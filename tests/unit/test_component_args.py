"""The in-cluster add-on layers (Admission, Scanners, Alerts) built from their typed args alone, with no
stack config: each can be used from any Pulumi program (components/stack.py maps the config onto them)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pulumi_kubernetes as kubernetes
import pytest

import hardened_doks
from hardened_doks.addon import AddonInstall
from hardened_doks.addons.kyverno import KYVERNO_IMAGES
from hardened_doks.admission import SIGNATURE_POLICY, Admission, AdmissionArgs
from hardened_doks.alerts import Alerts, AlertsArgs
from hardened_doks.config import Admission as AdmissionSettings
from hardened_doks.kube import metadata
from hardened_doks.namespaces import RESTRICTED, baseline
from hardened_doks.network_policies import public_https_egress
from hardened_doks.scanners import Scanners, ScannersArgs
from hardened_doks.tools.offline import ProgramRun, run_program
from tests.unit.manifests import helm_release, named, of_kind

COMPONENTS_DIR = Path(hardened_doks.__file__).parent
KEY = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"


def install(key: str, namespace: str, chart: str | None = None, **objects: Any) -> AddonInstall:
    """An add-on as a program of another project would describe it: plain manifests and Release arguments."""
    release = None
    if chart is not None:
        release = {"chart": chart, "version": "1.0.0", "repository_opts": {"repo": "https://charts.example.com/"}, "name": key,
                   "namespace": namespace, "create_namespace": False, "values": {"replicas": 1}, "skip_await": True}  # fmt: skip
    return AddonInstall(key, namespace, tuple(baseline(namespace, RESTRICTED, "v1.34", {"app.kubernetes.io/name": key})), release=release, **objects)


def run(build: Any) -> ProgramRun:
    def program() -> None:
        build(kubernetes.Provider("k8s", kubeconfig="{}"))

    return run_program("dev", {}, program=program)


@pytest.mark.parametrize("module", ["admission.py", "scanners.py", "alerts.py"])
def test_the_layer_reads_no_stack_config(module: str) -> None:
    # Neither the config nor the add-on registry: what the layer installs comes in its args.
    imports = [node for node in ast.walk(ast.parse((COMPONENTS_DIR / module).read_text())) if isinstance(node, ast.ImportFrom)]
    assert imports and "StackConfig" not in {alias.name for node in imports for alias in node.names}
    assert "hardened_doks.addons" not in {node.module for node in imports}


def test_scanners_from_their_args() -> None:
    egress = public_https_egress("example-https-egress", "example-scanner", {})
    settings = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata("example-settings", "example-scanner"), "data": {"a": "b"}}
    args = ScannersArgs(addons=(install("example", "example-scanner", "example-chart", network_policies=(egress,), extra_objects=(settings,)),), skip_await=True)
    result = run(lambda provider: Scanners("scanners", args, provider))
    release = helm_release(result, "example")
    assert (release["chart"], release["version"], release["namespace"], release["values"]) == ("example-chart", "1.0.0", "example-scanner", {"replicas": 1})
    assert named(result, "Namespace", "example-scanner")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for kind, name in [("NetworkPolicy", "default-deny"), ("NetworkPolicy", "example-https-egress"), ("ConfigMap", "example-settings")]:
        named(result, kind, name, "example-scanner")
    (component,) = result.of_type("hardened-doks:kubernetes:Scanners")
    assert [r.name for r in result.resources if r.parent == component.urn and r.type.endswith("Release")] == ["scanners-example"]


def test_alerts_from_their_args() -> None:
    job = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata("notifier", "alerts"), "automountServiceAccountToken": False}
    result = run(lambda provider: Alerts("alerts", AlertsArgs(addons=(install("alerts", "alerts", extra_objects=(job,)),), slack_webhook_set=True), provider))
    assert named(result, "ServiceAccount", "notifier", "alerts")["automountServiceAccountToken"] is False
    assert named(result, "Namespace", "alerts") and not result.of_type("kubernetes:helm.sh/v3:Release")
    # No notifier and no webhook: nothing but the component (and a warning where findings stay).
    empty = run(lambda provider: Alerts("alerts", AlertsArgs(addons=(), slack_webhook_set=False), provider))
    assert of_kind(empty, "Namespace") == []


def test_admission_from_its_args() -> None:
    args = AdmissionArgs(
        settings=AdmissionSettings(mode="Enforce", allowed_registries=["ghcr.io/acme"], cosign_public_key=KEY),
        engine=install("kyverno", "kyverno", "./charts/kyverno"),
        addon_images={"kyverno": KYVERNO_IMAGES, "example-scanner": ("registry.example.com/scanner/*",)},
        scanner_namespaces=("example-scanner",),
        environment="prod",
        skip_await=True,
    )
    result = run(lambda provider: Admission("admission", args, provider))
    assert helm_release(result, "kyverno")["chart"] == "./charts/kyverno"
    assert named(result, "Namespace", "kyverno")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert len(of_kind(result, "ValidatingAdmissionPolicy")) == len(of_kind(result, "ValidatingAdmissionPolicyBinding")) == 9
    # The args' registries, add-on allowlists and scanner namespaces are what the rules enforce.
    bindings = {b["metadata"]["name"]: b["spec"] for b in of_kind(result, "ValidatingAdmissionPolicyBinding")}
    assert bindings["restrict-addon-images"]["matchResources"]["namespaceSelector"]["matchExpressions"][0]["values"] == ["kyverno", "example-scanner"]
    assert bindings["restrict-image-registries"]["validationActions"] == ["Deny"]
    assert "'ghcr.io/acme/'" in str(named(result, "ValidatingAdmissionPolicy", "restrict-image-registries")["spec"])
    assert "'system:serviceaccount:example-scanner:'" in str(named(result, "ValidatingAdmissionPolicy", "restrict-scanner-workloads")["spec"])
    signatures = named(result, "ClusterPolicy", SIGNATURE_POLICY)["spec"]["rules"][0]
    assert signatures["exclude"]["any"][0]["resources"]["namespaces"] == ["kube-system", "kyverno", "example-scanner"]
    assert signatures["verifyImages"][0]["imageReferences"] == ["ghcr.io/acme/*"]
