"""Drift detection: what changed in the cloud outside Pulumi, per stack, and how to restore it.

    python -m hardened_doks.tools.drift --stack dev [--json] [--slack]
    python -m hardened_doks.tools.drift --all [--json] [--slack]
    python -m hardened_doks.tools.drift --stack dev --remove-added '<urn>'     # a remedy the report names

For each stack, the Automation API runs ``pulumi preview --refresh --expect-no-changes`` on
this project (LocalWorkspace) and the engine's events are classified:

- the **refresh** steps say what the cloud looks like now compared with the state of the last
  deployment: unchanged, changed (with a property diff), or gone;
- the **plan** steps that follow say what the program would do about it. Only resources the
  plan would touch are drift, so fields in ``ignore_changes`` (``version`` under auto-upgrade,
  node counts under autoscaling: DOKS changes them itself) are never reported.

Then the cluster itself is read (tools/out_of_band.py): every Kubernetes object the program
declares is compared *in meaning* with the live one (tools/object_diff.py: defaults, empty values
and list order handled, whoever owns each field), which finds what the Kubernetes provider's
pruned diff cannot (a narrowed ``podSelector``, an appended rule or subject, a label); and the
objects that grant access or open a network path (a RoleBinding in a managed namespace, a binding
to cluster-admin…) created outside Pulumi are listed. The policy pack (policy/) runs offline on
the live objects, and the policies the drift breaks are named beside the resources.

Each drifted resource is one of: ``changed`` (modified outside Pulumi), ``deleted`` (deleted
outside Pulumi; the program would recreate it), ``pending`` (the cloud matches the last
deployment but the program differs from it: an unapplied code or config change), or
``created`` (created outside Pulumi). For a changed resource every differing property is named
with what happened to it outside Pulumi: ``changed``, ``created`` (added outside Pulumi, e.g. an
extra firewall rule: the program would remove it) or ``deleted`` (removed outside Pulumi: the
program would add it back). Every row carries its **remedy**, the exact command that restores it
(:func:`remedy`).

Exit 0 when every stack is clean, 1 when one drifted (also when the drift breaks the policy pack,
or a preview's dry run hits a field another manager owns), 2 when one could not be checked
(unknown stack, no pulumi CLI, missing credentials, engine failure). ``--slack`` posts a summary
on drift or error to the webhook in SLACK_WEBHOOK_URL or the stack's secret config
``hardened-doks:slack_webhook_url`` (the one webhook the scanners' alerts use too;
``drift:slack_webhook_url`` is still read after it).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Union

import requests
from pulumi.automation import EngineEvent, OpType
from pulumi.automation.errors import CommandError

from hardened_doks.sdk_internals import SECRET_SIG  # the wire marker of a secret value (values are never printed)
from hardened_doks.tools import engine, object_diff, out_of_band, policy_check
from hardened_doks.tools.cli import emit, envelope, selected_stacks, stack_entry, stack_parser
from hardened_doks.tools.offline import ProgramRun, RecordedResource, read_stack_file, run_program

EXIT_CLEAN, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
SLACK_WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
#: The stack's one Slack webhook (components/config/stack.py ``slack_webhook_url``: scanner findings,
#: Falco events and drift), then the key this command read before it existed.
SLACK_WEBHOOK_CONFIGS: tuple[str, ...] = ("hardened-doks:slack_webhook_url", "drift:slack_webhook_url")
SLACK_WEBHOOK_CONFIG = SLACK_WEBHOOK_CONFIGS[0]
NO_CHANGES_EXPECTED = "no changes were expected"

#: Plan ops that are not changes.
_NO_CHANGE = {OpType.SAME, OpType.READ, OpType.REFRESH, OpType.DISCARD, OpType.DISCARD_REPLACED}
_REPLACE_OPS = {OpType.REPLACE, OpType.CREATE_REPLACEMENT, OpType.DELETE_REPLACED}
#: What happened outside Pulumi, from the plan's diff kind (the program is the source of truth:
#: "add" = it would add the property back, so it was deleted outside Pulumi).
_OUTSIDE = {"add": "deleted", "delete": "created", "update": "changed"}
#: A server-side-apply conflict in a preview's dry run: another field manager owns a field the
#: program declares (drift, not an engine failure); the provider names the manager and the field.
_SSA_CONFLICT = re.compile(r"Server-Side Apply field conflict detected.*?(conflicts? with .*)$", re.DOTALL)
#: The engine's closing line for a failed preview.
_ENGINE_SUMMARY = re.compile(r"(preview|update) failed", re.IGNORECASE)


@dataclass
class PropertyDrift:
    path: str
    change: str  # what happened outside Pulumi: changed | created | deleted; pending: a program change
    diff: str  # the engine's diff kind for the program: add | delete | update
    replace: bool = False
    expected: Any = None  # the program's value (None when absent)
    actual: Any = None  # the cloud's value (None when absent)
    removable: bool = False  # restored by removing the live value (the provider's diff cannot see it)


@dataclass
class ResourceDrift:
    kind: str  # changed | deleted | pending | created (an object the stack does not manage)
    type: str
    name: str
    urn: str
    op: str
    properties: list[PropertyDrift] = field(default_factory=list)
    remedy: str = ""  # the exact command that restores the declared state
    policies: list[str] = field(default_factory=list)  # policy-pack violations the change causes
    conflict: str = ""  # the server-side-apply conflict the preview hit (another field manager owns a declared field)


@dataclass
class StackDrift:
    stack: str
    status: str = "clean"  # clean | drift | error
    resources: list[ResourceDrift] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    policies: list[str] = field(default_factory=list)  # violations the drift causes, not tied to one resource

    @property
    def exit_code(self) -> int:
        return {"clean": EXIT_CLEAN, "drift": EXIT_DRIFT, "error": EXIT_ERROR}[self.status]


# -- property paths ------------------------------------------------------------------

_PATH_TOKEN = re.compile(r'\[(\d+|\*)\]|\["((?:[^"\\]|\\.)*)"\]|([^.\[\]]+)')


def path_tokens(path: str) -> list[Union[str, int]]:
    """``a.b[1]["c.d"]`` → ``["a", "b", 1, "c.d"]`` (``[*]`` stays ``"*"``)."""
    tokens: list[Union[str, int]] = []
    for index, quoted, name in _PATH_TOKEN.findall(path):
        if index:
            tokens.append("*" if index == "*" else int(index))
        else:
            tokens.append(quoted if quoted else name)
    return tokens


def path_value(value: Any, path: str) -> Any:
    return object_diff.value_at(value, path_tokens(path))


def is_ignored(path: str, ignore_changes: Iterable[str]) -> bool:
    """True when ``path`` is (under) an ignore_changes entry; list indices match ``[*]`` or any index."""
    tokens = path_tokens(path)
    for pattern in ignore_changes:
        wanted = path_tokens(pattern)
        # An object flattened from a one-element list may appear with or without its index.
        got = [t for t in tokens if not isinstance(t, int)]
        want = [t for t in wanted if t != "*" and not isinstance(t, int)]
        if len(want) <= len(got) and got[: len(want)] == want:
            return True
    return False


def shown(value: Any) -> Any:
    """A value safe for a report: secrets (as the engine blinds them) masked."""
    if isinstance(value, dict) and SECRET_SIG in value:
        return "[secret]"
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    return value


def brief(value: Any, limit: int = 70) -> str:
    """A value as one short line of JSON."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(message: str) -> str:
    """A multi-line engine message as its first and last lines (a traceback's exception line)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} … {lines[-1]}"


# -- classification ------------------------------------------------------------------


def _events(events: Iterable[Union[EngineEvent, Mapping[str, Any]]]) -> list[EngineEvent]:
    return [e if isinstance(e, EngineEvent) else EngineEvent.from_json(dict(e)) for e in events]


def _name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _op_rank(op: OpType) -> int:
    if op in _REPLACE_OPS:
        return 3
    return {OpType.CREATE: 2, OpType.DELETE: 2, OpType.UPDATE: 1}.get(op, 0)


def classify(
    stack: str,
    events: Iterable[Union[EngineEvent, Mapping[str, Any]]],
    ignore_changes: Optional[Mapping[tuple[str, str], list[str]]] = None,
) -> StackDrift:
    """Classify the events of one `preview --refresh` (EngineEvent objects or their JSON)."""
    ignore_changes = ignore_changes or {}
    refreshed: dict[str, Any] = {}  # urn → refresh step metadata
    planned: dict[str, Any] = {}  # urn → the strongest plan step
    report = StackDrift(stack)
    conflicts: dict[str, str] = {}  # urn → the conflict message
    for event in _events(events):
        diagnostic = event.diagnostic_event
        if diagnostic and diagnostic.severity == "error":
            conflict = _SSA_CONFLICT.search(diagnostic.message)
            if conflict and diagnostic.urn:
                conflicts[diagnostic.urn] = conflict.group(1).strip()
            else:
                report.errors.append(diagnostic.message.strip())
        if event.res_op_failed_event:
            report.errors.append(f"{_name(event.res_op_failed_event.metadata.urn)}: resource operation failed")
        if event.summary_event:
            report.summary = {str(getattr(k, "value", k)): v for k, v in event.summary_event.resource_changes.items()}
        step = event.res_outputs_event or event.resource_pre_event
        if step is None:
            continue
        metadata = step.metadata
        if metadata.op == OpType.REFRESH:
            if event.res_outputs_event:  # the outcome of the read
                refreshed[metadata.urn] = metadata
        elif metadata.op not in _NO_CHANGE and (
            metadata.urn not in planned or _op_rank(metadata.op) > _op_rank(planned[metadata.urn].op)
        ):
            planned[metadata.urn] = metadata

    for urn, step in planned.items():
        drift = _resource_drift(urn, step, refreshed.get(urn), ignore_changes.get((step.type, _name(urn)), []))
        if drift is not None:
            drift.conflict = conflicts.pop(urn, "")
            report.resources.append(drift)
    if conflicts:  # a conflict on a resource the plan did not touch: nothing explains it
        report.errors += [f"{_name(urn)}: {message}" for urn, message in conflicts.items()]
    elif any(r.conflict for r in report.resources):
        # the engine's summary of the conflicts ("preview failed") is not an error of its own
        report.errors = [e for e in report.errors if not _ENGINE_SUMMARY.fullmatch(e)]
    for urn, refresh in refreshed.items():
        _note_ignored(urn, refresh, ignore_changes.get((refresh.type, _name(urn)), []), report)
    report.resources.sort(key=lambda r: ({"deleted": 0, "changed": 1, "pending": 2}[r.kind], r.type, r.name))
    report.status = "error" if report.errors else "drift" if report.resources else "clean"
    return report


def diff_values(old: Any, new: Any, path: str = "") -> dict[str, str]:
    """Property paths where ``new`` (the program) differs from ``old`` (the cloud), with the kind of
    change the program would make (add, delete, update), in the engine's path syntax."""
    if isinstance(old, dict) and isinstance(new, dict) and SECRET_SIG not in old and SECRET_SIG not in new:
        found: dict[str, str] = {}
        for key in sorted(set(old) | set(new)):
            if not path and key.startswith("__"):
                continue  # engine bookkeeping such as __provider
            child = f"{path}.{key}" if path and re.fullmatch(r"[A-Za-z_][\w]*", key) else (
                f'{path}["{key}"]' if path else key
            )
            if key not in old:
                found[child] = "add"
            elif key not in new:
                found[child] = "delete"
            else:
                found.update(diff_values(old[key], new[key], child))
        return found
    if isinstance(old, list) and isinstance(new, list):
        found = {}
        for index in range(max(len(old), len(new))):
            child = f"{path}[{index}]"
            if index >= len(old):
                found[child] = "add"
            elif index >= len(new):
                found[child] = "delete"
            else:
                found.update(diff_values(old[index], new[index], child))
        return found
    return {} if old == new else {path: "update"}


def _inputs(state: Any) -> dict[str, Any]:
    return dict(state.inputs or {}) if state is not None else {}


def _refreshed_paths(refresh: Any) -> list[str]:
    """What the refresh found changed outside Pulumi: the engine's diff when the provider gives one,
    else the difference between the state's inputs (or outputs) and the refreshed ones."""
    if refresh is None or refresh.new is None:
        return []
    if refresh.detailed_diff or refresh.diffs:
        return list(refresh.detailed_diff or {}) or list(refresh.diffs or [])
    changed = diff_values(_inputs(refresh.old), _inputs(refresh.new))
    if not changed and refresh.old is not None:
        changed = diff_values(dict(refresh.old.outputs or {}), dict(refresh.new.outputs or {}))
    return list(changed)


def _same_property(path: str, others: Iterable[str]) -> bool:
    """True when one of ``others`` is ``path``, inside it or around it (list indices aside)."""
    mine = [t for t in path_tokens(path) if not isinstance(t, int)]
    for other in others:
        theirs = [t for t in path_tokens(other) if not isinstance(t, int)]
        shorter = min(len(mine), len(theirs))
        if mine[:shorter] == theirs[:shorter]:
            return True
    return False


def _plan_diff(step: Any) -> dict[str, str]:
    """path → add/delete/update(-replace) for a plan step: the engine's detailed diff when the
    provider gives one, else the difference between the refreshed inputs and the program's."""
    if step.detailed_diff:
        return {path: str(d.diff_kind.value) for path, d in step.detailed_diff.items()}
    computed = diff_values(_inputs(step.old), _inputs(step.new))
    replaced = set(step.keys or []) if step.op in _REPLACE_OPS else set()
    return {path: kind + ("-replace" if _same_property(path, replaced) else "") for path, kind in computed.items()} or {
        key: "update" for key in step.diffs or step.keys or []
    }


def _resource_drift(urn: str, step: Any, refresh: Any, ignored_paths: list[str]) -> Optional[ResourceDrift]:
    drift = ResourceDrift("pending", step.type, _name(urn), urn, str(step.op.value))
    if refresh is not None and refresh.new is None:
        drift.kind = "deleted"  # the refresh found it gone; the plan recreates it
        return drift
    if step.op in (OpType.CREATE, OpType.DELETE):
        return drift  # in the program but never deployed, or deployed but no longer in the program
    outside = _refreshed_paths(refresh)
    cloud, program = _inputs(step.old), _inputs(step.new)
    for path, kind in sorted(_plan_diff(step).items()):
        if is_ignored(path, ignored_paths):
            continue  # the engine already leaves these out; kept as a second line of defence
        base = kind.removesuffix("-replace")
        drift.properties.append(
            PropertyDrift(
                path,
                _OUTSIDE[base] if _same_property(path, outside) else "pending",
                base,
                kind.endswith("-replace"),
                shown(path_value(program, path)),
                shown(path_value(cloud, path)),
            )
        )
    if not drift.properties:
        return None  # only fields DOKS manages itself (ignore_changes) differ
    if any(p.change != "pending" for p in drift.properties):
        drift.kind = "changed"
    return drift


def _note_ignored(urn: str, refresh: Any, ignored_paths: list[str], report: StackDrift) -> None:
    """Record changes the refresh saw on ignore_changes fields (reported as ignored, not drift)."""
    seen = [p for p in _refreshed_paths(refresh) if is_ignored(p, ignored_paths)]
    if seen:
        report.ignored.append({"type": refresh.type, "name": _name(urn), "properties": seen})


# -- running the engine --------------------------------------------------------------


def ignore_changes_of(stack: str) -> dict[tuple[str, str], list[str]]:
    """Each resource's ignore_changes, from an offline run of the program with the stack file
    (its warnings are the preview's business, not the report's)."""
    config, secrets = read_stack_file(stack)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return ignore_changes_in(run_program(stack, config, secrets))


def ignore_changes_in(run: ProgramRun) -> dict[tuple[str, str], list[str]]:
    """(type, name) → ignore_changes of every resource of a run that has some."""
    return {(r.type, r.name): list(r.ignore_changes) for r in run.resources if r.ignore_changes}


Preview = Callable[[str, Callable[[EngineEvent], None]], None]


def engine_preview(stack: str, on_event: Callable[[EngineEvent], None]) -> None:
    """`pulumi preview --refresh --expect-no-changes` through the Automation API."""
    selected = engine.select_stack(stack)
    selected.preview(refresh=True, expect_no_changes=True, diff=False, color="never", on_event=on_event)


#: (stack, the program's desired objects by URN) → what the cluster shows.
Scan = Callable[[str, out_of_band.Desired], out_of_band.OutOfBand]


def engine_out_of_band(stack: str, desired: out_of_band.Desired) -> out_of_band.OutOfBand:
    """Objects created outside Pulumi, and every managed object compared with the program's, from the cluster."""
    # One CLI call for the state and the outputs (`stack output` would be two more: masked, then plain).
    deployment = engine.select_stack(stack).export_stack().deployment or {}
    kubeconfig = stack_output(deployment, "kubeconfig")
    if kubeconfig is None:
        return out_of_band.OutOfBand([], [])
    return out_of_band.scan(deployment.get("resources", []), out_of_band.kubernetes_getter(str(kubeconfig)), desired)


def stack_output(deployment: Mapping[str, Any], name: str) -> Any:
    """One output of the stack, from its exported state (`stack export --show-secrets`: a secret holds its
    value JSON-encoded under ``plaintext``); None when the stack has no such output."""
    for resource in deployment.get("resources", []):
        if resource.get("type") == "pulumi:pulumi:Stack":
            value = (resource.get("outputs") or {}).get(name)
            if isinstance(value, dict) and SECRET_SIG in value and "plaintext" in value:
                return json.loads(value["plaintext"])
            return value
    return None


def goal_inputs(events: Iterable[Union[EngineEvent, Mapping[str, Any]]]) -> dict[str, Optional[dict[str, Any]]]:
    """URN → the program's inputs (the plan steps' goal state): the desired object, whatever a
    refresh wrote into the state; None for a resource the program no longer declares."""
    goals: dict[str, Optional[dict[str, Any]]] = {}
    for event in _events(events):
        step = event.resource_pre_event
        if step is None or step.metadata.op == OpType.REFRESH:
            continue
        if step.metadata.op in (OpType.DELETE, OpType.DISCARD):
            goals[step.metadata.urn] = None
        elif step.metadata.new is not None:
            goals[step.metadata.urn] = dict(step.metadata.new.inputs or {})
    return goals


#: What happened outside Pulumi, from the semantic comparison's kind of difference, and the diff
#: the program would make (the vocabulary of the preview's properties).
_OBJECT_CHANGES = {"changed": ("changed", "update"), "added": ("created", "delete"), "removed": ("deleted", "add")}


def _property(d: object_diff.Difference, pending: bool) -> PropertyDrift:
    change, diff = _OBJECT_CHANGES[d.change]
    # a program change is applied by `pulumi up` (server-side apply drops what the stack no
    # longer declares), so nothing of it is for the removal remedy
    return PropertyDrift(d.path, "pending" if pending else change, diff, expected=shown(d.declared), actual=shown(d.live),
                         removable=d.removable and not pending)


def merge_object_changes(report: StackDrift, changed: Iterable[out_of_band.ChangedObject]) -> None:
    """Add the cluster's semantic differences to the report: to the preview's row of the same
    resource (paths it already names are only marked removable), or as a new ``changed`` row."""
    rows = {r.urn: r for r in report.resources}
    for obj in changed:
        row = rows.get(obj.urn)
        if row is None:
            row = ResourceDrift("pending" if obj.pending >= {d.path for d in obj.changes} else "changed", obj.type, _name(obj.urn), obj.urn, op="none")
            report.resources.append(row)
            rows[obj.urn] = row
        known = {tuple(path_tokens(p.path)): p for p in row.properties}
        for d in obj.changes:
            pending = d.path in obj.pending
            same = known.get(tuple(path_tokens(d.path)))
            if same is None:
                row.properties.append(_property(d, pending))
            else:
                same.removable = d.removable and not pending
                if same.change == "pending" and not pending:
                    same.change = _OBJECT_CHANGES[d.change][0]
        if row.kind == "pending" and any(p.change != "pending" for p in row.properties):
            row.kind = "changed"


def remedy(stack: str, row: ResourceDrift) -> str:
    """The exact command that restores the declared state of one drifted row."""
    if row.kind == "created":
        namespace, _, name = row.name.rpartition("/")
        kind = row.type.rsplit(":", 1)[-1].lower()
        return f"review it, then: kubectl delete {kind} {name}" + (f" -n {namespace}" if namespace else "")
    if row.kind == "pending":
        return f"pulumi up --stack {stack}"
    steps = []
    if any(p.removable for p in row.properties):
        # The provider's diff prunes the live object to the declared shape, so what was added
        # outside Pulumi never reaches a plan: the drift command removes exactly that.
        steps.append(f"python -m hardened_doks.tools.drift --stack {stack} --remove-added '{row.urn}'")
    if row.conflict:
        # A kind applied without pulumi.com/patchForce (components/kube.py FORCE_CONFLICTS): the
        # provider's documented switch forces this one update, for this one resource.
        steps.append(f"PULUMI_K8S_ENABLE_PATCH_FORCE=true pulumi up --refresh --stack {stack} --target '{row.urn}'")
    elif row.kind == "deleted" or row.op != "none" or any(not p.removable for p in row.properties):
        # Every kind the stack owns is applied with pulumi.com/patchForce (components/kube.py):
        # `up` takes back the declared value of a field another field manager took over.
        steps.append(f"pulumi up --refresh --stack {stack}")
    return " && ".join(steps)


def add_out_of_band(report: StackDrift, stack: str, scan: Callable[[str], out_of_band.OutOfBand]) -> StackDrift:
    """Add what a preview cannot see (tools/out_of_band.py) to the report, with the policy-pack
    violations the drift causes."""
    try:
        found = scan(stack)
    except Exception as exc:  # any failure is reported, not raised: the cluster unreachable, credentials refused…
        report.errors.append(f"checking the cluster for changes outside Pulumi failed: {type(exc).__name__}: {one_line(str(exc))}")
        report.status = "error"
        return report
    merge_object_changes(report, found.changed)
    for obj in found.created:
        report.resources.append(ResourceDrift("created", obj.type, obj.key.display, urn="", op="none"))
    for row in report.resources:
        row.remedy = remedy(stack, row)
    attach_policies(report, drift_violations(found))
    order = {"deleted": 0, "changed": 1, "pending": 2, "created": 3}
    report.resources.sort(key=lambda r: order[r.kind])  # stable: the preview's order within a kind
    if report.resources and report.status == "clean":
        report.status = "drift"
    return report


def _recorded(obj: out_of_band.KubeObject) -> RecordedResource:
    content = {k: v for k, v in obj.object.items() if k != "status"}
    metadata = {k: v for k, v in (content.get("metadata") or {}).items() if k != "managedFields"}
    return RecordedResource(
        obj.type, _name(obj.urn) if obj.urn else obj.key.display, obj.urn or f"live::{obj.key.kind}::{obj.key.display}",
        custom=True, parent="", provider="", protect=False, delete_before_replace=False, ignore_changes=[],
        inputs={**content, "metadata": metadata},
    )


def drift_violations(found: out_of_band.OutOfBand) -> list[policy_check.Violation]:
    """The mandatory policy-pack violations of the live objects that the declared ones do not have:
    the policies the drift breaks (the pack run offline, as `python -m hardened_doks.tools.policy_check` does)."""
    if not found.live:
        return []

    def violations(objects: list[out_of_band.KubeObject]) -> list[policy_check.Violation]:
        run = ProgramRun("live", [_recorded(o) for o in objects], {}, set())
        return policy_check.blocking(policy_check.check(run))

    before = {(v.policy, v.type, v.name, v.message) for v in violations(found.declared)}
    return [v for v in violations(found.live) if (v.policy, v.type, v.name, v.message) not in before]


def attach_policies(report: StackDrift, violations: Iterable[policy_check.Violation]) -> None:
    """Each violation beside the row of the resource it names; the others on the stack."""
    rows = {(r.type, r.name): r for r in report.resources}
    for v in violations:
        text = f"{v.policy}: {v.message}"
        row = rows.get((v.type, v.name))
        (row.policies if row is not None else report.policies).append(text)


def remove_added(stack: str, urn: str) -> int:
    """``--remove-added``: one JSON patch removing what was added outside Pulumi to one object
    (tools/out_of_band.py ``remove_added``), measured against the program's object (a preview's
    goal inputs, never a refreshed state's). Exit 0 when done (or nothing to remove), 2 on error."""
    try:
        selected = engine.select_stack(stack)
        kubeconfig = selected.outputs().get("kubeconfig")
        if kubeconfig is None:
            raise engine.EngineError(f"stack {stack!r} has no kubeconfig output")
        resources = selected.export_stack().deployment.get("resources", [])
        resource = out_of_band.state_resource(resources, urn)
        events: list[EngineEvent] = []
        selected.preview(target=[urn], diff=False, color="never", on_event=events.append)
        desired = goal_inputs(events)
        if desired.get(urn) is None:
            raise engine.EngineError(f"{_name(urn)} is not in the program: `pulumi up --stack {stack}` deletes it")
        config = str(kubeconfig.value)
        removed = out_of_band.remove_added(
            resource, out_of_band.kubernetes_getter(config), out_of_band.kubernetes_patcher(config), {urn: desired[urn]}
        )
    except (engine.EngineError, KeyError) as exc:
        print(f"drift {stack}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except CommandError as exc:
        print(f"drift {stack}: the preview failed: {engine.last_error_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # any failure is reported, not raised: the cluster unreachable, the patch's test failed (changed meanwhile)…
        print(f"drift {stack}: removing failed: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    name = _name(urn)
    if not removed:
        print(f"{stack}: {name}: nothing added outside Pulumi to remove")
    for d in removed:
        print(f"{stack}: {name}: removed {d.path} ({brief(shown(d.live))})")
    return EXIT_CLEAN


def check_stack(stack: str, preview: Preview = engine_preview, scan: Optional[Scan] = None) -> StackDrift:
    report, goals = _preview_stack(stack, preview)
    if report.status == "error":
        return report
    return add_out_of_band(report, stack, lambda name: (scan or engine_out_of_band)(name, goals))


def _preview_stack(stack: str, preview: Preview) -> tuple[StackDrift, out_of_band.Desired]:
    """The classified preview, and the program's desired objects (goal inputs) by URN."""
    events: list[EngineEvent] = []
    try:
        engine.check_stack_name(stack)
        # The engine's preview (the CLI's processes) and the offline run of the program that reads the
        # ignore_changes are independent: side by side, the drift command costs little more than the
        # preview (issue 18; docs/performance.md).
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            previewing = pool.submit(preview, stack, events.append)
            ignored = ignore_changes_of(stack)
            previewing.result()
    except engine.EngineError as exc:
        return StackDrift(stack, status="error", errors=[str(exc)]), {}
    except CommandError as exc:
        report = classify(stack, events, ignored)
        explained = NO_CHANGES_EXPECTED in str(exc) or any(r.conflict for r in report.resources)
        if explained and not report.errors:
            if not report.resources:  # the engine saw changes the events did not explain
                report.errors.append(f"the preview proposed changes that could not be classified: {engine.last_error_line(exc)}")
                report.status = "error"
            return report, goal_inputs(events)
        if not report.errors:  # the engine's own error diagnostics say it best; else the CLI's last error
            report.errors.append(f"engine failure: {engine.last_error_line(exc)}")
        report.status = "error"
        return report, {}
    except Exception as exc:  # any failure is reported, not raised: the program under mocks, the CLI's version check…
        return StackDrift(stack, status="error", errors=[f"{type(exc).__name__}: {exc}"]), {}
    return classify(stack, events, ignored), goal_inputs(events)


# -- output --------------------------------------------------------------------------


_PROPERTY_WORDS = {
    "changed": "changed outside Pulumi",
    "created": "added outside Pulumi",
    "deleted": "removed outside Pulumi",
    "pending": "program change not applied",
}


def _property_text(prop: PropertyDrift) -> str:
    values = {
        "add": f"program {brief(prop.expected)}, cloud: absent",
        "delete": f"program: absent, cloud {brief(prop.actual)}",
        "update": f"program {brief(prop.expected)}, cloud {brief(prop.actual)}",
    }[prop.diff]
    return f"{prop.path} ({_PROPERTY_WORDS[prop.change]}{', forces replacement' if prop.replace else ''}): {values}"


def human(reports: list[StackDrift]) -> str:
    lines: list[str] = []
    for report in reports:
        lines.append(f"{report.stack}: {report.status}" + (f" ({len(report.resources)} resources)" if report.resources else ""))
        if report.resources:
            rows = [("KIND", "TYPE", "NAME", "PROPERTIES")]
            for r in report.resources:
                props = [_property_text(p) for p in r.properties] or ["-" if r.kind != "pending" else f"(would {r.op})"]
                rows.append((r.kind, r.type, r.name, props[0]))
                rows += [("", "", "", p) for p in props[1:]]
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            lines += ["  " + "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() for row in rows]
            for r in report.resources:
                if r.conflict:
                    lines.append(f"  field taken over in {r.name}: {r.conflict}")
                lines += [f"  policy violated by {r.name}: {text}" for text in r.policies]
        lines += [f"  policy violated: {text}" for text in report.policies]
        remedies: dict[str, list[str]] = {}  # one line per command, naming every row it restores
        for r in report.resources:
            if r.remedy:
                remedies.setdefault(r.remedy, []).append(r.name)
        lines += [f"  remedy for {', '.join(names)}: {command}" for command, names in remedies.items()]
        for ignored in report.ignored:
            lines.append(f"  ignored (DOKS-managed, in ignore_changes): {ignored['type']} {ignored['name']}: {', '.join(ignored['properties'])}")
        for error in report.errors:
            lines.append(f"  error: {one_line(error)}")
    return "\n".join(lines)


def as_json(reports: list[StackDrift]) -> dict[str, Any]:
    """The shared envelope (tools/cli.py): each stack's report, and as findings every drifted
    resource, stack-wide policy violation and error, each with its stack."""
    findings: list[dict[str, Any]] = []
    for report in reports:
        findings += [{"stack": report.stack, "finding": "drift", **asdict(r)} for r in report.resources]
        findings += [{"stack": report.stack, "finding": "policy", "message": p} for p in report.policies]
        findings += [{"stack": report.stack, "finding": "error", "message": e} for e in report.errors]
    stacks = [stack_entry(r.stack, r.status, r.exit_code, **{k: v for k, v in asdict(r).items() if k not in ("stack", "status")}) for r in reports]
    return envelope("drift", {EXIT_CLEAN: "clean", EXIT_DRIFT: "drift", EXIT_ERROR: "error"}, stacks, findings)


def slack_webhook(stack: str) -> Optional[str]:
    """The webhook: SLACK_WEBHOOK_URL (CI secret store), else the stack's secret config."""
    if os.environ.get(SLACK_WEBHOOK_ENV):
        return os.environ[SLACK_WEBHOOK_ENV]
    try:
        selected = engine.select_stack(stack, check=False)
        for key in SLACK_WEBHOOK_CONFIGS:
            value = engine.config_value(selected, key)
            if value is None:
                continue
            if not value.secret:
                print(f"drift: {key} is not a secret; set it with `pulumi config set --secret`", file=sys.stderr)
                return None
            return str(value.value)
    except engine.EngineError:
        return None
    return None


def slack_message(report: StackDrift) -> str:
    head = f"hardened-doks drift check, stack *{report.stack}*: {report.status}"
    lines = [head]
    for r in report.resources[:15]:
        props = ", ".join(p.path for p in r.properties)
        broken = ", ".join(sorted({text.split(":", 1)[0] for text in r.policies}))
        lines.append(f"• {r.kind}: {r.type} `{r.name}`" + (f" ({props})" if props else "") + (f"; violates {broken}" if broken else ""))
    if len(report.resources) > 15:
        lines.append(f"… and {len(report.resources) - 15} more")
    lines += [f"• error: {one_line(e)}" for e in report.errors[:5]]
    return "\n".join(lines)


def notify(report: StackDrift) -> None:
    """Post a drift or error summary to Slack (names and property paths only, never values)."""
    if report.status == "clean":
        return
    url = slack_webhook(report.stack)
    if not url:
        print(f"drift: no Slack webhook ({SLACK_WEBHOOK_ENV} or secret {SLACK_WEBHOOK_CONFIG}); not posting", file=sys.stderr)
        return
    try:
        response = requests.post(url, json={"text": slack_message(report)}, timeout=15)
        response.raise_for_status()
    except requests.RequestException as exc:
        print(f"drift: posting to Slack failed: {exc.__class__.__name__}", file=sys.stderr)


def main(argv: Optional[list[str]] = None, preview: Preview = engine_preview, scan: Optional[Scan] = None) -> int:
    parser = stack_parser("drift", __doc__.splitlines()[0])
    parser.add_argument("--slack", action="store_true", help="post a summary to Slack on drift or error")
    parser.add_argument(
        "--remove-added", metavar="URN",
        help="the remedy the report names: remove from this managed object what was added outside Pulumi (with --stack)",
    )
    args = parser.parse_args(argv)
    if args.remove_added:
        if not args.stack:
            parser.error("--remove-added needs --stack")
        return remove_added(args.stack, args.remove_added)
    reports = [check_stack(stack, preview, scan) for stack in selected_stacks(args)]
    if args.slack:
        for report in reports:
            notify(report)
    return emit(args, as_json(reports), lambda: human(reports))


if __name__ == "__main__":
    sys.exit(main())
