"""RBAC generated from one permissions table.

:data:`PERMISSIONS` is the single statement of what each role may do. The component turns it
into ClusterRoles (``hardened-doks:<role>``) and binds them:

- ``namespace-admin``, ``developer``, ``viewer``: bound per team with a RoleBinding in each of
  the team's namespaces, so they grant nothing outside them;
- ``auditor``: bound cluster-wide to the security staff; reads configuration everywhere,
  never Secrets;
- ``cluster-admin``: bound only to the one break-glass group, when the config says so.

With read-only human access (``rbac.human_access``, the prod floor) people only read:
namespace admins get ``namespace-reader``, developers and viewers ``viewer``; each team's deploy
identity (a ServiceAccount per namespace, plus ``teams[].deployers``) gets ``deployer``; and
``break-glass`` (exec, attach, port-forward, Secrets) is bound to nobody: an operator binds it to
``rbac.break_glass_group`` by hand during an incident, and the drift command reports that binding.

Nothing here uses a wildcard verb, resource or API group (CIS 5.1.3), grants
``escalate``, ``bind`` or ``impersonate`` (CIS 5.1.8), Secrets to anyone but namespace
admins (CIS 5.1.2), or pod creation cluster-wide (CIS 5.1.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from hardened_doks.config import NAMESPACE, Subjects, Team
from hardened_doks.kube import create, metadata, namespace_deletion

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
RBAC_GROUP = "rbac.authorization.k8s.io"

#: A rule of the table: (API group, resources, verbs).
Rule = tuple[str, tuple[str, ...], tuple[str, ...]]

_WORKLOADS: tuple[Rule, ...] = (
    ("", ("pods", "services", "configmaps", "persistentvolumeclaims"), WRITE),
    ("apps", ("deployments", "statefulsets"), WRITE),
    ("apps", ("deployments/scale", "statefulsets/scale"), ("update", "patch")),
    ("batch", ("jobs", "cronjobs"), WRITE),
    ("autoscaling", ("horizontalpodautoscalers",), WRITE),
    ("policy", ("poddisruptionbudgets",), WRITE),
    ("networking.k8s.io", ("ingresses",), WRITE),
)

_VIEW: tuple[Rule, ...] = (
    (
        "",
        ("pods", "pods/log", "services", "endpoints", "configmaps", "persistentvolumeclaims", "serviceaccounts", "resourcequotas", "limitranges", "events"),
        READ,
    ),
    ("apps", ("deployments", "statefulsets", "daemonsets", "replicasets"), READ),
    ("batch", ("jobs", "cronjobs"), READ),
    ("autoscaling", ("horizontalpodautoscalers",), READ),
    ("policy", ("poddisruptionbudgets",), READ),
    ("networking.k8s.io", ("networkpolicies", "ingresses"), READ),
    ("discovery.k8s.io", ("endpointslices",), READ),
    ("events.k8s.io", ("events",), READ),
)

#: The permissions table: role → rules. Namespaced roles take effect only through the
#: RoleBindings in a team's namespaces; ``auditor`` is bound cluster-wide.
PERMISSIONS: dict[str, tuple[Rule, ...]] = {
    # Read-only team member: no Secrets (CIS 5.1.2), no exec.
    "viewer": _VIEW,
    # Deploys and operates workloads. No Secrets, no exec/port-forward, no RBAC, and no
    # write to NetworkPolicies, quotas or limits (those come from the stack config).
    "developer": _VIEW + _WORKLOADS,
    # Runs the namespace: also Secrets, ServiceAccounts, exec/port-forward for debugging, and
    # RoleBindings (Kubernetes refuses bindings that grant more than the admin holds). Still no
    # Roles, NetworkPolicies, quotas, limits or namespace changes.
    "namespace-admin": _VIEW
    + _WORKLOADS
    + (
        ("", ("secrets",), READ + WRITE),
        ("", ("serviceaccounts",), WRITE),
        ("", ("pods/exec", "pods/portforward"), ("create", "get")),
        (RBAC_GROUP, ("roles", "rolebindings"), READ),
        (RBAC_GROUP, ("rolebindings",), WRITE),
    ),
    # Read-only human access (prod): a namespace admin reads the namespace and its RBAC; no Secrets,
    # exec, attach, port-forward or deletion (CIS 5.1.2; Kubescape C-0002, C-0007, C-0015, C-0063).
    "namespace-reader": _VIEW + ((RBAC_GROUP, ("roles", "rolebindings"), READ),),
    # A team's deploy identity (read-only human access): applies workloads and the Secrets and
    # ServiceAccounts they use (Helm keeps releases in Secrets), never exec, attach or port-forward.
    "deployer": _VIEW + _WORKLOADS + (("", ("secrets",), READ + WRITE), ("", ("serviceaccounts",), WRITE)),
    # Emergency access (read-only human access): bound to nobody by the stack. During an incident an
    # operator binds it to rbac.break_glass_group in one namespace by hand; the drift command reports
    # that binding (tools/out_of_band.py) until it is removed.
    "break-glass": _VIEW
    + _WORKLOADS
    + (
        ("", ("secrets",), READ),
        ("", ("pods/exec", "pods/attach", "pods/portforward"), ("create", "get")),
    ),
    # Security staff, cluster-wide: configuration of every namespace and of the cluster, and
    # the policy engine's reports. Never Secrets (CIS 5.1.2), logs or exec.
    "auditor": (
        (
            "",
            (
                "pods", "services", "endpoints", "configmaps", "namespaces", "nodes", "persistentvolumes", "persistentvolumeclaims",
                "serviceaccounts", "resourcequotas", "limitranges", "events", "replicationcontrollers",
            ),
            READ,
        ),
        ("apps", ("deployments", "statefulsets", "daemonsets", "replicasets"), READ),
        ("batch", ("jobs", "cronjobs"), READ),
        ("autoscaling", ("horizontalpodautoscalers",), READ),
        ("policy", ("poddisruptionbudgets",), READ),
        ("networking.k8s.io", ("networkpolicies", "ingresses", "ingressclasses"), READ),
        ("discovery.k8s.io", ("endpointslices",), READ),
        (RBAC_GROUP, ("roles", "rolebindings", "clusterroles", "clusterrolebindings"), READ),
        (
            "admissionregistration.k8s.io",
            ("validatingwebhookconfigurations", "mutatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings"),
            READ,
        ),
        ("apiextensions.k8s.io", ("customresourcedefinitions",), READ),
        ("storage.k8s.io", ("storageclasses",), READ),
        ("certificates.k8s.io", ("certificatesigningrequests",), READ),
        ("cilium.io", ("ciliumnetworkpolicies", "ciliumclusterwidenetworkpolicies"), READ),
        ("kyverno.io", ("clusterpolicies", "policies", "policyexceptions"), READ),
        ("wgpolicyk8s.io", ("policyreports", "clusterpolicyreports"), READ),
        # The scanners' findings (components/scanners.py): Trivy's reports, Kubescape's summaries.
        (
            "aquasecurity.github.io",
            (
                "vulnerabilityreports", "configauditreports", "exposedsecretreports", "rbacassessmentreports", "clusterrbacassessmentreports",
                "clusterconfigauditreports", "clustercompliancereports",
            ),
            READ,
        ),
        (
            "spdx.softwarecomposition.kubescape.io",
            ("vulnerabilitymanifestsummaries", "vulnerabilitymanifests", "workloadconfigurationscansummaries", "configurationscansummaries"),
            READ,
        ),
    ),
}

#: Roles bound per team namespace, and the team field holding their subjects.
TEAM_ROLES: dict[str, str] = {"namespace-admin": "admins", "developer": "developers", "viewer": "viewers"}
#: With read-only human access (rbac.human_access, prod): the role each team field is bound to instead.
READ_ONLY_TEAM_ROLES: dict[str, str] = {"namespace-reader": "admins", "viewer": "developers", "deployer": "deployers"}
#: Roles generated only with read-only human access.
READ_ONLY_ROLES: tuple[str, ...] = ("namespace-reader", "deployer", "break-glass")
#: The ServiceAccount of a team's deploy identity, in each of its namespaces (read-only human access).
DEPLOYER_SERVICE_ACCOUNT = f"{NAMESPACE}-deployer"
BREAK_GLASS_BINDING = f"{NAMESPACE}:break-glass"


def role_name(role: str) -> str:
    """The ClusterRole generated for a role of the table."""
    return f"{NAMESPACE}:{role}"


def rules(role: str) -> list[dict[str, Any]]:
    """A role's table rows as RBAC PolicyRules."""
    return [{"apiGroups": [group], "resources": list(resources), "verbs": list(verbs)} for group, resources, verbs in PERMISSIONS[role]]


def cluster_role(role: str) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "ClusterRole", "metadata": metadata(role_name(role)), "rules": rules(role)}


def subjects(who: Subjects) -> list[dict[str, Any]]:
    return [{"kind": "User", "name": n, "apiGroup": RBAC_GROUP} for n in who.users] + [
        {"kind": "Group", "name": n, "apiGroup": RBAC_GROUP} for n in who.groups
    ]


def _ref(name: str) -> dict[str, str]:
    return {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name}


def team_bindings(team: Team, read_only: bool = False) -> list[dict[str, Any]]:
    """RoleBindings of a team's subjects to the team roles, in each of its namespaces. With read-only
    human access, people get read roles and the deploy identity (its ServiceAccount in the namespace
    and teams[].deployers) the deployer role."""
    bindings = []
    for namespace in team.namespaces:
        for role, field in (READ_ONLY_TEAM_ROLES if read_only else TEAM_ROLES).items():
            who: Subjects = getattr(team, field)
            if read_only and role == "viewer":
                # Developers and viewers alike only read.
                who = Subjects(users=[*who.users, *team.viewers.users], groups=[*who.groups, *team.viewers.groups])
            bound = subjects(who)
            if role == "deployer":
                bound = [{"kind": "ServiceAccount", "name": DEPLOYER_SERVICE_ACCOUNT, "namespace": namespace}, *bound]
            if not bound:
                continue
            bindings.append(
                {
                    "apiVersion": f"{RBAC_GROUP}/v1",
                    "kind": "RoleBinding",
                    "metadata": metadata(f"{NAMESPACE}:{team.name}-{role}", namespace),
                    "roleRef": _ref(role_name(role)),
                    "subjects": bound,
                }
            )
    return bindings


def deployer_service_accounts(args: RbacArgs) -> list[dict[str, Any]]:
    """The deploy identity's ServiceAccount in each team namespace (read-only human access only).
    No token is mounted anywhere: CI requests a short-lived one (TokenRequest) or uses its OIDC group."""
    if args.human_access != "read-only":
        return []
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata(DEPLOYER_SERVICE_ACCOUNT, namespace), "automountServiceAccountToken": False}
        for team in args.teams
        for namespace in team.namespaces
    ]


def cluster_binding(name: str, cluster_role_name: str, who: Subjects) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(name),
        "roleRef": _ref(cluster_role_name),
        "subjects": subjects(who),
    }


@dataclass(frozen=True)
class RbacArgs:
    """What the Rbac component reads."""

    #: The teams: their namespaces, members by role, and whether one is the break-glass team.
    teams: Sequence[Team]
    #: Security staff who read everything cluster-wide except Secrets.
    auditors: Subjects = Subjects()
    #: ``operate`` (today's roles) or ``read-only`` (prod's floor: no human exec, attach, port-forward, Secret
    #: reads or pod deletes; each team namespace gets its deploy identity). See rbac.human_access.
    human_access: str = "operate"
    skip_await: bool = False


def objects(args: RbacArgs) -> list[dict[str, Any]]:
    """Every RBAC object of the stack: the table's roles first, then the bindings."""
    read_only = args.human_access == "read-only"
    roles = [cluster_role(role) for role in PERMISSIONS if read_only or role not in READ_ONLY_ROLES]
    namespaced = [*deployer_service_accounts(args), *(b for team in args.teams for b in team_bindings(team, read_only))]
    cluster: list[dict[str, Any]] = []
    if not args.auditors.empty:
        cluster.append(cluster_binding(role_name("auditor"), role_name("auditor"), args.auditors))
    for team in args.teams:
        if team.cluster_admin:
            # CIS 5.1.1: the only cluster-admin binding the stack makes, to the break-glass group
            # (components/config/checks.py refuses it without rbac.break_glass, and in prod without acknowledgement).
            cluster.append(cluster_binding(BREAK_GLASS_BINDING, "cluster-admin", Subjects(groups=team.admins.groups)))
    return roles + namespaced + cluster


class Rbac(pulumi.ComponentResource):
    """The table's roles and their bindings to teams, auditors and the break-glass group."""

    def __init__(
        self,
        name: str,
        args: RbacArgs,
        provider: pulumi.ProviderResource,
        namespaces: dict[str, pulumi.Resource],
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("hardened-doks:kubernetes:Rbac", name, None, opts)
        created = []
        roles: list[pulumi.Resource] = []
        for manifest in objects(args):
            namespace = manifest["metadata"].get("namespace")
            depends = ([namespaces[namespace]] if namespace else []) + (roles if manifest["kind"].endswith("Binding") else [])
            owner = namespace_deletion(namespaces[namespace]) if namespace else None
            resource = create(manifest, self, provider, depends_on=depends, skip_await=args.skip_await, deleted_with=owner)
            if manifest["kind"] == "ClusterRole":
                roles.append(resource)
            created.append(resource)
        self.register_outputs({"count": len(created)})
