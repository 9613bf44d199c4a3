"""The real engine against the e2e tier's local control plane (tests/e2e: etcd, kube-apiserver,
controllers, kwok), for N tenant namespaces, beside the floor: ``kubectl apply --server-side`` of
the same objects on a fresh control plane.

The stack is the e2e tier's (the prod profile in existing-cluster mode, Kyverno from its local
chart) with the scanners off and N generated tenant namespaces. Per N, on one control plane:
``pulumi up`` from empty, a zero-change ``preview``, a ``preview --refresh``, the drift command,
``destroy``, with checkpoints skipped (tools/engine.py ``SKIP_CHECKPOINTS``, the project's default
``ENGINE_SETTINGS``); then, where asked (BENCH_CHECKPOINT_N), ``up`` and ``destroy`` again with the
engine's own default, its per-step checkpoints. Each command's wall time, CPU time (itself and its children), and the peak
memory of the engine, the program, the provider and the API server are recorded.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import yaml

from hardened_doks.tools.engine import DESTROY_SETTINGS, SKIP_CHECKPOINTS
from hardened_doks.tools.offline import PROJECT_DIR

# The e2e tier's control plane and fixtures (tests/e2e) are reused, from this checkout.
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

STACK = "bench"
#: Which processes of a command's tree are which part, by executable name.
ROLES = {
    "pulumi": "engine",
    "pulumi-resource-kubernetes": "provider",
    "pulumi-language-python": "language_host",
    "pulumi-analyzer-policy-python": "policy",
}


def _role(process: Any) -> str:
    name = process.name()
    if name in ROLES:
        return ROLES[name]
    # The program runs as python or, through its script's shebang, under a truncated name
    # ("pulumi-language"): its command line says which.
    if name.startswith(("python", "pulumi-language")):
        try:
            command = " ".join(process.cmdline())
        except Exception:
            return "other"
        if "language-python-exec" in command or "__main__" in command:
            return "program"
        return "python_tool" if name.startswith("python") else "other"
    return "other"


class Sampler:
    """Peak resident memory of a process tree, by role, and each process's CPU time as last seen (summed by
    role: where a command's CPU goes; a process's last 0.2 s is missed), sampled every 0.2 s."""

    def __init__(self, pid: int, on_program: Optional[Callable[[int], None]] = None):
        import psutil

        self.root = psutil.Process(pid)
        self.peaks: dict[str, float] = {}
        self.peak_total = 0.0
        self._cpu: dict[int, tuple[str, float]] = {}
        #: Each process's role once known: a process that has exited (a zombie) no longer shows its command line.
        self._roles: dict[int, str] = {}
        #: Called once with the program's pid, when it is first seen (the program profile attaches to it).
        self._on_program = on_program
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        by_role: dict[str, float] = {}
        for process in processes:
            try:
                role = self._roles.get(process.pid) or ("tool" if process.pid == self.root.pid and process.name().startswith("python") else _role(process))
                if role != "other":
                    self._roles[process.pid] = role
                if role == "program" and self._on_program is not None:
                    self._on_program(process.pid)
                    self._on_program = None
                by_role[role] = by_role.get(role, 0.0) + process.memory_info().rss / 2**20
                times = process.cpu_times()
                self._cpu[process.pid] = (role, times.user + times.system)
            except psutil.Error:
                continue
        for role, rss in by_role.items():
            self.peaks[role] = max(self.peaks.get(role, 0.0), rss)
        self.peak_total = max(self.peak_total, sum(by_role.values()))

    def cpu_by_role(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for role, seconds in self._cpu.values():
            totals[role] = totals.get(role, 0.0) + seconds
        return {role: round(seconds, 1) for role, seconds in sorted(totals.items())}

    def _run(self) -> None:
        while not self._stop.wait(0.05 if self._on_program is not None else 0.2):
            self._sample()

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(pid: int) -> float:
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def timed(
    name: str,
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    apiserver_pid: int,
    watch: Optional[Callable[[], None]] = None,
    timeout: float = 3600,
    log: Path,
    program_profile: Optional[Path] = None,
) -> dict[str, Any]:
    """Run one command, measured; the output goes to ``log``. A failure is recorded, not raised.
    With ``program_profile``, the Pulumi program's process is sampled by py-spy (:func:`program_spy`)."""
    cpu_before, api_before = _children_cpu(), _cpu_of(apiserver_pid)
    started = time.perf_counter()
    spies: list[subprocess.Popen[bytes]] = []
    spy = py_spy() if program_profile else None
    on_program = (lambda pid: spies.append(program_spy(spy, pid, program_profile))) if spy else None
    with open(log, "w") as out:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        with Sampler(process.pid, on_program) as sampler:
            while True:
                try:
                    process.wait(timeout=2)
                    break
                except subprocess.TimeoutExpired:
                    if watch is not None:
                        watch()
                    if time.perf_counter() - started > timeout:
                        process.kill()
                        process.wait()
                        break
    wall = time.perf_counter() - started
    for sampling in spies:
        sampling.wait(timeout=120)  # py-spy writes its samples once the program has exited
    result: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "cpu_s": round(_children_cpu() - cpu_before, 1),
        "apiserver_cpu_s": round(_cpu_of(apiserver_pid) - api_before, 1),
        "peak_rss_mb": {role: round(rss) for role, rss in sorted(sampler.peaks.items())},
        "peak_rss_total_mb": round(sampler.peak_total),
        "cpu_s_by_role": sampler.cpu_by_role(),
        "exit": process.returncode,
    }
    if process.returncode != 0:
        result["error_tail"] = log.read_text(errors="replace")[-1500:]
    by_role = ", ".join(f"{role} {seconds}" for role, seconds in result["cpu_s_by_role"].items())
    print(f"  {name}: {result['wall_s']} s (exit {process.returncode}; CPU s by process: {by_role})", file=sys.stderr, flush=True)
    return result


def bench_stack_config(n: int, kyverno_chart: str) -> dict[str, Any]:
    """The e2e tier's stack (prod profile, existing cluster, local Kyverno chart), scanners off,
    with N generated tenant namespaces."""
    from tests.e2e.conftest import BASE_STACK

    from hardened_doks.tools.bench.configs import tenant_config

    base = yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{BASE_STACK}.yaml").read_text())["config"]
    admission = {**(base.get("hardened-doks:admission") or {}), "chart_path": kyverno_chart, "registry_pull_secret": "bench-registry"}
    scanners = dict(base.get("hardened-doks:scanners") or {})
    scanners["kubescape"] = {**scanners.get("kubescape", {}), "enabled": False}
    scanners["trivy"] = {**scanners.get("trivy", {}), "enabled": False}
    tenants = {f"hardened-doks:{key}": value for key, value in tenant_config(n).items()}
    return {**base, "hardened-doks:existing_cluster_name": "bench-local", "hardened-doks:admission": admission, "hardened-doks:scanners": scanners, **tenants}


def _floor_objects(workdir: Path, out: Path) -> int:
    """The stack's Kubernetes objects (the program under mocks, in apply order) as one YAML file;
    Helm releases and the kinds only a chart defines (Kyverno's) are left out. Returns the count."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_render_child, args=(str(workdir), str(out), queue))
    process.start()
    count = queue.get()
    process.join()
    if isinstance(count, str):
        raise RuntimeError(count)
    return int(count)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _manifest(resource: Any) -> dict[str, Any]:
    obj = _plain(resource.inputs)
    return {key: obj[key] for key in ("apiVersion", "kind", "metadata") if key in obj} | obj


def destroy_floor(resources: list[Any]) -> list[Any]:
    """What a `destroy` deletes at least, as the engine does: the namespaces the stack created (their
    controller deletes what is in them), the cluster-scoped objects, and the objects in namespaces
    Kubernetes created; not what the stack only patches (``default``, a default ServiceAccount)."""
    created = {r.inputs["metadata"]["name"] for r in resources if r.type == "kubernetes:core/v1:Namespace"}
    return [r for r in resources if not r.type.endswith("Patch") and r.inputs["metadata"].get("namespace") not in created]


def deleted_objects(objects: Path) -> Path:
    """Beside the floor's objects file: what the delete floor deletes (:func:`destroy_floor`)."""
    return objects.with_name("deleted-" + objects.name)


def _render_child(workdir: str, out: str, queue: Any) -> None:
    try:
        from hardened_doks.tools import render
        from hardened_doks.tools.offline import iter_kubernetes, read_stack_file, run_program

        config, secrets = read_stack_file(STACK, Path(workdir) / "stacks")
        run = run_program(STACK, config, secrets)
        resources = [r for r in sorted(iter_kubernetes(run), key=render._apply_order) if not r.inputs.get("apiVersion", "").startswith("kyverno.io/")]
        # (Kyverno's kinds: their CRDs come with the Helm chart, which the floor does not install.)
        objects = [_manifest(r) for r in resources]
        Path(out).write_text(yaml.safe_dump_all(objects, sort_keys=False))
        deleted_objects(Path(out)).write_text(yaml.safe_dump_all([_manifest(r) for r in destroy_floor(resources)], sort_keys=False))
        queue.put(len(objects))
    except BaseException as exc:  # reported by the parent
        queue.put(f"{type(exc).__name__}: {exc}")


def engine_profile(prefix: Path, pulumi_bin: Path, out: Path) -> Optional[str]:
    """The CLI's CPU profile (`pulumi --profiling`) as `go tool pprof -top` text, written to ``out``."""
    found = sorted(prefix.parent.glob(f"{prefix.name}.*.cpu"))
    if not found or shutil.which("go") is None:
        return None
    # The profile carries its own symbols (no binary needed); stdin closed: pprof would wait on it.
    try:
        top = subprocess.run(
            ["go", "tool", "pprof", "-top", "-cum", "-nodecount=45", str(found[0])], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return None
    out.write_text(top.stdout or top.stderr)
    return str(out)


def py_spy() -> Optional[str]:
    """The py-spy sampling profiler of this virtualenv (the test extra), or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.is_file() else shutil.which("py-spy")


#: py-spy's samples per second: few enough that the sampler's own CPU (a few % of a core) leaves the
#: timed figures of that command alone on 2 cores, enough for shares (about 1,000 samples at N = 200).
SPY_RATE = 25


def program_spy(binary: str, pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy (``binary``, :func:`py_spy`) sampling the Pulumi program (``pid``) at :data:`SPY_RATE` until it
    exits, its stacks written raw (collapsed) to ``out``; :func:`spy_top` summarizes them. Needs ptrace
    (root, or ptrace_scope 0)."""
    return subprocess.Popen(
        [binary, "record", "--pid", str(pid), "--rate", str(SPY_RATE), "--format", "raw", "--nonblocking", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "w"),
    )  # fmt: skip


def spy_top(raw: str, top: int = 40, rate: int = SPY_RATE) -> str:
    """py-spy's collapsed stacks (``frame;frame;… count`` lines) as the ``top`` functions by inclusive
    share of the samples (a function counted once per stack), each with its seconds at ``rate`` Hz."""
    total = 0
    inclusive: dict[str, int] = {}
    # The innermost frame a sample's stack ends in, with its line: where the time is spent itself.
    leaves: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        leaf = stack.split(";")[-1]
        leaves[leaf] = leaves.get(leaf, 0) + int(count)
        # "function (file:line)": the line dropped, so a function is one row whatever line it was on.
        for frame in {frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") and ":" in frame else frame for frame in stack.split(";")}:
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    rows = [f"{total} samples ({total / rate:.1f} s of the program's threads at {rate} Hz); inclusive share, seconds, function"]
    for frame, count in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        rows.append(f"{100 * count / total:5.1f} % {count / rate:7.1f} s  {frame}")
    rows.append("innermost frames (the function and line the samples were in)")
    for frame, count in sorted(leaves.items(), key=lambda item: -item[1])[:15]:
        rows.append(f"{100 * count / total:5.1f} % {count / rate:7.1f} s  {frame}")
    return "\n".join(rows) + "\n"


def run_n(n: int, toolchain_bin: Path, *, checkpoints: bool, scratch: Path, profile_dir: Optional[Path] = None) -> dict[str, Any]:
    """Every engine figure of one N, and the floor."""
    from hardened_doks.config import parse_stack_config
    from tests.e2e.conftest import copy_project, doks_version, engine_env, mark_cluster_policies_ready
    from tests.e2e.controlplane import LocalControlPlane

    from hardened_doks.tools import budget
    from hardened_doks.tools.offline import read_stack_file

    kyverno_chart = _script("kyverno-chart.sh")
    crds = Path(_script("kyverno-chart.sh", "--crds"))
    root = scratch / f"n{n}"
    root.mkdir()
    logs = root / "logs"
    logs.mkdir()
    workdir = copy_project(root / "hardened-doks")
    (workdir / "stacks" / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": bench_stack_config(n, kyverno_chart)}, sort_keys=False))
    (root / "state").mkdir()
    base_env = engine_env(root, toolchain_bin)
    # The engine's own default (per-step checkpoints), against skipped checkpoints: the project's
    # default settings (tools/engine.py), what `make up`, the tools and the e2e tier run with.
    checkpointed = {k: v for k, v in base_env.items() if k not in SKIP_CHECKPOINTS}
    fast = {**checkpointed, **SKIP_CHECKPOINTS}
    parallel = os.environ.get("BENCH_PARALLEL")
    par = ["--parallel", parallel] if parallel else []
    result: dict[str, Any] = {
        "n": n,
        "parallel": int(parallel) if parallel else 4 * (os.cpu_count() or 1),
        "destroy_parallel": int(parallel) if parallel else int(DESTROY_SETTINGS["PULUMI_PARALLEL"]),
        "engine_settings": SKIP_CHECKPOINTS,
    }

    def pulumi(*args: str) -> list[str]:
        return ["pulumi", *args, "--stack", STACK, "--non-interactive"]

    with LocalControlPlane(toolchain_bin, workdir=root / "plane") as plane:
        plane.install_crd(crds / "ciliumnetworkpolicies.yaml")
        api_pid = next(p.pid for p in plane.processes if Path(str(p.args[0])).name == "kube-apiserver")
        subprocess.run(["pulumi", "stack", "init", STACK, "--secrets-provider", "passphrase", "--non-interactive"], cwd=workdir, env=fast, check=True, capture_output=True)
        subprocess.run(
            pulumi("config", "set", "--secret", "existing_cluster_kubeconfig"),
            cwd=workdir, env=fast, check=True, capture_output=True, input=plane.kubeconfig_path.read_bytes(),
        )  # fmt: skip
        config, secrets = read_stack_file(STACK, workdir / "stacks")
        plane.add_nodes(budget.pool_nodes(parse_stack_config(config, stack=STACK, secret_keys=secrets), doks_version=doks_version(plane)))

        def step(name: str, args: list[str], env: dict[str, str], watch: Optional[Callable[[], None]] = None, spy: bool = False) -> dict[str, Any]:
            # With --profile, `up` and the zero-change preview also sample the program (py-spy).
            raw = profile_dir / f"program-engine-profile-{name}-n{n}.raw" if profile_dir and spy else None
            measured = timed(name, args, cwd=workdir, env=env, apiserver_pid=api_pid, watch=watch, log=logs / f"{name}.log", program_profile=raw)
            if raw is not None and raw.is_file():
                top = raw.with_suffix(".txt")
                top.write_text(spy_top(raw.read_text()))
                measured["program_profile"] = str(top)
            result[name] = measured
            return measured

        def watch() -> None:
            mark_cluster_policies_ready(plane)

        # With --profile, the CLI's own CPU profile of this `up` too (the engine alone: not the program or the provider).
        up_profiling = ["--profiling", str(logs / "up")] if profile_dir else []
        up = step("up", pulumi("up", "--yes", "--skip-preview", "--suppress-progress", *par, *up_profiling), fast, watch, spy=True)
        if profile_dir:
            result["up_profile"] = engine_profile(logs / "up", toolchain_bin / "pulumi", profile_dir / f"engine-profile-up-n{n}.txt")
        if up["exit"] == 0:
            step("preview", pulumi("preview", "--expect-no-changes", "--suppress-progress", *par), fast, spy=True)
            step("preview_refresh", pulumi("preview", "--refresh", "--expect-no-changes", "--suppress-progress", *par), fast)
            step("drift", [sys.executable, "-m", "hardened_doks.tools.drift", "--stack", STACK, "--json"], fast)
        result["resources"] = _state_resources(workdir, fast)

        def destroy(name: str, env: dict[str, str]) -> None:
            # Namespaces are protected (components/kube.py): lifted first, as scripts/destroy.sh does (not timed);
            # then destroyed as `make destroy` does, with its parallelism (DESTROY_SETTINGS; BENCH_PARALLEL wins).
            subprocess.run(pulumi("state", "unprotect", "--all", "--yes"), cwd=workdir, env=env, capture_output=True, check=False)
            step(name, pulumi("destroy", "--yes", "--skip-preview", "--suppress-progress", *par), {**env, **DESTROY_SETTINGS})

        destroy("destroy", fast)
        if checkpoints:
            profiling = ["--profiling", str(logs / "up-checkpointed")] if profile_dir else []
            step("up_checkpointed", pulumi("up", "--yes", "--skip-preview", "--suppress-progress", *par, *profiling), checkpointed, watch)
            if profile_dir:
                result["up_checkpointed_profile"] = engine_profile(logs / "up-checkpointed", toolchain_bin / "pulumi", profile_dir / f"engine-profile-up-checkpointed-n{n}.txt")
            destroy("destroy_checkpointed", checkpointed)

    result.update(floors(workdir, root, toolchain_bin, base_env, crds, logs))
    return result


def floors(workdir: Path, root: Path, toolchain_bin: Path, base_env: dict[str, str], crds: Path, logs: Path) -> dict[str, Any]:
    """The floors, on a fresh control plane: ``kubectl apply --server-side`` of the program's objects,
    then ``kubectl delete --wait`` of what `destroy` deletes at least: the namespaces the stack created,
    the cluster-scoped objects, the objects in namespaces Kubernetes created (:func:`deleted_objects`)."""
    from tests.e2e.controlplane import LocalControlPlane

    result: dict[str, Any] = {}
    objects = root / "objects.yaml"
    result["floor_objects"] = _floor_objects(workdir, objects)
    kubectl = toolchain_bin / "kubectl"
    if not kubectl.is_file():
        result["floor_note"] = f"no kubectl in {toolchain_bin} (scripts/toolchain.sh kubectl)"
        return result
    with LocalControlPlane(toolchain_bin, workdir=root / "floor-plane") as plane:
        plane.install_crd(crds / "ciliumnetworkpolicies.yaml")
        api_pid = next(p.pid for p in plane.processes if Path(str(p.args[0])).name == "kube-apiserver")
        kube_env = {**base_env, "KUBECONFIG": str(plane.kubeconfig_path)}
        floor = timed(
            "kubectl_apply", [str(kubectl), "apply", "--server-side", "--field-manager=bench", "-f", str(objects)],
            cwd=root, env=kube_env, apiserver_pid=api_pid, log=logs / "kubectl_apply.log",
        )  # fmt: skip
        result["kubectl_apply"] = floor
        # The floor for `destroy`: deleting what it deletes, waiting (kubectl's default) until the
        # namespace controller has emptied and finalized every namespace.
        if floor["exit"] == 0:
            result["kubectl_delete"] = timed(
                "kubectl_delete", [str(kubectl), "delete", "--wait=true", "--timeout=1800s", "-f", str(deleted_objects(objects))],
                cwd=root, env=kube_env, apiserver_pid=api_pid, log=logs / "kubectl_delete.log",
            )  # fmt: skip
    return result


def _state_resources(workdir: Path, env: dict[str, str]) -> Optional[int]:
    exported = subprocess.run(["pulumi", "stack", "export", "--stack", STACK], cwd=workdir, env=env, capture_output=True, text=True)
    if exported.returncode != 0:
        return None
    return len(json.loads(exported.stdout).get("deployment", {}).get("resources") or [])


def _script(*args: str) -> str:
    completed = subprocess.run([str(PROJECT_DIR / "scripts" / args[0]), *args[1:]], capture_output=True, text=True, check=True)
    return completed.stdout.strip().splitlines()[-1]


def ratios(row: dict[str, Any]) -> dict[str, Optional[float]]:
    """Each engine figure over the floor's apply time (and drift over a zero-change preview)."""
    floor = (row.get("kubectl_apply") or {}).get("wall_s")
    found: dict[str, Optional[float]] = {}
    for name in ("up", "preview", "preview_refresh", "drift", "destroy", "up_checkpointed", "destroy_checkpointed"):
        wall = (row.get(name) or {}).get("wall_s")
        found[name] = round(wall / floor, 2) if wall and floor else None
    preview = (row.get("preview") or {}).get("wall_s")
    drift = (row.get("drift") or {}).get("wall_s")
    found["drift_over_preview"] = round(drift / preview, 2) if drift and preview else None
    delete_floor = row.get("kubectl_delete") or {}
    deleted = delete_floor.get("wall_s") if delete_floor.get("exit") == 0 else None
    destroy = (row.get("destroy") or {}).get("wall_s")
    found["destroy_over_delete"] = round(destroy / deleted, 2) if destroy and deleted else None
    return found


def run_all(
    ns: list[int], toolchain_bin: Path, checkpoint_ns: set[int], keep: bool = False, profile_dir: Optional[Path] = None,
    on_row: Optional[Callable[[list[dict[str, Any]]], None]] = None,
) -> list[dict[str, Any]]:
    """Every N in turn; ``on_row`` gets the rows so far after each (a long run keeps what it measured)."""
    scratch = Path(tempfile.mkdtemp(prefix="hardened-doks-bench-"))
    rows = []
    try:
        for n in ns:
            print(f"engine N={n} (scratch {scratch})", file=sys.stderr, flush=True)
            try:
                row = run_n(n, toolchain_bin, checkpoints=n in checkpoint_ns, scratch=scratch, profile_dir=profile_dir)
            except Exception as exc:
                row = {"n": n, "parallel": None, "error": f"{type(exc).__name__}: {str(exc)[:1500]}"}
            row["ratios"] = ratios(row)
            rows.append(row)
            if on_row is not None:
                on_row(rows)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return rows
