"""cgroups for pods and containers: v1 and v2, nested under the kubelet's own cgroup.

Why: Kubernetes enforces requests and limits with cgroups and reports OOM kills from them;
this module turns pod/container resources into cgroup files and reads usage and OOM events
back.  The decisions (QoS class, cpu shares/weight, CFS quota) are pure functions tested with
tables; ``CgroupManager`` is the I/O edge.

Layout (per v1 controller, or once on v2), below the cgroup this process already lives in
(read from /proc/self/cgroup, so several kubelets and test runs never collide)::

    <own cgroup>/mizzen-<unique>/                 the node ("kubepods")
        pod<uid>/<container-id>                   Guaranteed pods
        burstable/pod<uid>/<container-id>
        besteffort/pod<uid>/<container-id>

What it must never do: touch any cgroup outside its own ``mizzen-<unique>`` subtree, or move
the calling process into one of its cgroups.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "freezer")

# Kubernetes' constants (pkg/kubelet/cm/helpers_linux.go).
MIN_SHARES = 2
MAX_SHARES = 262144
SHARES_PER_CPU = 1024
MILLI_CPU_TO_CPU = 1000
QUOTA_PERIOD_US = 100000
MIN_QUOTA_PERIOD_US = 1000

GUARANTEED = "Guaranteed"
BURSTABLE = "Burstable"
BEST_EFFORT = "BestEffort"


# --------------------------------------------------------------------------- quantities


_SUFFIXES = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": 10**-9, "u": 10**-6, "m": 10**-3, "": 1, "k": 10**3, "M": 10**6, "G": 10**9,
    "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)(e[+-]?[0-9]+|E[+-]?[0-9]+(?![a-zA-Z])|[a-zA-Z]*)$")


def parse_quantity(value: str | int | float) -> float:
    """A Kubernetes resource quantity as a number: ``"100m"`` -> 0.1, ``"20Mi"`` -> 20971520."""
    if isinstance(value, int | float):
        return float(value)
    s = str(value).strip()
    m = _QUANTITY.match(s)
    if not m:
        raise ValueError(f"quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {value!r}")
    number, suffix = m.groups()
    if suffix[:1] in ("e", "E") and suffix[1:].lstrip("+-").isdigit():
        return float(number) * 10 ** int(suffix[1:])
    if suffix not in _SUFFIXES:
        raise ValueError(f"unable to parse quantity's suffix: {value!r}")
    return float(number) * _SUFFIXES[suffix]


def milli_cpu(value: str | int | float | None) -> int:
    """CPU quantity in millicores, rounded up like Kubernetes' MilliValue: ``"0.5"`` -> 500."""
    if value is None:
        return 0
    q = parse_quantity(value) * 1000
    return int(q) if q == int(q) else int(q) + 1


def bytes_of(value: str | int | float | None) -> int:
    if value is None:
        return 0
    q = parse_quantity(value)
    return int(q) if q == int(q) else int(q) + 1


# --------------------------------------------------------------------------- pure decisions


def qos_class(containers: Iterable[Mapping]) -> str:
    """Pod QoS class from the ``resources`` of all its containers (init ones included).

    Kubernetes' GetPodQOS: only cpu and memory count.  No request and no limit anywhere ->
    BestEffort.  Every container limiting both cpu and memory, and the pod's summed requests
    equal to its summed limits for each resource -> Guaranteed.  Anything else -> Burstable.
    Example: one container ``limits {cpu: 1, memory: 1Gi}, requests {cpu: 1, memory: 1Gi}``
    -> Guaranteed; the same with ``requests.cpu: 500m`` -> Burstable.
    """
    requests: dict[str, float] = {}
    limits: dict[str, float] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        for name, q in (res.get("requests") or {}).items():
            if name in ("cpu", "memory") and parse_quantity(q) > 0:
                requests[name] = requests.get(name, 0) + parse_quantity(q)
        found = set()
        for name, q in (res.get("limits") or {}).items():
            if name in ("cpu", "memory") and parse_quantity(q) > 0:
                found.add(name)
                limits[name] = limits.get(name, 0) + parse_quantity(q)
        if not {"cpu", "memory"} <= found:
            guaranteed = False
    if not requests and not limits:
        return BEST_EFFORT
    if guaranteed:
        for name, req in requests.items():
            if limits.get(name) != req:
                guaranteed = False
                break
    if guaranteed and len(requests) == len(limits):
        return GUARANTEED
    return BURSTABLE


def cpu_shares(request_milli: int) -> int:
    """cgroup v1 ``cpu.shares`` for a cpu request (MilliCPUToShares): 0 -> 2, 100m -> 102,
    1 cpu -> 1024, capped at 262144."""
    if request_milli == 0:
        return MIN_SHARES
    shares = request_milli * SHARES_PER_CPU // MILLI_CPU_TO_CPU
    return max(MIN_SHARES, min(MAX_SHARES, shares))


def cpu_weight(shares: int) -> int:
    """cgroup v2 ``cpu.weight`` from shares (CpuSharesToCpuWeight): 2 -> 1, 1024 -> 39,
    262144 -> 10000."""
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_quota(limit_milli: int, period_us: int = QUOTA_PERIOD_US) -> int:
    """CFS quota in µs for a cpu limit (MilliCPUToQuota); -1 means unlimited.
    Example: 200m with a 100 ms period -> 20000 µs; 1m -> 1000 (the kernel's minimum)."""
    if limit_milli == 0:
        return -1
    quota = limit_milli * period_us // MILLI_CPU_TO_CPU
    return max(quota, MIN_QUOTA_PERIOD_US)


@dataclass(frozen=True)
class CgroupLimits:
    """What to write into one cgroup; ``None`` leaves the kernel default (unlimited)."""

    cpu_shares: int = MIN_SHARES
    cpu_quota_us: int = -1
    cpu_period_us: int = QUOTA_PERIOD_US
    memory_bytes: int | None = None
    pids_max: int | None = None


def container_limits(resources: Mapping | None, pids_max: int | None = None) -> CgroupLimits:
    """Container resources (``{"requests": {...}, "limits": {...}}``) -> cgroup values.

    Requests fall back to limits when absent, as API defaulting does."""
    resources = resources or {}
    limits = resources.get("limits") or {}
    requests = {**limits, **(resources.get("requests") or {})}
    mem = bytes_of(limits.get("memory")) or None
    return CgroupLimits(
        cpu_shares=cpu_shares(milli_cpu(requests.get("cpu"))),
        cpu_quota_us=cpu_quota(milli_cpu(limits.get("cpu"))),
        memory_bytes=mem,
        pids_max=pids_max,
    )


def pod_limits(containers: Iterable[Mapping], pids_max: int | None = None) -> CgroupLimits:
    """Pod-level cgroup values: shares from the summed cpu requests; quota and memory limit
    only when every container sets that limit (otherwise the pod is unbounded for it)."""
    cs = list(containers)
    req_cpu = 0
    lim_cpu = 0
    lim_mem = 0
    all_cpu = all_mem = bool(cs)
    for c in cs:
        res = c.get("resources") or {}
        lim = res.get("limits") or {}
        req = {**lim, **(res.get("requests") or {})}
        req_cpu += milli_cpu(req.get("cpu"))
        if lim.get("cpu") is None:
            all_cpu = False
        else:
            lim_cpu += milli_cpu(lim["cpu"])
        if lim.get("memory") is None:
            all_mem = False
        else:
            lim_mem += bytes_of(lim["memory"])
    return CgroupLimits(
        cpu_shares=cpu_shares(req_cpu),
        cpu_quota_us=cpu_quota(lim_cpu) if all_cpu else -1,
        memory_bytes=lim_mem if all_mem and lim_mem else None,
        pids_max=pids_max,
    )


# --------------------------------------------------------------------------- detection


def detect_version(root: str = CGROUP_ROOT) -> int:
    """2 when ``root`` (or its ``unified`` mount) is cgroup2 holding the controllers pods
    need (cpu, memory, pids), else 1.

    On this kind of machine the hybrid layout has a cgroup2 at ``unified`` with no controller
    (or only ones v1 does not mount, such as hugetlb): that is v1.
    """
    for cand in (root, os.path.join(root, "unified")):
        try:
            with open(os.path.join(cand, "cgroup.controllers")) as f:
                if {"cpu", "memory", "pids"} <= set(f.read().split()):
                    return 2
        except OSError:
            continue
    return 1


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` -> {controller: path}; the v2 entry is keyed ``""``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, ctrls, path = parts
        for c in ctrls.split(",") if ctrls else [""]:
            out[c] = path
    return out


# --------------------------------------------------------------------------- manager


@dataclass
class CgroupStats:
    cpu_usage_ns: int = 0
    memory_usage_bytes: int = 0
    memory_working_set_bytes: int = 0
    pids: int = 0
    nr_throttled: int = 0
    throttled_ns: int = 0
    oom_kills: int = 0


@dataclass
class CgroupPaths:
    """Absolute directories of one cgroup: one per controller on v1, one (key ``""``) on v2."""

    dirs: dict[str, str] = field(default_factory=dict)

    def for_controller(self, ctrl: str) -> str | None:
        return self.dirs.get(ctrl) or self.dirs.get("")

    def all(self) -> list[str]:
        return sorted(set(self.dirs.values()))


class CgroupManager:
    """Creates, limits, reads, kills and removes the cgroups of one kubelet instance.

    ``root_name`` is the node's subtree name (``mizzen-<unique>``), created below this
    process's own cgroup in every controller.  Relative cgroup names (``burstable/pod<uid>``)
    are used everywhere else so that they can be stored in state files and resolved again by a
    restarted kubelet.
    """

    def __init__(self, root_name: str, *, version: int | None = None, mount_root: str = CGROUP_ROOT,
                 self_cgroup: str | None = None) -> None:
        if not root_name.startswith("mizzen"):
            raise ValueError(f"cgroup root name must start with 'mizzen': {root_name!r}")
        self.root_name = root_name
        self.mount_root = mount_root
        self.version = version or detect_version(mount_root)
        if self_cgroup is None:
            with open("/proc/self/cgroup") as f:
                self_cgroup = f.read()
        own = parse_proc_cgroup(self_cgroup)
        self.bases: dict[str, str] = {}
        if self.version == 2:
            v2mount = mount_root
            if not os.path.exists(os.path.join(mount_root, "cgroup.controllers")):
                v2mount = os.path.join(mount_root, "unified")
            own_dir = os.path.join(v2mount, own.get("", "/").lstrip("/"))
            if own.get("", "/") != "/" and _has_procs(own_dir):
                # cgroup v2 forbids controllers below a cgroup that holds processes ("no
                # internal processes"), and we never move the kubelet itself: nest beside it.
                log.warning("cgroup %s holds processes: pods go into a sibling cgroup", own_dir)
                own_dir = os.path.dirname(own_dir)
            self.bases[""] = os.path.join(own_dir, root_name)
        else:
            for ctrl in V1_CONTROLLERS:
                hier = os.path.join(mount_root, ctrl)
                if not os.path.isdir(hier):
                    # e.g. "cpu,cpuacct" co-mounted
                    for name in os.listdir(mount_root):
                        if ctrl in name.split(","):
                            hier = os.path.join(mount_root, name)
                            break
                    else:
                        continue
                self.bases[ctrl] = os.path.join(hier, own.get(ctrl, "/").lstrip("/"), root_name)

    # ---- naming -------------------------------------------------------------------------

    @staticmethod
    def pod_name(pod_uid: str, qos: str = BURSTABLE) -> str:
        """Relative cgroup name of a pod, Kubernetes' cgroupfs layout."""
        base = f"pod{pod_uid}"
        if qos == GUARANTEED:
            return base
        return f"{qos.lower()}/{base}"

    def paths(self, rel: str = "") -> CgroupPaths:
        rel = rel.strip("/")
        if any(part in ("..", ".") for part in rel.split("/")):
            raise ValueError(f"cgroup names stay inside the node's subtree: {rel!r}")
        return CgroupPaths({c: os.path.join(b, rel) if rel else b for c, b in self.bases.items()})

    # ---- creation and limits ------------------------------------------------------------

    def ensure(self, rel: str, limits: CgroupLimits | None = None) -> CgroupPaths:
        """Create the cgroup ``rel`` (and its parents) in every controller; apply ``limits``."""
        fresh = not any(os.path.isdir(d) for d in self.paths(rel).all())
        if self.version == 2:
            self._ensure_v2(rel)
        else:
            for base in self.bases.values():
                os.makedirs(os.path.join(base, rel.strip("/")), exist_ok=True)
        p = self.paths(rel)
        if limits is not None:
            self.apply(p, limits, fresh=fresh)
        return p

    def _ensure_v2(self, rel: str) -> None:
        base = self.bases[""]
        parent = os.path.dirname(base)
        parts = [self.root_name] + [x for x in rel.strip("/").split("/") if x]
        cur = parent
        for part in parts:
            self._enable_subtree(cur)
            cur = os.path.join(cur, part)
            with contextlib.suppress(FileExistsError):
                os.mkdir(cur)

    @staticmethod
    def _enable_subtree(path: str) -> None:
        try:
            with open(os.path.join(path, "cgroup.controllers")) as f:
                avail = f.read().split()
            with open(os.path.join(path, "cgroup.subtree_control")) as f:
                enabled = set(f.read().split())
        except OSError:
            return
        want = [c for c in ("cpu", "memory", "pids") if c in avail and c not in enabled]
        if want:
            try:
                _write(os.path.join(path, "cgroup.subtree_control"),
                       " ".join("+" + c for c in want))
            except OSError as exc:
                log.warning("cannot enable %s in %s: %s", want, path, exc)

    def apply(self, p: CgroupPaths, lim: CgroupLimits, fresh: bool = False) -> None:
        """Write ``lim`` into the cgroup's files. A ``fresh`` cgroup (just made) already has
        the kernel's defaults, which are then not written again (a burst of pod starts spent
        its cgroup time in writes of "no limit" to new cgroups)."""
        d: str | None

        def put(path: str, value: str, default: str, optional: bool = False) -> None:
            if fresh and value == default:
                return
            (_write_opt if optional else _write)(path, value)

        if self.version == 2:
            d = p.dirs[""]
            put(os.path.join(d, "cpu.weight"), str(cpu_weight(lim.cpu_shares)), "100", True)
            quota = "max" if lim.cpu_quota_us < 0 else str(lim.cpu_quota_us)
            put(os.path.join(d, "cpu.max"), f"{quota} {lim.cpu_period_us}", f"max {QUOTA_PERIOD_US}", True)
            put(os.path.join(d, "memory.max"), "max" if lim.memory_bytes is None else str(lim.memory_bytes),
                "max", True)
            if lim.memory_bytes is not None:
                _write_opt(os.path.join(d, "memory.swap.max"), "0")
            put(os.path.join(d, "pids.max"), "max" if lim.pids_max is None else str(lim.pids_max), "max", True)
            return
        if (d := p.dirs.get("cpu")) is not None:
            put(os.path.join(d, "cpu.shares"), str(lim.cpu_shares), str(SHARES_PER_CPU))
            if not (fresh and lim.cpu_quota_us < 0 and lim.cpu_period_us == QUOTA_PERIOD_US):
                _write(os.path.join(d, "cpu.cfs_period_us"), str(lim.cpu_period_us))
                _write(os.path.join(d, "cpu.cfs_quota_us"), str(lim.cpu_quota_us))
        if (d := p.dirs.get("memory")) is not None:
            put(os.path.join(d, "memory.limit_in_bytes"),
                "-1" if lim.memory_bytes is None else str(lim.memory_bytes), "-1")
            if lim.memory_bytes is not None:
                # no swap beyond the limit, when the kernel accounts swap at all
                _write_opt(os.path.join(d, "memory.memsw.limit_in_bytes"), str(lim.memory_bytes))
        if (d := p.dirs.get("pids")) is not None:
            put(os.path.join(d, "pids.max"), "max" if lim.pids_max is None else str(lim.pids_max), "max")

    # ---- membership ---------------------------------------------------------------------

    def procs_files(self, rel: str) -> list[str]:
        """Files a process writes ``0`` (itself) into to join ``rel`` in every controller."""
        return [os.path.join(d, "cgroup.procs") for d in self.paths(rel).all()]

    def pids(self, rel: str) -> set[int]:
        out: set[int] = set()
        for d in self.paths(rel).all():
            for sub, _dirs, _files in os.walk(d):
                try:
                    with open(os.path.join(sub, "cgroup.procs")) as f:
                        out.update(int(x) for x in f.read().split())
                except OSError:
                    pass
        return out

    # ---- reading ------------------------------------------------------------------------

    def stats(self, rel: str) -> CgroupStats:
        p = self.paths(rel)
        st = CgroupStats()
        d: str | None
        if self.version == 2:
            d = p.dirs[""]
            cpu = _read_kv(os.path.join(d, "cpu.stat"))
            st.cpu_usage_ns = cpu.get("usage_usec", 0) * 1000
            st.nr_throttled = cpu.get("nr_throttled", 0)
            st.throttled_ns = cpu.get("throttled_usec", 0) * 1000
            st.memory_usage_bytes = _read_int(os.path.join(d, "memory.current"))
            inactive = _read_kv(os.path.join(d, "memory.stat")).get("inactive_file", 0)
            st.memory_working_set_bytes = max(0, st.memory_usage_bytes - inactive)
            st.pids = _read_int(os.path.join(d, "pids.current"))
            st.oom_kills = _read_kv(os.path.join(d, "memory.events")).get("oom_kill", 0)
            return st
        if (d := p.dirs.get("cpuacct")) is not None:
            st.cpu_usage_ns = _read_int(os.path.join(d, "cpuacct.usage"))
        if (d := p.dirs.get("cpu")) is not None:
            cpu = _read_kv(os.path.join(d, "cpu.stat"))
            st.nr_throttled = cpu.get("nr_throttled", 0)
            st.throttled_ns = cpu.get("throttled_time", 0)
        if (d := p.dirs.get("memory")) is not None:
            st.memory_usage_bytes = _read_int(os.path.join(d, "memory.usage_in_bytes"))
            inactive = _read_kv(os.path.join(d, "memory.stat")).get("total_inactive_file", 0)
            st.memory_working_set_bytes = max(0, st.memory_usage_bytes - inactive)
            st.oom_kills = self._v1_oom_kills(d)
        if (d := p.dirs.get("pids")) is not None:
            st.pids = _read_int(os.path.join(d, "pids.current"))
        return st

    @staticmethod
    def _v1_oom_kills(d: str) -> int:
        oc = _read_kv(os.path.join(d, "memory.oom_control"))
        if "oom_kill" in oc:
            return oc["oom_kill"] or (1 if oc.get("under_oom") else 0)
        # old kernels without the counter: a failed charge at the limit is our best evidence
        return 1 if oc.get("under_oom") or _read_int(os.path.join(d, "memory.failcnt")) else 0

    def oom_killed(self, rel: str) -> bool:
        """Whether the kernel OOM-killed a process in ``rel`` (or below)."""
        if self.version == 2:
            return _read_kv(os.path.join(self.paths(rel).dirs[""], "memory.events")).get("oom_kill", 0) > 0
        d = self.paths(rel).dirs.get("memory")
        return bool(d and self._v1_oom_kills(d))

    # ---- killing and removal ------------------------------------------------------------

    def kill(self, rel: str, timeout: float = 5.0) -> None:
        """SIGKILL every process in ``rel`` and below, without racing against forks.

        v2 writes ``cgroup.kill``.  v1 freezes the freezer cgroup, SIGKILLs every task, then
        thaws it so that the signals are delivered."""
        p = self.paths(rel)
        if self.version == 2:
            d = p.dirs[""]
            if not os.path.isdir(d):
                return
            try:
                _write(os.path.join(d, "cgroup.kill"), "1")
                return
            except OSError:
                pass  # kernels < 5.14: fall back to signalling every pid
            self._kill_pids(rel)
            return
        fz = p.dirs.get("freezer")
        frozen = False
        if fz and os.path.isdir(fz):
            try:
                _write(os.path.join(fz, "freezer.state"), "FROZEN")
                frozen = True
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    with open(os.path.join(fz, "freezer.state")) as f:
                        if f.read().strip() == "FROZEN":
                            break
                    time.sleep(0.002)
            except OSError as exc:
                log.warning("cannot freeze %s: %s", fz, exc)
        try:
            self._kill_pids(rel)
        finally:
            if frozen and fz:
                with contextlib.suppress(OSError):
                    _write(os.path.join(fz, "freezer.state"), "THAWED")

    def _kill_pids(self, rel: str) -> None:
        for pid in self.pids(rel):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, rel: str, timeout: float = 5.0) -> None:
        """Remove ``rel`` and everything below it, deepest first, retrying while the last
        tasks exit (rmdir fails with EBUSY until a cgroup is empty)."""
        deadline = time.monotonic() + timeout
        for d in self.paths(rel).all():
            if not os.path.isdir(d):
                continue
            subdirs = [s for s, _ds, _fs in os.walk(d)]
            subdirs.sort(key=lambda s: s.count("/"), reverse=True)
            for s in subdirs:
                while True:
                    try:
                        os.rmdir(s)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as exc:
                        if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                            raise OSError(exc.errno, f"cannot remove cgroup {s}: {exc.strerror}") from exc
                        time.sleep(0.01)

    def cleanup(self, timeout: float = 10.0) -> None:
        """Kill every process of this kubelet's subtree and remove the whole subtree."""
        self.kill("", timeout=timeout)
        self.remove("", timeout=timeout)

    def own_limits(self) -> tuple[float | None, int | None]:
        """(cpu cores, memory bytes) the kubelet's own cgroup and its ancestors allow; ``None``
        for unlimited.  Node capacity is the smaller of these and the host's resources."""
        cpu: float | None = None
        mem: int | None = None

        def ancestors(d: str, top: str) -> list[str]:
            out = []
            d = os.path.dirname(d)          # our subtree's parent: the kubelet's own cgroup
            while d.startswith(top):
                out.append(d)
                if d == top:
                    break
                d = os.path.dirname(d)
            return out

        if self.version == 2:
            base = self.bases[""]
            top = base[: base.index("/", len(self.mount_root) + 1)] if "/unified" in base else self.mount_root
            for d in ancestors(base, top):
                raw = _read_text(os.path.join(d, "cpu.max")).split()
                if len(raw) == 2 and raw[0] != "max":
                    c = int(raw[0]) / int(raw[1])
                    cpu = c if cpu is None else min(cpu, c)
                mtext = _read_text(os.path.join(d, "memory.max")).strip()
                if mtext and mtext != "max":
                    mem = int(mtext) if mem is None else min(mem, int(mtext))
            return cpu, mem
        for ctrl in ("cpu", "memory"):
            cbase = self.bases.get(ctrl)
            if cbase is None:
                continue
            top = os.path.join(self.mount_root, os.path.relpath(cbase, self.mount_root).split("/")[0])
            for d in ancestors(cbase, top):
                if ctrl == "cpu":
                    q = _read_int(os.path.join(d, "cpu.cfs_quota_us"))
                    per = _read_int(os.path.join(d, "cpu.cfs_period_us"))
                    raw_q = _read_text(os.path.join(d, "cpu.cfs_quota_us")).strip()
                    if raw_q and not raw_q.startswith("-") and per:
                        cpu = q / per if cpu is None else min(cpu, q / per)
                else:
                    limit = _read_int(os.path.join(d, "memory.limit_in_bytes"))
                    if limit and limit < 2**62:   # the kernel's "unlimited" is a huge page-aligned value
                        mem = limit if mem is None else min(mem, limit)
        return cpu, mem

    def exists(self, rel: str = "") -> bool:
        return any(os.path.isdir(d) for d in self.paths(rel).all())


# --------------------------------------------------------------------------- file helpers


def _has_procs(d: str) -> bool:
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return bool(f.read().strip())
    except OSError:
        return False


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _write_opt(path: str, value: str) -> None:
    try:
        _write(path, value)
    except FileNotFoundError:
        pass


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _read_int(path: str) -> int:
    try:
        with open(path) as f:
            v = f.read().strip()
        return int(v) if v and v != "max" else 0
    except (OSError, ValueError):
        return 0


def _read_kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                with contextlib.suppress(ValueError):
                    out[k] = int(v)
    except OSError:
        pass
    return out
