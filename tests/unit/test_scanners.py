"""The scanners layer per add-on and per profile: pinned charts, namespaces, the values that matter,
network paths, secrets, exemptions, and the optional add-ons (Snyk, Falco) off by default."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import yaml

from hardened_doks.config import ConfigError
from hardened_doks.addons import ADDON_NAMESPACES, SCANNER_CHARTS
from hardened_doks.addons.falco import FALCO_NAMESPACE, FALCO_RULES, FALCOSIDEKICK_NAMESPACE
from hardened_doks.addons.kubescape import KUBESCAPE_NAMESPACE
from hardened_doks.addons.snyk import SNYK_NAMESPACE
from hardened_doks.addons.trivy import TRIVY_NAMESPACE
from hardened_doks.kube import MANAGED_NAMESPACE_LABEL, system_toleration
from hardened_doks.registry_access import PULL_SECRET
from hardened_doks.addon import BREAK_GLASS_ANNOTATION
from hardened_doks.addons import POD_SECURITY_EXEMPTIONS
from hardened_doks.addons.trivy import TRIVY_SERVICE_ACCOUNT
from tests.conftest import ALL_ADDONS_SECRETS, all_addons_run
from tests.unit.manifests import helm_release, helm_releases, named, objects, of_kind
from tests.unit.rendered import VARIANTS, documents, variant
from tests.unit.test_secrets import _assert_only_in_secrets
from hardened_doks.tools import render
from hardened_doks.tools.offline import ProgramRun, run_stack

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
    # (Kyverno's registry credential is the admission layer's: tests/unit/test_registry_access.py.)
    scanner_secrets = [o for o in of_kind(stack_run, "Secret") if o["metadata"]["name"] != PULL_SECRET]
    assert not scanner_secrets, "no credentials without Snyk or a Slack webhook"


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


def test_trivy_private_registry_access_is_an_explicit_opt_in(stack_run: ProgramRun) -> None:
    # CIS 5.1.2: no Secret read outside trivy-system unless asked for.
    assert helm_release(stack_run, "trivy-operator")["values"]["operator"]["accessGlobalSecretsAndServiceAccount"] is False
    run = run_stack("dev", {"scanners": {"trivy": {"private_registries": True}}})
    assert helm_release(run, "trivy-operator")["values"]["operator"]["accessGlobalSecretsAndServiceAccount"] is True


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
    secrets = [p for p in (tmp_path / "kubernetes").rglob("secret-*.yaml")]
    # Slack's, falcosidekick's, Snyk's, and Kyverno's registry credential.
    assert len(secrets) == 4 and all("[secret]" in p.read_text() for p in secrets)


def test_the_policy_pack_passes_with_every_addon_on_and_sees_the_exemption() -> None:
    from hardened_doks.tools import policy_check

    assert policy_check.check(all_addons_run()) == [], "Falco's privileged namespace carries the break-glass reason; every add-on has limits"
    run = copy.deepcopy(all_addons_run())
    (falco,) = [r for r in run.resources if r.type == "kubernetes:core/v1:Namespace" and r.inputs["metadata"]["name"] == FALCO_NAMESPACE]
    del falco.inputs["metadata"]["annotations"][BREAK_GLASS_ANNOTATION]
    assert [v.policy for v in policy_check.check(run)] == ["k8s-namespace-pod-security"]


# -- what the charts render with these values ---------------------------------------------


@pytest.mark.parametrize("variant_name", list(VARIANTS))
def test_no_chart_writes_network_policies_or_namespaces(variant_name: str) -> None:
    # The stack writes every add-on namespace's policies (default-deny + exactly its paths); a chart's
    # own policy would add paths (Snyk's allows all egress) and its namespace would fight the stack's.
    for release, files in variant(variant_name).charts.items():
        kinds = {d["kind"] for d in documents(files)}
        assert not {"NetworkPolicy", "CiliumNetworkPolicy", "Namespace"} & kinds, release


def _trivy_rbac(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in objects(run) if o["kind"] in ("ClusterRole", "Role") and o["metadata"]["name"] == TRIVY_SERVICE_ACCOUNT}


@pytest.mark.parametrize("variant_name", list(VARIANTS))
def test_trivy_writes_nothing_outside_its_namespace_and_never_reads_nodes_proxy(variant_name: str) -> None:
    v = variant(variant_name)
    chart = documents(v.charts["trivy-operator"])
    assert not {"Role", "ClusterRoleBinding", "RoleBinding"} & {d["kind"] for d in chart}, "rbac.create off: the chart grants the operator nothing"
    # What is left are the chart's aggregated read roles for people (view/edit/admin see the reports).
    for role in (d for d in chart if d["kind"] == "ClusterRole"):
        assert role["metadata"]["name"].startswith("aggregate-") and all(set(r["verbs"]) <= {"get", "list", "watch"} for r in role["rules"])
    rbac = _trivy_rbac(v.run)
    for rule in rbac["ClusterRole"]["rules"]:
        assert "nodes/proxy" not in rule["resources"] and "secrets" not in rule["resources"], rule
        if rule["apiGroups"] != ["aquasecurity.github.io"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
    jobs = [r for r in rbac["Role"]["rules"] if r["resources"] == ["jobs"]]
    assert rbac["Role"]["metadata"]["namespace"] == TRIVY_NAMESPACE and "create" in jobs[0]["verbs"]
    values = helm_release(v.run, "trivy-operator")["values"]
    assert values["trivyOperator"]["scanJobsInSameNamespace"] is False, "scan Jobs in trivy-system, where the Role allows them"
    # Scan Jobs are built by the operator at run time: their placement is in the values.
    isolated = VARIANTS[variant_name][0] != "dev"
    assert values["trivyOperator"]["scanJobTolerations"] == ([system_toleration()] if isolated else [])
    assert values["trivyOperator"]["scanJobNodeSelector"] == ({"hardened-doks/pool": "system"} if isolated else {})


def test_trivy_private_registries_adds_only_secret_and_serviceaccount_reads() -> None:
    base = _trivy_rbac(run_stack("dev"))["ClusterRole"]["rules"]
    opted = _trivy_rbac(run_stack("dev", {"scanners": {"trivy": {"private_registries": True}}}))["ClusterRole"]["rules"]
    assert [r for r in opted if r not in base] == [{"apiGroups": [""], "resources": ["secrets", "serviceaccounts"], "verbs": ["get"]}]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_trivy_runs_its_pinned_tag_without_re_resolving_it(stack: str) -> None:
    (deployment,) = [d for d in documents(variant(stack).charts["trivy-operator"]) if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"mirror.gcr.io/aquasec/trivy-operator:{SCANNER_CHARTS['trivy'].app_version}"
    assert container["imagePullPolicy"] == "IfNotPresent", "no floating tag with Always (issue 17.7)"


def test_falcoctl_installs_exactly_the_pinned_rules_once() -> None:
    docs = documents(variant("prod-all-addons").charts["falco"])
    (config,) = [yaml.safe_load(d["data"]["falcoctl.yaml"]) for d in docs if d["kind"] == "ConfigMap" and "falcoctl.yaml" in d.get("data", {})]
    assert config["artifact"]["install"]["refs"] == [FALCO_RULES, "ghcr.io/falcosecurity/plugins/plugin/container:0.7.1"]
    assert config["artifact"]["install"]["resolveDeps"] is False
    (daemonset,) = [d for d in docs if d["kind"] == "DaemonSet"]
    pod = daemonset["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["falco"], "no falcoctl follow sidecar"
    (install,) = pod["initContainers"]
    assert install["securityContext"]["capabilities"] == {"drop": ["ALL"]} and install["securityContext"]["allowPrivilegeEscalation"] is False
    assert set(install["resources"]) == {"requests", "limits"}


def test_snyk_runs_without_the_busybox_init_container_as_its_own_user() -> None:
    (deployment,) = [d for d in documents(variant("prod-all-addons").charts["snyk-monitor"]) if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert "initContainers" not in pod and not any("busybox" in c["image"] for c in pod["containers"])
    assert {pod["securityContext"][k] for k in ("runAsUser", "runAsGroup", "fsGroup")} == {10001}
    assert {c["imagePullPolicy"] for c in pod["containers"]} == {"IfNotPresent"}, "a pinned tag, pulled once per node"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_falcos_quota_fits_one_pod_on_every_node_the_pools_can_reach(stack: str) -> None:
    # The tenants' quota (8 CPUs of limits) stopped the DaemonSet at 8 nodes while prod's pools
    # autoscale to 15: every node must get its Falco pod, within a quota that still bounds it.
    from hardened_doks.kube import quantity_value
    from hardened_doks.addons.falco import FALCO_RESOURCES
    from hardened_doks.tools.offline import read_stack_file
    from hardened_doks.config import parse_stack_config

    run = all_addons_run(stack)
    raw, secrets = read_stack_file(stack)
    nodes = parse_stack_config(raw, stack=stack, secret_keys=secrets).max_nodes
    falco = named(run, "ResourceQuota", "tenant-quota", FALCO_NAMESPACE)["spec"]["hard"]
    tenant = named(run, "ResourceQuota", "tenant-quota", "storefront")["spec"]["hard"]
    per_pod = helm_release(run, "falco")["values"]["resources"]
    assert per_pod == FALCO_RESOURCES
    for key in ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory"):
        kind, resource = key.split(".")
        assert quantity_value(falco[key]) >= nodes * quantity_value(per_pod[kind][resource]), (key, falco[key], nodes)
        assert quantity_value(falco[key]) >= quantity_value(tenant[key])
    assert int(falco["pods"]) >= nodes
    # The other add-on namespaces keep the tenants' quota.
    assert named(run, "ResourceQuota", "tenant-quota", KUBESCAPE_NAMESPACE)["spec"]["hard"] == tenant
    if stack == "prod":
        assert nodes == 15 and quantity_value(falco["limits.cpu"]) == 15


def test_kubernetes_own_namespaces_are_scanned_and_policed_but_kube_system() -> None:
    # Issue 17.9: the charts' defaults skipped kube-public and kube-node-lease, blind spots the
    # stack now holds to the baseline.
    run = all_addons_run()
    assert helm_release(run, "trivy-operator")["values"]["excludeNamespaces"] == "kube-system"
    kyverno = helm_release(run, "kyverno")["values"]["config"]
    assert kyverno["resourceFiltersExcludeNamespaces"] == ["kube-public", "kube-node-lease"]
