"""The semantic comparison of a declared Kubernetes object with the live one (tools/object_diff.py).

Live objects here are shaped as the API server returns them (defaults filled in, empty values
omitted, server metadata and status present); the e2e tier checks the same against a real one.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardened_doks.admission import signature_policy
from hardened_doks.admission_cel import binding, namespaces_not_in
from hardened_doks.admission_images import REGISTRY_POLICY
from hardened_doks.config import Admission
from hardened_doks.namespaces import allow_dns, default_deny, limit_range, namespace, resource_quota
from hardened_doks.config import ContainerDefaults, NamespaceQuota, PodSecurity
from hardened_doks.tools.object_diff import Difference, differences, property_path, removal_patch

SERVER_METADATA = {"uid": "0b5c", "resourceVersion": "812", "creationTimestamp": "2026-12-01T10:00:00Z", "managedFields": [{"manager": "x"}]}


def served(obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """``obj`` as the API server returns it: server metadata, annotations, status."""
    live = copy.deepcopy(obj)
    live["metadata"] = {**live["metadata"], **SERVER_METADATA, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}}
    live.update(extra)
    return live


def paths(found: list[Difference]) -> dict[str, tuple[str, Any, Any]]:
    return {d.path: (d.change, d.declared, d.live) for d in found}


# -- empty values and selectors ----------------------------------------------------------


def test_an_empty_pod_selector_narrowed_outside_pulumi_is_drift() -> None:
    declared = default_deny("storefront")
    live = served(declared)
    live["spec"]["podSelector"] = {"matchLabels": {"nothing": "matches"}}
    found = differences(declared, live)
    assert paths(found) == {"spec.podSelector.matchLabels": ("added", None, {"nothing": "matches"})}
    assert found[0].removable and found[0].pointer == "/spec/podSelector/matchLabels"


def test_empty_maps_and_lists_mean_absent_but_an_empty_selector_is_a_value() -> None:
    declared = default_deny("storefront")
    live = served(declared)
    live["spec"]["podSelector"] = {"matchLabels": {}, "matchExpressions": []}  # still "every pod"
    assert differences(declared, live) == []
    gone = served(declared)
    del gone["spec"]["podSelector"]  # absent is not "every pod"
    assert paths(differences(declared, gone)) == {"spec.podSelector": ("removed", {}, None)}


def test_a_namespace_selector_added_to_a_peer_widens_it() -> None:
    declared = allow_dns("storefront")
    live = served(declared)
    live["spec"]["egress"][0]["to"].append({"namespaceSelector": {}})  # every namespace
    assert paths(differences(declared, live)) == {"spec.egress[0].to[1]": ("added", None, {"namespaceSelector": {}})}


def test_an_allow_all_ingress_rule_added_to_default_deny_is_drift() -> None:
    declared = default_deny("storefront")
    live = served(declared)
    live["spec"]["ingress"] = [{}]
    assert paths(differences(declared, live)) == {"spec.ingress": ("added", None, [{}])}


# -- defaults ------------------------------------------------------------------------------


def test_fields_the_api_server_defaults_are_not_drift() -> None:
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"},
              "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 443}]}]}}
    live = served(policy)
    live["spec"]["policyTypes"] = ["Ingress", "Egress"]
    live["spec"]["egress"][0]["ports"][0]["protocol"] = "TCP"
    assert differences(policy, live) == []
    ns = namespace("storefront", PodSecurity(enforce="restricted", warn="restricted", audit="restricted"), "v1.34")
    ns_live = served(ns, spec={"finalizers": ["kubernetes"]}, status={"phase": "Active"})
    ns_live["metadata"]["labels"]["kubernetes.io/metadata.name"] = "storefront"
    assert differences(ns, ns_live) == []
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "a"},
               "roleRef": {"kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "name": "ci", "namespace": "a", "apiGroup": ""}]}
    binding_live = served(binding)
    binding_live["roleRef"]["apiGroup"] = "rbac.authorization.k8s.io"
    binding_live["subjects"] = [{"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}, {"kind": "ServiceAccount", "name": "ci", "namespace": "a"}]
    assert differences(binding, binding_live) == []


def test_a_limit_range_defaulted_from_its_max_is_not_drift() -> None:
    declared = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "a"},
                "spec": {"limits": [{"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}}]}}
    live = served(declared)
    live["spec"]["limits"][0].update({"default": {"cpu": "2", "memory": "1Gi"}, "defaultRequest": {"cpu": "2", "memory": "1Gi"}})
    assert differences(declared, live) == []


def test_a_default_the_stack_relies_on_changed_outside_pulumi_is_removable() -> None:
    """The provider cannot diff a path the stack never set; removing it brings the default back."""
    policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"},
              "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53}]}]}}
    live = served(policy)
    live["spec"]["egress"][0]["ports"][0]["protocol"] = "SCTP"
    (found,) = differences(policy, live)
    assert (found.path, found.change, found.declared, found.live, found.explicit) == ("spec.egress[0].ports[0].protocol", "changed", "TCP", "SCTP", False)
    assert found.removable


def test_a_declared_value_changed_outside_pulumi_is_for_pulumi_up() -> None:
    declared = namespace("storefront", PodSecurity(enforce="restricted", warn="restricted", audit="restricted"), "v1.34")
    live = served(declared)
    live["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "privileged"
    (found,) = differences(declared, live)
    assert found.path == 'metadata.labels["pod-security.kubernetes.io/enforce"]'
    assert (found.change, found.declared, found.live, found.explicit, found.removable) == ("changed", "restricted", "privileged", True, False)


def test_custom_resource_schema_defaults_and_pruning() -> None:
    crd = yaml.safe_load((Path(__file__).parent / "fixtures" / "object_diff" / "widget-crd.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    declared = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
                "spec": {"mode": "Enforce", "rules": [{"name": "r"}], "unknownField": 1}}
    live = served({**declared, "spec": {"mode": "Enforce", "admission": True, "rules": [{"name": "r", "skip": True}]}})
    assert differences(declared, live) != []  # without the schema: its defaults look like drift
    assert differences(declared, live, schema=schema) == []
    live["spec"]["admission"] = False
    assert paths(differences(declared, live, schema=schema)) == {"spec.admission": ("changed", True, False)}


def test_kyverno_policy_switched_to_audit_names_the_rule_field() -> None:
    key = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n"
    declared = signature_policy(Admission(mode="Enforce", cosign_public_key=key))
    assert declared is not None
    live = served(declared)
    live["spec"]["rules"][0]["verifyImages"][0]["failureAction"] = "Audit"
    assert paths(differences(declared, live)) == {"spec.rules[0].verifyImages[0].failureAction": ("changed", "Enforce", "Audit")}


def test_admission_binding_switched_to_warn_names_the_actions_field() -> None:
    declared = binding(REGISTRY_POLICY, ["Deny"], namespaces_not_in(("kube-system",)))
    live = served(declared)
    live["spec"]["validationActions"] = ["Warn", "Audit"]
    found = paths(differences(declared, live))
    assert found and all(path.startswith("spec.validationActions") for path in found), found


# -- list order ----------------------------------------------------------------------------


def test_list_order_is_not_drift_but_a_changed_element_is() -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}, {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]}
    live = served(role)
    live["rules"] = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}, {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "get"]}]
    assert differences(role, live) == []
    live["rules"].append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})
    found = differences(role, live)
    assert paths(found) == {"rules[2]": ("added", None, {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})}
    assert found[0].pointer == "/rules/2" and found[0].removable
    live["rules"] = [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "delete"]}, role["rules"][0]]
    assert paths(differences(role, live)) == {"rules[1].verbs[1]": ("added", None, "delete")}


def test_ordered_lists_keep_their_order() -> None:
    job = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": "a"},
           "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "python:3.12.1", "command": ["python", "/app/notify.py"]}]}}}}}}
    live = served(job)
    container = live["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    # the API server's defaults for a CronJob, its pod template and containers
    live["spec"].update({"concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1})
    live["spec"]["jobTemplate"]["spec"]["template"]["spec"].update(
        {"dnsPolicy": "ClusterFirst", "securityContext": {}, "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler"}
    )
    container.update({"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"})
    assert differences(job, live) == []
    live["spec"]["concurrencyPolicy"] = "Forbid"  # not the default any more
    assert [d.path for d in differences(job, live)] == ["spec.concurrencyPolicy"]
    live["spec"]["concurrencyPolicy"] = "Allow"
    container["command"] = ["/app/notify.py", "python"]
    assert set(paths(differences(job, live))) == {
        "spec.jobTemplate.spec.template.spec.containers[0].command[0]", "spec.jobTemplate.spec.template.spec.containers[0].command[1]",
    }


# -- quantities, subjects, patches, secrets --------------------------------------------------


def test_quantities_compare_by_value() -> None:
    quota = resource_quota("a", NamespaceQuota())
    live = served(quota)
    hard = live["spec"]["hard"]
    key = next(k for k, v in hard.items() if v.endswith("Gi"))
    hard[key] = str(int(hard[key].removesuffix("Gi")) * 1024) + "Mi"
    assert differences(quota, live) == []
    hard["pods"] = "1000"
    assert paths(differences(quota, live)) == {"spec.hard.pods": ("changed", quota["spec"]["hard"]["pods"], "1000")}
    limits = limit_range("a", ContainerDefaults())
    live_limits = served(limits)
    live_limits["spec"]["limits"][0]["max"]["cpu"] = "64"
    assert [d.path for d in differences(limits, live_limits)] == ["spec.limits[0].max.cpu"]


def test_a_subject_added_to_a_binding_is_drift_and_its_removal_is_guarded() -> None:
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "a"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
               "subjects": [{"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}]}
    live = served(binding)
    mallory = {"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}
    live["subjects"] = [mallory, *binding["subjects"], {**mallory, "name": "eve"}]
    found = differences(binding, live)
    assert [(d.path, d.change) for d in found] == [("subjects[0]", "added"), ("subjects[2]", "added")]
    assert removal_patch(found) == [
        {"op": "test", "path": "/subjects/2", "value": {**mallory, "name": "eve"}},
        {"op": "test", "path": "/subjects/0", "value": mallory},
        {"op": "remove", "path": "/subjects/2"},
        {"op": "remove", "path": "/subjects/0"},
    ]


def test_a_patch_resource_compares_only_what_it_sets() -> None:
    declared = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "a", "labels": {"x": "1"}},
                "automountServiceAccountToken": False}
    live = served(declared, imagePullSecrets=[{"name": "registry"}])  # another controller's field
    live["metadata"]["labels"]["other"] = "2"
    assert differences(declared, live, patch=True) == []
    live["automountServiceAccountToken"] = True
    assert paths(differences(declared, live, patch=True)) == {"automountServiceAccountToken": ("changed", False, True)}
    del live["automountServiceAccountToken"]  # absent means "mount a token"
    assert paths(differences(declared, live, patch=True)) == {"automountServiceAccountToken": ("removed", False, None)}


def test_labels_are_compared_and_annotations_and_secret_values_are_not() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a", "labels": {"x": "1"}}, "stringData": {"url": "[secret]"}}
    live = served(secret, data={"url": "aHR0cHM6Ly9ldmls"}, type="Opaque")
    live["metadata"]["annotations"]["note"] = "changed"
    assert differences(secret, live) == []
    live["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] = "true"
    assert paths(differences(secret, live)) == {'metadata.labels["rbac.authorization.k8s.io/aggregate-to-admin"]': ("added", None, "true")}


@pytest.mark.parametrize(
    "tokens, path",
    [(["spec", "podSelector"], "spec.podSelector"), (["metadata", "labels", "a.b/c"], 'metadata.labels["a.b/c"]'), (["rules", 3, "verbs"], "rules[3].verbs")],
)
def test_property_paths_use_the_engine_syntax(tokens: list[Any], path: str) -> None:
    assert property_path(tokens) == path


def test_validating_admission_policy_defaults_are_not_drift_and_audit_instead_of_deny_is() -> None:
    policy = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "no-nodeport"},
              "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["services"]}]},
                       "validations": [{"expression": "object.spec.type != 'NodePort'"}]}}
    live = served(policy)
    live["spec"]["failurePolicy"] = "Fail"
    live["spec"]["matchConstraints"].update({"matchPolicy": "Equivalent", "namespaceSelector": {}, "objectSelector": {}})
    live["spec"]["matchConstraints"]["resourceRules"][0]["scope"] = "*"
    assert differences(policy, live) == []
    live["spec"]["failurePolicy"] = "Ignore"
    (found,) = differences(policy, live)
    assert (found.path, found.explicit, found.removable) == ("spec.failurePolicy", False, True)  # removing it restores Fail
    binding = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "no-nodeport"},
               "spec": {"policyName": "no-nodeport", "validationActions": ["Deny"]}}
    live_binding = served(binding)
    live_binding["spec"]["validationActions"] = ["Audit"]
    assert paths(differences(binding, live_binding)) == {"spec.validationActions[0]": ("changed", "Deny", "Audit")}
