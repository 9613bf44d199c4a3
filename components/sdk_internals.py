"""The Pulumi SDK internals the project uses, in one place, each with the reason no public API serves.

Everything else uses the SDK's public API. When the SDK grows a public call for one of these, it
replaces the entry here and nothing else changes.
"""

from __future__ import annotations

from pulumi.runtime import config as _runtime_config
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await as sync_await
from pulumi_policy.policy import _NotApplicableError as NotApplicableError

__all__ = ["SECRET_SIG", "SECRET_VALUE", "NotApplicableError", "all_config", "run_pulumi_func", "settings", "sync_await"]


def all_config() -> dict[str, str]:
    """Every config value the program was started with, by full key.

    The SDK reads one key at a time (``pulumi.Config``); the stack config is validated as a whole,
    including keys the program does not know (a typo is an error), so it needs them all: the SDK
    keeps them in ``pulumi.runtime.config.CONFIG`` (filled from PULUMI_CONFIG by the engine, and by
    ``set_all_config`` under mocks). Which of them are secret comes from the public
    ``pulumi.runtime.is_config_secret``.
    """
    return dict(_runtime_config.CONFIG.get())


# The offline harness (tools/offline.py) runs the program under mocks as the SDK's own test runner
# does; the SDK exposes no public runner, so it uses the runner's pieces:
# - run_pulumi_func: runs a program function and waits for its resources (pulumi.runtime.stack);
# - settings: the root stack resource and the per-run RPC state it resets between runs;
# - sync_await: awaits an Output's future from synchronous code;
# - the wire markers of a secret value in a recorded resource's inputs (pulumi.runtime.rpc).
SECRET_SIG = _rpc._special_sig_key
SECRET_VALUE = _rpc._special_secret_sig

# The offline policy check (tools/policy_check.py) runs the pack's validators in-process: a policy's
# ``args.not_applicable()`` raises this, and the policy SDK exports no public name for it.
