"""Pulumi program: load the stack config, build the hardened stack, export its outputs."""

import pulumi

from hardened_doks.config import NAMESPACE, load_stack_config
from hardened_doks.stack import HardenedCluster, tune_garbage_collection, wait_for_registrations

# Fewer full garbage collections, which otherwise grow faster than the stack (docs/performance.md).
tune_garbage_collection()
config = load_stack_config()
stack = HardenedCluster(NAMESPACE, config)
for key, value in stack.outputs().items():
    pulumi.export(key, value)
# The SDK's final wait is quadratic in the resources unless the registrations have started (docs/performance.md).
wait_for_registrations()
