"""The layers' boundaries: components import nothing from tools; the exec plugin's contract has one home."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from hardened_doks.exec_plugin import CREDENTIALS_COMMAND, plugin_args
from hardened_doks.tools import kube_credentials
from hardened_doks.tools.offline import PROJECT_DIR


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
    tools = "hardened_doks.tools"
    offending = {str(p.relative_to(PROJECT_DIR)): sorted(m for m in _imports(p) if m == tools or m.startswith(f"{tools}.")) for p in files}
    assert {p: m for p, m in offending.items() if m} == {}


def test_the_kubeconfigs_command_is_the_installed_plugin_and_takes_its_arguments() -> None:
    scripts = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[CREDENTIALS_COMMAND] == "hardened_doks.tools.kube_credentials:main"
    # The arguments the kubeconfig passes are the ones the plugin's parser requires.
    assert kube_credentials.parser().parse_args(plugin_args("c0ffee")).cluster_id == "c0ffee"


#: The installed package's folders in the repository, and the import name each is installed under
#: (pyproject.toml package-dir): the repository keeps its layout, site-packages gets one namespace.
INSTALLED_AS = {"components": "hardened_doks", "tools": "hardened_doks.tools", "policy/hardened_doks_policy": "hardened_doks.policy"}


def _python_files() -> list[Path]:
    skip = {".venv", "build", "node_modules", ".git"}
    return [p for p in PROJECT_DIR.rglob("*.py") if not skip & set(p.relative_to(PROJECT_DIR).parts)]


def test_code_imports_the_installed_names_only() -> None:
    # From the checkout's root `components` and `tools` are importable as folders too: a module imported
    # under both names would be loaded twice (two ConfigError classes, two registries of add-ons).
    old = {"components", "tools", "hardened_doks_policy"}
    offending = {str(p.relative_to(PROJECT_DIR)): sorted(m for m in _imports(p) if m.split(".")[0] in old) for p in _python_files()}
    assert {p: m for p, m in offending.items() if m} == {}


def test_the_package_folders_are_mapped_under_one_namespace() -> None:
    setuptools = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {folder: name for name, folder in setuptools["package-dir"].items()} == INSTALLED_AS
    assert {name.split(".")[0] for name in setuptools["packages"]} == {"hardened_doks"}


def test_every_package_folder_is_installed() -> None:
    # pyproject.toml lists the packages by name: a new subpackage left out is missing from the wheel (and from
    # the component provider's virtualenv, which installs this repository), though the checkout imports it.
    listed = set(tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join((INSTALLED_AS[root], *p.parent.relative_to(PROJECT_DIR / root).parts))
        for root in INSTALLED_AS
        for p in (PROJECT_DIR / root).rglob("__init__.py")
    }
    assert folders <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(folders - listed)}"
