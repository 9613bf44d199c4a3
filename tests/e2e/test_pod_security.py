"""Pod Security admission, live: in every restricted namespace a privileged pod and a root pod
are rejected and a compliant pod is admitted (server-side dry run: nothing is stored)."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from hardened_doks.addons import POD_SECURITY_EXEMPTIONS, addon_images
from tests.e2e.controlplane import LocalControlPlane

IMAGE = "registry.digitalocean.com/hardened-doks/app@sha256:" + "a" * 64

COMPLIANT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "e2e-compliant"},
    "spec": {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "image": IMAGE,
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    },
}


def privileged() -> dict[str, Any]:
    pod = copy.deepcopy(COMPLIANT)
    pod["metadata"]["name"] = "e2e-privileged"
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    return pod


def root() -> dict[str, Any]:
    pod = copy.deepcopy(COMPLIANT)
    pod["metadata"]["name"] = "e2e-root"
    pod["spec"]["securityContext"] = {"runAsNonRoot": False, "runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}
    return pod


def host_namespaces() -> dict[str, Any]:
    pod = copy.deepcopy(COMPLIANT)
    pod["metadata"]["name"] = "e2e-host"
    pod["spec"]["hostNetwork"] = True
    return pod


def dry_run(control_plane: LocalControlPlane, namespace: str, pod: dict[str, Any]) -> Any:
    return control_plane.request("POST", f"/api/v1/namespaces/{namespace}/pods", params={"dryRun": "All"}, json=pod)


@pytest.fixture(scope="module")
def restricted(managed_namespaces: dict[str, Any]) -> list[str]:
    names = [n for n, ns in managed_namespaces.items() if ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted"]
    # The prod profile enforces restricted everywhere but the documented exemption (Falco's node agent).
    assert set(managed_namespaces) - set(names) == set(POD_SECURITY_EXEMPTIONS), sorted(set(managed_namespaces) - set(names))
    return names


@pytest.mark.parametrize("make_pod", [privileged, root, host_namespaces], ids=["privileged", "root", "host-network"])
def test_unsafe_pods_are_rejected_in_every_restricted_namespace(
    control_plane: LocalControlPlane, restricted: list[str], make_pod: Any, live_checks: Counter[str]
) -> None:
    for namespace in restricted:
        response = dry_run(control_plane, namespace, make_pod())
        live_checks["admission decisions"] += 1
        assert response.status_code == 403, (namespace, response.status_code, response.text[:300])
        assert "violates PodSecurity" in response.json()["message"], namespace


def admitted_image(namespace: str, config: Any) -> str:
    """An image the stack's admission policies admit in ``namespace``: the tenants' registry, or
    one of the add-on's chart repositories (restrict-addon-images)."""
    patterns = addon_images(config).get(namespace)
    return IMAGE if patterns is None else patterns[0].replace("*", "e2e:1.0")


def test_a_compliant_pod_is_admitted_in_every_restricted_namespace(
    control_plane: LocalControlPlane, restricted: list[str], e2e_config: Any, live_checks: Counter[str]
) -> None:
    for namespace in restricted:
        pod = copy.deepcopy(COMPLIANT)
        pod["spec"]["containers"][0]["image"] = admitted_image(namespace, e2e_config)
        response = dry_run(control_plane, namespace, pod)
        live_checks["admission decisions"] += 1
        assert response.status_code == 201, (namespace, response.text[:500])
        volumes = [v["name"] for v in response.json()["spec"].get("volumes", [])]
        # The default ServiceAccount says automountServiceAccountToken: false (CIS 5.1.6), so
        # ServiceAccount admission injected no API token volume.
        assert not [v for v in volumes if v.startswith("kube-api-access")], (namespace, volumes)
