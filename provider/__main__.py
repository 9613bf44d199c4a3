"""The component package's provider: serves HardenedCluster to the engine of a consumer program (any language).

The schema (inputs, outputs, enums, descriptions) is inferred by Pulumi's analyzer from HardenedCluster's type
annotations: the generated args in components/package_args.py and the output annotations in components/stack.py.
The package name is the type token's prefix, hardened-doks (``hardened-doks:index:HardenedCluster``).

This is what ``pulumi.provider.experimental.component_provider_host([HardenedCluster], name=...)`` runs, with one
change: a refused configuration reaches the engine as an input error, the one-line problems naming the keys, as
for a stack file. (The SDK's host reports every exception of a component's constructor with a Python traceback.)
"""

import importlib.metadata
import sys
from typing import Optional

from pulumi import ResourceOptions
from pulumi.errors import InputPropertiesError
from pulumi.provider import ConstructResult, main
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError

from hardened_doks.config import NAMESPACE, ConfigError
from hardened_doks.stack import HardenedCluster


class HardenedDoksProvider(ComponentProvider):
    """The component provider of HardenedCluster, reporting configuration errors without a traceback."""

    def construct(self, name: str, resource_type: str, inputs: dict, options: Optional[ResourceOptions] = None) -> ConstructResult:
        try:
            return super().construct(name, resource_type, inputs, options)
        except ComponentInitError as error:
            if isinstance(error.inner, ConfigError):
                # No per-property details: the engine would print each property's value, and a credential's
                # must never be shown. (An empty list, not None: the SDK needs one to send the error at all.)
                raise InputPropertiesError(str(error.inner), []) from None
            raise


if __name__ == "__main__":
    main(HardenedDoksProvider([HardenedCluster], NAMESPACE, version=importlib.metadata.version(NAMESPACE)), sys.argv[1:])
