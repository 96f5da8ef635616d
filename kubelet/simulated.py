"""A simulated kubelet: Nodes that exist only as API objects, for tests and benchmarks that
need no root and no processes. It is a runtime of its own, named "simulated" everywhere it
appears (node labels, nodeInfo, container IDs), so nobody mistakes it for the real kubelet.

    await run_simulated_nodes(kubeconfig, ["node-1", "node-2"], stop=stop_event)

What it does, per node: registers the Node (Ready, capacity/allocatable, nodeInfo with
kubeletVersion v1.32.0, addresses, a pod CIDR), renews its Lease in `kube-node-lease` every
10 s, and moves pods bound to it (`spec.nodeName`) to Running and Ready at once: conditions,
container statuses, a fake pod IP from the node's range, startTime. A pod being deleted has
its containers marked terminated and is then deleted with gracePeriodSeconds 0.

A test asks for a failure or a delay with pod annotations:

- `simulated.mizzen.io/fail: image`   -> Pending, ErrImagePull / ImagePullBackOff
- `simulated.mizzen.io/fail: crash`   -> Running, container waiting in CrashLoopBackOff, not ready
- `simulated.mizzen.io/fail: exit1`   -> exits with code 1: Failed under restartPolicy Never,
                                         otherwise as `crash`
- `simulated.mizzen.io/fail: succeed` -> exits 0: Succeeded under Never/OnFailure
- `simulated.mizzen.io/ready-after: "2.5"` -> Running at once, Ready after 2.5 s
- `simulated.mizzen.io/never-ready: "true"` -> Running, never Ready

`SimulatedNodes.stop_node(name)` / `start_node(name)` stop and resume one node's heartbeats
and pod handling (to rehearse node failure). It never starts a process and never touches the
machine: it is an API client only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from apimachinery import resources
from apimachinery.client import Informer
from apimachinery.client.informer import copy_object
from apimachinery.client.rest import TRANSPORT_ERRORS, ApiClient
from apimachinery.client.workqueue import ShutDown, WorkQueue
from apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError

log = logging.getLogger(__name__)

_RETRYABLE: tuple[type[BaseException], ...] = (StatusError, *TRANSPORT_ERRORS)

Obj = dict[str, Any]

FAIL = "simulated.mizzen.io/fail"
READY_AFTER = "simulated.mizzen.io/ready-after"
NEVER_READY = "simulated.mizzen.io/never-ready"
KUBELET_VERSION = "v1.32.0"
LEASE_RENEW_SECONDS = 10.0
LEASE_DURATION_SECONDS = 40
DEFAULT_CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110"}


def _res(plural: str, group: str = "") -> resources.ResourceInfo:
    return next(r for r in resources.DEFAULT if r.plural == plural and r.group == group)


PODS, NODES, LEASES, NAMESPACES = _res("pods"), _res("nodes"), _res("leases", "coordination.k8s.io"), _res("namespaces")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_ip(index: int) -> str:
    return f"172.18.{index // 250}.{index % 250 + 2}"


def pod_cidr(index: int) -> tuple[str, str]:
    """(CIDR, prefix) of a node's pod range: 10.244.<i>.0/24, spilling into 10.245... past 255."""
    a, b = 244 + index // 256, index % 256
    return f"10.{a}.{b}.0/24", f"10.{a}.{b}."


def node_object(name: str, index: int, capacity: dict[str, str]) -> Obj:
    cidr, _ = pod_cidr(index)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name,
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                                "beta.kubernetes.io/arch": "amd64", "mizzen.io/runtime": "simulated"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", "mizzen.io/simulated": "true"}},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
    }


def node_status(name: str, index: int, capacity: dict[str, str], ready: bool = True) -> Obj:
    t = _now()
    cap = {"ephemeral-storage": "100Gi", "hugepages-2Mi": "0", **capacity}

    def cond(ctype: str, status: str, reason: str, message: str) -> Obj:
        return {"type": ctype, "status": status, "lastHeartbeatTime": t, "lastTransitionTime": t,
                "reason": reason, "message": message}
    return {
        "capacity": dict(cap), "allocatable": dict(cap),
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status") if ready else
            cond("Ready", "False", "KubeletNotReady", "simulated node stopped"),
        ],
        "addresses": [{"type": "InternalIP", "address": node_ip(index)}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {"machineID": f"simulated-{index}", "systemUUID": f"simulated-{index}", "bootID": f"simulated-{index}",
                     "kernelVersion": "simulated", "osImage": "mizzen simulated node",
                     "containerRuntimeVersion": "simulated://0.1.0", "kubeletVersion": KUBELET_VERSION,
                     "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": "amd64"},
    }


def _qos(pod: Obj) -> str:
    cs = (pod.get("spec") or {}).get("containers") or []
    if not any((c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits") for c in cs):
        return "BestEffort"
    for c in cs:
        r = c.get("resources") or {}
        lim, req = r.get("limits") or {}, r.get("requests") or {}
        if not lim.get("cpu") or not lim.get("memory") or any(req.get(k, lim[k]) != lim[k] for k in ("cpu", "memory")):
            return "Burstable"
    return "Guaranteed"


def simulated_status(pod: Obj, pod_ip: str, host_ip: str, ready: bool, at: str) -> Obj:
    """The status a real kubelet would report for `pod`, as the test asked through its
    annotations (pure: no I/O)."""
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    spec = pod.get("spec") or {}
    fail = ann.get(FAIL, "")
    restart = spec.get("restartPolicy", "Always")
    old = pod.get("status") or {}
    start = old.get("startTime") or at
    names = [c.get("name", "") for c in spec.get("containers") or []]
    images = {c.get("name", ""): c.get("image", "") for c in spec.get("containers") or []}
    uid = (pod.get("metadata") or {}).get("uid", "")

    def cs(name: str, state: Obj, is_ready: bool, restarts: int = 0, last: Obj | None = None) -> Obj:
        out = {"name": name, "image": images[name], "imageID": f"simulated://{images[name]}",
               "containerID": f"simulated://{uid}-{name}", "ready": is_ready, "started": "running" in state,
               "restartCount": restarts, "state": state, "lastState": last or {}}
        return out
    phase = "Running"
    if fail == "image":
        phase = "Pending"
        statuses = [cs(n, {"waiting": {"reason": "ImagePullBackOff",
                                       "message": f'Back-off pulling image "{images[n]}"'}}, False) for n in names]
        for s in statuses:
            s.pop("containerID")
            s["imageID"] = ""
    elif fail in ("crash", "exit1") and not (fail == "exit1" and restart == "Never"):
        term = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": start, "finishedAt": at,
                               "containerID": f"simulated://{uid}"}}
        statuses = [cs(n, {"waiting": {"reason": "CrashLoopBackOff",
                                       "message": f"back-off 10s restarting failed container={n} pod="
                                                  f"{pod['metadata'].get('name', '')}_{pod['metadata'].get('namespace', '')}"
                                                  f"({uid})"}}, False,
                       restarts=1, last=term) for n in names]
    elif fail == "exit1" or (fail == "succeed" and restart in ("Never", "OnFailure")):
        code = 1 if fail == "exit1" else 0
        phase = "Failed" if code else "Succeeded"
        statuses = [cs(n, {"terminated": {"exitCode": code, "reason": "Error" if code else "Completed",
                                          "startedAt": start, "finishedAt": at,
                                          "containerID": f"simulated://{uid}-{n}"}}, False) for n in names]
    else:
        statuses = [cs(n, {"running": {"startedAt": start}}, ready) for n in names]
    all_ready = bool(statuses) and all(s["ready"] for s in statuses)
    unready = [s["name"] for s in statuses if not s["ready"]]

    def cond(ctype: str, ok: bool, reason: str = "", message: str = "") -> Obj:
        prev = next((c for c in old.get("conditions") or [] if c.get("type") == ctype), None)
        st = "True" if ok else "False"
        c: Obj = {"type": ctype, "status": st, "lastProbeTime": None,
                  "lastTransitionTime": prev["lastTransitionTime"] if prev and prev.get("status") == st else at}
        if not ok and reason:
            c["reason"], c["message"] = reason, message
        return c
    not_ready_msg = f"containers with unready status: [{' '.join(unready)}]"
    done = phase in ("Succeeded", "Failed")
    conditions = [
        cond("PodReadyToStartContainers", not done),
        cond("Initialized", True),
        cond("Ready", all_ready, "PodCompleted" if done else "ContainersNotReady", "" if done else not_ready_msg),
        cond("ContainersReady", all_ready, "PodCompleted" if done else "ContainersNotReady", "" if done else not_ready_msg),
        cond("PodScheduled", True),
    ]
    status: Obj = {"phase": phase, "conditions": conditions, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "startTime": start, "containerStatuses": statuses, "qosClass": _qos(pod)}
    if phase != "Pending":
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


def terminated_status(pod: Obj, at: str) -> Obj:
    """Every container terminated (exit 0 after SIGTERM), the pod no longer ready."""
    st = copy_object(pod.get("status") or {})
    out = []
    for c in st.get("containerStatuses") or []:
        started = ((c.get("state") or {}).get("running") or {}).get("startedAt") or at
        c = dict(c)
        c["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": at}}
        c["ready"], c["started"] = False, False
        out.append(c)
    st["containerStatuses"] = out
    for c in st.get("conditions") or []:
        if c.get("type") in ("Ready", "ContainersReady") and c.get("status") == "True":
            c["status"], c["lastTransitionTime"] = "False", at
    return st


class _Node:
    def __init__(self, name: str, index: int, capacity: dict[str, str]):
        self.name = name
        self.index = index
        self.capacity = capacity
        self.running = True
        self.uid = ""
        self.lease: Obj | None = None
        self.next_ip = 2
        self.ips: dict[str, str] = {}
        self.seen: dict[str, float] = {}  # pod uid -> monotonic time first handled

    def ip_for(self, pod_uid: str) -> str:
        ip = self.ips.get(pod_uid)
        if ip is None:
            _, prefix = pod_cidr(self.index)
            ip = self.ips[pod_uid] = f"{prefix}{self.next_ip}"
            self.next_ip = 2 if self.next_ip >= 254 else self.next_ip + 1
        return ip


class SimulatedNodes:
    """A set of simulated nodes sharing one pod informer and one work queue."""

    def __init__(self, client: ApiClient, names: list[str], *, capacity: dict[str, str] | None = None,
                 workers: int = 16, start_index: int = 0, lease_renew_seconds: float | None = None):
        self.client = client
        self.lease_renew_seconds = lease_renew_seconds or LEASE_RENEW_SECONDS
        self.nodes = {n: _Node(n, start_index + i, dict(capacity or DEFAULT_CAPACITY)) for i, n in enumerate(names)}
        self.workers = workers
        self.queue = WorkQueue("simulated-kubelet")
        self.pods = Informer(client, PODS)
        self.pods.add_handler(on_add=self._pod_event, on_update=lambda old, new: self._pod_event(new),
                              on_delete=self._pod_gone)
        self.registered = asyncio.Event()

    # -- nodes ---------------------------------------------------------------------------

    async def _ensure_namespace(self, name: str) -> None:
        try:
            await self.client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except StatusError as e:
            if e.code != 409:
                log.warning("simulated kubelet: could not create namespace %s: %s", name, e)

    async def _register(self, node: _Node) -> None:
        try:
            obj = await self.client.create(NODES, node_object(node.name, node.index, node.capacity))
        except AlreadyExists:
            obj = await self.client.get(NODES, node.name)
        node.uid = obj["metadata"]["uid"]
        await self._post_status(node, obj, ready=True)

    async def _post_status(self, node: _Node, obj: Obj | None, ready: bool) -> None:
        for _ in range(5):
            if obj is None:
                obj = await self.client.get(NODES, node.name)
            upd = copy_object(obj)
            upd["status"] = {**(obj.get("status") or {}), **node_status(node.name, node.index, node.capacity, ready)}
            try:
                await self.client.update_status(NODES, upd)
                return
            except Conflict:
                obj = None

    async def _renew_lease(self, node: _Node) -> None:
        spec = {"holderIdentity": node.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": _micro_now()}
        if node.lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": node.name, "namespace": "kube-node-lease",
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node.name,
                                                      "uid": node.uid}]},
                    "spec": spec}
            try:
                node.lease = await self.client.create(LEASES, body, "kube-node-lease")
                return
            except AlreadyExists:
                node.lease = await self.client.get(LEASES, node.name, "kube-node-lease")
        upd = copy_object(node.lease)
        upd["spec"] = {**(upd.get("spec") or {}), **spec}
        try:
            node.lease = await self.client.replace(LEASES, upd)
        except (Conflict, NotFound):
            node.lease = None

    async def _renew_all(self) -> None:
        live = [n for n in self.nodes.values() if n.running]
        for i in range(0, len(live), 200):
            results = await asyncio.gather(*(self._renew_lease(n) for n in live[i:i + 200]),
                                           return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    log.debug("simulated kubelet: lease renewal failed: %s", r)

    async def _heartbeats(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.lease_renew_seconds)
            await self._renew_all()
            log.debug("simulated kubelet: leases renewed in %.2fs", time.monotonic() - started - self.lease_renew_seconds)

    async def stop_node(self, name: str) -> None:
        """The node fails: no more heartbeats, its pods are left as they are."""
        self.nodes[name].running = False

    async def start_node(self, name: str) -> None:
        """The node comes back: Ready again, heartbeats resume, its pods are looked at again."""
        node = self.nodes[name]
        node.running = True
        await self._post_status(node, None, ready=True)
        await self._renew_lease(node)
        for p in self.pods.store.by_index("spec.nodeName", name):
            self._pod_event(p)

    # -- pods ----------------------------------------------------------------------------

    def _pod_event(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node in self.nodes:
            m = pod.get("metadata") or {}
            self.queue.add(f"{m.get('namespace')}/{m.get('name')}")

    def _pod_gone(self, pod: Obj) -> None:
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is not None:
            node.ips.pop((pod.get("metadata") or {}).get("uid", ""), None)
            node.seen.pop((pod.get("metadata") or {}).get("uid", ""), None)

    async def _sync_pod(self, key: str) -> float | None:
        pod = self.pods.store.get(key)
        if pod is None:
            return None
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None or not node.running:
            return None
        meta = pod["metadata"]
        at = _now()
        if meta.get("deletionTimestamp"):
            st = pod.get("status") or {}
            if any("terminated" not in (c.get("state") or {}) for c in st.get("containerStatuses") or []):
                upd = copy_object(pod)
                upd["status"] = terminated_status(pod, at)
                with contextlib.suppress(NotFound, Conflict):
                    await self.client.update_status(PODS, upd)
            with contextlib.suppress(NotFound, Conflict):
                await self.client.delete(PODS, meta["name"], meta["namespace"], grace_period_seconds=0,
                                         preconditions={"uid": meta["uid"]})
            return None
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            return None
        ann = meta.get("annotations") or {}
        ready = ann.get(NEVER_READY) != "true"
        wait: float | None = None
        if ready and ann.get(READY_AFTER):
            try:
                delay = float(ann[READY_AFTER])
            except ValueError:
                delay = 0.0
            # startTime has whole seconds only: the delay counts from when this node first saw the pod.
            seen = node.seen.setdefault(meta.get("uid", ""), time.monotonic())
            age = time.monotonic() - seen
            if age < delay:
                ready, wait = False, delay - age
        status = simulated_status(pod, node.ip_for(meta.get("uid", "")), node_ip(node.index), ready, at)
        if _same(pod.get("status") or {}, status):
            return wait
        upd = copy_object(pod)
        upd["status"] = status
        try:
            await self.client.update_status(PODS, upd)
        except (NotFound, Conflict):
            return None
        return wait

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                wait = await self._sync_pod(str(key))
                self.queue.forget(key)
                if wait:
                    self.queue.add_after(key, wait)
            except asyncio.CancelledError:
                raise
            except _RETRYABLE as e:
                log.warning("simulated kubelet: pod %s: %s", key, e)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def run(self, stop: asyncio.Event) -> None:
        await self._ensure_namespace("kube-node-lease")
        nodes = list(self.nodes.values())
        for i in range(0, len(nodes), 100):
            await asyncio.gather(*(self._register(n) for n in nodes[i:i + 100]))
        await self._renew_all()
        self.registered.set()
        log.info("simulated kubelet: %d node(s) registered", len(nodes))
        tasks = [asyncio.ensure_future(self._heartbeats()), self.pods.start()]
        tasks += [asyncio.ensure_future(self._worker()) for _ in range(self.workers)]
        try:
            await stop.wait()
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.pods.stop()


def _same(old: Obj, new: Obj) -> bool:
    """Equal but for timestamps we just regenerated."""
    def strip(s: Obj) -> Any:
        if isinstance(s, dict):
            return {k: strip(v) for k, v in s.items() if k not in ("lastTransitionTime", "finishedAt", "message")}
        if isinstance(s, list):
            return [strip(x) for x in s]
        return s
    return strip(old) == strip(new)


async def run_simulated_nodes(kubeconfig_path: str, names: list[str], *, stop: asyncio.Event,
                              capacity: dict[str, str] | None = None, nodes_out: list[SimulatedNodes] | None = None,
                              ) -> None:
    """Register the simulated nodes `names` against the cluster of `kubeconfig_path` and run
    them until `stop` is set. `nodes_out`, if given, receives the SimulatedNodes (for
    stop_node/start_node)."""
    client = ApiClient.from_kubeconfig(kubeconfig_path, user_agent="mizzen-simulated-kubelet")
    try:
        sim = SimulatedNodes(client, names, capacity=capacity)
        if nodes_out is not None:
            nodes_out.append(sim)
        await sim.run(stop)
    finally:
        await client.close()
