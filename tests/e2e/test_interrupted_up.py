"""An `up` killed half-way is recovered by `pulumi refresh` and `pulumi up` (docs/operations.md,
"An interrupted up").

The project runs the engine without per-step checkpoints (tools/engine.py ENGINE_SETTINGS,
docs/performance.md): the state is written when an update ends or is cancelled, so an `up` killed
outright (SIGKILL: no chance to write) leaves the state as it was before, while the cluster holds
what the killed run created. Here the deployed stack gains tenant namespaces, the `up` that creates
them is killed once the first of them exists, and the documented recovery (`pulumi cancel` for the
killed run's lock, `pulumi refresh`, `pulumi up`) brings state and cluster back together: every new namespace in the state once, and a preview that proposes nothing.
Then the extra namespaces are removed again (unprotected first: namespaces are protected).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from components.kube import MANAGED_NAMESPACE_LABEL
from tests.e2e.conftest import STACK, Project, while_up
from tests.e2e.controlplane import LocalControlPlane

TEAMS_KEY = "hardened-doks:teams"
#: Enough extra namespaces that their objects take the engine a while after the first appears.
EXTRA = [{"name": f"late{i}", "namespaces": [f"late{i}-a", f"late{i}-b"], "developers": {"groups": [f"late{i}-devs"]}} for i in range(6)]
EXTRA_NAMESPACES = {ns for team in EXTRA for ns in team["namespaces"]}


def live_namespaces(plane: LocalControlPlane) -> set[str]:
    listed = plane.get("/api/v1/namespaces", params={"labelSelector": MANAGED_NAMESPACE_LABEL}).json()["items"]
    return {n["metadata"]["name"] for n in listed}


def state_resources(project: Project) -> list[dict[str, Any]]:
    return json.loads(project.pulumi("stack", "export").stdout)["deployment"]["resources"]


def state_namespaces(project: Project) -> list[str]:
    return [r["outputs"]["metadata"]["name"] for r in state_resources(project) if r["type"] == "kubernetes:core/v1:Namespace"]


def kill_up_half_way(project: Project, plane: LocalControlPlane) -> int:
    """`pulumi up`, killed outright (the CLI and its plugins, SIGKILL) once the first new namespace exists."""
    process = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--suppress-progress", "--stack", STACK, "--non-interactive"],
        cwd=project.workdir, env=project.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    watch, deadline = while_up(plane), time.monotonic() + 600
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if live_namespaces(plane) & EXTRA_NAMESPACES:
                os.killpg(process.pid, signal.SIGKILL)
                break
            refused = watch()
            assert refused is None, refused
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return process.returncode


def test_an_up_killed_half_way_is_recovered_by_refresh_and_up(project: Project, control_plane: LocalControlPlane) -> None:
    stack_file = project.workdir / "stacks" / f"Pulumi.{STACK}.yaml"
    original = stack_file.read_text()
    document = yaml.safe_load(original)
    document["config"][TEAMS_KEY] = [*document["config"][TEAMS_KEY], *EXTRA]
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        assert kill_up_half_way(project, control_plane) == -signal.SIGKILL, "the up finished before it could be killed half-way"
        created = live_namespaces(control_plane) & EXTRA_NAMESPACES
        assert created, "the killed up created nothing"
        # Nothing of the killed run was recorded (no per-step checkpoints): the state is the one before it.
        assert not set(state_namespaces(project)) & EXTRA_NAMESPACES

        # The documented recovery: the killed run's lock (file backends lock a stack per update), refresh, up.
        assert project.pulumi("refresh", "--yes", check=False).returncode != 0, "the killed run left no lock"
        project.pulumi("cancel", "--yes")
        project.pulumi("refresh", "--yes", "--suppress-progress")
        project.up(watch=while_up(control_plane))

        namespaces = state_namespaces(project)
        assert EXTRA_NAMESPACES <= set(namespaces)
        assert len(namespaces) == len(set(namespaces)), "a namespace is in the state twice"
        assert EXTRA_NAMESPACES <= live_namespaces(control_plane)
        project.pulumi("preview", "--expect-no-changes", "--suppress-progress")
    finally:
        remove_extra_namespaces(project, control_plane, stack_file, original)


def remove_extra_namespaces(project: Project, plane: LocalControlPlane, stack_file: Path, original: str) -> None:
    """Back to the session's stack: the extra namespaces unprotected, then deleted by `up`."""
    for resource in state_resources(project):
        if resource["type"] == "kubernetes:core/v1:Namespace" and resource["outputs"]["metadata"]["name"] in EXTRA_NAMESPACES:
            project.pulumi("state", "unprotect", resource["urn"], "--yes")
    stack_file.write_text(original)
    project.up(watch=while_up(plane))
    for name in live_namespaces(plane) & EXTRA_NAMESPACES:  # the killed run's, if recovery failed before adopting them
        plane.request("DELETE", f"/api/v1/namespaces/{name}")
