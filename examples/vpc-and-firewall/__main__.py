"""Two of the project's components in a Pulumi program of your own, without the stack config.

A dedicated VPC (``Network``) and the worker firewall (``WorkerFirewall``) for a DOKS cluster
created elsewhere: each component takes its own typed arguments and nothing else. Run it with the
package installed (``pip install`` of this repository; in a checkout, ``make setup`` does it).
"""

import pulumi

from hardened_doks.firewall import WorkerFirewall, WorkerFirewallArgs
from hardened_doks.network import Network, NetworkArgs

config = pulumi.Config()
cluster_name = config.get("cluster_name") or "example"
network = Network(
    "example-network",
    NetworkArgs(cluster_name=cluster_name, region=config.get("region") or "fra1", ip_range="10.120.0.0/20", environment="dev"),
)
firewall = WorkerFirewall(
    "example-workers",
    WorkerFirewallArgs(
        cluster_name=cluster_name,
        vpc_ip_range="10.120.0.0/20",
        cluster_subnet="10.124.0.0/16",
        service_subnet="10.125.0.0/19",
        dns_resolvers=("67.207.67.2", "67.207.67.3"),
    ),
    # The cluster's id, e.g. from `doctl kubernetes cluster get <name> --format ID`.
    cluster_id=config.require("cluster_id"),
)
pulumi.export("vpc_id", network.vpc_id)
pulumi.export("worker_firewall_id", firewall.firewall.id)
