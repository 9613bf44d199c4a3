"""A kubectl/client-go exec credential plugin for DOKS, built on pydo.

The stack's Kubernetes provider is configured with a kubeconfig whose user runs
``hardened-doks-kube-credentials --cluster-id <id>``. Each time the provider (or kubectl
with the exported kubeconfig) connects, this fetches a fresh, short-lived token from the
DigitalOcean API. Nothing in Pulumi state can go stale: DOKS kubeconfigs expire after
seven days, and stored ones break later `pulumi up` and `refresh` runs.

Output: an ``ExecCredential`` (client.authentication.k8s.io/v1beta1) on stdout.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from datetime import datetime, timezone
from typing import Any, Optional

from tools import do_api

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
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


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="hardened-doks-kube-credentials", description=__doc__.splitlines()[0])
    parser.add_argument("--cluster-id", required=True, help="DOKS cluster UUID")
    parser.add_argument("--expiry-seconds", type=int, default=DEFAULT_EXPIRY_SECONDS, help="token lifetime (default: 3600)")
    args = parser.parse_args(argv)
    try:
        response = do_api.client().kubernetes.get_credentials(args.cluster_id, expiry_seconds=args.expiry_seconds)
        if "token" not in response and "client_certificate_data" not in response:
            # pydo does not raise on 404: the body carries {"id": "not_found", "message": ...}.
            raise ValueError(f"cluster {args.cluster_id}: {response.get('message', response)}")
        credential = exec_credential(response)
    except Exception as exc:  # noqa: BLE001 - client-go shows stderr to the user; keep it one line
        print(f"hardened-doks-kube-credentials: {exc}", file=sys.stderr)
        return 1
    json.dump(credential, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
