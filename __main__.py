"""Pulumi program: load the stack config, build the hardened stack, export its outputs."""

import pulumi

from components.config import NAMESPACE, load_stack_config
from components.stack import HardenedCluster

config = load_stack_config()
stack = HardenedCluster(NAMESPACE, config)
for key, value in stack.outputs().items():
    pulumi.export(key, value)
