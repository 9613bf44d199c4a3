"""The component package's provider: serves HardenedCluster to the engine of a consumer program (any language).

The schema (inputs, outputs, enums, descriptions) is inferred by Pulumi's analyzer from HardenedCluster's type
annotations: the generated args in components/package_args.py and the output annotations in components/stack.py.
The package name is the type token's prefix, hardened-doks (``hardened-doks:index:HardenedCluster``).
"""

import importlib.metadata

from pulumi.provider.experimental import component_provider_host

from components.config import NAMESPACE
from components.stack import HardenedCluster

if __name__ == "__main__":
    component_provider_host([HardenedCluster], name=NAMESPACE, version=importlib.metadata.version(NAMESPACE))
