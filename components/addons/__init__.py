"""The security add-ons, one module each: every module here defines ``ADDON``, an
:class:`hardened_doks.addon.Addon`. Adding a module (and the config section its ``enabled`` reads) is
all it takes to add an add-on: the components and tools find it here.
"""

from __future__ import annotations

import importlib
import pkgutil

from hardened_doks.addon import Addon
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


def addon_images(config: StackConfig) -> dict[str, tuple[str, ...]]:
    """Every add-on namespace → the images it may run (the add-on image policy admits nothing else)."""
    return {addon.namespace: addon.images(config) for addon in ADDONS}


#: The add-on namespaces that run below Pod Security ``restricted`` → (level, reason): the one
#: place an exemption is granted is its add-on's descriptor (``pod_security``, ``exemption``).
POD_SECURITY_EXEMPTIONS: dict[str, tuple[str, str]] = {addon.namespace: (addon.pod_security, addon.exemption) for addon in ADDONS if addon.exemption}
