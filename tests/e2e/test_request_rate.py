"""The Kubernetes provider's request rate (``kube_client_settings``; docs/performance.md, "The
provider's request rate") changed on the deployed stack: the engine updates the provider and
replaces nothing. The provider replaces its resources only when its cluster identifier changes, so
a stack deployed before the setting existed takes it without touching an object.

Preview only: the stack is left as found.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Project, stack_config

PROVIDER = "pulumi:providers:kubernetes"


def test_a_changed_request_rate_updates_the_provider_and_replaces_nothing(project: Project) -> None:
    def slower(config: dict[str, Any]) -> None:
        config["hardened-doks:kube_client_settings"] = {"qps": 20, "burst": 40}

    with stack_config(project, slower):
        preview = json.loads(project.pulumi("preview", "--json", timeout=600).stdout)
    changed = [(step["op"], step["urn"].split("::")[-2].split("$")[-1]) for step in preview["steps"] if step["op"] != "same"]
    assert changed == [("update", PROVIDER)], changed
    provider = next(step for step in preview["steps"] if step["op"] == "update")
    assert provider.get("diffReasons") == ["kubeClientSettings"], provider.get("diffReasons")
    assert set(preview["changeSummary"]) == {"same", "update"} and preview["changeSummary"]["update"] == 1, preview["changeSummary"]
