"""One worker per pod: drives the pod's containers toward its spec and reports its status.

Why it exists: this is the kubelet's syncPod. A worker is level-based: each pass (on any
change of the pod, a container exit, a probe result, or every ``RESYNC_SECONDS``) it reads
what the runtime has for the pod, decides with pure functions (``plan_containers`` here,
``status``/``probes``/``envvars`` modules) what to start, and writes the pod's status only
when it changed. Init containers run one after the other, then all containers; exits are
restarted by ``restartPolicy`` with the crash-loop back-off; a container's postStart hook
runs right after it starts (the container is neither started nor ready until it ends; a
failure kills it, and it is restarted); a pod with a deletionTimestamp is stopped gracefully
(preStop hooks, SIGTERM, the cgroup killed after the grace period), cleaned up and deleted
with gracePeriodSeconds 0 and its uid as precondition.

It must never block the event loop (runtime and file work is awaited or threaded), never act
on a container of another pod, and never delete a pod object whose uid is not its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apimachinery.client import NORMAL, WARNING
from apimachinery.client.rest import TRANSPORT_ERRORS
from apimachinery.errors import Conflict, NotFound, StatusError
from kubelet import envvars, probes, status, volumes
from kubelet.qos import container_oom_score_adj
from kubelet.runtime import (
    ContainerRuntimeError,
    ContainerSpec,
    ContainerStatus,
    CreateContainerError,
    ImageNotPresent,
    Mount,
    SecurityContext,
    StartFailed,
    podfiles,
)
from kubelet.runtime.cgroups import qos_class

if TYPE_CHECKING:
    from kubelet.agent import Kubelet
    from kubelet.runtime.runtime import PodSandbox

log = logging.getLogger(__name__)

# API errors and transport failures: worth a retry later, never a crash
RETRYABLE: tuple[type[BaseException], ...] = (StatusError, *TRANSPORT_ERRORS)

Obj = dict[str, Any]

RESYNC_SECONDS = 10.0
# how long a stopping kubelet lets a pod that is being terminated finish
TERMINATION_WAIT_ON_STOP = 45.0
IMAGE_BACKOFF = "ImagePullBackOff"


# --------------------------------------------------------------------------- pure planning


@dataclass
class Plan:
    start: list[str] = field(default_factory=list)           # containers to (re)start now
    backoff: dict[str, float] = field(default_factory=dict)  # name -> seconds left in back-off
    init_done: bool = False
    init_failed: bool = False                                  # an init container failed for good


def should_restart(policy: str, exit_code: int | None) -> bool:
    """restartPolicy: Always restarts every exit, OnFailure only non-zero exits, Never none."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit_code != 0
    return False


def plan_containers(policy: str, init_names: list[str], names: list[str],
                    latest: Mapping[str, Mapping[str, Any] | None], backoff_left: Mapping[str, float]) -> Plan:
    """What to start now (pure). ``latest`` maps a container name to its newest runtime
    status (``state``, ``exit_code``) or None when never started.

    Init containers: the first that has not succeeded is started (or restarted after its
    back-off, unless restartPolicy is Never: then the pod has failed); nothing else runs until
    all have succeeded (init containers always restart on failure under Always/OnFailure).
    Then every container not running is started if it never ran or ``should_restart``."""
    plan = Plan()
    for name in init_names:
        st = latest.get(name)
        if st is None:
            plan.start.append(name)
            return plan
        if st.get("state") != "exited":
            return plan
        if st.get("exit_code") == 0:
            continue
        if policy == "Never":
            plan.init_failed = True
            return plan
        left = backoff_left.get(name, 0.0)
        if left > 0:
            plan.backoff[name] = left
        else:
            plan.start.append(name)
        return plan
    plan.init_done = True
    for name in names:
        st = latest.get(name)
        if st is None:
            plan.start.append(name)
        elif st.get("state") == "exited" and should_restart(policy, st.get("exit_code")):
            left = backoff_left.get(name, 0.0)
            if left > 0:
                plan.backoff[name] = left
            else:
                plan.start.append(name)
    return plan


def image_missing_waiting(image: str, pull_policy: str) -> tuple[str, str]:
    """(reason, message) for an image missing from the local store. No registry is
    reachable, so ``IfNotPresent``/``Always`` back off as a failed pull would."""
    if pull_policy == "Never":
        return ("ErrImageNeverPull", f'Container image "{image}" is not present with pull policy of Never')
    return (IMAGE_BACKOFF, f'Back-off pulling image "{image}": the mizzen kubelet has no registry access; '
                           f"import it with `mizzen image import FILE`")


def pull_policy(c: Obj) -> str:
    pol = c.get("imagePullPolicy")
    if pol:
        return str(pol)
    image = str(c.get("image", ""))
    last = image.rsplit("/", 1)[-1]
    return "Always" if "@" not in image and (":" not in last or last.endswith(":latest")) else "IfNotPresent"


def security_of(pod: Obj, c: Obj) -> SecurityContext:
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = c.get("securityContext") or {}
    caps = sc.get("capabilities") or {}
    return SecurityContext(
        run_as_user=sc.get("runAsUser", psc.get("runAsUser")),
        run_as_group=sc.get("runAsGroup", psc.get("runAsGroup")),
        supplemental_groups=list(psc.get("supplementalGroups") or []),
        privileged=bool(sc.get("privileged")),
        read_only_root_filesystem=bool(sc.get("readOnlyRootFilesystem")),
        allow_privilege_escalation=sc.get("allowPrivilegeEscalation"),
        capabilities_add=list(caps.get("add") or []),
        capabilities_drop=list(caps.get("drop") or []))


def _as_map(cs: ContainerStatus | None) -> dict[str, Any] | None:
    if cs is None:
        return None
    return {"id": cs.id, "state": cs.state, "exit_code": cs.exit_code, "reason": cs.reason, "message": cs.message,
            "started_at": cs.started_at, "finished_at": cs.finished_at, "attempt": cs.attempt,
            "image_id": cs.image_id}


def _rfc3339_nano(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


def _ran_for(cs: ContainerStatus) -> float:
    a, b = status.parse_time(cs.started_at), status.parse_time(cs.finished_at)
    return (b - a) if a is not None and b is not None else 0.0


# --------------------------------------------------------------------------- the worker


class PodWorker:
    """Drives one pod (by uid). ``update(pod)`` hands it the newest object (None: the pod is
    gone from the API); ``wake()`` asks for a pass now."""

    def __init__(self, kubelet: Kubelet, pod: Obj, adopted: list[ContainerStatus]) -> None:
        self.k = kubelet
        self.rt = kubelet.runtime
        self.pod: Obj | None = pod
        self.uid: str = pod["metadata"]["uid"]
        self.containers: dict[str, list[ContainerStatus]] = {}
        for cs in adopted:
            self.containers.setdefault(cs.name, []).append(cs)
        for lst in self.containers.values():
            lst.sort(key=lambda c: c.attempt)
        self.backoff: dict[str, status.BackoffEntry] = {}
        self.accounted: set[str] = {c.id for lst in self.containers.values() for c in lst if c.state == "exited"}
        self.waiting: dict[str, tuple[str, str]] = {}
        self.probe_workers: dict[str, list[probes.ProbeWorker]] = {}
        self.probe_results: dict[str, dict[str, str]] = {}
        self.exit_waiters: dict[str, asyncio.Task[None]] = {}
        self.post_start: dict[str, asyncio.Task[None]] = {}   # container id -> its running postStart hook
        self.killing: set[str] = set()
        self.sandbox: dict[str, Any] | None = None
        self.prepared: volumes.PreparedVolumes | None = None
        self.last_sent: Obj | None = None
        self.start_time: str | None = ((pod.get("status") or {}).get("startTime"))
        self.deadline_exceeded = False
        self.done = False
        self.terminating = False
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.volume_skips_reported = False
        self.sandbox_removed = False
        self.tokens = volumes.ServiceAccountTokens()  # the pod's projected service account tokens

    # ---- control ----------------------------------------------------------------------

    def start(self) -> None:
        for lst in self.containers.values():
            if lst and lst[-1].state == "running":
                self._watch_exit(lst[-1].id)
        self.task = asyncio.create_task(self._run(), name=f"pod-{self.uid}")

    def update(self, pod: Obj | None) -> None:
        self.pod = pod
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop working (the kubelet stops): containers keep running, except that a pod
        being terminated is finished first (its object may already be gone, and nobody
        else would ever stop its containers)."""
        deleting = self.pod is None or bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))
        if self.task is not None and (self.terminating or deleting) and not self.task.done():
            self.wake()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self.task), TERMINATION_WAIT_ON_STOP)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self._stop_all_probes()
        for t in self.exit_waiters.values():
            t.cancel()

    async def _run(self) -> None:
        while not self.done:
            wait: float | None = RESYNC_SECONDS
            if not self.k.paused:
                try:
                    wait = await self.sync()
                except asyncio.CancelledError:
                    raise
                except RETRYABLE as exc:
                    log.warning("pod %s: %s", self._name(), exc)
                    wait = 1.0
                except Exception:
                    log.exception("pod %s: sync failed", self._name())
                    wait = 2.0
            if self.done:
                break
            wait = RESYNC_SECONDS if wait is None else min(wait, RESYNC_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.01, wait))
            self._wake.clear()
        self.k.worker_done(self.uid)

    def _name(self) -> str:
        m = (self.pod or {}).get("metadata") or {}
        return f"{m.get('namespace', '')}/{m.get('name', '')}" if m else self.uid

    def _pod_ref(self) -> str:
        """The pod as Kubernetes' messages name it: ``name_namespace(uid)``."""
        m = (self.pod or {}).get("metadata") or {}
        return f"{m.get('name', '')}_{m.get('namespace', '')}({self.uid})"

    def _event(self, type_: str, reason: str, message: str, container: str | None = None,
               init: bool = False) -> None:
        if self.pod is None:
            return
        fp = None
        if container:
            fp = f"spec.{'initContainers' if init else 'containers'}{{{container}}}"
        self.k.recorder.event(self.pod, type_, reason, message, field_path=fp)

    # ---- helpers ---------------------------------------------------------------------

    def _latest(self, name: str) -> ContainerStatus | None:
        lst = self.containers.get(name) or []
        return lst[-1] if lst else None

    def _previous(self, name: str) -> ContainerStatus | None:
        lst = self.containers.get(name) or []
        return lst[-2] if len(lst) >= 2 else None

    async def _refresh(self) -> None:
        """Re-read the state of every container this pod has that was running, unless its
        exit is being waited for (the waiter wakes the worker when it exits): a pass caused
        by the echo of our own status write then reads no file."""
        for lst in self.containers.values():
            if not lst:
                continue
            cur = lst[-1]
            waiter = self.exit_waiters.get(cur.id)
            if cur.state == "running" and waiter is not None and not waiter.done():
                continue
            if cur.state != "exited":
                new = await self.rt.container_status(cur.id)
                if new is not None:
                    lst[-1] = new

    def _watch_exit(self, cid: str) -> None:
        async def waiter() -> None:
            with contextlib.suppress(ContainerRuntimeError, OSError):
                await self.rt.wait_container(cid)
            self.exit_waiters.pop(cid, None)
            self.wake()
        self.exit_waiters[cid] = asyncio.create_task(waiter(), name=f"wait-{cid[:12]}")

    # ---- sync ------------------------------------------------------------------------

    async def sync(self) -> float | None:
        pod = self.pod
        if pod is None:
            await self._teardown(grace=0)
            self.done = True
            return None
        await self._refresh()
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        now = time.time()
        if meta.get("deletionTimestamp"):
            await self._terminate(pod)
            return None
        phase = (self.last_sent or pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            await self._finished(pod, now)
            return None
        if self.start_time is None:
            self.start_time = status.rfc3339(now)
        ads = spec.get("activeDeadlineSeconds")
        started = status.parse_time(self.start_time) or now
        if ads is not None and not self.deadline_exceeded and now - started >= float(ads):
            self.deadline_exceeded = True
            self._event(NORMAL, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
            await self._finished(pod, now)
            return None
        if not await self._ensure_sandbox(pod):
            await self._write_status(pod, now)
            return 2.0
        sources = await self._sources(pod)
        if not await self._ensure_volumes(pod, sources):
            await self._write_status(pod, now)
            return 2.0
        # exits: account back-off once per exited container
        for name, lst in self.containers.items():
            cur = lst[-1] if lst else None
            if cur is not None and cur.state == "exited" and cur.id not in self.accounted:
                self.accounted.add(cur.id)
                fin = status.parse_time(cur.finished_at) or now
                self.backoff[name] = status.next_backoff(self.backoff.get(name), fin, _ran_for(cur), self.k.backoff_base)
                await self._stop_probes(cur.id)
        init_specs = spec.get("initContainers") or []
        specs = spec.get("containers") or []
        policy = spec.get("restartPolicy") or "Always"
        latest = {c["name"]: _as_map(self._latest(c["name"])) for c in init_specs + specs}
        left = {n: status.backoff_remaining(self.backoff.get(n), now) for n in latest}
        plan = plan_containers(policy, [c["name"] for c in init_specs], [c["name"] for c in specs], latest, left)
        for name, secs in plan.backoff.items():
            lst = self.containers.get(name) or []
            if lst and (self.waiting.get(name) or ("",))[0] != "CrashLoopBackOff":
                self._event(WARNING, "BackOff", f"Back-off restarting failed container {name} in pod "
                            f"{meta.get('name')}_{meta.get('namespace')}({self.uid})", name)
            entry = self.backoff.get(name)
            self.waiting[name] = ("CrashLoopBackOff",
                                  status.crashloop_message(entry.delay if entry else secs, name, pod))
        by_name = {c["name"]: (c, False) for c in specs}
        by_name.update({c["name"]: (c, True) for c in init_specs})
        to_start = [n for n in plan.start if n not in self.killing]
        results = await asyncio.gather(*(self._start(pod, by_name[n][0], by_name[n][1], sources)
                                         for n in to_start), return_exceptions=True)
        for n, r in zip(to_start, results, strict=True):
            if isinstance(r, BaseException):
                if isinstance(r, asyncio.CancelledError):
                    raise r
                log.warning("pod %s: container %s: %s", self._name(), n, r)
        await self._write_status(pod, time.time(), plan)
        waits = [w for w in plan.backoff.values()] + [RESYNC_SECONDS]
        if any(self.waiting.get(n, ("",))[0] in (IMAGE_BACKOFF, "CreateContainerConfigError",
                                                 "CreateContainerError") for n in latest):
            waits.append(5.0)
        if ads is not None:
            waits.append(max(0.05, started + float(ads) - time.time()))
        return min(waits)

    async def _ensure_sandbox(self, pod: Obj) -> bool:
        if self.sandbox is not None:
            return True
        spec = pod.get("spec") or {}
        meta = pod["metadata"]
        host_net = bool(spec.get("hostNetwork"))
        qos = qos_class((spec.get("initContainers") or []) + (spec.get("containers") or []))
        hostname = spec.get("hostname") or meta["name"]
        hosts = podfiles.hosts_file(hostname, [self.k.pod_ip])

        pod_dir = self.rt.pod_dir(self.uid)
        containers = spec.get("containers") or []

        def work() -> tuple[PodSandbox, list[Mount]]:
            # one thread hop for the whole sandbox: a burst of pods must not queue four
            # hops each behind the default executor's few threads
            sb = self.rt.create_pod_sandbox_sync(self.uid, qos, containers, pids_limit=self.k.pod_pids_limit,
                                                 host_network=host_net)
            return sb, _write_pod_files(self.rt.pod_run_dir(self.uid), hostname, hosts)
        try:
            sb, files = await asyncio.to_thread(work)
        except (OSError, ContainerRuntimeError, ValueError) as exc:
            self._event(WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            return False
        self.sandbox = {"netns": sb.netns, "ipc": sb.ipc, "shm": sb.shm, "qos": qos, "cgroup": sb.cgroup,
                        "files": files, "hostname": hostname, "dir": pod_dir}
        return True

    async def _sources(self, pod: Obj) -> envvars.Sources:
        cms, secs = envvars.referenced_objects(pod)
        ns = pod["metadata"].get("namespace", "")
        out = envvars.Sources()

        async def get(res: str, name: str) -> Obj | None:
            try:
                return await self.k.client.get(res, name, ns)
            except NotFound:
                return None
        for name in cms:
            out.configmaps[name] = await get("configmaps", name)
        for name in secs:
            out.secrets[name] = await get("secrets", name)
        return out

    async def _ensure_volumes(self, pod: Obj, sources: envvars.Sources) -> bool:
        assert self.sandbox is not None
        if not (pod.get("spec") or {}).get("volumes"):
            self.prepared = volumes.PreparedVolumes()
            return True
        try:
            tokens = await self.tokens.fetch(self.k.client, pod)
            self.prepared = await asyncio.to_thread(
                volumes.setup_volumes, pod, self.sandbox["dir"], sources, host_ip=self.k.node_ip,
                pod_ip=self.k.pod_ip, node_allocatable=self.k.node.allocatable,
                tmpfs_name=f"{self.rt.name}-volume", tokens=tokens)
        except volumes.VolumeError as exc:
            self._event(WARNING, "FailedMount", str(exc))
            return False
        if self.prepared.skipped and not self.volume_skips_reported:
            self.volume_skips_reported = True
            for note in self.prepared.skipped:
                self._event(WARNING, "FailedMount", note)
        return True

    def _oom_score_adj(self, pod: Obj, c: Obj) -> int | None:
        """The container's oom_score_adj by the pod's QoS class (the sandbox's) and the node's
        memory capacity; None (inherited) before the node knows its capacity."""
        assert self.sandbox is not None
        facts = self.k.node.facts
        if facts is None or facts.memory <= 0:
            return None
        return container_oom_score_adj(pod, c, facts.memory, self.sandbox["qos"])

    async def _start(self, pod: Obj, c: Obj, init: bool, sources: envvars.Sources) -> None:
        assert self.sandbox is not None and self.prepared is not None
        name = c["name"]
        image_ref = str(c.get("image", ""))
        image = self.rt.images.resolved(image_ref) or await asyncio.to_thread(self.rt.images.resolve, image_ref)
        if image is None:
            reason, message = image_missing_waiting(image_ref, pull_policy(c))
            if self.waiting.get(name, ("",))[0] != reason:
                self._event(WARNING, "Failed", f"Error: {reason}" if reason == "ErrImageNeverPull" else
                            f'Failed to pull image "{image_ref}": image not found in the local store '
                            f"and no registry is configured (use `mizzen image import FILE`)", name, init)
                if reason == IMAGE_BACKOFF:
                    self._event(NORMAL, "BackOff", f'Back-off pulling image "{image_ref}"', name, init)
            self.waiting[name] = (reason, message)
            return
        try:
            env = envvars.build_env(pod, c, sources, host_ip=self.k.node_ip, pod_ip=self.k.pod_ip,
                                    node_allocatable=self.k.node.allocatable)
            mounts = list(self.sandbox["files"]) + [self.sandbox["shm"]] + volumes.container_mounts(pod, c, self.prepared)
        except (envvars.ConfigError, volumes.VolumeError) as exc:
            if self.waiting.get(name) != ("CreateContainerConfigError", str(exc)):
                self._event(WARNING, "Failed", f"Error: {exc}", name, init)
            self.waiting[name] = ("CreateContainerConfigError", str(exc))
            return
        self._event(NORMAL, "Pulled", f'Container image "{image_ref}" already present on machine', name, init)
        merged_env = _merge_env(image.config.env, env)
        command = envvars.final_command(image.config.entrypoint, image.config.cmd, c, envvars.env_map(env))
        if not command:
            self.waiting[name] = ("CreateContainerError", "no command specified")
            self._event(WARNING, "Failed", "Error: no command specified", name, init)
            return
        prev = self._latest(name)
        attempt = prev.attempt + 1 if prev is not None else 0
        spec = ContainerSpec(
            pod_uid=self.uid, pod_name=pod["metadata"]["name"], namespace=pod["metadata"].get("namespace", ""),
            name=name, image=image_ref, command=command, attempt=attempt, env=merged_env,
            working_dir=c.get("workingDir") or image.config.working_dir or "", mounts=mounts,
            resources=c.get("resources") or {}, security=security_of(pod, c), hostname=self.sandbox["hostname"],
            netns_path=self.sandbox["netns"], ipc_ns_path=self.sandbox["ipc"], cgroup_parent=self.sandbox["cgroup"],
            oom_score_adj=self._oom_score_adj(pod, c),
            labels={"io.kubernetes.container.name": name, "io.kubernetes.pod.uid": self.uid,
                    "mizzen.io/init": "true" if init else "false"},
            stdin=bool(c.get("stdin")), stdin_once=bool(c.get("stdinOnce")), tty=bool(c.get("tty")))
        try:
            handle = await self.rt.start_container(spec)
        except ImageNotPresent:
            self.wake()  # removed since it was resolved: the next pass reports it missing
            return
        except CreateContainerError as exc:
            self.waiting[name] = ("CreateContainerError", str(exc))
            self._event(WARNING, "Failed", f"Error: {exc}", name, init)
            return
        except StartFailed as exc:
            self.waiting.pop(name, None)
            self._event(WARNING, "Failed", f"Error: failed to start container {name!r}: {exc}", name, init)
            if exc.container_id:
                st = await self.rt.container_status(exc.container_id)
                if st is not None:
                    self.containers.setdefault(name, []).append(st)
                    await self._gc(name)
            self.wake()
            return
        self.waiting.pop(name, None)
        self._event(NORMAL, "Created", f"Created container {name}", name, init)
        self._event(NORMAL, "Started", f"Started container {name}", name, init)
        # what the runtime would answer now, without another round of file reads
        st = ContainerStatus(id=handle.id, pod_uid=self.uid, pod_name=spec.pod_name, namespace=spec.namespace,
                             name=name, attempt=attempt, image=image_ref, image_id=image.id, state="running",
                             pid=handle.pid, started_at=_rfc3339_nano(time.time()), log_path=handle.log_path,
                             labels=dict(spec.labels))
        self.containers.setdefault(name, []).append(st)
        self._watch_exit(handle.id)
        hook = None if init else (c.get("lifecycle") or {}).get("postStart")
        if hook:
            self.post_start[handle.id] = asyncio.create_task(self._post_start(c, handle.id, hook),
                                                             name=f"poststart-{handle.id[:12]}")
        else:
            self._start_probes(pod, c, handle.id, init)
        await self._gc(name)

    async def _post_start(self, c: Obj, cid: str, hook: Obj) -> None:
        """The container's postStart hook, right after it started. Until it has finished the
        container is shown waiting (ContainerCreating), neither started nor ready, and has no
        probes. If it fails: a FailedPostStartHook event (without the hook's output, as
        Kubernetes, so that it never leaks secrets), the container is killed and restarted
        by its restartPolicy (with the crash-loop back-off)."""
        name = c["name"]
        try:
            ok, msg = await probes.run_hook(hook, c, _Target(self, cid), self._pod_ref())
            if ok:
                if self.pod is not None and not self.terminating:
                    self._start_probes(self.pod, c, cid, False)
                return
            log.warning("pod %s: postStart hook of %s failed: %s", self._name(), name, msg)
            self._event(WARNING, "FailedPostStartHook", "PostStartHook failed", name)
            if cid not in self.killing:
                self._event(NORMAL, "Killing", "FailedPostStartHook", name)
                self.killing.add(cid)
                await self._kill_for_restart(cid, name)
        finally:
            if self.post_start.get(cid) is asyncio.current_task():
                del self.post_start[cid]
            self.wake()

    async def _gc(self, name: str) -> None:
        """Keep the newest two attempts of a container (state and ``logs --previous``)."""
        lst = self.containers.get(name) or []
        while len(lst) > 2:
            old = lst.pop(0)
            with contextlib.suppress(ContainerRuntimeError, OSError):
                await self.rt.remove_container(old.id)

    # ---- probes ----------------------------------------------------------------------

    def _start_probes(self, pod: Obj, c: Obj, cid: str, init: bool) -> None:
        if init:
            return
        res = self.probe_results.setdefault(cid, {})
        workers = []
        target = _Target(self, cid)
        has_startup = bool(c.get("startupProbe"))

        def started() -> bool:
            return not has_startup or res.get("startup") == probes.SUCCESS

        for kind, key in (("startup", "startupProbe"), ("liveness", "livenessProbe"), ("readiness", "readinessProbe")):
            p = c.get(key)
            if not p:
                continue
            res.setdefault(kind, probes.UNKNOWN)
            w = probes.ProbeWorker(kind, p, c, target, on_change=functools.partial(self._probe_changed, cid, c["name"]),
                                   on_failure=functools.partial(self._probe_failed, c["name"]),
                                   gate=None if kind == "startup" else started)
            w.start()
            workers.append(w)
        self.probe_workers[cid] = workers

    def _probe_failed(self, name: str, kind: str, message: str) -> None:
        self._event(WARNING, "Unhealthy", f"{kind.capitalize()} probe failed: {message}", name)

    def _probe_changed(self, cid: str, name: str, kind: str, result: str, message: str) -> None:
        self.probe_results.setdefault(cid, {})[kind] = result
        if result == probes.FAILURE and kind in ("liveness", "startup") and cid not in self.killing:
            self._event(NORMAL, "Killing", f"Container {name} failed {kind} probe, will be restarted", name)
            self.killing.add(cid)
            asyncio.ensure_future(self._kill_for_restart(cid, name))
        self.wake()

    async def _kill_for_restart(self, cid: str, name: str) -> None:
        pod = self.pod or {}
        grace = float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        try:
            await self._stop_probes(cid)
            await self.rt.stop_container(cid, grace)
        except (ContainerRuntimeError, OSError) as exc:
            log.warning("pod %s: stopping %s: %s", self._name(), name, exc)
        finally:
            self.killing.discard(cid)
            self.wake()

    async def _stop_probes(self, cid: str) -> None:
        for w in self.probe_workers.pop(cid, []):
            if w.task is not asyncio.current_task():
                await w.stop()

    async def _stop_all_probes(self) -> None:
        """Every probe, and every postStart hook still running (the pod stops)."""
        for cid in list(self.probe_workers):
            await self._stop_probes(cid)
        hooks = [t for t in self.post_start.values() if t is not asyncio.current_task()]
        self.post_start.clear()
        for t in hooks:
            t.cancel()
        await asyncio.gather(*hooks, return_exceptions=True)

    # ---- status ----------------------------------------------------------------------

    def _views(self, pod: Obj, specs: list[Obj], init: bool, plan: Plan | None, init_done: bool) -> list[Obj]:
        out = []
        for c in specs:
            name = c["name"]
            latest = self._latest(name)
            running = latest is not None and latest.state == "running"
            res = self.probe_results.get(latest.id, {}) if latest is not None else {}
            started = probes.container_started(running, bool(c.get("startupProbe")), res.get("startup", probes.UNKNOWN))
            ready = probes.container_ready(running, bool(c.get("readinessProbe")),
                                           res.get("readiness", probes.UNKNOWN), started)
            if init:
                ready = latest is not None and latest.state == "exited" and latest.exit_code == 0
            waiting = self.waiting.get(name)
            if waiting is not None and waiting[0] == "CrashLoopBackOff" and (plan is None or name not in plan.backoff):
                waiting = None
            if waiting is None and latest is None and not init and not init_done:
                waiting = ("PodInitializing", "")
            if waiting is not None and latest is not None and latest.state == "running":
                waiting = None
            if running and latest is not None and latest.id in self.post_start:
                # its postStart hook runs: Kubernetes reports nothing new until it ends
                waiting, started, ready = ("ContainerCreating", ""), False, False
            v = status.ContainerView(name=name, image=str(c.get("image", "")), latest=_as_map(latest),
                                     previous=_as_map(self._previous(name)), waiting=waiting, ready=ready,
                                     started=started if not init else False)
            out.append(status.api_container_status(v))
        return out

    def compute_status(self, pod: Obj, now: float, plan: Plan | None = None, terminating: bool = False) -> Obj:
        spec = pod.get("spec") or {}
        init_specs = spec.get("initContainers") or []
        specs = spec.get("containers") or []
        policy = spec.get("restartPolicy") or "Always"
        init_done = plan.init_done if plan is not None else all(
            (lambda s: s is not None and s.state == "exited" and s.exit_code == 0)(self._latest(c["name"]))
            for c in init_specs)
        init_statuses = self._views(pod, init_specs, True, plan, init_done)
        statuses = self._views(pod, specs, False, plan, init_done)
        phase = status.pod_phase("Never" if terminating else policy, init_statuses, statuses, init_done)
        if plan is not None and plan.init_failed:
            phase = "Failed"
        old = self.last_sent or pod.get("status") or {}
        out: Obj = {"phase": phase, "hostIP": self.k.node_ip, "hostIPs": [{"ip": self.k.node_ip}],
                    "startTime": self.start_time or status.rfc3339(now), "qosClass": qos_class(init_specs + specs),
                    "containerStatuses": statuses, "reason": None, "message": None}
        if init_specs:
            out["initContainerStatuses"] = init_statuses
        if self.deadline_exceeded:
            out["phase"] = "Failed"
            out["reason"] = "DeadlineExceeded"
            out["message"] = "Pod was active on the node longer than the specified deadline"
        if self.sandbox is not None or out["phase"] != "Pending":
            out["podIP"] = self.k.pod_ip
            out["podIPs"] = [{"ip": self.k.pod_ip}]
        out["conditions"] = status.pod_conditions(
            old.get("conditions") or (pod.get("status") or {}).get("conditions") or [], phase=out["phase"],
            sandbox_ready=self.sandbox is not None, init_statuses=init_statuses, statuses=statuses,
            init_done=init_done, now=now)
        return out

    async def _write_status(self, pod: Obj, now: float, plan: Plan | None = None, terminating: bool = False) -> None:
        new = self.compute_status(pod, now, plan, terminating)
        cur = pod.get("status") or {}
        if self.last_sent is not None and not status.status_changed(self.last_sent, new):
            return
        if self.last_sent is None and not status.status_changed(cur, {k: v for k, v in new.items() if v is not None}):
            self.last_sent = new
            return
        meta = pod["metadata"]
        try:
            await self.k.client.patch("pods", meta["name"], {"status": new}, namespace=meta.get("namespace"),
                                      subresource="status")
        except (NotFound, Conflict):
            return
        self.last_sent = new

    # ---- stopping --------------------------------------------------------------------

    async def _kill_running(self, pod: Obj, grace: float, reason_event: str) -> None:
        running = [(n, lst[-1]) for n, lst in self.containers.items() if lst and lst[-1].state == "running"]
        for cid in list(self.probe_workers):
            await self._stop_probes(cid)
        if not running:
            return

        async def one(name: str, cs: ContainerStatus) -> None:
            if reason_event:
                self._event(NORMAL, "Killing", f"Stopping container {name}", name)
            try:
                await self.rt.stop_container(cs.id, grace)
            except (ContainerRuntimeError, OSError) as exc:
                log.warning("pod %s: stopping container %s: %s", self._name(), name, exc)
        await asyncio.gather(*(one(n, cs) for n, cs in running))
        await self._refresh()

    async def _finished(self, pod: Obj, now: float) -> None:
        """A pod in a terminal phase: nothing runs any more and its network namespace goes
        (Kubernetes removes the sandbox); exited containers stay for ``kubectl logs``."""
        await self._kill_running(pod, 0, "")
        await self._write_status(pod, now)
        if not self.sandbox_removed:
            with contextlib.suppress(OSError, ContainerRuntimeError):
                await self.rt.delete_pod_netns(self.uid)
            self.sandbox_removed = True

    async def _terminate(self, pod: Obj) -> None:
        self.terminating = True
        meta = pod["metadata"]
        spec = pod.get("spec") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        grace = float(grace or 0)
        deadline = time.monotonic() + grace
        running = [(n, lst[-1]) for n, lst in self.containers.items() if lst and lst[-1].state == "running"]
        await self._stop_all_probes()
        by_name = {c["name"]: c for c in spec.get("containers") or []}

        async def pre_stop(name: str, cs: ContainerStatus) -> None:
            hook = ((by_name.get(name) or {}).get("lifecycle") or {}).get("preStop")
            if not hook or grace <= 0:
                return
            left = max(0.0, deadline - time.monotonic())
            ok, msg = await probes.run_hook(hook, by_name.get(name) or {}, _Target(self, cs.id), self._pod_ref(), left)
            if not ok:
                self._event(WARNING, "FailedPreStopHook", msg, name)

        async def one(name: str, cs: ContainerStatus) -> None:
            self._event(NORMAL, "Killing", f"Stopping container {name}", name)
            await pre_stop(name, cs)
            try:
                await self.rt.stop_container(cs.id, max(0.0, deadline - time.monotonic()))
            except (ContainerRuntimeError, OSError) as exc:
                log.warning("pod %s: stopping container %s: %s", self._name(), name, exc)
        await asyncio.gather(*(one(n, cs) for n, cs in running))
        await self._refresh()
        with contextlib.suppress(*RETRYABLE):
            await self._write_status(pod, time.time(), None, terminating=True)
        await self._teardown(grace=0)
        with contextlib.suppress(NotFound, Conflict):
            await self.k.client.delete("pods", meta["name"], meta.get("namespace"), grace_period_seconds=0,
                                       preconditions={"uid": self.uid})
        self.done = True

    async def _teardown(self, grace: float) -> None:
        """Every container, the pod cgroup, network namespace, IPC namespace and directory."""
        self.terminating = True
        await self._kill_running(self.pod or {}, grace, "")
        for t in self.exit_waiters.values():
            t.cancel()
        for lst in self.containers.values():
            for cs in lst:
                try:
                    await self.rt.remove_container(cs.id)
                except (ContainerRuntimeError, OSError) as exc:
                    log.warning("pod %s: removing container %s: %s", self._name(), cs.name, exc)
        self.containers.clear()
        await self.k.remove_pod_resources(self.uid)
        self.sandbox = None


def _write_pod_files(pod_dir: str, hostname: str, hosts: str) -> list[Mount]:
    return podfiles.write_pod_files(pod_dir, hostname, hosts, podfiles.host_resolv_conf())


def _merge_env(image_env: list[str], env: list[str]) -> list[str]:
    """Image Env first, the container's env overriding it by name (order kept)."""
    out: dict[str, str] = {}
    for e in list(image_env) + list(env):
        k, _, v = e.partition("=")
        out[k] = v
    return [f"{k}={v}" for k, v in out.items()]


class _Target:
    """Where a probe of one container runs: exec through the runtime, connections from inside
    the pod's network namespace (or the host's for hostNetwork pods)."""

    def __init__(self, worker: PodWorker, cid: str) -> None:
        self.w = worker
        self.cid = cid

    async def exec(self, argv: list[str], timeout: float) -> tuple[int, bytes, bool]:  # noqa: ASYNC109
        r = await self.w.rt.exec_in_container(self.cid, argv, timeout=timeout)
        return r.exit_code, r.stdout + r.stderr, r.timed_out

    async def connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        netns = (self.w.sandbox or {}).get("netns")
        if netns is None:
            return await asyncio.open_connection(host, port)
        return await self.w.rt.open_connection_in_pod(netns, host, port)


def pod_files_dir(data_dir: str, uid: str) -> str:
    return os.path.join(data_dir, "pods", uid)


__all__ = ["Plan", "PodWorker", "image_missing_waiting", "plan_containers", "pull_policy", "should_restart",
           "Mount"]
