"""Security findings to Slack: the Alerts component builds the in-cluster notifier.

The notifier is an add-on of plain manifests (components/addons/notifier.py describes it: why a
notifier of our own, what it may read and reach); this component puts it in its managed namespace
when a Slack webhook is configured, and warns when none is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi

from hardened_doks.addon import AddonInstall
from hardened_doks.config import NAMESPACE
from hardened_doks.kube import create
from hardened_doks.namespaces import ManagedNamespace


@dataclass(frozen=True)
class AlertsArgs:
    """What the Alerts component reads."""

    #: The enabled add-ons of the alerts layer (the notifier, when a webhook and a scanner are configured).
    addons: tuple[AddonInstall, ...]
    #: Whether a Slack webhook is configured (without one, a warning says where findings stay).
    slack_webhook_set: bool
    #: Do not wait for the objects to become ready (an API server without nodes).
    skip_await: bool = False


class Alerts(pulumi.ComponentResource):
    """The notifier, when a Slack webhook is configured (else findings stay in the cluster, and a warning says so)."""

    def __init__(self, name: str, args: AlertsArgs, provider: pulumi.ProviderResource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:kubernetes:Alerts", name, None, opts)
        self.resources: list[pulumi.Resource] = []
        if not args.addons:
            if not args.slack_webhook_set:
                pulumi.log.warn(
                    f"{NAMESPACE}:slack_webhook_url is not set: scanner findings stay in the cluster (docs/scanners.md, "
                    "\"Where findings appear\"); set it with `pulumi config set --secret slack_webhook_url https://hooks.slack.com/...`",
                    self,
                )
            self.register_outputs({"notifier": False})
            return
        for addon in args.addons:
            namespace = ManagedNamespace(
                f"{name}-namespace", provider, list(addon.namespace_objects), skip_await=args.skip_await, opts=pulumi.ResourceOptions(parent=self)
            )
            manifests = [*addon.network_policies, *addon.extra_objects]
            self.resources += [create(o, self, provider, depends_on=[namespace], skip_await=args.skip_await, deleted_with=namespace.deletes(o)) for o in manifests]
        self.register_outputs({"notifier": True})
