"""Thin ctypes wrappers over the Linux system calls a container needs.

Why: Python 3.11 has no ``os.unshare``/``os.setns`` and no ``mount``/``pivot_root`` at all, and
starting an external helper (``unshare``, ``nsenter``, ``runc``) per container costs tens of
milliseconds.  These wrappers call libc directly and raise ``OSError`` carrying the errno text
and the arguments, so a failing container start can say *what* failed.

What it must never do: decide anything (no policy lives here), keep state, or touch the
machine on import.  Every function does exactly one system call (or one small fixed sequence,
documented), and callers decide when that is safe — most of these only make sense in a freshly
forked child that is about to ``execve``.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
from collections.abc import Callable

_OCTAL = re.compile(r"\\([0-7]{3})")  # mountinfo escapes space, tab, newline and backslash


def _load_libc() -> ctypes.CDLL:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)   # glibc; find_library runs ldconfig
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


_libc = _load_libc()

# Typed once: a call then passes Python ints and bytes straight through (the container set-up
# makes some 70 of these calls per container, in a freshly forked process where every new
# object costs page faults).
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
for _f in (_libc.unshare, _libc.setns, _libc.mount, _libc.umount2, _libc.sethostname, _libc.prctl):
    _f.restype = ctypes.c_int

# --- namespace flags (linux/sched.h) -------------------------------------------------------
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# --- mount flags (linux/mount.h) ------------------------------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# --- the mount API of Linux 5.2 (open_tree, move_mount) ------------------------------------
AT_FDCWD = -100
OPEN_TREE_CLONE = 1
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4

# --- prctl ----------------------------------------------------------------------------------
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# --- capabilities (linux/capability.h), in kernel order --------------------------------------
CAPABILITIES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAP_NUMBER = {name: i for i, name in enumerate(CAPABILITIES)}

# The default set of containerd/CRI (what a Kubernetes container gets without a
# securityContext.capabilities).
DEFAULT_CAPABILITIES: frozenset[str] = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
})

_SYS_CAPGET = 125  # x86_64
_SYS_CAPSET = 126
_SYS_PIVOT_ROOT = 155
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _check(ret: int, what: str | Callable[[], str]) -> int:
    """``ret`` unless it is -1: then OSError with errno, described by ``what`` (a callable is
    called only then, so that successful calls build no message)."""
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what() if callable(what) else what}: {os.strerror(err)}")
    return ret


def _b(path: str | bytes | None) -> bytes | None:
    if path is None:
        return None
    return path if isinstance(path, bytes) else os.fsencode(path)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), lambda: f"unshare(0x{flags:x})")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), lambda: f"setns(fd={fd}, 0x{nstype:x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    ret = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    _check(ret, lambda: f"mount({source!r}, {target!r}, {fstype!r}, 0x{flags:x}, {data!r})")


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), lambda: f"umount2({target!r}, {flags})")


def pivot_root(new_root: str, put_old: str) -> None:
    ret = _libc.syscall(ctypes.c_long(_SYS_PIVOT_ROOT), _b(new_root), _b(put_old))
    _check(ret, f"pivot_root({new_root!r}, {put_old!r})")


def open_tree_clone(path: str, recursive: bool = True) -> int:
    """A detached copy of the mount (tree) at ``path``, as an fd (close-on-exec): what a bind
    mount of ``path`` would attach, ready for ``move_mount`` in another mount namespace."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _check(_libc.syscall(_SYS_OPEN_TREE, AT_FDCWD, _b(path), flags), lambda: f"open_tree({path!r})")


def move_mount(tree_fd: int, target: str) -> None:
    """Attach the detached mount ``tree_fd`` (from ``open_tree_clone``) at ``target``."""
    _check(_libc.syscall(_SYS_MOVE_MOUNT, tree_fd, b"", AT_FDCWD, _b(target), MOVE_MOUNT_F_EMPTY_PATH),
           lambda: f"move_mount({target!r})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), lambda: f"sethostname({name!r})")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), lambda: f"prctl({option})")


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


_last_cap: list[int] = []


def last_cap() -> int:
    """The highest capability number this kernel knows (read once per process: the fork
    server reads it before forking, so that a container's set-up does not)."""
    if not _last_cap:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap.append(int(f.read()))
        except OSError:
            return len(CAPABILITIES) - 1
    return _last_cap[0]


def effective_capabilities(default: frozenset[str], add: list[str] | None, drop: list[str] | None,
                           privileged: bool) -> frozenset[str]:
    """The capability names a container keeps (pure; Kubernetes/containerd semantics).

    ``add``/``drop`` take names with or without the ``CAP_`` prefix and ``ALL``.  Worked
    example: default set, add ``["NET_ADMIN"]``, drop ``["ALL"]`` -> ``{"NET_ADMIN"}`` (drop ALL
    first, then add, as containerd does); privileged -> every capability.
    """
    every = frozenset(CAPABILITIES)
    if privileged:
        return every

    def norm(names: list[str] | None) -> set[str]:
        out = set()
        for n in names or []:
            n = n.upper()
            out.add(n[4:] if n.startswith("CAP_") else n)
        return out

    adds, drops = norm(add), norm(drop)
    caps = set(default)
    if "ALL" in drops:
        caps = set()
    else:
        caps -= drops
    if "ALL" in adds:
        caps = set(every)
    else:
        caps |= adds & every
    return frozenset(caps)


def _cap_mask(names: frozenset[str]) -> int:
    mask = 0
    for n in names:
        mask |= 1 << CAP_NUMBER[n]
    return mask


def drop_bounding_set(keep: frozenset[str]) -> None:
    """Remove every capability outside ``keep`` from the bounding set (needs CAP_SETPCAP)."""
    drop = _libc.prctl
    for cap in range(last_cap() + 1):
        if cap < len(CAPABILITIES) and CAPABILITIES[cap] in keep:
            continue
        if drop(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 and ctypes.get_errno() != 22:
            _check(-1, f"prctl(PR_CAPBSET_DROP, {cap})")  # EINVAL: a capability unknown to this kernel


def drop_capabilities(keep: frozenset[str], keep_effective: bool = True) -> None:
    """Clear the ambient set and set the effective, permitted and inheritable sets to ``keep``
    (or to nothing when ``keep_effective`` is false, e.g. for a non-root user)."""
    try:
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    mask = _cap_mask(keep) if keep_effective else 0
    capset(mask, mask, mask)


# the array types capset/capget pass, made once (``create_string_buffer`` makes a new ctypes
# type per call, which in a freshly forked process costs ~0.2 ms)
_CapHeader = ctypes.c_uint32 * 2
_CapData = ctypes.c_uint32 * 6


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hbuf = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    dbuf = _CapData(effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
                    effective >> 32, permitted >> 32, inheritable >> 32)
    _check(_libc.syscall(_SYS_CAPSET, hbuf, dbuf), "capset")


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of ``pid`` (0 = the caller)."""
    hbuf = ctypes.create_string_buffer(struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, pid), 8)
    dbuf = ctypes.create_string_buffer(24)
    _check(_libc.syscall(ctypes.c_long(_SYS_CAPGET), hbuf, dbuf), "capget")
    e0, p0, i0, e1, p1, i1 = struct.unpack("IIIIII", dbuf.raw)
    return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32


def mounts_under(prefix: str) -> list[str]:
    """Mount points of the caller's mount namespace at or below ``prefix``, deepest first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if mp == prefix or mp.startswith(prefix.rstrip("/") + "/"):
                out.append(mp)
    out.sort(key=lambda p: p.count("/"), reverse=True)
    return out
