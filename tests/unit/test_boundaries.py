"""The layers' boundaries: components import nothing from tools; the exec plugin's contract has one home."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from components.exec_plugin import CREDENTIALS_COMMAND, plugin_args
from tools import kube_credentials
from tools.offline import PROJECT_DIR


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_components_import_nothing_from_tools() -> None:
    files = sorted((PROJECT_DIR / "components").rglob("*.py"))
    assert len(files) > 20
    offending = {str(p.relative_to(PROJECT_DIR)): sorted(m for m in _imports(p) if m == "tools" or m.startswith("tools.")) for p in files}
    assert {p: m for p, m in offending.items() if m} == {}


def test_the_kubeconfigs_command_is_the_installed_plugin_and_takes_its_arguments() -> None:
    scripts = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[CREDENTIALS_COMMAND] == "tools.kube_credentials:main"
    # The arguments the kubeconfig passes are the ones the plugin's parser requires.
    assert kube_credentials.parser().parse_args(plugin_args("c0ffee")).cluster_id == "c0ffee"


def test_every_package_folder_is_installed() -> None:
    # pyproject.toml lists the packages by name: a new subpackage left out is missing from the wheel (and from
    # the component provider's virtualenv, which installs this repository), though the checkout imports it.
    listed = set(tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(PROJECT_DIR).parts) for root in ("components", "tools") for p in (PROJECT_DIR / root).rglob("__init__.py")}
    assert folders <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(folders - listed)}"
