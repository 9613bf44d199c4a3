"""Make the Kyverno chart from the Go module zip installable with no chart repository.

    python scripts/prepare_kyverno_chart.py <chart dir> <config/crds/policies.kyverno.io dir>

Called by scripts/kyverno-chart.sh. Helm refuses a chart whose Chart.yaml lists a dependency
missing from charts/, whatever its condition. Of the three remote dependencies:

- ``kyverno-api`` (the ``policies.kyverno.io`` CRDs, enabled with ``crds.install``) is vendored
  as a local subchart whose ``crds/`` holds the module's ``config/crds/policies.kyverno.io``
  files (``crds/`` is not templated, so the CRDs' ``{{ }}`` examples stay as they are);
- ``openreports`` and ``reports-server``, disabled by default and by the stack, are dropped.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

DROPPED = {"openreports", "reports-server"}
VENDORED = "kyverno-api"


def prepare(chart: Path, policies_crds: Path) -> None:
    chart_file = chart / "Chart.yaml"
    meta = yaml.safe_load(chart_file.read_text())
    dependencies = []
    for dependency in meta.get("dependencies", []):
        if dependency["name"] in DROPPED:
            continue
        if dependency["name"] == VENDORED:
            subchart = chart / "charts" / VENDORED
            (subchart / "crds").mkdir(parents=True, exist_ok=True)
            for crd in sorted(policies_crds.glob("*.yaml")):
                shutil.copy(crd, subchart / "crds" / crd.name)
            (subchart / "Chart.yaml").write_text(
                yaml.safe_dump(
                    {
                        "apiVersion": "v2",
                        "name": VENDORED,
                        "version": dependency["version"],
                        "description": "policies.kyverno.io CRDs, vendored from the kyverno Go module (config/crds)",
                    },
                    sort_keys=False,
                )
            )
            dependency = {k: v for k, v in dependency.items() if k != "repository"}
        dependencies.append(dependency)
    meta["dependencies"] = dependencies
    chart_file.write_text(yaml.safe_dump(meta, sort_keys=False))


if __name__ == "__main__":
    prepare(Path(sys.argv[1]), Path(sys.argv[2]))
