"""`pulumi` run directly, as a Pulumi user would after `make setup`: no make, no PULUMI_BACKEND_URL,
no virtualenv on PATH — only the project's own Pulumi.yaml (its `virtualenv` option and its
`backend.url`) and the policy pack's PulumiPolicy.yaml.

`pulumi login`, `pulumi stack select --create`, `pulumi config set` and `pulumi preview --policy-pack
policy` of an existing-cluster stack against the local API server. The stack lives in the backend
Pulumi.yaml names (``file://~/.pulumi-local/hardened-doks``: the CLI expands ``~`` to the account's
home directory, whatever HOME says) under a name of its own, and is removed again; the preview
changes nothing in the cluster, so the test depends on no other and leaves everything as found.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import PASSPHRASE, SNYK_INTEGRATION_ID, SNYK_TOKEN, Project, copy_project, e2e_stack_config, local_charts
from tests.e2e.controlplane import LocalControlPlane

#: Pulumi.yaml's backend, as the CLI prints it, and where that is on disk.
BACKEND = "file://~/.pulumi-local/hardened-doks"
STATE_DIR = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".pulumi-local" / "hardened-doks"


@pytest.fixture
def checkout(tmp_path: Path, toolchain_bin: Path) -> Project:
    """A scratch checkout after `make setup` (the .venv link, the state directory), and a shell whose
    PATH has the pulumi CLI but no virtualenv."""
    workdir = copy_project(tmp_path / "hardened-doks")
    assert yaml.safe_load((workdir / "Pulumi.yaml").read_text())["backend"]["url"] == BACKEND
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.pathsep.join([str(toolchain_bin), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),  # `pulumi login` records its backend here, not in ~/.pulumi
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    assert "PULUMI_BACKEND_URL" not in env
    return Project(workdir, env)


def test_login_stack_select_config_set_and_preview_with_the_policy_pack(checkout: Project, control_plane: LocalControlPlane) -> None:
    stack = f"direct-{secrets.token_hex(4)}"
    stack_file = checkout.workdir / "stacks" / f"Pulumi.{stack}.yaml"
    config = e2e_stack_config(local_charts())
    del config["hardened-doks:existing_cluster_name"]  # set below with `pulumi config set`
    stack_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))

    # No python on this PATH has the Pulumi SDK: only the virtualenv Pulumi.yaml names can run the program.
    assert checkout.run("python3", "-c", "import pulumi", check=False).returncode != 0

    login = checkout.run("pulumi", "login", "--non-interactive")
    assert f"({BACKEND})" in login.stdout, login.stdout
    assert f"Backend URL: {BACKEND}" in checkout.run("pulumi", "whoami", "--verbose", "--non-interactive").stdout
    try:
        checkout.run("pulumi", "stack", "select", "--create", "--secrets-provider", "passphrase", stack, "--non-interactive")
        assert (STATE_DIR / ".pulumi" / "stacks" / "hardened-doks" / f"{stack}.json").is_file()
        assert yaml.safe_load(stack_file.read_text())["encryptionsalt"].startswith("v1:")  # what README says to commit

        checkout.run("pulumi", "config", "set", "--secret", "existing_cluster_kubeconfig", input=control_plane.kubeconfig_path.read_text())
        checkout.run("pulumi", "config", "set", "existing_cluster_name", "direct-local")
        checkout.run("pulumi", "config", "set", "--secret", "snyk_integration_id", SNYK_INTEGRATION_ID)
        checkout.run("pulumi", "config", "set", "--secret", "snyk_service_account_token", SNYK_TOKEN)
        written = yaml.safe_load(stack_file.read_text())["config"]
        assert set(written["hardened-doks:existing_cluster_kubeconfig"]) == {"secure"}
        assert written["hardened-doks:existing_cluster_name"] == "direct-local"

        preview = checkout.run("pulumi", "preview", "--policy-pack", "policy", "--non-interactive", "--suppress-progress", timeout=900)
        output = preview.stdout + preview.stderr
        # The program ran in Pulumi.yaml's virtualenv and planned the whole in-cluster layer; the pack
        # ran in the virtualenv of its PulumiPolicy.yaml and found nothing mandatory.
        assert "has not been installed" not in output and "No module named" not in output
        creates = int(next(line for line in preview.stdout.splitlines() if "to create" in line).split()[1])
        assert creates > 100, preview.stdout[-3000:]
        assert "hardened-doks@v0.1.0" in preview.stdout, preview.stdout[-3000:]
        assert "mandatory" not in preview.stdout
    finally:
        checkout.run("pulumi", "stack", "rm", "--yes", "--force", stack, "--non-interactive", check=False)
        # `stack rm` keeps a .bak of the stack's file (and the backend its lock folder): leave the state as found.
        for path in STATE_DIR.glob(f".pulumi/*/**/{stack}*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert not list(STATE_DIR.glob(f".pulumi/**/{stack}*"))
