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


def test_the_program_profile_counts_a_function_once_per_stack_and_names_the_line_it_spends_in() -> None:
    from hardened_doks.tools.bench.engine import spy_top

    raw = "\n".join([
        "main (a.py:1);wait (asyncio/tasks.py:428);_wait (asyncio/tasks.py:532) 300",
        "main (a.py:1);register (r.py:9);register (r.py:12) 100",  # recursion: one count per stack
        "",  # a thread sampled with no Python frame: not a sample
    ])  # fmt: skip
    top = spy_top(raw, rate=100).splitlines()
    assert top[0].startswith("400 samples (4.0 s")
    assert "100.0 %     4.0 s  main (a.py)" in top
    assert " 75.0 %     3.0 s  _wait (asyncio/tasks.py)" in top
    assert " 25.0 %     1.0 s  register (r.py)" in top
    leaves = top[top.index("innermost frames (the function and line the samples were in)") + 1 :]
    assert leaves[0] == " 75.0 %     3.0 s  _wait (asyncio/tasks.py:532)"


def test_destroy_is_also_given_over_its_own_floor_the_kubectl_delete_of_the_same_objects() -> None:
    from hardened_doks.tools.bench.engine import ratios

    row = {"kubectl_apply": {"wall_s": 10.0}, "kubectl_delete": {"wall_s": 40.0, "exit": 0}, "destroy": {"wall_s": 100.0}, "preview": {"wall_s": 20.0}}
    found = ratios(row)
    assert found["destroy"] == 10.0 and found["destroy_over_delete"] == 2.5
    assert ratios({"destroy": {"wall_s": 100.0}})["destroy_over_delete"] is None
    # A failed delete is no floor.
    assert ratios({**row, "kubectl_delete": {"wall_s": 0.5, "exit": 1}})["destroy_over_delete"] is None


def test_the_destroy_floor_deletes_created_namespaces_and_what_outlives_them_never_what_kubernetes_created(stack_run) -> None:
    from collections import Counter

    from hardened_doks.tools.bench.engine import destroy_floor
    from hardened_doks.tools.offline import iter_kubernetes

    resources = list(iter_kubernetes(stack_run))
    floor = destroy_floor(resources)
    kinds = Counter(r.inputs["kind"] for r in floor)
    created = {r.inputs["metadata"]["name"] for r in resources if r.type == "kubernetes:core/v1:Namespace"}
    assert kinds["Namespace"] == len(created) > 0 and kinds["ClusterRole"] > 0
    # `default` and the other namespaces Kubernetes created may not be deleted: only their objects are.
    assert not any(r.type.endswith("Patch") for r in floor)
    assert any(r.inputs["metadata"].get("namespace") == "default" for r in floor)
    # What lives in a namespace the stack created goes with it.
    assert not any(r.inputs["metadata"].get("namespace") in created for r in floor)


def test_the_garbage_collectors_share_is_counted_and_taken_out_of_the_slope() -> None:
    import gc

    from hardened_doks.tools.bench.program import garbage_collections, per_namespace

    hooked = len(gc.callbacks)
    with garbage_collections() as collected:
        gc.collect()
    assert collected["full"] == 1 and collected["cpu_s"] > 0
    assert len(gc.callbacks) == hooked, "the callback outlived the block"
    rows = [
        {"n": 1, "program_cpu_s": 0.5, "render_cpu_s": 0.0, "policy_cpu_s": 0.0, "gc_cpu_s": 0.0},
        {"n": 51, "program_cpu_s": 2.5, "render_cpu_s": 0.25, "policy_cpu_s": 0.25, "gc_cpu_s": 1.0},
    ]
    per_namespace(rows)
    assert rows[1]["cpu_ms_per_extra_namespace"] == 50.0
    assert rows[1]["cpu_ms_per_extra_namespace_without_gc"] == 30.0
