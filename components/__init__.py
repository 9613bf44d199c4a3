"""Pulumi components of the hardened DOKS stack, one ComponentResource per concern."""
