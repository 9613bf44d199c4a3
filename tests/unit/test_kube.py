"""How every Kubernetes object is registered (components/kube.py): conflicts forced per kind, and
Namespaces protected, on the real program's resources under mocks."""

from __future__ import annotations

from collections import Counter

from hardened_doks.kube import FORCE_CONFLICTS, PATCH_FORCE_ANNOTATION, PROTECTED_KINDS
from tests.conftest import all_addons_run
from hardened_doks.tools.offline import ProgramRun, RecordedResource


def kubernetes_objects(run: ProgramRun) -> list[RecordedResource]:
    return [r for r in run.resources if r.custom and r.type.startswith("kubernetes:") and "metadata" in r.inputs and "kind" in r.inputs]


def test_every_kind_the_stack_creates_has_a_deliberate_force_decision(stack_run: ProgramRun) -> None:
    """A new kind must be added to FORCE_CONFLICTS (with why) or be left out on purpose: this
    test lists the kinds the program creates, so forgetting shows up here."""
    kinds = Counter(r.inputs["kind"] for r in kubernetes_objects(stack_run) + kubernetes_objects(all_addons_run()))
    assert kinds and set(kinds) <= set(FORCE_CONFLICTS), sorted(set(kinds) - set(FORCE_CONFLICTS))
    assert all(reason.strip() for reason in FORCE_CONFLICTS.values())


def test_objects_of_forced_kinds_take_their_fields_back(stack_run: ProgramRun) -> None:
    """Without the annotation `pulumi up` fails with a server-side-apply conflict on a field
    another client took over (a Pod Security label, automount): drift could never be healed."""
    for resource in kubernetes_objects(stack_run) + kubernetes_objects(all_addons_run()):
        annotations = resource.inputs["metadata"].get("annotations") or {}
        forced = annotations.get(PATCH_FORCE_ANNOTATION) == "true"
        assert forced is (resource.inputs["kind"] in FORCE_CONFLICTS), resource.name


def test_only_namespaces_are_protected(stack_run: ProgramRun) -> None:
    """Deleting a namespace deletes everything in it: no replacement, remedy or config mistake may."""
    objects = kubernetes_objects(stack_run)
    namespaces = [r for r in objects if r.type == "kubernetes:core/v1:Namespace"]
    assert namespaces and all(r.protect for r in namespaces)
    assert [r.name for r in objects if r.protect and r.inputs["kind"] not in PROTECTED_KINDS] == []
    # the default ServiceAccount is patched, not owned: deleting the patch only drops the stack's fields
    assert not any(r.protect for r in objects if r.type.endswith("Patch"))
