"""The toolchain's language hosts as a component package's consumers use them (issue 16 groundwork).

A throwaway Python component provider (tests/e2e/component_probe: PulumiPlugin.yaml and a pyproject.toml, no
__main__.py, so the bootstrap-less mode) is added with `pulumi package add <folder>` to a YAML program (the YAML
language host) and to a Python program (our Python host's GeneratePackage and Link), and each is deployed with
`pulumi up` against the local API server: its component writes a ConfigMap, checked live, then a clean second
preview and a destroy that removes it. Nothing is mocked; the plugin's and the Python program's virtualenvs are
made by the language host with pip, so this module needs PyPI (pip's cache is used when it has the wheels).
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest
import yaml

from tests.e2e.conftest import Project, engine_env
from tests.e2e.controlplane import LocalControlPlane

PROBE = Path(__file__).parent / "component_probe"
NAMESPACE = "default"
TOKEN = "probe-token-that-must-stay-secret"
YAML_HOST_VERSION = "1.38.0"  # scripts/toolchain.sh PULUMI_YAML_VERSION


@pytest.fixture(scope="module")
def hosts_env(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path, control_plane: LocalControlPlane) -> dict[str, str]:
    """The engine's environment: the toolchain, a Pulumi home holding the Kubernetes plugin (the plugin
    installer only counts plugins installed there, not ones on PATH), a file backend, the API server."""
    return consumer_env(tmp_path_factory.mktemp("component-hosts"), toolchain_bin, control_plane)


def consumer_env(root: Path, toolchain_bin: Path, control_plane: LocalControlPlane) -> dict[str, str]:
    """The engine's environment for consumer programs below root (see hosts_env)."""
    if not (toolchain_bin / "pulumi-language-yaml").exists():
        pytest.fail(f"no pulumi-language-yaml in {toolchain_bin}: run scripts/toolchain.sh (component pulumi-yaml)")
    (root / "state").mkdir()
    env = engine_env(root, toolchain_bin)
    # pip's own cache (the host makes the virtualenvs with pip), and the API server for the default provider.
    env.update(PIP_CACHE_DIR=str(Path.home() / ".cache" / "pip"), KUBECONFIG=str(control_plane.kubeconfig_path))
    version = importlib.metadata.version("pulumi_kubernetes")
    Project(root, env).run(
        "pulumi", "plugin", "install", "resource", "kubernetes", version, "--file", str(toolchain_bin / "pulumi-resource-kubernetes")
    )
    return env


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the probe provider, depending on the project venv's pulumi and pulumi-kubernetes versions."""
    folder = tmp_path_factory.mktemp("probe") / "probe-notes"
    shutil.copytree(PROBE, folder, ignore=shutil.ignore_patterns("__pycache__", "venv", "build", "*.egg-info"))
    pins = [f"{dist}=={importlib.metadata.version(dist)}" for dist in ("pulumi", "pulumi-kubernetes")]
    pyproject = folder / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("dependencies = []", f"dependencies = {json.dumps(pins)}"))
    return folder


def consumer(root: Path, env: dict[str, str], files: dict[str, str], secrets: Optional[dict[str, str]] = None) -> Project:
    """A consumer program's folder with a dev stack, and its secret config (the probe's token by default)."""
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text)
    program = Project(root, dict(env))
    program.run("pulumi", "stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive")
    for key, value in (secrets if secrets is not None else {"token": TOKEN}).items():
        program.run("pulumi", "config", "set", "--secret", key, input=value)
    return program


@contextmanager
def deployed_note(program: Project, control_plane: LocalControlPlane, text: str) -> Iterator[dict[str, str]]:
    """`pulumi up`, then the stack outputs once the note is checked live; destroyed afterwards."""
    try:
        program.run("pulumi", "up", "--yes", "--skip-preview", "--non-interactive")
        outputs = json.loads(program.run("pulumi", "stack", "output", "--json", "--show-secrets").stdout)
        live = control_plane.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/{outputs['configMapName']}")
        assert live.status_code == 200, live.text[:300]
        assert live.json()["data"] == {"note": f"{text} {text}"}
        # A clean second preview: the component's inputs and child round-trip through the provider unchanged.
        program.run("pulumi", "preview", "--expect-no-changes", "--non-interactive")
        yield outputs
        assert TOKEN not in program.run("pulumi", "stack", "export").stdout, "the secret is plain in the state"
    finally:
        program.run("pulumi", "destroy", "--yes", "--skip-preview", "--non-interactive", check=False)
    gone = control_plane.get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/{outputs['configMapName']}")
    assert gone.status_code == 404, "destroy left the ConfigMap behind"


def test_yaml_host_reports_its_version(hosts_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "about", "runtime": "yaml"}))
    about = Project(tmp_path, dict(hosts_env)).run("pulumi", "about", "--json").stdout
    plugins = {(p["kind"], p["name"]): p.get("version") for p in json.loads(about)["plugins"]}
    assert plugins[("language", "yaml")] == YAML_HOST_VERSION


def test_a_yaml_program_adds_the_python_component_package_and_deploys_it(
    hosts_env: dict[str, str], provider: Path, control_plane: LocalControlPlane, tmp_path: Path
) -> None:
    program_yaml = {
        "name": "yaml-consumer",
        "runtime": "yaml",
        "config": {"token": {"type": "string", "secret": True}},
        "resources": {
            "note": {
                "type": "probe-notes:Note",
                "properties": {"namespace": NAMESPACE, "text": "from YAML", "copies": 2, "token": "${token}"},
            }
        },
        "outputs": {"configMapName": "${note.configMapName}", "copiesType": "${note.copiesType}", "tokenEcho": "${note.tokenEcho}"},
    }
    program = consumer(tmp_path / "yaml-consumer", hosts_env, {"Pulumi.yaml": yaml.safe_dump(program_yaml)})
    program.run("pulumi", "package", "add", str(provider))
    assert yaml.safe_load((program.workdir / "Pulumi.yaml").read_text())["packages"] == {"probe-notes": str(provider)}
    assert (program.workdir / "sdks" / "probe-notes" / "probe-notes-0.0.0.yaml").is_file()
    with deployed_note(program, control_plane, "from YAML") as outputs:
        assert outputs["tokenEcho"] == TOKEN
        assert outputs["copiesType"] == "float"  # Pulumi 3.260.0: integers reach a Python component as floats


PYTHON_PROGRAM = """
import pulumi
import pulumi_probe_notes as probe_notes

note = probe_notes.Note("note", namespace="default", text="from Python", copies=2, token=pulumi.Config().require_secret("token"))
pulumi.export("configMapName", note.config_map_name)
pulumi.export("copiesType", note.copies_type)
pulumi.export("tokenEcho", note.token_echo)
"""


def test_a_python_program_adds_the_python_component_package_and_deploys_it(
    hosts_env: dict[str, str], provider: Path, control_plane: LocalControlPlane, tmp_path: Path
) -> None:
    pulumi_yaml = {"name": "python-consumer", "runtime": {"name": "python", "options": {"virtualenv": "venv"}}}
    files = {
        "Pulumi.yaml": yaml.safe_dump(pulumi_yaml),
        "requirements.txt": f"pulumi=={importlib.metadata.version('pulumi')}\n",
        "__main__.py": PYTHON_PROGRAM,
    }
    program = consumer(tmp_path / "python-consumer", hosts_env, files)
    added = program.run("pulumi", "package", "add", str(provider))
    assert "import pulumi_probe_notes as probe_notes" in added.stdout  # Link's instructions
    assert (program.workdir / "requirements.txt").read_text().splitlines()[-1] == "sdks/probe-notes"  # Link
    assert (program.workdir / "sdks" / "probe-notes" / "pulumi_probe_notes" / "note.py").is_file()  # GeneratePackage
    with deployed_note(program, control_plane, "from Python") as outputs:
        assert outputs["tokenEcho"] == TOKEN
        assert outputs["copiesType"] == "float"
