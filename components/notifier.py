"""Post new scanner findings at or above a severity to Slack: the in-cluster notifier.

Runs as the ``security-notifier`` CronJob (components/alerts.py) with the Python 3 standard
library only, so its image needs nothing else. It reads the scanners' report objects through the
Kubernetes API with its ServiceAccount, which may only read those report types (and keep one
ConfigMap of state in its own namespace):

- Trivy operator: VulnerabilityReports, ConfigAuditReports, ExposedSecretReports,
  RbacAssessmentReports and their cluster-scoped kinds (``aquasecurity.github.io/v1alpha1``,
  counts in ``report.summary``);
- Kubescape: VulnerabilityManifestSummaries and WorkloadConfigurationScanSummaries
  (``spdx.softwarecomposition.kubescape.io/v1beta1``, counts in ``spec.severities``).

A report is a finding when it counts anything at or above ``MIN_SEVERITY``. Only findings that
are new, or whose counts grew, since the last successful post are sent (the state ConfigMap holds
what was posted), so a Slack channel is not flooded with the same report every run. The message
names the scanner, kind, namespace, object and counts — never report details or any secret. A
scanner that is not installed (its API answers 404) is skipped. The webhook URL is read from a
file mounted from a Secret; a failed post exits non-zero and keeps the state, so the next run
retries.

Environment: ``MIN_SEVERITY``, ``SLACK_WEBHOOK_FILE``, ``STATE_CONFIGMAP``, ``POD_NAMESPACE``,
``CLUSTER_NAME``.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Optional

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
TRIVY = "/apis/aquasecurity.github.io/v1alpha1"
KUBESCAPE = "/apis/spdx.softwarecomposition.kubescape.io/v1beta1"
STATE_KEY = "posted.json"
MAX_LINES = 25
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"

#: Get a path of the Kubernetes API → the decoded JSON, or None when it does not exist (404).
ApiGet = Callable[[str], Optional[dict]]


def trivy_counts(item: dict) -> dict[str, int]:
    summary = (item.get("report") or {}).get("summary") or {}
    return {s: int(summary.get(f"{s.lower()}Count") or 0) for s in SEVERITIES}


def kubescape_vulnerability_counts(item: dict) -> dict[str, int]:
    severities = (item.get("spec") or {}).get("severities") or {}
    return {s: int((severities.get(s.lower()) or {}).get("all") or 0) for s in SEVERITIES}


def kubescape_configuration_counts(item: dict) -> dict[str, int]:
    severities = (item.get("spec") or {}).get("severities") or {}
    return {s: int(severities.get(s.lower()) or 0) for s in SEVERITIES}


#: (scanner, kind, list path, counts of one item).
SOURCES: tuple[tuple[str, str, str, Callable[[dict], dict[str, int]]], ...] = (
    ("trivy", "VulnerabilityReport", f"{TRIVY}/vulnerabilityreports", trivy_counts),
    ("trivy", "ConfigAuditReport", f"{TRIVY}/configauditreports", trivy_counts),
    ("trivy", "ExposedSecretReport", f"{TRIVY}/exposedsecretreports", trivy_counts),
    ("trivy", "RbacAssessmentReport", f"{TRIVY}/rbacassessmentreports", trivy_counts),
    ("trivy", "ClusterConfigAuditReport", f"{TRIVY}/clusterconfigauditreports", trivy_counts),
    ("trivy", "ClusterRbacAssessmentReport", f"{TRIVY}/clusterrbacassessmentreports", trivy_counts),
    ("kubescape", "VulnerabilityManifestSummary", f"{KUBESCAPE}/vulnerabilitymanifestsummaries", kubescape_vulnerability_counts),
    ("kubescape", "WorkloadConfigurationScanSummary", f"{KUBESCAPE}/workloadconfigurationscansummaries", kubescape_configuration_counts),
)


def list_all(api: ApiGet, path: str) -> Optional[list[dict]]:
    """Every item of a list path (following ``continue``), or None when the API is not served."""
    items: list[dict] = []
    token = ""
    while True:
        query = {"limit": "250", **({"continue": token} if token else {})}
        page = api(f"{path}?{urllib.parse.urlencode(query)}")
        if page is None:
            return None
        items += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


def findings(api: ApiGet, threshold: str) -> dict[str, dict[str, int]]:
    """Every report counting anything at or above ``threshold``: key → counts at or above it."""
    kept = SEVERITIES[SEVERITIES.index(threshold) :]
    found: dict[str, dict[str, int]] = {}
    for scanner, kind, path, counts_of in SOURCES:
        for item in list_all(api, path) or []:
            meta = item.get("metadata") or {}
            counts = {s: n for s, n in counts_of(item).items() if s in kept and n > 0}
            if counts:
                where = f"{meta['namespace']}/" if meta.get("namespace") else ""
                found[f"{scanner} {kind} {where}{meta.get('name', '?')}"] = counts
    return found


def news(posted: dict[str, dict[str, int]], current: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Findings that are new, or whose count of any severity grew, since the last post."""
    return {k: v for k, v in current.items() if any(n > posted.get(k, {}).get(s, 0) for s, n in v.items())}


def message(cluster: str, threshold: str, new: dict[str, dict[str, int]]) -> str:
    """The Slack text: scanner, kind, object and counts per finding, worst first."""
    def rank(item: tuple[str, dict[str, int]]) -> tuple:
        return tuple(-item[1].get(s, 0) for s in reversed(SEVERITIES)) + (item[0],)

    ordered = sorted(new.items(), key=rank)
    lines = [f"hardened-doks security findings on *{cluster}*: {len(new)} new at or above {threshold}"]
    for key, counts in ordered[:MAX_LINES]:
        shown = ", ".join(f"{s} {counts[s]}" for s in reversed(SEVERITIES) if counts.get(s))
        lines.append(f"• {key}: {shown}")
    if len(ordered) > MAX_LINES:
        lines.append(f"… and {len(ordered) - MAX_LINES} more (kubectl get vulnerabilityreports,configauditreports -A)")
    return "\n".join(lines)


def run(api: ApiGet, save: Callable[[dict], None], post: Callable[[str], None], env: dict[str, str]) -> int:
    """One notifier run: collect, diff against the posted state, post, save. Returns the exit code."""
    threshold = env.get("MIN_SEVERITY", "HIGH")
    if threshold not in SEVERITIES:
        print(f"notifier: MIN_SEVERITY {threshold!r} is not one of {', '.join(SEVERITIES)}", file=sys.stderr)
        return 2
    namespace, state_name = env["POD_NAMESPACE"], env["STATE_CONFIGMAP"]
    state = api(f"/api/v1/namespaces/{namespace}/configmaps/{state_name}")
    posted = json.loads(((state or {}).get("data") or {}).get(STATE_KEY) or "{}")
    current = findings(api, threshold)
    new = news(posted, current)
    if new:
        try:
            post(message(env.get("CLUSTER_NAME", "cluster"), threshold, new))
        except (urllib.error.URLError, OSError) as exc:
            print(f"notifier: posting to Slack failed: {type(exc).__name__}", file=sys.stderr)
            return 1
    print(f"notifier: {len(current)} findings at or above {threshold}, {len(new)} new posted")
    # Findings that went away are dropped, so they are posted again if they come back.
    configmap: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": state_name, "namespace": namespace}}
    if state:  # an update of the existing object, not a create
        configmap["metadata"]["resourceVersion"] = state["metadata"]["resourceVersion"]
    configmap["data"] = {STATE_KEY: json.dumps(current, sort_keys=True)}
    save(configmap)
    return 0


class Kubernetes:
    """The Kubernetes API from inside a pod: the ServiceAccount token and CA, TLS verified."""

    def __init__(self, base: str = "https://kubernetes.default.svc", account: str = SERVICE_ACCOUNT):
        self.base = base
        with open(f"{account}/token") as token:
            self.headers = {"Authorization": f"Bearer {token.read().strip()}", "Accept": "application/json"}
        self.context = ssl.create_default_context(cafile=f"{account}/ca.crt")

    def request(self, method: str, path: str, body: Optional[dict] = None) -> Optional[dict]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if data else {})}
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def get(self, path: str) -> Optional[dict]:
        return self.request("GET", path)

    def save(self, configmap: dict) -> None:
        meta = configmap["metadata"]
        path = f"/api/v1/namespaces/{meta['namespace']}/configmaps"
        if meta.get("resourceVersion"):
            self.request("PUT", f"{path}/{meta['name']}", configmap)
        else:
            self.request("POST", path, configmap)


def slack(url: str) -> Callable[[str], None]:
    def post(text: str) -> None:
        request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=15, context=ssl.create_default_context()):
            pass

    return post


def read_webhook(path: str) -> Optional[str]:
    """The webhook URL from its Secret file, or None after saying on stderr why it cannot be read.

    An unreadable file names the file's owner and mode and the process's user and groups (never
    the content), since every run fails until the pod's securityContext lets it read the file.
    """
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError as exc:
        try:
            st = os.stat(path)
            owner = f"owned by {st.st_uid}:{st.st_gid}, mode {st.st_mode & 0o777:04o}"
        except OSError:
            owner = "not found"
        print(
            f"notifier: cannot read the Slack webhook file {path} ({type(exc).__name__}; the file is {owner}; this process "
            f"runs as {os.getuid()}:{os.getgid()}, groups {sorted(os.getgroups())}): give the pod an fsGroup the file can be read with",
            file=sys.stderr,
        )
        return None


def main(env: Optional[dict[str, str]] = None, api: str = "https://kubernetes.default.svc", account: str = SERVICE_ACCOUNT) -> int:
    """One run in the pod: the webhook from its file, the API through the ServiceAccount (``api`` and
    ``account`` are the in-cluster ones; tests pass a loopback server and a folder of their own)."""
    env = dict(os.environ) if env is None else env
    url = read_webhook(env["SLACK_WEBHOOK_FILE"])
    if url is None:
        return 2
    if not url.startswith("https://"):
        print("notifier: the Slack webhook is not an https URL; not posting", file=sys.stderr)
        return 2
    kube = Kubernetes(api, account)
    return run(kube.get, kube.save, slack(url), env)


if __name__ == "__main__":
    sys.exit(main())
