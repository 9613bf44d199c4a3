"""The security add-ons, one module each: every module here defines ``ADDON``, an
:class:`hardened_doks.addon.Addon`. Adding a module (and the config section its ``enabled`` reads) is
all it takes to add an add-on: the components and tools find it here, and every list of add-on facts
(namespaces, chart pins, pinned images) is derived here from the descriptors.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

from hardened_doks.addon import Addon
from hardened_doks.chart_pin import ChartPin, PinnedImage
from hardened_doks.config import StackConfig


def discover(package: str = __name__) -> tuple[Addon, ...]:
    """Every add-on module's ``ADDON`` in ``package``, by ``order``."""
    root = importlib.import_module(package)
    found = [importlib.import_module(f"{package}.{module.name}").ADDON for module in pkgutil.iter_modules(root.__path__)]
    return tuple(sorted(found, key=lambda addon: (addon.order, addon.key)))


#: Every add-on, by ``order``.
ADDONS: tuple[Addon, ...] = discover()


def enabled(config: StackConfig, layer: str) -> list[Addon]:
    """The add-ons of ``layer`` the config enables, in install order."""
    found = [addon for addon in ADDONS if addon.layer == layer and addon.enabled(config)]
    return sorted(found, key=lambda addon: addon.order if addon.install_order is None else addon.install_order)


def installed(config: StackConfig) -> list[Addon]:
    """Every add-on the config enables, by ``order`` (reports and the budget list them so)."""
    return [addon for addon in ADDONS if addon.enabled(config)]


def namespaces() -> tuple[str, ...]:
    """Every add-on's namespace, by ``order``."""
    return tuple(addon.namespace for addon in ADDONS)


def scanner_namespaces() -> tuple[str, ...]:
    """The add-on namespaces outside the admission layer (the scanners' and the notifier's): their
    ServiceAccounts may change workloads only there (restrict-scanner-workloads), and Kyverno's
    signature policy skips them (they run upstream images, held to their own by restrict-addon-images)."""
    return tuple(addon.namespace for addon in ADDONS if addon.layer != "admission")


def addon_images(config: StackConfig) -> dict[str, tuple[str, ...]]:
    """Every add-on namespace → the images it may run (the add-on image policy admits nothing else)."""
    return {addon.namespace: addon.images(config) for addon in ADDONS}


#: The add-on namespaces that run below Pod Security ``restricted`` → (level, reason): the one
#: place an exemption is granted is its add-on's descriptor (``pod_security``, ``exemption``).
POD_SECURITY_EXEMPTIONS: dict[str, tuple[str, str]] = {addon.namespace: (addon.pod_security, addon.exemption) for addon in ADDONS if addon.exemption}


# The lists below are derived once, at import, from the descriptors found then (a new module is in
# them); the components call the functions above, which read ADDONS when they run.
#: Every add-on's namespace, by ``order``; reserved: no tenant may take one (components/config/tenancy.py).
ADDON_NAMESPACES: tuple[str, ...] = namespaces()
#: The add-on namespaces outside the admission layer (see :func:`scanner_namespaces`).
SCANNER_NAMESPACES: tuple[str, ...] = scanner_namespaces()
#: Every pinned chart of the stack, by add-on key (tools/charts.py, `make check-pins`).
CHART_PINS: dict[str, ChartPin] = {addon.key: addon.chart for addon in ADDONS if addon.chart is not None}
#: The scanners layer's pinned charts, by add-on key.
SCANNER_CHARTS: dict[str, ChartPin] = {addon.key: addon.chart for addon in ADDONS if addon.chart is not None and addon.layer == "scanners"}
#: Every image and artifact the pinned charts run with the stack's values, each with its add-on's key
#: (tests/unit/test_chart_images.py fails on one not listed; `make image-digests` resolves their digests).
PINNED_IMAGES: tuple[PinnedImage, ...] = tuple(dataclasses.replace(image, addon=addon.key) for addon in ADDONS for image in addon.pinned_images)
