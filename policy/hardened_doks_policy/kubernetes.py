"""Policies on Kubernetes resources: namespaces, network policies, RBAC, images, resource limits,
Services and admission policies.

They are written on Kubernetes resource types (pulumi-kubernetes type tokens), not on this
project's components, so they hold for any stack that creates these objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Optional

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from hardened_doks.policy.digitalocean import DEFAULT_PRODUCTION_TAGS
from hardened_doks.policy.meta import (
    BREAK_GLASS_ANNOTATION,
    cis,
    config_value,
    digitalocean,
    get,
    has_break_glass,
    items,
    nsa,
    pss,
    resource_policy,
    stack_policy,
)

NAMESPACE = "kubernetes:core/v1:Namespace"
#: Namespaces the stack creates, and those Kubernetes creates that it patches (default,
#: kube-public, kube-node-lease): both must carry the Pod Security label and default-deny.
NAMESPACES = (NAMESPACE, "kubernetes:core/v1:NamespacePatch")
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
RBAC = "kubernetes:rbac.authorization.k8s.io/v1:"
ROLES = (RBAC + "Role", RBAC + "ClusterRole")
BINDINGS = (RBAC + "RoleBinding", RBAC + "ClusterRoleBinding")
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SERVICE = "kubernetes:core/v1:Service"
ADMISSION_POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"

#: Where each workload type keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
#: Workloads whose containers must carry resource limits (the long-running ones).
LIMITED_WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:StatefulSet",
)
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
PSA_LEVELS = ("privileged", "baseline", "restricted")

DEFAULT_ALLOWED_REGISTRIES = ["registry.digitalocean.com"]
DEFAULT_REQUIRED_LIMITS = ["cpu", "memory"]
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


# -- namespaces ----------------------------------------------------------------------


def _validate_pod_security_label(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in NAMESPACES:
        return
    level = get(args.props, "metadata", "labels", PSA_ENFORCE)
    if level is None:
        report_violation(f"namespace has no {PSA_ENFORCE} label (Pod Security admission does not enforce anything)", None)
    elif level not in PSA_LEVELS:
        report_violation(f"{PSA_ENFORCE}={level} is not a Pod Security level ({', '.join(PSA_LEVELS)})", None)
    elif level == "privileged" and not has_break_glass(args.props):
        report_violation(
            f"{PSA_ENFORCE}=privileged without a {BREAK_GLASS_ANNOTATION} annotation saying why", None
        )


def _name(props: Mapping[str, Any]) -> Optional[str]:
    return get(props, "metadata", "name")


def _is_default_deny(props: Mapping[str, Any], direction: str) -> bool:
    """True when a NetworkPolicy selects every pod and allows nothing in ``direction``."""
    spec = get(props, "spec", default={})
    selector = get(spec, "podSelector", default={})
    selects_all = not items(get(selector, "matchExpressions")) and not get(selector, "matchLabels")
    declared = direction.capitalize() in [str(t) for t in items(get(spec, "policyTypes"))]
    return selects_all and declared and not items(get(spec, direction))


def _validate_default_deny(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    covered: dict[str, set[str]] = {}
    for resource in args.resources:
        if resource.resource_type == NETWORK_POLICY:
            namespace = get(resource.props, "metadata", "namespace", default="default")
            for direction in ("ingress", "egress"):
                if _is_default_deny(resource.props, direction):
                    covered.setdefault(str(namespace), set()).add(direction)
    for resource in args.resources:
        if resource.resource_type not in NAMESPACES:
            continue
        name = _name(resource.props) or resource.name
        missing = sorted({"ingress", "egress"} - covered.get(str(name), set()))
        if missing:
            report_violation(
                f"namespace {name} has no default-deny NetworkPolicy for {' and '.join(missing)} in this stack",
                resource.urn,
            )


# -- RBAC ----------------------------------------------------------------------------


def _validate_rbac_wildcards(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in ROLES:
        return
    for index, rule in enumerate(items(args.props.get("rules"))):
        for field in ("apiGroups", "resources", "verbs", "nonResourceURLs"):
            if "*" in [str(v) for v in items(get(rule, field))]:
                report_violation(f"rules[{index}].{field} contains '*'", None)


def _validate_cluster_admin_binding(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in BINDINGS:
        return
    role = args.props.get("roleRef") or {}
    if get(role, "kind") == "ClusterRole" and get(role, "name") == "cluster-admin" and not has_break_glass(args.props):
        subjects = ", ".join(f"{get(s, 'kind')}/{get(s, 'name')}" for s in items(args.props.get("subjects")))
        report_violation(
            f"binds cluster-admin to {subjects or 'no subject'} without a {BREAK_GLASS_ANNOTATION} annotation", None
        )


def _validate_binding_subjects(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in BINDINGS or has_break_glass(args.props):
        return
    for index, subject in enumerate(items(args.props.get("subjects"))):
        kind, name = get(subject, "kind"), str(get(subject, "name", default=""))
        if kind in ("User", "Group") and name.startswith("system:"):
            report_violation(f"subjects[{index}] is {kind} {name}: a built-in identity (every authenticated user, every ServiceAccount, a component)", None)


#: What no person may do in production (Kubescape C-0002 exec, C-0007 delete, C-0015 Secrets, C-0063
#: port-forward; attach is exec by another name): (API group, resource) → verbs.
HUMAN_FORBIDDEN: dict[tuple[str, str], frozenset[str]] = {
    ("", "pods/exec"): frozenset({"create", "get"}),
    ("", "pods/attach"): frozenset({"create", "get"}),
    ("", "pods/portforward"): frozenset({"create", "get"}),
    ("", "secrets"): frozenset({"get", "list", "watch"}),
    ("", "pods"): frozenset({"delete", "deletecollection"}),
}


def _forbidden_grants(rules: Any) -> list[str]:
    """The "verb resource" pairs of HUMAN_FORBIDDEN that ``rules`` grant."""
    granted: set[str] = set()
    for rule in items(rules):
        groups, resources, verbs = ({str(v) for v in items(get(rule, f))} for f in ("apiGroups", "resources", "verbs"))
        for (group, resource), forbidden in HUMAN_FORBIDDEN.items():
            if (group in groups or "*" in groups) and (resource in resources or "*" in resources):
                granted |= {f"{verb} {resource}" for verb in forbidden if verb in verbs or "*" in verbs}
    return sorted(granted)


#: The label the stack puts on its tenant namespaces with its environment (hardened_doks.kube ENVIRONMENT_LABEL),
#: and the values that mean production.
PRODUCTION_NAMESPACE_LABEL = "hardened-doks.io/environment"
PRODUCTION_ENVIRONMENTS = frozenset({"prod", "production"})


def is_production(resources: Any) -> bool:
    """A DigitalOcean resource tagged env:prod, or (existing-cluster mode: no DigitalOcean resource) a
    namespace labelled with a production environment."""
    tags = set(DEFAULT_PRODUCTION_TAGS)
    for r in resources:
        if {str(t) for t in items(get(r.props, "tags"))} & tags:
            return True
        if r.resource_type == "kubernetes:core/v1:Namespace" and get(r.props, "metadata", "labels", PRODUCTION_NAMESPACE_LABEL) in PRODUCTION_ENVIRONMENTS:
            return True
    return False


def _validate_people_read_only(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    if not is_production(args.resources):
        return
    roles = {
        (r.resource_type.rsplit(":", 1)[1], get(r.props, "metadata", "namespace") if r.resource_type.endswith(":Role") else None, get(r.props, "metadata", "name")): r.props
        for r in args.resources
        if r.resource_type in ROLES
    }
    for binding in args.resources:
        if binding.resource_type not in BINDINGS or has_break_glass(binding.props):
            continue
        people = [f"{get(s, 'kind')}/{get(s, 'name')}" for s in items(binding.props.get("subjects")) if get(s, "kind") in ("User", "Group")]
        ref = binding.props.get("roleRef") or {}
        kind = get(ref, "kind")
        role = roles.get((kind, get(binding.props, "metadata", "namespace") if kind == "Role" else None, get(ref, "name")))
        granted = _forbidden_grants(get(role, "rules")) if role is not None and people else []
        if granted:
            report_violation(
                f"{get(binding.props, 'metadata', 'name')} gives {', '.join(people)} {', '.join(granted)} in production "
                "(people read; a deploy identity changes; exec only through break-glass)",
                binding.urn,
            )


# -- Services ------------------------------------------------------------------------


def _validate_service_exposure(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != SERVICE:
        return
    if get(args.props, "spec", "type") == "NodePort":
        report_violation("spec.type is NodePort: the port opens on every worker, through DOKS's own firewall", None)
    if items(get(args.props, "spec", "externalIPs")):
        report_violation("spec.externalIPs is set (CVE-2020-8554: a Service may intercept traffic to any address)", None)


# -- admission policies --------------------------------------------------------------


def _validate_admission_fails_closed(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != ADMISSION_POLICY:
        return
    # Kubernetes' default is Fail; Ignore admits whatever a rule cannot evaluate.
    if get(args.props, "spec", "failurePolicy") == "Ignore":
        report_violation("spec.failurePolicy is Ignore: an object the policy cannot evaluate is admitted", None)


# -- workloads -----------------------------------------------------------------------


def containers(args: ResourceValidationArgs) -> Iterator[tuple[str, Any]]:
    """(path, container) of every container of a workload's pod template."""
    path = POD_SPEC_PATHS.get(args.resource_type)
    if path is None:
        return
    pod = get(args.props, *path, default={})
    for field in CONTAINER_LISTS:
        for index, container in enumerate(items(get(pod, field))):
            yield f"{'.'.join(path)}.{field}[{index}]", container


def registry_of(image: str) -> str:
    """The registry and repository path of an image reference, e.g. ``docker.io/library/nginx``."""
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return name
    return "docker.io/" + (name if rest else "library/" + name)


def image_allowed(image: str, allowed_registries: list[str]) -> bool:
    if _DIGEST.search(image):
        return True
    reference = registry_of(image)
    return any(reference == entry or reference.startswith(entry.rstrip("/") + "/") for entry in allowed_registries)


IMAGE_SCHEMA = PolicyConfigSchema(
    properties={
        "allowedRegistries": {
            "type": "array",
            "items": {"type": "string"},
            "default": DEFAULT_ALLOWED_REGISTRIES,
            "description": "Registries (or registry/path prefixes) whose images may be referenced by tag.",
        }
    }
)


def _validate_images(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    allowed = list(config_value(args, "allowedRegistries", DEFAULT_ALLOWED_REGISTRIES))
    for path, container in containers(args):
        image = str(get(container, "image", default=""))
        if not image_allowed(image, allowed):
            report_violation(
                f"{path} image {image or '(none)'} is neither pinned by digest (@sha256:...) "
                f"nor from an allowed registry ({', '.join(allowed)})",
                None,
            )


LIMITS_SCHEMA = PolicyConfigSchema(
    properties={
        "requiredLimits": {
            "type": "array",
            "items": {"type": "string"},
            "default": DEFAULT_REQUIRED_LIMITS,
            "description": "Resource limits every container must set.",
        }
    }
)


def _missing_limits(resources: Any, required: list[str]) -> list[str]:
    limits = get(resources, "limits", default={})
    return [r for r in required if not get(limits, r)]


def _resources_blocks(values: Any, path: str = "values") -> Iterator[tuple[str, Any]]:
    """Every ``resources`` mapping in Helm values (the chart's per-component resource settings)."""
    if isinstance(values, Mapping):
        for key, value in values.items():
            if key == "resources" and isinstance(value, Mapping):
                yield f"{path}.resources", value
            else:
                yield from _resources_blocks(value, f"{path}.{key}")
    elif not isinstance(values, (str, bytes)):
        for index, value in enumerate(items(values)):
            yield from _resources_blocks(value, f"{path}[{index}]")


def _validate_limits(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    required = list(config_value(args, "requiredLimits", DEFAULT_REQUIRED_LIMITS))
    if args.resource_type in LIMITED_WORKLOADS:
        for path, container in containers(args):
            missing = _missing_limits(get(container, "resources"), required)
            if missing:
                report_violation(f"{path} ({get(container, 'name')}) sets no {'/'.join(missing)} limit", None)
    elif args.resource_type == HELM_RELEASE:
        blocks = list(_resources_blocks(args.props.get("values")))
        if not blocks:
            args.not_applicable("the release sets no resources in its values; the chart defaults are not visible here")
        for path, resources in blocks:
            missing = _missing_limits(resources, required)
            if missing:
                report_violation(f"{path} sets no {'/'.join(missing)} limit", None)


def policies() -> list[Any]:
    return [
        resource_policy(
            "k8s-namespace-pod-security",
            f"Every Namespace carries a {PSA_ENFORCE} label (baseline or restricted; privileged only with a "
            f"{BREAK_GLASS_ANNOTATION} annotation).",
            _validate_pod_security_label,
            controls=[cis("5.2.1"), pss("Baseline / Restricted (enforce)"), nsa("Kubernetes Pod security")],
            severity=Severity.HIGH,
            remediation=f"Label the namespace {PSA_ENFORCE}=restricted (or baseline where a workload needs it).",
        ),
        stack_policy(
            "k8s-namespace-default-deny",
            "Every Namespace the stack creates has default-deny NetworkPolicies for ingress and egress in the same stack.",
            _validate_default_deny,
            controls=[cis("5.3.2"), nsa("Network separation and hardening (network policies)")],
            severity=Severity.HIGH,
            remediation="Add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress] and no rules, "
            "then allow the flows each workload needs (DNS to kube-dns first).",
        ),
        resource_policy(
            "k8s-rbac-no-wildcards",
            "Roles and ClusterRoles do not grant '*' verbs, resources, API groups or non-resource URLs.",
            _validate_rbac_wildcards,
            controls=[cis("5.1.3"), nsa("Authentication and authorization")],
            severity=Severity.HIGH,
            remediation="List the API groups, resources and verbs the subject needs.",
        ),
        resource_policy(
            "k8s-no-cluster-admin-binding",
            f"No RoleBinding or ClusterRoleBinding grants cluster-admin, except with a {BREAK_GLASS_ANNOTATION} "
            "annotation giving the reason.",
            _validate_cluster_admin_binding,
            controls=[cis("5.1.1"), nsa("Authentication and authorization")],
            severity=Severity.CRITICAL,
            remediation="Bind a least-privilege Role instead; for an emergency, annotate the binding "
            f"{BREAK_GLASS_ANNOTATION}: '<who, why, until when>' and remove it afterwards.",
        ),
        resource_policy(
            "k8s-no-system-subject-binding",
            f"No RoleBinding or ClusterRoleBinding names a system: user or group (system:authenticated, "
            f"system:serviceaccounts, …), except with a {BREAK_GLASS_ANNOTATION} annotation giving the reason.",
            _validate_binding_subjects,
            controls=[cis("5.1.1"), nsa("Authentication and authorization")],
            severity=Severity.HIGH,
            remediation="Bind the team's own users or groups, or a ServiceAccount (kind: ServiceAccount).",
        ),
        stack_policy(
            "k8s-prod-people-read-only",
            f"In production (a resource tagged env:prod, or a namespace labelled {PRODUCTION_NAMESPACE_LABEL}=prod), no binding gives a person (User or Group) exec, attach, "
            f"port-forward, Secrets or pod deletion, except with a {BREAK_GLASS_ANNOTATION} annotation.",
            _validate_people_read_only,
            controls=[cis("5.1.2"), nsa("Authentication and authorization")],
            severity=Severity.HIGH,
            remediation="Bind people to read-only roles (rbac.human_access: read-only), route changes through the team's deploy "
            "identity (a ServiceAccount or CI group) and bind the break-glass role by hand only during an incident.",
        ),
        resource_policy(
            "k8s-services-not-exposed-on-nodes",
            "Services are not of type NodePort and set no externalIPs.",
            _validate_service_exposure,
            controls=[nsa("Network separation and hardening"), digitalocean("Worker firewalls")],
            severity=Severity.HIGH,
            remediation="Expose Services through a LoadBalancer or an ingress; drop externalIPs (CVE-2020-8554).",
        ),
        resource_policy(
            "k8s-admission-policies-fail-closed",
            "ValidatingAdmissionPolicies do not set failurePolicy: Ignore.",
            _validate_admission_fails_closed,
            controls=[nsa("Kubernetes Pod security (admission controllers)")],
            severity=Severity.HIGH,
            remediation="Leave failurePolicy unset or set it to Fail; fix the expression instead of ignoring its errors.",
        ),
        resource_policy(
            "k8s-images-pinned-or-allowlisted",
            "Workload containers use images pinned by digest or from an allowed registry.",
            _validate_images,
            controls=[cis("5.5.1"), nsa("Supply chain: trusted, scanned images")],
            severity=Severity.HIGH,
            remediation="Reference images as repo@sha256:<digest>, or push them to an allowed registry "
            "(config allowedRegistries, default registry.digitalocean.com).",
            config_schema=IMAGE_SCHEMA,
        ),
        resource_policy(
            "k8s-resource-limits",
            "Deployment, DaemonSet and StatefulSet containers, and resources blocks in Helm release values, set "
            "CPU and memory limits.",
            _validate_limits,
            controls=[nsa("Resource policies")],
            severity=Severity.MEDIUM,
            remediation="Set resources.limits (cpu, memory) on every container and in each chart's resources values.",
            config_schema=LIMITS_SCHEMA,
        ),
    ]
