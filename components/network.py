"""The environment's dedicated VPC."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_digitalocean as digitalocean

from components.config import StackConfig


def vpc_args(config: StackConfig) -> dict[str, Any]:
    """Inputs of the VPC: one per environment, with an explicit, non-overlapping range.

    A dedicated VPC keeps node-to-node and load-balancer traffic off the shared default
    VPC of the account (NSA/CISA Kubernetes Hardening Guide: network separation).
    """
    return {
        "name": f"{config.cluster_name}-vpc",
        "region": config.region,
        "ip_range": config.vpc_ip_range,
        "description": f"Dedicated VPC of the {config.environment} DOKS cluster {config.cluster_name}",
    }


class Network(pulumi.ComponentResource):
    """A dedicated VPC for one environment."""

    vpc: digitalocean.Vpc

    def __init__(self, name: str, config: StackConfig, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hardened-doks:digitalocean:Network", name, None, opts)
        self.vpc = digitalocean.Vpc(
            f"{name}-vpc",
            **vpc_args(config),
            # protect: a VPC deletion would orphan the production cluster's network.
            opts=pulumi.ResourceOptions(parent=self, protect=config.protect),
        )
        self.vpc_id = self.vpc.id
        self.register_outputs({"vpc_id": self.vpc.id, "ip_range": self.vpc.ip_range})
