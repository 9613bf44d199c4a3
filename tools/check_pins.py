"""Check every pinned Helm chart against what its repository publishes (needs internet).

    python -m hardened_doks.tools.check_pins                     # the live index.yaml of every repository
    python -m hardened_doks.tools.check_pins --index-dir DIR     # index snapshots (<file> per INDEX_SNAPSHOTS)
    make check-pins                                # the same as the first

For each pin of ``hardened_doks.addons.CHART_PINS`` it downloads ``<repository>/index.yaml`` (what
``helm repo add`` reads, no credentials) and reports a version the repository does not list, an
app version that differs, or an archive digest that differs from the pinned one (a re-published
chart). Exit codes as the other checks: 0 all pins published, 1 a pin is not, 2 a repository
could not be read. The unit tier runs the same check on the snapshots in ``../shared/charts/index``.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Optional

import yaml

from hardened_doks.addons import CHART_PINS
from hardened_doks.chart_pin import ChartPin
from hardened_doks.tools.charts import INDEX_SNAPSHOTS, pin_problems
from hardened_doks.tools.cli import emit, envelope

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
# Repository indexes list every version ever published (hundreds of kilobytes): libyaml when present.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def fetch_url(url: str) -> str:
    """GET a URL (TLS verified by urllib's default context)."""
    with urllib.request.urlopen(url, timeout=60) as response:  # the pins' own https repositories
        return response.read().decode()


def index_url(repo: str) -> str:
    return repo.rstrip("/") + "/index.yaml"


class NoSnapshot(LookupError):
    """No index snapshot of a repository (``--index-dir``): its pins are not checked."""


def check(pins: Mapping[str, ChartPin], fetch: Callable[[str], str] = fetch_url) -> tuple[list[dict[str, Any]], list[str]]:
    """(one finding per pin, repositories that could not be read); each repository is read once."""
    indexes: dict[str, Optional[dict[str, Any]]] = {}
    errors: list[str] = []
    findings = []
    for key, pin in pins.items():
        if pin.repo not in indexes:
            try:
                indexes[pin.repo] = yaml.load(fetch(index_url(pin.repo)), Loader=_LOADER) or {}
            except NoSnapshot:
                indexes[pin.repo] = None
            except (OSError, ValueError, yaml.YAMLError) as exc:
                indexes[pin.repo] = None
                errors.append(f"{index_url(pin.repo)}: {exc}")
        index = indexes[pin.repo]
        if index is None:
            if not any(e.startswith(index_url(pin.repo)) for e in errors):
                findings.append({"addon": key, "chart": pin.name, "version": pin.version, "repository": pin.repo, "ok": True, "skipped": True,
                                 "problems": ["not checked: no index snapshot of this repository"]})  # fmt: skip
            continue
        problems = pin_problems(pin, index)
        findings.append({"addon": key, "chart": pin.name, "version": pin.version, "repository": pin.repo, "ok": not problems, "problems": problems})
    return findings, errors


def snapshot_fetcher(directory: Path) -> Callable[[str], str]:
    """A fetch that reads each repository's index from its snapshot file in ``directory``."""
    files = {index_url(repo): directory / name for repo, name in INDEX_SNAPSHOTS.items()}

    def fetch(url: str) -> str:
        if url not in files:
            raise NoSnapshot(url)
        return files[url].read_text()

    return fetch


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardened_doks.tools.check_pins", description="Check the pinned charts against their repositories.")
    parser.add_argument("--index-dir", type=Path, help="read index snapshots from this folder instead of the repositories")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    args = parser.parse_args(argv)
    fetch = snapshot_fetcher(args.index_dir) if args.index_dir else fetch_url
    findings, errors = check(CHART_PINS, fetch)
    code = EXIT_ERROR if errors else (EXIT_FAILED if any(not f["ok"] for f in findings) else EXIT_OK)
    if args.json:
        every = [*findings, *({"finding": "error", "ok": False, "message": f"could not read {e}"} for e in errors)]
        return emit(args, envelope("check_pins", {EXIT_OK: "passed", EXIT_FAILED: "failed", EXIT_ERROR: "error"}, [], every, code), lambda: "")
    for finding in findings:
        status = "-- " if finding.get("skipped") else ("ok " if finding["ok"] else "BAD")
        print(f"{status} {finding['chart']} {finding['version']} ({finding['repository']})")
        for problem in finding["problems"]:
            print(f"    {problem}")
    for error in errors:
        print(f"ERR could not read {error}")
    return code


if __name__ == "__main__":
    sys.exit(main())
