"""The gates on what the stack would apply: schema validity for the cluster's minor, and checkov.

For every gated variant — each shipped stack, and each with every optional add-on on (Snyk, Falco
with falcosidekick, the Slack notifier; tests/unit/rendered.py) — the stack's own objects and the
objects of every Helm chart it installs (``helm template`` of the pinned chart with the values the
stack sets, post-renderer applied: Kyverno, Kubescape, Trivy, Snyk, Falco, falcosidekick) are

- validated against the Kubernetes OpenAPI schemas of the configured minor
  (kubernetes-validate, strict: unknown fields fail), and custom resources against the
  schema of their CRD (Kyverno's from its Go module, Cilium's from its, the charts' own), strictly too;
- scanned with checkov's Kubernetes checks; every finding must be listed, with its reason,
  in tests/checkov-exceptions.yaml, and every listed exception must still match a finding.

The CRDs, the charts and the helm and checkov commands are provided outside the repository by
scripts/kyverno-chart.sh, scripts/trivy-chart.sh, ../shared/charts (or $HARDENED_DOKS_CHARTS),
scripts/helm.sh and scripts/checkov.sh (scripts/test.sh runs them). checkov's report is cached per
set of scanned files (``~/.cache/hardened-doks/checkov-results``): unchanged renders are not rescanned.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import hashlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.manifests import helm_release
from tests.unit.rendered import VARIANTS, documents, releases_of, run_of, variant
from hardened_doks.tools.charts import CACHE, kube_minor
from hardened_doks.tools.offline import PROJECT_DIR, SECRET_PLACEHOLDER

STACKS = ("dev", "staging", "prod")
GATED = tuple(VARIANTS)
#: (variant, source): the stack's own objects, and each chart the variant installs.
SOURCES = [(v, source) for v in GATED for source in ("stack", *releases_of(v))]
EXCEPTIONS_FILE = PROJECT_DIR / "tests" / "checkov-exceptions.yaml"
#: CRD file per custom resource (apiVersion, kind): (the script and arguments printing its folder, file).
#: Custom resources of a chart whose CRD the chart itself renders are checked against that one.
CRD_FILES = {
    ("kyverno.io/v1", "ClusterPolicy"): (("kyverno-chart.sh", "--crds"), "kyverno.io_clusterpolicies.yaml"),
    ("cilium.io/v2", "CiliumNetworkPolicy"): (("kyverno-chart.sh", "--crds"), "ciliumnetworkpolicies.yaml"),
}


# The charts' CRDs are megabytes of YAML: use libyaml when PyYAML has it (it does on PyPI wheels).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _script(name: str, *args: str) -> str:
    """Run one of the project's provisioning scripts (idempotent) and return what it prints."""
    result = subprocess.run([str(PROJECT_DIR / "scripts" / name), *args], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"scripts/{name} failed:\n{result.stderr}"
    return result.stdout.strip().splitlines()[-1]


def _minor(variant_name: str) -> str:
    """The Kubernetes minor a variant targets (its stack's kubernetes_version_prefix, e.g. 1.34)."""
    return kube_minor(VARIANTS[variant_name][0])


def _documents(path: Path) -> list[dict[str, Any]]:
    return documents([path])


@functools.cache
def _chart_crds() -> dict[tuple[str, str], dict[str, Any]]:
    """Every CRD the gated charts render, by (group, kind)."""
    found = {}
    for name in GATED:
        for files in variant(name).charts.values():
            for document in documents([f for f in files if f.name.startswith("customresourcedefinition-")]):
                found[(document["spec"]["group"], document["spec"]["names"]["kind"])] = document
    return found


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per gated variant: the stack's files and each chart's files, by source.

    Also starts checkov (in the background, it takes a while) over one folder holding each
    distinct file once, unless the same set of files was scanned before (cached report).
    """
    scan = tmp_path_factory.mktemp("checkov")
    result: dict[str, Any] = {}
    for name in GATED:
        result[name] = variant(name).sources()
        for source, files in result[name].items():
            # CustomResourceDefinitions carry no checkov checks and are megabytes of YAML: not scanned.
            for path in (p for p in files if not p.name.startswith("customresourcedefinition-")):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
                target = scan / f"{source}-{path.parent.name}-{path.stem}-{digest}.yaml"
                if not target.exists():
                    target.write_bytes(path.read_bytes())
    command = [_script("checkov.sh"), "--framework", "kubernetes", "--output", "json", "--quiet", "--compact", "--skip-download", "--directory", str(scan)]
    key = hashlib.sha256(json.dumps([command[0], *sorted(p.name for p in scan.iterdir())]).encode()).hexdigest()[:24]
    cached = CACHE / "checkov-results" / f"{key}.json"
    result["checkov_cache"] = cached
    if not cached.is_file():
        # Its own process group: checkov forks workers that hold its output pipes, so stopping it
        # early (a failing run) must stop them too, or reading the pipes waits forever.
        result["checkov"] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"}, start_new_session=True
        )
    yield result
    process = result.get("checkov")
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


# -- schema validity -------------------------------------------------------------------


def _strict(schema: Any, branch: bool = False) -> Any:
    """A CRD schema that also refuses unknown fields (the API server would silently prune them).

    Branches of anyOf/oneOf/allOf/not only constrain which declared fields appear; they stay open.
    """
    if isinstance(schema, dict):
        schema = {k: _strict(v, branch=k in ("anyOf", "oneOf", "allOf", "not")) for k, v in schema.items()}
        open_ = branch or schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema
        if "properties" in schema and not open_:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v, branch) for v in schema]
    return schema


@functools.cache
def _crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    group, version = api_version.split("/")
    if (api_version, kind) in CRD_FILES:
        script, file = CRD_FILES[(api_version, kind)]
        (crd,) = [d for d in _documents(Path(_script(*script)) / file) if d.get("kind") == "CustomResourceDefinition"]
    else:
        crd = _chart_crds()[(group, kind)]
    assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v["served"]]
    schema = copy.deepcopy(served["schema"]["openAPIV3Schema"])
    # apiVersion/kind/metadata are checked by the API server itself, not by the CRD schema.
    schema.setdefault("properties", {}).update({"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}})
    return jsonschema.Draft4Validator(_strict(schema))


def _is_custom(api_version: str, kind: str) -> bool:
    return (api_version, kind) in CRD_FILES or (api_version.split("/")[0], kind) in _chart_crds()


def _crd_problems(crd: dict[str, Any]) -> list[str]:
    """A structural check of a CustomResourceDefinition from a chart.

    Validating a CRD against the apiextensions schema takes over a second each (the schema is
    recursive); the chart's CRDs are upstream's, so only their shape is checked here.
    """
    spec, problems = crd.get("spec", {}), []
    names = spec.get("names", {})
    if crd["metadata"]["name"] != f"{names.get('plural')}.{spec.get('group')}":
        problems.append("metadata.name must be <plural>.<group>")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        problems.append("spec.scope must be Namespaced or Cluster")
    versions = spec.get("versions") or []
    if sum(1 for v in versions if v.get("storage")) != 1:
        problems.append("exactly one version must be the storage version")
    problems += [f"version {v.get('name')}: no openAPIV3Schema" for v in versions if not v.get("schema", {}).get("openAPIV3Schema")]
    return problems


def _schema_errors(document: dict[str, Any], minor: str) -> list[str]:
    return list(_cached_schema_errors(json.dumps(document, sort_keys=True), minor))


@functools.cache
def _cached_schema_errors(text: str, minor: str) -> tuple[str, ...]:
    document = json.loads(text)
    if (document["apiVersion"], document["kind"]) == ("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
        return tuple(_crd_problems(document))
    key = (document["apiVersion"], document["kind"])
    if "/" in key[0] and _is_custom(*key):
        return tuple(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in _crd_validator(*key).iter_errors(document) if not _masked(e))
    validator = _builtin_validator(minor, document["apiVersion"], document["kind"])
    return tuple(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document) if not _masked(e))


def _masked(error: jsonschema.ValidationError) -> bool:
    """A value the render masks (a Secret's stringData is one secret Output): not checkable offline."""
    return error.instance == SECRET_PLACEHOLDER


@functools.cache
def _builtin_validator(minor: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """kubernetes-validate's strict schema of a built-in kind for a minor, built once.

    Same files and resolution as ``kubernetes_validate.validate`` (which rebuilds the
    validator on every call): the newest bundled schema not newer than the minor.
    """
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    version = [v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(minor)][-1]
    directory = f"kubernetes-json-schema/v{version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = utils.schema_contents(f"{directory}/{kind.lower()}-{group_version}.json", minor)
    definitions = utils.schema_contents(f"{directory}/_definitions.json", minor)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize(("variant_name", "source"), SOURCES, ids=[f"{v}-{s}" for v, s in SOURCES])
def test_every_object_is_schema_valid_for_the_cluster_minor(rendered, variant_name: str, source: str) -> None:
    files = rendered[variant_name][source]
    assert files, f"nothing rendered for {variant_name} {source}"
    problems = {}
    for path in files:
        for document in _documents(path):
            errors = _schema_errors(document, _minor(variant_name))
            if errors:
                problems[f"{path.parent.name}/{path.name}"] = errors
    assert not problems, json.dumps(problems, indent=2)


@pytest.mark.parametrize("variant_name", GATED)
def test_every_gated_variant_renders_exactly_its_charts(rendered, variant_name: str) -> None:
    assert set(rendered[variant_name]) == {"stack", *releases_of(variant_name)}


def test_the_chart_renders_the_policy_engine_hardened(rendered) -> None:
    documents = [d for path in rendered["prod"]["kyverno"] for d in _documents(path)]
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    assert deployments["kyverno-admission-controller"]["spec"]["replicas"] == 3
    for deployment in deployments.values():
        assert deployment["spec"]["template"]["spec"]["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert {"requests", "limits"} <= set(container["resources"]), (deployment["metadata"]["name"], container["name"])
            assert container["securityContext"]["runAsNonRoot"] is True
    kinds = {d["kind"] for d in documents}
    assert "NetworkPolicy" not in kinds, "the chart's own network policies are off: the stack writes Kyverno's"
    crds = {d["metadata"]["name"] for d in documents if d["kind"] == "CustomResourceDefinition"}
    assert "clusterpolicies.kyverno.io" in crds


@pytest.mark.parametrize(("stack", "expected"), [("dev", None), ("prod", "kyverno-registry-credentials")])
def test_the_chart_gives_kyverno_the_registry_pull_secret(rendered, stack: str, expected: str | None) -> None:
    # Issue 17.2: signature checks read the private DOCR with this Secret (components/registry_access.py).
    documents = [d for path in rendered[stack]["kyverno"] for d in _documents(path)]
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    for name in ("kyverno-admission-controller", "kyverno-background-controller", "kyverno-reports-controller"):
        args = [a for c in deployments[name]["spec"]["template"]["spec"]["containers"] for a in c.get("args", [])]
        found = [a.split("=", 1)[1] for a in args if a.startswith("--imagePullSecrets=")]
        assert found == ([expected] if expected else []), (name, found)


@pytest.mark.parametrize("stack", STACKS)
def test_the_trivy_chart_renders_the_operator_hardened_with_the_stacks_settings(rendered, stack: str) -> None:
    documents = [d for path in rendered[stack]["trivy-operator"] for d in _documents(path)]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], []).append(document)
    (deployment,) = by_kind["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"].startswith("mirror.gcr.io/aquasec/trivy-operator:")
    assert {"requests", "limits"} <= set(container["resources"])
    assert container["securityContext"]["readOnlyRootFilesystem"] is True and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert not {"NetworkPolicy", "DaemonSet", "StatefulSet", "Namespace"} & set(by_kind), "no node agent, no Trivy server, the stack owns the namespace"
    config = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind["ConfigMap"]}
    operator = config["trivy-operator-config"]
    assert operator["OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED"] == "false" and operator["OPERATOR_WEBHOOK_BROADCAST_URL"] == ""
    assert config["trivy-operator-trivy-config"]["trivy.severity"] == ("MEDIUM,HIGH,CRITICAL" if stack == "dev" else "LOW,MEDIUM,HIGH,CRITICAL")
    crons = {d["spec"]["cron"] for d in by_kind["ClusterComplianceReport"]}
    assert crons == {{"dev": "0 7 * * *", "staging": "15 */12 * * *", "prod": "15 */6 * * *"}[stack]}
    crds = {d["metadata"]["name"] for d in by_kind["CustomResourceDefinition"]}
    assert {"vulnerabilityreports.aquasecurity.github.io", "configauditreports.aquasecurity.github.io", "exposedsecretreports.aquasecurity.github.io"} <= crds


def _pod_specs(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec") or {}
    if document["kind"] == "Pod":
        return [spec]
    if document["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    template = spec.get("template") if document["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job") else None
    return [template["spec"]] if template else []


@pytest.mark.parametrize("stack", GATED)
def test_the_charts_images_pass_their_namespaces_admission_allowlists(rendered, stack: str) -> None:
    # The API server holds each add-on namespace to its chart's images (admission_images
    # restrict-addon-images, disallow-latest-tag): a chart bump to another registry or an
    # untagged image would otherwise only fail at `pulumi up`. Same patterns, with Python's re.
    from hardened_doks.admission_cel import glob_regex
    from hardened_doks.admission_images import LATEST, TAGGED
    from hardened_doks.addons import addon_images
    from tests.unit.test_budget import _config

    run = run_of(stack)
    allowlists = addon_images(_config(VARIANTS[stack][0]))
    checked = 0
    for release in releases_of(stack):
        namespace = helm_release(run, release)["namespace"]
        patterns = [glob_regex(p) for p in allowlists[namespace]]
        for document in (d for path in rendered[stack][release] for d in _documents(path)):
            for spec in _pod_specs(document):
                for container in [*spec.get("initContainers", []), *spec["containers"]]:
                    image = container["image"]
                    assert any(re.fullmatch(p, image) for p in patterns), (stack, namespace, image)
                    assert "@" in image or (re.search(TAGGED, image) and not re.search(LATEST, image)), (stack, namespace, image)
                    checked += 1
    assert checked, "no chart pod spec found"


# -- checkov ----------------------------------------------------------------------------


def _exceptions() -> list[dict[str, str]]:
    entries = (yaml.safe_load(EXCEPTIONS_FILE.read_text()) or {}).get("exceptions") or []
    for entry in entries:
        assert set(entry) == {"check", "resource", "reason"} and entry["reason"].strip(), entry
    return entries


@pytest.fixture(scope="session")
def checkov_findings(rendered) -> set[tuple[str, str]]:
    """(check id, resource id) of every failed checkov check over all stacks and charts."""
    cached: Path = rendered["checkov_cache"]
    if "checkov" in rendered:
        stdout, stderr = rendered["checkov"].communicate(timeout=300)
        assert rendered["checkov"].returncode in (0, 1), stderr[-2000:]
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(stdout)
    else:
        stdout = cached.read_text()
    findings = set()
    for report in _json_documents(stdout):
        if not isinstance(report, dict) or "results" not in report:
            continue
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        findings |= {(failed["check_id"], failed["resource"]) for failed in report["results"]["failed_checks"]}
    return findings


def _json_documents(text: str) -> list[Any]:
    """checkov prints one JSON report per directory, one after the other (or a list of them)."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while index < len(text.rstrip()):
        while text[index].isspace():
            index += 1
        document, index = decoder.raw_decode(text, index)
        documents.extend(document if isinstance(document, list) else [document])
    return documents


def _matches(entry: dict[str, str], finding: tuple[str, str]) -> bool:
    return entry["check"] == finding[0] and fnmatch.fnmatchcase(finding[1], entry["resource"])


def test_every_checkov_finding_is_fixed_or_excepted_with_a_reason(checkov_findings) -> None:
    exceptions = _exceptions()
    unexplained = sorted(f"{c} {r}" for c, r in checkov_findings if not any(_matches(e, (c, r)) for e in exceptions))
    assert not unexplained, "fix these or list them with a reason in tests/checkov-exceptions.yaml:\n" + "\n".join(unexplained)


def test_no_exception_is_stale(checkov_findings) -> None:
    stale = [e for e in _exceptions() if not any(_matches(e, f) for f in checkov_findings)]
    assert not stale, f"these exceptions match no finding any more; remove them: {stale}"


@pytest.mark.parametrize(
    "document",
    [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "x"}, "spec": {"podSelector": {}, "policyType": ["Ingress"]}},
        {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "x"}, "spec": {"endpointSelector": {}, "egress": [{"toEntitys": ["world"]}]}},
        {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "x"}, "spec": {"rules": [{"name": "r", "match": {}, "validate": {"failureAction": "Block"}}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "x"}, "spec": {"policyName": "x", "validationAction": ["Deny"]}},
    ],
    ids=["builtin-unknown-field", "cilium-unknown-field", "kyverno-bad-enum", "admission-binding-unknown-field"],
)
def test_the_schema_gate_refuses_what_the_api_server_would_not_keep(document: dict[str, Any]) -> None:
    assert _schema_errors(document, "1.34")
