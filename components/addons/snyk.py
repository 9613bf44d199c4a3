"""The Snyk monitor: a SaaS agent, installed only with its secret integration id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from hardened_doks.addon import POD_SECURITY, Addon, Workload, scheduling, with_digests
from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.config import StackConfig
from hardened_doks.kube import secret
from hardened_doks.network_policies import kube_apiserver_access, public_https_egress

SNYK_NAMESPACE = "snyk-monitor"
#: The Snyk monitor Helm chart, pinned to a version its repository published (docs/scanners.md, "Where the
#: charts come from, what the tests render, and how to bump a pin"); tests/unit/test_chart_pins.py checks it.
# The snyk-monitor chart declares no appVersion; its image tag is the chart version.
CHART = ChartPin("snyk-monitor", "2.23.8", "", "https://snyk.github.io/kubernetes-monitor/", digest="4a7ca0f58084b5d86b12301cd0a3db6fdb757563199946b483b57fcbc153d415")
#: The image the pinned chart runs, and the value naming it.
CHART_IMAGES: tuple[PinnedImage, ...] = (PinnedImage("docker.io/snyk/kubernetes-monitor:2.23.8", ("image", "tag")),)
SNYK_SECRET = "snyk-monitor"
#: The user and group the snyk/kubernetes-monitor image is built to run as (its Dockerfile: USER 10001:10001).
SNYK_UID = 10001


def snyk_values(config: StackConfig) -> dict[str, Any]:
    """The snyk-monitor chart values (its credentials are in the Secret snyk_secret() builds)."""
    placed = scheduling(config)
    values: dict[str, Any] = {
        "clusterName": config.name,
        # The Secret built from secret config (integration id, service account token, dockercfg).
        "monitorSecrets": SNYK_SECRET,
        "scope": "Cluster",
        # Snyk's default upload endpoint; the monitor is a SaaS agent and is installed only when
        # configured (scanners.snyk.enabled with the secret integration id).
        "integrationApi": "",
        "requests": {"cpu": "100m", "memory": "400Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
        # Pod Security Standards restricted: the chart's init container (busybox:latest, runAsNonRoot
        # false, only a `chmod` of the scratch volume) is refused by restricted admission and runs a
        # floating tag. Off: the scratch volume is an emptyDir, writable by any user, and fsGroup
        # gives it the monitor's group.
        "initContainers": {"enabled": False},
        # Restricted: non-root (the image's own 10001:10001, never group 0), RuntimeDefault seccomp.
        "podSecurityContext": {**POD_SECURITY, "runAsUser": SNYK_UID, "runAsGroup": SNYK_UID, "fsGroup": SNYK_UID},
        # The chart's tag is the pinned version (digest: addon_image_digests); pulled once per node.
        "image": {"pullPolicy": "IfNotPresent"},
        "temporaryStorageSize": "10Gi",
        "skip_k8s_jobs": True,
        # The chart's own NetworkPolicy allows all egress (`egress: [{}]`), which would add to the
        # namespace's default-deny: off; the stack writes exactly the monitor's paths (NSA/CISA).
        "networkPolicy": {"enabled": False},
        **placed,
    }
    return with_digests(config, CHART_IMAGES, values)


def snyk_secret(config: StackConfig) -> dict[str, Any]:
    """The Snyk monitor's Secret, every value a secret Output (never plain in state or renders)."""
    assert config.snyk_integration_id is not None and config.snyk_service_account_token is not None
    dockercfg = config.secret_input("snyk_dockercfg") if config.snyk_dockercfg is not None else pulumi.Output.secret("{}")
    return secret(
        SNYK_SECRET,
        SNYK_NAMESPACE,
        {
            "integrationId": config.secret_input("snyk_integration_id"),
            "serviceAccountApiToken": config.secret_input("snyk_service_account_token"),
            "dockercfg.json": dockercfg,
        },
    )


def network_policies(config: StackConfig) -> list[dict[str, Any]]:
    """The API server, and HTTPS to Snyk and the image registries; nothing more."""
    return [kube_apiserver_access("snyk-kube-apiserver", SNYK_NAMESPACE), public_https_egress("snyk-https-egress", SNYK_NAMESPACE, {})]


def workloads(config: StackConfig, values: Mapping[str, Any], nodes: int) -> list[Workload]:
    return [Workload("monitor", "Deployment", 1, values["requests"])]


ADDON = Addon(
    key="snyk",
    namespace=SNYK_NAMESPACE,
    layer="scanners",
    order=30,
    enabled=lambda config: config.scanners.snyk.enabled,
    images=lambda config: ("snyk/*", "docker.io/snyk/*"),
    network_policies=network_policies,
    workloads=workloads,
    release="snyk-monitor",
    chart=CHART,
    pinned_images=CHART_IMAGES,
    chart_path_key="scanners.snyk.chart_path",
    values=snyk_values,
    extra_objects=lambda config: [snyk_secret(config)],
)
