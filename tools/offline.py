"""Run the real Pulumi program offline, under Pulumi's mock monitor, and record what it registers.

Used by the render command and by the unit tests: no engine, no credentials, no network.
The mocks stand in for the cloud (ids, endpoints, the DOKS version list); the recorder
keeps every resource's inputs together with its options (parent, provider, protect,
ignore_changes) and which input paths are secret.
"""

from __future__ import annotations

import base64
import json
import os
import re
import runpy
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks

from hardened_doks.sdk_internals import SECRET_SIG as _SECRET_SIG, SECRET_VALUE as _SECRET_VALUE
from hardened_doks.sdk_internals import run_pulumi_func, settings, sync_await as _sync_await

from hardened_doks.config import NAMESPACE
from hardened_doks.config import SECRET_PLACEHOLDER as SECRET_PLACEHOLDER  # re-exported: what a secret value reads as offline
from hardened_doks.config import stack_file

def project_dir() -> Path:
    """The checkout the tools act on (its stacks/, Pulumi.yaml and program).

    HARDENED_DOKS_PROJECT_DIR when set; else the nearest folder at or above the working directory
    whose Pulumi.yaml names this project (NAMESPACE: a second checkout, or a copy, uses its own stack
    files even though the installed package is the first one's); else the checkout this module was
    installed from (editable install), else the working directory.
    """
    if os.environ.get("HARDENED_DOKS_PROJECT_DIR"):
        return Path(os.environ["HARDENED_DOKS_PROJECT_DIR"]).resolve()
    here = Path.cwd().resolve()
    installed_from = Path(__file__).resolve().parents[1]
    for folder in (here, *here.parents, installed_from):
        project_file = folder / "Pulumi.yaml"
        if project_file.is_file() and re.search(rf"^name:\s*{re.escape(NAMESPACE)}\s*$", project_file.read_text(), re.M):
            return folder
    return here


PROJECT_DIR = project_dir()
STACKS_DIR = PROJECT_DIR / "stacks"
PROGRAM = PROJECT_DIR / "__main__.py"

#: Offline stand-in for the DOKS version list (the real one comes from the API at deploy time).
OFFLINE_DOKS_VERSIONS: tuple[str, ...] = ("1.33.9-do.0", "1.34.4-do.0", "1.35.3-do.0")




@dataclass
class RecordedResource:
    """One resource the program registered, as the engine would have received it."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str
    provider: str
    protect: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    inputs: dict[str, Any]
    secret_paths: set[str] = field(default_factory=set)
    #: The ``replacement_trigger`` option (a change of it from the last deployment replaces the resource).
    replacement_trigger: Any = None
    #: URNs of the resources this one waits for (``depends_on``; a component's expands to its children).
    dependencies: list[str] = field(default_factory=list)
    #: The ``deleted_with`` option: the URN of the resource whose deletion deletes this one ("" when none).
    deleted_with: str = ""

    def input(self, path: str) -> Any:
        """An input by dotted path, e.g. ``controlPlaneFirewall.allowedAddresses``."""
        value: Any = self.inputs
        for part in path.split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
        return value

    def is_secret(self, path: str) -> bool:
        """True when the input at ``path`` (or a value containing it) is marked secret."""
        return any(path == p or path.startswith(p + ".") for p in self.secret_paths)


@dataclass
class ProgramRun:
    """What one offline run of the program registered and exported."""

    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    secret_outputs: set[str]

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> RecordedResource:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {len(found)}")
        return found[0]


def _unwrap(value: Any, path: str, secrets: set[str]) -> Any:
    """Strip the wire form of secrets from a value, recording where they were."""
    if isinstance(value, dict):
        if value.get(_SECRET_SIG) == _SECRET_VALUE:
            secrets.add(path)
            return _unwrap(value.get("value"), path, set())
        return {k: _unwrap(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, f"{path}.{i}" if path else str(i), secrets) for i, v in enumerate(value)]
    return value


def _plain(struct: Any) -> tuple[dict[str, Any], set[str]]:
    secrets: set[str] = set()
    return _unwrap(json_format.MessageToDict(struct), "", secrets), secrets


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping each registration's options and secrets."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs, secrets = _plain(request.object)
        self.recorded.append(
            RecordedResource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                custom=request.custom,
                parent=request.parent,
                provider=request.provider,
                protect=request.protect,
                delete_before_replace=request.deleteBeforeReplace,
                ignore_changes=list(request.ignoreChanges),
                inputs=inputs,
                secret_paths=secrets,
                replacement_trigger=json_format.MessageToDict(request.replacement_trigger) if request.HasField("replacement_trigger") else None,
                dependencies=list(request.dependencies),
                deleted_with=request.deletedWith,
            )
        )
        return response


def fake_id(name: str) -> str:
    """The id the mocks give the resource ``name`` (stable across runs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hardened-doks/{name}"))


class OfflineMocks(pulumi.runtime.Mocks):
    """Stands in for DigitalOcean and Kubernetes: echoes inputs, adds computed outputs."""

    def __init__(self, doks_versions: tuple[str, ...] = OFFLINE_DOKS_VERSIONS):
        self.doks_versions = doks_versions

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[Optional[str], dict[str, Any]]:
        outputs = dict(args.inputs)
        resource_id = fake_id(args.name)
        if args.typ == "digitalocean:index/kubernetesCluster:KubernetesCluster":
            ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\noffline\n-----END CERTIFICATE-----\n").decode()
            outputs.update(
                endpoint=f"https://{resource_id}.k8s.ondigitalocean.com",
                clusterUrn=f"do:kubernetes:{resource_id}",
                status="running",
                kubeConfigs=[{"clusterCaCertificate": ca, "host": f"https://{resource_id}.k8s.ondigitalocean.com"}],
            )
        elif args.typ == "digitalocean:index/vpc:Vpc":
            outputs.setdefault("urn", f"do:vpc:{resource_id}")
        elif args.typ == "digitalocean:index/containerRegistryDockerCredentials:ContainerRegistryDockerCredentials":
            auth = base64.b64encode(b"offline@example.com:offline-registry-token").decode()
            outputs.update(
                dockerCredentials=json.dumps({"auths": {"registry.digitalocean.com": {"auth": auth}}}),
                credentialExpirationTime="2027-01-01T00:00:00Z",
            )
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        if args.token == "digitalocean:index/getKubernetesVersions:getKubernetesVersions":
            prefix = args.args.get("versionPrefix", "")
            valid = [v for v in self.doks_versions if v.startswith(prefix)]
            latest = max(valid, key=lambda v: [int(x) for x in v.split("-")[0].split(".")], default="")
            return {"latestVersion": latest, "validVersions": valid, "versionPrefix": prefix, "id": "versions"}
        return {}


def read_stack_file(stack: str, stacks_dir: Path = STACKS_DIR) -> tuple[dict[str, str], frozenset[str]]:
    """A stack file's config as Pulumi hands it to the program (components/config/stack_file.py reads it)."""
    return stack_file.read_stack_file(stack, stacks_dir)


def run_program(
    stack: str,
    config: Mapping[str, str],
    secret_keys: frozenset[str] = frozenset(),
    monitor: Optional[RecordingMonitor] = None,
    program: Union[Path, Callable[[], object]] = PROGRAM,
    project: str = NAMESPACE,
) -> ProgramRun:
    """Run __main__.py (or another program file or a function) for ``stack`` with ``config`` under mocks;
    raise what the program raises.

    Pass a ``monitor`` to inspect what was registered even when the program fails; ``project`` is the Pulumi
    project name (another project's program, such as an example consumer, reads its config under its own).
    """
    monitor = monitor or RecordingMonitor(OfflineMocks())
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(dict(config), sorted(secret_keys))
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    body = program if callable(program) else (lambda: runpy.run_path(str(program), run_name="__main__"))
    _sync_await(run_pulumi_func(body))
    outputs, secret_outputs = _stack_outputs()
    return ProgramRun(stack, monitor.recorded, outputs, secret_outputs)


def _stack_outputs() -> tuple[dict[str, Any], set[str]]:
    """The program's `pulumi.export`s, resolved, and which of them are secret.

    The mock monitor finishes the root stack before the program runs, so exports never
    reach it as a registration: read them from the root resource instead.
    """
    root = settings.get_root_resource()
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        values[key] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secret.add(key)
    return values, secret


def run_stack(
    stack: str,
    overrides: Optional[Mapping[str, Any]] = None,
    secret_overrides: Optional[Mapping[str, Any]] = None,
    **kwargs: Any,
) -> ProgramRun:
    """Run the program for a stack file, with config overrides (``key`` → value, None unsets)."""
    config, secrets = read_stack_file(stack)
    secret_keys = set(secrets)
    for key, value, secret in [
        *((k, v, False) for k, v in (overrides or {}).items()),
        *((k, v, True) for k, v in (secret_overrides or {}).items()),
    ]:
        full_key = key if ":" in key else f"{NAMESPACE}:{key}"
        secret_keys.discard(full_key)
        if value is None:
            config.pop(full_key, None)
            continue
        config[full_key] = value if isinstance(value, str) else json.dumps(value)
        if secret:
            secret_keys.add(full_key)
    return run_program(stack, config, frozenset(secret_keys), **kwargs)


def stack_names(stacks_dir: Path = STACKS_DIR) -> list[str]:
    """The stacks that have a stack file."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))


def iter_kubernetes(run: ProgramRun) -> Iterator[RecordedResource]:
    """The Kubernetes objects of a run (not providers, components or Helm releases)."""
    for resource in run.resources:
        if resource.custom and resource.type.startswith("kubernetes:") and "apiVersion" in resource.inputs:
            yield resource
