"""Serve the policy pack to the Pulumi engine: only builds PolicyPack (which blocks forever).

The policies are in hardened_doks_policy/ next to this file (the engine runs the pack with
this folder first on sys.path); tests import them without starting the pack.
"""

from pulumi_policy import PolicyPack

from hardened_doks_policy import PACK_DESCRIPTION, PACK_NAME, all_policies

PolicyPack(name=PACK_NAME, description=PACK_DESCRIPTION, policies=all_policies())
