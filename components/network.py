"""The environment's dedicated VPC."""

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_digitalocean as digitalocean



@dataclass(frozen=True)
class NetworkArgs:
    """What the Network component reads."""

    #: The cluster's name: the VPC is named after it.
    cluster_name: str
    #: The DigitalOcean region slug.
    region: str
    #: The VPC's private IPv4 range (CIDR).
    ip_range: str
    #: The environment (dev, staging, prod), for the description.
    environment: str
    #: Protect the VPC from deletion.
    protect: bool = False


def vpc_args(args: NetworkArgs) -> dict[str, Any]:
    """Inputs of the VPC: one per environment, with an explicit, non-overlapping range.

    A dedicated VPC keeps node-to-node and load-balancer traffic off the shared default
    VPC of the account (NSA/CISA Kubernetes Hardening Guide: network separation).
    """
    return {
        "name": f"{args.cluster_name}-vpc",
        "region": args.region,
        "ip_range": args.ip_range,
        "description": f"Dedicated VPC of the {args.environment} DOKS cluster {args.cluster_name}",
    }


class Network(pulumi.ComponentResource):
    """A dedicated VPC for one environment."""

    vpc: digitalocean.Vpc

    def __init__(self, name: str, args: NetworkArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:digitalocean:Network", name, None, opts)
        self.vpc = digitalocean.Vpc(
            f"{name}-vpc",
            **vpc_args(args),
            # protect: a VPC deletion would orphan the production cluster's network.
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.vpc_id = self.vpc.id
        self.register_outputs({"vpc_id": self.vpc.id, "ip_range": self.vpc.ip_range})
