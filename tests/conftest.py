"""Shared fixtures: offline runs of the real program, cached per stack."""

from __future__ import annotations

import functools

import pytest

from hardened_doks.tools.offline import ProgramRun, run_stack

#: The DigitalOcean API fake's fixtures (``api``), for every test that asks for them by name.
pytest_plugins = ["tests.unit.do_fakes"]

STACKS = ("dev", "staging", "prod")


@functools.cache
def _cached_run(stack: str) -> ProgramRun:
    return run_stack(stack)


#: Config of a run with every add-on of the scanners layer on (Snyk, Falco, the Slack notifier):
#: the shipped stacks leave those off, so this run is what their tests and the gates look at.
ALL_ADDONS = {"scanners": {"snyk": {"enabled": True}, "falco": {"enabled": True}}}
ALL_ADDONS_SECRETS = {
    "slack_webhook_url": "https://hooks.slack.com/services/T0000/B0000/all-addons-webhook-secret",
    "snyk_integration_id": "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b",
    "snyk_service_account_token": "snyk-token-all-addons-secret",
    "snyk_dockercfg": '{"auths": {"registry.digitalocean.com": {"auth": "ZG9jcmVnaXN0cnk6c2VjcmV0"}}}',
}


@functools.cache
def all_addons_run(stack: str = "prod") -> ProgramRun:
    """A shipped stack (prod by default) with every add-on enabled (computed once per session)."""
    return run_stack(stack, ALL_ADDONS, ALL_ADDONS_SECRETS)


@pytest.fixture(params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> ProgramRun:
    """The offline run of each shipped stack file (computed once per session)."""
    return _cached_run(request.param)


@pytest.fixture
def run_of():
    """The cached offline run of a named stack."""
    return _cached_run
