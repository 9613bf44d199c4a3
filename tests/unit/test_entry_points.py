"""The make targets and the scripts behind `make up` and `make destroy`, run as a user runs them.

Each script runs in a scratch copy of the project with a fake `pulumi` on PATH that records its
arguments (and, like the real CLI, writes ``encryptionsalt`` into the stack file when it creates a
stack), and a stand-in for scripts/venv.sh that prints this virtualenv. What is checked is what the
scripts decide: what they refuse, in which order they call the CLI, and that nothing is created
(no stack, no salt in a tracked stack file) when a check fails. The real engine's side of the same
commands is the end-to-end tier's (tests/e2e/test_direct_pulumi.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hardened_doks.tools.offline import PROJECT_DIR

#: What the scripts need of the project.
ENTRIES = ("Pulumi.yaml", "components", "tools", "stacks")
SCRIPTS = ("up.sh", "destroy.sh", "common.sh", "setup.sh")

FAKE_PULUMI = """#!/bin/sh
# Records each call; `stack select --create` creates the stack as the CLI does (a marker, and the
# passphrase provider's salt in the stack file).
echo "$*" >> "$FAKE_PULUMI_LOG"
echo "$1 PULUMI_SKIP_CHECKPOINTS=${PULUMI_SKIP_CHECKPOINTS:-} PULUMI_PARALLEL=${PULUMI_PARALLEL:-}" >> "$FAKE_PULUMI_LOG.env"
case "$1 $2" in
  "stack select")
    for stack in "$@"; do :; done
    if [ -e "$FAKE_PULUMI_STACKS/$stack" ]; then exit 0; fi
    case " $* " in *" --create "*) ;; *) echo "error: no stack named '$stack' found" >&2; exit 255;; esac
    touch "$FAKE_PULUMI_STACKS/$stack"
    echo "encryptionsalt: v1:fake=:v1:fake:fake==" >> "stacks/Pulumi.$stack.yaml";;
  "version ") echo v3.260.0;;
esac
if [ "$1" = "${FAKE_PULUMI_FAIL:-}" ]; then echo "error: $1 failed" >&2; exit 255; fi
"""


@dataclass
class Checkout:
    root: Path
    env: dict[str, str]

    @property
    def calls(self) -> list[str]:
        log = Path(self.env["FAKE_PULUMI_LOG"])
        return log.read_text().splitlines() if log.exists() else []

    def run(self, *args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), cwd=self.root, env={**self.env, **env}, input=input, capture_output=True, text=True, timeout=120, check=False
        )

    def stack_files(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted((self.root / "stacks").iterdir())}


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    root = tmp_path / "hardened-doks"
    root.mkdir()
    for entry in ENTRIES:
        source = PROJECT_DIR / entry
        if source.is_dir():
            shutil.copytree(source, root / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, root / entry)
    (root / "scripts").mkdir()
    for script in SCRIPTS:
        shutil.copy2(PROJECT_DIR / "scripts" / script, root / "scripts" / script)
    venv_stub = root / "scripts" / "venv.sh"
    venv_stub.write_text(f"#!/bin/sh\necho {sys.prefix}\n")
    venv_stub.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI)
    fake.chmod(0o755)
    (tmp_path / "stacks-created").mkdir()
    env = {
        "PATH": os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "FAKE_PULUMI_LOG": str(tmp_path / "pulumi.log"),
        "FAKE_PULUMI_STACKS": str(tmp_path / "stacks-created"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "unit",
        "DIGITALOCEAN_TOKEN": "dop_v1_unit",
        "HARDENED_DOKS_CLUSTER_ACCESS_TOKEN": "dop_v1_unit_access",
    }
    return Checkout(root, env)


# -- make ---------------------------------------------------------------------------------------


def test_make_without_a_target_prints_the_help_of_every_target() -> None:
    result = subprocess.run(["make", "-C", str(PROJECT_DIR), "--no-print-directory"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: make <target>")
    listed = re.findall(r"^  (\S+)\s+\S", result.stdout, flags=re.M)
    makefile = (PROJECT_DIR / "Makefile").read_text()
    phony = re.search(r"^\.PHONY: (.+)$", makefile, flags=re.M)
    assert phony is not None
    # Every target is documented (a `##` comment), so the help lists it; the default goal runs nothing else.
    assert sorted(listed) == sorted(phony.group(1).split())
    dry = subprocess.run(["make", "-C", str(PROJECT_DIR), "-n", "--no-print-directory"], capture_output=True, text=True, check=True)
    assert dry.stdout.startswith("awk ") and "scripts/" not in dry.stdout
    assert re.search(r"^  destroy\s+.*refuses prod", result.stdout, flags=re.M)


def test_make_unit_runs_the_unit_tier_alone() -> None:
    dry = subprocess.run(["make", "-C", str(PROJECT_DIR), "--no-print-directory", "-n", "unit"], capture_output=True, text=True, check=True)
    assert dry.stdout.split() == ["scripts/test.sh", "--unit"]
    script = (PROJECT_DIR / "scripts" / "test.sh").read_text()
    assert 'if [ "$unit_only" = 1 ]; then exit 0; fi\nscripts/e2e.sh' in script


# -- make up ------------------------------------------------------------------------------------


def test_an_unknown_stack_is_refused_naming_the_known_ones(checkout: Checkout) -> None:
    before = checkout.stack_files()
    for script in ("scripts/up.sh", "scripts/destroy.sh"):
        result = checkout.run(script, "stagign")
        assert result.returncode == 2
        assert result.stderr.strip() == "unknown stack 'stagign': there is no stacks/Pulumi.stagign.yaml (known stacks: dev, prod, staging)"
    assert checkout.calls == []
    assert checkout.stack_files() == before


def test_a_failed_preflight_creates_nothing(checkout: Checkout) -> None:
    stack_file = checkout.root / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("hardened-doks:region: nyc3", "hardened-doks:region: nyc3\n  hardened-doks:regoin: fra1"))
    before = checkout.stack_files()
    result = checkout.run("scripts/up.sh", "dev")
    assert result.returncode == 1
    assert "FAIL  hardened-doks:regoin: unknown setting" in result.stdout
    assert "preflight failed" in result.stderr and "nothing was created" in result.stderr
    assert checkout.calls == []  # no `stack select --create`: no stack, no salt
    assert checkout.stack_files() == before
    assert not (Path(checkout.env["PULUMI_BACKEND_URL"].removeprefix("file://"))).exists()


def test_missing_credentials_stop_before_the_cli(checkout: Checkout) -> None:
    for unset, named in (("HARDENED_DOKS_CLUSTER_ACCESS_TOKEN", "kubernetes:access_cluster"), ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE")):
        env = {k: v for k, v in checkout.env.items() if k != unset}
        result = subprocess.run(["scripts/up.sh", "dev"], cwd=checkout.root, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 2 and named in result.stderr, (unset, result.stderr)
    assert checkout.calls == []


def test_up_creates_the_stack_after_the_checks_and_says_to_commit_the_salt(checkout: Checkout) -> None:
    result = checkout.run("scripts/up.sh", "dev", "--yes", HARDENED_DOKS_SKIP_PREFLIGHT="1")
    assert result.returncode == 0, result.stderr
    assert checkout.calls == ["stack select --create --secrets-provider passphrase dev", "up --stack dev --yes"]
    assert "stacks/Pulumi.dev.yaml now holds its encryptionsalt; commit it" in result.stderr
    assert yaml.safe_load((checkout.root / "stacks" / "Pulumi.dev.yaml").read_text())["encryptionsalt"]
    assert (Path(checkout.env["PULUMI_BACKEND_URL"].removeprefix("file://"))).is_dir()  # the local state directory
    # A second run selects the existing stack and says nothing about the salt.
    again = checkout.run("scripts/up.sh", "dev", HARDENED_DOKS_SKIP_PREFLIGHT="1")
    assert again.returncode == 0 and "encryptionsalt" not in again.stderr


def test_up_runs_the_engine_with_the_projects_settings_unless_the_caller_chose(checkout: Checkout) -> None:
    from hardened_doks.tools.engine import ENGINE_SETTINGS

    # The engine's per-step checkpoint makes `up` quadratic (docs/performance.md): off, as in the tools.
    assert ENGINE_SETTINGS == {"PULUMI_SKIP_CHECKPOINTS": "true"}
    env_log = Path(checkout.env["FAKE_PULUMI_LOG"] + ".env")
    assert checkout.run("scripts/up.sh", "dev", HARDENED_DOKS_SKIP_PREFLIGHT="1").returncode == 0
    assert env_log.read_text().splitlines()[-1] == "up PULUMI_SKIP_CHECKPOINTS=true PULUMI_PARALLEL="
    assert checkout.run("scripts/up.sh", "dev", HARDENED_DOKS_SKIP_PREFLIGHT="1", PULUMI_SKIP_CHECKPOINTS="false").returncode == 0
    assert env_log.read_text().splitlines()[-1] == "up PULUMI_SKIP_CHECKPOINTS=false PULUMI_PARALLEL="


def test_an_existing_cluster_stack_needs_no_token_but_a_valid_config(checkout: Checkout) -> None:
    stacks = checkout.root / "stacks"
    config = yaml.safe_load((stacks / "Pulumi.dev.yaml").read_text())
    config["config"]["hardened-doks:existing_cluster_kubeconfig"] = {"secure": "v1:unit"}
    config["config"]["hardened-doks:existing_cluster_name"] = "unit"
    (stacks / "Pulumi.mine.yaml").write_text(yaml.safe_dump(config))
    no_tokens = {k: v for k, v in checkout.env.items() if k not in ("DIGITALOCEAN_TOKEN", "HARDENED_DOKS_CLUSTER_ACCESS_TOKEN")}
    ok = subprocess.run(["scripts/up.sh", "mine"], cwd=checkout.root, env=no_tokens, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert checkout.calls == ["stack select --create --secrets-provider passphrase mine", "up --stack mine"]
    config["config"]["hardened-doks:environment"] = "qa"
    (stacks / "Pulumi.bad.yaml").write_text(yaml.safe_dump(config))
    bad = subprocess.run(["scripts/up.sh", "bad"], cwd=checkout.root, env=no_tokens, capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and "hardened-doks:environment" in bad.stderr and "nothing was created" in bad.stderr
    assert len(checkout.calls) == 2


# -- make destroy -------------------------------------------------------------------------------


def test_destroy_refuses_prod_and_explains_protect(checkout: Checkout) -> None:
    result = checkout.run("scripts/destroy.sh", "prod", "--yes")
    assert result.returncode == 1
    assert "refusing to destroy prod: its config sets protect" in result.stderr
    assert "PROTECTED_KINDS" in result.stderr and 'docs/operations.md, "Teardown"' in result.stderr
    assert "pulumi state unprotect --all --yes --stack prod" in result.stderr
    assert checkout.calls == []


def test_destroy_lifts_the_namespaces_protection_only_once_confirmed(checkout: Checkout) -> None:
    # No such stack in the backend: nothing to destroy, nothing unprotected.
    missing = checkout.run("scripts/destroy.sh", "dev", "--yes")
    assert missing.returncode == 2 and "nothing to destroy" in missing.stderr
    assert checkout.calls == ["stack select dev"]
    (Path(checkout.env["FAKE_PULUMI_STACKS"]) / "dev").touch()
    # Not a terminal and no --yes: refused before anything changes.
    unconfirmed = checkout.run("scripts/destroy.sh", "dev", input="dev\n")
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    assert checkout.calls == ["stack select dev", "stack select dev"]
    confirmed = checkout.run("scripts/destroy.sh", "dev", "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert checkout.calls[2:] == ["stack select dev", "state unprotect --all --yes --stack dev", "destroy --stack dev --yes"]
    # More deletes in flight than the engine's default (tools/engine.py DESTROY_SETTINGS); the caller's value wins.
    from hardened_doks.tools.engine import DESTROY_SETTINGS

    env_log = Path(checkout.env["FAKE_PULUMI_LOG"] + ".env")
    assert env_log.read_text().splitlines()[-1] == f"destroy PULUMI_SKIP_CHECKPOINTS=true PULUMI_PARALLEL={DESTROY_SETTINGS['PULUMI_PARALLEL']}"
    assert checkout.run("scripts/destroy.sh", "dev", "--yes", PULUMI_PARALLEL="4").returncode == 0
    assert env_log.read_text().splitlines()[-1] == "destroy PULUMI_SKIP_CHECKPOINTS=true PULUMI_PARALLEL=4"
    # A destroy that fails says what it left behind.
    failed = checkout.run("scripts/destroy.sh", "dev", "--yes", FAKE_PULUMI_FAIL="destroy")
    assert failed.returncode == 1
    assert "the namespaces stay unprotected in the state until the next pulumi up restores it" in failed.stderr


# -- direct Pulumi use: the project's own settings --------------------------------------------------


def test_pulumi_yaml_names_the_virtualenv_and_backend_the_tools_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import pwd

    from hardened_doks.tools import engine

    project = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert project["backend"]["url"] == "file://~/.pulumi-local/hardened-doks"
    # The link scripts/venv.sh maintains, gitignored (the virtualenv itself lives in the cache).
    assert 'link="$root/.venv"' in (PROJECT_DIR / "scripts" / "venv.sh").read_text()
    assert ".venv" in (PROJECT_DIR / ".gitignore").read_text().split()
    # The tools' backend is the CLI's: PULUMI_BACKEND_URL, else Pulumi.yaml's, `~` as the CLI expands it.
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # the CLI reads the account's home directory, not HOME
    assert engine.backend_url() == f"file://{pwd.getpwuid(os.getuid()).pw_dir}/.pulumi-local/hardened-doks"
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://bucket?endpoint=fra1.digitaloceanspaces.com")
    assert engine.backend_url() == "s3://bucket?endpoint=fra1.digitaloceanspaces.com"


#: The documented commands (docs/operations.md, "Command-line tools"): the only modules with a
#: ``__main__`` block. Everything else under tools/, components/ and policy/ is a library.
ENTRY_POINTS = {
    "tools/bench/__main__.py", "tools/budget.py", "tools/check_pins.py", "tools/component_args.py", "tools/config_doc.py", "tools/drift.py", "tools/helm_postrender.py",
    "tools/image_digests.py", "tools/kube_credentials.py", "tools/kubescape_exceptions.py", "tools/policy_check.py",
    "tools/policy_doc.py", "tools/preflight.py", "tools/preview.py", "tools/render.py", "tools/verify.py",
    "components/notifier.py",
}  # fmt: skip
#: The stack commands: the shared flags and envelope of tools/cli.py.
STACK_COMMANDS = {"tools/budget.py", "tools/drift.py", "tools/policy_check.py", "tools/preflight.py", "tools/preview.py", "tools/render.py", "tools/verify.py"}


def _modules() -> dict[str, str]:
    roots = [PROJECT_DIR / "tools", PROJECT_DIR / "components", PROJECT_DIR / "policy"]
    return {p.relative_to(PROJECT_DIR).as_posix(): p.read_text() for root in roots for p in sorted(root.rglob("*.py"))}


def test_only_the_documented_commands_are_runnable() -> None:
    runnable = {name for name, text in _modules().items() if re.search(r"^if __name__ == .__main__.:", text, re.M) or name.endswith("__main__.py")}
    assert runnable - {"policy/__main__.py"} == ENTRY_POINTS, "a library module must not be a command (docs/operations.md)"
    parsing = {name for name, text in _modules().items() if "argparse.ArgumentParser(" in text or "sys.argv" in text}
    assert parsing <= ENTRY_POINTS | {"tools/cli.py"}, f"argument parsing outside the commands: {sorted(parsing - ENTRY_POINTS)}"
    operations = (PROJECT_DIR / "docs" / "operations.md").read_text()
    for name in ENTRY_POINTS - {"components/notifier.py"}:
        module = Path(name).parent.name if Path(name).name == "__main__.py" else Path(name).stem  # a package's __main__: the package
        assert f"`hardened_doks.tools.{module}`" in operations, f"{name} is a command: docs/operations.md names it"


def test_every_stack_command_uses_the_shared_flags_and_envelope() -> None:
    modules = _modules()
    for name in STACK_COMMANDS:
        text = modules[name] + (modules["tools/checks.py"] if "checks_main" in modules[name] else "")
        assert "stack_parser(" in text and "emit(" in text and "envelope(" in text, name
        assert "argparse.ArgumentParser(" not in modules[name], f"{name} builds its parser with hardened_doks.tools.cli.stack_parser"
