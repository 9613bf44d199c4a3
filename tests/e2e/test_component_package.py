"""HardenedCluster used from programs outside this project, with the real engine (issue 16).

- A Pulumi YAML program `pulumi package add`s this project's provider folder (provider/) and deploys
  HardenedCluster in existing-cluster mode through the component provider (Construct);
- a Python program does the same through the SDK `pulumi package add` generates (pulumi_hardened_doks);
- the Python example (examples/python-existing-cluster) uses the library directly.

Each runs against a control plane of its own (this module's: the session's one holds the e2e stack, whose
cluster-wide objects a second HardenedCluster would collide with): `up`, a clean second `preview`, the hardening
checked live (Pod Security labels on the tenant namespace, its default-deny NetworkPolicy, one RBAC decision
allowed and one denied by SubjectAccessReview), then `destroy`, after which none of it is left.

For time (2 cores), both programs set skip_await (nothing waits for pods; no nodes are registered) and turn
the Kubescape and Trivy scanners off; Kyverno (always on: the admission layer) is installed from the local chart.
The provider's virtualenv is made by the Python language host, which pip-installs provider/requirements.txt (a
scratch copy of this repository) into it, pinned by constraints.txt: this module needs PyPI (or pip's cache). The
example's virtualenv is this test run's own (it has this checkout installed), as `make setup` links one.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardened_doks.addons.kyverno import KYVERNO_NAMESPACE
from hardened_doks.namespaces import DEFAULT_DENY
from tests.e2e.conftest import Project, _script_output, copy_project, doks_like_control_plane
from tests.e2e.controlplane import LocalControlPlane
from tests.e2e.test_rbac import can
from tests.e2e.test_component_hosts import consumer, consumer_env
from hardened_doks.tools.offline import PROJECT_DIR

TENANT = "payments"
DEVELOPERS = "payments-developers"
CLUSTER_NAME = "consumer-e2e"


@pytest.fixture(scope="module")
def plane(toolchain_bin: Path) -> Iterator[LocalControlPlane]:
    with doks_like_control_plane(toolchain_bin) as plane:
        yield plane


@pytest.fixture(scope="module")
def package_env(tmp_path_factory: pytest.TempPathFactory, toolchain_bin: Path, plane: LocalControlPlane) -> dict[str, str]:
    env = consumer_env(tmp_path_factory.mktemp("component-package"), toolchain_bin, plane)
    # The provider's virtualenv gets this project's pinned versions of every dependency (pip reads PIP_CONSTRAINT).
    env["PIP_CONSTRAINT"] = str(PROJECT_DIR / "constraints.txt")
    # The components import pulumi_digitalocean, so the engine asks for its plugin; no registry serves it here,
    # and existing-cluster mode never starts it: an empty installed-plugin folder stands in.
    (Path(env["PULUMI_HOME"]) / "plugins" / "resource-digitalocean-v4.84.1").mkdir(parents=True)
    return env


@pytest.fixture(scope="module")
def kyverno_chart() -> str:
    return _script_output("kyverno-chart.sh")


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """provider/ in a scratch copy of the repository (its requirements.txt, `..`, is that copy): the Python
    language host makes its virtualenv and pip-installs the copy into it at the first `pulumi package add`."""
    root = copy_project(tmp_path_factory.mktemp("package-source") / "hardened-doks")
    for entry in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_DIR / entry, root / entry)
    shutil.copytree(PROJECT_DIR / "provider", root / "provider", ignore=shutil.ignore_patterns("__pycache__", "venv"))
    return root / "provider"


def linked_copy(source: Path, target: Path) -> Path:
    """A copy of a program folder whose virtualenv is this test run's (it has this checkout installed)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "venv"))
    (target / "venv").symlink_to(sys.prefix, target_is_directory=True)
    return target


def test_requirements_name_the_repository() -> None:
    for folder in (PROJECT_DIR / "provider", PROJECT_DIR / "examples" / "python-existing-cluster"):
        lines = [line for line in (folder / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
        assert len(lines) == 1 and (folder / lines[0]).resolve() == PROJECT_DIR, folder


def hardened_live(plane: LocalControlPlane, environment: str = "dev") -> None:
    """The in-cluster hardening of the deployed stack, as the API server sees it."""
    namespace = plane.get(f"/api/v1/namespaces/{TENANT}")
    assert namespace.status_code == 200, namespace.text[:300]
    labels = namespace.json()["metadata"]["labels"]
    # The dev profile: baseline enforced, restricted warned and audited.
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "restricted"
    deny = plane.get(f"/apis/networking.k8s.io/v1/namespaces/{TENANT}/networkpolicies/{DEFAULT_DENY}")
    assert deny.status_code == 200, deny.text[:300]
    assert deny.json()["spec"]["podSelector"] == {} and sorted(deny.json()["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert can(plane, ("Group", DEVELOPERS), TENANT, "create", "apps", "deployments"), "developers deploy workloads in their namespace"
    assert not can(plane, ("Group", DEVELOPERS), TENANT, "get", "", "secrets"), "developers read no Secrets"


def deployed_and_destroyed(program: Project, plane: LocalControlPlane) -> dict[str, Any]:
    """`up`, the live checks, a clean second preview; then destroy (namespaces are protected: unprotected first),
    checking nothing is left. The stack outputs."""
    try:
        program.run("pulumi", "up", "--yes", "--skip-preview", "--non-interactive", "--suppress-progress")
        outputs = json.loads(program.run("pulumi", "stack", "output", "--json", "--show-secrets").stdout)
        hardened_live(plane)
        program.run("pulumi", "preview", "--expect-no-changes", "--non-interactive")
        state = program.run("pulumi", "stack", "export").stdout
        assert "client-key-data" not in state and "BEGIN" not in state, "the kubeconfig is plain in the state"
    finally:
        program.run("pulumi", "state", "unprotect", "--all", "--yes", check=False)
        program.run("pulumi", "destroy", "--yes", "--skip-preview", "--non-interactive", "--suppress-progress", check=False)
    # Left as found: the namespaces (the tenant's, Kyverno's) are gone once the namespace controller finalized them.
    for namespace in (TENANT, KYVERNO_NAMESPACE):
        plane.wait_for(lambda namespace=namespace: plane.get(f"/api/v1/namespaces/{namespace}").status_code == 404, f"namespace {namespace} deleted by destroy")
    return outputs


def yaml_consumer(
    env: dict[str, str], plane: LocalControlPlane, provider: Path, folder: Path, properties: dict[str, Any], outputs: dict[str, str],
    name: str = "yaml-hardened-cluster",
) -> Project:
    """A YAML program with one HardenedCluster (the kubeconfig a secret config value), the package added to it."""
    program_yaml = {
        "name": name,  # one project per test: the module's state backend is shared
        "runtime": "yaml",
        "config": {"kubeconfig": {"type": "string", "secret": True}},
        "resources": {
            "cluster": {
                "type": "hardened-doks:HardenedCluster",
                "properties": {"existingClusterKubeconfig": "${kubeconfig}", "existingClusterName": CLUSTER_NAME, **properties},
            }
        },
        "outputs": outputs,
    }
    files = {"Pulumi.yaml": yaml.safe_dump(program_yaml)}
    program = consumer(folder / "yaml-consumer", env, files, {"kubeconfig": plane.kubeconfig_path.read_text()})
    program.run("pulumi", "package", "add", str(provider))
    assert yaml.safe_load((program.workdir / "Pulumi.yaml").read_text())["packages"] == {"hardened-doks": str(provider)}
    return program


def test_a_yaml_program_adds_the_package_and_deploys_hardened_cluster(
    package_env: dict[str, str], plane: LocalControlPlane, provider: Path, kyverno_chart: str, tmp_path: Path
) -> None:
    properties = {
        "environment": "dev",
        "teams": [{"name": TENANT, "namespaces": [TENANT], "developers": {"groups": [DEVELOPERS]}}],
        "admission": {"allowedRegistries": ["ghcr.io/e2e"], "chartPath": kyverno_chart},
        "scanners": {"kubescape": {"enabled": False}, "trivy": {"enabled": False}},
        "skipAwait": True,
    }
    outputs = {"clusterName": "${cluster.clusterName}", "kubeconfig": "${cluster.kubeconfig}"}
    program = yaml_consumer(package_env, plane, provider, tmp_path, properties, outputs)
    deployed = deployed_and_destroyed(program, plane)
    assert deployed["clusterName"] == CLUSTER_NAME
    assert deployed["kubeconfig"] == plane.kubeconfig_path.read_text().strip()  # `config set` from stdin drops the newline


def test_a_bad_setting_from_yaml_is_refused_naming_the_key_and_nothing_is_created(
    package_env: dict[str, str], plane: LocalControlPlane, provider: Path, tmp_path: Path
) -> None:
    # Below prod's floor (Pod Security restricted): refused as in a stack file.
    properties = {"environment": "prod", "apiAllowlist": ["10.0.0.0/16"], "podSecurity": {"enforce": "baseline"}}
    program = yaml_consumer(package_env, plane, provider, tmp_path, properties, {}, name="yaml-bad-setting")
    failed = program.run("pulumi", "up", "--yes", "--skip-preview", "--non-interactive", check=False)
    assert failed.returncode != 0
    assert "hardened-doks:pod_security.enforce: must stay restricted in the prod profile" in failed.stdout + failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr and 'File "' not in failed.stdout + failed.stderr
    resources = json.loads(program.run("pulumi", "stack", "export").stdout)["deployment"].get("resources") or []
    assert not [r for r in resources if r["type"].startswith("kubernetes:")], "a resource was created despite the refusal"


#: A Python program using the SDK that `pulumi package add` generates from the provider's schema (the
#: component runs in the provider's process, as for any other language), settings in the schema's names.
PYTHON_SDK_PROGRAM = """
import json
import os

import pulumi
import pulumi_hardened_doks as hardened_doks

cluster = hardened_doks.HardenedCluster(
    "cluster",
    existing_cluster_kubeconfig=pulumi.Config().require_secret("kubeconfig"),
    existing_cluster_name=os.environ["CONSUMER_CLUSTER_NAME"],
    **json.loads(os.environ["CONSUMER_SETTINGS"]),
)
pulumi.export("clusterName", cluster.cluster_name)
pulumi.export("kubeconfig", cluster.kubeconfig)
"""


def test_a_python_program_adds_the_package_and_deploys_hardened_cluster(
    package_env: dict[str, str], plane: LocalControlPlane, provider: Path, kyverno_chart: str, tmp_path: Path
) -> None:
    settings = {
        "environment": "dev",
        "teams": [{"name": TENANT, "namespaces": [TENANT], "developers": {"groups": [DEVELOPERS]}}],
        "admission": {"allowed_registries": ["ghcr.io/e2e"], "chart_path": kyverno_chart},
        "scanners": {"kubescape": {"enabled": False}, "trivy": {"enabled": False}},
        "skip_await": True,
    }
    env = {**package_env, "CONSUMER_CLUSTER_NAME": CLUSTER_NAME, "CONSUMER_SETTINGS": json.dumps(settings)}
    files = {
        "Pulumi.yaml": yaml.safe_dump({"name": "python-hardened-cluster", "runtime": {"name": "python", "options": {"virtualenv": "venv"}}}),
        "requirements.txt": f"pulumi=={importlib.metadata.version('pulumi')}\n",
        "__main__.py": PYTHON_SDK_PROGRAM,
    }
    program = consumer(tmp_path / "python-sdk-consumer", env, files, {"kubeconfig": plane.kubeconfig_path.read_text()})
    added = program.run("pulumi", "package", "add", str(provider))
    assert "import pulumi_hardened_doks" in added.stdout  # Link's instructions
    generated = program.workdir / "sdks" / "hardened-doks" / "pulumi_hardened_doks"
    assert (generated / "hardened_cluster.py").is_file()  # GeneratePackage, from the schema the code infers
    deployed = deployed_and_destroyed(program, plane)
    assert deployed["clusterName"] == CLUSTER_NAME


def test_the_python_example_deploys_with_the_real_engine(
    package_env: dict[str, str], plane: LocalControlPlane, kyverno_chart: str, tmp_path: Path
) -> None:
    example = linked_copy(PROJECT_DIR / "examples" / "python-existing-cluster", tmp_path / "python-existing-cluster")
    program = Project(example, dict(package_env))
    program.run("pulumi", "stack", "init", "dev", "--secrets-provider", "passphrase", "--non-interactive")
    program.run("pulumi", "config", "set", "--secret", "kubeconfig", input=plane.kubeconfig_path.read_text())
    stack_file = example / "Pulumi.dev.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document.setdefault("config", {}).update(
        {
            "python-existing-cluster:clusterName": CLUSTER_NAME,
            "python-existing-cluster:settings": {
                "admission": {"allowed_registries": ["ghcr.io/my-org"], "chart_path": kyverno_chart},
                "scanners": {"kubescape": {"enabled": False}, "trivy": {"enabled": False}},
                "skip_await": True,
            },
        }
    )
    stack_file.write_text(yaml.safe_dump(document))
    outputs = deployed_and_destroyed(program, plane)
    assert outputs["clusterName"] == CLUSTER_NAME
