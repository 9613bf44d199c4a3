"""Preflight: check a stack's config against the live DigitalOcean account before `pulumi up`.

    python -m hardened_doks.tools.preflight --stack dev [--json]

Checks, with pydo: the token works and the account is active; the region offers DOKS;
every node pool size is offered for DOKS and available in that region; the Kubernetes
version prefix matches a supported DOKS release; the VPC, pod and service ranges do not
collide with a VPC already in the account (the stack's own VPC excepted). Each failure is
one line naming the stack-config key to fix. Exit 0 when all pass, 1 when one fails, 2 when
the checks could not run. `scripts/up.sh` runs it before `pulumi up`
(skip with HARDENED_DOKS_SKIP_PREFLIGHT=1).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import Any, Optional

import pydo

from hardened_doks.config import NodePool, StackConfig
from hardened_doks.network import vpc_args
from hardened_doks.stack import network_args
from hardened_doks.tools import do_api
from hardened_doks.tools.checks import Report, key, main as checks_main


def _minor(version_slug: str) -> str:
    return ".".join(version_slug.split("-")[0].split(".")[:2])


def check_token(client: pydo.Client, report: Report) -> None:
    account = do_api.request("GET /v2/account", client.account.get).get("account") or {}
    status = account.get("status", "unknown")
    team = (account.get("team") or {}).get("name")
    owner = f"team {team}" if team else "personal account"
    report.add(
        "token",
        status == "active",
        f"token accepted ({owner}, status {status})"
        + ("" if status == "active" else f": {account.get('status_message') or 'the account cannot create resources'}"),
        do_api.TOKEN_ENV_VARS[0],
    )


def check_options(client: pydo.Client, config: StackConfig, report: Report) -> None:
    """Region, version prefix and node sizes against /v2/kubernetes/options and /v2/sizes."""
    options = do_api.request("GET /v2/kubernetes/options", client.kubernetes.list_options).get("options")
    if not isinstance(options, dict):
        raise do_api.ApiError("GET /v2/kubernetes/options: the response has no 'options' object")
    regions = sorted(r["slug"] for r in options.get("regions") or [] if r.get("slug"))
    versions = [v["slug"] for v in options.get("versions") or [] if v.get("slug")]
    doks_sizes = {s["slug"] for s in options.get("sizes") or [] if s.get("slug")}

    region_ok = config.region in regions
    report.add(
        "region",
        region_ok,
        f"region {config.region} offers DOKS"
        if region_ok
        else f"DOKS is not offered in {config.region!r}; regions with DOKS: {', '.join(regions) or 'none'}",
        key("region"),
    )

    prefix = config.kubernetes_version_prefix
    matching = [v for v in versions if v.startswith(prefix + ".")]
    minors = sorted({_minor(v) for v in versions}, key=lambda m: [int(x) for x in m.split(".")])
    report.add(
        "version",
        bool(matching),
        f"Kubernetes {prefix}: DOKS offers {', '.join(matching)}"
        if matching
        else f"no DOKS release of Kubernetes {prefix}; supported minors: {', '.join(minors) or 'none'}",
        key("kubernetes_version_prefix"),
    )

    sizes = {s["slug"]: s for s in do_api.paginate("GET /v2/sizes", client.sizes.list, "sizes") if s.get("slug")}
    pools: list[tuple[str, NodePool]] = [("system_pool", config.system_pool)]
    pools += [(f"workload_pools[{i}]", pool) for i, pool in enumerate(config.workload_pools)]
    for path, pool in pools:
        size = sizes.get(pool.size) or {}
        if pool.size not in doks_sizes:
            ok, why = False, f"{pool.size} is not offered for DOKS nodes (see `doctl kubernetes options sizes`)"
        elif not size.get("available", False) or config.region not in (size.get("regions") or []):
            ok, why = False, f"{pool.size} is not available in {config.region}"
        else:
            ok, why = True, f"node pool {pool.name}: {pool.size} is available for DOKS in {config.region}"
        report.add("size", ok, why, key(f"{path}.size"))


def check_vpc_ranges(client: pydo.Client, config: StackConfig, report: Report) -> None:
    """The stack's ranges against every VPC in the account (VPC ranges may not overlap)."""
    own_name = vpc_args(network_args(config))["name"]
    others: list[tuple[str, ipaddress.IPv4Network, dict[str, Any]]] = []
    for vpc in do_api.paginate("GET /v2/vpcs", client.vpcs.list, "vpcs"):
        if vpc.get("name") == own_name or not vpc.get("ip_range"):
            continue  # the VPC this stack created on an earlier run
        try:
            others.append((vpc.get("name", vpc.get("id", "?")), ipaddress.IPv4Network(vpc["ip_range"]), vpc))
        except ValueError:
            continue
    for setting in ("vpc_ip_range", "cluster_subnet", "service_subnet"):
        mine = ipaddress.IPv4Network(getattr(config, setting))
        clashes = [f"VPC {name} ({net}, {vpc.get('region', '?')})" for name, net, vpc in others if net.overlaps(mine)]
        report.add(
            "vpc",
            not clashes,
            f"{mine} overlaps {', '.join(clashes)}; choose a free private range"
            if clashes
            else f"{setting} {mine} collides with none of the account's {len(others)} other VPCs",
            key(setting),
        )


def run(client: Optional[pydo.Client], stack: str, config: StackConfig, args: argparse.Namespace, report: Report) -> None:
    if config.existing_cluster or client is None:
        # No DigitalOcean resource is created, so no token is needed: none is asked for or checked.
        report.add("mode", True, "existing-cluster mode: the stack creates no DigitalOcean resources to check (no token needed)")
        return
    check_token(client, report)
    check_options(client, config, report)
    check_vpc_ranges(client, config, report)


def main(argv: Optional[list[str]] = None) -> int:
    return checks_main("preflight", __doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
