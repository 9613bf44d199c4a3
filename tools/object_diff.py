"""What differs, in meaning, between a Kubernetes object as the stack declared it and as it is live.

The API server does not store what it was sent: it fills in defaults (``policyTypes``, a
port's ``protocol``, a subject's ``apiGroup``, a CRD's schema defaults…), drops empty values,
keeps lists in whatever order the last writer chose and canonicalises quantities (``1024Mi`` is
stored as ``1Gi``). A byte comparison reports all of that as drift; the Kubernetes provider's own
diff goes the other way and prunes the live object to the shape of the declared one, so anything
*added* outside Pulumi (a ``matchLabels`` under an empty ``podSelector``, a rule appended to a
ClusterRole, a label) is invisible to it. :func:`differences` compares meaning:

- **defaults**: both sides get the API server's defaults before they are compared (the table
  :data:`BUILTIN_DEFAULTS`, from Kubernetes 1.34's defaulting functions, for the built-in kinds
  the stack creates; a custom resource's structural-schema defaults and pruning when its CRD's
  schema is given), so a defaulted field is never drift and a changed default is;
- **empty values**: ``None``, ``""``, ``{}`` and ``[]`` as a map value mean "absent" (the API
  server omits them) — except a *selector*: ``podSelector: {}`` selects every pod while an absent
  ``namespaceSelector`` means "this namespace only", so an empty selector is a value;
- **list order**: lists are compared as multisets (``subjects``, ``rules``, ``ports``, policy
  rules…), except the few where order is meaning (:data:`ORDERED_LISTS`); elements that differ are
  paired by ``name``, then in order, so a changed field inside one is named;
- **quantities** compare by value in the built-in kinds' resource maps (``spec.hard``, limits).

Every difference names its property path (the engine's syntax: ``spec.podSelector.matchLabels``,
``metadata.labels["pod-security.kubernetes.io/enforce"]``, ``rules[3]``), what happened to it
outside Pulumi (``changed``, ``added``, ``removed``), the declared and live values, the JSON
pointer of the live value, and whether the path is one the stack sets explicitly: only those can
be restored by ``pulumi up`` (the provider diffs declared paths only); the others are removed from
the live object (:func:`removal_patch`) and the API server puts its default back.

Which fields are compared: every object's labels and its whole body (everything but
``apiVersion``, ``kind``, ``metadata`` and ``status``) — not annotations (documentation and tool
hints), not a Secret's data (secret in state; values are never compared or printed). For a
*Patch* resource (an object Kubernetes creates and the stack only patches, such as a namespace's
``default`` ServiceAccount) only the fields the stack sets are compared.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Optional, Union

from kubernetes.utils.quantity import parse_quantity

Token = Union[str, int]

#: Top-level keys that are not the object's content.
NOT_CONTENT = ("apiVersion", "kind", "metadata", "status")
#: Per kind, body keys never compared: a Secret's values are secret in the state (ciphertext) and
#: write-only in the manifest (``stringData``), and must never be printed.
UNCOMPARED: dict[str, tuple[str, ...]] = {"Secret": ("data", "stringData")}
#: Lists whose order is their meaning (a command line); every other list is a multiset.
ORDERED_LISTS = frozenset({"command", "args"})
#: Maps of resource quantities in the built-in kinds (quota, limit ranges, container resources).
QUANTITY_MAPS = frozenset({"hard", "limits", "requests", "max", "min", "default", "defaultRequest", "maxLimitRequestRatio"})
#: The built-in API groups' kinds this module knows the defaults of (quantities only there).
BUILTIN_KINDS = frozenset(
    {
        "Namespace", "ServiceAccount", "ResourceQuota", "LimitRange", "Secret", "ConfigMap", "CronJob", "Job",
        "NetworkPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    }
)


@dataclass(frozen=True)
class Difference:
    path: str  # the engine's property-path syntax
    change: str  # what happened outside Pulumi: changed | added | removed
    declared: Any  # the declared value (None when absent)
    live: Any  # the live value (None when absent)
    pointer: str  # JSON pointer (RFC 6901) of the live value ("" when absent live)
    explicit: bool  # the stack sets this path itself (so `pulumi up` diffs and restores it)

    @property
    def removable(self) -> bool:
        """Restored by removing the live value: added outside Pulumi, or a default the stack
        relies on overwritten (the API server re-applies it once the field is gone)."""
        return bool(self.pointer) and (self.change == "added" or (self.change == "changed" and not self.explicit))


# -- paths --------------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def property_path(tokens: Iterable[Token]) -> str:
    """``["metadata", "labels", "a.b/c"]`` → ``metadata.labels["a.b/c"]`` (the engine's syntax)."""
    path = ""
    for token in tokens:
        if isinstance(token, int):
            path += f"[{token}]"
        elif _IDENTIFIER.fullmatch(token):
            path += f".{token}" if path else token
        else:
            path += '["' + token.replace("\\", "\\\\").replace('"', '\\"') + '"]'
    return path


def json_pointer(tokens: Iterable[Token]) -> str:
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


# -- defaults -----------------------------------------------------------------------------

Default = Union[Any, Callable[[Mapping[str, Any], Mapping[str, Any]], Any]]


def _policy_types(spec: Mapping[str, Any], _: Mapping[str, Any]) -> list[str]:
    return ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def _subject_api_group(subject: Mapping[str, Any], _: Mapping[str, Any]) -> str:
    return "" if subject.get("kind") == "ServiceAccount" else "rbac.authorization.k8s.io"


def _namespace_name(labels: Mapping[str, Any], obj: Mapping[str, Any]) -> Any:
    return obj.get("metadata", {}).get("name")


def _pull_policy(container: Mapping[str, Any], _: Mapping[str, Any]) -> str:
    image = str(container.get("image", "")).split("@")[0]
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _service_account_alias(pod_spec: Mapping[str, Any], _: Mapping[str, Any]) -> Any:
    """The deprecated ``serviceAccount`` the API server keeps equal to ``serviceAccountName``."""
    return pod_spec.get("serviceAccountName")


def _limit_range_item(item: dict[str, Any]) -> None:
    """SetDefaults_LimitRangeItem: a Container item's default ← max, defaultRequest ← default ← min."""
    if item.get("type") != "Container":
        return
    default = item.setdefault("default", {})
    for key, value in (item.get("max") or {}).items():
        default.setdefault(key, value)
    request = item.setdefault("defaultRequest", {})
    for key, value in list(default.items()) + list((item.get("min") or {}).items()):
        request.setdefault(key, value)


_POD = ("spec", "jobTemplate", "spec", "template", "spec")
_CONTAINERS = ("containers", "initContainers", "ephemeralContainers")


def _pod_spec_defaults(prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], str, Default]]:
    """SetDefaults_PodSpec, _Container, _Probe and the volume sources', under ``prefix``."""
    rules: list[tuple[tuple[str, ...], str, Default]] = [
        (prefix, "dnsPolicy", "ClusterFirst"),
        (prefix, "restartPolicy", "Always"),
        (prefix, "securityContext", {}),
        (prefix, "terminationGracePeriodSeconds", 30),
        (prefix, "schedulerName", "default-scheduler"),
        (prefix, "serviceAccount", _service_account_alias),
    ]
    for volume_source in ("secret", "configMap", "downwardAPI", "projected"):
        rules.append((prefix + ("volumes", "*", volume_source), "defaultMode", 420))
    rules.append((prefix + ("volumes", "*", "projected", "sources", "*", "serviceAccountToken"), "expirationSeconds", 3600))
    rules.append((prefix + ("volumes", "*", "downwardAPI", "items", "*", "fieldRef"), "apiVersion", "v1"))
    for containers in _CONTAINERS:
        container = prefix + (containers, "*")
        rules += [
            (container, "imagePullPolicy", _pull_policy),
            (container, "terminationMessagePath", "/dev/termination-log"),
            (container, "terminationMessagePolicy", "File"),
            (container + ("ports", "*"), "protocol", "TCP"),
            (container + ("env", "*", "valueFrom", "fieldRef"), "apiVersion", "v1"),
        ]
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            rules += [
                (container + (probe,), "timeoutSeconds", 1),
                (container + (probe,), "periodSeconds", 10),
                (container + (probe,), "successThreshold", 1),
                (container + (probe,), "failureThreshold", 3),
            ]
    return rules


def _match_resources(prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], str, Default]]:
    """SetDefaults_MatchResources and _Rule (admissionregistration.k8s.io/v1)."""
    return [
        (prefix, "matchPolicy", "Equivalent"),
        (prefix, "namespaceSelector", {}),
        (prefix, "objectSelector", {}),
        (prefix + ("resourceRules", "*"), "scope", "*"),
        (prefix + ("excludeResourceRules", "*"), "scope", "*"),
    ]


#: kind → (parent path, key, default): the key is set on every parent present that lacks it (``*``
#: walks list elements and map values). From Kubernetes 1.34's defaulting functions
#: (pkg/apis/*/v1/defaults.go) for the kinds the stack creates; a callable computes the default
#: from the parent and the whole object.
BUILTIN_DEFAULTS: dict[str, list[tuple[tuple[str, ...], str, Default]]] = {
    "Namespace": [
        (("metadata",), "labels", {}),
        (("metadata", "labels"), "kubernetes.io/metadata.name", _namespace_name),
        ((), "spec", {}),
        (("spec",), "finalizers", ["kubernetes"]),
    ],
    "NetworkPolicy": [
        (("spec",), "policyTypes", _policy_types),
        (("spec", "ingress", "*", "ports", "*"), "protocol", "TCP"),
        (("spec", "egress", "*", "ports", "*"), "protocol", "TCP"),
    ],
    "RoleBinding": [(("subjects", "*"), "apiGroup", _subject_api_group), (("roleRef",), "apiGroup", "rbac.authorization.k8s.io")],
    "ClusterRoleBinding": [(("subjects", "*"), "apiGroup", _subject_api_group), (("roleRef",), "apiGroup", "rbac.authorization.k8s.io")],
    "Secret": [((), "type", "Opaque")],
    "CronJob": [
        (("spec",), "concurrencyPolicy", "Allow"),
        (("spec",), "suspend", False),
        (("spec",), "successfulJobsHistoryLimit", 3),
        (("spec",), "failedJobsHistoryLimit", 1),
        *_pod_spec_defaults(_POD),
    ],
    "ValidatingAdmissionPolicy": [(("spec",), "failurePolicy", "Fail"), *_match_resources(("spec", "matchConstraints"))],
    "ValidatingAdmissionPolicyBinding": _match_resources(("spec", "matchResources")),
}


def _parents(value: Any, tokens: tuple[str, ...]) -> Iterable[Any]:
    if not tokens:
        yield value
        return
    head, rest = tokens[0], tokens[1:]
    if head == "*":
        children = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
        for child in children:
            yield from _parents(child, rest)
    elif isinstance(value, dict) and head in value:
        yield from _parents(value[head], rest)


def apply_builtin_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (a copy) with the API server's defaults for its kind filled in."""
    obj = copy.deepcopy(obj)
    kind = obj.get("kind", "")
    for parent_path, key, default in BUILTIN_DEFAULTS.get(kind, []):
        for parent in _parents(obj, parent_path):
            if isinstance(parent, dict) and _is_empty(parent.get(key)):
                parent[key] = default(parent, obj) if callable(default) else copy.deepcopy(default)
    if kind == "LimitRange":
        for item in (obj.get("spec") or {}).get("limits") or []:
            if isinstance(item, dict):
                _limit_range_item(item)
    return obj


def apply_schema(value: Any, schema: Optional[Mapping[str, Any]], top: bool = True) -> Any:
    """A custom resource as the API server stores it: unknown fields pruned and defaults set, per
    its CRD's structural schema (``openAPIV3Schema``). ``metadata`` is left alone."""
    if not schema:
        return value
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or additional is True
        result: dict[str, Any] = {}
        for key, child in value.items():
            if top and key in ("apiVersion", "kind", "metadata"):
                result[key] = child
            elif key in properties:
                result[key] = apply_schema(child, properties[key], top=False)
            elif isinstance(additional, Mapping):
                result[key] = apply_schema(child, additional, top=False)
            elif keep_unknown or not properties:
                result[key] = child
        for key, child_schema in properties.items():
            if key not in result and isinstance(child_schema, Mapping) and "default" in child_schema:
                result[key] = apply_schema(copy.deepcopy(child_schema["default"]), child_schema, top=False)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [apply_schema(item, schema["items"], top=False) for item in value]
    return value


# -- normal form --------------------------------------------------------------------------


def is_selector(key: Token) -> bool:
    """``selector``, ``podSelector``, ``namespaceSelector``, ``endpointSelector``…: ``{}`` selects everything."""
    return isinstance(key, str) and (key == "selector" or key.endswith("Selector"))


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {} or value == []


def drop_empty(value: Any, key: Token = "") -> Any:
    """Empty map values removed (as the API server omits them); empty selectors and list elements kept."""
    if isinstance(value, dict):
        result = {}
        for k, v in value.items():
            v = drop_empty(v, k)
            if not _is_empty(v) or (is_selector(k) and v == {}):
                result[k] = v
        return result
    if isinstance(value, list):
        return [drop_empty(v) for v in value]
    return value


def _quantity(value: Any) -> Optional[Decimal]:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        return Decimal(parse_quantity(value))
    except (ValueError, InvalidOperation):
        return None


def canonical(value: Any, quantities: bool, key: Token = "", in_quantity_map: bool = False) -> Any:
    """A hashable, comparable form: maps sorted, multiset lists sorted, numbers by value, and (with
    ``quantities``) the values of resource maps (:data:`QUANTITY_MAPS`) as quantities."""
    if isinstance(value, dict):
        return ("map", tuple(sorted((k, canonical(v, quantities, k, quantities and key in QUANTITY_MAPS)) for k, v in value.items())))
    if isinstance(value, list):
        items = [canonical(v, quantities) for v in value]
        return ("list", tuple(items) if key in ORDERED_LISTS else tuple(sorted(items, key=repr)))
    if in_quantity_map:
        number = _quantity(value)
        if number is not None:
            return ("quantity", number.normalize())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- comparison ---------------------------------------------------------------------------


def compared_content(obj: Mapping[str, Any], only: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """What is compared of an object: ``{"metadata": {"labels": …}, <body>}``. With ``only`` (the
    compared content of a Patch resource's declared object) just the keys and labels it sets."""
    kind = str(obj.get("kind", ""))
    skip = NOT_CONTENT + UNCOMPARED.get(kind, ())
    content: dict[str, Any] = {k: copy.deepcopy(v) for k, v in obj.items() if k not in skip}
    labels = dict((obj.get("metadata") or {}).get("labels") or {})
    if only is not None:
        content = {k: v for k, v in content.items() if k in only}
        labels = {k: v for k, v in labels.items() if k in only.get("metadata", {}).get("labels", {})}
    if kind == "ClusterRole" and obj.get("aggregationRule"):
        content.pop("rules", None)  # filled in by the aggregation controller, not by the stack
    return {"metadata": {"labels": labels}, **content}


_MISSING = object()


def value_at(value: Any, tokens: Iterable[Token], default: Any = None) -> Any:
    """The value at a tokenised path (``["spec", "rules", 0]``), or ``default`` when absent."""
    for token in tokens:
        if isinstance(token, int) and isinstance(value, list) and token < len(value):
            value = value[token]
        elif isinstance(token, str) and isinstance(value, dict) and token in value:
            value = value[token]
        else:
            return default
    return value


def _has_path(value: Any, tokens: list[Token]) -> bool:
    return value_at(value, tokens, _MISSING) is not _MISSING


class _Differ:
    """One walk over the declared and live normal forms, collecting differences."""

    def __init__(self, raw_declared: Mapping[str, Any], quantities: bool):
        self.raw = raw_declared  # the declared content before defaults: what the stack sets itself
        self.quantities = quantities
        self.found: list[Difference] = []

    def same(self, declared: Any, live: Any, key: Token = "", in_quantity_map: bool = False) -> bool:
        return canonical(declared, self.quantities, key, in_quantity_map) == canonical(live, self.quantities, key, in_quantity_map)

    def add(self, change: str, path: list[Token], live_path: Optional[list[Token]], declared: Any, live: Any) -> None:
        self.found.append(
            Difference(
                property_path(path),
                change,
                declared,
                live,
                json_pointer(live_path) if live_path is not None else "",
                change != "added" and _has_path(self.raw, path),
            )
        )

    def walk(self, declared: Any, live: Any, path: list[Token], live_path: list[Token]) -> None:
        """``path`` indexes the declared side, ``live_path`` the live one (list elements may pair across indices)."""
        key = path[-1] if path else ""
        parent = path[-2] if len(path) >= 2 else ""
        if isinstance(declared, dict) and isinstance(live, dict):
            for k in sorted(set(declared) | set(live)):
                if k not in live:
                    self.add("removed", path + [k], None, declared[k], None)
                elif k not in declared:
                    self.add("added", path + [k], live_path + [k], None, live[k])
                else:
                    self.walk(declared[k], live[k], path + [k], live_path + [k])
        elif isinstance(declared, list) and isinstance(live, list):
            self.walk_list(declared, live, path, live_path, ordered=key in ORDERED_LISTS)
        elif not self.same(declared, live, key, in_quantity_map=self.quantities and isinstance(key, str) and parent in QUANTITY_MAPS):
            self.add("changed", path, live_path, declared, live)

    def walk_list(self, declared: list[Any], live: list[Any], path: list[Token], live_path: list[Token], ordered: bool) -> None:
        left_d, left_l = list(range(len(declared))), list(range(len(live)))
        pairs: list[tuple[int, int]] = []
        if ordered:
            pairs = list(zip(left_d, left_l, strict=False))  # the shorter side's length: the rest is handled below
            left_d, left_l = left_d[len(pairs):], left_l[len(pairs):]
        else:
            for i in list(left_d):  # identical elements, wherever they are
                match = next((j for j in left_l if self.same(declared[i], live[j])), None)
                if match is not None:
                    left_d.remove(i)
                    left_l.remove(match)
            for i in list(left_d):  # the same `name`: a field changed inside one element
                name = declared[i].get("name") if isinstance(declared[i], dict) else None
                match = next((j for j in left_l if name is not None and isinstance(live[j], dict) and live[j].get("name") == name), None)
                if match is not None:
                    pairs.append((i, match))
                    left_d.remove(i)
                    left_l.remove(match)
            while left_d and left_l and type(declared[left_d[0]]) is type(live[left_l[0]]):  # the rest in order
                pairs.append((left_d.pop(0), left_l.pop(0)))
        for i, j in pairs:
            self.walk(declared[i], live[j], path + [i], live_path + [j])
        for i in left_d:
            self.add("removed", path + [i], None, declared[i], None)
        for j in left_l:
            self.add("added", path + [j], live_path + [j], None, live[j])


def normal_form(obj: Mapping[str, Any], schema: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """An object as the API server would store it (defaults in, unknown CR fields out), empties dropped."""
    return drop_empty(apply_schema(apply_builtin_defaults(dict(obj)), schema))


def differences(
    declared: Mapping[str, Any],
    live: Mapping[str, Any],
    schema: Optional[Mapping[str, Any]] = None,
    patch: bool = False,
) -> list[Difference]:
    """The differences in meaning between a declared object and the live one (see the module doc).

    ``schema``: the custom resource's ``openAPIV3Schema`` (its defaults and pruning); ``patch``:
    the declared object is a Patch resource (only the fields it sets are compared).
    """
    kind = str(declared.get("kind") or live.get("kind") or "")
    name = (declared.get("metadata") or {}).get("name") or (live.get("metadata") or {}).get("name")
    declared = {**declared, "kind": kind, "metadata": {**(declared.get("metadata") or {}), "name": name}}
    raw = compared_content(declared)
    want = compared_content(normal_form(declared, schema))
    have = compared_content(normal_form({**live, "kind": kind}, schema), only=want if patch else None)
    differ = _Differ(raw, quantities=kind in BUILTIN_KINDS)
    differ.walk(drop_empty(want), drop_empty(have), [], [])
    return differ.found


def removal_patch(found: Iterable[Difference]) -> list[dict[str, Any]]:
    """An RFC 6902 JSON patch removing the live values of the removable differences, each guarded
    by a ``test`` of its value (the patch fails whole if the object changed meanwhile); list
    elements are removed from the highest index down."""
    removable = [d for d in found if d.removable]

    def order(d: Difference) -> list[Any]:
        return [(0, int(t)) if t.isdigit() else (1, t) for t in d.pointer.split("/")[1:]]

    removable.sort(key=order, reverse=True)
    return [{"op": "test", "path": d.pointer, "value": d.live} for d in removable] + [{"op": "remove", "path": d.pointer} for d in removable]


def brief(value: Any, limit: int = 70) -> str:
    """A value as one short line of JSON."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
