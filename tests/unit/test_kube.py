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


def _deleted_with_checked(run: ProgramRun) -> int:
    """Every namespaced object in a Namespace the program creates is deleted with it; nothing else is."""
    by_urn = {r.urn: r for r in run.resources}
    created = {r.inputs["metadata"]["name"]: r.urn for r in kubernetes_objects(run) if r.type == "kubernetes:core/v1:Namespace"}
    checked = 0
    for resource in kubernetes_objects(run):
        namespace = resource.inputs["metadata"].get("namespace")
        if namespace in created:
            # The namespace controller deletes it when the namespace goes: the engine need not, one by one.
            assert resource.deleted_with == created[namespace], resource.name
            checked += 1
        else:
            # Cluster-scoped (a ClusterRole outlives any namespace), or in a namespace Kubernetes created
            # (default, kube-public: deleting their patch deletes nothing): the engine deletes it itself.
            assert resource.deleted_with == "", resource.name
    # Helm releases are uninstalled by the engine: a chart's cluster-scoped objects (CRDs, webhooks) would stay.
    assert all(r.deleted_with == "" for r in run.resources if r.type == "kubernetes:helm.sh/v3:Release")
    assert all(by_urn[r.deleted_with].type == "kubernetes:core/v1:Namespace" for r in run.resources if r.deleted_with)
    return checked


def test_objects_in_a_namespace_the_stack_creates_are_deleted_with_it(stack_run: ProgramRun) -> None:
    """`destroy` skips the per-object deletes the namespace controller does anyway (docs/performance.md)."""
    assert _deleted_with_checked(stack_run) > 20
    assert _deleted_with_checked(all_addons_run()) > 20


def test_deleted_with_is_refused_for_a_cluster_scoped_object_or_a_patched_namespace() -> None:
    import pytest

    from hardened_doks.kube import create, namespace_deletion

    with pytest.raises(ValueError, match="ClusterRole reader: deleted_with is only for a namespaced object"):
        create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"}}, None, None, deleted_with=object())  # type: ignore[arg-type]
    # A component or a NamespacePatch deletes nothing in the namespace: no deleted_with from either.
    assert namespace_deletion(None) is None and namespace_deletion(object()) is None  # type: ignore[arg-type]
