"""Rotation of Kyverno's registry credential with the real engine: the credential's
replacement_trigger is the rotation period of components/registry_access.py, so a `pulumi up` in
the same period changes nothing, and the first one of the next period creates a new credential,
updates the Secret to it, and only then deletes the old one (which, for DOCR, revokes it).

The DigitalOcean provider cannot run here: tests/e2e/rotation_lab stands in for the credential
and the Secret with dynamic resources that log what the engine asks of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


LAB = Path(__file__).with_name("rotation_lab")


def test_a_new_period_replaces_the_credential_before_deleting_the_old(tmp_path: Path, toolchain_bin: Path, live_checks: Counter[str]) -> None:
    shutil.copytree(LAB, tmp_path / "lab")
    log = tmp_path / "cloud.log"
    env = {
        "PATH": os.pathsep.join([str(toolchain_bin), str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAB_LOG": str(log),
    }
    (tmp_path / "state").mkdir()

    def pulumi(now: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["pulumi", *args, "--stack", "lab", "--non-interactive"], cwd=tmp_path / "lab", env={**env, "LAB_NOW": now}, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result

    pulumi("2026-11-10T12:00:00+00:00", "stack", "init")
    pulumi("2026-11-10T12:00:00+00:00", "up", "--yes", "--skip-preview")
    first = log.read_text().splitlines()
    (credential,) = [line.split()[2] for line in first if line.startswith("create credential")]
    assert first == [f"create credential {credential}", f"create secret {first[1].split()[2]} token-{credential}"]

    pulumi("2026-11-30T23:00:00+00:00", "preview", "--expect-no-changes")  # same period (from 2026-11-03): nothing to do
    pulumi("2026-12-05T08:00:00+00:00", "up", "--yes", "--skip-preview")  # next period (from 2026-12-03)
    rotated = log.read_text().splitlines()[len(first):]
    live_checks["rotation scenarios"] += 1
    assert [line.split()[0:2] for line in rotated] == [["create", "credential"], ["update", "secret"], ["delete", "credential"]], rotated
    new = rotated[0].split()[2]
    assert rotated[1].endswith(f"token-{new}") and rotated[2] == f"delete credential {credential}"
