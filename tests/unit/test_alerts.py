"""Slack alerts: the notifier's objects (hardened CronJob, least-privilege RBAC, webhook as a secret
file) and the notifier itself against a fake Kubernetes API and a fake Slack."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
from typing import Any, Optional

import pytest

from hardened_doks import notifier
from hardened_doks.addons.notifier import NOTIFIER, SCRIPT, STATE_CONFIGMAP, WEBHOOK_SECRET
from hardened_doks.addons.notifier import ALERTS_NAMESPACE
from tests.conftest import ALL_ADDONS_SECRETS, all_addons_run
from tests.unit.manifests import named, of_kind
from hardened_doks.tools.offline import ProgramRun, run_stack

# -- the objects -------------------------------------------------------------------------


def test_no_notifier_without_a_webhook(stack_run: ProgramRun) -> None:
    assert not of_kind(stack_run, "CronJob")
    assert ALERTS_NAMESPACE not in {n["metadata"]["name"] for n in of_kind(stack_run, "Namespace")}


def test_the_cronjob_is_hardened_and_reads_the_webhook_from_a_secret_file() -> None:
    run = all_addons_run()
    cronjob = named(run, "CronJob", NOTIFIER, ALERTS_NAMESPACE)
    assert cronjob["spec"]["schedule"] == "*/15 * * * *" and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "@sha256:" in container["image"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"requests", "limits"} <= set(container["resources"])
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MIN_SEVERITY"] == "HIGH" and env["SLACK_WEBHOOK_FILE"] == "/var/run/secrets/slack/url"
    assert not any("secretKeyRef" in json.dumps(e) for e in container["env"]), "the webhook is a file, not an environment variable"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["webhook"]["secret"]["secretName"] == WEBHOOK_SECRET
    script = named(run, "ConfigMap", NOTIFIER, ALERTS_NAMESPACE)["data"]["notify.py"]
    assert script == SCRIPT.read_text()
    secret = next(r for r in run.resources if r.type == "kubernetes:core/v1:Secret" and r.inputs["metadata"]["name"] == WEBHOOK_SECRET)
    assert secret.is_secret("stringData") and secret.inputs["stringData"] == {"url": ALL_ADDONS_SECRETS["slack_webhook_url"]}


def test_the_notifier_may_read_reports_and_its_state_only() -> None:
    run = all_addons_run()
    (role,) = [r for r in of_kind(run, "ClusterRole") if r["metadata"]["name"] == "hardened-doks:security-notifier"]
    assert role["rules"] == [
        {
            "apiGroups": ["aquasecurity.github.io"],
            "resources": [
                "vulnerabilityreports", "configauditreports", "exposedsecretreports", "rbacassessmentreports",
                "clusterconfigauditreports", "clusterrbacassessmentreports",
            ],
            "verbs": ["get", "list"],
        },
        {"apiGroups": ["spdx.softwarecomposition.kubescape.io"], "resources": ["vulnerabilitymanifestsummaries", "workloadconfigurationscansummaries"], "verbs": ["get", "list"]},
    ]  # fmt: skip
    local = named(run, "Role", NOTIFIER, ALERTS_NAMESPACE)["rules"]
    assert local == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [STATE_CONFIGMAP], "verbs": ["get", "update"]},
    ]
    account = named(run, "ServiceAccount", NOTIFIER, ALERTS_NAMESPACE)
    assert account["automountServiceAccountToken"] is False


def test_only_enabled_scanners_reports_are_readable() -> None:
    run = run_stack(
        "dev", {"scanners": {"kubescape": {"enabled": False}}}, {"slack_webhook_url": "https://hooks.slack.com/services/T/B/only-trivy"}
    )
    (role,) = [r for r in of_kind(run, "ClusterRole") if r["metadata"]["name"] == "hardened-doks:security-notifier"]
    assert [rule["apiGroups"] for rule in role["rules"]] == [["aquasecurity.github.io"]]
    assert named(run, "CronJob", NOTIFIER, ALERTS_NAMESPACE)["spec"]["schedule"] == "0 * * * *"


# -- the notifier ------------------------------------------------------------------------

ENV = {"MIN_SEVERITY": "HIGH", "POD_NAMESPACE": ALERTS_NAMESPACE, "STATE_CONFIGMAP": STATE_CONFIGMAP, "CLUSTER_NAME": "prod-cluster"}


def trivy_report(namespace: str, name: str, critical: int = 0, high: int = 0, medium: int = 0) -> dict[str, Any]:
    summary = {"criticalCount": critical, "highCount": high, "mediumCount": medium, "lowCount": 3}
    return {"metadata": {"namespace": namespace, "name": name}, "report": {"summary": summary}}


class FakeApi:
    """Kubernetes list paths → items (paged two at a time); an absent path answers 404 (None)."""

    def __init__(self, lists: dict[str, list[dict]], state: Optional[dict] = None):
        self.lists, self.state, self.calls = lists, state, []

    def __call__(self, path: str) -> Optional[dict]:
        self.calls.append(path)
        base, _, query = path.partition("?")
        if base.endswith(f"/configmaps/{STATE_CONFIGMAP}"):
            return self.state
        if base not in self.lists:
            return None
        start = int(urllib.parse.parse_qs(query).get("continue", ["0"])[0])
        items = self.lists[base][start : start + 2]
        more = start + 2 < len(self.lists[base])
        return {"items": items, "metadata": {"continue": str(start + 2) if more else ""}}


VULNS = f"{notifier.TRIVY}/vulnerabilityreports"
CONFIG = f"{notifier.TRIVY}/configauditreports"
KS_VULNS = f"{notifier.KUBESCAPE}/vulnerabilitymanifestsummaries"
KS_CONFIG = f"{notifier.KUBESCAPE}/workloadconfigurationscansummaries"


def reports() -> dict[str, list[dict]]:
    return {
        VULNS: [
            trivy_report("payments", "replicaset-api-abc-api", critical=2, high=5),
            trivy_report("payments", "replicaset-worker-def-worker", medium=9),
            trivy_report("storefront", "replicaset-web-123-web", high=1),
        ],
        CONFIG: [trivy_report("storefront", "replicaset-web-123", critical=0, high=0, medium=4)],
        KS_VULNS: [{"metadata": {"namespace": "payments", "name": "api-image"}, "spec": {"severities": {"critical": {"all": 1}, "high": {"all": 0}}}}],
        KS_CONFIG: [{"metadata": {"namespace": "storefront", "name": "deployment-web"}, "spec": {"severities": {"critical": 0, "high": 3, "medium": 7}}}],
    }


def test_findings_keep_only_counts_at_or_above_the_threshold_across_scanners_and_pages() -> None:
    found = notifier.findings(FakeApi(reports()), "HIGH")
    assert found == {
        "trivy VulnerabilityReport payments/replicaset-api-abc-api": {"CRITICAL": 2, "HIGH": 5},
        "trivy VulnerabilityReport storefront/replicaset-web-123-web": {"HIGH": 1},
        "kubescape VulnerabilityManifestSummary payments/api-image": {"CRITICAL": 1},
        "kubescape WorkloadConfigurationScanSummary storefront/deployment-web": {"HIGH": 3},
    }
    assert set(notifier.findings(FakeApi(reports()), "CRITICAL")) == {
        "trivy VulnerabilityReport payments/replicaset-api-abc-api",
        "kubescape VulnerabilityManifestSummary payments/api-image",
    }
    assert len(notifier.findings(FakeApi(reports()), "MEDIUM")) == 6


def test_a_run_posts_new_findings_worst_first_and_saves_what_it_posted() -> None:
    posts: list[str] = []
    saved: list[dict] = []
    assert notifier.run(FakeApi(reports()), saved.append, posts.append, ENV) == 0
    (text,) = posts
    lines = text.splitlines()
    assert lines[0] == "hardened-doks security findings on *prod-cluster*: 4 new at or above HIGH"
    assert lines[1] == "• trivy VulnerabilityReport payments/replicaset-api-abc-api: CRITICAL 2, HIGH 5"
    assert "webhook" not in text and "lowCount" not in text
    (state,) = saved
    assert state["metadata"] == {"name": STATE_CONFIGMAP, "namespace": ALERTS_NAMESPACE}, "first run: a create"
    posted = json.loads(state["data"][notifier.STATE_KEY])
    assert posted["trivy VulnerabilityReport payments/replicaset-api-abc-api"] == {"CRITICAL": 2, "HIGH": 5}


def test_the_next_run_posts_only_what_is_new_or_grew() -> None:
    first: list[dict] = []
    notifier.run(FakeApi(reports()), first.append, lambda text: None, ENV)
    state = {**first[0], "metadata": {**first[0]["metadata"], "resourceVersion": "7"}}
    later = reports()
    later[VULNS][2] = trivy_report("storefront", "replicaset-web-123-web", high=2)  # grew
    later[VULNS].append(trivy_report("billing", "replicaset-new-1-app", critical=1))  # new
    posts: list[str] = []
    saved: list[dict] = []
    assert notifier.run(FakeApi(later, state), saved.append, posts.append, ENV) == 0
    (text,) = posts
    assert text.splitlines()[1:] == [
        "• trivy VulnerabilityReport billing/replicaset-new-1-app: CRITICAL 1",
        "• trivy VulnerabilityReport storefront/replicaset-web-123-web: HIGH 2",
    ]
    assert saved[0]["metadata"]["resourceVersion"] == "7", "later runs update the state"
    posts.clear()
    notifier.run(FakeApi(later, {**saved[0]}), lambda c: None, posts.append, ENV)
    assert posts == [], "nothing new: nothing posted"


def test_a_failed_post_fails_the_run_and_keeps_the_state() -> None:
    saved: list[dict] = []

    def broken(text: str) -> None:
        raise urllib.error.URLError("connection refused")

    assert notifier.run(FakeApi(reports()), saved.append, broken, ENV) == 1
    assert saved == [], "the findings are posted again on the next run"


def test_a_missing_scanner_is_skipped_and_a_bad_threshold_refused() -> None:
    only_trivy = {VULNS: reports()[VULNS]}
    assert set(notifier.findings(FakeApi(only_trivy), "HIGH")) == {
        "trivy VulnerabilityReport payments/replicaset-api-abc-api",
        "trivy VulnerabilityReport storefront/replicaset-web-123-web",
    }
    assert notifier.run(FakeApi({}), lambda c: None, lambda t: None, {**ENV, "MIN_SEVERITY": "SEVERE"}) == 2


def test_long_messages_are_capped() -> None:
    many = {f"trivy VulnerabilityReport ns/r{i:02d}": {"HIGH": 1} for i in range(40)}
    lines = notifier.message("c", "HIGH", many).splitlines()
    assert len(lines) == 1 + notifier.MAX_LINES + 1 and lines[-1].startswith("… and 15 more")


@pytest.mark.parametrize("scheme", ["http://hooks.slack.com/x", "file:///etc/passwd"])
def test_the_notifier_refuses_a_webhook_that_is_not_https(tmp_path, monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    url = tmp_path / "url"
    url.write_text(scheme)
    monkeypatch.setenv("SLACK_WEBHOOK_FILE", str(url))
    assert notifier.main() == 2


def test_the_notifier_may_reach_https_on_public_addresses_only_a_stated_limitation() -> None:
    # Issue 17.12: Slack publishes no stable addresses for hooks.slack.com, and a CiliumNetworkPolicy
    # toFQDNs rule needs Cilium's DNS proxy, unverified on DOKS: without it the rule learns no
    # address and every post would be dropped. So the notifier's egress is TCP 443 to public
    # addresses (never the VPC, pods, Services or the metadata address), for its own pods only;
    # this test pins that limit (docs/threat-model.md).
    run = all_addons_run()
    egress = named(run, "NetworkPolicy", "notifier-https-egress", ALERTS_NAMESPACE)["spec"]
    assert egress["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": NOTIFIER}}
    assert egress["policyTypes"] == ["Egress"]
    (rule,) = egress["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    (peer,) = rule["to"]
    assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert set(peer["ipBlock"]["except"]) == {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"}
    policies = {p["metadata"]["name"] for p in of_kind(run, "NetworkPolicy", ALERTS_NAMESPACE)}
    assert policies == {"default-deny", "allow-dns", "notifier-https-egress"}, "nothing else opens a path out"
    cilium = of_kind(run, "CiliumNetworkPolicy", ALERTS_NAMESPACE)
    assert [p["metadata"]["name"] for p in cilium] == ["notifier-kube-apiserver"]
    assert "toFQDNs" not in json.dumps(cilium), "an FQDN rule would need Cilium's DNS proxy (unverified on DOKS)"
