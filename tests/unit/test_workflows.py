"""The GitHub Actions templates: valid workflow YAML, actions pinned, secrets only from the secret
store, and every repository command they run exists (make targets, scripts, python modules and
the flags passed to them)."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.offline import PROJECT_DIR

WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
MAKEFILE = (PROJECT_DIR / "Makefile").read_text()
MAKE_TARGETS = set(re.findall(r"^([A-Za-z0-9_-]+):", MAKEFILE, flags=re.M))
#: `make X` runs `python -m tools.Y` (the Makefile's recipes).
MAKE_RECIPES = dict(re.findall(r"^([A-Za-z0-9_-]+):[^\n]*\n\t([^\n]+)", MAKEFILE, flags=re.M))
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


def commands(run: str) -> list[list[str]]:
    """The commands of a `run:` block (expressions replaced by a placeholder, shell syntax split)."""
    text = EXPRESSION.sub("X", run).replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or re.match(r"^(case|esac|\*\)|[A-Z]+\))", line):
            continue
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part.split(">", 1)[0])
            if words:
                found.append(words)
    return found


def repository_commands(words: list[str]) -> list[str]:
    """What in one command must exist in the repository (empty for other programs)."""
    problems: list[str] = []
    program = words[0]
    if program == "make":
        targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        assert targets, f"make without a target: {words}"
        problems += [f"make target {t!r} is not in the Makefile" for t in targets if t not in MAKE_TARGETS]
        for target in targets:
            module = re.search(r"-m (tools\.\w+)", MAKE_RECIPES.get(target, ""))
            flags = [w for w in shlex.split(" ".join(a.split("=", 1)[1] for a in words if a.startswith("ARGS=")))]
            if module:
                problems += python_module_problems(module.group(1), flags)
    elif program.startswith("scripts/"):
        script = PROJECT_DIR / program
        if not script.is_file() or not script.stat().st_mode & 0o111:
            problems.append(f"{program} is not an executable file in the repository")
    elif program in ("python", "python3") and words[1:2] == ["-m"] and words[2].startswith("tools."):
        problems += python_module_problems(words[2], words[3:])
    return problems


def python_module_problems(module: str, args: list[str]) -> list[str]:
    """The module exists and its own --help lists every option passed to it."""
    source = PROJECT_DIR / (module.replace(".", "/") + ".py")
    if not source.is_file():
        return [f"{module} has no file {source.relative_to(PROJECT_DIR)}"]
    help_text = io.StringIO()
    with contextlib.redirect_stdout(help_text), pytest.raises(SystemExit):
        importlib.import_module(module).main(["--help"])
    options = set(re.findall(r"--[a-z][a-z-]*", help_text.getvalue()))
    return [f"{module} has no option {flag}" for flag in args if flag.startswith("--") and flag not in options]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid(path: Path) -> None:
    document = load(path)
    assert {"name", "on", "jobs", "permissions"} <= set(document), path.name
    assert document["permissions"] == {"contents": "read"}, "least privilege: read-only GITHUB_TOKEN"
    for name, job in document["jobs"].items():
        assert job.get("runs-on") and job.get("steps"), f"{path.name}: job {name}"
        needs = job.get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            assert need in document["jobs"], f"{path.name}: job {name} needs unknown job {need}"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{path.name}: a step has exactly one of uses/run: {step}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_commits(path: Path) -> None:
    for step in steps(load(path)):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), f"{path.name}: pin {step['uses']} to a commit"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_repository_command_exists(path: Path) -> None:
    problems = []
    for step in steps(load(path)):
        for words in commands(step.get("run", "")):
            problems += repository_commands(words)
    assert problems == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_come_from_the_secret_store(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"dop_v1_[0-9a-f]|hooks\.slack\.com/services/|AKIA[0-9A-Z]{12}", text)
    document = load(path)
    for job in document["jobs"].values():
        for name, value in {**document.get("env", {}), **job.get("env", {})}.items():
            if re.search(r"TOKEN|PASSPHRASE|SECRET|WEBHOOK|BACKEND_URL|ACCESS_KEY", name):
                assert re.fullmatch(r"\$\{\{ secrets\.[A-Z_]+ \}\}", str(value)), f"{path.name}: {name} must come from secrets"


def test_the_templates_cover_the_pipeline() -> None:
    by_name = {p.name: load(p) for p in WORKFLOWS}
    runs = {name: " ".join(step.get("run", "") for step in steps(doc)) for name, doc in by_name.items()}
    pr, main, drift = by_name["pull-request.yml"], by_name["main.yml"], by_name["drift.yml"]
    assert "pull_request" in pr["on"] and "push" in main["on"] and "schedule" in drift["on"]
    assert "make test" in runs["pull-request.yml"] and "make render-all" in runs["pull-request.yml"]
    assert "vars.SCAN_SEVERITY_THRESHOLD" in (PROJECT_DIR / ".github/workflows/pull-request.yml").read_text()
    assert "make preview" in runs["pull-request.yml"]
    assert "scripts/up.sh" in runs["main.yml"] and "--policy-pack policy" in runs["main.yml"]
    assert "make verify" in runs["main.yml"]
    assert "make -s drift" in runs["drift.yml"] and "--slack" in runs["drift.yml"]
    assert drift["jobs"]["drift"]["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]


def test_the_command_check_catches_missing_commands() -> None:
    assert repository_commands(["make", "nope"]) == ["make target 'nope' is not in the Makefile"]
    assert repository_commands(["scripts/nope.sh"]) == ["scripts/nope.sh is not an executable file in the repository"]
    assert repository_commands(["python", "-m", "tools.drift", "--stack", "dev", "--colour"]) == ["tools.drift has no option --colour"]
    assert repository_commands(["make", "drift", "ARGS=--json --nope"]) == ["tools.drift has no option --nope"]
    assert repository_commands(["echo", "hi"]) == []
