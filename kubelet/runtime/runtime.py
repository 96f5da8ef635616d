"""The container runtime the kubelet's pod workers drive (the layer below them, API-free).

Interface (``ContainerRuntime`` is the Protocol; coroutine methods never block the loop: file
work runs in threads, waiting is done on pidfds, pipes and sockets)::

    rt = Runtime(data_dir, images=ImageStore(...), name="mizzen-<unique>")
    await rt.start()                      # fork server + cgroup subtree; adopts what is on disk
    h = await rt.start_container(ContainerSpec(...))   # -> ContainerHandle(id, pid, log_path)
    await rt.list_containers()            # -> [ContainerStatus] from the state dirs
    await rt.container_status(id)         # -> ContainerStatus | None
    await rt.wait_container(id, timeout)  # -> ContainerStatus once exited (or on timeout)
    await rt.stop_container(id, grace_seconds)  # SIGTERM PID 1, then kill the whole cgroup
    await rt.remove_container(id)         # cgroup, upper dir, state dir, log file
    await rt.exec_in_container(id, argv, stdin=b"", timeout=1)  # -> ExecResult (probes)
    await rt.exec_process(id, argv, stdin_fd, stdout_fd, stderr_fd, tty)  # kubectl exec
    await rt.container_stats(id)          # -> CgroupStats (cpu ns, memory, working set, pids)
    await rt.pod_stats(pod_uid, qos)      # -> CgroupStats of the pod cgroup
    await rt.reopen_container_log(id)     # after renaming the log file (rotation)
    await rt.attach_stdin(id)             # -> socket into the container's stdin (stdin: true)
    await rt.create_pod_netns(pod_uid) / delete_pod_netns(pod_uid)
    await rt.open_connection_in_pod(netns_path, "127.0.0.1", 8080)  # tcpSocket/httpGet probes
    await rt.ensure_pod_cgroup(pod_uid, qos, containers) / remove_pod_cgroup(pod_uid, qos)
    await rt.create_pod_ipc(pod_uid)      # -> (ipc_ns_path, Mount of the pod's /dev/shm)
    rt.pod_dir(pod_uid) / await rt.remove_pod_dir(pod_uid)   # podfiles.write_pod_files(...) there
    await rt.cleanup_all()                # kill and remove every container, cgroup and netns
    await rt.close()                      # stops the fork server; containers keep running

Containers survive the kubelet: each one has a shim (``shim.py``) that owns it and writes its
state into ``<data_dir>/containers/<id>/state.json``; a new ``Runtime`` with the same
``data_dir`` and ``name`` sees the same containers (the ``name`` is stored in the data dir).
That state directory and the pods' run directory (``/run/<name>``) are tmpfs mounts of the
runtime's own (``<name>-state``, ``<name>-run``, as containerd keeps its state in /run),
mounted by ``start`` and removed by ``cleanup_all``; writable layers (``<data_dir>/rw``) and
logs stay on disk.

Decisions belong to the caller: the spec arrives with command, args, env and workingDir
already merged with the image's config (see ``merge_image_config`` for the Kubernetes rules)
and the pod worker decides restarts, back-off and status.

What it must never do: block the event loop, kill a process or remove a cgroup, mount or
netns that is not its own (everything carries the runtime's ``mizzen-<unique>`` name), or fork
the (threaded) kubelet process itself — only the fork server forks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubelet.images import ImageStore
from kubelet.images.store import Image, ImageError, remove_tree
from kubelet.runtime import linux, netns, shim
from kubelet.runtime.cgroups import BURSTABLE, CgroupManager, CgroupStats, container_limits, pod_limits

log = logging.getLogger(__name__)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ContainerRuntimeError(Exception):
    """Base of the runtime's errors."""


class ImageNotPresent(ContainerRuntimeError):
    """The image is not in the local store (the pod worker turns it into ErrImageNeverPull)."""


class ContainerNotFound(ContainerRuntimeError):
    pass


class CreateContainerError(ContainerRuntimeError):
    """The container cannot be created from its spec and image (Kubernetes' reason
    CreateContainerError), e.g. an image ``User`` missing from the image's /etc/passwd."""


class StartFailed(ContainerRuntimeError):
    """The container process could not be started (reason StartError, exit code 128); the
    container stays listed, exited, until it is removed."""

    def __init__(self, message: str, container_id: str = "") -> None:
        super().__init__(message)
        self.container_id = container_id


# --------------------------------------------------------------------------- data


@dataclass
class Mount:
    host_path: str
    container_path: str
    readonly: bool = False


@dataclass
class SecurityContext:
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: list[int] = field(default_factory=list)
    privileged: bool = False
    read_only_root_filesystem: bool = False
    allow_privilege_escalation: bool | None = None
    capabilities_add: list[str] = field(default_factory=list)
    capabilities_drop: list[str] = field(default_factory=list)


@dataclass
class ContainerSpec:
    """One container to start.  ``command`` is the final argv (entrypoint+cmd merged), ``env``
    the final ``NAME=value`` list, ``resources`` Kubernetes' ``{"requests":…, "limits":…}``."""

    pod_uid: str
    pod_name: str
    namespace: str
    name: str
    image: str
    command: list[str]
    attempt: int = 0
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    mounts: list[Mount] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)
    pids_limit: int | None = None
    security: SecurityContext = field(default_factory=SecurityContext)
    hostname: str = ""
    netns_path: str | None = None          # None: the host's network namespace
    ipc_ns_path: str | None = None         # the pod's shared IPC namespace; None: a private one
    cgroup_parent: str | None = None       # relative pod cgroup; default burstable/pod<uid>
    log_path: str | None = None            # default <data_dir>/logs/<ns>_<pod>_<uid>/<name>/<attempt>.log
    oom_score_adj: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
    stdin: bool = False          # a stdin the shim holds open for attach clients
    stdin_once: bool = False     # closed when the first attach client is done with it
    tty: bool = False            # a terminal for stdin/stdout/stderr (output logged as stdout)


@dataclass
class ContainerHandle:
    id: str
    pid: int
    log_path: str


@dataclass
class ContainerStatus:
    id: str
    pod_uid: str
    pod_name: str
    namespace: str
    name: str
    attempt: int
    image: str
    image_id: str
    state: str                   # created | running | exited
    pid: int = 0
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    created_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    log_path: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    netns_path: str | None = None     # the network namespace it joined (None: the host's)
    oom_killed: bool = False


@dataclass
class PodSandbox:
    """What ``create_pod_sandbox_sync`` made: the netns path (None: the host's), the IPC
    namespace path, the /dev/shm mount and the pod cgroup (relative name)."""

    netns: str | None
    ipc: str
    shm: Mount
    cgroup: str


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


def merge_image_config(image: Image, command: list[str] | None, args: list[str] | None
                       ) -> list[str]:
    """Kubernetes' rule for the final argv (pure).

    command and args both unset -> image Entrypoint + Cmd; command set -> command + args
    (image Cmd ignored); only args set -> image Entrypoint + args.
    Example: busybox (Cmd ["sh"]) with args ["-c", "true"] -> ["-c", "true"] (no entrypoint).
    """
    entry = list(image.config.entrypoint or [])
    if command:
        return list(command) + list(args or [])
    if args:
        return entry + list(args)
    return entry + list(image.config.cmd or [])


def restrict_oom_score_adj(wanted: int | None, floor: int | None) -> int | None:
    """The ``oom_score_adj`` a container really gets (containerd's ``restrict_oom_score_adj``).

    Lowering a score needs CAP_SYS_RESOURCE; a runtime without it (``floor`` = its own score)
    gives its containers no lower score than its own rather than failing them.  Example: a
    Guaranteed container wants -997 from a runtime at 0 without the capability -> 0; a
    BestEffort one wants 1000 -> 1000.  ``floor`` None (capable) or ``wanted`` None: unchanged.
    """
    if wanted is None or floor is None:
        return wanted
    return max(wanted, floor)


def own_oom_score_adj_floor() -> int | None:
    """This process's ``oom_score_adj`` when it lacks CAP_SYS_RESOURCE (the lowest score it can
    pass on), None when it has the capability.  Blocking (two small /proc reads)."""
    with open("/proc/self/status") as f:
        eff = next((int(line.split()[1], 16) for line in f if line.startswith("CapEff:")), 0)
    if eff >> linux.CAP_NUMBER["SYS_RESOURCE"] & 1:
        return None
    with open("/proc/self/oom_score_adj") as f:
        return int(f.read().strip() or 0)


class ContainerRuntime(Protocol):
    """The plug point the pod workers depend on: ``Runtime`` implements it, and a fake one
    (no processes) can stand in for it in the agent's unit tests."""

    async def start_container(self, spec: ContainerSpec) -> ContainerHandle: ...
    async def list_containers(self) -> list[ContainerStatus]: ...
    async def container_status(self, cid: str) -> ContainerStatus | None: ...
    async def wait_container(self, cid: str, timeout: float | None = None) -> ContainerStatus: ...  # noqa: ASYNC109
    async def stop_container(self, cid: str, grace_seconds: float = 30) -> ContainerStatus | None: ...
    async def remove_container(self, cid: str) -> None: ...
    async def exec_in_container(self, cid: str, argv: list[str], stdin: bytes | None = None,
                                timeout: float | None = None) -> ExecResult: ...  # noqa: ASYNC109
    async def container_stats(self, cid: str) -> CgroupStats: ...
    async def create_pod_netns(self, pod_uid: str) -> str: ...
    async def delete_pod_netns(self, pod_uid: str) -> None: ...
    async def cleanup_all(self) -> None: ...


# --------------------------------------------------------------------------- fork server client


class ForkServerClient:
    """Starts the fork server (a fresh interpreter: single-threaded by construction) and sends
    it requests; thread-safe."""

    def __init__(self, log_path: str, keep: Sequence[str] = ()) -> None:
        """``keep``: the paths containers' set-up reads (see ``forkserver.serve``)."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        with open(log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                # -S: no site-packages (the fork server needs only the stdlib and this repo)
                [sys.executable, "-S", "-c", "from kubelet.runtime.forkserver import main; main()",
                 str(child.fileno()), *keep],
                pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL, stdout=logf,
                stderr=logf, start_new_session=True, cwd="/")
        child.close()
        self.ctrl = parent
        self.lock = threading.Lock()

    def request(self, req: dict[str, Any], fds: Sequence[int] = ()) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                socket.send_fds(self.ctrl, [b"r"], [theirs.fileno(), *fds])
        finally:
            theirs.close()
        shim.send_msg(ours, req)
        return ours

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ctrl.close()
        # the fork server now waits for its shims; it is not ours to wait for


# --------------------------------------------------------------------------- runtime


class Runtime:
    def __init__(self, data_dir: str, images: ImageStore | None = None, name: str | None = None) -> None:
        self.data_dir = os.path.abspath(data_dir)
        os.makedirs(self.data_dir, exist_ok=True)
        name_file = os.path.join(self.data_dir, "runtime-name")
        if name is None:
            try:
                with open(name_file) as f:
                    name = f.read().strip()
            except FileNotFoundError:
                name = f"mizzen-{secrets.token_hex(4)}"
        if not name.startswith("mizzen"):
            raise ValueError(f"runtime names start with 'mizzen': {name!r}")
        with open(name_file, "w") as f:
            f.write(name)
        self.name = name
        self.containers_dir = os.path.join(self.data_dir, "containers")
        self.layers_dir = os.path.join(self.data_dir, "rw")
        self.logs_dir = os.path.join(self.data_dir, "logs")
        os.makedirs(self.containers_dir, exist_ok=True)
        self._state_fs_checked = False
        # container id -> (shim pid, its start time) of containers started here: waiting for
        # an exit needs no read of state.json
        self._shims: dict[str, tuple[int, int | None]] = {}
        self.images = images or ImageStore(os.path.join(self.data_dir, "images"))
        self.cgroups = CgroupManager(name)
        self._cg_mounts: list[str] | None = None
        self._forkserver: ForkServerClient | None = None
        self._fs_lock = threading.Lock()
        self.oom_score_adj_floor = own_oom_score_adj_floor()
        if self.oom_score_adj_floor is not None:
            log.info("runtime %s: no CAP_SYS_RESOURCE: containers get an oom_score_adj of at least %d (its own)",
                     name, self.oom_score_adj_floor)

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    def start_sync(self) -> None:
        """Start the fork server; call before the process creates threads if you can (the
        fork server is a fresh interpreter either way)."""
        self._ensure_state_fs()   # first: the fork server's template mount namespace holds it
        self._fork_server()
        self.cgroups.ensure("")

    def _ensure_state_fs(self) -> None:
        """The containers' state directories (config, state, shim log, rootfs mount point) live
        in a tmpfs of this runtime's own (``<name>-state``), as containerd keeps its state in
        /run: those small files are written several times per container start, and creating
        inodes on a disk filesystem is what a burst of starts spent most of its kernel time
        on. It stays mounted while containers run (a restarted kubelet finds them there) and
        goes with ``cleanup_all``. A directory already holding state (from before) is used as
        is. The writable layers stay on disk (``layers_dir``)."""
        if self._state_fs_checked:
            return
        if not linux.mounts_under(self.containers_dir) and not os.listdir(self.containers_dir):
            linux.mount(f"{self.name}-state", self.containers_dir, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV,
                        "mode=0700")
            with self._fs_lock:
                # a fork server started before (e.g. before cleanup_all) has the old state
                # filesystem in its template mount namespace: the next request starts a new one
                if self._forkserver is not None:
                    self._forkserver.close()
                    self._forkserver = None
        # the pods' run directories (IPC namespace, /dev/shm, /etc/hosts...) likewise
        os.makedirs(self.run_dir, exist_ok=True)
        if self.run_dir not in linux.mounts_under(self.run_dir) and not os.listdir(self.run_dir):
            linux.mount(f"{self.name}-run", self.run_dir, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0755")
        self._state_fs_checked = True

    def _fork_server(self) -> ForkServerClient:
        """The fork server, started again if it died (a crash there must not stop the node)."""
        with self._fs_lock:
            fs = self._forkserver
            if fs is None or fs.proc.poll() is not None:
                if fs is not None:
                    log.warning("fork server exited with %s; starting a new one", fs.proc.returncode)
                    fs.close()
                self._forkserver = fs = ForkServerClient(
                    os.path.join(self.data_dir, "forkserver.log"),
                    [self.containers_dir, self.layers_dir, self.images.root])
            return fs

    async def close(self) -> None:
        if self._forkserver is not None:
            self._forkserver.close()
            self._forkserver = None

    # ---- containers ---------------------------------------------------------------------

    def _cdir(self, cid: str) -> str:
        if not cid or "/" in cid or cid.startswith("."):
            raise ContainerNotFound(cid)
        return os.path.join(self.containers_dir, cid)

    def _layer_dir(self, cid: str) -> str:
        """The container's writable layer (overlayfs upper and work dirs), on disk."""
        return os.path.join(self.layers_dir, os.path.basename(self._cdir(cid)))

    async def start_container(self, spec: ContainerSpec) -> ContainerHandle:
        """Prepare (in a thread) and start the container; returns once its process has exec'd.
        The shim's answer is awaited on the event loop, so many starts can be in flight."""
        cid, log_path, conn = await asyncio.to_thread(self._prepare_and_send, spec)
        try:
            reply = await asyncio.wait_for(_recv_msg_async(conn), 60)
        except (OSError, TimeoutError):
            reply = None
        finally:
            conn.close()
        if reply is not None:
            return self._started(cid, log_path, reply)  # no file work on this path
        return await asyncio.to_thread(self._started, cid, log_path, reply)

    def start_container_sync(self, spec: ContainerSpec) -> ContainerHandle:
        cid, log_path, conn = self._prepare_and_send(spec)
        try:
            conn.settimeout(60)
            reply = shim.recv_msg(conn)
        except OSError:
            reply = None
        finally:
            conn.close()
        return self._started(cid, log_path, reply)

    def _prepare_and_send(self, spec: ContainerSpec) -> tuple[str, str, socket.socket]:
        """Directories, cgroup and config of a new container, then the request to the fork
        server; returns (id, log path, the connection the shim answers on)."""
        image = self.images.resolve(spec.image)
        if image is None:
            raise ImageNotPresent(f'Container image "{spec.image}" is not present with pull policy of Never')
        sec = spec.security
        uid, gid = self._identity(image, sec)
        cid = secrets.token_hex(32)
        try:
            return self._prepare_and_send_new(spec, image, cid, uid, gid)
        except BaseException:
            # nothing half-made may stay behind: no state dir, no cgroup
            with contextlib.suppress(OSError, ContainerRuntimeError, ValueError):
                self.remove_container_sync(cid)
            with contextlib.suppress(OSError, ValueError):
                parent = spec.cgroup_parent or CgroupManager.pod_name(spec.pod_uid, BURSTABLE)
                self.cgroups.remove(f"{parent.strip('/')}/{cid}")
            raise

    def _prepare_and_send_new(self, spec: ContainerSpec, image: Image, cid: str, uid: int, gid: int
                              ) -> tuple[str, str, socket.socket]:
        sec = spec.security
        self._ensure_state_fs()
        cdir = self._cdir(cid)
        os.mkdir(cdir, 0o700)
        os.mkdir(os.path.join(cdir, "rootfs"), 0o755)
        rw = self._layer_dir(cid)
        os.makedirs(rw, 0o700)
        for sub in ("upper", "work"):
            os.mkdir(os.path.join(rw, sub), 0o755)
        parent = spec.cgroup_parent or CgroupManager.pod_name(spec.pod_uid, BURSTABLE)
        rel = f"{parent.strip('/')}/{cid}"
        paths = self.cgroups.ensure(rel, container_limits(spec.resources, spec.pids_limit))
        if self.cgroups.version == 2:
            mem_events = os.path.join(paths.dirs[""], "memory.events")
        else:
            mem_events = os.path.join(paths.dirs["memory"], "memory.oom_control") if "memory" in paths.dirs else ""
        log_path = spec.log_path or os.path.join(
            self.logs_dir, f"{spec.namespace}_{spec.pod_name}_{spec.pod_uid}", spec.name, f"{spec.attempt}.log")
        caps = linux.effective_capabilities(linux.DEFAULT_CAPABILITIES, sec.capabilities_add,
                                            sec.capabilities_drop, sec.privileged)
        no_new_privs = not sec.privileged and sec.allow_privilege_escalation is not True
        cfg = {
            "id": cid,
            "spec": _spec_json(spec),
            "image_id": image.id,
            "rootfs": os.path.join(cdir, "rootfs"),
            "upperdir": os.path.join(rw, "upper"),
            "workdir": os.path.join(rw, "work"),
            "lowerdirs": image.lowerdirs,
            "argv": spec.command,
            "env": self._default_env(spec, image, uid),
            "working_dir": spec.working_dir or "/",
            "mounts": [dict(vars(m)) for m in spec.mounts],
            "hostname": spec.hostname or spec.pod_name,
            "netns": spec.netns_path,
            "ipcns": spec.ipc_ns_path,
            "cgroup": rel,
            "cgroup_procs": self.cgroups.procs_files(rel),
            "memory_events": mem_events,
            "cgroup_mounts": self._cgroup_mounts(),
            "log_path": log_path,
            "privileged": sec.privileged,
            "read_only_root": sec.read_only_root_filesystem,
            "capabilities": sorted(caps),
            "no_new_privs": no_new_privs,
            "uid": uid,
            "gid": gid,
            "supplemental_groups": sec.supplemental_groups,
            "oom_score_adj": restrict_oom_score_adj(spec.oom_score_adj, self.oom_score_adj_floor),
        }
        shim.write_json(os.path.join(cdir, "config.json"), cfg)
        state = {"status": "created", "created_at": shim.rfc3339_nano()}
        shim.write_json(os.path.join(cdir, "state.json"), state)
        conn = self._fork_server().request({"op": "start", "dir": cdir, "state": state})
        return cid, log_path, conn

    def _started(self, cid: str, log_path: str, reply: dict[str, Any] | None) -> ContainerHandle:
        if reply is None:
            # the shim died before answering: record it, so the container is never "created" forever
            with contextlib.suppress(OSError, ValueError):
                st = self._raw_state(cid)
                if st.get("status") == "created":
                    shim.update_state(self._cdir(cid), status="exited", exit_code=128, reason="StartError",
                                      message="the container's shim exited before starting it",
                                      finished_at=shim.rfc3339_nano())
            raise StartFailed(f"container {cid}: the shim exited without an answer (see its shim.log)", cid)
        if "error" in reply:
            raise StartFailed(reply["error"], cid)
        if reply.get("shim_pid"):
            self._shims[cid] = (int(reply["shim_pid"]), reply.get("shim_start"))
        return ContainerHandle(id=cid, pid=int(reply["pid"]), log_path=log_path)

    @staticmethod
    def _default_env(spec: ContainerSpec, image: Image, uid: int) -> list[str]:
        """The spec's env plus what containerd adds when absent: HOSTNAME and HOME."""
        env = list(spec.env)
        names = {e.split("=", 1)[0] for e in env}
        if "HOSTNAME" not in names:
            env.append(f"HOSTNAME={spec.hostname or spec.pod_name}")
        if "HOME" not in names:
            env.append(f"HOME={image.home_dir(uid)}")
        return env

    @staticmethod
    def _identity(image: Image, sec: SecurityContext) -> tuple[int, int]:
        """(uid, gid) the container runs as: runAsUser, else the image's ``User``; the group
        is runAsGroup, else the user's primary group in the image's /etc/passwd, else 0."""
        try:
            if sec.run_as_user is not None:
                uid, gid = sec.run_as_user, image.lookup_user(str(sec.run_as_user))[1]
            else:
                uid, gid = image.lookup_user(image.config.user)
        except (ImageError, OSError, ValueError) as exc:
            raise CreateContainerError(str(exc)) from exc
        if sec.run_as_group is not None:
            gid = sec.run_as_group
        return uid, gid

    def _cgroup_mounts(self) -> list[str]:
        """Hierarchies to mount at the container's /sys/fs/cgroup (host directory names)."""
        if self._cg_mounts is None:
            if self.cgroups.version == 2:
                self._cg_mounts = ["cgroup2"]
            else:
                self._cg_mounts = sorted({os.path.relpath(b, self.cgroups.mount_root).split("/")[0]
                                          for b in self.cgroups.bases.values()})
        return self._cg_mounts

    def _status_sync(self, cid: str) -> ContainerStatus | None:
        cdir = self._cdir(cid)
        try:
            cfg = shim.read_json(os.path.join(cdir, "config.json"))
            st = self._with_shim(cdir, shim.read_json(os.path.join(cdir, "state.json")))
        except (FileNotFoundError, ValueError):
            return None
        spec = cfg["spec"]
        state = st.get("status", "created")
        shim_gone = st.get("shim_pid") and not self._alive(st.get("shim_pid"), st.get("shim_start"))
        if state in ("created", "running") and shim_gone and not self._alive(st.get("pid"), st.get("pid_start")):
            # the shim vanished without writing an exit (killed, or the machine rebooted);
            # a container still alive without its shim stays "running" (its exit code is lost)
            state = "exited"
            st.setdefault("exit_code", 137)
            st.setdefault("reason", "ContainerStatusUnknown")
            st.setdefault("message", "The container could not be located when the pod was terminated")
        return ContainerStatus(
            id=cid, pod_uid=spec["pod_uid"], pod_name=spec["pod_name"], namespace=spec["namespace"],
            name=spec["name"], attempt=spec["attempt"], image=spec["image"], image_id=cfg["image_id"],
            state=state, pid=st.get("pid") or 0 if state == "running" else 0,
            exit_code=st.get("exit_code") if state == "exited" else None,
            reason=st.get("reason", "") if state == "exited" else "",
            message=st.get("message", "") if state == "exited" else "",
            created_at=st.get("created_at", ""), started_at=st.get("started_at", ""),
            finished_at=st.get("finished_at", ""), log_path=cfg["log_path"],
            labels=dict(spec.get("labels") or {}), netns_path=cfg.get("netns"),
            oom_killed=bool(st.get("oom_killed")) and state == "exited",
        )

    @staticmethod
    def _alive(pid: int | None, start: int | None) -> bool:
        """``pid`` runs (not a zombie) and is the process that started at ``start``."""
        if not pid:
            return False
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            return False
        return fields[0] != b"Z" and int(fields[19]) == start

    def list_containers_sync(self) -> list[ContainerStatus]:
        out = []
        for cid in sorted(os.listdir(self.containers_dir)):
            st = self._status_sync(cid)
            if st is not None:
                out.append(st)
        return out

    async def list_containers(self) -> list[ContainerStatus]:
        return await asyncio.to_thread(self.list_containers_sync)

    async def container_status(self, cid: str) -> ContainerStatus | None:
        return await asyncio.to_thread(self._status_sync, cid)

    def wait_container_sync(self, cid: str, timeout: float | None = None) -> ContainerStatus:
        """Block until the container's shim has recorded its exit (or ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        st = shim.read_json(os.path.join(self._cdir(cid), "state.json"))
        shim_pid = st.get("shim_pid")
        if st.get("status") == "running" and shim_pid and self._alive(shim_pid, st.get("shim_start")):
            try:
                pidfd = os.pidfd_open(shim_pid)
            except OSError:
                pidfd = -1
            if pidfd >= 0:
                try:
                    sel = selectors.DefaultSelector()
                    sel.register(pidfd, selectors.EVENT_READ)
                    sel.select(None if deadline is None else max(0.0, deadline - time.monotonic()))
                    sel.close()
                finally:
                    os.close(pidfd)
        while True:
            status = self._status_sync(cid)
            if status is None:
                raise ContainerNotFound(cid)
            if status.state == "exited" or (deadline is not None and time.monotonic() >= deadline):
                return status
            time.sleep(0.01)

    async def wait_container(self, cid: str, timeout: float | None = None) -> ContainerStatus:  # noqa: ASYNC109
        """Wait until the container's exit is recorded (or ``timeout``).  Holds no thread while
        waiting: the shim's pidfd is watched by the event loop, so hundreds of pods can wait."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        known = self._shims.get(cid)
        if known is not None:
            st: dict[str, Any] = {"status": "running", "shim_pid": known[0], "shim_start": known[1]}
        else:
            st = await asyncio.to_thread(self._raw_state, cid)
        shim_pid = st.get("shim_pid")
        pidfd = -1
        if st.get("status") in ("created", "running") and shim_pid:
            try:
                pidfd = os.pidfd_open(shim_pid)
            except OSError:
                pidfd = -1
        if pidfd >= 0:
            try:
                # the pid may have been recycled between reading the state and pidfd_open
                if self._alive(shim_pid, st.get("shim_start")):
                    exited: asyncio.Future[None] = loop.create_future()

                    def on_exit() -> None:
                        if not exited.done():
                            exited.set_result(None)

                    loop.add_reader(pidfd, on_exit)
                    try:
                        await asyncio.wait_for(exited, None if deadline is None else max(0.0, deadline - loop.time()))
                    except TimeoutError:
                        pass
                    finally:
                        loop.remove_reader(pidfd)
            finally:
                os.close(pidfd)
        while True:
            status = await asyncio.to_thread(self._status_sync, cid)
            if status is None:
                raise ContainerNotFound(cid)
            if status.state == "exited" or (deadline is not None and loop.time() >= deadline):
                return status
            await asyncio.sleep(0.01)

    def _raw_state(self, cid: str) -> dict[str, Any]:
        try:
            return self._with_shim(self._cdir(cid), shim.read_json(os.path.join(self._cdir(cid), "state.json")))
        except FileNotFoundError as exc:
            raise ContainerNotFound(cid) from exc

    @staticmethod
    def _with_shim(cdir: str, st: dict[str, Any]) -> dict[str, Any]:
        """``st`` with the shim's pid and start time, from ``shim.pid`` while the state does
        not carry them yet (a container still "created")."""
        if not st.get("shim_pid") and st.get("status", "created") == "created":
            known = shim.read_shim_pid(cdir)
            if known is not None:
                st["shim_pid"], st["shim_start"] = known
        return st

    def stop_container_sync(self, cid: str, grace_seconds: float = 30) -> ContainerStatus | None:
        """SIGTERM to the container's PID 1 (delivered only if it handles SIGTERM), then after
        ``grace_seconds`` SIGKILL to every process of its cgroup."""
        status = self._status_sync(cid)
        if status is None:
            raise ContainerNotFound(cid)
        if status.state != "running":
            return status
        cfg = shim.read_json(os.path.join(self._cdir(cid), "config.json"))
        st = shim.read_json(os.path.join(self._cdir(cid), "state.json"))
        pid_ok = bool(status.pid) and self._alive(status.pid, st.get("pid_start"))  # never a recycled pid
        if grace_seconds > 0 and pid_ok:
            with contextlib.suppress(ProcessLookupError):
                os.kill(status.pid, signal.SIGTERM)
            status = self.wait_container_sync(cid, grace_seconds)
        if status.state == "running":
            self.cgroups.kill(cfg["cgroup"])
            if pid_ok:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(status.pid, signal.SIGKILL)
            status = self.wait_container_sync(cid, 10)
        return status

    async def stop_container(self, cid: str, grace_seconds: float = 30) -> ContainerStatus | None:
        """As ``stop_container_sync``, waiting on the event loop (no thread held for the grace
        period)."""
        status = await self.container_status(cid)
        if status is None:
            raise ContainerNotFound(cid)
        if status.state != "running":
            return status
        cfg = await asyncio.to_thread(shim.read_json, os.path.join(self._cdir(cid), "config.json"))
        st = await asyncio.to_thread(self._raw_state, cid)
        pid_ok = bool(status.pid) and self._alive(status.pid, st.get("pid_start"))  # never a recycled pid
        if grace_seconds > 0 and pid_ok:
            with contextlib.suppress(ProcessLookupError):
                os.kill(status.pid, signal.SIGTERM)
            status = await self.wait_container(cid, grace_seconds)
        if status.state == "running":
            await asyncio.to_thread(self.cgroups.kill, cfg["cgroup"])
            if pid_ok:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(status.pid, signal.SIGKILL)
            status = await self.wait_container(cid, 10)
        return status

    def remove_container_sync(self, cid: str) -> None:
        cdir = self._cdir(cid)
        self._shims.pop(cid, None)
        status = self._status_sync(cid)
        if status is not None and status.state == "running":
            raise ContainerRuntimeError(f"container {cid} is running: stop it before removing it")
        try:
            cfg = shim.read_json(os.path.join(cdir, "config.json"))
        except FileNotFoundError:
            cfg = None
        if cfg is not None:
            self.cgroups.kill(cfg["cgroup"])
            self.cgroups.remove(cfg["cgroup"])
            for mp in linux.mounts_under(cfg["rootfs"]):
                with contextlib.suppress(OSError):
                    linux.umount2(mp, linux.MNT_DETACH)
            log_path = cfg["log_path"]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(log_path)
            d = os.path.dirname(log_path)
            while d.startswith(self.logs_dir + "/"):
                try:
                    os.rmdir(d)
                except OSError:
                    break
                d = os.path.dirname(d)
        if os.path.isdir(cdir):
            remove_tree(cdir)
        rw = os.path.dirname(cfg["upperdir"]) if cfg is not None else self._layer_dir(cid)
        if os.path.isdir(rw):
            remove_tree(rw)

    async def remove_container(self, cid: str) -> None:
        await asyncio.to_thread(self.remove_container_sync, cid)

    async def container_stats(self, cid: str) -> CgroupStats:
        def work() -> CgroupStats:
            cfg = shim.read_json(os.path.join(self._cdir(cid), "config.json"))
            return self.cgroups.stats(cfg["cgroup"])

        return await asyncio.to_thread(work)

    async def pod_stats(self, pod_uid: str, qos: str) -> CgroupStats:
        """Usage of the whole pod cgroup (every container, exec'd processes included)."""
        return await asyncio.to_thread(self.cgroups.stats, CgroupManager.pod_name(pod_uid, qos))

    def reopen_container_log_sync(self, cid: str, timeout: float = 5) -> None:
        """CRI ReopenContainerLog: after the caller renamed the log file, make the shim write
        to a new file at the same path; returns once that file exists."""
        cdir = self._cdir(cid)
        st = shim.read_json(os.path.join(cdir, "state.json"))
        if st.get("status") != "running" or not self._alive(st.get("shim_pid"), st.get("shim_start")):
            raise ContainerRuntimeError(f"container {cid} is not running")
        log_path = shim.read_json(os.path.join(cdir, "config.json"))["log_path"]
        os.kill(st["shim_pid"], signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not os.path.exists(log_path):
            if time.monotonic() > deadline:
                raise ContainerRuntimeError(f"container {cid}: the log was not reopened")
            time.sleep(0.005)

    async def reopen_container_log(self, cid: str) -> None:
        await asyncio.to_thread(self.reopen_container_log_sync, cid)

    def attach_stdin_sync(self, cid: str) -> socket.socket | None:
        """A connection to the container's stdin (``stdin: true``): what is sent on it is what
        the container reads; shutting down its write side ends this client's input (with
        ``stdinOnce``, the container's stdin).  None when the container has no stdin (or it
        was closed already)."""
        cdir = self._cdir(cid)
        try:
            dfd = os.open(cdir, os.O_PATH | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise ContainerNotFound(cid) from exc
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(shim.short_path(dfd, shim.ATTACH_SOCKET))
        except OSError:
            sock.close()
            return None
        finally:
            os.close(dfd)
        return sock

    async def attach_stdin(self, cid: str) -> socket.socket | None:
        return await asyncio.to_thread(self.attach_stdin_sync, cid)

    def resize_tty_sync(self, cid: str, rows: int, cols: int) -> bool:
        """The window size of a running ``tty: true`` container's terminal (``kubectl attach
        -t`` resize events). The terminal is reached through its main process's stdin or
        stdout (the other end of the master the shim holds); False when neither is a
        terminal any more, or the container does not run."""
        st = self._raw_state(cid)
        pid = st.get("pid")
        if st.get("status") != "running" or not pid or not self._alive(pid, st.get("pid_start")):
            return False
        for n in (0, 1):
            try:
                fd = os.open(f"/proc/{pid}/fd/{n}", os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if os.isatty(fd):
                    shim.set_window_size(fd, rows, cols)
                    return True
            finally:
                os.close(fd)
        return False

    async def resize_tty(self, cid: str, rows: int, cols: int) -> bool:
        return await asyncio.to_thread(self.resize_tty_sync, cid, rows, cols)

    def container_cgroup(self, cid: str) -> str:
        """The container's relative cgroup name (for ``self.cgroups``)."""
        return shim.read_json(os.path.join(self._cdir(cid), "config.json"))["cgroup"]

    # ---- exec ---------------------------------------------------------------------------

    def exec_process_sync(self, cid: str, argv: list[str], stdin_fd: int = -1, stdout_fd: int = -1,
                          stderr_fd: int = -1, tty: bool = False, env: dict[str, str] | None = None,
                          size: tuple[int, int] | None = None) -> ExecProcess:
        """Start ``argv`` in the container.  Without ``tty`` it uses the caller's three fds
        (which the caller still owns and closes); with ``tty`` a terminal is allocated inside
        the container and its master end is ``ExecProcess.pty_fd`` (the fds are ignored);
        ``size`` (rows, columns) is that terminal's size before the process starts."""
        fds = [] if tty else [stdin_fd, stdout_fd, stderr_fd]
        req: dict[str, Any] = {"op": "exec", "dir": self._cdir(cid), "argv": list(argv), "tty": tty, "env": env or {}}
        if tty and size is not None:
            req["size"] = list(size)
        conn = self._fork_server().request(req, fds)
        conn.settimeout(30)
        pty_fd = -1
        if tty:
            head, fds_in, _flags, _addr = socket.recv_fds(conn, 4, 1)
            if len(head) < 4:
                conn.close()
                raise StartFailed("exec helper exited without an answer")
            (n,) = struct.unpack("!I", head)
            body = b""
            while len(body) < n:
                chunk = conn.recv(n - len(body))
                if not chunk:
                    break
                body += chunk
            reply = json.loads(body) if len(body) == n else None
            pty_fd = fds_in[0] if fds_in else -1
        else:
            reply = shim.recv_msg(conn)
        if reply is None or "error" in reply:
            conn.close()
            if pty_fd >= 0:
                os.close(pty_fd)
            raise StartFailed((reply or {}).get("error") or "exec helper exited without an answer")
        conn.settimeout(None)
        return ExecProcess(int(reply["pid"]), conn, pty_fd)

    async def exec_process(self, cid: str, argv: list[str], stdin_fd: int = -1, stdout_fd: int = -1,
                           stderr_fd: int = -1, tty: bool = False, size: tuple[int, int] | None = None
                           ) -> ExecProcess:
        """Start ``argv`` in the container (``kubectl exec``); see ``exec_process_sync``."""
        return await asyncio.to_thread(self.exec_process_sync, cid, argv, stdin_fd, stdout_fd, stderr_fd, tty,
                                       None, size)

    def exec_sync(self, cid: str, argv: list[str], stdin: bytes | None = None,
                  timeout: float | None = None) -> ExecResult:
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = self.exec_process_sync(cid, argv, in_r, out_w, err_w)
        finally:
            os.close(in_r)
            os.close(out_w)
            os.close(err_w)
        deadline = None if timeout is None else time.monotonic() + timeout
        out, err = bytearray(), bytearray()
        timed_out = False
        try:
            if stdin:
                with contextlib.suppress(BrokenPipeError):
                    os.write(in_w, stdin)
            os.close(in_w)
            in_w = -1
            sel = selectors.DefaultSelector()
            sel.register(out_r, selectors.EVENT_READ, out)
            sel.register(err_r, selectors.EVENT_READ, err)
            open_fds = 2
            while open_fds:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    timed_out = True
                    proc.kill()
                    break
                for key, _ in sel.select(left):
                    data = os.read(key.fd, 65536)
                    if data:
                        key.data.extend(data)
                    else:
                        sel.unregister(key.fd)
                        open_fds -= 1
            sel.close()
            code = proc.wait(5 if timed_out else None)
        finally:
            for fd in (in_w, out_r, err_r):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        return ExecResult(exit_code=code, stdout=bytes(out), stderr=bytes(err), timed_out=timed_out)

    async def exec_in_container(self, cid: str, argv: list[str], stdin: bytes | None = None,
                                timeout: float | None = None) -> ExecResult:  # noqa: ASYNC109
        """Run ``argv`` in the container and collect its output (exec probes, ``kubectl exec``
        without a terminal).  On timeout the process is killed and ``timed_out`` set.  Only
        the start takes a thread; output and exit are awaited on the event loop.  Output still
        held open by a process the command left behind is read for at most one more second."""
        loop = asyncio.get_running_loop()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            proc = await asyncio.to_thread(self.exec_process_sync, cid, argv, in_r, out_w, err_w)
        except BaseException:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            raise
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        out, err = bytearray(), bytearray()

        async def collect(fd: int, buf: bytearray) -> None:
            reader = asyncio.StreamReader()
            transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                        os.fdopen(fd, "rb", 0))
            try:
                while chunk := await reader.read(65536):
                    buf.extend(chunk)
            finally:
                transport.close()

        readers = [asyncio.ensure_future(collect(out_r, out)), asyncio.ensure_future(collect(err_r, err))]
        timed_out = False
        try:
            if stdin:
                await asyncio.to_thread(_write_all, in_w, stdin)
            os.close(in_w)
            in_w = -1
            try:
                code = await asyncio.wait_for(proc.wait_async(), timeout)
            except TimeoutError:
                timed_out = True
                proc.kill()
                code = await asyncio.wait_for(proc.wait_async(), 5)
            await asyncio.wait(readers, timeout=1.0)
        finally:
            if in_w >= 0:
                os.close(in_w)
            for t in readers:
                t.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        return ExecResult(exit_code=code, stdout=bytes(out), stderr=bytes(err), timed_out=timed_out)

    # ---- pod-level resources --------------------------------------------------------------

    def pod_dir(self, pod_uid: str) -> str:
        """A directory for the pod's own files (``/etc/hosts``… see ``podfiles``)."""
        if not pod_uid or "/" in pod_uid or pod_uid.startswith("."):
            raise ValueError(f"bad pod uid {pod_uid!r}")
        return os.path.join(self.data_dir, "pods", pod_uid)

    async def remove_pod_dir(self, pod_uid: str) -> None:
        """Unmount the pod's IPC namespace and /dev/shm, then remove its directory."""
        await asyncio.to_thread(self._remove_pod_dir_sync, pod_uid)

    def _remove_pod_dir_sync(self, pod_uid: str) -> None:
        for d in (self._pod_run_dir(pod_uid), self.pod_dir(pod_uid)):
            for mp in linux.mounts_under(d):
                with contextlib.suppress(OSError):
                    linux.umount2(mp, linux.MNT_DETACH)
            if os.path.isdir(d):
                remove_tree(d)

    @property
    def run_dir(self) -> str:
        """Where this runtime's mount points live (named after the runtime, like its cgroups)."""
        return os.path.join("/run", self.name)

    def _pod_run_dir(self, pod_uid: str) -> str:
        self.pod_dir(pod_uid)  # validates the uid
        return os.path.join(self.run_dir, pod_uid)

    def pod_run_dir(self, pod_uid: str) -> str:
        """The pod's volatile files (``podfiles.write_pod_files``: /etc/hosts, ...), on this
        runtime's tmpfs; removed with ``remove_pod_dir``."""
        self._ensure_state_fs()
        return self._pod_run_dir(pod_uid)

    async def create_pod_ipc(self, pod_uid: str, shm_size: int = 64 * 2**20) -> tuple[str, Mount]:
        """The pod's shared IPC namespace and /dev/shm, as Kubernetes gives every container of
        a pod (a tmpfs of ``shm_size``).  Returns (``ipc_ns_path``, the /dev/shm mount)."""
        def work() -> tuple[str, Mount]:
            ipc = netns.create_ns_file(os.path.join(self._pod_run_dir(pod_uid), "ipc"), linux.CLONE_NEWIPC)
            return ipc, self._pod_shm_sync(pod_uid, shm_size)

        return await asyncio.to_thread(work)

    def _pod_shm_sync(self, pod_uid: str, shm_size: int) -> Mount:
        shm = os.path.join(self._pod_run_dir(pod_uid), "shm")
        os.makedirs(shm, exist_ok=True)
        # ismount (two stats), not mounts_under (a parse of the whole mount table, three
        # lines per pod long)
        if not os.path.ismount(shm):
            linux.mount("mizzen-shm", shm, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC,
                        f"mode=1777,size={shm_size}")
        return Mount(shm, "/dev/shm")

    def create_pod_sandbox_sync(self, pod_uid: str, qos: str, containers: list[dict[str, Any]], *,
                                pids_limit: int | None = None, host_network: bool = False,
                                shm_size: int = 64 * 2**20) -> PodSandbox:
        """What a pod's containers share, in one go (one thread, one unshare for both
        namespaces): ``create_pod_netns`` (unless ``host_network``), ``create_pod_ipc`` and
        ``ensure_pod_cgroup``.  Blocking; each step is idempotent."""
        self._ensure_state_fs()
        ipc = os.path.join(self._pod_run_dir(pod_uid), "ipc")
        net = netns.create_pod_namespaces(None if host_network else self.pod_netns_name(pod_uid), ipc)
        shm = self._pod_shm_sync(pod_uid, shm_size)
        rel = CgroupManager.pod_name(pod_uid, qos)
        self.cgroups.ensure(rel, pod_limits(containers, pids_limit))
        return PodSandbox(netns=net, ipc=ipc, shm=shm, cgroup=rel)

    def pod_netns_name(self, pod_uid: str) -> str:
        return f"{self.name}-{pod_uid}"

    async def create_pod_netns(self, pod_uid: str) -> str:
        return await asyncio.to_thread(netns.create_pod_netns, self.pod_netns_name(pod_uid))

    async def delete_pod_netns(self, pod_uid: str) -> None:
        await asyncio.to_thread(netns.delete_pod_netns, self.pod_netns_name(pod_uid))

    async def open_connection_in_pod(self, netns_path: str, host: str, port: int
                                     ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection made from inside a pod's network namespace (tcpSocket and httpGet
        probes, port-forward).  Raises ``OSError`` (e.g. ConnectionRefusedError) like
        ``asyncio.open_connection``; the caller applies its own timeout."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = await asyncio.to_thread(netns.socket_in_netns, netns_path, family)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def ensure_pod_cgroup(self, pod_uid: str, qos: str, containers: list[dict[str, Any]],
                                pids_limit: int | None = None) -> str:
        rel = CgroupManager.pod_name(pod_uid, qos)
        await asyncio.to_thread(self.cgroups.ensure, rel, pod_limits(containers, pids_limit))
        return rel

    async def remove_pod_cgroup(self, pod_uid: str, qos: str) -> None:
        rel = CgroupManager.pod_name(pod_uid, qos)

        def work() -> None:
            self.cgroups.kill(rel)
            self.cgroups.remove(rel)

        await asyncio.to_thread(work)

    # ---- cleanup ------------------------------------------------------------------------

    def cleanup_all_sync(self) -> None:
        """Kill and remove everything this runtime instance made: containers (processes,
        cgroups, state, logs), the cgroup subtree and the pod network namespaces."""
        errors: list[str] = []
        for cid in sorted(os.listdir(self.containers_dir)):
            try:
                cfg = shim.read_json(os.path.join(self._cdir(cid), "config.json"))
                self.cgroups.kill(cfg["cgroup"])
            except (OSError, ValueError) as exc:
                errors.append(f"{cid}: {exc}")
        for cid in sorted(os.listdir(self.containers_dir)):
            try:
                status = self._status_sync(cid)
                if status is not None and status.state == "running":
                    self.wait_container_sync(cid, 10)
                self.remove_container_sync(cid)
            except (OSError, ContainerRuntimeError) as exc:
                errors.append(f"{cid}: {exc}")
        try:
            self.cgroups.cleanup()
        except OSError as exc:
            errors.append(str(exc))
        for path in netns.list_netns(self.name + "-"):
            try:
                netns.delete_pod_netns(path)
            except OSError as exc:
                errors.append(f"{path}: {exc}")
        pods = os.path.join(self.data_dir, "pods")
        for mp in linux.mounts_under(self.run_dir) + linux.mounts_under(pods):
            try:
                linux.umount2(mp, linux.MNT_DETACH)
            except OSError as exc:
                errors.append(f"{mp}: {exc}")
        for mp in linux.mounts_under(self.containers_dir):
            try:
                linux.umount2(mp, linux.MNT_DETACH)
            except OSError as exc:
                errors.append(f"{mp}: {exc}")
        self._state_fs_checked = False
        for d in (self.logs_dir, pods, self.run_dir, self.layers_dir):
            with contextlib.suppress(FileNotFoundError, OSError):
                remove_tree(d)
        if errors:
            raise ContainerRuntimeError("cleanup incomplete: " + "; ".join(errors))

    async def cleanup_all(self) -> None:
        await asyncio.to_thread(self.cleanup_all_sync)


def _spec_json(spec: ContainerSpec) -> dict[str, Any]:
    """``asdict(spec)`` without its deep copies (the result is only encoded into config.json)."""
    out = dict(vars(spec))
    out["mounts"] = [dict(vars(m)) for m in spec.mounts]
    out["security"] = dict(vars(spec.security))
    return out


async def _recv_msg_async(sock: socket.socket) -> Any:
    """``shim.recv_msg`` on the event loop (one length-prefixed JSON message; None at EOF)."""
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    buf = b""
    while True:
        if len(buf) >= 4:
            (n,) = struct.unpack("!I", buf[:4])
            if len(buf) >= 4 + n:
                return json.loads(buf[4:4 + n])
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            return None
        buf += chunk


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        while data:
            data = data[os.write(fd, data):]


class ExecProcess:
    """A process started by ``exec_process``: its host pid, ``wait()`` and ``kill()``."""

    def __init__(self, pid: int, conn: socket.socket, pty_fd: int = -1) -> None:
        self.pid = pid
        self.pty_fd = pty_fd     # master end of the container-side terminal (tty=True); caller closes it
        self._conn = conn
        self._start = shim.proc_start_time(pid)
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        self._conn.settimeout(timeout)
        try:
            reply = shim.recv_msg(self._conn)
        except TimeoutError:
            raise
        except OSError:
            reply = None
        self._conn.close()
        self.returncode = int(reply["exit_code"]) if reply and "exit_code" in reply else 137
        return self.returncode

    async def wait_async(self) -> int:
        """``wait()`` on the event loop: the exit code arrives on the helper's socket."""
        if self.returncode is not None:
            return self.returncode
        try:
            reply = await _recv_msg_async(self._conn)
        except OSError:
            reply = None
        self._conn.close()
        self.returncode = int(reply["exit_code"]) if reply and "exit_code" in reply else 137
        return self.returncode

    def resize(self, rows: int, cols: int) -> None:
        """Window size of the terminal (``kubectl exec -t`` resize events)."""
        if self.pty_fd >= 0:
            shim.set_window_size(self.pty_fd, rows, cols)

    def kill(self) -> None:
        if shim.proc_start_time(self.pid) == self._start:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


__all__ = [
    "ContainerHandle", "ContainerNotFound", "ContainerRuntime", "ContainerSpec", "CreateContainerError", "ContainerStatus", "ExecProcess", "ExecResult",
    "ImageNotPresent", "Mount", "PodSandbox", "Runtime", "ContainerRuntimeError", "SecurityContext", "StartFailed",
    "merge_image_config",
]


def _implements_protocol(rt: Runtime) -> ContainerRuntime:
    return rt  # mypy checks that Runtime satisfies ContainerRuntime
