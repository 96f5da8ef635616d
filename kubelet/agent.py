"""The mizzen kubelet: the node agent that turns pods bound to its node into containers.

    await run_kubelet(kubeconfig, node_name="node-1", data_dir=Path(".../kubelet"), stop=ev)

Why it exists: it is the real runtime behind ``mizzen up`` (``--runtime real``). It registers
its Node and renews its Lease (``node.py``), watches the pods with ``spec.nodeName=<node>``,
and runs one ``PodWorker`` per pod uid (``podworker.py``). Containers are started through
``kubelet.runtime.Runtime``, whose per-container shims outlive the kubelet: a kubelet that
stops (or is killed) leaves containers running, and the next one on the same data dir adopts
them (restart counts and all). With ``cleanup=True`` it removes, on stop, every container,
mount, cgroup and network namespace it made (so does a plain stop when no container is left);
a pod being terminated when the kubelet stops is finished first. ``run_kubelet`` also runs the
kubelet server (``kubelet/server.py``: logs, exec, port-forward) and advertises its port in
the Node's ``daemonEndpoints``.

Pod IPs: pod networking comes in a later issue; each pod has its own network namespace with
only loopback, so the kubelet reports ``podIP`` = ``127.0.0.1`` (what the pod is reachable
at from inside itself) and ``hostIP`` = the node's InternalIP ``127.0.0.1``.

Node failure rehearsal: ``Kubelet.pause()`` stops heartbeats and pod syncing (containers keep
running, as on a machine whose kubelet hangs), ``await Kubelet.resume()`` starts them again.

It must never kill, unmount or remove anything that is not named after its own runtime
(``mizzen-<unique>``), and never act on pods bound to other nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from apimachinery.client import EventRecorder, Informer
from apimachinery.client.rest import ApiClient
from kubelet.node import NODE_IP, NodeAgent
from kubelet.podworker import PodWorker
from kubelet.runtime import ContainerRuntimeError, ContainerStatus, Runtime
from kubelet.runtime import netns as netns_mod
from kubelet.runtime.cgroups import BEST_EFFORT, BURSTABLE, GUARANTEED

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DEFAULT_BACKOFF_BASE = 10.0
# HTTP/1.1 connections to the API server (client-go multiplexes one HTTP/2 connection). Each
# costs a TLS handshake on both sides; 8 carry a burst of 100 pod starts' status writes
# (32 spent ~0.5 ms of CPU per pod of such a burst in handshakes, and went no faster)
API_CONNECTIONS = 8
# how long a stop that cleans up (Ctrl-C of `mizzen up`) gives containers after SIGTERM before
# the clean-up kills them (a plain stop lets pods being terminated take their grace period)
CLEANUP_STOP_GRACE = 5.0
# Kubernetes' kubelet defaults (KubeletConfiguration eventRecordQPS, eventBurst): events are
# written at most this fast, so that a burst of pod starts does not queue its status writes
# behind three events per pod at the API server
EVENT_QPS = 50.0
EVENT_BURST = 100


def pod_pids_limit_from_env() -> int | None:
    """MIZZEN_KUBELET_POD_PIDS_LIMIT: Kubernetes' podPidsLimit (per pod; unset = no limit)."""
    raw = os.environ.get("MIZZEN_KUBELET_POD_PIDS_LIMIT", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def backoff_base_from_env() -> float:
    """MIZZEN_KUBELET_BACKOFF_BASE (seconds) shortens the crash-loop back-off for tests."""
    raw = os.environ.get("MIZZEN_KUBELET_BACKOFF_BASE", "")
    try:
        return float(raw) if raw else DEFAULT_BACKOFF_BASE
    except ValueError:
        return DEFAULT_BACKOFF_BASE


class Kubelet:
    """One node's kubelet. ``run(stop)`` until ``stop`` is set; ``pause``/``resume``."""

    def __init__(self, client: ApiClient, node_name: str, data_dir: Path | str, *, port: int = 0,
                 backoff_base: float | None = None, runtime: Runtime | None = None,
                 pod_pids_limit: int | None = None, events_client: ApiClient | None = None) -> None:
        self.client = client
        self.node_name = node_name
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.runtime = runtime or Runtime(str(self.data_dir))
        self.node = NodeAgent(client, node_name, str(self.data_dir), port=port)
        self.recorder = EventRecorder(events_client or client, "kubelet", host=node_name)
        self.backoff_base = backoff_base if backoff_base is not None else backoff_base_from_env()
        self.pod_pids_limit = pod_pids_limit if pod_pids_limit is not None else pod_pids_limit_from_env()
        self.node_ip = NODE_IP
        self.pod_ip = "127.0.0.1"
        self.paused = False
        self.workers: dict[str, PodWorker] = {}
        self.pods = Informer(client, "pods", field_selector=f"spec.nodeName={node_name}")
        self.pods.add_handler(on_add=self._pod_event, on_update=lambda _old, new: self._pod_event(new),
                              on_delete=self._pod_deleted)
        self._adopted: dict[str, list[ContainerStatus]] = {}
        self._started = False

    @property
    def registered(self) -> asyncio.Event:
        return self.node.registered

    @property
    def started(self) -> bool:
        """Registered, pods listed, leftovers of deleted pods removed, workers running."""
        return self._started

    # ---- pods -------------------------------------------------------------------------

    def _pod_event(self, pod: Obj) -> None:
        if not self._started:
            return
        uid = (pod.get("metadata") or {}).get("uid", "")
        if (pod.get("spec") or {}).get("nodeName") != self.node_name or not uid:
            return
        w = self.workers.get(uid)
        if w is None:
            w = PodWorker(self, pod, self._adopted.pop(uid, []))
            self.workers[uid] = w
            w.start()
        else:
            w.update(pod)

    def _pod_deleted(self, pod: Obj) -> None:
        w = self.workers.get((pod.get("metadata") or {}).get("uid", ""))
        if w is not None and not w.done:
            w.update(None)

    def worker_done(self, uid: str) -> None:
        self.workers.pop(uid, None)

    async def remove_pod_resources(self, uid: str) -> None:
        """The pod's cgroup (whatever its QoS class), network namespace and directory."""
        for qos in (GUARANTEED, BURSTABLE, BEST_EFFORT):
            with contextlib.suppress(OSError, ContainerRuntimeError):
                await self.runtime.remove_pod_cgroup(uid, qos)
        with contextlib.suppress(OSError, ContainerRuntimeError):
            await self.runtime.delete_pod_netns(uid)
        with contextlib.suppress(OSError, ContainerRuntimeError):
            await self.runtime.remove_pod_dir(uid)

    async def _remove_orphans(self) -> None:
        """Containers and pod resources whose pod is no longer bound here (deleted while the
        kubelet was down)."""
        known = {(p.get("metadata") or {}).get("uid") for p in self.pods.store.list()}
        orphans: dict[str, list[ContainerStatus]] = {uid: cs for uid, cs in self._adopted.items() if uid not in known}
        for uid, lst in orphans.items():
            self._adopted.pop(uid, None)
            for cs in lst:
                with contextlib.suppress(ContainerRuntimeError, OSError):
                    await self.runtime.stop_container(cs.id, 0)
                    await self.runtime.remove_container(cs.id)
        pods_dir = self.data_dir / "pods"
        uids = set(orphans)
        if pods_dir.is_dir():
            uids |= {d.name for d in pods_dir.iterdir() if d.name not in known}
        prefix = self.runtime.name + "-"
        for path in await asyncio.to_thread(netns_mod.list_netns, prefix):
            uid = os.path.basename(path)[len(prefix):]
            if uid not in known:
                uids.add(uid)
        for uid in uids:
            await self.remove_pod_resources(uid)

    async def _has_containers(self) -> bool:
        try:
            return bool(await self.runtime.list_containers())
        except (OSError, ContainerRuntimeError):
            return True

    # ---- node failure rehearsal -------------------------------------------------------

    def pause(self) -> None:
        """Stop heartbeats and pod syncing (the containers keep running)."""
        self.paused = True
        self.node.pause()

    async def resume(self) -> None:
        self.paused = False
        await self.node.resume()
        for w in list(self.workers.values()):
            w.wake()
        for p in self.pods.store.list():
            self._pod_event(p)

    # ---- lifecycle --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, cleanup: bool = False) -> None:
        await self.runtime.start()
        tasks: list[asyncio.Task[Any]] = []
        try:
            await asyncio.to_thread(self.runtime.images.ensure_busybox)
            for cs in await self.runtime.list_containers():
                self._adopted.setdefault(cs.pod_uid, []).append(cs)
            await self.node.register()
            tasks.append(asyncio.create_task(self.node.run(stop), name="kubelet-node"))
            tasks.append(self.pods.start())
            await self.pods.wait_synced()
            await self._remove_orphans()
            self._started = True
            for p in self.pods.store.list():
                self._pod_event(p)
            log.info("kubelet: node %s running (%d pod(s), %d adopted container(s))", self.node_name,
                     len(self.workers), sum(len(w.containers) for w in self.workers.values()))
            await stop.wait()
        finally:
            self._started = False
            try:
                await self._stop_pods(tasks, cleanup)
            finally:  # also when the stop above was cancelled (its caller's patience ran out)
                try:
                    if cleanup or not await self._has_containers():
                        await self._clean_up()
                finally:
                    await self.runtime.close()

    async def _stop_pods(self, tasks: list[asyncio.Task[Any]], cleanup: bool) -> None:
        """A plain stop leaves containers running, but finishes pods being terminated. A stop
        that cleans up (Ctrl-C of `mizzen up`) is a node shutting down: no pod is synced any
        more (nothing restarts), every running container gets SIGTERM and a few seconds to
        exit, then the clean-up kills what is left."""
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.pods.stop()
        stops: list[Awaitable[Any]] = [w.stop() for w in list(self.workers.values())]
        if cleanup:
            self.paused = True
            stops += [self.runtime.stop_container(c.id, CLEANUP_STOP_GRACE)
                      for c in await self.runtime.list_containers() if c.state == "running"]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*stops, return_exceptions=True),
                                   CLEANUP_STOP_GRACE + 1 if cleanup else None)
        self.workers.clear()
        with contextlib.suppress(Exception):
            await self.recorder.close(timeout=2)

    async def _clean_up(self) -> None:
        """Every container, cgroup, pod namespace and mount of this node removed (with no
        container left there is nothing to adopt). A cancellation waits for it to finish."""
        cleaning = asyncio.ensure_future(self.runtime.cleanup_all())
        try:
            await asyncio.shield(cleaning)
        except asyncio.CancelledError:
            with contextlib.suppress(ContainerRuntimeError, OSError):
                await cleaning
            raise
        except (ContainerRuntimeError, OSError) as exc:
            log.warning("kubelet: cleanup: %s", exc)


async def run_kubelet(kubeconfig_path: str, *, node_name: str, data_dir: Path, stop: asyncio.Event,
                      cleanup: bool = False, port: int = 0, backoff_base: float | None = None,
                      serve: bool = True, on_started: Callable[[Kubelet], None] | None = None) -> None:
    """Run the kubelet for ``node_name`` until ``stop`` is set. With ``serve`` (and no
    ``port`` of a server run elsewhere) it also runs the kubelet server for logs and exec.
    ``on_started`` receives the ``Kubelet`` (for ``pause``/``resume``, ``registered``,
    ``started``, ``runtime``) before it registers."""
    # a few kept-alive connections, as client-go multiplexes one HTTP/2 connection: a burst of
    # pod status writes then never opens (and TLS-handshakes) one connection per pod
    client = ApiClient.from_kubeconfig(kubeconfig_path, user_agent=f"kubelet/v1.32.4-mizzen ({node_name})",
                                       max_connections=API_CONNECTIONS)
    events = ApiClient.from_kubeconfig(kubeconfig_path, user_agent=f"kubelet/v1.32.4-mizzen ({node_name})",
                                       max_connections=2, qps=EVENT_QPS, burst=EVENT_BURST)
    server: Any = None
    try:
        k = Kubelet(client, node_name, data_dir, port=port, backoff_base=backoff_base, events_client=events)
        if serve and not port:
            server = await _start_server(k, client)
        if on_started is not None:
            on_started(k)
        await k.run(stop, cleanup=cleanup)
    finally:
        if server is not None:
            await server.stop()
        await client.close()
        await events.close()


async def _start_server(k: Kubelet, client: ApiClient) -> Any:
    """The kubelet HTTPS server (logs, exec, port-forward) on 127.0.0.1, port 0; its port is
    advertised in the Node's daemonEndpoints. Requests must carry this client's bearer token
    (the one the API server proxies with). Without it the node still runs pods."""
    try:
        from kubelet.server import KubeletServer, token_authenticator
        server = KubeletServer(k.runtime, authenticate=token_authenticator(client.config.bearer_token() or ""))
        k.node.port = await server.start()
    except (ImportError, OSError, RuntimeError) as exc:
        log.warning("kubelet: the kubelet server did not start (no logs/exec for this node): %s", exc)
        return None
    return server
