"""Serve the policy pack to the Pulumi engine: only builds PolicyPack (which blocks forever).

The policies are in hardened_doks_policy/ next to this file, installed as ``hardened_doks.policy`` in
the project's virtualenv (PulumiPolicy.yaml names it); tests import them without starting the pack.
"""

from pulumi_policy import PolicyPack

from hardened_doks.policy import PACK_DESCRIPTION, PACK_NAME, all_policies

PolicyPack(name=PACK_NAME, description=PACK_DESCRIPTION, policies=all_policies())
