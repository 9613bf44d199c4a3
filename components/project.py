"""The DigitalOcean project that groups the stack's resources."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_digitalocean as digitalocean

from components.config import StackConfig

#: DigitalOcean's project environment names.
PROJECT_ENVIRONMENTS = {"dev": "Development", "staging": "Staging", "prod": "Production"}


def project_args(config: StackConfig, resource_urns: list[pulumi.Input[str]]) -> dict[str, Any]:
    """Inputs of the project. VPCs and firewalls cannot be project members; the cluster can."""
    return {
        "name": config.project.name or config.cluster_name,
        "environment": PROJECT_ENVIRONMENTS[config.environment],
        "purpose": config.project.purpose,
        "description": config.project.description,
        "resources": resource_urns,
    }


class Project(pulumi.ComponentResource):
    """A DigitalOcean project holding the cluster."""

    project: digitalocean.Project

    def __init__(
        self,
        name: str,
        config: StackConfig,
        resource_urns: list[pulumi.Input[str]],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("hardened-doks:digitalocean:Project", name, None, opts)
        self.project = digitalocean.Project(
            f"{name}-project", **project_args(config, resource_urns), opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"project_id": self.project.id})
