"""Drift detection: what changed in the cloud outside Pulumi, per stack.

    python -m tools.drift --stack dev [--json] [--slack]
    python -m tools.drift --all [--json] [--slack]

For each stack, the Automation API runs ``pulumi preview --refresh --expect-no-changes`` on
this project (LocalWorkspace) and the engine's events are classified:

- the **refresh** steps say what the cloud looks like now compared with the state of the last
  deployment: unchanged, changed (with a property diff), or gone;
- the **plan** steps that follow say what the program would do about it. Only resources the
  plan would touch are drift, so fields in ``ignore_changes`` (``version`` under auto-upgrade,
  node counts under autoscaling: DOKS changes them itself) are never reported.

Each drifted resource is one of: ``changed`` (modified outside Pulumi), ``deleted`` (deleted
outside Pulumi; the program would recreate it), ``pending`` (the cloud matches the last
deployment but the program differs from it: an unapplied code or config change), or
``created``: an object that grants access or opens a network path (a RoleBinding in a managed
namespace, a binding to cluster-admin…) created outside Pulumi. That, and access-granting fields
of managed objects taken over by another client (which server-side apply hides from the plan),
a preview cannot see: tools/out_of_band.py checks the cluster for them, and the report gives
the remedy when `pulumi up` alone does not restore the declared state. For a changed
resource every differing property is named with what happened to it outside Pulumi:
``changed``, ``created`` (added outside Pulumi, e.g. an extra firewall rule: the program would
remove it) or ``deleted`` (removed outside Pulumi: the program would add it back).

Exit 0 when every stack is clean, 1 when one drifted, 2 when one could not be checked (unknown
stack, no pulumi CLI, missing credentials, engine failure). ``--slack`` posts a summary on drift
or error to the webhook in SLACK_WEBHOOK_URL or the stack's secret config ``hardened-doks:slack_webhook_url``
(the one webhook the scanners' alerts use too; ``drift:slack_webhook_url`` is still read after it).
"""

from __future__ import annotations

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

from tools import engine, out_of_band
from tools.cli import selected_stacks, stack_parser
from tools.offline import ProgramRun, read_stack_file, run_program

EXIT_CLEAN, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
SLACK_WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
#: The stack's one Slack webhook (components/config.py ``slack_webhook_url``: scanner findings,
#: Falco events and drift), then the key this command read before it existed.
SLACK_WEBHOOK_CONFIGS: tuple[str, ...] = ("hardened-doks:slack_webhook_url", "drift:slack_webhook_url")
SLACK_WEBHOOK_CONFIG = SLACK_WEBHOOK_CONFIGS[0]
NO_CHANGES_EXPECTED = "no changes were expected"

#: The wire marker of a secret value in engine events (values are never printed).
_SECRET_SIG = "4dabf18193072939515e22adb298388d"
#: Plan ops that are not changes.
_NO_CHANGE = {OpType.SAME, OpType.READ, OpType.REFRESH, OpType.DISCARD, OpType.DISCARD_REPLACED}
_REPLACE_OPS = {OpType.REPLACE, OpType.CREATE_REPLACEMENT, OpType.DELETE_REPLACED}
#: What happened outside Pulumi, from the plan's diff kind (the program is the source of truth:
#: "add" = it would add the property back, so it was deleted outside Pulumi).
_OUTSIDE = {"add": "deleted", "delete": "created", "update": "changed"}


@dataclass
class PropertyDrift:
    path: str
    change: str  # what happened outside Pulumi: changed | created | deleted; pending: a program change
    diff: str  # the engine's diff kind for the program: add | delete | update
    replace: bool = False
    expected: Any = None  # the program's value (None when absent)
    actual: Any = None  # the cloud's value (None when absent)


@dataclass
class ResourceDrift:
    kind: str  # changed | deleted | pending | created (an object the stack does not manage)
    type: str
    name: str
    urn: str
    op: str
    properties: list[PropertyDrift] = field(default_factory=list)
    remedy: str = ""  # when `pulumi up` alone does not restore it


@dataclass
class StackDrift:
    stack: str
    status: str = "clean"  # clean | drift | error
    resources: list[ResourceDrift] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

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
    for token in path_tokens(path):
        if isinstance(token, int) and isinstance(value, list) and token < len(value):
            value = value[token]
        elif isinstance(token, str) and isinstance(value, dict) and token in value:
            value = value[token]
        else:
            return None
    return value


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
    if isinstance(value, dict) and _SECRET_SIG in value:
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
    for event in _events(events):
        if event.diagnostic_event and event.diagnostic_event.severity == "error":
            report.errors.append(event.diagnostic_event.message.strip())
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
            report.resources.append(drift)
    for urn, refresh in refreshed.items():
        _note_ignored(urn, refresh, ignore_changes.get((refresh.type, _name(urn)), []), report)
    report.resources.sort(key=lambda r: ({"deleted": 0, "changed": 1, "pending": 2}[r.kind], r.type, r.name))
    report.status = "error" if report.errors else "drift" if report.resources else "clean"
    return report


def diff_values(old: Any, new: Any, path: str = "") -> dict[str, str]:
    """Property paths where ``new`` (the program) differs from ``old`` (the cloud), with the kind of
    change the program would make (add, delete, update), in the engine's path syntax."""
    if isinstance(old, dict) and isinstance(new, dict) and _SECRET_SIG not in old and _SECRET_SIG not in new:
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


Scan = Callable[[str], out_of_band.OutOfBand]


def engine_out_of_band(stack: str) -> out_of_band.OutOfBand:
    """Objects created outside Pulumi and fields taken over by other clients, from the cluster."""
    selected = engine.select_stack(stack)
    kubeconfig = selected.outputs().get("kubeconfig")
    if kubeconfig is None:
        return out_of_band.OutOfBand([], [])
    resources = selected.export_stack().deployment.get("resources", [])
    return out_of_band.scan(resources, out_of_band.kubernetes_getter(str(kubeconfig.value)))


def add_out_of_band(report: StackDrift, stack: str, scan: Scan) -> StackDrift:
    """Add what a preview cannot see (tools/out_of_band.py) to the report."""
    try:
        found = scan(stack)
    except Exception as exc:  # noqa: BLE001 - the cluster unreachable, credentials refused…
        report.errors.append(f"checking the cluster for changes outside Pulumi failed: {type(exc).__name__}: {one_line(str(exc))}")
        report.status = "error"
        return report
    seen = {r.urn for r in report.resources}
    for obj in found.changed:
        if obj.urn in seen:
            continue  # the preview already reports it
        properties = [PropertyDrift(c.path, "changed", "update", expected=shown(c.declared), actual=shown(c.live)) for c in obj.changes]
        report.resources.append(
            ResourceDrift("changed", obj.type, _name(obj.urn), obj.urn, op="none", properties=properties,
                          remedy=f"pulumi up --stack {stack} --replace '{obj.urn}'")
        )
    for key in found.created:
        where = f" -n {key.namespace}" if key.namespace else ""
        report.resources.append(
            ResourceDrift("created", f"kubernetes:{key.kind}", key.display, urn="", op="none",
                          remedy=f"review it, then: kubectl delete {key.kind.lower()} {key.name}{where}")
        )
    if report.resources and report.status == "clean":
        report.status = "drift"
    return report


#: How to restore what the preview found: a refresh first, so the state knows what changed.
_REMEDIES = {"changed": "pulumi up --refresh --stack {stack}", "deleted": "pulumi up --refresh --stack {stack}", "pending": "pulumi up --stack {stack}"}


def check_stack(stack: str, preview: Preview = engine_preview, scan: Optional[Scan] = None) -> StackDrift:
    report = _preview_stack(stack, preview)
    if report.status == "error":
        return report
    for resource in report.resources:
        resource.remedy = _REMEDIES[resource.kind].format(stack=stack)
    return add_out_of_band(report, stack, scan or engine_out_of_band)


def _preview_stack(stack: str, preview: Preview) -> StackDrift:
    events: list[EngineEvent] = []
    try:
        engine.check_stack_name(stack)
        ignored = ignore_changes_of(stack)
        preview(stack, events.append)
    except engine.EngineError as exc:
        return StackDrift(stack, status="error", errors=[str(exc)])
    except CommandError as exc:
        report = classify(stack, events, ignored)
        if NO_CHANGES_EXPECTED in str(exc) and not report.errors:
            if not report.resources:  # the engine saw changes the events did not explain
                report.errors.append(f"the preview proposed changes that could not be classified: {engine.last_error_line(exc)}")
                report.status = "error"
            return report
        if not report.errors:  # the engine's own error diagnostics say it best; else the CLI's last error
            report.errors.append(f"engine failure: {engine.last_error_line(exc)}")
        report.status = "error"
        return report
    except Exception as exc:  # noqa: BLE001 - the program under mocks, the CLI's version check…
        return StackDrift(stack, status="error", errors=[f"{type(exc).__name__}: {exc}"])
    return classify(stack, events, ignored)


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
            lines += [f"  remedy for {r.name}: {r.remedy}" for r in report.resources if r.remedy]
        for ignored in report.ignored:
            lines.append(f"  ignored (DOKS-managed, in ignore_changes): {ignored['type']} {ignored['name']}: {', '.join(ignored['properties'])}")
        for error in report.errors:
            lines.append(f"  error: {one_line(error)}")
    return "\n".join(lines)


def as_json(reports: list[StackDrift]) -> dict[str, Any]:
    code = max((r.exit_code for r in reports), default=EXIT_CLEAN)
    return {
        "status": {EXIT_CLEAN: "clean", EXIT_DRIFT: "drift", EXIT_ERROR: "error"}[code],
        "exit_code": code,
        "stacks": [{**asdict(r), "exit_code": r.exit_code} for r in reports],
    }


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
        lines.append(f"• {r.kind}: {r.type} `{r.name}`" + (f" ({props})" if props else ""))
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
    args = parser.parse_args(argv)
    reports = [check_stack(stack, preview, scan) for stack in selected_stacks(args)]
    if args.slack:
        for report in reports:
            notify(report)
    print(json.dumps(as_json(reports), indent=2) if args.json else human(reports))
    return max(r.exit_code for r in reports)


if __name__ == "__main__":
    sys.exit(main())
