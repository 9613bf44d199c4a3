"""`pulumi up` of the whole in-cluster layer, then a preview that must show no changes."""

from __future__ import annotations

from tests.e2e.conftest import Project
from tests.e2e.controlplane import LocalControlPlane


def test_up_creates_the_tenant_namespaces(project: Project, control_plane: LocalControlPlane) -> None:
    namespaces = {n["metadata"]["name"]: n for n in control_plane.get("/api/v1/namespaces").json()["items"]}
    assert "storefront" in namespaces


def test_second_preview_shows_no_changes(project: Project) -> None:
    project.pulumi("preview", "--expect-no-changes", "--diff")
