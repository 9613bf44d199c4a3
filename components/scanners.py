"""In-cluster security scanners: Kubescape, Trivy, Snyk (when configured) and Falco (opt-in).

Each add-on is its official Helm chart through ``helm.v3.Release``, described by its own module in
``components/addons/`` (chart pin, values built by one pure function, network paths, extra objects,
images; every security-relevant value carries a comment naming the control it serves), in its own
managed namespace with the tenants' baseline (``hardened_doks.namespaces.baseline``: Pod Security
labels, ResourceQuota, LimitRange, default-deny ingress and egress, DNS, the default
ServiceAccount without a token) plus exactly the network paths it needs:

==============  =====================  ================================================================
add-on          namespace (enforce)    beyond default-deny + DNS
==============  =====================  ================================================================
Kubescape       kubescape (restricted) API server (Cilium entity), aggregated-API ingress on 8443 from
                                       the API server, the operator's ports inside the namespace,
                                       HTTPS to public addresses for the scanner (control library) and
                                       kubevuln (vulnerability DB, image registries)
Trivy           trivy-system (restr.)  API server, HTTPS to public addresses (trivy-db and checks from
                                       mirror.gcr.io, image registries for scan Jobs)
Snyk            snyk-monitor (restr.)  API server, HTTPS to public addresses (Snyk, image registries)
Falco           falco (privileged)     HTTPS to public addresses (falcoctl rule/plugin artifacts from
                                       ghcr.io), falcosidekick on 2801
falcosidekick   falcosidekick (restr.) ingress from Falco on 2801, HTTPS to public addresses (Slack)
==============  =====================  ================================================================

Only Falco's node agent runs below ``restricted``: see ``components/addons/falco.py`` (``EXEMPTION``).
Nothing is sent to a vendor unless configured: Kubescape's ``server`` and Trivy's
``webhookBroadcastURL`` stay empty; the Snyk monitor (a SaaS agent by design) is installed only
with its secret integration id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as kubernetes

from hardened_doks.addon import AddonInstall
from hardened_doks.kube import create
from hardened_doks.namespaces import ManagedNamespace


@dataclass(frozen=True)
class ScannersArgs:
    """What the Scanners component reads."""

    #: The enabled add-ons of the scanners layer, in install order, each with its Helm Release.
    addons: tuple[AddonInstall, ...]
    #: Do not wait for the objects to become ready (an API server without nodes).
    skip_await: bool = False


class Scanners(pulumi.ComponentResource):
    """The enabled scanners, each in its hardened namespace with exactly the network paths it needs."""

    def __init__(self, name: str, args: ScannersArgs, provider: pulumi.ProviderResource, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:kubernetes:Scanners", name, None, opts)
        self.namespaces: dict[str, ManagedNamespace] = {}
        self.releases: dict[str, kubernetes.helm.v3.Release] = {}
        skip_await = args.skip_await
        for addon in args.addons:
            assert addon.release is not None, f"{addon.key}: the scanners layer installs Helm charts"
            namespace = ManagedNamespace(
                f"{name}-{addon.namespace}", provider, list(addon.namespace_objects), skip_await=skip_await, opts=pulumi.ResourceOptions(parent=self)
            )
            self.namespaces[addon.namespace] = namespace
            depends: list[pulumi.Resource] = [namespace]
            depends += [
                create(o, self, provider, depends_on=[namespace], skip_await=skip_await, deleted_with=namespace.deletes(o))
                for o in (*addon.network_policies, *addon.extra_objects)
            ]
            self.releases[addon.key] = kubernetes.helm.v3.Release(
                f"{name}-{addon.release['name']}",
                **addon.release,
                opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=depends),
            )
        self.register_outputs({"addons": [a.key for a in args.addons]})

