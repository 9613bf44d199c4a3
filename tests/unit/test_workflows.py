"""The GitHub Actions templates (the infrastructure repository's .github/workflows and the
application repository's under templates/): linted by actionlint, actions pinned by commit SHA with
their version, least-privilege permissions, secrets only from the secret store, the credentials model
of the pull-request previews, and every repository command they run exists (make targets, scripts,
python modules and the flags passed to them)."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardened_doks.tools.offline import PROJECT_DIR

INFRA_WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
#: Templates for other repositories (templates/<kind>/.github/workflows/).
TEMPLATE_WORKFLOWS = sorted((PROJECT_DIR / "templates").glob("*/.github/workflows/*.yml"))
WORKFLOWS = INFRA_WORKFLOWS + TEMPLATE_WORKFLOWS
MAKEFILE = (PROJECT_DIR / "Makefile").read_text()
MAKE_TARGETS = set(re.findall(r"^([A-Za-z0-9_-]+):", MAKEFILE, flags=re.M))
#: `make X` runs `python -m hardened_doks.tools.Y` (the Makefile's recipes).
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
            module = re.search(r"-m (hardened_doks\.tools\.\w+)", MAKE_RECIPES.get(target, ""))
            flags = [w for w in shlex.split(" ".join(a.split("=", 1)[1] for a in words if a.startswith("ARGS=")))]
            if module:
                problems += python_module_problems(module.group(1), flags)
    elif program.startswith("scripts/"):
        script = PROJECT_DIR / program
        if not script.is_file() or not script.stat().st_mode & 0o111:
            problems.append(f"{program} is not an executable file in the repository")
    elif program in ("python", "python3") and words[1:2] == ["-m"] and words[2].startswith("hardened_doks.tools."):
        problems += python_module_problems(words[2], words[3:])
    return problems


def python_module_problems(module: str, args: list[str]) -> list[str]:
    """The module exists and its own --help lists every option passed to it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return [f"{module} is not a module of the installed package"]
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
            # owner/repo[/path]@<40 hex>: a tag or branch can be moved to other code; a commit cannot.
            assert re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w.-]+)*@[0-9a-f]{40}", step["uses"]), f"{path.name}: pin {step['uses']} to a commit"
    # ... and each pin says which release it is, so an update is reviewable.
    for line in path.read_text().splitlines():
        if re.match(r"\s*(- )?uses:", line):
            assert re.search(r"@[0-9a-f]{40} # v?\d+\.\d+\.\d+$", line), f"{path.name}: `{line.strip()}` needs its version in a comment"


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
    # The unit tier in minutes with the official CLI; the e2e tier its own job, with a cached toolchain.
    assert "make unit" in runs["pull-request.yml"] and "make unit" in runs["main.yml"] and "make render-all" in runs["pull-request.yml"]
    assert "make test" not in runs["pull-request.yml"] + runs["main.yml"], "make test builds the whole toolchain (~25 min)"
    e2e = pr["jobs"]["e2e"]
    assert "make e2e" in " ".join(s.get("run", "") for s in e2e["steps"])
    cache = next(s for s in e2e["steps"] if s.get("uses", "").startswith("actions/cache@"))
    assert "toolchain/*/bin" in cache["with"]["path"] and "scripts/toolchain" in cache["with"]["key"]
    assert any(s.get("uses", "").startswith("pulumi/actions@") for s in pr["jobs"]["unit"]["steps"])
    assert "vars.SCAN_SEVERITY_THRESHOLD" in (PROJECT_DIR / ".github/workflows/pull-request.yml").read_text()
    assert "make preview" in runs["pull-request.yml"]
    assert "scripts/up.sh" in runs["main.yml"] and "--policy-pack policy" in runs["main.yml"]
    assert "make verify" in runs["main.yml"]
    assert "make -s drift" in runs["drift.yml"] and "--slack" in runs["drift.yml"]
    assert drift["jobs"]["drift"]["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]


def test_the_command_check_catches_missing_commands() -> None:
    assert repository_commands(["make", "nope"]) == ["make target 'nope' is not in the Makefile"]
    assert repository_commands(["scripts/nope.sh"]) == ["scripts/nope.sh is not an executable file in the repository"]
    assert repository_commands(["python", "-m", "hardened_doks.tools.drift", "--stack", "dev", "--colour"]) == ["hardened_doks.tools.drift has no option --colour"]
    assert repository_commands(["make", "drift", "ARGS=--json --nope"]) == ["hardened_doks.tools.drift has no option --nope"]
    assert repository_commands(["python", "-m", "hardened_doks.tools.nope"]) == ["hardened_doks.tools.nope is not a module of the installed package"]
    assert repository_commands(["echo", "hi"]) == []


# -- actionlint: the real workflow linter on every file -------------------------------------------------


def actionlint_binary() -> Path:
    """actionlint from the toolchain (scripts/toolchain.sh actionlint; scripts/test.sh builds it first)."""
    folder = os.environ.get("HARDENED_DOKS_TOOLCHAIN_BIN") or subprocess.run(
        [str(PROJECT_DIR / "scripts" / "toolchain.sh"), "--print-path"], capture_output=True, text=True, check=True
    ).stdout.strip().splitlines()[-1]
    binary = Path(folder) / "actionlint"
    assert binary.is_file(), f"{binary} is missing: run scripts/toolchain.sh actionlint (scripts/test.sh does before the unit tier)"
    return binary


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(actionlint_binary()), "-no-color", *map(str, paths)], capture_output=True, text=True, timeout=60)


def test_actionlint_passes_on_every_workflow() -> None:
    assert INFRA_WORKFLOWS and TEMPLATE_WORKFLOWS
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    # The linter is live: a context used where GitHub does not allow it and a dependency on a job that
    # does not exist are caught (what a YAML parse alone accepts).
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\npermissions:\n  contents: read\njobs:\n  build:\n    runs-on: ubuntu-latest\n    needs: [nope]\n"
        "    env:\n      IMAGE: ${{ env.REGISTRY }}/app\n    steps:\n      - run: echo \"$IMAGE\"\n"
    )
    result = actionlint(broken)
    assert result.returncode == 1
    assert 'context "env" is not allowed here' in result.stdout and '"nope" which does not exist' in result.stdout


# -- the credentials model -----------------------------------------------------------------------------


def jobs_of(path: Path) -> dict[str, dict[str, Any]]:
    return load(path)["jobs"]


def test_no_workflow_runs_untrusted_code_with_the_base_repository_secrets() -> None:
    # pull_request_target and workflow_run run with the base repository's secrets and a write token while
    # able to check out a fork's code: none of the templates uses them.
    for path in WORKFLOWS:
        assert not {"pull_request_target", "workflow_run"} & set(load(path)["on"]), path.name


def test_oidc_token_only_in_the_signing_job() -> None:
    granted = []
    for path in WORKFLOWS:
        document = load(path)
        assert "id-token" not in document["permissions"], f"{path.name}: id-token at workflow level"
        for name, job in document["jobs"].items():
            if (job.get("permissions") or {}).get("id-token") == "write":
                granted.append(f"{path.parent.parent.parent.name}/{path.name}:{name}")
            assert "write-all" not in str(job.get("permissions", "")), f"{path.name}:{name}"
    assert granted == ["app-repo/build-sign-push.yml:sign-and-push"]


def test_job_permissions_add_only_what_the_job_needs() -> None:
    allowed = {
        ("pull-request.yml", "render-and-scan"): {"contents": "read", "security-events": "write", "actions": "read"},
        ("build-sign-push.yml", "sign-and-push"): {"contents": "read", "id-token": "write"},
    }
    for path in WORKFLOWS:
        for name, job in jobs_of(path).items():
            assert job.get("permissions", {"contents": "read"}) == allowed.get((path.name, name), {"contents": "read"}), f"{path.name}:{name}"


def test_pull_request_previews_use_read_only_environments_and_skip_forks() -> None:
    pr = PROJECT_DIR / ".github" / "workflows" / "pull-request.yml"
    jobs = jobs_of(pr)
    preview = jobs["preview"]
    # Each stack's read-only credentials in its own environment; preview-prod has required reviewers.
    assert preview["environment"] == "preview-${{ matrix.stack }}"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    deploy_environments = {jobs_of(PROJECT_DIR / ".github" / "workflows" / "main.yml")["up"]["environment"]}
    assert deploy_environments == {"${{ matrix.stack }}"} and preview["environment"] not in deploy_environments
    # No other pull-request job gets a cloud, state or passphrase secret.
    for name, job in jobs.items():
        text = yaml.safe_dump(job)
        if name != "preview":
            assert not re.search(r"secrets\.(DIGITALOCEAN_TOKEN|PULUMI_CONFIG_PASSPHRASE|PULUMI_BACKEND_URL|SPACES_)", text), name
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, f"{name}: the token stays out of .git/config"
    text = pr.read_text()
    assert "required reviewers" in text and "READ-ONLY" in text


def test_deploys_run_from_main_only() -> None:
    main = load(PROJECT_DIR / ".github" / "workflows" / "main.yml")
    assert main["on"] == {"push": {"branches": ["main"]}}
    assert main["jobs"]["up"]["needs"] == "test"


# -- the manifest scan ----------------------------------------------------------------------------------


def test_kubescape_scans_the_render_with_nsa_mitre_exceptions_and_a_threshold() -> None:
    job = jobs_of(PROJECT_DIR / ".github" / "workflows" / "pull-request.yml")["render-and-scan"]
    by_use = {s["uses"].split("@")[0]: s for s in job["steps"] if "uses" in s}
    runs = [s.get("run", "") for s in job["steps"]]
    kubescape = by_use["kubescape/github-action"]["with"]
    assert runs.index("make render-all") < runs.index("make kubescape-exceptions")
    assert kubescape["files"] == "build/render" and set(kubescape["frameworks"].split(",")) == {"nsa", "mitre"}
    assert kubescape["exceptions"] == "build/kubescape-exceptions.json"
    assert "--out build/kubescape-exceptions.json" in MAKE_RECIPES["kubescape-exceptions"]
    assert kubescape["complianceThreshold"] == "${{ vars.KUBESCAPE_COMPLIANCE_THRESHOLD || '80' }}"
    assert kubescape["format"] == "sarif"
    sarif = by_use["github/codeql-action/upload-sarif"]
    assert sarif["with"]["sarif_file"] == f"{kubescape['outputFile']}.sarif" and "always()" in sarif["if"]
    assert by_use["aquasecurity/trivy-action"]["with"]["scan-ref"] == "build/render"
    slack = [s for s in job["steps"] if "scripts/ci-slack.sh" in s.get("run", "")]
    assert slack and slack[0]["if"] == "failure()" and slack[0]["env"]["SLACK_WEBHOOK_URL"] == "${{ secrets.SLACK_WEBHOOK_URL }}"


def test_ci_slack_posts_the_message_as_json_and_never_fails_the_job() -> None:
    import http.server
    import json
    import threading

    received: list[tuple[str, dict[str, Any]]] = []
    status = {"code": 200}

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's method name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = str(PROJECT_DIR / "scripts" / "ci-slack.sh")
    url = f"http://127.0.0.1:{server.server_port}/services/T/B/x"
    try:
        message = 'pull request 7: the "scan" failed\nsee the run'
        done = subprocess.run([script, message], env={**os.environ, "SLACK_WEBHOOK_URL": url}, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and received == [("/services/T/B/x", {"text": message})]
        assert url not in done.stdout + done.stderr, "the webhook is a secret"
        status["code"] = 400  # refused (not retried)
        failed = subprocess.run([script, "x"], env={**os.environ, "SLACK_WEBHOOK_URL": url}, capture_output=True, text=True, timeout=60)
        assert failed.returncode == 0 and "posting to Slack failed" in failed.stderr
        unset = subprocess.run([script, "x"], env={k: v for k, v in os.environ.items() if k != "SLACK_WEBHOOK_URL"}, capture_output=True, text=True)
        assert unset.returncode == 0 and "not posting" in unset.stderr and len(received) == 2
    finally:
        server.shutdown()


def test_the_workflows_install_the_pinned_engine_and_provider() -> None:
    # The official releases the workflows install are the ones the project pins (pyproject.toml) and the
    # offline toolchain builds, so CI runs what the tests ran.
    pyproject = (PROJECT_DIR / "pyproject.toml").read_text()
    toolchain = (PROJECT_DIR / "scripts" / "toolchain.sh").read_text()
    pulumi = re.search(r'"pulumi==([\d.]+)"', pyproject).group(1)
    kubernetes = re.search(r'"pulumi-kubernetes==([\d.]+)"', pyproject).group(1)
    assert f"PULUMI_VERSION={pulumi} " in toolchain and f'TOOLCHAIN_K8S_PROVIDER_VERSION:-{kubernetes}}}' in toolchain
    for path in INFRA_WORKFLOWS:
        env = load(path)["env"]
        assert env["PULUMI_VERSION"] == pulumi, path.name
        if "K8S_PROVIDER_VERSION" in env:
            assert env["K8S_PROVIDER_VERSION"] == kubernetes, path.name


def test_cloud_state_and_passphrase_secrets_come_only_from_environments() -> None:
    # Repository-level secrets are readable by any branch that edits a workflow; environments with
    # deployment-branch rules and reviewers are not.
    for path in WORKFLOWS:
        for name, job in jobs_of(path).items():
            if re.search(r"secrets\.(DIGITALOCEAN_|PULUMI_CONFIG_PASSPHRASE|PULUMI_BACKEND_URL|SPACES_)", yaml.safe_dump(job)):
                assert job.get("environment"), f"{path.name}:{name} reads a credential outside an environment"
    drift = jobs_of(PROJECT_DIR / ".github" / "workflows" / "drift.yml")["drift"]
    assert drift["environment"] == "drift-${{ matrix.stack }}"
