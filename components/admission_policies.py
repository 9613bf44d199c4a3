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
has them as a table):

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
from typing import Any, Literal

from hardened_doks.config import ADDON_NAMESPACES, KYVERNO_NAMESPACE, Admission as AdmissionSettings
from hardened_doks.kube import TEAM_LABEL, metadata

API_VERSION = "admissionregistration.k8s.io/v1"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
#: The one namespace no rule of a namespace scope applies to: kube-system is DOKS-managed
#: (CoreDNS, Cilium, konnectivity, the CSI driver…), DigitalOcean deploys its images and reverts
#: edits there, and policing it could block the cluster's own recovery. Tenants have no access
#: to it (components/rbac.py). The scanners' rule is keyed on who asks, so it applies there too.
EXEMPT_NAMESPACES: tuple[str, ...] = ("kube-system",)
#: The scanners layer's namespaces (components/scanners.py, components/alerts.py).
SCANNER_NAMESPACES: tuple[str, ...] = tuple(ns for ns in ADDON_NAMESPACES if ns != KYVERNO_NAMESPACE)
#: The images Kyverno's pinned chart runs (its controllers and its hook Jobs): the engine's
#: namespace is held to them like every add-on namespace to its chart's (DigitalOcean
#: supply-chain checklist: trusted registries only). Unlike Kyverno's own webhook, a
#: ValidatingAdmissionPolicy cannot deadlock Kyverno's start: the API server evaluates it.
KYVERNO_IMAGES: tuple[str, ...] = ("reg.kyverno.io/kyverno/*", "ghcr.io/kyverno/*")

REGISTRY_POLICY = "restrict-image-registries"
TAG_POLICY = "disallow-latest-tag"
ADDON_POLICY = "restrict-addon-images"
NODE_PORT_POLICY = "disallow-node-ports"
EXTERNAL_IPS_POLICY = "disallow-external-ips"
ROLEBINDING_POLICY = "restrict-rolebinding-subjects"
TOKEN_SECRET_POLICY = "disallow-service-account-token-secrets"
CREDENTIALS_POLICY = "restrict-workload-credentials"
SCANNER_POLICY = "restrict-scanner-workloads"
#: The policies whose action follows ``admission.mode`` (Warn + Audit in dev); the rest deny everywhere.
IMAGE_POLICIES: tuple[str, ...] = (REGISTRY_POLICY, TAG_POLICY, ADDON_POLICY)

Action = Literal["Deny", "Warn", "Audit"]
#: ``admission.mode`` → the bindings' validationActions: Audit reports (a warning to the client,
#: an audit-log annotation) and admits; Enforce rejects.
ACTIONS: dict[str, list[Action]] = {"Audit": ["Warn", "Audit"], "Enforce": ["Deny"]}

#: Pods and every built-in kind with a pod template, as (API group, resources).
POD_RESOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # pods/ephemeralcontainers: `kubectl debug` adds containers to a running pod through it.
    ("", ("pods", "pods/ephemeralcontainers", "replicationcontrollers")),
    ("apps", ("deployments", "replicasets", "statefulsets", "daemonsets")),
    ("batch", ("jobs", "cronjobs")),
)

# -- CEL building blocks ------------------------------------------------------------------------


def cel_string(value: str) -> str:
    """A CEL string literal (single-quoted, backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def cel_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(cel_string(v) for v in values) + "]"


_REGEX_SPECIAL = set(r".^$+()[]{}|\\")


def glob_regex(pattern: str) -> str:
    """A Kyverno-style image wildcard (``*`` any run of characters, ``?`` one) as an anchored RE2 regex."""
    out = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append("\\" + char if char in _REGEX_SPECIAL else char)
    return "^" + "".join(out) + "$"


def _pod_spec(obj: str) -> str:
    # dyn(): one policy matches several kinds, and each kind keeps its pod spec elsewhere.
    return (
        f"{obj}.kind == 'Pod' ? dyn({obj}.spec) : "
        f"{obj}.kind == 'CronJob' ? dyn({obj}).spec.jobTemplate.spec.template.spec : dyn({obj}).spec.template.spec"
    )


#: Variables every pod-spec rule uses: the pod spec, every container of it, their images.
POD_VARIABLES: tuple[dict[str, str], ...] = (
    {"name": "podSpec", "expression": _pod_spec("object")},
    {
        "name": "containers",
        "expression": "variables.podSpec.containers"
        " + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"
        " + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers : [])",
    },
    {"name": "images", "expression": "variables.containers.map(c, has(c.image) ? c.image : '')"},
)
#: Checked on create, and on update only when the pod spec changes: metadata-only updates
#: (labels, finalizers the garbage collector removes, owner references, scale) of an object
#: admitted before a rule existed are never refused, while every change to what runs is checked.
POD_SPEC_CHANGED: dict[str, str] = {
    "name": "pod-spec-created-or-changed",
    "expression": f"request.operation == 'CREATE' || ({_pod_spec('object')}) != ({_pod_spec('oldObject')})",
}
SERVICE_SPEC_CHANGED: dict[str, str] = {
    "name": "spec-created-or-changed",
    "expression": "request.operation == 'CREATE' || object.spec != oldObject.spec",
}


def _rules(resources: Sequence[tuple[str, Sequence[str]]], operations: Sequence[str] = ("CREATE", "UPDATE")) -> list[dict[str, Any]]:
    return [
        {"apiGroups": [group], "apiVersions": ["v1"], "resources": list(names), "operations": list(operations)}
        for group, names in resources
    ]


def policy(
    name: str,
    description: str,
    resource_rules: list[dict[str, Any]],
    validations: list[dict[str, str]],
    variables: Sequence[Mapping[str, str]] = (),
    match_conditions: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """A ValidatingAdmissionPolicy; every validation refuses with reason Forbidden."""
    spec: dict[str, Any] = {
        # A rule that cannot be evaluated (an unexpected object shape) counts as failed, and
        # its binding's actions apply: fail closed, as a Kyverno webhook in Enforce did
        # (NSA/CISA: admission control; the policy pack's k8s-admission-policies-fail-closed).
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": resource_rules},
    }
    if match_conditions:
        spec["matchConditions"] = [dict(c) for c in match_conditions]
    if variables:
        spec["variables"] = [dict(v) for v in variables]
    spec["validations"] = [{**v, "reason": "Forbidden"} for v in validations]
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": metadata(name, annotations={"hardened-doks.io/description": description}),
        "spec": spec,
    }


def binding(name: str, actions: Sequence[Action], namespace_selector: Mapping[str, Any]) -> dict[str, Any]:
    """The binding that puts policy ``name`` in force, with its actions and namespace scope."""
    spec: dict[str, Any] = {"policyName": name, "validationActions": list(actions)}
    if namespace_selector:
        spec["matchResources"] = {"namespaceSelector": dict(namespace_selector)}
    return {"apiVersion": API_VERSION, "kind": "ValidatingAdmissionPolicyBinding", "metadata": metadata(name), "spec": spec}


def namespaces_not_in(names: Sequence[str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": list(names)}]}


def namespaces_in(names: Sequence[str]) -> dict[str, Any]:
    return {"matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": list(names)}]}


#: Tenant namespaces: those carrying a team label (components/namespaces.py). Tenants cannot
#: edit namespaces (components/rbac.py), so they cannot take a namespace out of this scope.
TENANT_NAMESPACES: dict[str, Any] = {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]}


# -- the image rules (admission.mode) -----------------------------------------------------------


def registry_policy(settings: AdmissionSettings) -> dict[str, Any]:
    """Images only from the allowlisted registries (DigitalOcean supply-chain checklist; NSA/CISA: trusted repositories)."""
    prefixes = [f"{registry}/" for registry in settings.allowed_registries]
    allowed = ", ".join(settings.allowed_registries)
    return policy(
        REGISTRY_POLICY,
        "Images must come from the stack's registry allowlist (admission.allowed_registries).",
        _rules(POD_RESOURCES),
        [
            {
                "expression": "size(variables.disallowed) == 0",
                "messageExpression": f"'images must come from an allowed registry ({allowed}); not allowed: ' + variables.disallowed.join(', ')",
            }
        ],
        [*POD_VARIABLES, {"name": "disallowed", "expression": f"variables.images.filter(i, !{cel_list(prefixes)}.exists(p, i.startsWith(p)))"}],
        [POD_SPEC_CHANGED],
    )


#: An image reference whose last path segment names a tag: ``[host[:port]/]path/name:tag``.
#: The registry's port (``reg.example:5000/x/app``) is in an earlier segment and is no tag.
TAGGED = r"^(.+/)?[^/:]+:[^/:]+$"
LATEST = r"^(.+/)?[^/:]+:latest$"


def latest_tag_policy() -> dict[str, Any]:
    """A digest, or a tag that is not ``:latest`` (NSA/CISA: know what runs; CIS 5.5.1)."""
    return policy(
        TAG_POLICY,
        "Images must name an immutable tag or a digest, never :latest or no tag at all.",
        _rules(POD_RESOURCES),
        [
            {
                "expression": "size(variables.untagged) == 0",
                "messageExpression": "'an image tag or digest is required: ' + variables.untagged.join(', ')",
            },
            {
                "expression": "size(variables.latest) == 0",
                "messageExpression": "'the mutable :latest tag is not allowed: ' + variables.latest.join(', ')",
            },
        ],
        [
            *POD_VARIABLES,
            # A digest pins the image whatever the tag says.
            {"name": "untagged", "expression": f"variables.images.filter(i, !i.contains('@') && !i.matches({cel_string(TAGGED)}))"},
            {"name": "latest", "expression": f"variables.images.filter(i, !i.contains('@') && i.matches({cel_string(LATEST)}))"},
        ],
        [POD_SPEC_CHANGED],
    )


def addon_image_policy(images_by_namespace: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Each add-on namespace runs only its pinned chart's image repositories (DigitalOcean supply-chain checklist)."""
    patterns = "{" + ", ".join(f"{cel_string(ns)}: {cel_list([glob_regex(p) for p in images])}" for ns, images in images_by_namespace.items()) + "}"
    shown = "{" + ", ".join(f"{cel_string(ns)}: {cel_string(', '.join(images))}" for ns, images in images_by_namespace.items()) + "}"
    return policy(
        ADDON_POLICY,
        "Pods in a security add-on's namespace run only that add-on's upstream images.",
        _rules(POD_RESOURCES),
        [
            {
                "expression": "size(variables.disallowed) == 0",
                "messageExpression": f"'images in ' + request.namespace + ' must match ' + {shown}[request.namespace] + '; not allowed: ' + variables.disallowed.join(', ')",
            }
        ],
        [*POD_VARIABLES, {"name": "disallowed", "expression": f"variables.images.filter(i, !{patterns}[request.namespace].exists(p, i.matches(p)))"}],
        [POD_SPEC_CHANGED],
    )


# -- exposure -----------------------------------------------------------------------------------


def node_port_policy() -> dict[str, Any]:
    """No NodePort Services: a NodePort opens a port on every worker through DOKS's own firewall,
    which this stack cannot subtract from (NSA/CISA: network separation; docs/architecture.md, "What the worker firewall can and cannot do").
    LoadBalancer Services still get the node ports their DigitalOcean load balancer forwards to."""
    return policy(
        NODE_PORT_POLICY,
        "Services may not be of type NodePort; expose them through a LoadBalancer or an ingress.",
        _rules([("", ("services",))]),
        [{"expression": "!has(object.spec.type) || object.spec.type != 'NodePort'", "message": "Services of type NodePort are not allowed: use a LoadBalancer Service or an ingress"}],
        match_conditions=[SERVICE_SPEC_CHANGED],
    )


def external_ips_policy() -> dict[str, Any]:
    """No Service externalIPs: with them anyone who may create a Service can intercept traffic to
    any address (CVE-2020-8554; Kubernetes' advice is to refuse the field at admission)."""
    return policy(
        EXTERNAL_IPS_POLICY,
        "Services may not set externalIPs (CVE-2020-8554).",
        _rules([("", ("services",))]),
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
        _rules([("rbac.authorization.k8s.io", ("rolebindings",))]),
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
        _rules([("", ("secrets",))], operations=("CREATE",)),
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
        _rules(POD_RESOURCES),
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


def scanner_workloads_policy(namespaces: Sequence[str] = SCANNER_NAMESPACES) -> dict[str, Any]:
    """The scanners' ServiceAccounts create and change workloads only in their own namespace.

    Their charts grant cluster-wide Job (and, for Trivy, Secret) writes (issue 17.7); a
    compromised scanner could otherwise start a pod in any namespace with that namespace's
    ServiceAccounts and Secrets (NSA/CISA: least privilege; CIS 5.1.4).
    """
    prefixes = cel_list([f"system:serviceaccount:{ns}:" for ns in namespaces])
    return policy(
        SCANNER_POLICY,
        "The security scanners' ServiceAccounts may create and change workloads only in their own namespace.",
        _rules(POD_RESOURCES),
        [
            {
                "expression": "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')",
                "messageExpression": "request.userInfo.username + ' (a security scanner) may create and change workloads only in its own namespace, not in ' + request.namespace",
            }
        ],
        match_conditions=[{"name": "a-scanner-service-account", "expression": f"{prefixes}.exists(p, request.userInfo.username.startsWith(p))"}],
    )


# -- all of them --------------------------------------------------------------------------------


def addon_images_by_namespace(addon_images: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Every add-on namespace's image allowlist: the scanners layer's (components/scanners.py) and Kyverno's."""
    return {KYVERNO_NAMESPACE: KYVERNO_IMAGES, **{ns: tuple(images) for ns, images in addon_images.items()}}


def policies(settings: AdmissionSettings, addon_images: Mapping[str, Sequence[str]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every rule as (policy, binding), in a stable order.

    ``addon_images``: add-on namespace → image patterns (components/scanners.addon_images).
    """
    images = addon_images_by_namespace(addon_images)
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
        (scanner_workloads_policy(), binding(SCANNER_POLICY, deny, {})),
    ]


def manifests(settings: AdmissionSettings, addon_images: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Every policy, then every binding (a binding names its policy)."""
    pairs = policies(settings, addon_images)
    return [p for p, _ in pairs] + [b for _, b in pairs]
