#!/bin/sh
""":"
# Helm executes this file; it is Python. Up to the exec, a shell preamble (to Python, the start of
# this docstring) runs it with the project's virtualenv (.venv, which has PyYAML), whoever started
# Helm: `make`, or `pulumi` run directly, whose PATH need not hold a python3 with PyYAML. Without a
# .venv (the file copied elsewhere), the python3 on PATH.
case "$0" in */*) here="${0%/*}" ;; *) here=. ;; esac
if [ -x "$here/../.venv/bin/python" ]; then exec "$here/../.venv/bin/python" "$0" "$@"; fi
exec python3 "$0" "$@"
"
Helm post-renderer: complete the security contexts a chart hard-codes and no value can change.

Helm runs it (``helm install|template --post-renderer tools/helm_postrender.py``; the Release's
``postrender`` input, see ``components/scanners.py``) with the chart's rendered manifests on
stdin, and applies what it prints. Only releases that need it get it. It only ever *adds*
restrictions, and only where a field is unset, so a chart that already sets them (a later
version, a value) renders unchanged:

- every container that adds no capability drops ``ALL`` (Pod Security Standards ``restricted``
  refuses a container without ``capabilities.drop: [ALL]``; CIS 5.2.8/5.2.9; NSA/CISA: least
  privilege). The kubescape-operator chart 1.40.3 drops nothing in its main containers and has
  no value for it (upstream fixed it after that release, kubescape/helm-charts#897);
- a pod or container that names a non-root ``runAsUser`` but no ``runAsGroup`` runs as the
  group of the same id, not the image's group, which may be 0 (root's group: files owned by
  group root become writable; NSA/CISA: non-root user *and* group).

The same holds for workload templates a chart ships inside a ConfigMap for its operator to create
objects from (kubescape's ``*-cronjob-template``: the scheduled scans' CronJobs), so the pods the
operator creates later are admitted as well.

Standalone on purpose: the Pulumi Kubernetes provider runs it from the project folder, with the
project's virtualenv (the preamble above; PyYAML is a dependency of the Pulumi SDK), and nothing of
the project is imported.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

import yaml

#: Where the pod template sits, per kind.
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def pod_template(document: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template (metadata and spec; a Pod itself) of a workload, or None for other kinds."""
    path = TEMPLATE_PATHS.get(document.get("kind", ""))
    if path is None:
        return None
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload (or a Pod), or None for other kinds."""
    template = pod_template(document)
    spec = template.get("spec") if template is not None else None
    return spec if isinstance(spec, dict) else None


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from (c for c in spec.get(key) or [] if isinstance(c, dict))


def _same_group(context: dict[str, Any]) -> None:
    user = context.get("runAsUser")
    if isinstance(user, int) and user != 0 and "runAsGroup" not in context:
        context["runAsGroup"] = user


def _templates(config_map: dict[str, Any]) -> None:
    """Harden workload manifests held as text in a ConfigMap's data (an operator's templates)."""
    data = config_map.get("data") or {}
    for key, text in data.items():
        try:
            embedded = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        if isinstance(embedded, dict) and pod_spec(embedded) is not None:
            data[key] = yaml.safe_dump(harden(embedded), sort_keys=False)


def harden(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the missing restrictions added (in place; returned for convenience)."""
    if document.get("kind") == "ConfigMap":
        _templates(document)
        return document
    spec = pod_spec(document)
    if spec is None:
        return document
    pod_context = spec.get("securityContext")
    if isinstance(pod_context, dict):
        _same_group(pod_context)
    for container in _containers(spec):
        context = container.setdefault("securityContext", {})
        capabilities = context.setdefault("capabilities", {})
        drop = capabilities.get("drop") or []
        if not capabilities.get("add") and "ALL" not in drop:
            capabilities["drop"] = ["ALL", *drop]
        _same_group(context)
    return document


def main() -> int:
    documents = [d for d in yaml.safe_load_all(sys.stdin) if d]
    yaml.safe_dump_all([harden(d) for d in documents], sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
