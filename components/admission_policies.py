"""Admission rules the Kubernetes API server enforces itself: ValidatingAdmissionPolicies.

Every rule the stack can decide from the request alone (no registry, no signature) is a
``ValidatingAdmissionPolicy`` with its ``ValidatingAdmissionPolicyBinding``
(``admissionregistration.k8s.io/v1``, GA since Kubernetes 1.30; DOKS 1.34 serves it). Why
there rather than in Kyverno, which keeps only image signature verification
(components/admission.py):

- the API server evaluates the CEL rules in-process: no webhook to call, so no
  ``failurePolicy`` trade-off between "fail closed and block every deploy while Kyverno's pods
  are down" and "fail open and admit anything meanwhile". The rules stay in force when Kyverno
  is down, upgrading or not yet installed (the first ``pulumi up``);
- the same engine runs in the end-to-end tier's real kube-apiserver, so every rule is checked
  live there, for every profile, with objects that must pass and objects that must fail, as
  the users the rules are about (tests/e2e/test_admission.py);
- CEL sees who is asking (``request.userInfo``) and can ask the authorizer, which the rules on
  developers' credentials and the scanners' ServiceAccounts need.

The rules, each one policy and one binding of the same name (:func:`policies`; docs/admission.md
has them as a table; the image rules are built in components/admission_images.py, every rule from
the CEL building blocks of components/admission_cel.py):

- ``restrict-image-registries``: images outside ``admission.allowed_registries`` (every namespace
  but kube-system and the add-on namespaces);
- ``disallow-latest-tag``: images with neither a tag nor a digest, or ``:latest`` (every namespace
  but kube-system);
- ``restrict-addon-images``: in each add-on namespace, kyverno's included, images other than its
  chart's;
- ``disallow-node-ports``, ``disallow-external-ips``: NodePort Services, Service ``externalIPs``
  (every namespace but kube-system);
- ``restrict-rolebinding-subjects``, ``disallow-service-account-token-secrets``: RoleBindings to
  ``system:`` users or groups, long-lived ServiceAccount token Secrets (tenant namespaces);
- ``restrict-workload-credentials``: workloads that reference Secrets or a ServiceAccount other
  than ``default``, from someone who may not read the namespace's Secrets (tenant namespaces);
- ``restrict-scanner-workloads``: the scanners' ServiceAccounts creating or changing workloads
  outside their own namespace (every namespace).

The image rules match Pods (with ephemeral containers) *and* the pod-template kinds
(Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicationControllers):
a refused Deployment fails at ``kubectl apply`` / ``pulumi up`` with the policy's message,
where a Pod-only rule would accept it and leave its ReplicaSet failing to create pods, seen
only in events; and in dev, where the image rules warn, the warning reaches the person who
applied the workload rather than the ReplicaSet controller. They follow ``admission.mode``:
``Warn`` + ``Audit`` in dev, ``Deny`` in staging and prod (floor). The other rules close
escalation and exposure paths and deny in every profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hardened_doks.admission_cel import (
    ACTIONS,
    POD_RESOURCES,
    POD_SPEC_CHANGED,
    POD_VARIABLES,
    SERVICE_SPEC_CHANGED,
    TENANT_NAMESPACES,
    Action,
    binding,
    cel_list,
    match_rules,
    namespaces_in,
    namespaces_not_in,
    policy,
)
from hardened_doks.admission_images import ADDON_POLICY, REGISTRY_POLICY, TAG_POLICY, addon_image_policy, latest_tag_policy, registry_policy
from hardened_doks.config import Admission as AdmissionSettings

#: The one namespace no rule of a namespace scope applies to: kube-system is DOKS-managed
#: (CoreDNS, Cilium, konnectivity, the CSI driver…), DigitalOcean deploys its images and reverts
#: edits there, and policing it could block the cluster's own recovery. Tenants have no access
#: to it (components/rbac.py). The scanners' rule is keyed on who asks, so it applies there too.
EXEMPT_NAMESPACES: tuple[str, ...] = ("kube-system",)

NODE_PORT_POLICY = "disallow-node-ports"
EXTERNAL_IPS_POLICY = "disallow-external-ips"
ROLEBINDING_POLICY = "restrict-rolebinding-subjects"
TOKEN_SECRET_POLICY = "disallow-service-account-token-secrets"
CREDENTIALS_POLICY = "restrict-workload-credentials"
SCANNER_POLICY = "restrict-scanner-workloads"

# -- exposure -----------------------------------------------------------------------------------


def node_port_policy() -> dict[str, Any]:
    """No NodePort Services: a NodePort opens a port on every worker through DOKS's own firewall,
    which this stack cannot subtract from (NSA/CISA: network separation; docs/architecture.md, "What the worker firewall can and cannot do").
    LoadBalancer Services still get the node ports their DigitalOcean load balancer forwards to."""
    return policy(
        NODE_PORT_POLICY,
        "Services may not be of type NodePort; expose them through a LoadBalancer or an ingress.",
        match_rules([("", ("services",))]),
        [{"expression": "!has(object.spec.type) || object.spec.type != 'NodePort'", "message": "Services of type NodePort are not allowed: use a LoadBalancer Service or an ingress"}],
        match_conditions=[SERVICE_SPEC_CHANGED],
    )


def external_ips_policy() -> dict[str, Any]:
    """No Service externalIPs: with them anyone who may create a Service can intercept traffic to
    any address (CVE-2020-8554; Kubernetes' advice is to refuse the field at admission)."""
    return policy(
        EXTERNAL_IPS_POLICY,
        "Services may not set externalIPs (CVE-2020-8554).",
        match_rules([("", ("services",))]),
        [
            {
                "expression": "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
                "message": "Service externalIPs are not allowed (CVE-2020-8554: they let a Service intercept traffic to any address)",
            }
        ],
        match_conditions=[SERVICE_SPEC_CHANGED],
    )


# -- escalation and persistence in tenant namespaces --------------------------------------------


def rolebinding_subjects_policy() -> dict[str, Any]:
    """No RoleBinding to ``system:`` users or groups (CIS 5.1.x; NSA/CISA: least privilege).

    A namespace-admin may grant their role to others; bound to ``system:authenticated`` (every
    authenticated user), ``system:serviceaccounts`` or a component's identity it would reach far
    beyond the team. ServiceAccount subjects stay allowed: that is how workloads get a role.
    """
    system = "object.subjects.filter(s, s.kind != 'ServiceAccount' && s.name.startsWith('system:'))"
    return policy(
        ROLEBINDING_POLICY,
        "RoleBindings in tenant namespaces may not name system: users or groups.",
        match_rules([("rbac.authorization.k8s.io", ("rolebindings",))]),
        [
            {
                "expression": f"!has(object.subjects) || size({system}) == 0",
                "messageExpression": f"'RoleBindings may not name system: users or groups (every authenticated user, all ServiceAccounts, Kubernetes components): ' + {system}.map(s, s.kind + ' ' + s.name).join(', ')",
            }
        ],
    )


def token_secret_policy() -> dict[str, Any]:
    """No long-lived ServiceAccount token Secrets (CIS 5.1.6; NSA/CISA: short-lived credentials).

    Such a token never expires and outlives the access of whoever created it; pods get
    short-lived projected tokens, and ``kubectl create token`` issues expiring ones.
    """
    return policy(
        TOKEN_SECRET_POLICY,
        "Tenant namespaces may not hold kubernetes.io/service-account-token Secrets.",
        match_rules([("", ("secrets",))], operations=("CREATE",)),
        [
            {
                "expression": "!has(object.type) || object.type != 'kubernetes.io/service-account-token'",
                "message": "kubernetes.io/service-account-token Secrets are not allowed: they never expire; use projected tokens or `kubectl create token`",
            }
        ],
    )


#: Requests of Kubernetes' own controllers (the ReplicaSet, Job, CronJob… controllers create the
#: pods of workloads that were already checked when a person applied them).
NOT_A_CONTROLLER: dict[str, str] = {
    "name": "not-a-kubernetes-controller",
    "expression": "!request.userInfo.username.startsWith('system:serviceaccount:kube-system:') && request.userInfo.username != 'system:kube-controller-manager'",
}


def credentials_policy() -> dict[str, Any]:
    """Who may not read a namespace's Secrets may not run a pod that reads them (CIS 5.1.2).

    RBAC keeps developers from reading Secrets through the API (components/rbac.py); without
    this rule they could still mount one into a pod, or run a pod as any ServiceAccount of the
    namespace (and so with its token and permissions). A workload that references a Secret
    (``secret`` and projected volumes, ``env[].valueFrom.secretKeyRef``, ``envFrom[].secretRef``)
    or names a ServiceAccount other than ``default`` is admitted only from someone the
    authorizer lets ``get`` Secrets in the namespace (namespace-admins, deploy identities bound
    as such). ``imagePullSecrets`` are not counted: the kubelet uses them, the pod never sees them.
    """
    secret_volume = "has(v.secret) || (has(v.projected) && has(v.projected.sources) && v.projected.sources.exists(s, has(s.secret)))"
    secret_env = "(has(c.env) && c.env.exists(e, has(e.valueFrom) && has(e.valueFrom.secretKeyRef))) || (has(c.envFrom) && c.envFrom.exists(e, has(e.secretRef)))"
    who = "request.userInfo.username + ' may not read Secrets in ' + request.namespace"
    return policy(
        CREDENTIALS_POLICY,
        "Workloads that mount or reference Secrets, or run as a ServiceAccount other than default, only from those who may read Secrets in the namespace.",
        match_rules(POD_RESOURCES),
        [
            {
                "expression": "!variables.usesSecrets || variables.mayReadSecrets",
                "messageExpression": f"{who} + ', so may not run a workload that mounts or references one (volumes, projected volumes, env, envFrom); ask a namespace-admin'",
            },
            {
                "expression": "variables.serviceAccount == 'default' || variables.mayReadSecrets",
                "messageExpression": f"{who} + ', so may not run a workload as ServiceAccount ' + variables.serviceAccount + '; ask a namespace-admin'",
            },
        ],
        [
            *POD_VARIABLES,
            {
                "name": "usesSecrets",
                "expression": f"(has(variables.podSpec.volumes) && variables.podSpec.volumes.exists(v, {secret_volume})) || variables.containers.exists(c, {secret_env})",
            },
            {
                "name": "serviceAccount",
                "expression": "has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName != '' ? variables.podSpec.serviceAccountName"
                " : has(variables.podSpec.serviceAccount) && variables.podSpec.serviceAccount != '' ? variables.podSpec.serviceAccount : 'default'",
            },
            {"name": "mayReadSecrets", "expression": "authorizer.group('').resource('secrets').namespace(request.namespace).check('get').allowed()"},
        ],
        [NOT_A_CONTROLLER, POD_SPEC_CHANGED],
    )


def scanner_workloads_policy(namespaces: Sequence[str]) -> dict[str, Any]:
    """The scanners' ServiceAccounts create and change workloads only in their own namespace.

    Their charts grant cluster-wide Job (and, for Trivy, Secret) writes (issue 17.7); a
    compromised scanner could otherwise start a pod in any namespace with that namespace's
    ServiceAccounts and Secrets (NSA/CISA: least privilege; CIS 5.1.4).
    """
    prefixes = cel_list([f"system:serviceaccount:{ns}:" for ns in namespaces])
    return policy(
        SCANNER_POLICY,
        "The security scanners' ServiceAccounts may create and change workloads only in their own namespace.",
        match_rules(POD_RESOURCES),
        [
            {
                "expression": "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')",
                "messageExpression": "request.userInfo.username + ' (a security scanner) may create and change workloads only in its own namespace, not in ' + request.namespace",
            }
        ],
        match_conditions=[{"name": "a-scanner-service-account", "expression": f"{prefixes}.exists(p, request.userInfo.username.startsWith(p))"}],
    )


# -- all of them --------------------------------------------------------------------------------

def policies(
    settings: AdmissionSettings, addon_images: Mapping[str, Sequence[str]], scanner_namespaces: Sequence[str]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every rule as (policy, binding), in a stable order.

    ``addon_images``: every add-on namespace → its image patterns (hardened_doks.addons.addon_images);
    ``scanner_namespaces``: the namespaces whose ServiceAccounts are held to their own namespace
    (hardened_doks.addons.scanner_namespaces).
    """
    images = {ns: tuple(patterns) for ns, patterns in addon_images.items()}
    mode = ACTIONS[settings.mode]
    deny: list[Action] = ["Deny"]
    everywhere_but_system = namespaces_not_in(EXEMPT_NAMESPACES)
    return [
        # Add-on namespaces run their charts' images instead (restrict-addon-images).
        (registry_policy(settings), binding(REGISTRY_POLICY, mode, namespaces_not_in(EXEMPT_NAMESPACES + tuple(images)))),
        (latest_tag_policy(), binding(TAG_POLICY, mode, everywhere_but_system)),
        (addon_image_policy(images), binding(ADDON_POLICY, mode, namespaces_in(tuple(images)))),
        (node_port_policy(), binding(NODE_PORT_POLICY, deny, everywhere_but_system)),
        (external_ips_policy(), binding(EXTERNAL_IPS_POLICY, deny, everywhere_but_system)),
        (rolebinding_subjects_policy(), binding(ROLEBINDING_POLICY, deny, TENANT_NAMESPACES)),
        (token_secret_policy(), binding(TOKEN_SECRET_POLICY, deny, TENANT_NAMESPACES)),
        (credentials_policy(), binding(CREDENTIALS_POLICY, deny, TENANT_NAMESPACES)),
        # No namespace scope: keyed on who asks, it applies in kube-system too.
        (scanner_workloads_policy(scanner_namespaces), binding(SCANNER_POLICY, deny, {})),
    ]


def manifests(settings: AdmissionSettings, addon_images: Mapping[str, Sequence[str]], scanner_namespaces: Sequence[str]) -> list[dict[str, Any]]:
    """Every policy, then every binding (a binding names its policy)."""
    pairs = policies(settings, addon_images, scanner_namespaces)
    return [p for p, _ in pairs] + [b for _, b in pairs]
