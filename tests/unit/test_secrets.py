"""No output or input holds a token or kubeconfig in plain text."""

from __future__ import annotations

from hardened_doks.tools.offline import ProgramRun, run_stack
from tests.unit.kubeconfig import kubeconfig

SENSITIVE_INPUTS = {"pulumi:providers:kubernetes": ["kubeconfig"]}
SENSITIVE_OUTPUTS = {"kubeconfig"}


def test_kubeconfig_output_is_secret(stack_run: ProgramRun) -> None:
    assert SENSITIVE_OUTPUTS <= set(stack_run.outputs)
    assert SENSITIVE_OUTPUTS <= stack_run.secret_outputs


def test_sensitive_inputs_are_secret(stack_run: ProgramRun) -> None:
    for type_, paths in SENSITIVE_INPUTS.items():
        for resource in stack_run.of_type(type_):
            for path in paths:
                assert resource.is_secret(path), f"{resource.name}.{path} is not secret"


def test_no_plain_input_or_output_contains_a_secret_config_value() -> None:
    token = "dop_v1_" + "0" * 64
    run = run_stack("dev", secret_overrides={"existing_cluster_kubeconfig": kubeconfig(token=token)}, overrides={"existing_cluster_name": "legacy"})
    for resource in run.resources:
        _assert_only_in_secrets(resource.inputs, "", resource.secret_paths, token, resource.name)
    for key, value in run.outputs.items():
        if key not in run.secret_outputs:
            assert token not in str(value), key


def _assert_only_in_secrets(value, path, secret_paths, needle, where) -> None:
    if any(path == p or path.startswith(p + ".") for p in secret_paths):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _assert_only_in_secrets(v, f"{path}.{k}" if path else k, secret_paths, needle, where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _assert_only_in_secrets(v, f"{path}.{i}" if path else str(i), secret_paths, needle, where)
    else:
        assert needle not in str(value), f"{where}.{path} holds a secret in plain text"
