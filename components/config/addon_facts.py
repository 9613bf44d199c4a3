"""What validating the config needs to know of the security add-ons, read from their descriptors.

The direction of the layers: the descriptors (components/addons/) import the config, since their
values, network paths and images are functions of ``StackConfig``; the config therefore never
imports them at module level. The few checks that need an add-on fact (its namespace is reserved,
a digest names one of its pinned images, a local chart is its pinned chart) call these functions,
which import the registry when a check runs, once every module is loaded. A new add-on is thus
reserved and checked with no edit in the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardened_doks.addon import Addon


def addons() -> tuple[Addon, ...]:
    """Every add-on descriptor, by ``order`` (hardened_doks.addons.ADDONS, read when called)."""
    import hardened_doks.addons as registry

    return registry.ADDONS


def addon_namespaces() -> frozenset[str]:
    """Every add-on's namespace."""
    return frozenset(addon.namespace for addon in addons())


def pinned_references() -> frozenset[str]:
    """Every image and artifact reference the add-ons' pinned charts run."""
    return frozenset(image.reference for addon in addons() for image in addon.pinned_images)
