"""A kubectl/client-go exec credential plugin for DOKS, built on pydo.

The stack's Kubernetes provider is configured with a kubeconfig whose user runs
``hardened-doks-kube-credentials --cluster-id <id>``. Each time the provider (or kubectl
with the exported kubeconfig) connects, this fetches a fresh, short-lived token from the
DigitalOcean API. Nothing in Pulumi state can go stale: DOKS kubeconfigs expire after
seven days, and stored ones break later `pulumi up` and `refresh` runs.

The DigitalOcean token it uses is its own: ``HARDENED_DOKS_CLUSTER_ACCESS_TOKEN``, meant for a
custom-scoped token that may only fetch cluster credentials (``kubernetes:access_cluster`` and the
read scopes it requires). There is no fallback to ``DIGITALOCEAN_TOKEN``, the write-capable token
``pulumi up`` uses, which can also change the cluster's control-plane allowlist: a process that
only needs to talk to the cluster never holds it. The credential it mints acts as the token's
owner, with that person's team-role access to the cluster (docs/threat-model.md).

Output: an ``ExecCredential`` (client.authentication.k8s.io/v1beta1) on stdout.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Optional

from hardened_doks.exec_plugin import CLUSTER_ID_FLAG, CREDENTIALS_COMMAND, EXEC_API_VERSION
from hardened_doks.tools import do_api

#: The plugin's own token variable (no fallback to a broader one).
TOKEN_ENV_VAR = "HARDENED_DOKS_CLUSTER_ACCESS_TOKEN"
#: DigitalOcean's custom scopes a cluster-access token needs: fetching credentials, and the
#: scopes DigitalOcean requires with it.
TOKEN_SCOPES = ("kubernetes:access_cluster", "kubernetes:read", "regions:read", "sizes:read", "actions:read")
#: Tokens live one hour: short enough to be worthless when leaked from a CI log or a
#: laptop, long enough for one `pulumi up` (client-go re-runs the plugin on expiry).
DEFAULT_EXPIRY_SECONDS = 3600


def _rfc3339(value: str) -> str:
    """DigitalOcean answers '2020-02-20 00:00:00' or ISO 8601; client-go wants RFC 3339."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def exec_credential(credentials: dict[str, Any]) -> dict[str, Any]:
    """Turn a DOKS credentials response into an ExecCredential object."""
    status: dict[str, Any] = {}
    if credentials.get("token"):
        status["token"] = credentials["token"]
    elif credentials.get("client_certificate_data") and credentials.get("client_key_data"):
        # Older clusters answer with a client certificate instead of a token.
        status["clientCertificateData"] = base64.b64decode(credentials["client_certificate_data"]).decode()
        status["clientKeyData"] = base64.b64decode(credentials["client_key_data"]).decode()
    else:
        raise ValueError("the DigitalOcean API returned neither a token nor a client certificate for this cluster")
    if credentials.get("expires_at"):
        status["expirationTimestamp"] = _rfc3339(str(credentials["expires_at"]))
    return {"apiVersion": EXEC_API_VERSION, "kind": "ExecCredential", "status": status}


class MissingClusterToken(do_api.CredentialError):
    """The plugin's own token is not set (and it never falls back to a broader one)."""

    def __init__(self) -> None:
        super().__init__(
            f"no cluster-access token: export {TOKEN_ENV_VAR}, a DigitalOcean token with only the custom scopes "
            f"{', '.join(TOKEN_SCOPES)}; {do_api.TOKEN_ENV_VARS[0]} is never used here (it can change the cluster)"
        )


def cluster_access_token(environ: Mapping[str, str]) -> str:
    """The plugin's token; a warning on stderr when it is the same as the write-capable one."""
    token = environ.get(TOKEN_ENV_VAR, "")
    if not token:
        raise MissingClusterToken()
    if token in (environ.get(name) for name in do_api.TOKEN_ENV_VARS):
        print(
            f"hardened-doks-kube-credentials: warning: {TOKEN_ENV_VAR} is the same token as {'/'.join(do_api.TOKEN_ENV_VARS)}; "
            f"give this one only the scopes {', '.join(TOKEN_SCOPES)}",
            file=sys.stderr,
        )
    return token


def parser() -> argparse.ArgumentParser:
    """The plugin's command line (its arguments are components/exec_plugin.py's contract)."""
    found = argparse.ArgumentParser(prog=CREDENTIALS_COMMAND, description=__doc__.splitlines()[0])
    found.add_argument(CLUSTER_ID_FLAG, required=True, help="DOKS cluster UUID")
    found.add_argument("--expiry-seconds", type=int, default=DEFAULT_EXPIRY_SECONDS, help="token lifetime (default: 3600)")
    return found


def main(argv: Optional[list[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        token = cluster_access_token(os.environ)
        response = do_api.client(token).kubernetes.get_credentials(args.cluster_id, expiry_seconds=args.expiry_seconds)
        if "token" not in response and "client_certificate_data" not in response:
            # pydo does not raise on 404: the body carries {"id": "not_found", "message": ...}.
            raise ValueError(f"cluster {args.cluster_id}: {response.get('message', response)}")
        credential = exec_credential(response)
    except Exception as exc:  # any failure: client-go shows stderr to the user; keep it one line
        print(f"{CREDENTIALS_COMMAND}: {exc}", file=sys.stderr)
        return 1
    json.dump(credential, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
