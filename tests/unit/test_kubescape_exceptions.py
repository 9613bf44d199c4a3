"""The Kubescape exceptions of the pull-request scan come from the one exceptions file (hardened_doks.tools.kubescape_exceptions)."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

from hardened_doks.tools.kubescape_exceptions import (
    CLUSTER_SCOPED_KINDS,
    KUBESCAPE_CONTROLS,
    MITRE_CONTROLS,
    NSA_CONTROLS,
    attributes,
    kubescape_exceptions,
    main,
    read_entries,
    wildcard_regex,
)

ENTRIES = read_entries()


def test_every_mapped_check_becomes_an_exception_with_its_reason() -> None:
    exceptions = kubescape_exceptions(ENTRIES)
    mapped = [e for e in ENTRIES if e["check"] in KUBESCAPE_CONTROLS]
    assert mapped, "the exceptions file has mapped entries (the Kyverno chart's service-account tokens at least)"
    assert len(exceptions) == len(mapped) and len({e["name"] for e in exceptions}) == len(exceptions)
    for entry, exception in zip(mapped, exceptions, strict=True):
        assert exception["policyType"] == "postureExceptionPolicy" and exception["actions"] == ["alertOnly"]
        assert [p["controlID"] for p in exception["posturePolicies"]] == list(KUBESCAPE_CONTROLS[entry["check"]])
        assert exception["resources"] == [{"designatorType": "Attributes", "attributes": attributes(entry["resource"])}]
        assert exception["reason"] == " ".join(entry["reason"].split()) and exception["reason"]


def test_unmapped_checks_add_nothing() -> None:
    entry = {"check": "CKV_K8S_43", "resource": "*.kyverno.kyverno-*", "reason": "image by tag"}
    assert "CKV_K8S_43" not in KUBESCAPE_CONTROLS and kubescape_exceptions([entry]) == []


def test_every_control_belongs_to_the_scanned_frameworks() -> None:
    for check, controls in KUBESCAPE_CONTROLS.items():
        assert re.fullmatch(r"CKV_K8S_\d+", check)
        for control in controls:
            assert control in NSA_CONTROLS | MITRE_CONTROLS, f"{check} → {control} is in neither NSA nor MITRE"


@pytest.mark.parametrize(
    "pattern, names",
    [
        ("kyverno-*", ["kyverno-admission-controller", "kyverno-", "kyverno-x.y"]),
        ("kyverno:*-controller:core", ["kyverno:admission-controller:core", "kyverno:-controller:core"]),
        ("trivy-operator", ["trivy-operator"]),
        ("a?c", ["abc", "a.c"]),
    ],
)
def test_wildcards_mean_what_checkov_means(pattern: str, names: list[str]) -> None:
    regex = wildcard_regex(pattern)
    assert regex.startswith("^") and regex.endswith("$"), "anchored, whether Kubescape matches or searches"
    for name in names + ["x" + pattern.replace("*", "") + "x", pattern.replace("*", "").upper(), "kyverno"]:
        assert (re.search(regex, name) is not None) == fnmatch.fnmatchcase(name, pattern), (pattern, name)


def test_cluster_scoped_resources_have_no_namespace_attribute() -> None:
    assert "ClusterRole" in CLUSTER_SCOPED_KINDS
    assert attributes("ClusterRole.default.kyverno:*") == {"kind": "^ClusterRole$", "name": "^kyverno:.*$"}
    assert attributes("Deployment.trivy-system.trivy-operator") == {
        "kind": "^Deployment$",
        "name": "^trivy\\-operator$",
        "namespace": "^trivy\\-system$",
    }


def test_the_command_writes_the_file_the_workflow_scans_with(tmp_path: Path) -> None:
    out = tmp_path / "build" / "kubescape-exceptions.json"
    assert main(["--out", str(out)]) == 0
    assert json.loads(out.read_text()) == kubescape_exceptions(ENTRIES)
