"""The kubelet's Node: registration, status (capacity, conditions, nodeInfo) and its Lease.

Why it exists: the scheduler places pods by the Node's allocatable resources and the node
lifecycle controller judges the node's health by its Lease, renewed every 10 s in
``kube-node-lease``, and its Ready condition. Capacity is read from the host and from the
cgroup limits the kubelet itself runs under, so a kubelet confined to 1 CPU reports 1 CPU.

The status is computed by pure functions (``node_status``, ``pressure_conditions``) and
written with a merge patch of ``nodes/<name>/status`` only when it changed (or every
5 minutes, as Kubernetes' nodeStatusReportFrequency). It must never touch other nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apimachinery.client.informer import copy_object
from apimachinery.client.rest import TRANSPORT_ERRORS, ApiClient
from apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError

log = logging.getLogger(__name__)

# API errors and transport failures: worth a retry later, never a crash
RETRYABLE: tuple[type[BaseException], ...] = (StatusError, *TRANSPORT_ERRORS)

Obj = dict[str, Any]

KUBELET_VERSION = "v1.32.4-mizzen"
RUNTIME_VERSION = "mizzen://0.1"
LEASE_RENEW_SECONDS = 10.0
LEASE_DURATION_SECONDS = 40
STATUS_CHECK_SECONDS = 10.0
STATUS_REPORT_SECONDS = 300.0
MAX_PODS = 110
NODE_IP = "127.0.0.1"
# Kubernetes' default hard eviction thresholds
MEMORY_AVAILABLE_MIN = 100 * 2**20
NODEFS_AVAILABLE_MIN = 0.10


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class HostFacts:
    cpu: float
    memory: int
    storage: int
    memory_available: int
    storage_available: int
    pids_max: int
    pids_used: int
    kernel: str
    os_image: str
    arch: str
    machine_id: str
    boot_id: str


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    for line in _read("/proc/meminfo").splitlines():
        k, _, v = line.partition(":")
        parts = v.split()
        if parts and parts[0].isdigit():
            out[k] = int(parts[0]) * 1024
    return out


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def go_arch(machine: str | None = None) -> str:
    m = machine or platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x"}.get(m, m)


def host_facts(data_dir: str, own_limits: tuple[float | None, int | None] = (None, None)) -> HostFacts:
    """What the node offers: the smaller of the host's and the kubelet's cgroup limits. Blocking."""
    mem = _meminfo()
    cpu = float(os.cpu_count() or 1)
    memory = mem.get("MemTotal", 0)
    if own_limits[0] is not None:
        cpu = min(cpu, own_limits[0])
    if own_limits[1] is not None:
        memory = min(memory, own_limits[1])
    st = os.statvfs(data_dir)
    pids_max = int(_read("/proc/sys/kernel/pid_max", "32768") or 32768)
    try:
        pids_used = sum(1 for d in os.listdir("/proc") if d.isdigit())
    except OSError:
        pids_used = 0
    return HostFacts(cpu=cpu, memory=memory, storage=st.f_blocks * st.f_frsize,
                     memory_available=mem.get("MemAvailable", memory), storage_available=st.f_bavail * st.f_frsize,
                     pids_max=pids_max, pids_used=pids_used, kernel=platform.release(), os_image=_os_image(),
                     arch=go_arch(), machine_id=_read("/etc/machine-id"),
                     boot_id=_read("/proc/sys/kernel/random/boot_id"))


def cpu_quantity(cpu: float) -> str:
    """Whole cores as "2", fractions in millicores: 1.5 -> "1500m"."""
    milli = int(round(cpu * 1000))
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def capacity(f: HostFacts) -> dict[str, str]:
    return {"cpu": cpu_quantity(f.cpu), "memory": f"{f.memory // 1024}Ki",
            "ephemeral-storage": f"{f.storage // 1024}Ki", "pods": str(MAX_PODS), "hugepages-2Mi": "0",
            "hugepages-1Gi": "0"}


def pressure_conditions(f: HostFacts) -> list[tuple[str, bool, str, str]]:
    """(type, under pressure, reason, message) with Kubernetes' reasons and messages, using its
    default hard eviction thresholds (memory.available<100Mi, nodefs.available<10%)."""
    mem = f.memory_available < MEMORY_AVAILABLE_MIN
    disk = f.storage > 0 and f.storage_available / f.storage < NODEFS_AVAILABLE_MIN
    pid = f.pids_max > 0 and f.pids_used / f.pids_max > 0.9
    return [
        ("MemoryPressure", mem, "KubeletHasInsufficientMemory" if mem else "KubeletHasSufficientMemory",
         "kubelet has insufficient memory available" if mem else "kubelet has sufficient memory available"),
        ("DiskPressure", disk, "KubeletHasDiskPressure" if disk else "KubeletHasNoDiskPressure",
         "kubelet has disk pressure" if disk else "kubelet has no disk pressure"),
        ("PIDPressure", pid, "KubeletHasInsufficientPID" if pid else "KubeletHasSufficientPID",
         "kubelet has insufficient PID available" if pid else "kubelet has sufficient PID available"),
    ]


def node_object(name: str, f: HostFacts) -> Obj:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name,
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": f.arch, "beta.kubernetes.io/os": "linux",
                                    "beta.kubernetes.io/arch": f.arch},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {}}


def node_status(name: str, f: HostFacts, old: Obj, port: int, ready: bool = True, now: str | None = None) -> Obj:
    """The Node's status; conditions keep lastTransitionTime while unchanged (pure)."""
    t = now or _now()
    old_conds = {c.get("type"): c for c in old.get("conditions") or []}

    def cond(ctype: str, status: str, reason: str, message: str) -> Obj:
        prev = old_conds.get(ctype) or {}
        trans = prev.get("lastTransitionTime") if prev.get("status") == status and prev.get("lastTransitionTime") else t
        return {"type": ctype, "status": status, "lastHeartbeatTime": t, "lastTransitionTime": trans,
                "reason": reason, "message": message}

    conds = [cond(ctype, "True" if bad else "False", reason, msg) for ctype, bad, reason, msg in pressure_conditions(f)]
    conds.append(cond("Ready", "True", "KubeletReady", "kubelet is posting ready status") if ready
                 else cond("Ready", "False", "KubeletNotReady", "kubelet is stopping"))
    cap = capacity(f)
    return {"capacity": cap, "allocatable": dict(cap), "conditions": conds,
            "addresses": [{"type": "InternalIP", "address": NODE_IP}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "nodeInfo": {"machineID": f.machine_id, "systemUUID": f.machine_id, "bootID": f.boot_id,
                         "kernelVersion": f.kernel, "osImage": f.os_image, "containerRuntimeVersion": RUNTIME_VERSION,
                         "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
                         "operatingSystem": "linux", "architecture": f.arch}}


def _without_times(status: Obj) -> Obj:
    s = copy_object(status)
    for c in s.get("conditions") or []:
        c.pop("lastHeartbeatTime", None)
    return s


class NodeAgent:
    """Registers the Node, keeps its status and renews its Lease (``run``); ``pause`` and
    ``resume`` stop and restart the heartbeats (``mizzen node stop|start``)."""

    def __init__(self, client: ApiClient, name: str, data_dir: str, *, port: int = 0,
                 own_limits: tuple[float | None, int | None] = (None, None)) -> None:
        self.client = client
        self.name = name
        self.data_dir = data_dir
        self.port = port
        self.own_limits = own_limits
        self.uid = ""
        self.lease: Obj | None = None
        self.facts: HostFacts | None = None
        self.allocatable: dict[str, str] = {}
        self.registered = asyncio.Event()
        self.paused = False
        self._last_status: Obj | None = None
        self._last_report = 0.0

    async def register(self) -> None:
        f = await asyncio.to_thread(host_facts, self.data_dir, self.own_limits)
        self.facts = f
        self.allocatable = capacity(f)
        try:
            obj = await self.client.create("nodes", node_object(self.name, f))
        except AlreadyExists:
            obj = await self.client.get("nodes", self.name)
            labels = (obj.get("metadata") or {}).get("labels") or {}
            want = node_object(self.name, f)["metadata"]["labels"]
            if any(labels.get(k) != v for k, v in want.items()):
                obj = await self.client.patch("nodes", self.name, {"metadata": {"labels": want}})
        self.uid = obj["metadata"]["uid"]
        await self.update_status(force=True, old=obj.get("status") or {})
        with contextlib.suppress(StatusError):
            await self.client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": "kube-node-lease"}})
        await self.renew_lease()
        self.registered.set()
        log.info("kubelet: node %s registered (cpu %s, memory %s)", self.name, self.allocatable.get("cpu"),
                 self.allocatable.get("memory"))

    async def update_status(self, force: bool = False, old: Obj | None = None, ready: bool = True) -> None:
        f = await asyncio.to_thread(host_facts, self.data_dir, self.own_limits)
        self.facts = f
        self.allocatable = capacity(f)
        status = node_status(self.name, f, old if old is not None else (self._last_status or {}), self.port, ready)
        due = time.monotonic() - self._last_report >= STATUS_REPORT_SECONDS
        if not force and not due and self._last_status is not None \
                and _without_times(status) == _without_times(self._last_status):
            return
        await self.client.patch("nodes", self.name, {"status": status}, subresource="status")
        self._last_status = status
        self._last_report = time.monotonic()

    async def renew_lease(self) -> None:
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                "renewTime": _micro_now()}
        if self.lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": "kube-node-lease",
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.name,
                                                      "uid": self.uid}]},
                    "spec": spec}
            try:
                self.lease = await self.client.create("leases", body, "kube-node-lease")
                return
            except AlreadyExists:
                self.lease = await self.client.get("leases", self.name, "kube-node-lease")
        upd = copy_object(self.lease)
        upd["spec"] = {**(upd.get("spec") or {}), **spec}
        try:
            self.lease = await self.client.replace("leases", upd)
        except (Conflict, NotFound):
            self.lease = None

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeats until ``stop``: the Lease every 10 s, the status when it changes."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), LEASE_RENEW_SECONDS)
            if stop.is_set() or self.paused:
                continue
            try:
                await self.renew_lease()
                await self.update_status()
            except asyncio.CancelledError:
                raise
            except RETRYABLE as exc:
                log.warning("kubelet: node %s heartbeat failed: %s", self.name, exc)

    def pause(self) -> None:
        self.paused = True

    async def resume(self) -> None:
        self.paused = False
        with contextlib.suppress(*RETRYABLE):
            await self.renew_lease()
            await self.update_status(force=True)
