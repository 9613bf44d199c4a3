"""The DigitalOcean API client shared by the tools (pydo, the official client)."""

from __future__ import annotations

import os
from typing import Any, Optional

import pydo

#: Environment variables that may hold the API token, in the order the
#: DigitalOcean Pulumi provider and doctl read them.
TOKEN_ENV_VARS = ("DIGITALOCEAN_TOKEN", "DIGITALOCEAN_ACCESS_TOKEN")

#: Overrides the API endpoint (tests point it at a fake server).
ENDPOINT_ENV_VAR = "DIGITALOCEAN_API_URL"
DEFAULT_ENDPOINT = "https://api.digitalocean.com"


class MissingToken(RuntimeError):
    """No DigitalOcean API token in the environment."""

    def __init__(self) -> None:
        super().__init__(
            "no DigitalOcean API token: export DIGITALOCEAN_TOKEN (a token with read access to Kubernetes, "
            "VPCs and firewalls; see README.md, 'Credentials')"
        )


def token_from_env(environ: Optional[dict[str, str]] = None) -> str:
    """The API token from the environment, or :class:`MissingToken`."""
    environ = os.environ if environ is None else environ
    for name in TOKEN_ENV_VARS:
        if environ.get(name):
            return environ[name]
    raise MissingToken()


def client(token: Optional[str] = None, endpoint: Optional[str] = None, **kwargs: Any) -> pydo.Client:
    """A pydo client for the token (default: from the environment)."""
    return pydo.Client(
        token=token if token is not None else token_from_env(),
        endpoint=endpoint or os.environ.get(ENDPOINT_ENV_VAR, DEFAULT_ENDPOINT),
        **kwargs,
    )
