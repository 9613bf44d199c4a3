"""The Helm Release path with a small local chart the test writes (no chart repository is
reachable here): install, values reaching the objects, a clean second preview, an upgrade."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml

from tests.e2e.conftest import Project
from tests.e2e.controlplane import LocalControlPlane

CHART = {
    "Chart.yaml": {"apiVersion": "v2", "name": "e2e-settings", "version": "0.1.0", "appVersion": "1.0.0"},
    "values.yaml": {"greeting": "hello", "replicas": 1},
}
TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  labels:
    app.kubernetes.io/managed-by: {{ .Release.Service }}
data:
  greeting: {{ .Values.greeting | quote }}
  replicas: {{ .Values.replicas | quote }}
"""
PROGRAM = '''
import json
import pulumi
import pulumi_kubernetes as k8s

config = pulumi.Config()
provider = k8s.Provider("local", kubeconfig=config.require_secret("kubeconfig"), cluster_identifier="e2e-local")
release = k8s.helm.v3.Release(
    "settings",
    name="settings",
    chart=config.require("chart"),
    namespace="helm-e2e",
    create_namespace=True,
    values=json.loads(config.require("values")),
    opts=pulumi.ResourceOptions(provider=provider),
)
pulumi.export("status", release.status.status)
'''


@pytest.fixture(scope="module")
def chart_project(project: Project, control_plane: LocalControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("helm")
    chart = root / "chart"
    (chart / "templates").mkdir(parents=True)
    for name, content in CHART.items():
        (chart / name).write_text(yaml.safe_dump(content))
    (chart / "templates" / "configmap.yaml").write_text(TEMPLATE)
    program = root / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(yaml.safe_dump({"name": "helm-e2e", "runtime": "python"}))
    (program / "__main__.py").write_text(PROGRAM)
    helm = Project(program, dict(project.env))
    helm.run("pulumi", "stack", "init", "e2e", "--secrets-provider", "passphrase", "--non-interactive")
    helm.run("pulumi", "config", "set", "--secret", "kubeconfig", "--stack", "e2e", input=control_plane.kubeconfig_path.read_text())
    helm.run("pulumi", "config", "set", "chart", str(chart), "--stack", "e2e")
    helm.run("pulumi", "config", "set", "values", json.dumps({"greeting": "from-pulumi"}), "--stack", "e2e")
    helm.run("pulumi", "up", "--yes", "--skip-preview", "--stack", "e2e", "--non-interactive")
    return helm


def settings(control_plane: LocalControlPlane) -> dict[str, str]:
    response = control_plane.get("/api/v1/namespaces/helm-e2e/configmaps/settings-settings")
    assert response.status_code == 200, response.text[:300]
    return response.json()["data"]


def test_release_installs_the_chart_with_the_programs_values(chart_project: Project, control_plane: LocalControlPlane, live_checks: Counter[str]) -> None:
    live_checks["helm release checks"] += 1
    assert settings(control_plane) == {"greeting": "from-pulumi", "replicas": "1"}
    status = chart_project.run("pulumi", "stack", "output", "status", "--stack", "e2e").stdout.strip()
    assert status == "deployed"


def test_release_preview_is_clean_and_upgrade_applies(chart_project: Project, control_plane: LocalControlPlane, live_checks: Counter[str]) -> None:
    chart_project.run("pulumi", "preview", "--expect-no-changes", "--stack", "e2e", "--non-interactive")
    chart_project.run("pulumi", "config", "set", "values", json.dumps({"greeting": "upgraded", "replicas": 2}), "--stack", "e2e")
    chart_project.run("pulumi", "up", "--yes", "--skip-preview", "--stack", "e2e", "--non-interactive")
    live_checks["helm release checks"] += 1
    assert settings(control_plane) == {"greeting": "upgraded", "replicas": "2"}
