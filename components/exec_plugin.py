"""The contract between the kubeconfig the stack writes and the exec credential plugin that serves it.

``components/kube_access.py`` writes a kubeconfig whose user runs the plugin; ``tools/kube_credentials.py``
is that plugin. Both import these names from here, so neither can change the command, its arguments
or the ExecCredential version alone (and components import nothing from tools).
"""

from __future__ import annotations

#: The ExecCredential API version the kubeconfig asks for and the plugin prints.
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
#: The console script that prints an ExecCredential (pyproject.toml [project.scripts]).
CREDENTIALS_COMMAND = "hardened-doks-kube-credentials"
#: The plugin's one required argument: the DOKS cluster's UUID.
CLUSTER_ID_FLAG = "--cluster-id"


def plugin_args(cluster_id: str) -> list[str]:
    """The plugin's arguments for one cluster."""
    return [CLUSTER_ID_FLAG, cluster_id]
