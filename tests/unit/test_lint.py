"""The linter runs in the unit tier: ruff with the project's settings (pyproject.toml [tool.ruff])."""

from __future__ import annotations

import subprocess
import sys

from hardened_doks.tools.offline import PROJECT_DIR


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_would_catch_an_unused_import(tmp_path) -> None:
    # The settings are in force: a file with an unused import and a stale noqa fails.
    (tmp_path / "bad.py").write_text("import os  # noqa: E731\n")
    config = PROJECT_DIR / "pyproject.toml"
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(config), "--output-format", "concise", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and "F401" in result.stdout and "RUF100" in result.stdout, result.stdout
