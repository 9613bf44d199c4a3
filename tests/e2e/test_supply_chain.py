"""The admission chain, offline: signed and unsigned images in a loopback OCI registry, judged by the
stack's own signature policy through the Kyverno CLI (the engine the cluster's admission controller runs).

- the registry is go-containerregistry's (`crane registry serve`, in memory, on 127.0.0.1);
- images are random single-layer images written by `crane append` (no Docker);
- signatures are made by cosign 2.6.5 with key pairs it generates, with no transparency log upload
  (`--tlog-upload=false`: Rekor is not reachable here), so the stack is rendered with
  `admission.cosign_key_transparency_log: false`;
- the policy is the `verify-image-signatures` ClusterPolicy exactly as the program renders it for the
  prod stack (admission settings pointed at the loopback registry), and Kyverno 1.19.1's CLI evaluates it
  against that registry (`kyverno apply --registry`).

The keyless form (Fulcio certificate, Rekor entry) needs the public Sigstore services: it is verified only
against real Sigstore (the application template's last step does, with cosign) and checked here for
structure only (tests/unit/test_supply_chain.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.manifests import named
from hardened_doks.tools.offline import run_stack

#: The repository prefix the stack admits (the shipped stacks' DigitalOcean registry name).
REGISTRY_PATH = "hardened-doks"
#: A tenant namespace of the prod stack (the policy excludes only kube-system, kyverno and the add-ons').
NAMESPACE = "storefront"
COSIGN_PASSWORD = "e2e-cosign-password"


def _tool(toolchain_bin: Path, name: str) -> Path:
    path = toolchain_bin / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run scripts/toolchain.sh {name}")
    return path


@dataclass
class Tools:
    crane: Path
    cosign: Path
    kyverno: Path
    env: dict[str, str]
    work: Path

    def run(self, binary: Path, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=300, env=self.env, cwd=cwd or self.work)
        if check and done.returncode != 0:
            pytest.fail(f"{binary.name} {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return done


@pytest.fixture(scope="module")
def tools(toolchain_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Tools:
    work = tmp_path_factory.mktemp("supply-chain")
    (work / "home" / "docker").mkdir(parents=True)
    # A private HOME and docker config: no credentials or Sigstore cache of the machine are used.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work / "home"),
        "DOCKER_CONFIG": str(work / "home" / "docker"),
        "COSIGN_PASSWORD": COSIGN_PASSWORD,
        "COSIGN_YES": "true",
    }
    return Tools(_tool(toolchain_bin, "crane"), _tool(toolchain_bin, "cosign"), _tool(toolchain_bin, "kyverno"), env, work)


@pytest.fixture(scope="module")
def registry(tools: Tools) -> Iterator[str]:
    """`crane registry serve` on a free loopback port; its host:port."""
    log = tools.work / "registry.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(tools.crane), "registry", "serve", "--address", "127.0.0.1:0"], stdout=out, stderr=subprocess.STDOUT, env=tools.env)
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"serving on port (\d+)", log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the registry did not start: {log.read_text()}")
            time.sleep(0.1)
        yield f"127.0.0.1:{found.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Images:
    """References (by tag) of the images under test, and the public key of the trusted signer."""

    public_key: str
    refs: dict[str, str]


def _random_image(tools: Tools, ref: str) -> str:
    """Push a random one-layer image to ref; its digest."""
    layer = tools.work / f"layer-{os.urandom(4).hex()}.tar"
    with tarfile.open(layer, "w") as archive:
        data = os.urandom(2048)
        member = tarfile.TarInfo("random.bin")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    tools.run(tools.crane, "append", "--new_layer", str(layer), "--new_tag", ref)
    return tools.run(tools.crane, "digest", ref).stdout.strip()


def _key_pair(tools: Tools, name: str) -> Path:
    folder = tools.work / name
    folder.mkdir()
    tools.run(tools.cosign, "generate-key-pair", cwd=folder)
    return folder


def _sign(tools: Tools, keys: Path, ref: str, digest: str) -> None:
    repository = ref.rsplit(":", 1)[0]
    tools.run(tools.cosign, "sign", "--key", str(keys / "cosign.key"), "--tlog-upload=false", "--yes", f"{repository}@{digest}")


@pytest.fixture(scope="module")
def images(tools: Tools, registry: str) -> Images:
    base = f"{registry}/{REGISTRY_PATH}"
    trusted, other = _key_pair(tools, "trusted"), _key_pair(tools, "other")
    refs = {
        "signed": f"{base}/app:1.0.0",
        "unsigned": f"{base}/unsigned:1.0.0",
        "signed by another key": f"{base}/other:1.0.0",
        "re-tagged copy": f"{base}/copy:1.0.0",
        "signed tag moved to other content": f"{base}/moved:1.0.0",
        "copied with its signature": f"{base}/mirror:1.0.0",
    }
    _sign(tools, trusted, refs["signed"], _random_image(tools, refs["signed"]))
    _random_image(tools, refs["unsigned"])
    _sign(tools, other, refs["signed by another key"], _random_image(tools, refs["signed by another key"]))
    # The signed image under another name: same digest, but its signature stays in the original repository.
    tools.run(tools.crane, "copy", refs["signed"], refs["re-tagged copy"])
    # A signed tag re-pointed at other content (a pushed-over tag): the new digest has no signature.
    _sign(tools, trusted, refs["signed tag moved to other content"], _random_image(tools, refs["signed tag moved to other content"]))
    _random_image(tools, refs["signed tag moved to other content"])
    # cosign copy moves the signature along: the same signed digest, so it is the same trusted content.
    tools.run(tools.cosign, "copy", refs["signed"], refs["copied with its signature"])
    return Images((trusted / "cosign.pub").read_text(), refs)


def rendered_signature_policy(registry: str, public_key: str, transparency_log: bool) -> dict[str, Any]:
    """The prod stack's verify-image-signatures ClusterPolicy, as the program renders it."""
    admission: dict[str, Any] = {"allowed_registries": [f"{registry}/{REGISTRY_PATH}"], "cosign_public_key": public_key}
    if not transparency_log:
        admission["cosign_key_transparency_log"] = False
    return named(run_stack("prod", {"admission": admission}), "ClusterPolicy", "verify-image-signatures")


def pod(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def judge(tools: Tools, policy: dict[str, Any], images: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Kyverno's decision per case: ("admitted" | "refused", its messages)."""
    names = {case: re.sub(r"[^a-z0-9]+", "-", case) for case in images}
    policy_file, pods_file = tools.work / f"policy-{os.urandom(3).hex()}.yaml", tools.work / f"pods-{os.urandom(3).hex()}.yaml"
    policy_file.write_text(yaml.safe_dump(policy))
    pods_file.write_text(yaml.safe_dump_all([pod(names[case], image) for case, image in images.items()]))
    done = tools.run(
        tools.kyverno, "apply", str(policy_file), "--resource", str(pods_file), "--registry", "--policy-report", "--output-format", "json", check=False
    )
    start = done.stdout.find("{")  # the CLI prints a deprecation warning for kyverno.io/v1 first
    if start < 0:
        pytest.fail(f"kyverno apply printed no report ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout[start:])
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names.values()}
    for result in report.get("results", []):
        assert result["policy"] == "verify-image-signatures"
        for resource in result["resources"]:
            results[resource["name"]].append(result)
    decisions = {}
    for case, name in names.items():
        outcomes = {r["result"] for r in results[name]}
        assert outcomes and outcomes <= {"pass", "fail"}, f"{case}: the policy did not judge the pod: {results[name]}"
        decisions[case] = ("admitted" if outcomes == {"pass"} else "refused", " | ".join(r.get("message", "") for r in results[name]))
    # The CLI's exit code agrees: 1 when any pod is refused.
    assert done.returncode == (1 if any(d == "refused" for d, _ in decisions.values()) else 0), done.stderr[-2000:]
    return decisions


EXPECTED = {
    "signed": ("admitted", ""),
    "unsigned": ("refused", "no signatures found"),
    "signed by another key": ("refused", "no matching signatures"),
    "re-tagged copy": ("refused", "no signatures found"),
    "signed tag moved to other content": ("refused", "no signatures found"),
    "copied with its signature": ("admitted", ""),
}


def test_the_stack_policy_admits_exactly_the_signed_images(tools: Tools, registry: str, images: Images, live_checks: Counter[str]) -> None:
    policy = rendered_signature_policy(registry, images.public_key, transparency_log=False)
    (entry,) = policy["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["entries"]
    assert entry["keys"]["publicKeys"] == images.public_key.strip()
    decisions = judge(tools, policy, images.refs)
    for case, (decision, reason) in EXPECTED.items():
        assert decisions[case][0] == decision, f"{case}: {decisions[case]}"
        assert reason in decisions[case][1], f"{case}: {decisions[case][1]}"
    live_checks["signature decisions (Kyverno CLI)"] += len(decisions)


def test_cosign_agrees_with_the_policy(tools: Tools, images: Images, live_checks: Counter[str]) -> None:
    # The same key, checked by cosign itself (the tool the application template signs with).
    public_key = tools.work / "trusted" / "cosign.pub"
    for case, (decision, _) in EXPECTED.items():
        done = tools.run(tools.cosign, "verify", "--key", str(public_key), "--insecure-ignore-tlog=true", images.refs[case], check=False)
        assert (done.returncode == 0) == (decision == "admitted"), f"{case}: cosign verify exited {done.returncode}: {done.stderr[-500:]}"
        live_checks["signature decisions (cosign)"] += 1


def test_by_default_a_key_signature_needs_its_transparency_log_entry(tools: Tools, registry: str, images: Images, live_checks: Counter[str]) -> None:
    # cosign_key_transparency_log defaults to true: a signature made without a Rekor upload is refused
    # (here Sigstore is unreachable too, which refuses it just the same: admission needs Sigstore then).
    policy = rendered_signature_policy(registry, images.public_key, transparency_log=True)
    (entry,) = policy["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["entries"]
    assert "rekor" not in entry["keys"] and "ctlog" not in entry["keys"]
    decisions = judge(tools, policy, {"signed": images.refs["signed"]})
    decision, messages = decisions["signed"]
    assert decision == "refused" and re.search(r"rekor|transparency log|tlog", messages, re.I), messages
    live_checks["signature decisions (Kyverno CLI)"] += 1
