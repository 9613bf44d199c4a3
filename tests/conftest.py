"""Shared fixtures: offline runs of the real program, cached per stack."""

from __future__ import annotations

import functools

import pytest

from tools.offline import ProgramRun, run_stack

STACKS = ("dev", "staging", "prod")


@functools.cache
def _cached_run(stack: str) -> ProgramRun:
    return run_stack(stack)


@pytest.fixture(params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> ProgramRun:
    """The offline run of each shipped stack file (computed once per session)."""
    return _cached_run(request.param)


@pytest.fixture
def run_of():
    """The cached offline run of a named stack."""
    return _cached_run
