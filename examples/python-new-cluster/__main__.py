"""A new hardened DigitalOcean Kubernetes cluster, from your own Pulumi program.

    export DIGITALOCEAN_TOKEN=...                                  # a DigitalOcean API token (write access)
    export HARDENED_DOKS_CLUSTER_ACCESS_TOKEN=...                  # a cluster-access-only token (README "Credentials")
    export PATH="$PWD/venv/bin:$PATH"                              # hardened-doks-kube-credentials, installed with the library
    pulumi config set --path 'apiAllowlist[0]' 203.0.113.10/32     # who may reach the Kubernetes API
    pulumi up

The component creates the VPC, the DOKS cluster, the worker firewall and the project, then the in-cluster layer
through a kubeconfig that holds no credential: its user runs `hardened-doks-kube-credentials` (installed with the
library), which fetches a short-lived token with HARDENED_DOKS_CLUSTER_ACCESS_TOKEN (docs/component-package.md).
"""

import pulumi

from hardened_doks.stack import HardenedCluster, wait_for_registrations

config = pulumi.Config()
cluster = HardenedCluster(
    "hardened",
    {
        "environment": config.get("environment") or "dev",
        "region": config.get("region") or "fra1",
        "api_allowlist": config.require_object("apiAllowlist"),
        "system_pool": {"name": "system", "size": "s-4vcpu-8gb", "min_nodes": 2, "max_nodes": 3},
        "workload_pools": [{"name": "apps", "size": "s-4vcpu-8gb", "min_nodes": 1, "max_nodes": 5}],
        "teams": [
            {
                "name": "storefront",
                "namespaces": ["storefront"],
                "admins": {"groups": ["storefront-admins"]},
                "developers": {"groups": ["storefront-developers"]},
            }
        ],
        "admission": {"allowed_registries": ["registry.digitalocean.com/my-registry"]},
        # Any other setting (docs/configuration.md).
        **(config.get_object("settings") or {}),
    },
)

pulumi.export("clusterId", cluster.cluster_id)
pulumi.export("clusterEndpoint", cluster.cluster_endpoint)
pulumi.export("kubeconfig", cluster.kubeconfig)  # a secret output; its user runs hardened-doks-kube-credentials
# Last: the SDK's final wait is quadratic in the resources otherwise (docs/performance.md, "The program under the real engine").
wait_for_registrations()
