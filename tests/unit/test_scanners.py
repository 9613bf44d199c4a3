"""The scanners layer per add-on and per profile: pinned charts, namespaces, the values that matter,
network paths, secrets, exemptions, and the optional add-ons (Snyk, Falco) off by default."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from components.config import (
    ADDON_NAMESPACES,
    FALCO_NAMESPACE,
    FALCOSIDEKICK_NAMESPACE,
    KUBESCAPE_NAMESPACE,
    SCANNER_CHARTS,
    SNYK_NAMESPACE,
    TRIVY_NAMESPACE,
    ConfigError,
)
from components.kube import MANAGED_NAMESPACE_LABEL
from components.scanners import BREAK_GLASS_ANNOTATION, POD_SECURITY_EXEMPTIONS
from tests.conftest import ALL_ADDONS_SECRETS, all_addons_run
from tests.unit.manifests import helm_release, helm_releases, named, of_kind
from tests.unit.test_secrets import _assert_only_in_secrets
from tools import render
from tools.offline import ProgramRun, run_stack

PSA = "pod-security.kubernetes.io/enforce"
#: Per profile: Kubescape's configuration and vulnerability scan schedules, Trivy's compliance
#: schedule and scan-job limit, the severities Trivy keeps.
PROFILE = {
    "dev": ("0 6 * * *", "30 6 * * *", "0 7 * * *", 1, "MEDIUM,HIGH,CRITICAL"),
    "staging": ("0 */12 * * *", "30 */12 * * *", "15 */12 * * *", 2, "LOW,MEDIUM,HIGH,CRITICAL"),
    "prod": ("0 */6 * * *", "30 */6 * * *", "15 */6 * * *", 3, "LOW,MEDIUM,HIGH,CRITICAL"),
}
#: Release name → (chart key, namespace).
RELEASES = {
    "kubescape": ("kubescape", KUBESCAPE_NAMESPACE),
    "trivy-operator": ("trivy", TRIVY_NAMESPACE),
    "snyk-monitor": ("snyk", SNYK_NAMESPACE),
    "falco": ("falco", FALCO_NAMESPACE),
    "falcosidekick": ("falcosidekick", FALCOSIDEKICK_NAMESPACE),
}


def _resources_blocks(values: Any, path: str = "values"):
    if isinstance(values, dict):
        for key, value in values.items():
            if key == "resources" and isinstance(value, dict):
                yield path, value
            else:
                yield from _resources_blocks(value, f"{path}.{key}")


# -- charts and namespaces ---------------------------------------------------------------


def test_kubescape_and_trivy_are_on_by_default_snyk_and_falco_off(stack_run: ProgramRun) -> None:
    assert set(helm_releases(stack_run)) == {"kyverno", "kubescape", "trivy-operator"}
    namespaces = {n["metadata"]["name"] for n in of_kind(stack_run, "Namespace")}
    assert {KUBESCAPE_NAMESPACE, TRIVY_NAMESPACE} <= namespaces
    assert not {SNYK_NAMESPACE, FALCO_NAMESPACE, FALCOSIDEKICK_NAMESPACE, "security-alerts"} & namespaces
    assert not of_kind(stack_run, "Secret"), "no credentials without Snyk or a Slack webhook"


@pytest.mark.parametrize("release_name", list(RELEASES))
def test_every_chart_is_pinned_with_its_repository_in_its_own_namespace(release_name: str) -> None:
    key, namespace = RELEASES[release_name]
    pin = SCANNER_CHARTS[key]
    release = helm_release(all_addons_run(), release_name)
    assert (release["chart"], release["version"], release["repositoryOpts"]["repo"]) == (pin.name, pin.version, pin.repo)
    assert release["namespace"] == namespace and release["createNamespace"] is False and release["skipAwait"] is False
    assert release["repositoryOpts"]["repo"].startswith("https://")


def test_chart_versions_are_the_ones_documented() -> None:
    assert {k: (p.name, p.version) for k, p in SCANNER_CHARTS.items()} == {
        "kubescape": ("kubescape-operator", "1.40.3"),
        "trivy": ("trivy-operator", "0.36.0"),
        "snyk": ("snyk-monitor", "2.23.8"),
        "falco": ("falco", "9.1.0"),
        "falcosidekick": ("falcosidekick", "0.12.0"),
    }


def test_addon_namespaces_are_restricted_but_the_documented_exemption() -> None:
    run = all_addons_run()
    managed = {n["metadata"]["name"]: n for n in of_kind(run, "Namespace") if n["metadata"]["labels"].get(MANAGED_NAMESPACE_LABEL) == "true"}
    addons = {name: n for name, n in managed.items() if name in ADDON_NAMESPACES}
    assert set(addons) == set(ADDON_NAMESPACES)
    for name, namespace in addons.items():
        labels = namespace["metadata"]["labels"]
        annotations = namespace["metadata"].get("annotations", {})
        if name in POD_SECURITY_EXEMPTIONS:
            level, reason = POD_SECURITY_EXEMPTIONS[name]
            assert labels[PSA] == level and annotations[BREAK_GLASS_ANNOTATION] == reason
            assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "restricted"
        else:
            assert labels[PSA] == "restricted", name
            assert BREAK_GLASS_ANNOTATION not in annotations
        if name != "kyverno":  # the tenants' quota and container defaults
            assert [q["metadata"]["name"] for q in of_kind(run, "ResourceQuota", name)] == ["tenant-quota"], name
            assert [q["metadata"]["name"] for q in of_kind(run, "LimitRange", name)] == ["container-defaults"], name
    assert set(POD_SECURITY_EXEMPTIONS) == {FALCO_NAMESPACE}, "Falco's node agent is the only exemption"


# -- Kubescape ----------------------------------------------------------------------------


def test_kubescape_schedules_frameworks_and_no_saas(stack_run: ProgramRun) -> None:
    values = helm_release(stack_run, "kubescape")["values"]
    config_schedule, vuln_schedule, *_ = PROFILE[stack_run.stack]
    assert values["kubescapeScheduler"]["scanSchedule"] == config_schedule
    assert values["kubevulnScheduler"]["scanSchedule"] == vuln_schedule
    (command,) = values["kubescapeScheduler"]["requestBody"]["commands"]
    assert command["args"]["scanV1"] == {"targetType": "framework", "targetNames": ["nsa", "cis-v1.12.0"], "keepLocal": True}
    # No vendor: no server, account or key, no update check.
    assert (values["server"], values["account"], values["accessKey"]) == ("", "", "")
    assert values["kubescape"]["skipUpdateCheck"] is True
    caps = values["capabilities"]
    assert {caps[c] for c in ("configurationScan", "continuousScan", "vulnerabilityScan")} == {"enable"}
    node_agent = ("nodeScan", "relevancy", "runtimeDetection", "runtimeObservability", "malwareDetection", "nodeSbomGeneration", "admissionController", "autoUpgrading")
    assert {caps[c] for c in node_agent} == {"disable"}
    assert values["global"]["enableClusterWideSecretAccess"] is False
    assert values["global"]["networkPolicy"]["enabled"] is False
    assert values["clusterName"] == f"hardened-doks-{stack_run.stack}"


def test_kubescape_frameworks_come_from_config() -> None:
    run = run_stack("dev", {"scanners": {"kubescape": {"frameworks": ["mitre", "cis-v1.10.0"]}}})
    values = helm_release(run, "kubescape")["values"]
    assert values["kubescapeScheduler"]["requestBody"]["commands"][0]["args"]["scanV1"]["targetNames"] == ["mitre", "cis-v1.10.0"]


# -- Trivy --------------------------------------------------------------------------------


def test_trivy_reports_severity_schedule_and_no_webhook(stack_run: ProgramRun) -> None:
    values = helm_release(stack_run, "trivy-operator")["values"]
    *_, compliance, limit, severity = PROFILE[stack_run.stack]
    operator = values["operator"]
    assert values["trivy"]["severity"] == severity
    assert values["compliance"]["cron"] == compliance
    assert operator["scanJobsConcurrentLimit"] == limit
    for scanner in ("vulnerabilityScannerEnabled", "configAuditScannerEnabled", "exposedSecretScannerEnabled", "rbacAssessmentScannerEnabled"):
        assert operator[scanner] is True, scanner
    assert operator["webhookBroadcastURL"] == "", "nothing is sent out of the cluster"
    assert operator["infraAssessmentScannerEnabled"] is False, "the node-collector needs host access"
    assert values["trivyOperator"]["scanJobAutomountServiceAccountToken"] is False
    assert values["trivyOperator"]["scanJobPodTemplatePodSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["trivyOperator"]["scanJobPodTemplateContainerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert values["trivy"]["dbRegistry"] == "mirror.gcr.io"


def test_trivy_private_registry_access_can_be_dropped() -> None:
    run = run_stack("dev", {"scanners": {"trivy": {"private_registries": False}}})
    assert helm_release(run, "trivy-operator")["values"]["operator"]["accessGlobalSecretsAndServiceAccount"] is False


# -- every add-on ------------------------------------------------------------------------


@pytest.mark.parametrize("release_name", list(RELEASES))
def test_every_container_resources_block_has_requests_and_limits(release_name: str) -> None:
    values = helm_release(all_addons_run(), release_name)["values"]
    blocks = list(_resources_blocks(values))
    if release_name == "snyk-monitor":  # the chart takes top-level requests and limits
        blocks = [("values", {"requests": values["requests"], "limits": values["limits"]})]
    assert blocks
    for path, block in blocks:
        assert set(block["requests"]) >= {"cpu", "memory"} and set(block["limits"]) >= {"cpu", "memory"}, path


#: Namespace → the network policies its add-on gets beyond default-deny and DNS.
EXPECTED_POLICIES = {
    KUBESCAPE_NAMESPACE: {"kubescape-kube-apiserver", "kubescape-internal", "kubescape-https-egress"},
    TRIVY_NAMESPACE: {"trivy-kube-apiserver", "trivy-https-egress"},
    SNYK_NAMESPACE: {"snyk-kube-apiserver", "snyk-https-egress"},
    FALCO_NAMESPACE: {"falco-https-egress", "falco-to-falcosidekick"},
    FALCOSIDEKICK_NAMESPACE: {"falcosidekick-from-falco", "falcosidekick-https-egress"},
    "security-alerts": {"notifier-kube-apiserver", "notifier-https-egress"},
}


@pytest.mark.parametrize("namespace", list(EXPECTED_POLICIES))
def test_each_addon_gets_exactly_its_network_paths(namespace: str) -> None:
    run = all_addons_run()
    policies = of_kind(run, "NetworkPolicy", namespace) + of_kind(run, "CiliumNetworkPolicy", namespace)
    assert {p["metadata"]["name"] for p in policies} == {"default-deny", "allow-dns"} | EXPECTED_POLICIES[namespace]
    for policy in policies:
        spec = policy["spec"]
        for rule in spec.get("egress", []):
            for peer in rule.get("to", []):
                if "ipBlock" in peer:  # public addresses on 443 only: never the VPC, pods or metadata
                    assert rule["ports"] == [{"protocol": "TCP", "port": 443}], policy["metadata"]
                    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
                    assert {"10.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"} <= set(peer["ipBlock"]["except"])
            assert rule.get("toEntities", ["kube-apiserver"]) == ["kube-apiserver"]
    cilium = [p for p in policies if p["kind"] == "CiliumNetworkPolicy"]
    if namespace == KUBESCAPE_NAMESPACE:  # the storage aggregated API server is called by the API server on 8443
        (policy,) = cilium
        assert {p["port"] for r in policy["spec"]["ingress"] for tp in r["toPorts"] for p in tp["ports"]} == {"8443"}
    elif cilium:
        assert "ingress" not in cilium[0]["spec"], "no ingress from the API server where no webhook or API service listens"


def test_kubescape_components_talk_only_on_their_ports() -> None:
    policy = named(all_addons_run(), "NetworkPolicy", "kubescape-internal", KUBESCAPE_NAMESPACE)["spec"]
    ports = [{"protocol": "TCP", "port": 4002}, {"protocol": "TCP", "port": 8080}]
    assert policy["ingress"] == [{"from": [{"podSelector": {}}], "ports": ports}]
    assert policy["egress"] == [{"to": [{"podSelector": {}}], "ports": ports}]


def test_releases_belong_to_the_scanners_component() -> None:
    run = all_addons_run()
    urns = {r.urn: r for r in run.resources}
    for release in run.of_type(render.HELM_RELEASE):
        if release.inputs["name"] in RELEASES:
            assert urns[release.parent].type == "hardened-doks:kubernetes:Scanners"


# -- Snyk and Falco: only when configured -------------------------------------------------


def test_snyk_is_installed_with_its_credentials_only_as_secrets() -> None:
    run = all_addons_run()
    values = helm_release(run, "snyk-monitor")["values"]
    assert values["monitorSecrets"] == "snyk-monitor" and values["clusterName"] == "hardened-doks-prod"
    secret = next(r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.inputs["metadata"]["name"] == "snyk-monitor")
    assert secret.is_secret("stringData")
    assert json.loads(json.dumps(secret.inputs["stringData"])) == {
        "integrationId": ALL_ADDONS_SECRETS["snyk_integration_id"],
        "serviceAccountApiToken": ALL_ADDONS_SECRETS["snyk_service_account_token"],
        "dockercfg.json": ALL_ADDONS_SECRETS["snyk_dockercfg"],
    }
    assert ALL_ADDONS_SECRETS["snyk_integration_id"] not in json.dumps(values)


def test_falco_is_least_privileged_and_forwards_to_sidekick() -> None:
    run = all_addons_run()
    values = helm_release(run, "falco")["values"]
    assert values["driver"] == {"kind": "modern_ebpf", "modernEbpf": {"leastPrivileged": True}}
    assert values["falcosidekick"]["enabled"] is False, "falcosidekick runs in its own restricted namespace"
    assert values["falco"]["http_output"] == {"enabled": True, "url": "http://falcosidekick.falcosidekick.svc.cluster.local:2801/"}
    assert values["falcoctl"]["artifact"]["follow"]["enabled"] is False
    sidekick = helm_release(run, "falcosidekick")["values"]
    assert sidekick["config"] == {"existingSecret": "falcosidekick-slack"}
    assert sidekick["securityContext"]["readOnlyRootFilesystem"] is True
    secret = next(r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.inputs["metadata"]["name"] == "falcosidekick-slack")
    assert secret.is_secret("stringData")
    assert secret.inputs["stringData"]["SLACK_MINIMUMPRIORITY"] == "error"  # prod alerts at HIGH


def test_falco_without_a_webhook_runs_alone() -> None:
    run = run_stack("dev", {"scanners": {"falco": {"enabled": True}}})
    releases = helm_releases(run)
    assert "falco" in releases and "falcosidekick" not in releases
    assert releases["falco"]["values"]["falco"]["http_output"]["enabled"] is False
    assert {p["metadata"]["name"] for p in of_kind(run, "NetworkPolicy", FALCO_NAMESPACE)} == {"default-deny", "allow-dns", "falco-https-egress"}


# -- e2e and air-gapped modes --------------------------------------------------------------


def test_scanners_can_be_turned_off_and_use_local_charts_and_skip_await(tmp_path: Path) -> None:
    off = run_stack("dev", {"scanners": {"kubescape": {"enabled": False}, "trivy": {"enabled": False}}})
    assert set(helm_releases(off)) == {"kyverno"}
    assert {"kubescape", "trivy-system"}.isdisjoint(n["metadata"]["name"] for n in of_kind(off, "Namespace"))
    chart = tmp_path / "trivy-operator"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: trivy-operator\nversion: 0.36.0\n")
    run = run_stack("dev", {"skip_await": True, "scanners": {"kubescape": {"enabled": False}, "trivy": {"chart_path": str(chart)}}})
    release = helm_release(run, "trivy-operator")
    assert release["chart"] == str(chart) and "version" not in release and "repositoryOpts" not in release
    assert release["skipAwait"] is True


def test_a_local_chart_of_another_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: trivy-operator\nversion: 0.30.0\n")
    with pytest.raises(ConfigError, match=r"hardened-doks:scanners\.trivy\.chart_path: .* pins trivy-operator 0\.36\.0"):
        run_stack("dev", {"scanners": {"trivy": {"chart_path": str(tmp_path)}}})


# -- secrets -----------------------------------------------------------------------------


def test_secrets_never_appear_in_plain_inputs_outputs_or_rendered_files(tmp_path: Path) -> None:
    run = all_addons_run()
    needles = [v for k, v in ALL_ADDONS_SECRETS.items()]
    for resource in run.resources:
        for needle in needles:
            _assert_only_in_secrets(resource.inputs, "", resource.secret_paths, needle, resource.name)
    for key, value in run.outputs.items():
        assert not any(n in json.dumps(value, default=str) for n in needles) or key in run.secret_outputs, key
    render.render(run, tmp_path)
    rendered = "\n".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    for needle in needles:
        assert needle not in rendered
    secrets = [p for p in (tmp_path / "kubernetes").glob("*-secret-*.yaml")]
    assert len(secrets) == 3 and all("[secret]" in p.read_text() for p in secrets)


def test_the_policy_pack_passes_with_every_addon_on_and_sees_the_exemption() -> None:
    from tools import policy_check

    assert policy_check.check(all_addons_run()) == [], "Falco's privileged namespace carries the break-glass reason; every add-on has limits"
    run = copy.deepcopy(all_addons_run())
    (falco,) = [r for r in run.resources if r.type == "kubernetes:core/v1:Namespace" and r.inputs["metadata"]["name"] == FALCO_NAMESPACE]
    del falco.inputs["metadata"]["annotations"][BREAK_GLASS_ANNOTATION]
    assert [v.policy for v in policy_check.check(run)] == ["k8s-namespace-pod-security"]
