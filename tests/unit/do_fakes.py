"""Response bodies of the DigitalOcean API, shaped as its reference documents them (the same shapes
pydo's operation docstrings show), for the `responses` fakes of the preflight and verify tests."""

from __future__ import annotations

from typing import Any

import pytest

from hardened_doks.do_endpoint import ENDPOINT_OVERRIDE_VARS
from hardened_doks.tools import do_api

API = "https://testing.local"  # as pydo's own tests: Client("", endpoint="https://testing.local")
CLUSTER_ID = "bd5f5959-5e1e-4205-a714-a914373942af"
DROPLETS = (3164444, 3164445)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> str:
    """A token in the environment, the fake's endpoint patched in-process (the only way to point the
    tools elsewhere; tools/do_api.py); retries without waiting."""
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dop_v1_test")
    for name in ENDPOINT_OVERRIDE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(do_api, "ENDPOINT", API)
    monkeypatch.setattr(do_api, "RETRY", {**do_api.RETRY, "retry_backoff_factor": 0})
    return API


def not_found(message: str = "The resource you were accessing could not be found.") -> dict[str, Any]:
    return {"id": "not_found", "message": message, "request_id": "4d9d8375-3c56-4925-a3e7-eb137fed17e9"}


UNAUTHORIZED = {"id": "unauthorized", "message": "Unable to authenticate you"}
RATE_LIMITED = {"id": "too_many_requests", "message": "API Rate limit exceeded."}
SERVER_ERROR = {"id": "server_error", "message": "Unexpected server-side error"}


def account(status: str = "active") -> dict[str, Any]:
    return {
        "account": {
            "droplet_limit": 25,
            "floating_ip_limit": 5,
            "email": "sammy@digitalocean.com",
            "name": "Sammy the Shark",
            "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
            "email_verified": True,
            "status": status,
            "status_message": "" if status == "active" else "Your account has been locked for non-payment.",
            "team": {"uuid": "5df3e3004a17e242b7c20ca6c9fc25b701a47ece", "name": "My Team"},
        }
    }


def kubernetes_options(
    regions: tuple[str, ...] = ("nyc1", "nyc3", "fra1", "ams3", "sgp1"),
    versions: tuple[str, ...] = ("1.33.9-do.0", "1.34.4-do.0", "1.35.3-do.0"),
    sizes: tuple[str, ...] = ("s-1vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb", "s-8vcpu-16gb", "c-4"),
) -> dict[str, Any]:
    return {
        "options": {
            "regions": [{"name": slug.upper(), "slug": slug} for slug in regions],
            "versions": [
                {"slug": v, "kubernetes_version": v.split("-")[0], "supported_features": ["cluster-autoscaler", "docr-integration", "ha-control-plane"]}
                for v in versions
            ],
            "sizes": [{"name": slug, "slug": slug} for slug in sizes],
        }
    }


def size(slug: str, regions: tuple[str, ...] = ("nyc1", "nyc3", "fra1", "ams3"), available: bool = True) -> dict[str, Any]:
    return {
        "slug": slug,
        "memory": 8192,
        "vcpus": 4,
        "disk": 160,
        "transfer": 5.0,
        "price_monthly": 48.0,
        "price_hourly": 0.07143,
        "regions": list(regions),
        "available": available,
        "description": "Basic",
        "disk_info": [{"type": "local", "size": {"amount": 160, "unit": "gib"}}],
    }


def page(key: str, items: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    pages = {"next": next_url, "last": next_url} if next_url else {}
    return {key: items, "links": {"pages": pages}, "meta": {"total": len(items)}}


def vpc(name: str, ip_range: str, region: str = "nyc3") -> dict[str, Any]:
    return {
        "id": "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
        "urn": "do:vpc:5a4981aa-9653-4bd1-bef5-d6bff52042e4",
        "name": name,
        "description": "",
        "region": region,
        "ip_range": ip_range,
        "default": False,
        "created_at": "2020-03-13T19:20:47.442049222Z",
    }


def cluster(name: str = "hardened-doks-dev", enabled: bool = True, allowed: tuple[str, ...] = ("0.0.0.0/0",)) -> dict[str, Any]:
    return {
        "id": CLUSTER_ID,
        "name": name,
        "region": "nyc3",
        "version": "1.34.4-do.0",
        "cluster_subnet": "10.111.0.0/16",
        "service_subnet": "10.112.0.0/20",
        "vpc_uuid": "c33931f2-a26a-4e61-b85c-4e95a2ec431b",
        "ipv4": "68.183.121.157",
        "endpoint": f"https://{CLUSTER_ID}.k8s.ondigitalocean.com",
        "tags": ["hardened-doks", "env:dev", "k8s", f"k8s:{CLUSTER_ID}"],
        "node_pools": [
            {
                "id": "cdda885e-7663-40c8-bc74-3a036c66545d",
                "name": "system",
                "size": "s-4vcpu-8gb",
                "count": 2,
                "tags": ["hardened-doks", "k8s", f"k8s:{CLUSTER_ID}", "k8s:worker"],
                "labels": {"hardened-doks/pool": "system"},
                "taints": [],
                "auto_scale": True,
                "min_nodes": 2,
                "max_nodes": 3,
                "nodes": [
                    {
                        "id": f"478247f8-b1bb-4f7a-8db9-2a5f8d4b8f8{i}",
                        "name": f"system-cgl6{i}",
                        "status": {"state": "running"},
                        "droplet_id": str(droplet),
                        "created_at": "2018-11-15T16:00:11Z",
                        "updated_at": "2018-11-15T16:00:11Z",
                    }
                    for i, droplet in enumerate(DROPLETS)
                ],
            }
        ],
        "maintenance_policy": {"start_time": "04:00", "duration": "4h0m0s", "day": "any"},
        "auto_upgrade": True,
        "status": {"state": "running", "message": ""},
        "created_at": "2018-11-15T16:00:11Z",
        "updated_at": "2018-11-15T16:00:11Z",
        "surge_upgrade": False,
        "registry_enabled": False,
        "ha": False,
        "control_plane_firewall": {"enabled": enabled, "allowed_addresses": list(allowed)},
    }


def droplet(droplet_id: int) -> dict[str, Any]:
    return {
        "id": droplet_id,
        "name": f"system-{droplet_id}",
        "memory": 8192,
        "vcpus": 4,
        "disk": 160,
        "locked": False,
        "status": "active",
        "created_at": "2020-07-21T18:37:44Z",
        "features": ["private_networking"],
        "tags": ["k8s", f"k8s:{CLUSTER_ID}", "k8s:worker", "hardened-doks"],
        "vpc_uuid": "c33931f2-a26a-4e61-b85c-4e95a2ec431b",
        "region": {"slug": "nyc3", "name": "New York 3"},
        "size_slug": "s-4vcpu-8gb",
    }


def rule(ports: str, addresses: list[str], protocol: str = "tcp", **sources: Any) -> dict[str, Any]:
    return {"protocol": protocol, "ports": ports, "sources": {"addresses": addresses, **sources}}


def firewall(name: str, inbound: list[dict[str, Any]], tags: list[str] | None = None, outbound: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": f"bb4b2611-3d72-467b-8602-280330ecd65{len(name) % 10}",
        "name": name,
        "status": "succeeded",
        "inbound_rules": inbound,
        "outbound_rules": outbound if outbound is not None else [
            {"protocol": "tcp", "ports": "443", "destinations": {"addresses": ["0.0.0.0/0", "::/0"]}},
        ],
        "created_at": "2017-05-23T21:24:00Z",
        "droplet_ids": list(DROPLETS),
        "tags": tags or [f"k8s:{CLUSTER_ID}"],
        "pending_changes": [],
    }


def worker_firewalls(public: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The stack's own firewall and DOKS's two managed ones, as a healthy cluster has them."""
    internal = [rule("0", ["10.110.0.0/20", "10.111.0.0/16"]), rule("0", ["10.110.0.0/20"], protocol="udp")]
    return [
        firewall("hardened-doks-dev-workers", internal),
        firewall(f"k8s-{CLUSTER_ID}-worker", [rule("0", [], kubernetes_ids=[CLUSTER_ID])]),
        firewall(f"k8s-public-access-{CLUSTER_ID}", public or []),
    ]


def clusterlint(diagnostics: list[dict[str, Any]], completed: bool = True) -> dict[str, Any]:
    return {
        "run_id": "50c2f44c-011d-493e-aee5-361a4a0d1844",
        "requested_at": "2019-10-30T05:34:07Z",
        "completed_at": "2019-10-30T05:34:11Z" if completed else None,
        "diagnostics": diagnostics,
    }


def diagnostic(check: str, severity: str, message: str, kind: str = "pod", name: str = "web", namespace: str = "storefront") -> dict[str, Any]:
    return {"check_name": check, "severity": severity, "message": message, "object": {"kind": kind, "name": name, "namespace": namespace}}
