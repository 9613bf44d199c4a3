"""falcosidekick: Falco's events to Slack (installed with Falco when a Slack webhook is configured)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hardened_doks.addon import CONTAINER_SECURITY, POD_SECURITY, Addon, Workload, from_namespace, scheduling, tcp, with_digests
from hardened_doks.addons.falco import FALCO_NAMESPACE, FALCO_PRIORITIES, FALCOSIDEKICK_NAMESPACE, FALCOSIDEKICK_PORT
from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.config import StackConfig
from hardened_doks.kube import resources, secret
from hardened_doks.namespaces import network_policy
from hardened_doks.network_policies import public_https_egress

FALCOSIDEKICK_SECRET = "falcosidekick-slack"
#: The falcosidekick Helm chart, pinned (docs/scanners.md, "Where the charts come from").
CHART = ChartPin("falcosidekick", "0.12.0", "2.31.1", "https://falcosecurity.github.io/charts", digest="ab1495091089fbcd214c5fa761215ae59817559c92c7497753ec395b5c289dbb")
#: The image the pinned chart runs, and the value naming it.
CHART_IMAGES: tuple[PinnedImage, ...] = (PinnedImage("docker.io/falcosecurity/falcosidekick:2.32.0", ("image", "tag")),)


def falcosidekick_values(config: StackConfig) -> dict[str, Any]:
    """The falcosidekick chart values; the Slack settings come from the Secret it names."""
    values: dict[str, Any] = {
        "replicaCount": 1,
        # Webhook URL and Slack settings as environment from a Secret built from secret config:
        # never in the values (state, rendered files).
        "config": {"existingSecret": FALCOSIDEKICK_SECRET},
        "webui": {"enabled": False},
        # Restricted: the image's own non-root user 1234 and its group (never group 0).
        "podSecurityContext": {**POD_SECURITY, "runAsUser": 1234, "runAsGroup": 1234, "fsGroup": 1234},
        "securityContext": CONTAINER_SECURITY,
        "resources": resources("10m", "32Mi", "100m", "128Mi"),
        **scheduling(config),
    }
    return with_digests(config, CHART_IMAGES, values)


def falcosidekick_secret(config: StackConfig) -> dict[str, Any]:
    """falcosidekick's Slack output settings; the webhook URL only as a secret Output."""
    assert config.slack_webhook_url is not None
    return secret(
        FALCOSIDEKICK_SECRET,
        FALCOSIDEKICK_NAMESPACE,
        {
            "SLACK_WEBHOOKURL": config.secret_input("slack_webhook_url"),
            # Falco events at or above the alert threshold go to Slack (alerts.min_severity).
            "SLACK_MINIMUMPRIORITY": FALCO_PRIORITIES[config.alerts.min_severity],
            "SLACK_OUTPUTFORMAT": "all",
        },
    )


def network_policies(config: StackConfig) -> list[dict[str, Any]]:
    """Falco's events in, Slack out; nothing more."""
    return [
        network_policy(
            "falcosidekick-from-falco",
            FALCOSIDEKICK_NAMESPACE,
            {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [from_namespace(FALCO_NAMESPACE)], "ports": [tcp(FALCOSIDEKICK_PORT)]}]},
        ),
        # Slack's webhook endpoint.
        public_https_egress("falcosidekick-https-egress", FALCOSIDEKICK_NAMESPACE, {}),
    ]


def workloads(config: StackConfig, values: Mapping[str, Any], nodes: int) -> list[Workload]:
    return [Workload("falcosidekick", "Deployment", values["replicaCount"], values["resources"]["requests"])]


ADDON = Addon(
    key="falcosidekick",
    namespace=FALCOSIDEKICK_NAMESPACE,
    layer="scanners",
    order=50,
    # Installed before Falco, which posts to it.
    install_order=40,
    enabled=lambda config: config.scanners.falco.enabled and config.slack_webhook_url is not None,
    images=lambda config: ("falcosecurity/*", "docker.io/falcosecurity/*"),
    network_policies=network_policies,
    workloads=workloads,
    release="falcosidekick",
    chart=CHART,
    pinned_images=CHART_IMAGES,
    chart_path_key="scanners.falco.sidekick_chart_path",
    values=falcosidekick_values,
    extra_objects=lambda config: [falcosidekick_secret(config)],
)
