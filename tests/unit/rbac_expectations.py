"""What each role must and must not be able to do, written independently of components/rbac.py.

The unit tier computes every decision from the rendered Roles, ClusterRoles and bindings
(tests/unit/test_rbac.py); the end-to-end tier can ask a live API server the same questions
(SubjectAccessReview or impersonation) with the subjects of the dev stack below.

Each row: (role, verb, API group, resource, allowed).
"""

from __future__ import annotations

#: Who holds each role in the shipped dev stack (stacks/Pulumi.dev.yaml), and where.
SUBJECTS: dict[str, tuple[str, str]] = {
    "namespace-admin": ("Group", "storefront-admins"),
    "developer": ("Group", "storefront-developers"),
    "viewer": ("Group", "storefront-viewers"),
    "auditor": ("Group", "security-auditors"),
}
#: The team namespace the namespaced checks run in, and a namespace of another team.
OWN_NAMESPACE = "storefront"
OTHER_NAMESPACE = "payments"

ACCESS_CHECKS: list[tuple[str, str, str, str, bool]] = [
    # viewer: read workloads, never Secrets, never change anything
    ("viewer", "get", "", "pods", True),
    ("viewer", "list", "apps", "deployments", True),
    ("viewer", "get", "", "pods/log", True),
    ("viewer", "get", "", "secrets", False),
    ("viewer", "list", "", "secrets", False),
    ("viewer", "create", "", "pods", False),
    ("viewer", "delete", "apps", "deployments", False),
    ("viewer", "create", "", "pods/exec", False),
    # developer: deploy and operate workloads; no Secrets, exec, RBAC or network changes
    ("developer", "create", "apps", "deployments", True),
    ("developer", "patch", "apps", "deployments", True),
    ("developer", "update", "apps", "deployments/scale", True),
    ("developer", "delete", "", "pods", True),
    ("developer", "create", "batch", "cronjobs", True),
    ("developer", "create", "", "configmaps", True),
    ("developer", "create", "", "services", True),
    ("developer", "get", "", "secrets", False),
    ("developer", "create", "", "secrets", False),
    ("developer", "create", "", "pods/exec", False),
    ("developer", "create", "apps", "daemonsets", False),
    ("developer", "create", "rbac.authorization.k8s.io", "rolebindings", False),
    ("developer", "delete", "networking.k8s.io", "networkpolicies", False),
    ("developer", "patch", "", "resourcequotas", False),
    # namespace admin: also Secrets, exec and RoleBindings; still no Roles, quotas or network policies
    ("namespace-admin", "get", "", "secrets", True),
    ("namespace-admin", "create", "", "secrets", True),
    ("namespace-admin", "create", "", "pods/exec", True),
    ("namespace-admin", "create", "rbac.authorization.k8s.io", "rolebindings", True),
    ("namespace-admin", "create", "", "serviceaccounts", True),
    ("namespace-admin", "create", "rbac.authorization.k8s.io", "roles", False),
    ("namespace-admin", "escalate", "rbac.authorization.k8s.io", "roles", False),
    ("namespace-admin", "bind", "rbac.authorization.k8s.io", "clusterroles", False),
    ("namespace-admin", "delete", "networking.k8s.io", "networkpolicies", False),
    ("namespace-admin", "delete", "", "resourcequotas", False),
    ("namespace-admin", "update", "", "limitranges", False),
    ("namespace-admin", "delete", "", "namespaces", False),
    ("namespace-admin", "impersonate", "", "users", False),
    ("namespace-admin", "create", "cilium.io", "ciliumnetworkpolicies", False),
    # auditor: read configuration everywhere, never Secrets, logs, exec or writes
    ("auditor", "list", "", "pods", True),
    ("auditor", "get", "rbac.authorization.k8s.io", "clusterrolebindings", True),
    ("auditor", "list", "networking.k8s.io", "networkpolicies", True),
    ("auditor", "list", "kyverno.io", "clusterpolicies", True),
    ("auditor", "list", "wgpolicyk8s.io", "policyreports", True),
    ("auditor", "list", "aquasecurity.github.io", "vulnerabilityreports", True),
    ("auditor", "get", "spdx.softwarecomposition.kubescape.io", "workloadconfigurationscansummaries", True),
    ("auditor", "list", "", "nodes", True),
    ("auditor", "get", "", "secrets", False),
    ("auditor", "list", "", "secrets", False),
    ("auditor", "get", "", "pods/log", False),
    ("auditor", "create", "", "pods/exec", False),
    ("auditor", "delete", "", "pods", False),
    ("auditor", "update", "kyverno.io", "clusterpolicies", False),
]

#: Verbs that let a holder grant themselves more (CIS 5.1.8): no role of the stack has them.
PRIVILEGE_VERBS = ("escalate", "bind", "impersonate")

# -- prod: read-only human access (rbac.human_access floor) ---------------------------------------

#: Who holds what in the shipped prod stack (stacks/Pulumi.prod.yaml): the storefront team's people,
#: its deploy identity (the ServiceAccount the stack creates in each team namespace) and the auditors.
PROD_SUBJECTS: dict[str, tuple[str, str]] = {
    "admins": ("Group", "storefront-admins"),
    "developers": ("Group", "storefront-developers"),
    "viewers": ("Group", "storefront-viewers"),
    "deployer": ("ServiceAccount", "hardened-doks-deployer"),
    "auditor": ("Group", "security-auditors"),
}
#: What no human may do in prod: exec, attach, port-forward, read Secrets, delete pods (Kubescape
#: C-0002, C-0007, C-0015, C-0063), nor change workloads (that is the deploy identity's).
HUMAN_FORBIDDEN: list[tuple[str, str, str]] = [
    ("create", "", "pods/exec"),
    ("get", "", "pods/exec"),
    ("create", "", "pods/attach"),
    ("create", "", "pods/portforward"),
    ("get", "", "secrets"),
    ("list", "", "secrets"),
    ("watch", "", "secrets"),
    ("delete", "", "pods"),
    ("deletecollection", "", "pods"),
    ("create", "apps", "deployments"),
    ("patch", "apps", "deployments"),
    ("create", "rbac.authorization.k8s.io", "rolebindings"),
]
PROD_ACCESS_CHECKS: list[tuple[str, str, str, str, bool]] = [
    *[(who, verb, group, resource, False) for who in ("admins", "developers", "viewers", "auditor") for verb, group, resource in HUMAN_FORBIDDEN],
    # people still read what runs
    ("admins", "get", "", "pods", True),
    ("admins", "get", "", "pods/log", True),
    ("admins", "list", "rbac.authorization.k8s.io", "rolebindings", True),
    ("developers", "list", "apps", "deployments", True),
    ("developers", "get", "", "pods/log", True),
    ("viewers", "get", "", "pods", True),
    ("auditor", "list", "", "pods", True),
    # the deploy identity applies workloads (and their Secrets), never exec, attach or port-forward
    ("deployer", "create", "apps", "deployments", True),
    ("deployer", "patch", "apps", "deployments", True),
    ("deployer", "delete", "", "pods", True),
    ("deployer", "create", "", "secrets", True),
    ("deployer", "create", "batch", "cronjobs", True),
    ("deployer", "create", "", "pods/exec", False),
    ("deployer", "create", "", "pods/attach", False),
    ("deployer", "create", "", "pods/portforward", False),
    ("deployer", "create", "rbac.authorization.k8s.io", "rolebindings", False),
    ("deployer", "delete", "networking.k8s.io", "networkpolicies", False),
]
#: What the break-glass role (bound by hand in an emergency only) grants that people otherwise lack.
BREAK_GLASS_GRANTS: list[tuple[str, str, str]] = [("create", "", "pods/exec"), ("create", "", "pods/attach"), ("create", "", "pods/portforward"), ("get", "", "secrets")]
