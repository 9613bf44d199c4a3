"""Pulumi program: load the stack config, build the hardened stack, export its outputs."""

import pulumi

from hardened_doks.config import NAMESPACE, load_stack_config
from hardened_doks.stack import HardenedCluster, wait_for_registrations

config = load_stack_config()
stack = HardenedCluster(NAMESPACE, config)
for key, value in stack.outputs().items():
    pulumi.export(key, value)
# The SDK's final wait is quadratic in the resources unless the registrations have started (docs/performance.md).
wait_for_registrations()
