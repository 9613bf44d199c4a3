"""Harden a Kubernetes cluster you already have: hardened-doks's in-cluster layer, from your own Pulumi program.

    pulumi config set clusterName my-cluster                      # a stable name for the cluster (a DNS label)
    pulumi config set --secret kubeconfig < kubeconfig.yaml        # cluster-admin access to it
    pulumi up

Nothing is created at DigitalOcean (no DIGITALOCEAN_TOKEN needed): tenant namespaces with Pod Security, quotas
and default-deny network policies, team RBAC, the admission policies and Kyverno, the scanners. The settings are
the stack file's keys (docs/configuration.md), checked the same way before anything is created.
"""

import pulumi

from hardened_doks.stack import HardenedCluster, wait_for_registrations

config = pulumi.Config()
settings = {
    "environment": config.get("environment") or "dev",
    # A secret Output: validated inside its Output chain, and secret in state and outputs.
    "existing_cluster_kubeconfig": config.require_secret("kubeconfig"),
    "existing_cluster_name": config.require("clusterName"),
    "teams": [
        {
            "name": "payments",
            "namespaces": ["payments"],
            "admins": {"groups": ["payments-admins"]},
            "developers": {"groups": ["payments-developers"]},
        }
    ],
    "rbac": {"auditors": {"groups": ["security-auditors"]}},
    "admission": {"allowed_registries": ["ghcr.io/my-org"]},
    # Any other setting (docs/configuration.md), e.g. `pulumi config set --path 'settings.scanners.trivy.enabled' false`.
    **(config.get_object("settings") or {}),
}
cluster = HardenedCluster("hardened", settings)

pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)  # a secret output
# Last: the SDK's final wait is quadratic in the resources otherwise (docs/performance.md, "The program under the real engine").
wait_for_registrations()
