"""Post-deploy verification of a stack's DOKS cluster against the live DigitalOcean API.

    python -m hardened_doks.tools.verify --stack dev [--cluster-id ID] [--json] [--lint-fail-on error]

With pydo:

1. the control-plane firewall is enabled and allows exactly the configured
   ``api_allowlist`` (no address more, none missing);
2. no cloud firewall attached to the cluster's worker Droplets — the stack's own, DOKS's
   two managed ones, any other — opens SSH (22), the kubelet (10250) or the NodePort range
   (30000-32767) to 0.0.0.0/0 or ::/0. A Droplet's effective rules are the union of all
   of them, so every one is checked; a warning names any other firewall that lets DNS
   (port 53) out to the internet, which voids the stack's restriction of DNS to the resolvers;
3. a DOKS clusterlint run, its diagnostics reported by severity; those at or above
   ``--lint-fail-on`` (default: error) count as violations.

The cluster is the stack's ``cluster_name`` (or ``--cluster-id``, e.g. from
``pulumi stack output cluster_id``). Exit 0 when clean, 1 on any violation, 2 when the
checks could not run.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import time
from collections import Counter
from typing import Any, Optional

import pydo

from hardened_doks.config import StackConfig
from hardened_doks.firewall import worker_tag
from hardened_doks.policy.exposure import exposures, is_internet, port_range
from hardened_doks.tools import do_api
from hardened_doks.tools.checks import Report, key, main as checks_main

LINT_SEVERITIES = ("error", "warning", "suggestion")
#: How long to wait for a clusterlint run, and how often to ask.
LINT_TIMEOUT_SECONDS = 180.0
LINT_POLL_SECONDS = 5.0


def public_exposures(firewall: dict[str, Any]) -> list[str]:
    """What a firewall (API shape) opens to the whole internet among SSH, kubelet and NodePorts."""
    found: list[str] = []
    for rule in firewall.get("inbound_rules") or []:
        addresses = (rule.get("sources") or {}).get("addresses") or []
        found += exposures(rule.get("protocol"), rule.get("ports"), addresses, rule.get("action", "allow"))
    return found


def internet_dns(firewall: dict[str, Any]) -> list[str]:
    """The outbound rules of a firewall (API shape) that let port 53 out to the whole internet."""
    found: list[str] = []
    for rule in firewall.get("outbound_rules") or []:
        addresses = [str(a) for a in (rule.get("destinations") or {}).get("addresses") or [] if is_internet(a)]
        low, high = port_range(rule.get("ports"))
        if rule.get("protocol") in ("tcp", "udp") and addresses and low <= 53 <= high:
            found.append(f"{rule['protocol']} ports {rule.get('ports') or 'all'} to {', '.join(addresses)}")
    return found


def find_cluster(client: pydo.Client, config: StackConfig, cluster_id: Optional[str]) -> dict[str, Any]:
    if cluster_id:
        return do_api.request(f"GET /v2/kubernetes/clusters/{cluster_id}", client.kubernetes.get_cluster, cluster_id)[
            "kubernetes_cluster"
        ]
    clusters = do_api.paginate("GET /v2/kubernetes/clusters", client.kubernetes.list_clusters, "kubernetes_clusters")
    named = [c for c in clusters if c.get("name") == config.cluster_name]
    if len(named) != 1:
        found = "no cluster" if not named else f"{len(named)} clusters"
        raise do_api.ApiError(
            f"{found} named {config.cluster_name!r} in this account ({key('cluster_name')}); "
            "deploy the stack first, or pass --cluster-id"
        )
    return named[0]


def check_control_plane_firewall(cluster: dict[str, Any], config: StackConfig, report: Report) -> None:
    firewall = cluster.get("control_plane_firewall") or {}
    report.add(
        "control-plane-firewall",
        firewall.get("enabled") is True,
        "control-plane firewall is enabled" if firewall.get("enabled") else "the control-plane firewall is disabled",
        key("api_allowlist"),
    )
    actual = {str(ipaddress.ip_network(a, strict=False)) for a in firewall.get("allowed_addresses") or []}
    expected = {str(ipaddress.ip_network(a)) for a in config.api_allowlist}
    extra, missing = sorted(actual - expected), sorted(expected - actual)
    problems = ([f"allows {', '.join(extra)} which is not configured"] if extra else []) + (
        [f"does not allow configured {', '.join(missing)}"] if missing else []
    )
    report.add(
        "control-plane-allowlist",
        not problems,
        "; ".join(problems) if problems else f"API allowlist is exactly the configured {', '.join(sorted(expected))}",
        key("api_allowlist"),
    )
    report.details["control_plane_firewall"] = {"enabled": firewall.get("enabled"), "allowed_addresses": sorted(actual)}


def worker_firewalls(client: pydo.Client, cluster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every firewall attached to any of the cluster's worker Droplets, by id."""
    droplet_ids = {
        int(node["droplet_id"])
        for pool in cluster.get("node_pools") or []
        for node in pool.get("nodes") or []
        if str(node.get("droplet_id") or "").isdigit()
    }
    tagged = do_api.paginate("GET /v2/droplets", client.droplets.list, "droplets", tag_name=worker_tag(cluster["id"]))
    droplet_ids |= {int(d["id"]) for d in tagged if "id" in d}
    firewalls: dict[str, dict[str, Any]] = {}
    for droplet_id in sorted(droplet_ids):
        for firewall in do_api.paginate(
            f"GET /v2/droplets/{droplet_id}/firewalls", client.droplets.list_firewalls, "firewalls", droplet_id
        ):
            firewalls.setdefault(firewall.get("id", firewall.get("name", "?")), firewall)
    return firewalls


def check_worker_firewalls(client: pydo.Client, cluster: dict[str, Any], config: StackConfig, report: Report) -> None:
    firewalls = worker_firewalls(client, cluster)
    names = sorted(str(f.get("name", f.get("id"))) for f in firewalls.values())
    own = f"{config.cluster_name}-workers"  # components/firewall.py
    report.add(
        "worker-firewall-attached",
        own in names,
        f"the stack's firewall {own} is attached to the workers"
        if own in names
        else f"not attached to the workers (attached: {', '.join(names) or 'none'})",
        "firewall " + own,
    )
    for firewall in firewalls.values():
        exposures = public_exposures(firewall)
        name = str(firewall.get("name", firewall.get("id")))
        report.add(
            "worker-firewall",
            not exposures,
            "opens " + "; ".join(exposures)
            if exposures
            else f"firewall {name} opens no SSH, kubelet or NodePort to the internet",
            "firewall " + name,
        )
        dns = internet_dns(firewall) if name != own else []
        if dns:
            report.add(
                "worker-firewall-egress",
                False,
                f"allows outbound {'; '.join(dns)}: the stack's restriction of DNS to {', '.join(config.worker_firewall.dns_resolvers) or 'the VPC'} "
                "is not in force while it does (the workers' outbound rules are the union of their firewalls)",
                "firewall " + name,
                severity="warning",
            )
    report.details["worker_firewalls"] = names


def run_clusterlint(client: pydo.Client, cluster_id: str) -> dict[str, Any]:
    """Start a clusterlint run and wait (LINT_TIMEOUT_SECONDS) for its diagnostics."""
    timeout = LINT_TIMEOUT_SECONDS
    started = do_api.request(
        f"POST /v2/kubernetes/clusters/{cluster_id}/clusterlint", client.kubernetes.run_cluster_lint, cluster_id, {}
    )
    run_id = started.get("run_id")
    if not run_id:
        raise do_api.ApiError("POST clusterlint: the response has no run_id")
    deadline = time.monotonic() + timeout
    while True:
        try:
            results = do_api.request(
                f"GET /v2/kubernetes/clusters/{cluster_id}/clusterlint?run_id={run_id}",
                client.kubernetes.get_cluster_lint_results,
                cluster_id,
                run_id=run_id,
            )
        except do_api.NotFound:
            results = {}  # the run is not recorded yet
        if results.get("completed_at"):
            return results
        if time.monotonic() >= deadline:
            raise do_api.ApiError(f"clusterlint run {run_id} did not complete within {timeout:.0f} s")
        time.sleep(LINT_POLL_SECONDS)


def check_clusterlint(client: pydo.Client, cluster_id: str, fail_on: str, report: Report) -> None:
    results = run_clusterlint(client, cluster_id)
    diagnostics = results.get("diagnostics") or []
    counts = Counter(str(d.get("severity", "unknown")) for d in diagnostics)
    failing = set(LINT_SEVERITIES[: LINT_SEVERITIES.index(fail_on) + 1]) if fail_on != "none" else set()
    for diagnostic in sorted(diagnostics, key=lambda d: (_severity_rank(d.get("severity")), d.get("check_name", ""))):
        obj = diagnostic.get("object") or {}
        where = "/".join(p for p in (obj.get("kind"), obj.get("namespace"), obj.get("name")) if p)
        severity = str(diagnostic.get("severity", "unknown"))
        report.add(
            "clusterlint",
            False,
            f"[{severity}] {where}: {diagnostic.get('message')}",
            "clusterlint " + str(diagnostic.get("check_name")),
            severity="error" if severity in failing else "warning",
        )
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in LINT_SEVERITIES)
    report.add("clusterlint", True, f"clusterlint run {results.get('run_id')}: {summary}")
    report.details["clusterlint"] = {
        "run_id": results.get("run_id"),
        "completed_at": results.get("completed_at"),
        "by_severity": {s: counts.get(s, 0) for s in LINT_SEVERITIES},
        "fail_on": fail_on,
        "diagnostics": diagnostics,
    }


def _severity_rank(severity: Any) -> int:
    return LINT_SEVERITIES.index(severity) if severity in LINT_SEVERITIES else len(LINT_SEVERITIES)


def run(client: Optional[pydo.Client], stack: str, config: StackConfig, args: argparse.Namespace, report: Report) -> None:
    if config.existing_cluster or client is None:
        raise do_api.ApiError("existing-cluster mode: the stack creates no DOKS cluster to verify")
    cluster = find_cluster(client, config, args.cluster_id)
    report.details["cluster"] = {"id": cluster.get("id"), "name": cluster.get("name"), "region": cluster.get("region")}
    check_control_plane_firewall(cluster, config, report)
    check_worker_firewalls(client, cluster, config, report)
    if args.lint_fail_on != "skip":
        check_clusterlint(client, cluster["id"], args.lint_fail_on, report)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster-id", help="DOKS cluster UUID (default: the cluster named cluster_name)")
    parser.add_argument(
        "--lint-fail-on",
        choices=(*LINT_SEVERITIES, "none", "skip"),
        default="error",
        help="lowest clusterlint severity that fails verification (none: report only; skip: do not run clusterlint)",
    )


def _refuse(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.cluster_id and args.all:
        parser.error("--cluster-id names one cluster: use it with --stack, not --all")


def main(argv: Optional[list[str]] = None) -> int:
    return checks_main("verify", __doc__.splitlines()[0], run, argv, add_arguments=_arguments, check_arguments=_refuse)


if __name__ == "__main__":
    sys.exit(main())
