"""The Kubescape exceptions the pull-request scan uses, written from the project's one exceptions file.

    python -m hardened_doks.tools.kubescape_exceptions [--out build/kubescape-exceptions.json]

Every accepted finding lives in ONE place, ``tests/checkov-exceptions.yaml``, with its reason.
Kubescape's NSA and MITRE frameworks name some of the same controls differently: ``KUBESCAPE_CONTROLS``
maps each checkov check that has a same-meaning control in those frameworks to it, and each exception of
such a check becomes a Kubescape ``postureExceptionPolicy`` (``alertOnly``) on the same resources, with
the same reason. A check with no NSA/MITRE counterpart adds nothing; whatever else Kubescape finds
counts against the workflow's compliance threshold (the guide's risk-score gate).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Optional

import yaml

from hardened_doks.tools.offline import PROJECT_DIR

EXCEPTIONS_FILE = PROJECT_DIR / "tests" / "checkov-exceptions.yaml"
#: Kubescape's frameworks the pull-request workflow scans with (kubescape/regolibrary's frameworks/
#: nsaframework.json and mitre.json, read 2026-12-01): their control ids.
NSA_CONTROLS: frozenset[str] = frozenset(
    "C-0002 C-0005 C-0012 C-0013 C-0016 C-0017 C-0030 C-0034 C-0035 C-0038 C-0041 C-0044 C-0046 C-0054 C-0055 "
    "C-0057 C-0058 C-0059 C-0066 C-0067 C-0068 C-0069 C-0070 C-0270 C-0271 C-0292".split()
)
MITRE_CONTROLS: frozenset[str] = frozenset(
    "C-0002 C-0007 C-0012 C-0014 C-0015 C-0020 C-0021 C-0026 C-0031 C-0035 C-0036 C-0037 C-0039 C-0042 C-0045 "
    "C-0048 C-0052 C-0053 C-0054 C-0057 C-0058 C-0059 C-0066 C-0067 C-0068 C-0069 C-0070".split()
)
#: checkov check → the Kubescape control(s) of the same meaning (names as each tool states them).
KUBESCAPE_CONTROLS: dict[str, tuple[str, ...]] = {
    "CKV_K8S_11": ("C-0270",),  # CPU limits should be set ↔ Ensure CPU limits are set
    "CKV_K8S_13": ("C-0271",),  # Memory limits should be set ↔ Ensure memory limits are set
    "CKV_K8S_16": ("C-0057",),  # Container should not be privileged ↔ Privileged container
    "CKV_K8S_17": ("C-0038",),  # not share the host PID namespace ↔ Host PID/IPC privileges
    "CKV_K8S_18": ("C-0038",),  # not share the host IPC namespace ↔ Host PID/IPC privileges
    "CKV_K8S_19": ("C-0041",),  # not share the host network namespace ↔ HostNetwork access
    "CKV_K8S_20": ("C-0016",),  # allowPrivilegeEscalation ↔ Allow privilege escalation
    "CKV_K8S_22": ("C-0017",),  # read-only filesystem ↔ Immutable container filesystem
    "CKV_K8S_23": ("C-0013",),  # root containers ↔ Non-root containers
    "CKV_K8S_26": ("C-0044",),  # hostPort ↔ Container hostPort
    "CKV_K8S_37": ("C-0046",),  # capabilities assigned ↔ Insecure capabilities
    "CKV_K8S_39": ("C-0046",),  # CAP_SYS_ADMIN ↔ Insecure capabilities
    "CKV_K8S_38": ("C-0034",),  # Service Account Tokens mounted ↔ Automatic mapping of service account
}
#: Kinds without a namespace: checkov names them Kind.default.name, Kubescape gives them no namespace.
CLUSTER_SCOPED_KINDS: frozenset[str] = frozenset(
    {
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Namespace",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ClusterPolicy",
        "PriorityClass",
        "StorageClass",
    }
)


def wildcard_regex(pattern: str) -> str:
    """A checkov shell-style wildcard (``*``, ``?``) as the anchored regular expression Kubescape matches."""
    return "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"


def attributes(resource: str) -> dict[str, str]:
    """checkov's resource id ``Kind.namespace.name`` (wildcards allowed) as Kubescape resource attributes."""
    kind, namespace, name = resource.split(".", 2)
    found = {"kind": wildcard_regex(kind), "name": wildcard_regex(name)}
    if kind not in CLUSTER_SCOPED_KINDS:
        found["namespace"] = wildcard_regex(namespace)
    return found


def kubescape_exceptions(entries: list[dict[str, str]]) -> list[dict[str, Any]]:
    """One Kubescape exception per checkov exception whose check has an NSA/MITRE counterpart."""
    found = []
    for entry in entries:
        controls = KUBESCAPE_CONTROLS.get(entry["check"], ())
        if not controls:
            continue
        found.append(
            {
                "name": f"{entry['check']}-{entry['resource']}",
                "policyType": "postureExceptionPolicy",
                "actions": ["alertOnly"],
                "resources": [{"designatorType": "Attributes", "attributes": attributes(entry["resource"])}],
                "posturePolicies": [{"controlID": control} for control in controls],
                "reason": " ".join(entry["reason"].split()),
            }
        )
    return found


def read_entries(path: Path = EXCEPTIONS_FILE) -> list[dict[str, str]]:
    return list((yaml.safe_load(path.read_text()) or {}).get("exceptions") or [])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hardened_doks.tools.kubescape_exceptions", description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the JSON here (default: print it)")
    args = parser.parse_args(argv)
    text = json.dumps(kubescape_exceptions(read_entries()), indent=2) + "\n"
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"kubescape exceptions: {len(json.loads(text))} written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
