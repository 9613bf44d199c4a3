"""The project's Helm post-renderer: it only adds restrictions, only where they are missing."""

from __future__ import annotations

import copy
import subprocess
import sys

import yaml

from hardened_doks.tools import helm_postrender
from hardened_doks.tools.offline import PROJECT_DIR


def _deployment(container: dict, pod: dict | None = None) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"securityContext": pod or {}, "containers": [container]}}}}  # fmt: skip


def test_drops_all_capabilities_where_none_are_added_and_sets_the_users_group() -> None:
    document = helm_postrender.harden(_deployment({"name": "c", "securityContext": {"runAsUser": 100}}, {"runAsUser": 65532}))
    pod = document["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsUser": 65532, "runAsGroup": 65532}
    assert pod["containers"][0]["securityContext"] == {"runAsUser": 100, "runAsGroup": 100, "capabilities": {"drop": ["ALL"]}}


def test_never_loosens_or_overrides_what_is_set() -> None:
    falco_like = _deployment({"name": "c", "securityContext": {"capabilities": {"add": ["BPF"]}}}, {"runAsUser": 0})
    set_already = _deployment({"name": "c", "securityContext": {"runAsUser": 5, "runAsGroup": 6, "capabilities": {"drop": ["ALL"]}}})
    for document in (falco_like, set_already):
        assert helm_postrender.harden(copy.deepcopy(document)) == document


def test_hardens_workload_templates_held_in_a_config_map_and_leaves_other_kinds() -> None:
    cronjob = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "scan"}]}}}}}}
    config_map = {"kind": "ConfigMap", "data": {"cronjobTemplate": yaml.safe_dump(cronjob), "config.json": '{"a": 1}'}}
    hardened = helm_postrender.harden(config_map)
    template = yaml.safe_load(hardened["data"]["cronjobTemplate"])
    assert template["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContext"] == {"capabilities": {"drop": ["ALL"]}}
    assert hardened["data"]["config.json"] == '{"a": 1}'
    service = {"kind": "Service", "spec": {"ports": [{"port": 80}]}}
    assert helm_postrender.harden(copy.deepcopy(service)) == service


def test_runs_as_helm_runs_it_stdin_to_stdout() -> None:
    manifests = yaml.safe_dump_all([_deployment({"name": "c"}), {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}])
    script = PROJECT_DIR / "tools" / "helm_postrender.py"
    assert script.stat().st_mode & 0o111, "Helm executes it: it must be executable"
    result = subprocess.run([sys.executable, str(script)], input=manifests, capture_output=True, text=True, check=True)
    deployment, config_map = yaml.safe_load_all(result.stdout)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert config_map["metadata"]["name"] == "x"


def test_runs_with_the_project_virtualenv_whatever_the_path() -> None:
    # Helm is started by the Kubernetes provider with the CLI's environment: with `pulumi` run
    # directly that PATH need not hold a python3 with PyYAML. The script finds the project's .venv.
    script = PROJECT_DIR / "tools" / "helm_postrender.py"
    assert (PROJECT_DIR / ".venv" / "bin" / "python").exists(), "scripts/venv.sh links .venv"
    manifests = yaml.safe_dump(_deployment({"name": "c"}))
    result = subprocess.run([str(script)], input=manifests, capture_output=True, text=True, env={"PATH": "/nonexistent"}, check=False)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
