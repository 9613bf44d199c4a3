"""A Kubernetes control plane on loopback with simulated nodes: etcd, kube-apiserver,
kube-controller-manager (the controllers listed in :data:`CONTROLLERS`), kube-scheduler and kwok.

RBAC authorization and Pod Security admission are on (as on DOKS); serving and client
certificates are generated here; an admin kubeconfig is written. kwok stands in for the
kubelets: it keeps the Node objects the tests create Ready (with a lease) and plays the pods the
scheduler binds to them through kwok's default stages (bin/kwok-stages.yaml from
scripts/toolchain.sh: Running; Succeeded for pods of Jobs; removed when deleted). No container
runs: pods are created by the real controllers, admitted by the real admission chain, placed by
the real scheduler, and nothing else.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

START_TIMEOUT_SECONDS = 90
#: The kube-controller-manager controllers the tests rely on: the garbage collector (Pulumi
#: deletes with foreground propagation, whose finalizer only it removes) and namespace deletion;
#: the workload controllers that turn Deployments, DaemonSets, StatefulSets and Jobs into pods;
#: the PersistentVolume binder (claims bind to the pre-provisioned volumes of
#: :meth:`LocalControlPlane.install_doks_storage`); the ResourceQuota controller (it computes each
#: quota's status, which the engine waits for and without which quota admission refuses every pod
#: of a namespace with a quota). Left out on purpose: ``cronjob`` (schedules
#: would fire at wall-clock times during a run; tests trigger a CronJob's Job themselves, as
#: ``kubectl create job --from=cronjob/…`` does), ``serviceaccount`` (the stack creates the
#: default ServiceAccounts it manages), the endpoints/EndpointSlice controllers (no traffic flows
#: between simulated pods, and neither Helm's wait nor the engine waits for a chart's Service to
#: have endpoints) and the disruption controller (nothing evicts pods here, so no
#: PodDisruptionBudget is ever consulted). The node lifecycle controller is on: it lifts the
#: ``node.kubernetes.io/not-ready`` taint admission puts on every new Node once kwok reports it
#: Ready (and would taint a node whose lease kwok stopped renewing).
CONTROLLERS: tuple[str, ...] = (
    "garbage-collector-controller",
    "namespace-controller",
    "deployment-controller",
    "replicaset-controller",
    "daemonset-controller",
    "statefulset-controller",
    "job-controller",
    "persistentvolume-binder-controller",
    "resourcequota-controller",
    "node-lifecycle-controller",
)
#: The taint admission (TaintNodesByCondition) puts on every new Node until it is Ready.
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
#: The pod address range kwok hands out (DOKS's default cluster subnet).
POD_CIDR = "10.244.0.1/16"
#: DOKS's default StorageClass (its CSI driver provisions DigitalOcean Volumes).
DOKS_STORAGE_CLASS = "do-block-storage"
DOKS_CSI_DRIVER = "dobs.csi.digitalocean.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _cert(
    subject: x509.Name,
    key: Any,
    issuer: Optional[tuple[x509.Name, Any]] = None,
    *,
    ca: bool = False,
    sans: Optional[list[x509.GeneralName]] = None,
    usage: Optional[list[x509.ObjectIdentifier]] = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(common_name: str, organization: Optional[str] = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


@dataclass
class Certificates:
    ca: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_pub: Path


def generate_certificates(folder: Path) -> Certificates:
    """A CA, the API server's serving certificate, an admin client certificate, SA keys."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("hardened-doks-e2e-ca")
    ca_cert = _cert(ca_name, ca_key, ca=True)
    serving_key = _key()
    serving = _cert(
        _name("kube-apiserver"),
        serving_key,
        (ca_name, ca_key),
        sans=[x509.DNSName("localhost"), x509.DNSName("kubernetes.default.svc"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        usage=[x509.oid.ExtendedKeyUsageOID.SERVER_AUTH],
    )
    admin_key = _key()
    # system:masters: the bootstrap superuser group (what Pulumi and the tests act as).
    admin = _cert(_name("e2e-admin", "system:masters"), admin_key, (ca_name, ca_key), usage=[x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def write(name: str, data: bytes) -> Path:
        path = folder / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    pem = serialization.Encoding.PEM
    return Certificates(
        ca=write("ca.crt", ca_cert.public_bytes(pem)),
        serving_cert=write("apiserver.crt", serving.public_bytes(pem)),
        serving_key=write("apiserver.key", _pem_key(serving_key)),
        admin_cert=write("admin.crt", admin.public_bytes(pem)),
        admin_key=write("admin.key", _pem_key(admin_key)),
        service_account_key=write("sa.key", _pem_key(sa_key)),
        service_account_pub=write(
            "sa.pub", sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
        ),
    )


class LocalControlPlane:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on free loopback
    ports; use as a context manager."""

    def __init__(self, bin_dir: Path, workdir: Optional[Path] = None, controllers: tuple[str, ...] = CONTROLLERS):
        self.bin_dir = bin_dir
        self.controllers = controllers
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="hardened-doks-e2e-"))
        self.processes: list[subprocess.Popen[bytes]] = []
        self.api_port = 0
        self.certs: Optional[Certificates] = None
        self.kubeconfig_path = self.workdir / "admin.kubeconfig"

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> "LocalControlPlane":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # closed with the process
        process = subprocess.Popen(
            [str(self.bin_dir / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills all of it
        )
        self.processes.append(process)
        return process

    def start(self) -> None:
        self.certs = certs = generate_certificates(self.workdir / "pki")
        etcd_port, peer_port, self.api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait(lambda: requests.get(f"{etcd_url}/health", timeout=2).ok, "etcd")
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # No kubelets or controllers here: do not publish an endpoint for the
                # "kubernetes" Service (loopback addresses are refused in Endpoints).
                "--endpoint-reconciler-type=none",
                f"--secure-port={self.api_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={certs.serving_cert}",
                f"--tls-private-key-file={certs.serving_key}",
                f"--client-ca-file={certs.ca}",
                f"--service-account-key-file={certs.service_account_pub}",
                f"--service-account-signing-key-file={certs.service_account_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.112.0.0/20",
                # As on DOKS: RBAC authorization, Pod Security admission (on by default).
                "--authorization-mode=RBAC",
                "--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,PodSecurity,LimitRanger,ResourceQuota",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=0",
            ],
        )
        self._wait(lambda: self.get("/readyz").ok, "kube-apiserver")
        self.kubeconfig_path.write_text(yaml.safe_dump(self.kubeconfig()))
        component_auth = [
            f"--kubeconfig={self.kubeconfig_path}",
            f"--authentication-kubeconfig={self.kubeconfig_path}",
            f"--authorization-kubeconfig={self.kubeconfig_path}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
        ]
        self._spawn(
            "kube-controller-manager",
            [*component_auth, f"--controllers={','.join(self.controllers)}", f"--secure-port={free_port()}", "--v=0"],
        )
        self._spawn("kube-scheduler", [*component_auth, f"--secure-port={free_port()}", "--v=0"])
        self._spawn(
            "kwok",
            [
                f"--kubeconfig={self.kubeconfig_path}",
                # kwok's default stages (nodes Ready with a lease; pods Running; Job pods Succeeded).
                f"--config={self.bin_dir / 'kwok-stages.yaml'}",
                # Every node of this API server is a simulated one.
                "--manage-all-nodes=true",
                # A lease per node, renewed by kwok (kwokctl's default; the node lifecycle controller
                # reads node health from it).
                "--node-lease-duration-seconds=40",
                f"--cidr={POD_CIDR}",
            ],
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _wait(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.processes):
                raise RuntimeError(f"{what} exited early; log:\n{self.log_tail(what)}")
            try:
                if ready():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{what} not ready after {START_TIMEOUT_SECONDS}s; log:\n{self.log_tail(what)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        known = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
        path = self.workdir / f"{name if name in known else 'kube-apiserver'}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- access --------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def kubeconfig(self) -> dict[str, Any]:
        """An admin kubeconfig with the certificates inline (usable from any directory)."""
        import base64

        assert self.certs is not None

        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "e2e", "cluster": {"server": self.server, "certificate-authority-data": b64(self.certs.ca)}}],
            "users": [
                {
                    "name": "e2e-admin",
                    "user": {"client-certificate-data": b64(self.certs.admin_cert), "client-key-data": b64(self.certs.admin_key)},
                }
            ],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e-admin"}}],
            "current-context": "e2e",
        }

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request as the admin. TLS settings are passed per request: a session's
        would lose to REQUESTS_CA_BUNDLE from the environment."""
        assert self.certs is not None
        return requests.request(
            method,
            self.server + path,
            cert=(str(self.certs.admin_cert), str(self.certs.admin_key)),
            verify=str(self.certs.ca),
            timeout=30,
            **kwargs,
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def install_crd(self, manifest: Path) -> None:
        """Create a CustomResourceDefinition and wait until it is served."""
        crd = yaml.safe_load(manifest.read_text())
        created = self.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
        if created.status_code not in (201, 409):
            raise RuntimeError(f"creating CRD {crd['metadata']['name']}: {created.status_code} {created.text[:500]}")
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"

        def established() -> bool:
            conditions = (self.get(path).json().get("status") or {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        self._wait(established, f"CRD {crd['metadata']['name']}")

    def create(self, path: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """POST an object (a collection path such as ``/api/v1/nodes``); fails loudly."""
        created = self.request("POST", path, json=manifest)
        if created.status_code != 201:
            raise RuntimeError(f"creating {manifest['kind']} {manifest['metadata']['name']}: {created.status_code} {created.text[:500]}")
        return created.json()

    def wait_for(self, ready: Any, what: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Poll ``ready()`` until it is true, or fail naming ``what``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.5)
        raise TimeoutError(f"{what}: not reached after {timeout:.0f}s")

    def add_nodes(self, nodes: list[dict[str, Any]]) -> None:
        """Register Nodes (with their capacity, as kubelets do) and wait until they take pods: kwok
        reports them Ready and the node lifecycle controller has lifted the not-ready taint that
        admission gives every new Node."""
        for node in nodes:
            self.create("/api/v1/nodes", node)

        def ready() -> bool:
            for node in nodes:
                live = self.get(f"/api/v1/nodes/{node['metadata']['name']}").json()
                conditions = {c["type"]: c["status"] for c in (live.get("status") or {}).get("conditions") or []}
                taints = {t["key"] for t in live["spec"].get("taints") or []}
                if conditions.get("Ready") != "True" or NOT_READY_TAINT in taints:
                    return False
            return True

        self.wait_for(ready, f"{len(nodes)} nodes Ready and untainted (kwok log:\n{self.log_tail('kwok')})")

    def install_doks_storage(self, volumes: int = 2, size: str = "20Gi") -> None:
        """What DOKS provides for persistent volumes: its default StorageClass, and, in place of the
        CSI driver's provisioning (not available here), pre-provisioned volumes of that class that
        the PersistentVolume binder binds claims to."""
        self.create(
            "/apis/storage.k8s.io/v1/storageclasses",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": DOKS_STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": DOKS_CSI_DRIVER,
                "reclaimPolicy": "Delete",
                "allowVolumeExpansion": True,
                "volumeBindingMode": "Immediate",
            },
        )
        for i in range(volumes):
            self.create(
                "/api/v1/persistentvolumes",
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolume",
                    "metadata": {"name": f"e2e-volume-{i}"},
                    "spec": {
                        "capacity": {"storage": size},
                        "accessModes": ["ReadWriteOnce"],
                        "persistentVolumeReclaimPolicy": "Retain",
                        "storageClassName": DOKS_STORAGE_CLASS,
                        "csi": {"driver": DOKS_CSI_DRIVER, "volumeHandle": f"e2e-volume-{i}", "fsType": "ext4"},
                    },
                },
            )
