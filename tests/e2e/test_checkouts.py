"""One virtualenv per checkout (scripts/venv.sh): two clones of the project, each set up on its own,
run their own code — here the credential plugin's entry point, `hardened-doks-kube-credentials`; and the
wheel installs one namespace, `hardened_doks`, and that plugin.

A virtualenv keyed only by the dependency pins was shared by every clone, and its editable install
pointed at whichever clone created it: the other clone's plugin and tools ran that clone's code.

Each clone's virtualenv is made by the real scripts/venv.sh, in a cache folder of the test's own.
To keep it to seconds, pip installs the project alone (``PIP_NO_DEPS``; its build backend comes from
PyPI, as in any first set-up) and the clones' virtualenvs read the third-party packages from the
virtualenv running the tests (a ``.pth`` file): what is under test is where the project's own code
comes from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from hardened_doks.tools.offline import PROJECT_DIR

#: What `pip install -e .` of a clone needs (pyproject names README.md as the long description).
CLONE_ENTRIES = ("pyproject.toml", "constraints.txt", "README.md", "tools", "components", "policy")
PLUGIN = "hardened-doks-kube-credentials"


def make_clone(path: Path, name: str) -> Path:
    path.mkdir()
    for entry in CLONE_ENTRIES:
        source = PROJECT_DIR / entry
        if source.is_dir():
            subprocess.run(["cp", "-r", str(source), str(path / entry)], check=True)
        else:
            subprocess.run(["cp", str(source), str(path / entry)], check=True)
    (path / "scripts").mkdir()
    subprocess.run(["cp", "-p", str(PROJECT_DIR / "scripts" / "venv.sh"), str(path / "scripts" / "venv.sh")], check=True)
    # Tell the clones apart: the plugin's --help prints its docstring's first line.
    plugin = path / "tools" / "kube_credentials.py"
    plugin.write_text(plugin.read_text().replace('"""A kubectl/client-go exec credential plugin', f'"""[clone {name}] A kubectl/client-go exec credential plugin', 1))
    return path


def set_up(clone: Path, env: dict[str, str]) -> Path:
    result = subprocess.run([str(clone / "scripts" / "venv.sh")], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    venv = Path(result.stdout.strip())
    third_party_from_this_run(venv)
    return venv


def third_party_from_this_run(venv: Path) -> Path:
    """Let ``venv`` read the third-party packages of the virtualenv running the tests (a .pth file); its site-packages."""
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "test-third-party.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return site


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HARDENED_DOKS_CACHE": str(tmp_path / "cache"), "PIP_NO_DEPS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def test_two_clones_each_run_their_own_code(tmp_path: Path, env: dict[str, str]) -> None:
    clones = {name: make_clone(tmp_path / name, name) for name in ("a", "b")}
    venvs = {name: set_up(clone, env) for name, clone in clones.items()}
    assert venvs["a"] != venvs["b"], "one virtualenv per checkout"
    for name, clone in clones.items():
        assert (clone / ".venv").resolve() == venvs[name].resolve(), "the .venv link Pulumi.yaml names"
        other = "b" if name == "a" else "a"
        helped = subprocess.run([str(clone / ".venv" / "bin" / PLUGIN), "--help"], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert helped.returncode == 0, helped.stderr
        assert f"[clone {name}]" in helped.stdout and f"[clone {other}]" not in helped.stdout
    # A second set-up changes nothing: same virtualenv, no re-install.
    again = subprocess.run([str(clones["a"] / "scripts" / "venv.sh")], env=env, capture_output=True, text=True, check=True)
    assert Path(again.stdout.strip()) == venvs["a"] and "setting up" not in again.stderr


def test_the_link_is_repaired_and_a_folder_in_its_place_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    clone = make_clone(tmp_path / "c", "c")
    venv = set_up(clone, env)
    link = clone / ".venv"
    link.unlink()
    link.symlink_to(tmp_path)  # e.g. left by an older set-up
    assert Path(subprocess.run([str(clone / "scripts" / "venv.sh")], env=env, capture_output=True, text=True, check=True).stdout.strip()) == venv
    assert link.resolve() == venv.resolve()
    # A real folder there (an official language host creates one when `pulumi` runs before the set-up)
    # is not deleted: the set-up stops and says what to do.
    link.unlink()
    link.mkdir()
    refused = subprocess.run([str(clone / "scripts" / "venv.sh")], env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert "is a folder, not the link to this checkout's virtualenv: remove it (rm -rf .venv)" in refused.stderr
    assert link.is_dir() and not link.is_symlink()


def test_the_wheel_installs_one_namespace_and_its_plugin(tmp_path: Path, env: dict[str, str]) -> None:
    # What `pip install` of a release puts into site-packages: one package, hardened_doks (issue 12.5:
    # nothing generic like `components` or `tools` that another distribution could overwrite).
    clone = make_clone(tmp_path / "w", "w")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(clone)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("hardened_doks-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"hardened_doks", dist_info}
    assert {"hardened_doks/stack.py", "hardened_doks/config/loader.py", "hardened_doks/tools/render.py", "hardened_doks/policy/kubernetes.py"} <= set(names)
    assert f"{PLUGIN} = hardened_doks.tools.kube_credentials:main" in entry_points

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = third_party_from_this_run(venv)
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    # Run from a folder with no checkout: the code comes from the wheel alone.
    probe = "import hardened_doks.stack, hardened_doks.policy, hardened_doks.tools.render as r; print(r.__file__)"
    imported = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip().startswith(str(site / "hardened_doks")), imported.stdout
    helped = subprocess.run([str(venv / "bin" / PLUGIN), "--help"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert helped.returncode == 0 and "[clone w]" in helped.stdout, helped.stderr
