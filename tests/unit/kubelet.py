"""The part of the kubelet a test needs to run a pod's process for real: what a Secret volume's
files look like on disk, and which user and groups the container's process gets.

Read from Kubernetes' source (release 1.34):

- ``pkg/volume/secret/secret.go`` (``MakePayload``): every key becomes a file with its item's
  ``mode``, else the volume's ``defaultMode`` (0644 when unset, the API default), written by the
  kubelet, so owned by root:root;
- ``pkg/volume/volume_linux.go`` (``SetVolumeOwnership``, ``changeFilePermission``): without a
  pod ``fsGroup`` nothing more happens; with one every file's group becomes the fsGroup and its
  mode gains 0440 (``roMask``: a Secret volume is mounted read-only);
- the container's process runs as ``runAsUser``/``runAsGroup`` (the container's over the pod's)
  with the supplementary groups ``fsGroup`` and ``supplementalGroups``. Groups an image's
  ``/etc/group`` adds are left out: the notifier's image is not here to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

#: The API server's default for a Secret volume's defaultMode.
DEFAULT_MODE = 0o644
#: The group bits SetVolumeOwnership adds to the files of a read-only volume.
READ_ONLY_MASK = 0o440


@dataclass(frozen=True)
class FileAttributes:
    uid: int
    gid: int
    mode: int


@dataclass(frozen=True)
class ProcessCredentials:
    uid: int
    gid: int
    groups: tuple[int, ...]


def secret_file(pod: Mapping[str, Any], volume_name: str, key: str) -> FileAttributes:
    """Owner, group and mode of the file a Secret volume of ``pod`` holds for ``key``."""
    (volume,) = [v for v in pod["volumes"] if v["name"] == volume_name]
    source = volume["secret"]
    mode = int(source.get("defaultMode", DEFAULT_MODE))
    for item in source.get("items") or []:
        if item["key"] == key and "mode" in item:
            mode = int(item["mode"])
    fs_group = (pod.get("securityContext") or {}).get("fsGroup")
    if fs_group is None:
        return FileAttributes(0, 0, mode)
    return FileAttributes(0, int(fs_group), mode | READ_ONLY_MASK)


def process(pod: Mapping[str, Any], container: Mapping[str, Any]) -> ProcessCredentials:
    """The user, primary group and supplementary groups of ``container``'s process."""
    pod_context = pod.get("securityContext") or {}
    context = {**pod_context, **(container.get("securityContext") or {})}
    if "runAsUser" not in context or "runAsGroup" not in context:
        raise ValueError("the process's user would come from the image: set runAsUser and runAsGroup")
    groups = [int(pod_context["fsGroup"])] if "fsGroup" in pod_context else []
    groups += [int(g) for g in pod_context.get("supplementalGroups") or []]
    return ProcessCredentials(int(context["runAsUser"]), int(context["runAsGroup"]), tuple(dict.fromkeys(groups)))
