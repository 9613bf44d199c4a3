"""Every add-on pod, as its chart renders it with the stack's values: admitted by Pod Security at its
namespace's level, and placed on the isolated system pool (tolerating its taint) where there is one.

Pod templates include the workload templates a chart ships in a ConfigMap for its operator to
create later (kubescape's scheduled scans), and the stack's own notifier CronJob.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hardened_doks.config import POOL_LABEL, SYSTEM_POOL_TAINT, ConfigError, parse_stack_config, system_pool_warning
from hardened_doks.kube import system_toleration
from hardened_doks.addons import POD_SECURITY_EXEMPTIONS
from tests.conftest import all_addons_run
from tests.unit import pod_security
from tests.unit.manifests import helm_release
from tests.unit.rendered import VARIANTS, documents, pod_templates, run_of, variant
from hardened_doks.tools import charts
from hardened_doks.tools.offline import read_stack_file, run_stack

PSA = "pod-security.kubernetes.io/enforce"


def _levels(variant_name: str) -> dict[str, str]:
    return {d["metadata"]["name"]: d["metadata"]["labels"][PSA] for d in documents(variant(variant_name).stack) if d["kind"] == "Namespace"}


def _addon_pods(variant_name: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(source, namespace, where, pod template) of every chart's pods and the stack's own workloads."""
    v = variant(variant_name)
    return [(source, ns, where, t) for source, files in v.sources().items() for ns, where, t in pod_templates(documents(files))]


@pytest.mark.parametrize("variant_name", list(VARIANTS))
def test_every_addon_pod_passes_its_namespaces_pod_security_level(variant_name: str) -> None:
    levels = _levels(variant_name)
    pods = _addon_pods(variant_name)
    refused, by_level = {}, {}
    for source, namespace, where, template in pods:
        assert namespace in levels, f"{source} {where} runs in {namespace!r}, which the stack does not manage"
        level = levels[namespace]
        by_level.setdefault(level, set()).add(namespace)
        problems = pod_security.violations(template["spec"], level, (template.get("metadata") or {}).get("annotations"))
        if problems:
            refused[f"{source} {namespace}/{where} ({level})"] = problems
    assert not refused, refused
    # Everything was checked at restricted, but the one documented exemption.
    assert set(by_level.get("privileged", set())) <= set(POD_SECURITY_EXEMPTIONS) and "baseline" not in by_level
    assert len(by_level["restricted"]) >= 3 and len(pods) >= 10


def _rerender(release_name: str, change: dict[str, Any]) -> list[dict[str, Any]]:
    """A chart rendered as the all-add-ons prod stack sets it, with one input changed."""
    release = copy.deepcopy(helm_release(all_addons_run(), release_name))
    for key, value in change.items():
        if value is None:
            release.pop(key, None)
        else:
            release[key] = value
    return charts.render_release(release, "1.34.0")


def _refusals(docs: list[dict[str, Any]]) -> list[str]:
    return [p for _, _, t in pod_templates(docs) for p in pod_security.violations(t["spec"], "restricted")]


def test_snyk_would_be_refused_with_the_charts_init_container() -> None:
    values = copy.deepcopy(helm_release(all_addons_run(), "snyk-monitor")["values"])
    values["initContainers"] = {"enabled": True}
    refused = _refusals(_rerender("snyk-monitor", {"values": values}))
    assert "runAsNonRoot != true: container volume-permissions" in refused


def test_kubescape_would_be_refused_without_the_post_renderer() -> None:
    assert helm_release(all_addons_run(), "kubescape")["postrender"] == "tools/helm_postrender.py"
    refused = _refusals(_rerender("kubescape", {"postrender": None}))
    assert "capabilities: container kubescape must drop ALL" in refused
    assert "capabilities: container kubescape-scheduler must drop ALL" in refused, "the operator's CronJob templates too"


@pytest.mark.parametrize(
    ("spec", "level", "problem"),
    [
        ({"hostNetwork": True, "containers": [{"name": "c"}]}, "baseline", "host namespaces: hostNetwork=true"),
        ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}], "containers": [{"name": "c"}]}, "baseline", "hostPath volume root"),
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "baseline", "privileged: container c"),
        ({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]}, "baseline", "capabilities: container c adds ['SYS_ADMIN']"),
        ({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}, "baseline", "hostPort 80: container c"),
        ({"securityContext": {"seLinuxOptions": {"type": "spc_t"}}, "containers": [{"name": "c"}]}, "baseline", "SELinux: pod"),
        ({"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
          "containers": [{"name": "c", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]}, "restricted", "allowPrivilegeEscalation != false: container c"),
        ({"containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]},
         "restricted", "runAsNonRoot != true: container c"),
        ({"securityContext": {"runAsNonRoot": True}, "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]},
         "restricted", "seccompProfile not RuntimeDefault/Localhost: container c"),
        ({"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
          "volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}], "containers": []}, "restricted", "volume n of type ['nfs']"),
    ],
    ids=["host-network", "host-path", "privileged", "added-capability", "host-port", "selinux-type", "escalation", "root", "seccomp", "volume-type"],
)
def test_the_pod_security_checks_refuse_what_admission_refuses(spec: dict[str, Any], level: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in pod_security.violations(spec, level)), pod_security.violations(spec, level)


def test_a_restricted_pod_passes_every_check() -> None:
    context = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    spec = {"securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "tmp", "emptyDir": {}}], "containers": [{"name": "c", "securityContext": context}]}  # fmt: skip
    assert pod_security.violations(spec, "restricted") == []


# -- the isolated system pool --------------------------------------------------------------

ISOLATED = [v for v, (stack, _) in VARIANTS.items() if stack != "dev"]


@pytest.mark.parametrize("variant_name", ISOLATED)
def test_every_addon_pod_runs_on_the_isolated_system_pool(variant_name: str) -> None:
    toleration = system_toleration()
    misplaced = {}
    for source, namespace, where, template in _addon_pods(variant_name):
        spec = template["spec"]
        tolerates = toleration in (spec.get("tolerations") or [])
        selects = (spec.get("nodeSelector") or {}).get(POOL_LABEL) == "system"
        node_agent = namespace in POD_SECURITY_EXEMPTIONS  # Falco: on every node, so no pool selector
        if not tolerates or selects == node_agent:
            misplaced[f"{source} {namespace}/{where}"] = {"tolerates": tolerates, "selects the system pool": selects}
    assert not misplaced, misplaced


@pytest.mark.parametrize("variant_name", ISOLATED)
def test_the_system_pool_is_tainted_and_the_workload_pools_are_not(variant_name: str) -> None:
    run = run_of(variant_name)
    (cluster,) = [r for r in run.resources if r.type.endswith(":KubernetesCluster")]
    assert SYSTEM_POOL_TAINT in cluster.inputs["nodePool"]["taints"]
    pools = [r for r in run.resources if r.type.endswith(":KubernetesNodePool")]
    assert pools and all(SYSTEM_POOL_TAINT not in (p.inputs.get("taints") or []) for p in pools)


def test_dev_without_a_workload_pool_shares_nodes_and_says_so() -> None:
    run = run_of("dev-all-addons")
    (cluster,) = [r for r in run.resources if r.type.endswith(":KubernetesCluster")]
    assert not cluster.inputs["nodePool"]["taints"]
    assert not any(POOL_LABEL in (t["spec"].get("nodeSelector") or {}) for *_, t in _addon_pods("dev-all-addons"))
    raw, secrets = read_stack_file("dev")
    warning = system_pool_warning(parse_stack_config(raw, stack="dev", secret_keys=secrets))
    assert warning and warning.startswith("hardened-doks:isolate_system_pool: ") and "hardened-doks:workload_pools" in warning


def test_dev_with_a_workload_pool_is_isolated_too() -> None:
    pool = {"name": "apps", "size": "s-2vcpu-4gb", "min_nodes": 1, "max_nodes": 2}
    run = run_stack("dev", {"workload_pools": [pool]})
    (cluster,) = [r for r in run.resources if r.type.endswith(":KubernetesCluster")]
    assert SYSTEM_POOL_TAINT in cluster.inputs["nodePool"]["taints"]
    assert helm_release(run, "kyverno")["values"]["global"]["tolerations"] == [system_toleration()]


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        ("staging", {"workload_pools": []}, "hardened-doks:workload_pools: the staging profile taints the system pool"),
        ("prod", {"workload_pools": [{"name": "gpu", "size": "s-4vcpu-8gb", "taints": [{"key": "gpu", "effect": "NoSchedule"}]}]},
         "hardened-doks:workload_pools: the prod profile taints the system pool"),
        ("prod", {"isolate_system_pool": False}, "hardened-doks:isolate_system_pool: must stay true in the prod profile"),
    ],
    ids=["staging-without-tenant-pool", "prod-only-tainted-pools", "prod-turns-isolation-off"],
)
def test_isolation_cannot_be_lost_in_staging_and_prod(stack: str, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_stack(stack, overrides)


@pytest.mark.parametrize("variant_name", list(VARIANTS))
def test_no_addon_pod_runs_with_the_images_group(variant_name: str) -> None:
    # NSA/CISA non-root user *and* group: without runAsGroup a container takes its image's group,
    # which may be 0 (root's, owning most of the image's files). Falco's exempt agent runs as root.
    unset = []
    for source, namespace, where, template in _addon_pods(variant_name):
        if namespace in POD_SECURITY_EXEMPTIONS:
            continue
        spec = template["spec"]
        pod_group = (spec.get("securityContext") or {}).get("runAsGroup")
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            group = (container.get("securityContext") or {}).get("runAsGroup", pod_group)
            if not group:
                unset.append(f"{source} {namespace}/{where} container {container['name']}: runAsGroup {group}")
    assert not unset, unset
