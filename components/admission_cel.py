"""How the stack writes a ValidatingAdmissionPolicy: the CEL building blocks, the policy and binding
shapes and the namespace scopes every rule of components/admission_policies.py and
components/admission_images.py is made of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from hardened_doks.kube import TEAM_LABEL, metadata

API_VERSION = "admissionregistration.k8s.io/v1"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"

Action = Literal["Deny", "Warn", "Audit"]
#: ``admission.mode`` → the bindings' validationActions: Audit reports (a warning to the client,
#: an audit-log annotation) and admits; Enforce rejects.
ACTIONS: dict[str, list[Action]] = {"Audit": ["Warn", "Audit"], "Enforce": ["Deny"]}

#: Pods and every built-in kind with a pod template, as (API group, resources).
POD_RESOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # pods/ephemeralcontainers: `kubectl debug` adds containers to a running pod through it.
    ("", ("pods", "pods/ephemeralcontainers", "replicationcontrollers")),
    ("apps", ("deployments", "replicasets", "statefulsets", "daemonsets")),
    ("batch", ("jobs", "cronjobs")),
)

def cel_string(value: str) -> str:
    """A CEL string literal (single-quoted, backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cel_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(cel_string(v) for v in values) + "]"


_REGEX_SPECIAL = set(r".^$+()[]{}|\\")


def glob_regex(pattern: str) -> str:
    """A Kyverno-style image wildcard (``*`` any run of characters, ``?`` one) as an anchored RE2 regex."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append("\\" + char if char in _REGEX_SPECIAL else char)
    return "^" + "".join(out) + "$"


def _pod_spec(obj: str) -> str:
    # dyn(): one policy matches several kinds, and each kind keeps its pod spec elsewhere.
    return (
        f"{obj}.kind == 'Pod' ? dyn({obj}.spec) : "
        f"{obj}.kind == 'CronJob' ? dyn({obj}).spec.jobTemplate.spec.template.spec : dyn({obj}).spec.template.spec"
    )


#: Variables every pod-spec rule uses: the pod spec, every container of it, their images.
POD_VARIABLES: tuple[dict[str, str], ...] = (
    {"name": "podSpec", "expression": _pod_spec("object")},
    {
        "name": "containers",
        "expression": "variables.podSpec.containers"
        " + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"
        " + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])",
    },
    {"name": "images", "expression": "variables.containers.map(c, has(c.image) ? c.image : '')"},
)
#: Checked on create, and on update only when the pod spec changes: metadata-only updates
#: (labels, finalizers the garbage collector removes, owner references, scale) of an object
#: admitted before a rule existed are never refused, while every change to what runs is checked.
POD_SPEC_CHANGED: dict[str, str] = {
    "name": "pod-spec-created-or-changed",
    "expression": f"request.operation == 'CREATE' || ({_pod_spec('object')}) != ({_pod_spec('oldObject')})",
}
SERVICE_SPEC_CHANGED: dict[str, str] = {
    "name": "spec-created-or-changed",
    "expression": "request.operation == 'CREATE' || object.spec != oldObject.spec",
}


def match_rules(resources: Sequence[tuple[str, Sequence[str]]], operations: Sequence[str] = ("CREATE", "UPDATE")) -> list[dict[str, Any]]:
    """A policy's resource rules: ``resources`` as (API group, names), for ``operations``."""
    return [
        {"apiGroups": [group], "apiVersions": ["v1"], "resources": list(names), "operations": list(operations)}
        for group, names in resources
    ]


def policy(
    name: str,
    description: str,
    resource_rules: list[dict[str, Any]],
    validations: list[dict[str, str]],
    variables: Sequence[Mapping[str, str]] = (),
    match_conditions: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy; every validation refuses with reason Forbidden."""
    spec: dict[str, Any] = {
        # A rule that cannot be evaluated (an unexpected object shape) counts as failed, and
        # its binding's actions apply: fail closed, as a Kyverno webhook in Enforce did
        # (NSA/CISA: admission control; the policy pack's k8s-admission-policies-fail-closed).
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": resource_rules},
    }
    if match_conditions:
        spec["matchConditions"] = [dict(c) for c in match_conditions]
    if variables:
        spec["variables"] = [dict(v) for v in variables]
    spec["validations"] = [{**v, "reason": "Forbidden"} for v in validations]
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": metadata(name, annotations={"hardened-doks.io/description": description}),
        "spec": spec,
    }


def binding(name: str, actions: Sequence[Action], namespace_selector: Mapping[str, Any]) -> dict[str, Any]:
    """The binding that puts policy ``name`` in force, with its actions and namespace scope."""
    spec: dict[str, Any] = {"policyName": name, "validationActions": list(actions)}
    if namespace_selector:
        spec["matchResources"] = {"namespaceSelector": dict(namespace_selector)}
    return {"apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicyBinding", "metadata": metadata(name), "spec": spec}


def namespaces_not_in(names: Sequence[str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": list(names)}]}


def namespaces_in(names: Sequence[str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": list(names)}]}


#: Tenant namespaces: those carrying a team label (components/namespaces.py). Tenants cannot
#: edit namespaces (components/rbac.py), so they cannot take a namespace out of this scope.
TENANT_NAMESPACES: dict[str, Any] = {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]}
