"""An interrupted `up` without per-step checkpoints (docs/operations.md, "An interrupted up").

With PULUMI_SKIP_CHECKPOINTS=true (tools/engine.py SKIP_CHECKPOINTS, docs/performance.md) the engine
writes the state when an update ends or is cancelled. Here the deployed stack gains tenant
namespaces, and the `up` that creates them is interrupted once the first of them exists:

- **killed outright** (SIGKILL of the CLI and of every plugin it started: the plugins run in process
  groups of their own): the state is the one from before, and the documented recovery (`pulumi
  cancel` for the killed run's lock, `pulumi refresh`, `pulumi up`) brings state and cluster back
  together;
- **cancelled** (SIGTERM once, as a CI job's cancellation sends it): the state records the
  namespaces whose create finished (a create cut off in flight may have reached the API server
  unrecorded), no lock is left, and the next `up` continues, adopting the rest.

Either way each new namespace ends up in the state once and a preview proposes nothing. Then the
extra namespaces are removed again (unprotected first: namespaces are protected), so the stack is
left as found (``no_drift``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hardened_doks.kube import MANAGED_NAMESPACE_LABEL
from tests.e2e.conftest import STACK, Project, also, finalize_emptied_namespaces, stack_config, state_resources, while_up
from tests.e2e.controlplane import LocalControlPlane
from hardened_doks.tools.engine import SKIP_CHECKPOINTS

pytestmark = pytest.mark.usefixtures("no_drift")

TEAMS_KEY = "hardened-doks:teams"
#: Seconds an interrupted `up` may take to start creating, and then to exit once signalled.
START_TIMEOUT, EXIT_TIMEOUT = 600, 300


def extra_teams(prefix: str) -> list[dict[str, Any]]:
    """Enough extra namespaces that their objects take the engine a while after the first appears."""
    return [{"name": f"{prefix}{i}", "namespaces": [f"{prefix}{i}-a", f"{prefix}{i}-b"], "developers": {"groups": [f"{prefix}{i}-devs"]}} for i in range(6)]


def namespaces_of(teams: list[dict[str, Any]]) -> set[str]:
    return {ns for team in teams for ns in team["namespaces"]}


def live_namespaces(plane: LocalControlPlane) -> set[str]:
    listed = plane.get("/api/v1/namespaces", params={"labelSelector": MANAGED_NAMESPACE_LABEL}).json()["items"]
    return {n["metadata"]["name"] for n in listed}


def state_namespaces(project: Project) -> list[str]:
    return [r["outputs"]["metadata"]["name"] for r in state_resources(project) if r["type"] == "kubernetes:core/v1:Namespace"]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (from /proc): the plugins the CLI started, and theirs."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], list(children.get(pid, []))
    while pending:
        found.append(pending.pop())
        pending.extend(children.get(found[-1], []))
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL the CLI's process group and every plugin process: the engine starts each plugin in a
    process group of its own (sdk/go/common/util/cmdutil RegisterProcessGroup), so a kill of the
    CLI's group alone would leave them running (a provider asks the engine every 5 minutes whether
    it is still there). Stopped first, the CLI starts no plugin while they are listed."""
    os.killpg(pid, signal.SIGSTOP)
    for child in descendants(pid):
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.killpg(pid, signal.SIGKILL)


def interrupt_up_half_way(project: Project, plane: LocalControlPlane, extra: set[str], interrupt: Callable[[int], None]) -> tuple[int, str]:
    """`pulumi up` without per-step checkpoints, interrupted once the first of ``extra`` exists: its
    exit code and output. Fails if it ended before (it finished, or could not start: a lock left behind)."""
    output = project.workdir.parent / f"interrupted-up-{min(extra)}.log"
    with output.open("w") as log:
        process = subprocess.Popen(
            ["pulumi", "up", "--yes", "--skip-preview", "--suppress-progress", "--stack", STACK, "--non-interactive"],
            cwd=project.workdir, env={**project.env, **SKIP_CHECKPOINTS}, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    watch, deadline, interrupted = while_up(plane), time.monotonic() + START_TIMEOUT, False
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if live_namespaces(plane) & extra:
                interrupt(process.pid)
                interrupted = True
                break
            refused = watch()
            assert refused is None, refused
            time.sleep(0.2)
        while process.poll() is None and time.monotonic() < deadline + EXIT_TIMEOUT:
            refused = watch()  # a cancelled update finishes the steps in flight
            assert refused is None, refused
            time.sleep(1)
    finally:
        if process.poll() is None:
            kill_tree(process.pid)
        process.wait(timeout=60)
    assert interrupted, f"the up exited {process.returncode} before any of the new namespaces existed:\n{output.read_text()[-3000:]}"
    return process.returncode, output.read_text()


@pytest.fixture
def extra_stack(request: pytest.FixtureRequest, project: Project, control_plane: LocalControlPlane) -> Iterator[set[str]]:
    """The stack file with six more teams (twelve namespaces, named after the test); afterwards the
    session's stack again: the extra namespaces unprotected, then deleted by `up`."""
    teams = extra_teams(request.param)
    extra = namespaces_of(teams)
    try:
        with stack_config(project, lambda config: config.update({TEAMS_KEY: [*config[TEAMS_KEY], *teams]})):
            yield extra
    finally:
        project.pulumi("cancel", "--yes", check=False, timeout=120)  # if the test failed before its recovery
        urns = [
            r["urn"] for r in state_resources(project)
            if r["type"] == "kubernetes:core/v1:Namespace" and r["outputs"]["metadata"]["name"] in extra
        ]  # fmt: skip
        if urns:
            project.pulumi("state", "unprotect", *urns, "--yes", timeout=120)
        project.up(watch=also(while_up(control_plane), finalize_emptied_namespaces(control_plane, extra)), timeout=600)
        for name in live_namespaces(control_plane) & extra:  # the killed run's, if the recovery failed before adopting them
            control_plane.request("DELETE", f"/api/v1/namespaces/{name}")
        finalize = finalize_emptied_namespaces(control_plane, extra)
        control_plane.wait_for(lambda: finalize() is None and not live_namespaces(control_plane) & extra, "the extra namespaces deleted", timeout=120)


def assert_recovered(project: Project, plane: LocalControlPlane, extra: set[str]) -> None:
    """Each new namespace in the state once and live, and nothing left to change."""
    namespaces = state_namespaces(project)
    assert extra <= set(namespaces)
    assert len(namespaces) == len(set(namespaces)), "a namespace is in the state twice"
    assert extra <= live_namespaces(plane)
    project.pulumi("preview", "--expect-no-changes", "--suppress-progress", timeout=600)


@pytest.mark.parametrize("extra_stack", ["late"], indirect=True)
def test_an_up_killed_half_way_is_recovered_by_cancel_refresh_and_up(project: Project, control_plane: LocalControlPlane, extra_stack: set[str]) -> None:
    extra = extra_stack
    code, _ = interrupt_up_half_way(project, control_plane, extra, kill_tree)
    assert code == -signal.SIGKILL, f"the up exited {code} before it could be killed"
    assert live_namespaces(control_plane) & extra, "the killed up created nothing"
    # Nothing of the killed run was recorded (no per-step checkpoints): the state is the one before it.
    assert not set(state_namespaces(project)) & extra

    # The documented recovery: the killed run's lock (file backends lock a stack per update), refresh, up.
    locked = project.pulumi("refresh", "--yes", check=False, timeout=120)
    assert locked.returncode != 0 and "currently locked" in locked.stderr + locked.stdout, "the killed run left no lock"
    project.pulumi("cancel", "--yes", timeout=120)
    project.pulumi("refresh", "--yes", "--suppress-progress", timeout=600)
    project.up(watch=while_up(control_plane), timeout=600)
    assert_recovered(project, control_plane, extra)


@pytest.mark.parametrize("extra_stack", ["cut"], indirect=True)
def test_an_up_cancelled_half_way_records_what_it_did_and_the_next_up_continues(
    project: Project, control_plane: LocalControlPlane, extra_stack: set[str]
) -> None:
    extra = extra_stack
    code, output = interrupt_up_half_way(project, control_plane, extra, lambda pid: os.kill(pid, signal.SIGTERM))
    # The CLI handled SIGTERM as a cancellation (pkg/backend/cancellation_scope.go) and ended with an error.
    assert code not in (0, -signal.SIGTERM) and "SIGTERM received; cancelling" in output, f"the up exited {code}:\n{output[-3000:]}"
    recorded = set(state_namespaces(project)) & extra
    # The engine wrote the state of the steps that finished, and released the lock. A create in flight
    # when the provider was told to cancel may have reached the API server without being recorded:
    # the next `up` (no refresh, no cancel) adopts it, by server-side apply.
    assert recorded, "the cancelled up recorded none of the namespaces it created"
    assert recorded <= live_namespaces(control_plane) & extra, "the state records a namespace that does not exist"
    project.up(watch=while_up(control_plane), timeout=600)
    assert_recovered(project, control_plane, extra)
