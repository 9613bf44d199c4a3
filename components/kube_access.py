"""Kubernetes access that never goes stale.

DOKS kubeconfigs expire after seven days; a kubeconfig stored in Pulumi state then
breaks every later `pulumi up`, `preview --refresh` and `refresh`. The provider built
here holds no credential at all: its kubeconfig names the cluster's endpoint and CA and
an exec plugin (tools/kube_credentials.py, installed as ``hardened-doks-kube-credentials``)
that fetches a fresh one-hour token from the DigitalOcean API on every connection. The
provider's ``cluster_identifier`` is the cluster's id, so a changed kubeconfig (another
machine, a new CA) replaces nothing, while a replaced cluster does replace its objects.

In existing-cluster mode the kubeconfig comes from secret config instead.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_digitalocean as digitalocean
import pulumi_kubernetes as kubernetes
import yaml

from hardened_doks.config import KubeClient
from hardened_doks.exec_plugin import CREDENTIALS_COMMAND, EXEC_API_VERSION, plugin_args


def exec_kubeconfig(cluster_name: str, endpoint: str, ca_data: str, cluster_id: str) -> str:
    """A kubeconfig for a DOKS cluster whose user fetches credentials on demand."""
    user = f"{cluster_name}-admin"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
            "users": [
                {
                    "name": user,
                    "user": {
                        "exec": {
                            "apiVersion": EXEC_API_VERSION,
                            "command": CREDENTIALS_COMMAND,
                            "args": plugin_args(cluster_id),
                            "interactiveMode": "Never",
                            "provideClusterInfo": False,
                        }
                    },
                }
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
            "current-context": cluster_name,
        },
        sort_keys=False,
    )


#: The provider's request rate when none is given: the stack config's default (``kube_client_settings``).
DEFAULT_CLIENT = KubeClient()


class KubernetesAccess(pulumi.ComponentResource):
    """The Kubernetes provider every in-cluster component uses, and the kubeconfig to export."""

    provider: kubernetes.Provider
    kubeconfig: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        kubeconfig: pulumi.Input[str],
        cluster_identifier: pulumi.Input[str],
        opts: Optional[pulumi.ResourceOptions] = None,
        client: KubeClient = DEFAULT_CLIENT,
    ):
        """``client``: the provider's request rate against the API server (its defaults: ``KubeClient``)."""
        super().__init__("hardened-doks:kubernetes:Access", name, None, opts)
        # Exported and passed to the provider only as a secret (never plain text in state or outputs).
        self.kubeconfig = pulumi.Output.secret(kubeconfig)
        self.provider = kubernetes.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            cluster_identifier=cluster_identifier,
            # Server-side apply: field ownership makes out-of-band edits visible as conflicts.
            enable_server_side_apply=True,
            # Not the provider's 50 requests a second: that limit, not the API server, set the pace
            # of an `up` and a refresh of a large stack (components/config/stack.py, KubeClient).
            kube_client_settings=kubernetes.KubeClientSettingsArgs(qps=client.qps, burst=client.burst),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"kubeconfig": self.kubeconfig})

    @classmethod
    def for_doks(
        cls,
        name: str,
        cluster: digitalocean.KubernetesCluster,
        opts: Optional[pulumi.ResourceOptions] = None,
        client: KubeClient = DEFAULT_CLIENT,
    ) -> "KubernetesAccess":
        """Access to a cluster this stack created, through fresh DigitalOcean credentials."""
        kubeconfig = pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.kube_configs[0].cluster_ca_certificate, cluster.id
        ).apply(lambda v: exec_kubeconfig(*v))
        return cls(name, kubeconfig=kubeconfig, cluster_identifier=cluster.id, opts=opts, client=client)

    @classmethod
    def for_existing_cluster(
        cls,
        name: str,
        kubeconfig: pulumi.Input[str],
        cluster_name: str,
        opts: Optional[pulumi.ResourceOptions] = None,
        client: KubeClient = DEFAULT_CLIENT,
    ) -> "KubernetesAccess":
        """Access to a cluster the stack does not manage, from a kubeconfig in secret config (or a secret input)."""
        return cls(name, kubeconfig=pulumi.Output.secret(kubeconfig), cluster_identifier=cluster_name, opts=opts, client=client)
