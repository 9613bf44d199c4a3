"""The notifier's real code, run the way its pod runs it: as the pod's UID and groups, against a
webhook file with the owner, group and mode the kubelet gives that Secret volume with the stack's
settings (tests/unit/kubelet.py), and against a fake Kubernetes API and a fake Slack on loopback
(TLS, with a CA of the test's own).

The script comes from the rendered ConfigMap and runs on the system's python3 with the standard
library only, as in the pod. Creating root-owned files and dropping to another UID needs root.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import pytest

from hardened_doks import notifier
from hardened_doks.addons.notifier import NOTIFIER, STATE_CONFIGMAP
from hardened_doks.addons.notifier import ALERTS_NAMESPACE
from tests.conftest import all_addons_run
from tests.e2e.controlplane import generate_certificates
from tests.unit import kubelet
from tests.unit.manifests import named

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: root-owned Secret files and a process that drops to the pod's UID")

SA_TOKEN = "notifier-sa-token"
REPORT = {"metadata": {"namespace": "payments", "name": "replicaset-api-abc-api"}, "report": {"summary": {"criticalCount": 2, "highCount": 1}}}
#: A python3 the pod's user can run (the virtualenv's lives under root's home).
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")


class Recorder(BaseHTTPRequestHandler):
    """Answers as the fake it is given (``server.answer``) and records every request."""

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        status, answer = self.server.answer(self.command, self.path, self.headers, body)  # type: ignore[attr-defined]
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _handle


def kubernetes_api(method: str, path: str, headers: Any, body: Optional[dict]) -> tuple[int, Any]:
    """The notifier's view of the API: one critical VulnerabilityReport, no state yet, no Kubescape."""
    if headers.get("Authorization") != f"Bearer {SA_TOKEN}":
        return 401, {"kind": "Status", "code": 401}
    base = path.partition("?")[0]
    if method == "GET" and base == f"{notifier.TRIVY}/vulnerabilityreports":
        return 200, {"items": [REPORT], "metadata": {}}
    if method == "POST" and base == f"/api/v1/namespaces/{ALERTS_NAMESPACE}/configmaps":
        return 201, body
    return 404, {"kind": "Status", "code": 404}


def slack(method: str, path: str, headers: Any, body: Optional[dict]) -> tuple[int, Any]:
    return (200, "ok") if method == "POST" and path == "/services/T0000/B0000/webhook" else (404, "no_service")


@contextmanager
def https_server(answer: Any, cert: Path, key: Path) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.requests, server.answer = [], answer  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def place(path: Path, data: str, attributes: kubelet.FileAttributes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text(data)
    os.chown(path, attributes.uid, attributes.gid)
    os.chmod(path, attributes.mode)


def run_notifier(pod: dict[str, Any], script: str) -> tuple[subprocess.CompletedProcess[str], list, list]:
    """Lay out the pod's files as the kubelet would, run the notifier as the pod's user, return
    the process and the requests the fake API server and the fake Slack received."""
    assert PYTHON, "no python3 in /usr/local/bin, /usr/bin or /bin"
    (container,) = pod["containers"]
    user = kubelet.process(pod, container)
    root = Path(tempfile.mkdtemp(prefix="notifier-pod-", dir="/tmp"))
    try:
        root.chmod(0o755)
        certs = generate_certificates(root / "pki")  # root-only: read by the fake servers
        ca = certs.ca.read_text()
        mounts = {m["name"]: root / m["mountPath"].lstrip("/") for m in container["volumeMounts"]}
        # The script from its ConfigMap volume (defaultMode 0444, as rendered).
        place(mounts["script"] / "notify.py", script, kubelet.FileAttributes(0, 0, 0o444))
        # The ServiceAccount volume (not the subject here): a token the pod's user may read, the CA.
        account = root / "serviceaccount"
        place(account / "token", SA_TOKEN, kubelet.FileAttributes(user.uid, 0, 0o600))
        place(account / "ca.crt", ca, kubelet.FileAttributes(0, 0, 0o644))
        place(root / "trust" / "ca.pem", ca, kubelet.FileAttributes(0, 0, 0o644))  # Slack's CA, as the image's trust store
        with https_server(kubernetes_api, certs.serving_cert, certs.serving_key) as api, https_server(slack, certs.serving_cert, certs.serving_key) as hooks:
            webhook = f"https://127.0.0.1:{hooks.server_address[1]}/services/T0000/B0000/webhook"
            webhook_file = root / next(e["value"] for e in container["env"] if e["name"] == "SLACK_WEBHOOK_FILE").lstrip("/")
            assert webhook_file.parent == mounts["webhook"]
            # The subject: the webhook file exactly as the kubelet writes it for this pod spec.
            place(webhook_file, webhook, kubelet.secret_file(pod, "webhook", "url"))
            env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
            env.update(
                SLACK_WEBHOOK_FILE=str(webhook_file), POD_NAMESPACE=ALERTS_NAMESPACE, SSL_CERT_FILE=str(root / "trust" / "ca.pem"), PATH="/usr/bin:/bin"
            )
            code = "import sys; sys.path.insert(0, sys.argv[1]); import notify; sys.exit(notify.main(api=sys.argv[2], account=sys.argv[3]))"
            api_url = f"https://127.0.0.1:{api.server_address[1]}"
            result = subprocess.run(
                [PYTHON, "-I", "-c", code, str(mounts["script"]), api_url, str(account)],
                env=env,
                user=user.uid,
                group=user.gid,
                extra_groups=list(user.groups),
                capture_output=True,
                text=True,
                timeout=60,
                cwd=root,
            )
            return result, api.requests, hooks.requests  # type: ignore[attr-defined]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def notifier_pod() -> tuple[dict[str, Any], str]:
    run = all_addons_run()
    pod = named(run, "CronJob", NOTIFIER, ALERTS_NAMESPACE)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return copy.deepcopy(pod), named(run, "ConfigMap", NOTIFIER, ALERTS_NAMESPACE)["data"]["notify.py"]


def test_the_notifier_reads_its_webhook_as_its_own_user_and_posts_to_slack() -> None:
    pod, script = notifier_pod()
    attributes = kubelet.secret_file(pod, "webhook", "url")
    user = kubelet.process(pod, pod["containers"][0])
    assert user.uid != 0 and attributes.uid != user.uid, "the file is root's, the process is not root: only the group can grant the read"
    assert attributes.mode & 0o004 == 0, "the webhook is not world-readable"
    result, api_requests, slack_requests = run_notifier(pod, script)
    assert result.returncode == 0, result.stderr
    (post,) = slack_requests
    assert post[0] == "POST" and "CRITICAL 2, HIGH 1" in post[3]["text"] and "payments/replicaset-api-abc-api" in post[3]["text"]
    saved = [r for r in api_requests if r[0] == "POST"]
    assert [r[3]["metadata"]["name"] for r in saved] == [STATE_CONFIGMAP], "the state is saved after the post"


def test_a_webhook_file_the_user_cannot_read_fails_the_run_and_says_why() -> None:
    # The finding of issue 17.1: defaultMode 0400 and no fsGroup, so the file is root:root 0400.
    pod, script = notifier_pod()
    del pod["securityContext"]["fsGroup"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "webhook"]
    volume["secret"]["defaultMode"] = 0o400
    result, _, slack_requests = run_notifier(pod, script)
    assert result.returncode == 2 and slack_requests == []
    assert "cannot read the Slack webhook file" in result.stderr and "owned by 0:0, mode 0400" in result.stderr
    assert "runs as 65534:65534" in result.stderr and "Traceback" not in result.stderr
    assert "https://" not in result.stderr, "the webhook is never printed"
