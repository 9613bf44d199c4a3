"""The DigitalOcean API client shared by the tools (pydo, the official client).

A token is only ever sent to :data:`ENDPOINT`, DigitalOcean's API. Nothing in the environment,
the stack config or the command line can point the tools elsewhere: ``DIGITALOCEAN_API_URL``
(which the DigitalOcean provider and earlier versions of these tools followed) is refused, not
followed, so a stray or planted variable cannot send a write-capable token to another host. The
unit tests reach their HTTP fakes by patching the module attribute ``ENDPOINT`` in-process
(``tests/unit/do_fakes.py``): only code running inside the test process can do that.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, Optional

import pydo
from azure.core.exceptions import AzureError, ClientAuthenticationError, DecodeError, HttpResponseError

from hardened_doks.do_endpoint import API_ENDPOINT, endpoint_override_problem

#: Environment variables that may hold the API token, in the order the
#: DigitalOcean Pulumi provider and doctl read them.
TOKEN_ENV_VARS = ("DIGITALOCEAN_TOKEN", "DIGITALOCEAN_ACCESS_TOKEN")

#: The one endpoint a token is sent to (tests patch this attribute; see the module docstring).
ENDPOINT = API_ENDPOINT


class CredentialError(RuntimeError):
    """The environment does not allow a safe API call: no token, or a token aimed elsewhere."""


class MissingToken(CredentialError):
    """No DigitalOcean API token in the environment."""

    def __init__(self) -> None:
        super().__init__(
            "no DigitalOcean API token: export DIGITALOCEAN_TOKEN (a token with read access to Kubernetes, "
            "VPCs and firewalls; see README.md, 'Credentials')"
        )


class UnsafeEndpoint(CredentialError):
    """An environment variable would send the token somewhere other than DigitalOcean's API."""


def refuse_endpoint_override(environ: Optional[Mapping[str, str]] = None) -> None:
    """Raise :class:`UnsafeEndpoint` when an API-URL override is set."""
    problem = endpoint_override_problem(environ)
    if problem:
        raise UnsafeEndpoint(problem)


def token_from_env(environ: Optional[Mapping[str, str]] = None, names: tuple[str, ...] = TOKEN_ENV_VARS) -> str:
    """The API token from the first of ``names`` set in the environment, or :class:`MissingToken`."""
    environ = os.environ if environ is None else environ
    for name in names:
        if environ.get(name):
            return environ[name]
    raise MissingToken()


#: azure-core RetryPolicy settings of every client. GETs are retried on 408, 429 and 5xx
#: (honouring Retry-After); the backoff is 0 s, 2 s, 4 s, 8 s, 16 s: about 30 s in all,
#: instead of azure-core's default of 10 retries over several minutes.
RETRY: dict[str, Any] = {"retry_total": 5, "retry_status": 5, "retry_backoff_factor": 1.0, "retry_backoff_max": 30}
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: azure-core retries only idempotent methods (a POST such as a clusterlint run is not retried).
RETRIED_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


def client(token: Optional[str] = None, **kwargs: Any) -> pydo.Client:
    """A pydo client of DigitalOcean's API for the token (default: from the environment).

    Refuses (:class:`UnsafeEndpoint`) when an API-URL override is set, before any token is read.
    """
    refuse_endpoint_override()
    return pydo.Client(token=token if token is not None else token_from_env(), endpoint=ENDPOINT, **{**RETRY, **kwargs})


class ApiError(RuntimeError):
    """A DigitalOcean API call failed; the message is one line saying which and why."""

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


class NotFound(ApiError):
    """The API answered 404 (pydo returns the error body instead of raising)."""


def _error_body(exc: HttpResponseError) -> str:
    """DigitalOcean's error message ({"id", "message"}) from a failed response, if any."""
    try:
        body = json.loads(exc.response.text()) if exc.response is not None else None
    except (ValueError, AttributeError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return exc.reason or "no error message"


def _is_error_body(body: dict[str, Any]) -> bool:
    return "id" in body and "message" in body and set(body) <= {"id", "message", "request_id"}


def request(what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run one pydo call and return its JSON object, or raise :class:`ApiError` with one clear line.

    Covers what pydo leaves to the caller: 404 bodies returned instead of raised, empty or
    malformed JSON, and retries exhausted on 429/5xx (the client's RetryPolicy retried first).
    """
    try:
        body = call(*args, **kwargs)
    except ClientAuthenticationError as exc:
        raise ApiError(
            f"{what}: the DigitalOcean API refused the token (401: {_error_body(exc)}); "
            f"check {TOKEN_ENV_VARS[0]}",
            status=401,
        ) from None
    except DecodeError as exc:  # a body that is not the JSON it claims to be
        raise ApiError(f"{what}: the API answered with malformed JSON ({exc.message})") from None
    except HttpResponseError as exc:
        status = exc.status_code
        method = getattr(getattr(exc.response, "request", None), "method", "")
        retried = f" after {RETRY['retry_status']} retries" if status in RETRIED_STATUSES and method in RETRIED_METHODS else ""
        hint = " (rate limited)" if status == 429 else ""
        raise ApiError(f"{what}: HTTP {status}{hint}{retried}: {_error_body(exc)}", status=status) from None
    except ValueError as exc:  # json.JSONDecodeError: pydo calls response.json() unguarded
        raise ApiError(f"{what}: the API answered with malformed JSON ({exc})") from None
    except AzureError as exc:  # connection refused, DNS, timeouts
        raise ApiError(f"{what}: cannot reach the DigitalOcean API ({exc.message})") from None
    if not isinstance(body, dict):
        raise ApiError(f"{what}: expected a JSON object, got {type(body).__name__}")
    if _is_error_body(body):
        raise NotFound(f"{what}: {body['message']} ({body['id']})", status=404)
    return body


#: Safety stop for pagination (200 items a page).
MAX_PAGES = 50


def paginate(what: str, call: Callable[..., Any], key: str, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list endpoint (follows ``links.pages.next``)."""
    items: list[dict[str, Any]] = []
    for page in range(1, MAX_PAGES + 1):
        body = request(what, call, *args, per_page=200, page=page, **kwargs)
        found = body.get(key)
        if not isinstance(found, list):
            raise ApiError(f"{what}: the response has no {key!r} list")
        items.extend(found)
        if not ((body.get("links") or {}).get("pages") or {}).get("next"):
            return items
    raise ApiError(f"{what}: more than {MAX_PAGES} pages")
