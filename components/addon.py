"""What a security add-on is, and what every add-on shares.

An add-on (Kyverno, Kubescape, Trivy, Snyk, Falco, falcosidekick, the notifier) is described by
one :class:`Addon` in its own module under ``components/addons/``: its namespace, chart pin,
pinned images, release, values, network policies, extra objects, allowed images, Pod Security level (and the
reason for any exemption) and the workloads the budget counts. The components (Admission,
Scanners, Alerts) and the tools (budget, renders) iterate over those descriptors; nothing else
names an add-on. This module holds what they share: the restricted security contexts, image
digests and scheduling of the charts' pods, the add-on namespace and the Helm release builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional

from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.config import NamespaceQuota, PodSecurity, StackConfig
from hardened_doks.kube import addon_scheduling
from hardened_doks.namespaces import RESTRICTED, baseline, pod_security_version

#: Pod-level security context of the add-ons' pods (Pod Security Standards restricted: non-root,
#: RuntimeDefault seccomp).
POD_SECURITY: dict[str, Any] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
#: Container-level security context (restricted: no privilege escalation, all capabilities
#: dropped; NSA/CISA: read-only root filesystem, non-root).
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
}
# No add-on pod sets seLinuxOptions (the review asked): DOKS worker nodes are Debian-based and run
# no SELinux policy, so an SELinux label would be inert; the Linux hardening in force is seccomp
# RuntimeDefault plus all capabilities dropped (Kubescape C-0055 accepts either). AppArmor's
# RuntimeDefault is not set either: a node without AppArmor rejects pods that ask for a profile, and
# DOKS's AppArmor state could not be verified from here.
#: The annotation the policy pack requires on a namespace enforcing privileged, holding the reason.
BREAK_GLASS_ANNOTATION = "hardened-doks.io/break-glass"

Manifests = list[dict[str, Any]]


@dataclass(frozen=True)
class Workload:
    """A workload of an add-on the node budget counts: its kind, how many pods, each pod's requests."""

    component: str
    kind: str
    count: int
    requests: Mapping[str, Any]


def _nothing(config: StackConfig) -> Manifests:
    return []


def tenant_quota(config: StackConfig) -> NamespaceQuota:
    """The tenants' quota: what most add-on namespaces are bounded by."""
    return config.namespace_quota


@dataclass(frozen=True)
class Addon:
    """One security add-on: everything the stack, the policy pack and the tools need to know of it."""

    #: Its key (chart pins, pinned images, digests and the budget name it by this).
    key: str
    #: Its own managed namespace.
    namespace: str
    #: Where it is built: "admission" (components/admission.py), "scanners" (components/scanners.py)
    #: or "alerts" (components/alerts.py).
    layer: str
    #: Its place in reports, policies and the budget (lowest first).
    order: int
    #: Whether the stack config enables it.
    enabled: Callable[[StackConfig], bool]
    #: The image patterns the add-on image policy admits in its namespace (Kyverno wildcards).
    images: Callable[[StackConfig], tuple[str, ...]]
    #: The network paths it needs beyond its namespace baseline (default-deny + DNS).
    network_policies: Callable[[StackConfig], Manifests]
    #: The pods the node budget counts: (config, chart values, nodes) → workloads.
    workloads: Callable[[StackConfig, Mapping[str, Any], int], list[Workload]]
    #: The Helm release's name ("" for an add-on of plain manifests).
    release: str = ""
    #: Its official chart, pinned.
    chart: Optional[ChartPin] = None
    #: Every image and OCI artifact that chart runs with the stack's values (tests/unit/test_chart_images.py
    #: fails on one not listed; ``addon_image_digests`` may pin each by digest).
    pinned_images: tuple[PinnedImage, ...] = ()
    #: The dotted config key of a local chart folder or archive used instead of the repository
    #: ("" = none); the config checks it is the pinned chart (components/config/checks.py).
    chart_path_key: str = ""
    #: The chart values (a pure function of the config).
    values: Optional[Callable[[StackConfig], dict[str, Any]]] = None
    #: Objects the stack creates for it (credentials, RBAC), after its namespace.
    extra_objects: Callable[[StackConfig], Manifests] = _nothing
    #: The Pod Security level its namespace enforces, and why when it is not restricted.
    pod_security: str = "restricted"
    exemption: str = ""
    #: The namespace's label ``app.kubernetes.io/name`` ("" = the namespace's name).
    label: str = ""
    #: The namespace's ResourceQuota (None: no quota and no LimitRange).
    quota: Optional[Callable[[StackConfig], NamespaceQuota]] = tenant_quota
    #: A post-renderer Helm pipes the chart's manifests through (relative to the project folder).
    postrender: Optional[str] = None
    #: Its place in its layer's install order, when not ``order``.
    install_order: Optional[int] = None
    #: How long Helm may take to install or upgrade it, in seconds.
    timeout: int = 900

    def __post_init__(self) -> None:
        if (self.pod_security == "restricted") != (not self.exemption):
            raise ValueError(f"add-on {self.key}: a namespace below restricted needs its exemption reason, and only then")
        if self.pinned_images and self.chart is None:
            raise ValueError(f"add-on {self.key}: pinned images are those of its chart, and it has none")

    def chart_path(self, config: StackConfig) -> Optional[str]:
        """The local chart the config names for it (``chart_path_key``), if any."""
        if not self.chart_path_key:
            return None
        value: Any = config
        for part in self.chart_path_key.split("."):
            value = getattr(value, part)
        return value


@dataclass(frozen=True)
class AddonInstall:
    """One add-on as a component installs it: what its descriptor builds for one stack's config
    (components/stack.py maps the config onto it), so the Admission, Scanners and Alerts components
    read no ``StackConfig``."""

    #: Its key and managed namespace.
    key: str
    namespace: str
    #: Its namespace with the baseline (Pod Security, quota, LimitRange, default-deny, DNS): :func:`namespace_objects`.
    namespace_objects: tuple[dict[str, Any], ...]
    #: The network paths it needs beyond the baseline, then the other objects it needs (credentials, RBAC).
    network_policies: tuple[dict[str, Any], ...] = ()
    extra_objects: tuple[dict[str, Any], ...] = ()
    #: The Helm Release's arguments (:func:`release_args`); None for an add-on of plain manifests.
    release: Optional[dict[str, Any]] = None


def with_digests(config: StackConfig, images: tuple[PinnedImage, ...], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every configured digest of an add-on's pinned images set where its chart names it.

    CIS 5.5.1 / NSA-CISA: an image by digest is exactly the image that was reviewed; a tag (and an
    OCI artifact's tag) can be moved to other content. The tag stays in front for readability
    (``repo:tag@sha256:…``: the runtime pulls by digest). Digests come from ``addon_image_digests``
    (``make image-digests`` resolves them); none is invented here.
    """
    for image in images:
        digest = config.image_digest(image.reference)
        if digest is None:
            continue
        *parents, leaf = image.value
        node: Any = values
        for key in parents:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[leaf] = f"{image.tag if image.form == 'tag' else image.reference}@{digest}"
    return values


def scheduling(config: StackConfig, node_selector: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """nodeSelector and tolerations of an add-on's pods: the isolated system pool (if it is)."""
    selector, tolerations = addon_scheduling(config)
    return {"nodeSelector": {**(node_selector or {}), **selector}, "tolerations": tolerations}


def from_namespace(name: str) -> dict[str, Any]:
    """A NetworkPolicy peer: every pod of namespace ``name``."""
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def tcp(port: int) -> dict[str, Any]:
    """A NetworkPolicy port: TCP ``port``."""
    return {"protocol": "TCP", "port": port}


def namespace_objects(config: StackConfig, addon: Addon) -> Manifests:
    """An add-on's managed namespace with the tenants' baseline (Pod Security, quota, LimitRange,
    default-deny, DNS): restricted, or its documented exemption (with the reason)."""
    # Enforce only what an exempt node agent needs; warn and audit at restricted, so anything else
    # that lands there is visible.
    pod_security = RESTRICTED if not addon.exemption else PodSecurity(enforce=addon.pod_security, warn="restricted", audit="restricted")
    labels = {"app.kubernetes.io/name": addon.label or addon.namespace}
    # The quota and LimitRange bound what an add-on can take from the cluster (NSA/CISA: resource
    # policies) and give defaults to any chart container that sets no requests.
    quota = addon.quota(config) if addon.quota is not None else None
    defaults = config.container_defaults if quota is not None else None
    objects = baseline(addon.namespace, pod_security, pod_security_version(config), labels, quota, defaults)
    if addon.exemption:
        # The policy pack requires the break-glass annotation on every namespace enforcing privileged.
        objects[0]["metadata"]["annotations"] = {BREAK_GLASS_ANNOTATION: addon.exemption}
    return objects


def release_args(config: StackConfig, addon: Addon) -> dict[str, Any]:
    """A Helm Release's arguments: the pinned chart from its repository, or a local folder or archive."""
    assert addon.chart is not None and addon.values is not None, addon.key
    path = addon.chart_path(config)
    chart: dict[str, Any]
    if path is not None:
        chart = {"chart": path}
    else:
        chart = {"chart": addon.chart.name, "version": addon.chart.version, "repository_opts": {"repo": addon.chart.repo}}
    if addon.postrender is not None:
        chart["postrender"] = addon.postrender
    return {
        **chart,
        "name": addon.release,
        "namespace": addon.namespace,
        "create_namespace": False,
        "values": addon.values(config),
        "skip_await": config.skip_await,
        "timeout": addon.timeout,
        "max_history": 10,
    }
