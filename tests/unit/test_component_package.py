"""HardenedCluster as a component package (issue 16): its generated args, the schema Pulumi infers from them, and
dict args validated like a stack file, under the real Pulumi runtime with mocks."""

from __future__ import annotations

import json
import runpy
import typing
from collections.abc import Callable
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.errors import InputPropertiesError
from pulumi.provider.experimental.component import ComponentProvider
from pydantic import BaseModel

from hardened_doks import package_args
from hardened_doks.addons.notifier import WEBHOOK_SECRET
from hardened_doks.config import NAMESPACE, ConfigError, StackConfig, parse_stack_config
from hardened_doks.package_config import stack_config_from_args
from hardened_doks.stack import HardenedCluster
from hardened_doks.tools import component_args
from hardened_doks.tools.offline import PROJECT_DIR, ProgramRun, RecordingMonitor, OfflineMocks, read_stack_file, run_program
from tests.unit.kubeconfig import kubeconfig as make_kubeconfig

TOKEN = f"{NAMESPACE}:index:HardenedCluster"


def stack_file_args(stack: str) -> dict[str, Any]:
    """A shipped stack file's settings as a consumer passes them: the keys without the namespace, native values."""
    document = yaml.safe_load((PROJECT_DIR / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return {key.split(":", 1)[1]: value for key, value in document["config"].items()}


def run_component(args: Any, *, stack: str = "dev", monitor: RecordingMonitor | None = None) -> ProgramRun:
    """A consumer program of one statement, HardenedCluster(args), run under mocks."""

    def program() -> None:
        cluster = HardenedCluster(NAMESPACE, args)
        for key, value in cluster.outputs().items():
            pulumi.export(key, value)

    return run_program(stack, {}, monitor=monitor, program=program)


def registered(run: ProgramRun) -> list[tuple[str, str, str, str, str]]:
    """Every registration (sorted: independent children register in no fixed order)."""
    return sorted((r.type, r.name, r.parent, json.dumps(r.inputs, sort_keys=True), json.dumps(sorted(r.secret_paths))) for r in run.resources)


def models(model: type[BaseModel] = StackConfig, seen: dict[str, type[BaseModel]] | None = None) -> dict[str, type[BaseModel]]:
    """StackConfig and every section model it uses, by name."""
    seen = {} if seen is None else seen
    seen[model.__name__] = model
    for field in model.model_fields.values():
        for arg in [field.annotation, *typing.get_args(field.annotation)]:
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg.__name__ not in seen:
                models(arg, seen)
    return seen


# -- the generated args ---------------------------------------------------------------------------------------


def test_the_generated_args_module_is_current() -> None:
    assert component_args.MODULE.read_text() == component_args.render_module(), "run `python -m hardened_doks.tools.component_args --write`"


def test_every_setting_of_every_model_has_its_typed_dict_field_with_the_description_as_docstring() -> None:
    found = models()
    assert len(found) == 24  # StackConfig and its 23 sections
    fields = 0
    for name, model in found.items():
        typed = getattr(package_args, "HardenedClusterArgs" if model is StackConfig else f"{name}Settings")
        assert typing.is_typeddict(typed)
        assert list(typed.__annotations__) == list(model.model_fields), name
        fields += len(model.model_fields)
    assert fields >= 144
    source = component_args.MODULE.read_text()
    assert '    region: str\n    """DigitalOcean region of the VPC and cluster. Allowed:' in source
    assert "from __future__" not in source and "Literal" not in source  # the schema analyzer refuses both


# -- the schema inferred from the code ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema the component provider host serves (provider/__main__.py), inferred by Pulumi's analyzer."""
    return json.loads(ComponentProvider([HardenedCluster], NAMESPACE).schema)  # type: ignore[arg-type]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def test_the_schema_has_every_setting_as_an_input(schema: dict[str, Any]) -> None:
    resource = schema["resources"][TOKEN]
    assert resource["isComponent"] is True
    assert set(resource["inputProperties"]) == {camel(key) for key in StackConfig.model_fields}
    assert resource.get("requiredInputs", []) == []  # every setting has a default (profile, stack name)
    pools = resource["inputProperties"]["workloadPools"]
    assert pools["items"]["$ref"] == f"#/types/{NAMESPACE}:index:NodePoolSettings"
    node_pool = schema["types"][f"{NAMESPACE}:index:NodePoolSettings"]
    assert set(node_pool["required"]) == {"name", "size"}
    assert node_pool["properties"]["minNodes"]["type"] == "integer"
    assert node_pool["properties"]["minNodes"]["description"].startswith("Fewest nodes")


def test_the_schema_enums_are_the_literal_settings(schema: dict[str, Any]) -> None:
    def values(name: str) -> list[str]:
        return [member["value"] for member in schema["types"][f"{NAMESPACE}:index:{name}"]["enum"]]

    assert values("Environment") == ["dev", "staging", "prod"]
    assert values("Severity") == ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    assert values("PodSecurityLevel") == ["privileged", "baseline", "restricted"]
    assert values("AdmissionMode") == ["Audit", "Enforce"]
    inputs = schema["resources"][TOKEN]["inputProperties"]
    assert inputs["environment"]["$ref"] == f"#/types/{NAMESPACE}:index:Environment"


def test_the_credentials_are_inputs_and_every_other_setting_is_plain(schema: dict[str, Any]) -> None:
    inputs = schema["resources"][TOKEN]["inputProperties"]
    credentials = {"existingClusterKubeconfig", "slackWebhookUrl", "snykIntegrationId", "snykServiceAccountToken", "snykDockercfg"}
    assert {key for key, prop in inputs.items() if not prop.get("plain")} == credentials


def test_the_schema_outputs_are_the_stack_outputs(schema: dict[str, Any]) -> None:
    outputs = schema["resources"][TOKEN]["properties"]
    assert set(outputs) == {
        "environment", "clusterName", "kubeconfig", "clusterId", "clusterEndpoint", "kubernetesVersion", "vpcId",
        "workerFirewallId", "registryCredentialsExpireAt",
    }  # fmt: skip
    assert set(schema["resources"][TOKEN]["required"]) == {"environment", "clusterName", "kubeconfig"}


# -- dict args, validated like a stack file ---------------------------------------------------------------------


def test_dict_args_build_what_the_stack_file_builds(run_of: Callable[[str], ProgramRun]) -> None:
    from_file = run_of("dev")
    from_dict = run_component(stack_file_args("dev"))
    assert registered(from_dict) == registered(from_file)
    assert from_dict.outputs == from_file.outputs


def test_dict_args_give_the_config_the_stack_file_gives() -> None:
    raw, secrets = read_stack_file("staging")
    run_program("staging", {}, program=lambda: None)  # a runtime for the warnings
    assert stack_config_from_args(stack_file_args("staging"), stack="staging") == parse_stack_config(raw, stack="staging", secret_keys=secrets)


def test_enum_members_and_integers_as_floats_are_accepted() -> None:
    args = stack_file_args("dev")
    # What the provider hands over: enum members, and every number as a float (Pulumi 3.260.0).
    args["environment"] = package_args.Environment.DEV
    args["system_pool"] = {"name": "system", "size": "s-4vcpu-8gb", "min_nodes": 2.0, "max_nodes": 3.0}
    args["pod_security"] = {"enforce": package_args.PodSecurityLevel.BASELINE}
    built: list[HardenedCluster] = []
    run = run_program("dev", {}, program=lambda: built.append(HardenedCluster(NAMESPACE, args)))
    pool = built[0].config.system_pool
    assert (pool.min_nodes, pool.max_nodes) == (2, 3) and type(pool.min_nodes) is int
    assert run.one("digitalocean:index/kubernetesCluster:KubernetesCluster").input("nodePool")["minNodes"] == 2
    labels = {r.input("metadata.name"): r.input("metadata.labels") for r in run.of_type("kubernetes:core/v1:Namespace")}
    assert labels["payments"]["pod-security.kubernetes.io/enforce"] == "baseline"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"node_pool_size": "s-1vcpu-1gb"}, f"{NAMESPACE}:node_pool_size: unknown setting"),
        ({"system_pool": {"name": "system", "size": "s-4vcpu-8gb", "min_nodes": 2.5}}, f"{NAMESPACE}:system_pool.min_nodes:"),
        ({"teams": [{"name": "payments", "namespaces": ["payments"], "owner": "x"}]}, f"{NAMESPACE}:teams[0].owner: unknown setting"),
        ({"environment": "qa"}, f"{NAMESPACE}:environment:"),
        # A security floor: prod's Pod Security level cannot be loosened, by a stack file or by a consumer.
        ({**stack_file_args("prod"), "pod_security": {"enforce": "baseline"}}, f"{NAMESPACE}:pod_security.enforce:"),
        ({"existing_cluster_name": pulumi.Output.from_input("legacy")}, f"{NAMESPACE}:existing_cluster_name: must be a plain value"),
    ],
)
def test_bad_args_are_refused_naming_the_key_before_anything_is_registered(change: dict[str, Any], named: str) -> None:
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError) as error:
        run_component({**stack_file_args("dev"), **change}, monitor=monitor)
    assert named in str(error.value)
    assert monitor.recorded == []


def test_a_credential_passed_plain_is_made_secret() -> None:
    kubeconfig = make_kubeconfig(token="plain-kubeconfig-from-a-consumer")
    run = run_component({"environment": "dev", "existing_cluster_kubeconfig": kubeconfig, "existing_cluster_name": "legacy"})
    provider = run.one("pulumi:providers:kubernetes")
    assert provider.input("kubeconfig") == kubeconfig and provider.is_secret("kubeconfig")
    assert "kubeconfig" in run.secret_outputs


def test_a_credential_that_arrives_as_an_output_stays_secret() -> None:
    webhook = "https://hooks.slack.com/services/T0/B0/webhook-as-an-output"
    run = run_component({**stack_file_args("dev"), "slack_webhook_url": pulumi.Output.secret(webhook)})
    secret = next(r for r in run.of_type("kubernetes:core/v1:Secret") if r.input("metadata.name") == WEBHOOK_SECRET)
    assert secret.input("stringData.url") == webhook and secret.is_secret("stringData")


def test_a_bad_credential_output_fails_in_its_output_chain_before_its_resources_naming_the_key() -> None:
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError, match=f"{NAMESPACE}:slack_webhook_url: is not an https URL"):
        run_component({**stack_file_args("dev"), "slack_webhook_url": pulumi.Output.secret("http://hooks.example/plain")}, monitor=monitor)
    assert monitor.recorded, "the settings are valid: the component starts registering"
    assert not [r for r in monitor.recorded if r.type == "kubernetes:core/v1:Secret" and r.input("metadata.name") == WEBHOOK_SECRET]
    assert "hooks.example" not in json.dumps([r.inputs for r in monitor.recorded])


# -- the provider folder --------------------------------------------------------------------------------------

PROVIDER = PROJECT_DIR / "provider"


def test_the_provider_folder_is_a_python_component_provider_of_this_package() -> None:
    plugin = yaml.safe_load((PROVIDER / "PulumiPlugin.yaml").read_text())
    assert plugin["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    entry = runpy.run_path(str(PROVIDER / "__main__.py"), run_name="not-main")
    served = entry["HardenedDoksProvider"]([HardenedCluster], NAMESPACE)
    # The package name is the type token's prefix.
    assert TOKEN.split(":")[0] == NAMESPACE and list(json.loads(served.schema)["resources"]) == [TOKEN]  # type: ignore[arg-type]
    # Its one requirement is this repository's package, resolved from the provider folder.
    requirements = [line for line in (PROVIDER / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert requirements == [".."]
    assert 'name = "hardened-doks"' in (PROVIDER / requirements[0] / "pyproject.toml").read_text()


# -- the examples, under mocks (the existing-cluster one also with the real engine: tests/e2e/test_component_package.py)

EXAMPLES = PROJECT_DIR / "examples"


def run_example(name: str, config: dict[str, str], secret: frozenset[str] = frozenset(), monitor: RecordingMonitor | None = None) -> ProgramRun:
    folder = EXAMPLES / name
    project = yaml.safe_load((folder / "Pulumi.yaml").read_text())["name"]
    assert project == name
    requirements = [line for line in (folder / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert requirements == ["../.."] and (folder / requirements[0] / "provider").is_dir()  # this repository
    keys = {f"{project}:{key}": value for key, value in config.items()}
    return run_program("dev", keys, frozenset(f"{project}:{key}" for key in secret), monitor=monitor, program=folder / "__main__.py", project=project)


def test_the_existing_cluster_example_hardens_the_given_cluster_and_creates_nothing_at_digitalocean() -> None:
    kubeconfig = make_kubeconfig(token="existing-cluster-example")
    run = run_example("python-existing-cluster", {"clusterName": "legacy", "kubeconfig": kubeconfig}, frozenset({"kubeconfig"}))
    assert not [r for r in run.resources if r.type.startswith("digitalocean:")]
    provider = run.one("pulumi:providers:kubernetes")
    assert provider.input("kubeconfig") == kubeconfig and provider.is_secret("kubeconfig")
    assert run.outputs["clusterName"] == "legacy" and "kubeconfig" in run.secret_outputs
    namespaces = {r.input("metadata.name"): r.input("metadata.labels") for r in run.of_type("kubernetes:core/v1:Namespace")}
    assert namespaces["payments"]["pod-security.kubernetes.io/enforce"] == "baseline"  # the dev profile
    policies = {(r.input("metadata.namespace"), r.input("metadata.name")) for r in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert ("payments", "default-deny") in policies


def test_the_existing_cluster_example_takes_any_setting_and_refuses_a_bad_one_naming_it() -> None:
    config = {"clusterName": "legacy", "kubeconfig": make_kubeconfig(), "settings": json.dumps({"scanners": {"trivy": {"enabled": False}}})}
    run = run_example("python-existing-cluster", config, frozenset({"kubeconfig"}))
    assert not [r for r in run.resources if "trivy" in r.name]
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(ConfigError, match=f"{NAMESPACE}:scanners.trivy.enabeld: unknown setting"):
        run_example("python-existing-cluster", {**config, "settings": json.dumps({"scanners": {"trivy": {"enabeld": False}}})}, monitor=monitor)
    assert monitor.recorded == []


def test_the_new_cluster_example_creates_a_hardened_doks_cluster() -> None:
    run = run_example("python-new-cluster", {"apiAllowlist": json.dumps(["203.0.113.10/32"])})
    cluster = run.one("digitalocean:index/kubernetesCluster:KubernetesCluster")
    assert cluster.input("region") == "fra1"
    firewall = cluster.input("controlPlaneFirewall")
    assert firewall["enabled"] is True and firewall["allowedAddresses"] == ["203.0.113.10/32"]
    assert run.one("digitalocean:index/vpc:Vpc").input("region") == "fra1"
    assert {r.input("name") for r in run.of_type("digitalocean:index/kubernetesNodePool:KubernetesNodePool")} >= {"apps"}
    assert set(run.outputs) == {"clusterId", "clusterEndpoint", "kubeconfig"} and "kubeconfig" in run.secret_outputs
    assert "hardened-doks-kube-credentials" in run.outputs["kubeconfig"]  # no credential: the exec plugin


def test_the_provider_reports_a_refused_configuration_as_an_input_error_not_a_traceback() -> None:
    served = runpy.run_path(str(PROVIDER / "__main__.py"), run_name="not-main")["HardenedDoksProvider"]([HardenedCluster], NAMESPACE)
    # As the engine sends them: schema names, enum values (a floor loosened: prod's Pod Security level).
    inputs = {"environment": "prod", "apiAllowlist": ["10.0.0.0/16"], "podSecurity": {"enforce": "baseline"}}
    monitor = RecordingMonitor(OfflineMocks())
    refused: list[InputPropertiesError] = []

    def program() -> None:
        with pytest.raises(InputPropertiesError) as error:
            served.construct("cluster", TOKEN, inputs)
        refused.append(error.value)

    run_program("dev", {}, monitor=monitor, program=program)
    assert f"{NAMESPACE}:pod_security.enforce: must stay restricted in the prod profile" in refused[0].message
    assert refused[0].errors == []  # no per-property details: the engine would print their values
    assert "Traceback" not in refused[0].message and monitor.recorded == []
