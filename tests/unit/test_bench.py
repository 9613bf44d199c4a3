"""The benchmark's generated stacks (tools/bench): valid configs with the mix they promise, so a
figure of `make bench` is the cost of a stack the program accepts. The benchmark itself is not a test."""

from __future__ import annotations

import json

import pytest

from hardened_doks.config import NAMESPACE, parse_stack_config
from hardened_doks.tools.bench.configs import tenant_config, teams
from hardened_doks.tools.offline import read_stack_file


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_n_tenant_namespaces_in_teams_of_one_to_three(n: int) -> None:
    grouped = teams(n)
    assert sum(len(t) for t in grouped) == n
    assert {len(t) for t in grouped} <= {1, 2, 3}
    assert len({ns for t in grouped for ns in t}) == n


def test_the_generated_config_is_one_the_program_accepts_with_the_promised_mix() -> None:
    config, secrets = read_stack_file("dev")
    for key, value in tenant_config(12).items():
        config[f"{NAMESPACE}:{key}"] = json.dumps(value)
    parsed = parse_stack_config(config, stack="dev", secret_keys=secrets)
    assert sum(len(t.namespaces) for t in parsed.teams) == 12
    assert all(not t.admins.empty and not t.developers.empty for t in parsed.teams)
    assert any(not t.viewers.empty for t in parsed.teams) and any(t.viewers.empty for t in parsed.teams)
    policies = parsed.network_policies
    assert policies.allow and policies.api_server_access and policies.intra_namespace
