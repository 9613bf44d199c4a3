"""Generated stack configs for N tenant namespaces, with the mix a platform team has.

Teams own 1, 2 or 3 namespaces in turn; every team has admins and developers, every third one
viewers too; the first namespace of every team may reach the next team's first namespace on one
port (an allow rule); every other namespace lets its pods talk to each other; every fourth one
has pods that call the API server. Deterministic: the same N gives the same config.
"""

from __future__ import annotations

from typing import Any

#: Namespaces per team, in turn.
TEAM_SIZES = (1, 2, 3)


def teams(n: int) -> list[list[str]]:
    """The namespaces of each team, N in all."""
    found: list[list[str]] = []
    made = 0
    while made < n:
        size = min(TEAM_SIZES[len(found) % len(TEAM_SIZES)], n - made)
        index = len(found)
        found.append([f"t{index:03d}-ns{i}" for i in range(size)])
        made += size
    return found


def tenant_config(n: int) -> dict[str, Any]:
    """The ``teams`` and ``network_policies`` config values (key without the project prefix → value)."""
    grouped = teams(n)
    team_list: list[dict[str, Any]] = []
    for index, namespaces in enumerate(grouped):
        name = f"t{index:03d}"
        team: dict[str, Any] = {
            "name": name,
            "namespaces": namespaces,
            "admins": {"groups": [f"{name}-admins"]},
            "developers": {"groups": [f"{name}-developers"], "users": [f"dev@{name}.example.com"]},
        }
        if index % 3 == 0:
            team["viewers"] = {"groups": [f"{name}-viewers"]}
        team_list.append(team)
    flat = [ns for namespaces in grouped for ns in namespaces]
    allow = [
        {"name": f"{grouped[i][0]}-to-next", "from_namespace": grouped[i][0], "to_namespace": grouped[i + 1][0], "ports": [8443]}
        for i in range(len(grouped) - 1)
    ]
    return {
        "teams": team_list,
        "network_policies": {
            "intra_namespace": flat[::2],
            "allow": allow,
            "api_server_access": [{"namespace": ns, "pod_labels": {"app.kubernetes.io/name": "operator"}} for ns in flat[::4]],
        },
    }
