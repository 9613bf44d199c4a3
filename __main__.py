"""Pulumi program: load the stack config, build the hardened stack, export its outputs."""

import pulumi

from hardened_doks.config import NAMESPACE, load_stack_config
from hardened_doks.stack import HardenedCluster

config = load_stack_config()
stack = HardenedCluster(NAMESPACE, config)
for key, value in stack.outputs().items():
    pulumi.export(key, value)
