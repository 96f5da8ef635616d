"""The per-container shim and the container's own set-up code, run in forked processes.

Why: a container must outlive the kubelet that started it, and its exit code and output must
never be lost.  So each container gets a small *shim* process (the conmon pattern), forked by
the fork server (``forkserver.py``), in its own session and outside the pod's cgroups.  The
shim forks the container process, keeps its stdout/stderr pipes, copies them into the
CRI-format log file, waits for it, and writes the exit status into ``state.json`` of the
container's directory.  Killing the pod's cgroup therefore never kills the shim, and a
restarted kubelet reads everything it needs from the state directory.

The container process, before ``execve``: is in its cgroups (before unsharing the cgroup
namespace, so that its namespace root is its own cgroup), joins the pod's network namespace,
unshares mount, UTS, IPC and cgroup namespaces (the shim unshared the PID namespace, so the
container is PID 1), mounts an overlayfs root (image layers below, a per-container upper
dir), ``/proc``, ``/dev``, read-only ``/sys``, the pod's ``/etc/hosts``/``hostname``/
``resolv.conf`` and volumes, pivots into it, drops capabilities, sets ``no_new_privs`` and the
user, then execs.  Any failure before ``execve`` is written to a close-on-exec pipe, so the
shim can tell "could not start" (exit 128, reason StartError) from "ran and failed".

The shim answers SIGUSR1 by reopening the log file (rotation: the kubelet renames the file,
then asks for a reopen); it ignores SIGPIPE; every other signal has its default action.

A container with ``stdin: true`` gets a pipe (or, with ``tty``, a terminal) as its stdin,
whose other end the shim holds: attach clients connect to the ``attach`` unix socket in the
container's directory and what they send is relayed into it (``StdinRelay``; with
``stdinOnce`` the container's stdin closes when the first client is done).

The shim moves the container's process into its cgroups while that process sets up its
mounts (on cgroup v1 a move waits for an RCU grace period); the process unshares its cgroup
namespace only once it is in them.

This module also holds the *exec helper* used for probes and ``kubectl exec``: it joins a
running container's cgroups and namespaces and runs one more process there.

Everything is imported at the top: after joining a container's mount namespace, Python can no
longer import from the host.

What it must never do: return into the caller's code after a fork (every forked path ends in
``os._exit`` or ``execve``), hold a lock or start a thread (it runs in forked children of a
single-threaded process), or leave the container's mounts visible outside its own mount
namespace.
"""

from __future__ import annotations

import _signal
import contextlib
import errno
import fcntl
import json
import os
import select
import signal
import socket
import stat
import struct
import sys
import termios
import time
import traceback
from collections.abc import Callable
from typing import Any

from kubelet.runtime import linux

MAX_LOG_LINE = 16 * 1024   # containerd's default max-container-log-line-size
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Paths Kubernetes/containerd hide or make read-only in unprivileged containers.
MASKED_PATHS = ("/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/firmware")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
           ("tty", 5, 0))
NS_ORDER = ("cgroup", "ipc", "uts", "net", "pid", "mnt")
NS_FLAGS = {"cgroup": linux.CLONE_NEWCGROUP, "ipc": linux.CLONE_NEWIPC, "uts": linux.CLONE_NEWUTS,
            "net": linux.CLONE_NEWNET, "pid": linux.CLONE_NEWPID, "mnt": linux.CLONE_NEWNS}


# --------------------------------------------------------------------------- small helpers


def rfc3339_nano(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def write_json(path: str, data: Any) -> None:
    """Atomically (a rename). ``json.dumps`` and raw fds: ``json.dump`` encodes in Python,
    not C, and in a freshly forked shim every extra object touched is a page copied."""
    raw = json.dumps(data).encode()
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        while raw:
            raw = raw[os.write(fd, raw):]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_file(path: str) -> bytes:
    """The whole file, through raw fds (no file objects: see ``write_json``)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json(path: str) -> Any:
    return json.loads(read_file(path))


def send_msg(sock: socket.socket, obj: Any) -> None:
    raw = json.dumps(obj).encode()
    sock.sendall(struct.pack("!I", len(raw)) + raw)


def recv_msg(sock: socket.socket) -> Any:
    head = _recv_exact(sock, 4)
    if head is None:
        return None
    (n,) = struct.unpack("!I", head)
    body = _recv_exact(sock, n)
    return None if body is None else json.loads(body)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def set_window_size(fd: int, rows: int, cols: int) -> None:
    """The window size of the terminal ``fd`` (TIOCSWINSZ; the foreground process group of
    that terminal gets a SIGWINCH)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def proc_start_time(pid: int) -> int | None:
    """The start time (clock ticks since boot) of ``pid``: with the pid, a unique process id."""
    try:
        data = read_file(f"/proc/{pid}/stat")
    except OSError:
        return None
    return int(data.rsplit(b")", 1)[1].split()[19])


def exit_code_of(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


# every signal but SIGKILL and SIGSTOP, as plain ints
_RESETTABLE = tuple(sorted(int(s) for s in _signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)))


def reset_signals(signals: tuple[int, ...] = _RESETTABLE) -> None:
    """Default dispositions (of ``signals``: all by default) and an empty mask: ignored
    signals survive execve (Python itself ignores SIGPIPE), and a container must start with a
    clean slate.

    ``_signal`` rather than ``signal``: the latter wraps every number and handler in an enum,
    which in a freshly forked process cost ~0.7 ms of page faults per call."""
    dfl = _signal.SIG_DFL
    for sig in signals:
        # Python knows every disposition (it read them at start and set the ones it changed):
        # only those not already the default cost a system call
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            if _signal.getsignal(sig) != dfl:
                _signal.signal(sig, dfl)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


def changed_signals() -> tuple[int, ...]:
    """The signals whose disposition is not the default in this process (the fork server
    reads them once, so that a shim resets only those)."""
    out = []
    for sig in _RESETTABLE:
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            if _signal.getsignal(sig) != _signal.SIG_DFL:
                out.append(sig)
    return tuple(out)


def secure_join(root: str, path: str) -> str:
    """``root``/``path`` with every symlink resolved *inside* ``root`` (a symlink in an image
    can never make a mount land outside the container's root)."""
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        cur = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise OSError(errno.ELOOP, f"too many symlinks resolving {path}")
            target = os.readlink(cur)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def _ensure_mountpoint(target: str, is_dir: bool) -> None:
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if is_dir:
        os.mkdir(target, 0o755)
    else:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def find_executable(name: str, env_path: str) -> str:
    """runc's lookup: a name with a slash is used as is, else the first executable in PATH."""
    if "/" in name:
        if not os.path.exists(name):
            raise StartError(f'exec: "{name}": stat {name}: no such file or directory')
        return name
    for d in (env_path or DEFAULT_PATH).split(":"):
        cand = os.path.join(d or ".", name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise StartError(f'exec: "{name}": executable file not found in $PATH')


class StartError(Exception):
    """The container could not be started; the message is shown to the user."""


# --------------------------------------------------------------------------- container init


def setup_rootfs(cfg: dict[str, Any], joined: Callable[[], None] = lambda: None,
                 sources: list[int] | None = None) -> None:
    """Mount the container's root and pivot into it (runs in the new mount namespace).
    ``joined()`` returns once the process is in its cgroups and cgroup namespace: it is
    called as late as the cgroup filesystem mount allows (after the other mounts, unless a
    volume goes below /sys). ``sources``: the bind mounts of ``cfg["mounts"]`` as detached
    trees (``open_bind_sources``), when the namespace is a copy of the fork server's template
    (whose mounts are private already); else they are bound by path."""
    rootfs = cfg["rootfs"]
    privileged = cfg.get("privileged", False)
    if sources is None:
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    lower = ":".join(cfg["lowerdirs"])
    linux.mount("overlay", rootfs, "overlay", 0,
                f"lowerdir={lower},upperdir={cfg['upperdir']},workdir={cfg['workdir']}")
    nsd = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC

    proc = secure_join(rootfs, "/proc")
    _ensure_mountpoint(proc, True)
    linux.mount("proc", proc, "proc", nsd)

    dev = secure_join(rootfs, "/dev")
    _ensure_mountpoint(dev, True)
    linux.mount("tmpfs", dev, "tmpfs", linux.MS_NOSUID | linux.MS_STRICTATIME, "mode=755,size=65536k")
    umask = os.umask(0)   # the nodes' modes as given, without a chmod each
    try:
        for name, major, minor in DEVICES:
            os.mknod(os.path.join(dev, name), stat.S_IFCHR | 0o666, os.makedev(major, minor))
    finally:
        os.umask(umask)
    os.mkdir(os.path.join(dev, "pts"), 0o755)
    linux.mount("devpts", os.path.join(dev, "pts"), "devpts", linux.MS_NOSUID | linux.MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5")
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    mounts = cfg.get("mounts") or []
    if not any(m["container_path"].rstrip("/") == "/dev/shm" for m in mounts):
        # a container of a pod gets the pod's /dev/shm as a mount instead
        linux.mount("shm", os.path.join(dev, "shm"), "tmpfs", nsd, "mode=1777,size=65536k")
    os.mkdir(os.path.join(dev, "mqueue"), 0o755)
    with contextlib.suppress(OSError):
        linux.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", nsd)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                         ("core", "/proc/kcore")):
        os.symlink(target, os.path.join(dev, name))

    sys_ = secure_join(rootfs, "/sys")
    _ensure_mountpoint(sys_, True)
    sys_flags = nsd | (0 if privileged else linux.MS_RDONLY)
    linux.mount("sysfs", sys_, "sysfs", sys_flags)

    cgroup_late = not any((m.get("container_path") or "").rstrip("/").startswith("/sys") for m in mounts)
    if not cgroup_late:
        joined()
        if cfg.get("cgroup_mounts"):
            _mount_cgroupfs(os.path.join(sys_, "fs", "cgroup"), cfg["cgroup_mounts"], privileged)

    for i, m in enumerate(mounts):
        src = m["host_path"]
        target = secure_join(rootfs, m["container_path"])
        if sources is None:
            _ensure_mountpoint(target, os.path.isdir(src))
            linux.mount(src, target, None, linux.MS_BIND | linux.MS_REC)
        else:
            _ensure_mountpoint(target, stat.S_ISDIR(os.fstat(sources[i]).st_mode))
            linux.move_mount(sources[i], target)
            os.close(sources[i])
        if m.get("readonly"):
            linux.mount(None, target, None,
                        linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC)

    if not privileged:
        # below the fresh proc and sysfs mounts no symlink of the image can be in the way,
        # unless a volume was mounted there
        in_kernel_fs = not any(m["container_path"].startswith(("/proc", "/sys")) for m in mounts)
        for p in MASKED_PATHS:
            target = os.path.join(rootfs, p[1:]) if in_kernel_fs else secure_join(rootfs, p)
            try:
                is_dir = stat.S_ISDIR(os.lstat(target).st_mode)
            except FileNotFoundError:
                continue
            if is_dir:
                linux.mount("tmpfs", target, "tmpfs", linux.MS_RDONLY)
            else:
                linux.mount(os.path.join(dev, "null"), target, None, linux.MS_BIND)
        for p in READONLY_PATHS:
            target = os.path.join(rootfs, p[1:]) if in_kernel_fs else secure_join(rootfs, p)
            if os.path.lexists(target):
                linux.mount(target, target, None, linux.MS_BIND | linux.MS_REC)
                linux.mount(None, target, None,
                            linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC)

    workdir = cfg.get("working_dir") or "/"
    with contextlib.suppress(OSError):
        os.makedirs(secure_join(rootfs, workdir), 0o755, exist_ok=True)

    if cgroup_late:
        joined()
        if cfg.get("cgroup_mounts"):
            _mount_cgroupfs(os.path.join(sys_, "fs", "cgroup"), cfg["cgroup_mounts"], privileged)

    os.chdir(rootfs)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")
    if cfg.get("read_only_root"):
        linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)


def make_mount_template(keep: list[str]) -> int:
    """The fork server's *template* mount namespace, as an fd: a copy of the caller's with
    only the mounts that hold ``keep`` (the runtime's state, writable layers and images) and
    their parents, all private. A container's namespace is then a copy of this one rather
    than of the host's, whose table grows by three mounts per pod (network and IPC namespace
    files, /dev/shm): copying it at ``unshare`` and detaching it after ``pivot_root`` made
    every container start slower the more pods ran. The container reaches its bind mounts'
    sources as detached trees opened before it switches (``open_bind_sources``).

    Must run in a single-threaded process (it switches that process's mount namespace and
    back). Raises OSError when the kernel lacks what is needed (then containers copy the
    host's namespace, as before)."""
    host = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.close(linux.open_tree_clone(keep[0], recursive=False))   # the mount API exists
        mounts = linux.mounts_under("/")   # deepest first
        needed: set[str] = {"/"}
        for path in keep:
            path = os.path.realpath(path)
            holder = max((mp for mp in mounts if path == mp or path.startswith(mp.rstrip("/") + "/")),
                         key=len, default="/")
            needed |= {mp for mp in mounts if holder == mp or holder.startswith(mp.rstrip("/") + "/")}
        linux.unshare(linux.CLONE_NEWNS)
        try:
            template = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
            for mp in mounts:
                if mp not in needed:
                    with contextlib.suppress(OSError):   # gone with a parent already
                        linux.umount2(mp, linux.MNT_DETACH)
        finally:
            linux.setns(host, linux.CLONE_NEWNS)
    finally:
        os.close(host)
    return template


def open_bind_sources(cfg: dict[str, Any]) -> list[int]:
    """Detached copies of the sources of ``cfg["mounts"]`` (``open_tree``), made while the
    process still sees the host's mounts."""
    fds: list[int] = []
    try:
        for m in cfg.get("mounts") or []:
            fds.append(linux.open_tree_clone(m["host_path"]))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def _mount_cgroupfs(target: str, hierarchies: list[str], privileged: bool) -> None:
    """``/sys/fs/cgroup`` as a container sees it: its own cgroup as the root of each hierarchy
    (we are in a new cgroup namespace), read-only unless privileged."""
    ro = 0 if privileged else linux.MS_RDONLY
    flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    if hierarchies == ["cgroup2"]:
        linux.mount("cgroup2", target, "cgroup2", flags | ro)
        return
    linux.mount("tmpfs", target, "tmpfs", flags, "mode=755")
    for h in hierarchies:
        d = os.path.join(target, h)
        os.mkdir(d, 0o555)
        linux.mount("cgroup", d, "cgroup", flags | ro, h)
    linux.mount(None, target, None, linux.MS_REMOUNT | flags | ro, "mode=755")


def apply_identity(cfg: dict[str, Any]) -> None:
    """Capabilities, groups, gid, uid and no_new_privs, in the order the kernel allows:
    the bounding set is dropped while we still hold CAP_SETPCAP, the ids change while we still
    hold CAP_SETUID/CAP_SETGID, and only then are the process's own sets narrowed.  A non-root
    user ends with empty effective and permitted sets (as with containerd)."""
    privileged = cfg.get("privileged", False)
    keep = frozenset(cfg.get("capabilities") or [])
    uid = int(cfg.get("uid") or 0)
    gid = int(cfg.get("gid") or 0)
    if not privileged:
        linux.drop_bounding_set(keep)
    os.setgroups(list(cfg.get("supplemental_groups") or []))
    os.setgid(gid)
    os.setuid(uid)
    if not privileged:
        linux.drop_capabilities(keep, keep_effective=uid == 0)
    if cfg.get("no_new_privs"):
        linux.set_no_new_privs()


def join_cgroups(procs_files: list[str], pid: int = 0) -> None:
    """Move ``pid`` (0: the caller) into the cgroups whose ``cgroup.procs`` files are given."""
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)


def set_oom_score_adj(cfg: dict[str, Any]) -> None:
    """The container's ``oom_score_adj`` (its QoS class's, see ``kubelet.qos``) for the caller,
    inherited by what it forks and execs.  Called while still root and before the mount
    namespace is joined (``/proc/self`` is the host's).  Containers started without one keep
    the inherited value."""
    if cfg.get("oom_score_adj") is None:
        return
    fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)   # no text-file objects: see write_json
    try:
        os.write(fd, str(int(cfg["oom_score_adj"])).encode())
    finally:
        os.close(fd)


def container_init(cfg: dict[str, Any], err_w: int, joined_r: int = -1, mnt_template: int = -1) -> None:
    """Everything between the shim's fork and the container's execve (PID 1, new pid ns).

    With ``joined_r`` the shim moves this process into its cgroups meanwhile (on cgroup v1
    each move waits for an RCU grace period, ~10-20 ms here, which the mounts below then
    overlap); a byte on ``joined_r`` says it is done, EOF that it failed. The cgroup
    namespace is unshared only then, so that its root is the container's own cgroup.
    ``mnt_template``: the fork server's template mount namespace (``make_mount_template``), of
    which the container's is made a copy; -1: a copy of the caller's."""
    if joined_r < 0:
        join_cgroups(cfg.get("cgroup_procs") or [])
    set_oom_score_adj(cfg)
    for key, flag in (("netns", linux.CLONE_NEWNET), ("ipcns", linux.CLONE_NEWIPC)):
        if cfg.get(key):
            fd = os.open(cfg[key], os.O_RDONLY)
            try:
                linux.setns(fd, flag)
            finally:
                os.close(fd)
    sources = None
    if mnt_template >= 0:
        sources = open_bind_sources(cfg)
        linux.setns(mnt_template, linux.CLONE_NEWNS)
        os.close(mnt_template)
    flags = linux.CLONE_NEWNS | linux.CLONE_NEWUTS
    linux.unshare(flags if cfg.get("ipcns") else flags | linux.CLONE_NEWIPC)
    if cfg.get("hostname"):
        linux.sethostname(cfg["hostname"])

    def joined() -> None:
        if joined_r >= 0:
            ok = os.read(joined_r, 1)
            os.close(joined_r)
            if not ok:
                raise StartError("the container could not be moved into its cgroups (see the shim log)")
        linux.unshare(linux.CLONE_NEWCGROUP)
    setup_rootfs(cfg, joined, sources)
    env = list(cfg.get("env") or [])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, "PATH=" + DEFAULT_PATH)
    env_map = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    argv = cfg["argv"]
    if not argv:
        raise StartError("no command specified")
    workdir = cfg.get("working_dir") or "/"
    try:
        os.chdir(workdir)
    except OSError as exc:
        raise StartError(f"chdir to cwd (\"{workdir}\") set in config.json failed: "
                         f"{exc.strerror.lower() if exc.strerror else exc}") from exc
    path = find_executable(argv[0], env_map.get("PATH", DEFAULT_PATH))
    apply_identity(cfg)
    reset_signals()
    try:
        os.execve(path, argv, env_map)
    except OSError as exc:
        raise StartError(f'exec: "{argv[0]}": {(exc.strerror or str(exc)).lower()}') from exc


def set_process_name(name: str) -> None:
    """What ``ps`` shows (``mizzen-shim``, ``mizzen-init``): shims are told apart from the
    kubelet at a glance."""
    with contextlib.suppress(OSError):
        fd = os.open("/proc/self/comm", os.O_WRONLY | os.O_CLOEXEC)   # no text-file objects: see write_json
        try:
            os.write(fd, name.encode())
        finally:
            os.close(fd)


def _child_main(cfg: dict[str, Any], out_w: int, err_fd: int, errpipe_w: int, in_fd: int = -1,
                tty: bool = False, joined_r: int = -1, mnt_template: int = -1) -> None:
    try:
        set_process_name("mizzen-init")
        os.setsid()
        os.dup2(in_fd if in_fd >= 0 else os.open("/dev/null", os.O_RDONLY), 0)
        os.dup2(out_w, 1)
        os.dup2(err_fd, 2)
        if tty:
            fcntl.ioctl(1, termios.TIOCSCTTY, 0)   # the terminal becomes the session's
        low = 3
        for keep in sorted({errpipe_w, joined_r, mnt_template} - {-1}):
            os.closerange(low, keep)
            low = keep + 1
        os.closerange(low, 65536)
        container_init(cfg, errpipe_w, joined_r, mnt_template)
        raise StartError("execve returned")
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the shim, never return
        msg = str(exc) if isinstance(exc, StartError) else f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            os.write(errpipe_w, msg.encode()[:4000])
    finally:
        os._exit(127)


# --------------------------------------------------------------------------- log pump


class CRILogWriter:
    """Turns a stream's bytes into CRI log lines: ``<time> <stream> <F|P> <content>``."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffers: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def feed(self, stream: str, data: bytes) -> None:
        buf = self.buffers[stream] + data
        ts = rfc3339_nano().encode()
        out = []
        prefix = ts + b" " + stream.encode()
        while True:
            nl = buf.find(b"\n")
            if nl < 0 or nl > MAX_LOG_LINE:
                if len(buf) >= MAX_LOG_LINE:
                    out.append(prefix + b" P " + buf[:MAX_LOG_LINE] + b"\n")
                    buf = buf[MAX_LOG_LINE:]
                    continue
                break
            out.append(prefix + b" F " + buf[:nl] + b"\n")
            buf = buf[nl + 1:]
        self.buffers[stream] = buf
        if out:
            self._write(b"".join(out))

    def close(self, stream: str) -> None:
        buf = self.buffers[stream]
        if buf:
            self._write(rfc3339_nano().encode() + b" " + stream.encode() + b" F " + buf + b"\n")
            self.buffers[stream] = b""

    def reopen(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        except OSError:
            return  # keep writing to the old file rather than lose output
        os.close(self.fd)
        self.fd = fd

    def _write(self, data: bytes) -> None:
        while data:
            try:
                n = os.write(self.fd, data)
            except OSError:
                return  # a full disk must not kill the shim; output is lost, the exit code is not
            data = data[n:]


ATTACH_SOCKET = "attach"


def short_path(dir_fd: int, name: str) -> str:
    """A path to ``name`` in the directory open as ``dir_fd`` that fits a unix socket address
    (108 bytes), whatever the directory's own path length."""
    return f"/proc/self/fd/{dir_fd}/{name}"


class StdinRelay:
    """The container's stdin (``stdin: true``): bytes from one attach client at a time
    (connections to the ``attach`` socket in the container's directory) go into the
    container's stdin pipe, or terminal.  When a client ends its input or leaves and the
    container has ``stdinOnce``, the container's stdin is closed (EOF; on a terminal, an
    end-of-file character) and no further client is taken."""

    def __init__(self, listener: socket.socket, stdin_w: int, once: bool, tty: bool) -> None:
        self.listener = listener
        self.stdin_w = stdin_w
        self.once = once
        self.tty = tty
        self.client: socket.socket | None = None
        self.buf = b""
        self.closed = False
        os.set_blocking(stdin_w, False)

    def interest(self) -> dict[int, int]:
        if self.closed:
            return {}
        if self.buf:
            return {self.stdin_w: select.POLLOUT}
        if self.client is not None:
            return {self.client.fileno(): select.POLLIN}
        return {self.listener.fileno(): select.POLLIN}

    def handle(self, fd: int) -> None:
        if fd == self.listener.fileno():
            with contextlib.suppress(OSError):
                self.client, _ = self.listener.accept()
        elif self.client is not None and fd == self.client.fileno():
            try:
                data = self.client.recv(65536)
            except OSError:
                data = b""
            if data:
                self.buf = data
                return
            self.client.close()
            self.client = None
            if self.once:
                self.close()
        elif fd == self.stdin_w:
            try:
                self.buf = self.buf[os.write(self.stdin_w, self.buf):]
            except BlockingIOError:
                pass
            except OSError:           # the container closed its stdin
                self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.client is not None:
            self.client.close()
            self.client = None
        self.listener.close()
        if self.tty:
            with contextlib.suppress(OSError):
                os.write(self.stdin_w, b"\x04")
        else:
            os.close(self.stdin_w)


def pump(streams: dict[int, str], writer: CRILogWriter, wake_fd: int = -1, log_path: str = "",
         relay: StdinRelay | None = None) -> None:
    """Copy the container's output into the log until both pipes close.  A byte on
    ``wake_fd`` (SIGUSR1, see ``run_shim``) reopens ``log_path``: the kubelet rotates a log by
    renaming it, then asks for a reopen (CRI ReopenContainerLog).  ``relay`` feeds the
    container's stdin meanwhile."""
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    if wake_fd >= 0:
        poller.register(wake_fd, select.POLLIN)
    open_fds = set(streams)
    relay_fds: dict[int, int] = {}
    while open_fds:
        if relay is not None:
            want = relay.interest()
            for fd in relay_fds:
                if fd not in want:
                    poller.unregister(fd)
            for fd, ev in want.items():
                (poller.modify if fd in relay_fds else poller.register)(fd, ev)
            relay_fds = want
        try:
            events = poller.poll()
        except InterruptedError:
            continue
        for fd, _ev in events:
            if fd in relay_fds and relay is not None:
                relay.handle(fd)
                continue
            if fd == wake_fd:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_fd, 64):
                        pass
                writer.reopen(log_path)
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            if data:
                writer.feed(streams[fd], data)
            else:
                writer.close(streams[fd])
                poller.unregister(fd)
                os.close(fd)
                open_fds.discard(fd)


# --------------------------------------------------------------------------- shim


def _state_path(cdir: str) -> str:
    return os.path.join(cdir, "state.json")


SHIM_PID_FILE = "shim.pid"


def read_shim_pid(cdir: str) -> tuple[int, int] | None:
    """(pid, start time) of the container's shim from ``shim.pid``: what identifies the shim of
    a container still "created" (its state.json gets the shim's pid only with "running")."""
    try:
        with open(os.path.join(cdir, SHIM_PID_FILE), "rb") as f:
            pid, start = f.read().split()
        return int(pid), int(start)
    except (OSError, ValueError):
        return None


def update_state(cdir: str, known: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Add ``fields`` to the container's ``state.json`` and return the whole state. ``known``:
    the state as last written (the shim keeps it, so only the first write reads the file)."""
    if known is None:
        try:
            known = read_json(_state_path(cdir))
        except (OSError, ValueError):
            known = {}
    known.update(fields)
    write_json(_state_path(cdir), known)
    return known


def run_shim(conn: socket.socket, req: dict[str, Any], state: dict[str, Any] | None = None,
             mnt_template: int = -1, me: tuple[int, int | None] | None = None) -> None:
    """Start one container and stay with it until it exits (the shim's whole life). ``state``:
    the container's state as last written; ``mnt_template``: see ``container_init`` (closed
    here once the container's process has it); ``me``: this shim's (pid, start time)."""
    cdir = req["dir"]
    my_pid, my_start = me or (os.getpid(), proc_start_time(os.getpid()))
    cfg = read_json(os.path.join(cdir, "config.json"))
    log_path = cfg["log_path"]
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
    spec = cfg.get("spec") or {}
    tty = bool(spec.get("tty"))
    in_r = stdin_w = -1
    listener: socket.socket | None = None
    if tty:
        # one terminal for stdin, stdout and stderr; what the container writes is "stdout"
        out_r, out_w = os.openpty()
        err_r, err_w = -1, out_w
        if spec.get("stdin"):
            in_r, stdin_w = out_w, os.dup(out_r)
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if spec.get("stdin"):
            in_r, stdin_w = os.pipe()
    if stdin_w >= 0:
        listener = _attach_listener(cdir)
    ep_r, ep_w = os.pipe2(os.O_CLOEXEC)
    joined_r, joined_w = os.pipe2(os.O_CLOEXEC)
    linux.unshare(linux.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        _child_main(cfg, out_w, err_w, ep_w, in_r, tty, joined_r, mnt_template)
    for fd in {out_w, err_w, in_r, joined_r, mnt_template} - {-1}:
        os.close(fd)
    os.close(ep_w)
    # the container's cgroups, while it sets up its mounts (see container_init)
    try:
        join_cgroups(cfg.get("cgroup_procs") or [], pid)
        os.write(joined_w, b"1")
    except OSError:
        traceback.print_exc()
    finally:
        os.close(joined_w)
    chunks = []
    while True:
        chunk = os.read(ep_r, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(ep_r)
    if chunks:
        # as containerd reports it: exit code 128, reason StartError, never started
        message = "unable to start container process: " + b"".join(chunks).decode(errors="replace")
        os.waitpid(pid, 0)
        for fd in {out_r, err_r, stdin_w} - {-1}:
            os.close(fd)
        if listener is not None:
            listener.close()
        update_state(cdir, state, status="exited", pid=0, started_at="", finished_at=rfc3339_nano(), exit_code=128,
                     reason="StartError", message=message, oom_killed=False)
        with contextlib.suppress(OSError):
            send_msg(conn, {"error": message})
        conn.close()
        os.close(log_fd)
        return
    state = update_state(cdir, state, status="running", pid=pid, pid_start=proc_start_time(pid),
                         shim_pid=my_pid, shim_start=my_start, started_at=rfc3339_nano())
    # SIGUSR1 asks for a log reopen; the handler does nothing, the wakeup fd wakes the pump
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    _signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    _signal.signal(signal.SIGUSR1, lambda _sig, _frame: None)
    with contextlib.suppress(OSError):
        send_msg(conn, {"pid": pid, "shim_pid": my_pid, "shim_start": my_start})
    conn.close()
    writer = CRILogWriter(log_fd)
    relay = StdinRelay(listener, stdin_w, bool(spec.get("stdin_once")), tty) if listener is not None else None
    streams = {out_r: "stdout"} if tty else {out_r: "stdout", err_r: "stderr"}
    pump(streams, writer, wake_r, log_path, relay)
    if relay is not None:
        relay.close()
    log_fd = writer.fd
    _, status = os.waitpid(pid, 0)
    code = exit_code_of(status)
    oom = _oom_seen(cfg)
    if oom:
        reason = "OOMKilled"
    elif code == 0:
        reason = "Completed"
    else:
        reason = "Error"
    update_state(cdir, state, status="exited", finished_at=rfc3339_nano(), exit_code=code, reason=reason,
                 message="", oom_killed=oom, signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0)
    os.close(log_fd)


def _attach_listener(cdir: str) -> socket.socket:
    """The unix socket attach clients (the kubelet server) connect to, in the container's
    directory (root-only)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dfd = os.open(cdir, os.O_PATH | os.O_CLOEXEC)
    try:
        sock.bind(short_path(dfd, ATTACH_SOCKET))
    finally:
        os.close(dfd)
    sock.listen(8)
    return sock


def _oom_seen(cfg: dict[str, Any]) -> bool:
    path = cfg.get("memory_events")
    if not path:
        return False
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k == "oom_kill" and int(v) > 0:
                    return True
                if k == "under_oom" and int(v) > 0:
                    return True
    except OSError:
        return False
    return False


# --------------------------------------------------------------------------- exec helper


def run_exec(conn: socket.socket, req: dict[str, Any], stdio: list[int]) -> None:
    """Run ``req["argv"]`` inside a running container, with the caller's stdio fds."""
    cdir = req["dir"]
    cfg = read_json(os.path.join(cdir, "config.json"))
    st = read_json(_state_path(cdir))
    target = st.get("pid")
    if st.get("status") != "running" or not target or proc_start_time(target) != st.get("pid_start"):
        send_msg(conn, {"error": "container is not running"})
        return
    ns_fds = {}
    for ns in NS_ORDER:
        ns_fds[ns] = os.open(f"/proc/{target}/ns/{ns}", os.O_RDONLY)
    try:
        with open(f"/proc/{target}/environ", "rb") as f:
            env_raw = f.read()
        env = dict(e.split("=", 1) for e in env_raw.decode(errors="replace").split("\0") if "=" in e)
    except OSError:
        env = {}
    for k, v in (req.get("env") or {}).items():
        env[k] = v
    join_cgroups(cfg.get("cgroup_procs") or [])
    set_oom_score_adj(cfg)   # the exec'd process scores as the container it joins
    for ns in NS_ORDER:
        linux.setns(ns_fds[ns], NS_FLAGS[ns])
        os.close(ns_fds[ns])
    master = -1
    if req.get("tty"):
        # a terminal of the container's own devpts (we are in its mount namespace now), so
        # that ttyname() works inside; the master end goes back to the caller
        master, slave = os.openpty()
        stdio = [slave, slave, slave]
        if req.get("size"):
            # the client's terminal size, before the process starts (``stty size`` as the
            # first command must already see it)
            rows, cols = req["size"]
            set_window_size(master, int(rows), int(cols))
    ep_r, ep_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            for i, fd in enumerate(stdio[:3]):
                os.dup2(fd, i)
            os.setsid()
            if req.get("tty"):
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            os.closerange(3, ep_w)
            os.closerange(ep_w + 1, 65536)
            with contextlib.suppress(OSError):
                os.chdir(cfg.get("working_dir") or "/")
            path = find_executable(req["argv"][0], env.get("PATH", DEFAULT_PATH))
            apply_identity(cfg)
            reset_signals()
            os.execve(path, req["argv"], env)
        except BaseException as exc:  # noqa: BLE001 - must never return into the helper
            with contextlib.suppress(OSError):
                os.write(ep_w, str(exc).encode()[:4000])
        finally:
            os._exit(127)
    for fd in set(stdio):
        os.close(fd)
    os.close(ep_w)
    err = os.read(ep_r, 4096)
    os.close(ep_r)
    if err:
        os.waitpid(pid, 0)
        send_msg(conn, {"error": err.decode(errors="replace")})
        return
    if master >= 0:
        raw = json.dumps({"pid": pid, "tty": True}).encode()
        socket.send_fds(conn, [struct.pack("!I", len(raw)) + raw], [master])
        os.close(master)
    else:
        send_msg(conn, {"pid": pid})
    _, status = os.waitpid(pid, 0)
    send_msg(conn, {"exit_code": exit_code_of(status)})


# --------------------------------------------------------------------------- entry


def serve_connection(conn_fd: int, extra_fds: list[int], mnt_template: int = -1,
                     changed: tuple[int, ...] = _RESETTABLE) -> None:
    """Entry point of a process forked by the fork server for one request. ``mnt_template``:
    the fork server's template mount namespace (``make_mount_template``), -1 if none;
    ``changed``: the signals the fork server does not leave at their default
    (``changed_signals``)."""
    set_process_name("mizzen-shim")
    try:
        os.setsid()
    except OSError:
        pass
    reset_signals(changed)
    # a write to a peer that went away (the kubelet, a container's closed stdin) is an
    # error to handle, not the shim's death (the container's process resets this)
    _signal.signal(signal.SIGPIPE, _signal.SIG_IGN)
    conn = socket.socket(fileno=conn_fd)
    req = recv_msg(conn)
    if req is None:
        return
    cdir = req["dir"]
    state: dict[str, Any] | None = None
    me = (os.getpid(), proc_start_time(os.getpid()))
    if req.get("op") == "start":
        logf = os.open(os.path.join(cdir, "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        # who the shim is, for a kubelet that restarts before the container runs (a line of
        # text: state.json is written once the container runs, from the state the kubelet sent)
        fd = os.open(os.path.join(cdir, SHIM_PID_FILE), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, f"{me[0]} {me[1]}".encode())
        finally:
            os.close(fd)
        state = req.get("state")
    else:
        logf = os.open("/dev/null", os.O_WRONLY)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(logf, 1)
    os.dup2(logf, 2)
    os.close(null)
    os.close(logf)
    try:
        if req.get("op") == "start":
            run_shim(conn, req, state, mnt_template, me)
        elif req.get("op") == "exec":
            if mnt_template >= 0:
                os.close(mnt_template)
            run_exec(conn, req, extra_fds)
    except Exception as exc:  # noqa: BLE001 - reported to the caller, then the shim exits
        traceback.print_exc()
        with contextlib.suppress(OSError):
            send_msg(conn, {"error": f"{type(exc).__name__}: {exc}"})
        if req.get("op") == "start":
            with contextlib.suppress(OSError):
                now = rfc3339_nano()
                update_state(cdir, status="exited", pid=0, started_at=now, finished_at=now,
                             exit_code=128, reason="StartError", message=str(exc), oom_killed=False)
    finally:
        sys.stderr.flush()
