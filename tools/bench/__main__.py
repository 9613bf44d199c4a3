"""`make bench`: the figures of docs/performance.md, printed as tables and written as JSON.

Environment: BENCH_N (mock N list, default 1,50,200,500), BENCH_ENGINE_N (engine N list, default
10,50,200; empty for none), BENCH_CHECKPOINT_N (the engine N at which `up`/`destroy` are also run
with the engine's per-step checkpoints, default 10,50), BENCH_PARALLEL (the engine's --parallel;
default: the engine's own, 4 × CPUs), HARDENED_DOKS_TOOLCHAIN_BIN (the toolchain folder).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from hardened_doks.tools.bench import program
from hardened_doks.tools.offline import PROJECT_DIR


def _ns(name: str, default: str) -> list[int]:
    raw = os.environ.get(name, default)
    try:
        return [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: expected comma-separated namespace counts, e.g. 10,50") from None


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")), "")
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        memory = next((line.split(":", 1)[1].strip() for line in meminfo.read_text().splitlines() if line.startswith("MemTotal")), "")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": memory,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _fmt(value: Optional[float], suffix: str = "") -> str:
    return "-" if value is None else f"{value:g}{suffix}"


def mock_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "program under mocks (dev stack + N tenant namespaces; one fresh process per N)",
        "wall s, and CPU ms per namespace (average; and slope from the previous N: the cost of one more, and that without the garbage collector's)",
        f"{'N':>5} {'resources':>9} {'program s':>9} {'render s':>8} {'policy s':>8} {'cpu s':>6} {'gc s':>6} {'full gc':>7} {'ms/ns':>7} {'ms/extra ns':>11} {'w/o gc':>7} {'peak MB':>7}",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['n']:>5} error: {r['error']}")
            continue
        lines.append(
            f"{r['n']:>5} {r['resources']:>9} {r['program_s']:>9} {r['render_s']:>8} {r['policy_s']:>8} "
            f"{program._cpu(r):>6.2f} {r['gc_cpu_s']:>6.2f} {r['gc_full_collections']:>7} {r['cpu_ms_per_namespace']:>7}"
            f" {_fmt(r.get('cpu_ms_per_extra_namespace')):>11} {_fmt(r.get('cpu_ms_per_extra_namespace_without_gc')):>7} {r['peak_rss_mb']:>7}"
        )
    return "\n".join(lines)


ENGINE_COLUMNS = ("up", "preview", "preview_refresh", "drift", "destroy", "up_checkpointed", "destroy_checkpointed", "kubectl_apply", "kubectl_delete")


def engine_table(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"{c:>22}" for c in ENGINE_COLUMNS)
    lines = ["real engine vs local control plane: wall s (× kubectl apply --server-side floor)", f"{'N':>5}{'res':>6}{'par':>5}{head}"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['n']:>5} error: {r['error'][:300]}")
            continue
        cells = []
        for column in ENGINE_COLUMNS:
            wall = (r.get(column) or {}).get("wall_s")
            ratio = r.get("ratios", {}).get(column)
            failed = (r.get(column) or {}).get("exit") not in (None, 0)
            cells.append(f"{'-' if wall is None else f'{wall:g}' + ('!' if failed else '') + (f' ({ratio:g}x)' if ratio else ''):>22}")
        lines.append(f"{r['n']:>5}{_fmt(r.get('resources')):>6}{r['parallel']:>5}{''.join(cells)}")
    lines.append("peak memory MB (engine / program / provider; up) and CPU s of up (engine tree / API server):")
    for r in (r for r in rows if "error" not in r):
        up = r.get("up") or {}
        peaks = up.get("peak_rss_mb") or {}
        lines.append(
            f"{r['n']:>5}  {peaks.get('engine', '-')} / {peaks.get('program', '-')} / {peaks.get('provider', '-')};"
            f"  cpu {up.get('cpu_s', '-')} / {up.get('apiserver_cpu_s', '-')};  drift / preview: {_fmt(r.get('ratios', {}).get('drift_over_preview'))};"
            f"  destroy / kubectl delete: {_fmt(r.get('ratios', {}).get('destroy_over_delete'))}"
        )
    lines.append("! = the command failed (its log tail is in the JSON)")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardened_doks.tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--no-engine", action="store_true", help="only the program under mocks (no toolchain needed)")
    parser.add_argument("--out", default=str(PROJECT_DIR / "build" / "bench" / "bench.json"), help="the JSON report")
    parser.add_argument("--profile", action="store_true", help="also write profiles: the program's at the largest N (pyinstrument), the engine's checkpointed up (pulumi --profiling, go tool pprof)")
    parser.add_argument("--keep", action="store_true", help="keep the engine runs' scratch folders (logs, state)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "machine": machine()}

    mock_ns = _ns("BENCH_N", "1,50,200,500")
    rows = []
    for n in mock_ns:
        profile = str(out.parent / f"program-profile-n{n}.txt") if args.profile and n == max(mock_ns) else None
        print(f"program N={n}", file=sys.stderr, flush=True)
        rows.append(program.measure(n, profile))
    program.per_namespace(rows)
    report["program"] = rows
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(mock_table(rows))

    engine_ns = [] if args.no_engine else _ns("BENCH_ENGINE_N", "10,50,200")
    if engine_ns:
        from hardened_doks.tools.bench import engine

        toolchain = os.environ.get("HARDENED_DOKS_TOOLCHAIN_BIN") or subprocess.run(
            [str(PROJECT_DIR / "scripts" / "toolchain.sh"), "--print-path"], capture_output=True, text=True, check=True
        ).stdout.strip().splitlines()[-1]

        def save(rows: list[dict[str, Any]]) -> None:
            report["engine"] = rows
            out.write_text(json.dumps(report, indent=2) + "\n")

        save(engine.run_all(
            engine_ns, Path(toolchain), set(_ns("BENCH_CHECKPOINT_N", "10,50")), keep=args.keep,
            profile_dir=out.parent if args.profile else None, on_row=save,
        ))  # fmt: skip
        print()
        print(engine_table(report["engine"]))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
