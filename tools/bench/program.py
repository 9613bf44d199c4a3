"""The program under mocks for N tenant namespaces: the run, the render of its objects and the
policy pack (the offline gate), each timed; one fresh process per N (peak memory is its own)."""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

#: The shipped stack the generated tenants are added to (DigitalOcean mode: the cluster too).
BASE_STACK = "dev"


@contextmanager
def garbage_collections() -> Iterator[dict[str, float]]:
    """CPU seconds spent in Python's garbage collector while the block runs (``cpu_s``), and its
    full collections (``full``), counted with ``gc.callbacks``."""
    spent: dict[str, float] = {"cpu_s": 0.0, "full": 0}
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.process_time()
            return
        spent["cpu_s"] += time.process_time() - started[0]
        spent["full"] += info["generation"] == 2

    gc.callbacks.append(callback)
    try:
        yield spent
    finally:
        gc.callbacks.remove(callback)


def _measure(n: int, profile: Optional[str]) -> dict[str, Any]:
    started = time.perf_counter()
    from hardened_doks.tools import policy_check, render
    from hardened_doks.tools.bench.configs import tenant_config
    from hardened_doks.tools.offline import iter_kubernetes, run_stack

    imported = time.perf_counter()
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    with garbage_collections() as collected:
        t0, c0 = time.perf_counter(), time.process_time()
        run = run_stack(BASE_STACK, overrides=tenant_config(n))
        t1, c1 = time.perf_counter(), time.process_time()
        objects = [render.kubernetes_object(r) for r in iter_kubernetes(run)]
        t2, c2 = time.perf_counter(), time.process_time()
        violations = policy_check.blocking(policy_check.check(run))
        t3, c3 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.stop()
        with open(profile, "w") as out:
            out.write(profiler.output_text(unicode=False, color=False, show_all=False))
    return {
        "n": n,
        "resources": len(run.resources),
        "kubernetes_objects": len(objects),
        "blocking_violations": len(violations),
        "import_s": round(imported - started, 3),
        "program_s": round(t1 - t0, 3),
        "render_s": round(t2 - t1, 3),
        "policy_s": round(t3 - t2, 3),
        # CPU time: what the figures' slopes use (wall time on a shared machine is mostly waiting).
        "program_cpu_s": round(c1 - c0, 3),
        "render_cpu_s": round(c2 - c1, 3),
        "policy_cpu_s": round(c3 - c2, 3),
        # Of those three, the garbage collector's: its full collections land where they fall, in
        # whichever phase, and make single figures jump (docs/performance.md).
        "gc_cpu_s": round(collected["cpu_s"], 3),
        "gc_full_collections": int(collected["full"]),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _child(n: int, profile: Optional[str], queue: Any) -> None:
    import os

    # The program's warnings about the base stack (dev defaults) are not the benchmark's output.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        queue.put(_measure(n, profile))
    except BaseException as exc:  # reported by the parent
        queue.put({"n": n, "error": f"{type(exc).__name__}: {exc}"})


def measure(n: int, profile: Optional[str] = None) -> dict[str, Any]:
    """One N in a fresh interpreter (spawned: nothing imported or cached from an earlier N)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(n, profile, queue))
    started = time.perf_counter()
    process.start()
    result = queue.get()
    process.join()
    result["process_s"] = round(time.perf_counter() - started, 3)
    return result


def _cpu(row: dict[str, Any]) -> float:
    return float(row["program_cpu_s"] + row["render_cpu_s"] + row["policy_cpu_s"])


def per_namespace(rows: list[dict[str, Any]]) -> None:
    """Add to each row the cost of one more namespace (program, render and policy pack, CPU ms):
    the slope from the previous N, with and without the garbage collector's share; and the
    average per namespace."""
    ok = [r for r in rows if "error" not in r]
    for previous, row in itertools.pairwise(ok):
        added = row["n"] - previous["n"]
        row["cpu_ms_per_extra_namespace"] = round(1000 * (_cpu(row) - _cpu(previous)) / added, 2)
        gc_added = row.get("gc_cpu_s", 0.0) - previous.get("gc_cpu_s", 0.0)
        row["cpu_ms_per_extra_namespace_without_gc"] = round(1000 * (_cpu(row) - _cpu(previous) - gc_added) / added, 2)
    for row in ok:
        row["cpu_ms_per_namespace"] = round(1000 * _cpu(row) / row["n"], 2)
