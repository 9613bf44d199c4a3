"""A minimal kubeconfig the config layer accepts: one cluster, an https server, a token."""

from __future__ import annotations


def kubeconfig(token: str = "unit-token", server: str = "https://203.0.113.5:6443") -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: legacy, cluster: {{server: '{server}'}}}}]\n"
        f"users: [{{name: admin, user: {{token: {token}}}}}]\n"
        "contexts: [{name: legacy, context: {cluster: legacy, user: admin}}]\ncurrent-context: legacy\n"
    )
