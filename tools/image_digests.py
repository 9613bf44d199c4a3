"""The add-on charts' images and artifacts, and their digests from the registries (needs internet).

    python -m hardened_doks.tools.image_digests             # list every image and OCI artifact of the pinned charts
    python -m hardened_doks.tools.image_digests --resolve   # ask each registry for the digest of each tag and
                                              # print the stack-file block that pins them
    make image-digests                        # the same as --resolve

The charts name their images by tag. A tag can be moved to other content, a digest cannot (CIS
5.5.1, NSA/CISA: run exactly what was reviewed). This project is built and tested where no
registry is reachable, so it ships no digest and never invents one: resolve them here, review the
output, and put it in the stack file (``hardened-doks:addon_image_digests``); the stack then runs
each image by digest (``hardened_doks.addon.with_digests``). Re-run after bumping a chart.

The lookup is the registry API's manifest request (``GET /v2/<repository>/manifests/<tag>``, with an
anonymous bearer token where the registry asks for one), reading ``Docker-Content-Digest``: for a
multi-architecture image that is the digest of its index, which is what a pod should pin.
Exit codes: 0 listed or all resolved, 2 a registry could not answer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from hardened_doks.config import NAMESPACE
from hardened_doks.addons import PINNED_IMAGES

EXIT_OK, EXIT_ERROR = 0, 2
_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


class RegistryError(RuntimeError):
    """A registry that could not tell a digest; the message names the reference."""


def split(reference: str) -> tuple[str, str, str]:
    """(registry host, repository, tag) of ``[host/]repository:tag``, Docker Hub's defaults applied."""
    name, tag = reference.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, repository = first, rest
    else:
        host, repository = "docker.io", name
    if host == "docker.io":
        host = "registry-1.docker.io"
        if "/" not in repository:
            repository = f"library/{repository}"
    return host, repository, tag


def normalize(reference: str) -> str:
    """``[host/]repository:tag[@digest]`` with Docker Hub's implicit host written out (``docker.io/…``)."""
    name = reference.split("@", 1)[0]
    first = name.partition("/")[0]
    return reference if "/" in name and ("." in first or ":" in first or first == "localhost") else f"docker.io/{reference}"


def _token(challenge: str, opener: urllib.request.OpenerDirector) -> str:
    """An anonymous bearer token for a ``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` challenge."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if "realm" not in fields:
        raise RegistryError(f"unsupported authentication challenge: {challenge}")
    query = urllib.parse.urlencode({k: v for k, v in fields.items() if k in ("service", "scope")})
    with opener.open(f"{fields['realm']}?{query}", timeout=30) as response:
        body = json.loads(response.read().decode())
    return str(body.get("token") or body.get("access_token") or "")


def resolve(reference: str, scheme: str = "https", opener: Optional[urllib.request.OpenerDirector] = None) -> str:
    """The ``sha256:…`` digest a registry serves for ``reference`` (``[host/]repository:tag``)."""
    opener = opener or urllib.request.build_opener()
    host, repository, tag = split(reference)
    url = f"{scheme}://{host}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": _ACCEPT}
    for attempt in range(2):
        request = urllib.request.Request(url, headers=headers, method="GET")
        try:
            with opener.open(request, timeout=30) as response:
                digest = response.headers.get("Docker-Content-Digest") or f"sha256:{hashlib.sha256(response.read()).hexdigest()}"
                if not re.match(r"^sha256:[0-9a-f]{64}$", digest):
                    raise RegistryError(f"{reference}: the registry answered digest {digest!r}")
                return digest
        except urllib.error.HTTPError as exc:
            challenge = exc.headers.get("WWW-Authenticate", "")
            if exc.code == 401 and attempt == 0 and challenge.lower().startswith("bearer "):
                headers["Authorization"] = f"Bearer {_token(challenge[7:], opener)}"
                continue
            raise RegistryError(f"{reference}: {url} answered {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise RegistryError(f"{reference}: {url} unreachable ({exc.reason})") from None
    raise RegistryError(f"{reference}: not authorised by {host}")


def references() -> list[str]:
    """Every distinct image and artifact reference of the pinned charts, in table order."""
    return list(dict.fromkeys(image.reference for image in PINNED_IMAGES))


def stack_block(digests: dict[str, str]) -> str:
    """The stack-file block that pins ``digests``."""
    lines = [f"  {NAMESPACE}:addon_image_digests:"]
    lines += [f'    "{reference}": {digest}' for reference, digest in digests.items()]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardened_doks.tools.image_digests", description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolve", action="store_true", help="look the digests up in the registries (needs internet)")
    args = parser.parse_args(argv)
    if not args.resolve:
        for image in dict.fromkeys((i.addon, i.reference, i.artifact) for i in PINNED_IMAGES):
            addon, reference, artifact = image
            print(f"{addon:14} {'artifact' if artifact else 'image':8} {reference}")
        return EXIT_OK
    digests, errors = {}, []
    for reference in references():
        try:
            digests[reference] = resolve(reference)
        except (RegistryError, OSError, ValueError) as exc:
            errors.append(str(exc))
    print("# Review, then add to stacks/Pulumi.<stack>.yaml under config: (digests as served today)")
    print(stack_block(digests))
    for error in errors:
        print(f"# could not resolve: {error}", file=sys.stderr)
    return EXIT_ERROR if errors else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
