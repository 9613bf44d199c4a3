"""The Pod Security Standards' checks, evaluated on a pod spec (a test helper, not product code).

The API server's Pod Security admission (k8s.io/pod-security-admission, ``latest`` of Kubernetes
1.34) refuses a pod whose spec fails a check of its namespace's enforced level. The unit tier runs
these checks on every pod template the stack and its charts render (a chart's pods are created by
controllers long after ``helm install`` succeeded, so a refusal would only show as FailedCreate
events); the e2e tier sees the real admission decide on live pods.

Each check is transcribed from https://kubernetes.io/docs/concepts/security/pod-security-standards/
(Kubernetes 1.34): the fields it reads and the values it allows. :func:`violations` returns one
message per failed check, naming the container.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

LEVELS = ("privileged", "baseline", "restricted")

_BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)
_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
_SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    }
)  # fmt: skip
_RESTRICTED_VOLUMES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"})
_VOLUME_META = frozenset({"name"})


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _baseline(spec: dict[str, Any], annotations: dict[str, str]) -> list[str]:
    problems: list[str] = []
    pod = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"host namespaces: {field}=true")
    if (pod.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("hostProcess: pod")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"hostPath volume {volume.get('name')}")
    if (pod.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append("seccomp: pod Unconfined")
    if (pod.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
        problems.append("AppArmor: pod profile")
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (value == "runtime/default" or value.startswith("localhost/")):
            problems.append(f"AppArmor: annotation {key}={value}")
    problems += _selinux("pod", pod.get("seLinuxOptions"))
    problems += [f"sysctl {s.get('name')}" for s in pod.get("sysctls") or [] if s.get("name") not in _SAFE_SYSCTLS]
    for container in containers(spec):
        name, context = container.get("name"), container.get("securityContext") or {}
        if context.get("privileged"):
            problems.append(f"privileged: container {name}")
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"hostProcess: container {name}")
        added = set((context.get("capabilities") or {}).get("add") or []) - _BASELINE_CAPABILITIES
        if added:
            problems.append(f"capabilities: container {name} adds {sorted(added)}")
        problems += [f"hostPort {p['hostPort']}: container {name}" for p in container.get("ports") or [] if p.get("hostPort")]
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            problems.append(f"seccomp: container {name} Unconfined")
        if (context.get("appArmorProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost"):
            problems.append(f"AppArmor: container {name}")
        if context.get("procMount") not in (None, "Default"):
            problems.append(f"procMount: container {name}")
        problems += _selinux(f"container {name}", context.get("seLinuxOptions"))
    return problems


def _selinux(where: str, options: Any) -> list[str]:
    options = options or {}
    if options.get("type", "") not in _SELINUX_TYPES or options.get("user") or options.get("role"):
        return [f"SELinux: {where} {options}"]
    return []


def _restricted(spec: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    pod = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - _VOLUME_META
        if not kinds <= _RESTRICTED_VOLUMES:
            problems.append(f"volume {volume.get('name')} of type {sorted(kinds - _RESTRICTED_VOLUMES)}")
    if pod.get("runAsUser") == 0:
        problems.append("runAsUser=0: pod")
    pod_seccomp = (pod.get("seccompProfile") or {}).get("type")
    for container in containers(spec):
        name, context = container.get("name"), container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"allowPrivilegeEscalation != false: container {name}")
        non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"runAsNonRoot != true: container {name}")
        if context.get("runAsUser") == 0:
            problems.append(f"runAsUser=0: container {name}")
        seccomp = (context.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"seccompProfile not RuntimeDefault/Localhost: container {name}")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"capabilities: container {name} must drop ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"capabilities: container {name} adds {sorted(added)}")
    return problems


def violations(spec: dict[str, Any], level: str, annotations: dict[str, str] | None = None) -> list[str]:
    """What Pod Security admission at ``level`` refuses in a pod spec (empty: admitted)."""
    if level not in LEVELS:
        raise ValueError(level)
    if level == "privileged":
        return []
    problems = _baseline(spec, annotations or {})
    return problems + _restricted(spec) if level == "restricted" else problems
