"""Persistent, named network namespaces for pods (``/run/netns/mizzen-<unique>-<pod>``).

Why: all containers of a pod share one network namespace, which must exist before the first
container starts and after the last one exits (a pod keeps its IP across restarts), without a
pause process.  As ``ip netns add`` does, the namespace is kept alive by bind-mounting its nsfs
file; loopback is brought up so that probes and in-pod traffic work.

How: network namespaces are per *thread*, so a dedicated short-lived thread unshares a new
one, bind-mounts ``/proc/thread-self/ns/net`` and ends; the calling thread never changes its
namespace.

What it must never do: change the machine's own network namespace or touch a namespace whose
name does not start with ``mizzen``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import threading

from kubelet.runtime import linux

NETNS_DIR = "/run/netns"
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def netns_path(name: str) -> str:
    if not name.startswith("mizzen") or "/" in name:
        raise ValueError(f"network namespace names must start with 'mizzen' and hold no '/': {name!r}")
    return os.path.join(NETNS_DIR, name)


def _in_fresh_thread(fn: object) -> None:
    box: list[BaseException] = []

    def run() -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box.append(exc)

    t = threading.Thread(target=run, name="mizzen-netns")
    t.start()
    t.join()
    if box:
        raise box[0]


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14s", b"lo", 0, b"\0" * 14)
        flags = struct.unpack("16sH14s", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | IFF_UP, b"\0" * 14))


def create_pod_netns(name: str) -> str:
    """Create (or reuse) the named namespace; return its path.  Blocking."""
    path = netns_path(name)
    if os.path.exists(path) and _is_nsfs_mount(path):
        return path
    os.makedirs(NETNS_DIR, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444) if not os.path.exists(path) else -1
    if fd >= 0:
        os.close(fd)

    def work() -> None:
        linux.unshare(linux.CLONE_NEWNET)
        # the thread exits right after, so it never needs to go back to the host namespace
        linux.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, linux.MS_BIND)
        _loopback_up()

    try:
        _in_fresh_thread(work)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return path


def create_ns_file(path: str, flag: int) -> str:
    """A persistent namespace of kind ``flag`` (e.g. CLONE_NEWIPC for a pod's shared IPC
    namespace) kept alive by a bind mount at ``path``.  Blocking."""
    kind = {linux.CLONE_NEWNET: "net", linux.CLONE_NEWIPC: "ipc", linux.CLONE_NEWUTS: "uts"}[flag]
    if os.path.exists(path) and _is_nsfs_mount(path):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a"):
        pass

    def work() -> None:
        linux.unshare(flag)
        linux.mount(f"/proc/self/task/{threading.get_native_id()}/ns/{kind}", path, None, linux.MS_BIND)

    try:
        _in_fresh_thread(work)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return path


def create_pod_namespaces(net_name: str | None, ipc_path: str) -> str | None:
    """A pod's network namespace (named ``net_name``; None: the pod uses the host's) and its
    IPC namespace (kept at ``ipc_path``), made by one short-lived thread: what
    ``create_pod_netns`` and ``create_ns_file(ipc_path, CLONE_NEWIPC)`` do, with one thread
    and one unshare instead of two.  Returns the netns path (None for the host's).  Blocking."""
    if net_name is None or (os.path.exists(netns_path(net_name)) and _is_nsfs_mount(netns_path(net_name))):
        net = create_pod_netns(net_name) if net_name is not None else None
        create_ns_file(ipc_path, linux.CLONE_NEWIPC)
        return net
    if os.path.exists(ipc_path) and _is_nsfs_mount(ipc_path):
        create_ns_file(ipc_path, linux.CLONE_NEWIPC)  # already there: returns at once
        return create_pod_netns(net_name)
    path = netns_path(net_name)
    os.makedirs(NETNS_DIR, exist_ok=True)
    os.makedirs(os.path.dirname(ipc_path), exist_ok=True)
    made = []
    for p in (path, ipc_path):
        if not os.path.exists(p):
            os.close(os.open(p, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
            made.append(p)

    def work() -> None:
        linux.unshare(linux.CLONE_NEWNET | linux.CLONE_NEWIPC)
        task = f"/proc/self/task/{threading.get_native_id()}/ns"
        linux.mount(f"{task}/net", path, None, linux.MS_BIND)
        try:
            linux.mount(f"{task}/ipc", ipc_path, None, linux.MS_BIND)
        except BaseException:
            delete_pod_netns(path)
            raise
        _loopback_up()

    try:
        _in_fresh_thread(work)
    except BaseException:
        for p in made:
            with contextlib.suppress(OSError):
                os.unlink(p)
        raise
    return path


def delete_ns_file(path: str) -> None:
    while _is_nsfs_mount(path):
        try:
            linux.umount2(path, linux.MNT_DETACH)
        except OSError:
            break
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def socket_in_netns(path: str, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket that lives in the network namespace at ``path`` (a socket keeps the namespace
    it was created in, whichever thread uses it later).  For tcpSocket and httpGet probes and
    port-forwarding into a pod: ``asyncio.open_connection(sock=...)`` after a non-blocking
    connect.  Blocking (a short-lived thread)."""
    box: list[socket.socket] = []

    def work() -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            linux.setns(fd, linux.CLONE_NEWNET)
        finally:
            os.close(fd)
        box.append(socket.socket(family, kind))

    _in_fresh_thread(work)
    return box[0]


def delete_pod_netns(name_or_path: str) -> None:
    """Unmount and remove the namespace file; a missing namespace is not an error."""
    path = name_or_path if name_or_path.startswith("/") else netns_path(name_or_path)
    if not os.path.basename(path).startswith("mizzen"):
        raise ValueError(f"refusing to delete a network namespace not created by mizzen: {path}")
    while _is_nsfs_mount(path):
        try:
            linux.umount2(path, linux.MNT_DETACH)
        except OSError:
            break
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def list_netns(prefix: str) -> list[str]:
    try:
        return sorted(os.path.join(NETNS_DIR, n) for n in os.listdir(NETNS_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def _is_nsfs_mount(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[4] == path:
                return True
    return False
