"""The DigitalOcean project that groups the stack's resources."""

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_digitalocean as digitalocean

#: DigitalOcean's project environment names.
PROJECT_ENVIRONMENTS = {"dev": "Development", "staging": "Staging", "prod": "Production"}


@dataclass(frozen=True)
class ProjectArgs:
    """What the Project component reads."""

    #: The project's name.
    name: str
    #: The environment (dev, staging, prod): DigitalOcean's Development, Staging, Production.
    environment: str
    purpose: str
    description: str


def project_args(args: ProjectArgs, resource_urns: list[pulumi.Input[str]]) -> dict[str, Any]:
    """Inputs of the project. VPCs and firewalls cannot be project members; the cluster can."""
    return {
        "name": args.name,
        "environment": PROJECT_ENVIRONMENTS[args.environment],
        "purpose": args.purpose,
        "description": args.description,
        "resources": resource_urns,
    }


class Project(pulumi.ComponentResource):
    """A DigitalOcean project holding the cluster."""

    project: digitalocean.Project

    def __init__(
        self,
        name: str,
        args: ProjectArgs,
        resource_urns: list[pulumi.Input[str]],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("hardened-doks:digitalocean:Project", name, None, opts)
        self.project = digitalocean.Project(
            f"{name}-project", **project_args(args, resource_urns), opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"project_id": self.project.id})
