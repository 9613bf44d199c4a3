"""End-to-end fixtures: the real Pulumi engine against a local control plane with simulated nodes.

One control plane (etcd, kube-apiserver with RBAC and Pod Security, kube-controller-manager,
kube-scheduler, kwok) and one deployed stack per test session. The stack runs in existing-cluster
mode, in a scratch copy of the project, with a local file state backend and a passphrase secrets
provider: no network, no DigitalOcean. Nodes shaped like the stack's node pools are registered
before `pulumi up`, so every add-on's pods are created, admitted, scheduled and reach Running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from hardened_doks.config import StackConfig, parse_stack_config
from hardened_doks.addons import SCANNER_CHARTS
from hardened_doks.kube import MANAGED_NAMESPACE_LABEL
from tests.e2e.controlplane import LocalControlPlane
from hardened_doks.tools import budget
from hardened_doks.tools.engine import engine_settings
from hardened_doks.tools.offline import PROJECT_DIR, read_stack_file

#: What a copy of the project needs to run the program and the tools.
PROJECT_ENTRIES = ("Pulumi.yaml", "__main__.py", "components", "tools", "policy", "stacks")
STACK = "e2e"
#: The shipped stack the e2e stack is based on: the strictest profile.
BASE_STACK = "prod"
PASSPHRASE = "e2e-passphrase"
SLACK_WEBHOOK = "https://hooks.slack.com/services/T0E2E0000/B0E2E0000/e2eSecretWebhookToken"
#: Fake Snyk credentials (the monitor is installed; nothing reaches Snyk: no container runs).
SNYK_INTEGRATION_ID = "e2e00000-0000-4000-8000-000000000e2e"
SNYK_TOKEN = "e2e-snyk-service-account-token-secret"
#: Where the shared third-party charts are (docs/scanners.md, "Where the charts come from, what the tests render, and how to bump a pin").
SHARED_CHARTS = Path(os.environ.get("HARDENED_DOKS_CHARTS") or PROJECT_DIR.parent / "shared" / "charts")
CACHE = Path(os.environ.get("HARDENED_DOKS_CACHE") or Path.home() / ".cache" / "hardened-doks")


#: Seconds for a setup script (a chart fetched, the toolchain's path): cached, it takes seconds.
SCRIPT_TIMEOUT = 1800


def _script_output(*args: str) -> str:
    completed = subprocess.run([str(PROJECT_DIR / "scripts" / args[0]), *args[1:]], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
    if completed.returncode != 0:
        pytest.fail(f"scripts/{' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    return completed.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def toolchain_bin() -> Path:
    """The folder with pulumi, its Python language host, the Kubernetes provider, etcd and kube-apiserver."""
    path = Path(os.environ.get("HARDENED_DOKS_TOOLCHAIN_BIN") or _script_output("toolchain.sh", "--print-path"))
    wanted = (
        "pulumi", "pulumi-language-python", "pulumi-resource-kubernetes", "etcd", "kube-apiserver", "kube-controller-manager",
        "kube-scheduler", "kwok", "kwok-stages.yaml",
    )  # fmt: skip
    missing = [b for b in wanted if not (path / b).exists()]
    if missing:
        pytest.fail(f"toolchain incomplete in {path}: missing {', '.join(missing)}; run scripts/toolchain.sh")
    return path


@pytest.fixture(scope="session")
def control_plane(toolchain_bin: Path) -> Iterator[LocalControlPlane]:
    """The API server, with what DOKS provides that the stack relies on (doks_like_control_plane)."""
    with doks_like_control_plane(toolchain_bin) as plane:
        yield plane


@contextmanager
def doks_like_control_plane(toolchain_bin: Path) -> Iterator[LocalControlPlane]:
    """A local control plane with what DOKS provides that the stack relies on: Cilium's CiliumNetworkPolicy
    type (Cilium is its CNI) and the do-block-storage StorageClass with volumes to bind."""
    crds = Path(_script_output("kyverno-chart.sh", "--crds"))
    with LocalControlPlane(toolchain_bin) as plane:
        plane.install_crd(crds / "ciliumnetworkpolicies.yaml")
        plane.install_doks_storage()
        yield plane


def shared_chart(key: str) -> str:
    """The pinned chart of a scanner add-on from the shared charts folder, unpacked once into the
    cache (``chart_path`` takes an unpacked chart)."""
    pin = SCANNER_CHARTS[key]
    archive = SHARED_CHARTS / f"{pin.name}-{pin.version}.tgz"
    if not archive.is_file():
        pytest.fail(f"{archive} is missing: the e2e tier installs {pin.name} {pin.version} from the shared charts folder (or $HARDENED_DOKS_CHARTS)")
    target = CACHE / "artifacts" / "charts" / f"{pin.name}-{pin.version}"
    if not (target / pin.name / "Chart.yaml").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=target.parent))
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        try:
            scratch.rename(target)  # atomic: a concurrent session sees no chart or the whole chart
        except OSError:  # another session unpacked it first
            shutil.rmtree(scratch, ignore_errors=True)
    return str(target / pin.name)


#: Why a controller could not create a pod that retrying will not change (Pod Security, quota,
#: LimitRange, a ValidatingAdmissionPolicy or webhook denial): seen during `pulumi up`, the update
#: is interrupted at once.
PERSISTENT_REFUSALS = (
    "violates PodSecurity", "exceeded quota", "must specify", "is forbidden: maximum", "is forbidden: minimum",
    "ValidatingAdmissionPolicy", "denied request", "denied the request",
)  # fmt: skip


def refused_pods(plane: LocalControlPlane) -> Callable[[], Optional[str]]:
    """A watch for `Project.run`: the FailedCreate events of pods refused for good, if any."""

    def check() -> Optional[str]:
        events = plane.get("/api/v1/events", params={"fieldSelector": "reason=FailedCreate"}).json().get("items") or []
        refused = {
            f"{e['involvedObject']['kind']} {e['involvedObject']['namespace']}/{e['involvedObject']['name']}": e["message"]
            for e in events
            if any(r in e["message"] for r in PERSISTENT_REFUSALS)
        }
        lines = [f"{owner}: {message}" for owner, message in sorted(refused.items())]
        return "pods refused at creation (they would never become ready):\n" + "\n".join(lines) if lines else None

    return check


def mark_cluster_policies_ready(plane: LocalControlPlane) -> None:
    """Stand in for Kyverno's policy controller, which no container runs here: give every
    ClusterPolicy the ``Ready`` condition Kyverno sets once it serves the policy. What the tier then
    checks is that the engine waits for it (whatever depends on admission is created after)."""
    listed = plane.get("/apis/kyverno.io/v1/clusterpolicies")
    if listed.status_code != 200:  # the CRD is not installed yet
        return
    for policy in listed.json()["items"]:
        conditions = (policy.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            continue
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "Ready (e2e stand-in for Kyverno)", "lastTransitionTime": now}
        plane.request(
            "PATCH",
            f"/apis/kyverno.io/v1/clusterpolicies/{policy['metadata']['name']}/status",
            headers={"Content-Type": "application/merge-patch+json"},
            json={"status": {"ready": True, "conditions": [ready]}},
        )


def finalize_emptied_namespaces(plane: LocalControlPlane, names: set[str]) -> Callable[[], Optional[str]]:
    """A watch that stands in for the last step of the namespace controller, which cannot take it
    here: Kubescape's aggregated API has no server in this tier (docs/testing.md), so discovery is
    incomplete and a deleted Namespace would stay Terminating. Once the controller reports that it
    removed all content and that only discovery is missing, the Namespace is finalized as it would."""

    def watch() -> Optional[str]:
        for name in names:
            found = plane.get(f"/api/v1/namespaces/{name}")
            namespace = found.json() if found.status_code == 200 else {}
            if (namespace.get("status") or {}).get("phase") != "Terminating":
                continue
            conditions = {c["type"]: c["status"] for c in namespace["status"].get("conditions") or []}
            emptied = conditions.get("NamespaceContentRemaining") == "False" and conditions.get("NamespaceFinalizersRemaining") == "False"
            if emptied and conditions.get("NamespaceDeletionDiscoveryFailure") == "True":
                namespace["spec"]["finalizers"] = []
                finalized = plane.request("PUT", f"/api/v1/namespaces/{name}/finalize", json=namespace)
                assert finalized.status_code in (200, 404, 409), finalized.text[:500]
        return None

    return watch


def also(*watches: Callable[[], Optional[str]]) -> Callable[[], Optional[str]]:
    def watch() -> Optional[str]:
        return next((found for found in (w() for w in watches) if found is not None), None)

    return watch


def state_resources(project: Project) -> list[dict[str, Any]]:
    return json.loads(project.pulumi("stack", "export", timeout=120).stdout)["deployment"]["resources"]


@contextmanager
def stack_config(project: Project, change: Any) -> Iterator[None]:
    """The stack file changed by ``change(config)`` while the block runs; then the original again."""
    stack_file = project.workdir / "stacks" / f"Pulumi.{STACK}.yaml"
    original = stack_file.read_text()
    document = yaml.safe_load(original)
    change(document["config"])
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    try:
        yield
    finally:
        stack_file.write_text(original)


def while_up(plane: LocalControlPlane) -> Callable[[], Optional[str]]:
    """The watch of the deploying `pulumi up`: the stand-ins for what no container does here,
    then :func:`refused_pods`."""
    refused = refused_pods(plane)

    def watch() -> Optional[str]:
        mark_cluster_policies_ready(plane)
        return refused()

    return watch


def doks_version(plane: LocalControlPlane) -> str:
    """The DOKS version label of the simulated nodes: the API server's version, DOKS-style."""
    return plane.get("/version").json()["gitVersion"].removeprefix("v") + "-do.0"


@dataclass
class Project:
    """A scratch copy of the project with its own Pulumi home, state and stack."""

    workdir: Path
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    def run(
        self, *args: str, check: bool = True, timeout: int = 900, input: Optional[str] = None, watch: Optional[Callable[[], Optional[str]]] = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the project. ``watch`` is polled while it runs: when it returns a
        message, the command is interrupted and the run fails with that message (a pod refused by
        admission would otherwise keep Helm waiting until its timeout)."""
        started = time.monotonic()
        deadline, reason, pending = started + timeout, None, input
        with subprocess.Popen(
            args, cwd=self.workdir, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            try:
                stdout, stderr, reason = self._wait(process, pending, deadline, timeout, watch)
            except BaseException:  # a failing watch, or an interrupted session: the command is stopped, not waited for
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                raise
        completed = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
        self.log.append(f"$ {' '.join(args)}  # exit {completed.returncode} in {time.monotonic() - started:.1f}s")
        if reason is not None:
            raise AssertionError(f"{' '.join(args)} interrupted: {reason}\n--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}")
        if check and completed.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {completed.returncode}\n--- stdout\n{completed.stdout[-4000:]}\n--- stderr\n{completed.stderr[-4000:]}"
            )
        return completed

    @staticmethod
    def _wait(
        process: subprocess.Popen[str], pending: Optional[str], deadline: float, timeout: int, watch: Optional[Callable[[], Optional[str]]]
    ) -> tuple[str, str, Optional[str]]:
        """The command's output, and why it was interrupted (None when it ended by itself)."""
        while True:
            try:
                stdout, stderr = process.communicate(pending, timeout=3 if watch else max(0.1, deadline - time.monotonic()))
                return stdout, stderr, None
            except subprocess.TimeoutExpired:
                pending = None  # sent with the first call; retrying loses no output
                reason = (watch() if watch else None) or (f"timeout after {timeout}s" if time.monotonic() >= deadline else None)
                if reason is not None:
                    process.send_signal(signal.SIGINT)  # pulumi cancels its update cleanly
                    try:
                        stdout, stderr = process.communicate(timeout=60)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        stdout, stderr = process.communicate(timeout=60)
                    return stdout, stderr, reason

    def pulumi(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run("pulumi", *args, "--stack", STACK, "--non-interactive", **kwargs)

    def up(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.pulumi("up", "--yes", "--skip-preview", "--suppress-progress", *args, **kwargs)

    def tool(self, module: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", module, *args, **kwargs)


def e2e_stack_config(charts: dict[str, str]) -> dict[str, Any]:
    """The e2e stack file: the prod stack's config with every add-on on (Snyk, Falco with
    falcosidekick, the notifier), as an existing cluster whose nodes kwok simulates.

    Helm charts come from local copies: Kyverno's and the Trivy operator's from the Go module
    proxy (the project's scripts), the others from the shared charts folder. The engine waits
    for every workload to become ready (no ``skip_await``).
    """
    base = yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{BASE_STACK}.yaml").read_text())["config"]
    # Existing-cluster mode creates no DOCR credential: Kyverno is given a pull Secret by name.
    admission = {**(base.get("hardened-doks:admission") or {}), "chart_path": charts["kyverno"], "registry_pull_secret": "e2e-registry"}
    scanners = dict(base.get("hardened-doks:scanners") or {})
    scanners["kubescape"] = {**scanners.get("kubescape", {}), "chart_path": charts["kubescape"]}
    scanners["trivy"] = {**scanners.get("trivy", {}), "chart_path": charts["trivy"]}
    scanners["snyk"] = {**scanners.get("snyk", {}), "enabled": True, "chart_path": charts["snyk"]}
    scanners["falco"] = {**scanners.get("falco", {}), "enabled": True, "chart_path": charts["falco"], "sidekick_chart_path": charts["falcosidekick"]}
    return {
        **base,
        "hardened-doks:existing_cluster_name": "e2e-local",
        "hardened-doks:admission": admission,
        "hardened-doks:scanners": scanners,
    }


def copy_project(workdir: Path) -> Path:
    """A scratch copy of the project, set up as `make setup` sets up a checkout: .venv, the virtualenv
    Pulumi.yaml and the policy pack name, links to the project's virtualenv (the one running the tests)."""
    workdir.mkdir()
    for entry in PROJECT_ENTRIES:
        source = PROJECT_DIR / entry
        if source.is_dir():
            shutil.copytree(source, workdir / entry, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, workdir / entry)
    (workdir / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return workdir


def local_charts() -> dict[str, str]:
    """Every add-on's chart as a local copy: Kyverno's and Trivy's from the Go module proxy (the
    project's scripts), the others from the shared charts folder."""
    charts = {"kyverno": _script_output("kyverno-chart.sh"), "trivy": _script_output("trivy-chart.sh")}
    charts.update({key: shared_chart(key) for key in ("kubescape", "snyk", "falco", "falcosidekick")})
    return charts


def engine_env(root: Path, toolchain_bin: Path) -> dict[str, str]:
    """The environment the engine runs in: the toolchain and this venv, a Pulumi home, a file state
    backend (root/state, which must exist) and the passphrase secrets provider below root; the
    project's engine settings (tools/engine.py ENGINE_SETTINGS, the caller's value winning), as `make up` runs it."""
    return {
        **engine_settings(),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), str(toolchain_bin), "/usr/bin", "/bin"]),
        "HOME": str(root),
        "PULUMI_HOME": str(root / "pulumi-home"),
        "PULUMI_BACKEND_URL": f"file://{root / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_SKIP_CONFIRMATIONS": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path, control_plane: LocalControlPlane) -> Project:
    """The project deployed once with `pulumi up` against the local API server."""
    root = tmp_path_factory.mktemp("project")
    workdir = copy_project(root / "hardened-doks")
    (workdir / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": e2e_stack_config(local_charts())}, sort_keys=False))
    (root / "state").mkdir()
    project = Project(workdir, engine_env(root, toolchain_bin))
    project.run("pulumi", "stack", "init", STACK, "--secrets-provider", "passphrase", "--non-interactive")
    project.pulumi("config", "set", "--secret", "existing_cluster_kubeconfig", input=control_plane.kubeconfig_path.read_text())
    # A (fake) Slack webhook: the alerts notifier and its Secret are deployed too.
    project.pulumi("config", "set", "--secret", "slack_webhook_url", SLACK_WEBHOOK)
    project.pulumi("config", "set", "--secret", "snyk_integration_id", SNYK_INTEGRATION_ID)
    project.pulumi("config", "set", "--secret", "snyk_service_account_token", SNYK_TOKEN)
    # Nodes shaped like the stack's pools at their autoscaling minimum (tools/budget.py node_manifest).
    config, secrets = read_stack_file(STACK, workdir / "stacks")
    control_plane.add_nodes(budget.pool_nodes(parse_stack_config(config, stack=STACK, secret_keys=secrets), doks_version=doks_version(control_plane)))
    project.up(watch=while_up(control_plane))
    return project


def drift(project: Project) -> tuple[int, dict[str, Any]]:
    """The drift command's exit code and its report of the e2e stack."""
    completed = project.tool("hardened_doks.tools.drift", "--stack", STACK, "--json", check=False)
    assert completed.returncode in (0, 1), f"drift failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    report = json.loads(completed.stdout)
    assert report["exit_code"] == completed.returncode
    return completed.returncode, report["stacks"][0]


@dataclass
class _DriftChecks:
    #: The last check found the stack as declared, and no module that changes the cluster ran since.
    clean: bool = False


_DRIFT_CHECKS = _DriftChecks()


@pytest.fixture(scope="module")
def no_drift(project: Project) -> Iterator[None]:
    """A module that changes the cluster starts from the declared stack and leaves it so: the drift
    command reports nothing before its tests and after them (whatever order the files run in).

    The check before is skipped when the last one, after the previous such module, found it clean:
    modules without this fixture only read the cluster (or work in projects of their own).
    """
    if not _DRIFT_CHECKS.clean:
        code, report = drift(project)
        assert code == 0, f"the stack drifted before this module:\n{json.dumps(report, indent=1)[:4000]}"
    _DRIFT_CHECKS.clean = False
    yield
    code, report = drift(project)
    assert code == 0, f"this module left the stack drifted:\n{json.dumps(report, indent=1)[:4000]}"
    _DRIFT_CHECKS.clean = True


@pytest.fixture(scope="session")
def e2e_config(project: Project) -> StackConfig:
    """The e2e stack's validated config (the kubeconfig, a secret, replaced by a placeholder)."""
    config, secrets = read_stack_file(STACK, project.workdir / "stacks")
    return parse_stack_config(config, stack=STACK, secret_keys=secrets)


@pytest.fixture(scope="session")
def managed_namespaces(project: Project, control_plane: LocalControlPlane) -> dict[str, dict[str, Any]]:
    """The live namespaces the stack manages (by their label), by name."""
    listed = control_plane.get("/api/v1/namespaces", params={"labelSelector": MANAGED_NAMESPACE_LABEL}).json()["items"]
    return {n["metadata"]["name"]: n for n in listed}


#: Live checks made against the API server, by kind; printed at the end and written to
#: build/e2e-summary.json for the figures in docs/testing.md.
LIVE_CHECKS: Counter[str] = Counter()


@pytest.fixture(scope="session")
def live_checks() -> Counter[str]:
    return LIVE_CHECKS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not LIVE_CHECKS:
        return
    summary = dict(sorted(LIVE_CHECKS.items()))
    terminalreporter.write_line(f"e2e live checks: {sum(summary.values())} ({', '.join(f'{k}: {v}' for k, v in summary.items())})")
    out = PROJECT_DIR / "build" / "e2e-summary.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"live_checks": summary, "total": sum(summary.values())}, indent=2) + "\n")
