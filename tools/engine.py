"""The Pulumi engine through the Automation API: a LocalWorkspace on this project, and its stacks.

Shared by the drift and preview commands. Everything that can be checked before the engine
starts is checked here and reported as one :class:`EngineError` line: an unknown stack name,
no ``pulumi`` CLI, missing credentials, a stack that was never deployed.

Stack config lives in ``stacks/`` (``stackConfigDir`` in Pulumi.yaml). LocalWorkspace's
``stack_settings()`` ignores that setting, so config is only read through the CLI-backed
calls (``get_config``/``get_all_config``), which honour it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import yaml
from pulumi import automation as auto

from hardened_doks.config import NAMESPACE
from hardened_doks.tools import do_api
from hardened_doks.tools.offline import PROJECT_DIR, stack_names

#: Where the project names its default state backend (``backend.url``; the CLI uses it when
#: PULUMI_BACKEND_URL is not set, before any backend stored by `pulumi login`).
PROJECT_FILE = PROJECT_DIR / "Pulumi.yaml"
#: The engine's per-step checkpoints skipped. By default the engine writes the whole state after
#: every step, which makes `up` and `destroy` quadratic in the number of resources (10 minutes at
#: 200 namespaces); skipped, it writes the state once, when the update ends, also when it is
#: cancelled (Ctrl-C, SIGTERM). Only a hard kill loses the record of that update's steps; the
#: recovery is `pulumi cancel`, `pulumi refresh`, `pulumi up` (docs/operations.md, "An interrupted
#: up"; tests/e2e/test_interrupted_up.py). Needs no PULUMI_EXPERIMENTAL in engine 3.260
#: (sdk/go/common/env: SkipCheckpoints). The benchmark compares it with the engine's default.
SKIP_CHECKPOINTS: dict[str, str] = {"PULUMI_SKIP_CHECKPOINTS": "true"}
#: How every command of the project runs the engine (make up/destroy, the tools, the e2e tier;
#: docs/performance.md): checkpoints skipped. The caller's value of each key passes through
#: (PULUMI_SKIP_CHECKPOINTS=false brings the per-step checkpoints back).
ENGINE_SETTINGS: dict[str, str] = SKIP_CHECKPOINTS
#: What `make destroy` adds (scripts/destroy.sh; the caller's PULUMI_PARALLEL wins): more deletes in
#: flight than the engine's default (4 × CPUs). A destroy mostly waits for the namespace controller
#: to empty and finalize each namespace (the objects in it are deleted with it: components/kube.py
#: ``deleted_with``), one namespace per slot; at 200 namespaces on 2 cores it took 150 s with 8 slots,
#: 64 s with 32 and 61 s with 96 (docs/performance.md, "Destroy"). `up` gained little from more (its
#: steps waited on the provider's request limit, since raised: components/kube_access.py, and on CPU),
#: so it keeps the default.
DESTROY_SETTINGS: dict[str, str] = {"PULUMI_PARALLEL": "32"}


class EngineError(RuntimeError):
    """The engine could not run, or failed; the message is one line saying why and what to do."""


def check_stack_name(stack: str) -> None:
    known = stack_names()
    if stack not in known:
        raise EngineError(f"unknown stack {stack!r}: there is no stacks/Pulumi.{stack}.yaml (known stacks: {', '.join(known)})")


def backend_url() -> str:
    """The backend the CLI uses here: PULUMI_BACKEND_URL, else Pulumi.yaml's ``backend.url``, with a
    leading ``file://~`` expanded as the CLI expands it (the account's home directory)."""
    url = os.environ.get("PULUMI_BACKEND_URL") or yaml.safe_load(PROJECT_FILE.read_text())["backend"]["url"]
    if url.startswith("file://~"):
        url = "file://" + pwd.getpwuid(os.getuid()).pw_dir + url.removeprefix("file://~")
    return url


def uses_digitalocean(stack: str) -> bool:
    """False for an existing-cluster stack: it creates no DigitalOcean resource and needs no token."""
    from hardened_doks.tools.offline import read_stack_file

    config, _ = read_stack_file(stack)
    return f"{NAMESPACE}:existing_cluster_kubeconfig" not in config


def check_credentials(stack: str) -> None:
    """The DigitalOcean token (refresh reads the cloud) and the secrets passphrase (state is encrypted)."""
    if uses_digitalocean(stack):
        try:
            # The DigitalOcean provider would send the token to DIGITALOCEAN_API_URL: refused.
            do_api.refuse_endpoint_override()
            do_api.token_from_env()
        except do_api.CredentialError as exc:
            raise EngineError(str(exc)) from None
    if "PULUMI_CONFIG_PASSPHRASE" not in os.environ and not os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        raise EngineError(
            "no secrets passphrase: export PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE), "
            "the one the stack was deployed with"
        )


def pulumi_bin() -> Path:
    """The folder of the pulumi CLI: on PATH, else the one scripts/toolchain.sh built (offline)."""
    found = shutil.which("pulumi")
    if found:
        return Path(found).resolve().parent
    toolchain = PROJECT_DIR / "scripts" / "toolchain.sh"
    if toolchain.is_file():
        try:
            printed = subprocess.run([str(toolchain), "--print-path"], capture_output=True, text=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            printed = None
        if printed is not None and (Path(printed.stdout.strip()) / "pulumi").is_file():
            return Path(printed.stdout.strip())
    raise EngineError(
        "the pulumi CLI is not on PATH: install it (https://www.pulumi.com/docs/install/) or build one "
        "offline with scripts/toolchain.sh"
    )


def pulumi_command() -> auto.PulumiCommand:
    return auto.PulumiCommand(root=str(pulumi_bin().parent))


def engine_settings() -> dict[str, str]:
    """:data:`ENGINE_SETTINGS`, with the caller's value of a key, when exported, winning."""
    return {key: os.environ.get(key, value) for key, value in ENGINE_SETTINGS.items()}


def environment() -> dict[str, str]:
    """Variables for the CLI: the backend, no update check, and on PATH this virtualenv's python
    (for Helm's post-renderer; the program itself runs in Pulumi.yaml's virtualenv) and the CLI's
    folder (plugins built next to it)."""
    return {
        **engine_settings(),
        "PULUMI_BACKEND_URL": backend_url(),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), str(pulumi_bin()), os.environ.get("PATH", "")]),
    }


def select_stack(stack: str, check: bool = True) -> auto.Stack:
    """Select an existing stack of this project (never creates one)."""
    check_stack_name(stack)
    if check:
        check_credentials(stack)
    command = pulumi_command()
    backend = backend_url()
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    workspace = auto.LocalWorkspace(work_dir=str(PROJECT_DIR), env_vars=environment(), pulumi_command=command)
    try:
        return auto.Stack.select(stack, workspace)
    except auto.errors.StackNotFoundError:
        raise EngineError(f"stack {stack!r} does not exist in {backend}: deploy it first (make up STACK={stack})") from None
    except auto.errors.CommandError as exc:
        raise EngineError(f"cannot select stack {stack!r} in {backend}: {last_error_line(exc)}") from None


def last_error_line(exc: Exception, default: str = "the pulumi CLI failed") -> str:
    """The CLI's own last `error: ...` line from a failed command, else its last stderr line.

    A CommandError's text is "code: N / stdout: ... / stderr: ..." (pulumi.automation._cmd).
    """
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    stderr = [line for line in text.partition(" stderr:")[2].splitlines() if line.strip()]
    return (errors or [line.strip() for line in stderr] or [default])[-1]


def config_value(stack: auto.Stack, key: str) -> Optional[auto.ConfigValue]:
    """A config value through the CLI (honours stackConfigDir), or None when unset."""
    try:
        return stack.get_config(key)
    except auto.errors.CommandError:
        return None
