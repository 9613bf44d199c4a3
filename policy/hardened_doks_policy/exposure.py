"""Which worker ports a firewall rule opens to the whole internet.

Shared by the policy pack (on the Pulumi inputs of ``digitalocean.Firewall``) and by
``tools/verify`` (on the firewalls the DigitalOcean API reports for the worker Droplets).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

#: Worker ports that must never be reachable from the internet.
SENSITIVE_PORTS: dict[str, tuple[int, int]] = {
    "SSH (22)": (22, 22),
    "kubelet (10250)": (10250, 10250),
    "NodePorts (30000-32767)": (30000, 32767),
}


def port_range(ports: object) -> tuple[int, int]:
    """A rule's port spec: "22", "8000-9000"; "0", "all" or absent mean every port."""
    text = str(ports if ports is not None else "0").strip().lower()
    if text in ("0", "all", ""):
        return 1, 65535
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def is_internet(address: object) -> bool:
    """True for 0.0.0.0/0 and ::/0 (any spelling)."""
    try:
        return ipaddress.ip_network(str(address), strict=False).prefixlen == 0
    except ValueError:
        return False


def exposures(protocol: object, ports: object, addresses: Iterable[object], action: object = "allow") -> list[str]:
    """The sensitive ports one inbound rule opens to the internet, as readable phrases."""
    if protocol not in ("tcp", "udp") or (action or "allow") != "allow":
        return []
    public = [str(a) for a in addresses if is_internet(a)]
    if not public:
        return []
    low, high = port_range(ports)
    return [
        f"{label} over {protocol} (ports {ports if ports is not None else 'all'}) to {', '.join(public)}"
        for label, (first, last) in SENSITIVE_PORTS.items()
        if low <= last and first <= high
    ]
