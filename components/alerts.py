"""Security findings to Slack: the Alerts component builds the in-cluster notifier.

The notifier is an add-on of plain manifests (components/addons/notifier.py describes it: why a
notifier of our own, what it may read and reach); this component puts it in its managed namespace
when a Slack webhook is configured, and warns when none is.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from hardened_doks.addon import namespace_objects
from hardened_doks.addons import enabled
from hardened_doks.config import NAMESPACE, StackConfig
from hardened_doks.kube import create
from hardened_doks.namespaces import ManagedNamespace


class Alerts(pulumi.ComponentResource):
    """The notifier, when a Slack webhook is configured (else findings stay in the cluster, and a warning says so)."""

    def __init__(self, name: str, config: StackConfig, provider: pulumi.ProviderResource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:kubernetes:Alerts", name, None, opts)
        self.resources: list[pulumi.Resource] = []
        addons = enabled(config, "alerts")
        if not addons:
            if config.slack_webhook_url is None:
                pulumi.log.warn(
                    f"{NAMESPACE}:slack_webhook_url is not set: scanner findings stay in the cluster (docs/scanners.md, "
                    "\"Where findings appear\"); set it with `pulumi config set --secret slack_webhook_url https://hooks.slack.com/...`",
                    self,
                )
            self.register_outputs({"notifier": False})
            return
        for addon in addons:
            namespace = ManagedNamespace(
                f"{name}-namespace", provider, namespace_objects(config, addon), skip_await=config.skip_await, opts=pulumi.ResourceOptions(parent=self)
            )
            manifests = [*addon.network_policies(config), *addon.extra_objects(config)]
            self.resources += [create(o, self, provider, depends_on=[namespace], skip_await=config.skip_await) for o in manifests]
        self.register_outputs({"notifier": True})
