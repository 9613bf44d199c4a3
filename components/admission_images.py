"""The image rules the API server enforces, following ``admission.mode`` (Warn + Audit in dev, Deny
in staging and prod): images only from the allowlisted registries, never ``:latest`` or untagged,
and each add-on namespace held to its chart's images (components/admission_policies.py binds them).

Signatures are Kyverno's (components/admission.py): a CEL rule cannot read a registry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hardened_doks.admission_cel import POD_RESOURCES, POD_SPEC_CHANGED, POD_VARIABLES, cel_list, cel_string, glob_regex, match_rules, policy
from hardened_doks.config import Admission as AdmissionSettings

REGISTRY_POLICY = "restrict-image-registries"
TAG_POLICY = "disallow-latest-tag"
ADDON_POLICY = "restrict-addon-images"
#: The policies whose action follows ``admission.mode`` (Warn + Audit in dev); the rest deny everywhere.
IMAGE_POLICIES: tuple[str, ...] = (REGISTRY_POLICY, TAG_POLICY, ADDON_POLICY)

def registry_policy(settings: AdmissionSettings) -> dict[str, Any]:
    """Images only from the allowlisted registries (DigitalOcean supply-chain checklist; NSA/CISA: trusted repositories)."""
    prefixes = [f"{registry}/" for registry in settings.allowed_registries]
    allowed = ", ".join(settings.allowed_registries)
    return policy(
        REGISTRY_POLICY,
        "Images must come from the stack's registry allowlist (admission.allowed_registries).",
        match_rules(POD_RESOURCES),
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
        match_rules(POD_RESOURCES),
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
        match_rules(POD_RESOURCES),
        [
            {
                "expression": "size(variables.disallowed) == 0",
                "messageExpression": f"'images in ' + request.namespace + ' must match ' + {shown}[request.namespace] + '; not allowed: ' + variables.disallowed.join(', ')",
            }
        ],
        [*POD_VARIABLES, {"name": "disallowed", "expression": f"variables.images.filter(i, !{patterns}[request.namespace].exists(p, i.matches(p)))"}],
        [POD_SPEC_CHANGED],
    )
