"""The one DigitalOcean API endpoint a token is sent to, and the environment variables that would redirect it.

Shared by the program (components/config/loader.py refuses to start with an override set, before the
DigitalOcean provider is registered) and the tools (tools/do_api.py), which import it from here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional

#: DigitalOcean's API.
API_ENDPOINT = "https://api.digitalocean.com"
#: Variables that would send the token to another endpoint: refused whenever set.
ENDPOINT_OVERRIDE_VARS = ("DIGITALOCEAN_API_URL",)


def endpoint_override_problem(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """Why the environment is refused (an API-URL override is set), or None."""
    environ = os.environ if environ is None else environ
    for name in ENDPOINT_OVERRIDE_VARS:
        if environ.get(name):
            return (
                f"{name} is set ({environ[name]!r}): a DigitalOcean token is only sent to {API_ENDPOINT}, never to an endpoint "
                f"from the environment (the DigitalOcean provider would follow it); unset {name}"
            )
    return None
