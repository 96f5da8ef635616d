"""cgroups: the pure decisions (QoS, shares, weight, quota) by tables, and the manager on the
real cgroup tree of this machine (root only)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time

import pytest

from kubelet.runtime import cgroups
from kubelet.runtime.cgroups import (
    BEST_EFFORT,
    BURSTABLE,
    GUARANTEED,
    CgroupLimits,
    CgroupManager,
    container_limits,
    cpu_quota,
    cpu_shares,
    cpu_weight,
    parse_quantity,
    pod_limits,
    qos_class,
)


def c(requests: dict | None = None, limits: dict | None = None) -> dict:
    res: dict = {}
    if requests is not None:
        res["requests"] = requests
    if limits is not None:
        res["limits"] = limits
    return {"resources": res}


@pytest.mark.parametrize(("containers", "expected"), [
    ([c()], BEST_EFFORT),
    ([c(), c()], BEST_EFFORT),
    ([c({"cpu": "0"}, {"memory": "0"})], BEST_EFFORT),            # zero quantities do not count
    ([c({"ephemeral-storage": "1Gi"})], BEST_EFFORT),             # only cpu and memory count
    ([c({"cpu": "100m"})], BURSTABLE),
    ([c(None, {"memory": "20Mi"})], BURSTABLE),
    ([c({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], GUARANTEED),
    ([c({"cpu": "1000m", "memory": "1024Mi"}, {"cpu": "1", "memory": "1Gi"})], GUARANTEED),
    ([c({"cpu": "500m", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})], BURSTABLE),
    # limits only (requests not defaulted): summed requests are empty -> not equal in count
    ([c(None, {"cpu": "1", "memory": "1Gi"})], BURSTABLE),
    # every container must limit both resources
    ([c({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}), c()], BURSTABLE),
    ([c({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}),
      c({"cpu": "2", "memory": "1Gi"}, {"cpu": "2", "memory": "1Gi"})], GUARANTEED),
])
def test_qos_class(containers: list[dict], expected: str) -> None:
    assert qos_class(containers) == expected


@pytest.mark.parametrize(("text", "value"), [
    ("100m", 0.1), ("1", 1), ("2.5", 2.5), ("20Mi", 20 * 2**20), ("1Gi", 2**30), ("1G", 10**9),
    ("128974848", 128974848), ("129e6", 129e6), ("123Ki", 123 * 1024), ("1k", 1000), (3, 3),
])
def test_parse_quantity(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "1Qi", "1..2"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize(("milli", "shares"), [
    (0, 2), (1, 2), (10, 10), (100, 102), (250, 256), (1000, 1024), (2000, 2048), (10**6, 262144),
])
def test_cpu_shares(milli: int, shares: int) -> None:
    assert cpu_shares(milli) == shares


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (102, 4), (1024, 39), (262144, 10000)])
def test_cpu_weight(shares: int, weight: int) -> None:
    assert cpu_weight(shares) == weight


@pytest.mark.parametrize(("milli", "quota"), [(0, -1), (1, 1000), (100, 10000), (200, 20000), (1500, 150000)])
def test_cpu_quota(milli: int, quota: int) -> None:
    assert cpu_quota(milli) == quota


def test_container_limits_defaults_requests_to_limits() -> None:
    lim = container_limits({"limits": {"cpu": "500m", "memory": "20Mi"}}, pids_max=50)
    assert lim == CgroupLimits(cpu_shares=512, cpu_quota_us=50000, memory_bytes=20 * 2**20, pids_max=50)
    assert container_limits({}) == CgroupLimits()
    assert container_limits({"requests": {"cpu": "250m"}}).cpu_shares == 256


def test_pod_limits_only_bound_when_every_container_is() -> None:
    both = [c({"cpu": "100m"}, {"cpu": "200m", "memory": "10Mi"}), c(None, {"cpu": "300m", "memory": "5Mi"})]
    lim = pod_limits(both)
    assert (lim.cpu_shares, lim.cpu_quota_us, lim.memory_bytes) == (409, 50000, 15 * 2**20)
    lim = pod_limits([*both, c({"cpu": "1"})])
    assert (lim.cpu_shares, lim.cpu_quota_us, lim.memory_bytes) == (1433, -1, None)


def test_parse_proc_cgroup() -> None:
    text = "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/x\n0::/u\n"
    assert cgroups.parse_proc_cgroup(text) == {
        "name=systemd": "/", "memory": "/process_api/abc", "cpu": "/x", "cpuacct": "/x", "": "/u"}


def test_detect_version(tmp_path) -> None:
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("")
    (tmp_path / "memory").mkdir()
    assert cgroups.detect_version(str(tmp_path)) == 1       # hybrid with an empty cgroup2
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    assert cgroups.detect_version(str(tmp_path)) == 1       # only controllers v1 leaves unused
    (tmp_path / "unified" / "cgroup.controllers").write_text("cpu memory pids\n")
    assert cgroups.detect_version(str(tmp_path)) == 2
    pure = tmp_path / "pure"
    pure.mkdir()
    (pure / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert cgroups.detect_version(str(pure)) == 2


def test_manager_paths_nest_under_own_cgroup_v1_and_v2(tmp_path) -> None:
    for ctrl in cgroups.V1_CONTROLLERS:
        (tmp_path / ctrl).mkdir()
    own = "4:memory:/process_api/abc\n1:cpu:/\n0::/\n"
    m = CgroupManager("mizzen-x", version=1, mount_root=str(tmp_path), self_cgroup=own)
    assert m.paths("burstable/podU").dirs["memory"] == f"{tmp_path}/memory/process_api/abc/mizzen-x/burstable/podU"
    assert m.paths("").dirs["cpu"] == f"{tmp_path}/cpu/mizzen-x"
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids")
    m2 = CgroupManager("mizzen-y", version=2, mount_root=str(tmp_path), self_cgroup="0::/kubelet.slice\n")
    assert m2.paths("podU").dirs == {"": f"{tmp_path}/kubelet.slice/mizzen-y/podU"}
    # v2: the kubelet's own cgroup holds processes, so pods go beside it
    (tmp_path / "kubelet.slice").mkdir()
    (tmp_path / "kubelet.slice" / "cgroup.procs").write_text("123\n")
    m3 = CgroupManager("mizzen-z", version=2, mount_root=str(tmp_path), self_cgroup="0::/kubelet.slice\n")
    assert m3.paths("podU").dirs == {"": f"{tmp_path}/mizzen-z/podU"}
    assert CgroupManager.pod_name("U", GUARANTEED) == "podU"
    assert CgroupManager.pod_name("U", BEST_EFFORT) == "besteffort/podU"
    with pytest.raises(ValueError):
        CgroupManager("kubepods", version=1, mount_root=str(tmp_path), self_cgroup=own)


root = pytest.mark.skipif(os.geteuid() != 0 or not os.path.isdir("/sys/fs/cgroup"), reason="needs root and cgroups")


@pytest.fixture
def manager():
    m = CgroupManager(f"mizzen-test-{secrets.token_hex(4)}")
    try:
        yield m
    finally:
        m.cleanup()
        assert not m.exists(""), "cgroup subtree left behind"


@root
@pytest.mark.root
def test_manager_limits_stats_kill_remove(manager: CgroupManager) -> None:
    rel = manager.pod_name("u1", BURSTABLE) + "/c1"
    p = manager.ensure(rel, container_limits({"requests": {"cpu": "100m"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
                                             pids_max=20))
    if manager.version == 1:
        assert open(os.path.join(p.dirs["cpu"], "cpu.shares")).read().strip() == "102"
        assert open(os.path.join(p.dirs["cpu"], "cpu.cfs_quota_us")).read().strip() == "20000"
        assert open(os.path.join(p.dirs["memory"], "memory.limit_in_bytes")).read().strip() == str(64 * 2**20)
        assert open(os.path.join(p.dirs["pids"], "pids.max")).read().strip() == "20"
    procs = manager.procs_files(rel)
    script = "".join(f"echo 0 > {f}; " for f in procs) + "sleep 1000 & sleep 1000 & wait"
    proc = subprocess.Popen(["/bin/busybox", "sh", "-c", script])
    try:
        deadline = time.monotonic() + 10
        while len(manager.pids(rel)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(manager.pids(rel)) == 3
        st = manager.stats(rel)
        assert st.pids == 3
        assert st.memory_usage_bytes > 0
        assert not manager.oom_killed(rel)
        manager.kill(rel)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL
        manager.remove(manager.pod_name("u1", BURSTABLE))
        assert not manager.exists(rel)
        assert not manager.exists(manager.pod_name("u1", BURSTABLE))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@root
@pytest.mark.root
@pytest.mark.skipif(not os.path.exists("/sys/fs/cgroup/unified/cgroup.procs"), reason="no cgroup2 mount")
def test_v2_code_paths_on_the_hybrid_unified_mount() -> None:
    """The hybrid cgroup2 mount has no controllers but has cgroup.kill: enough to run the v2
    create/join/kill/remove paths for real."""
    m = CgroupManager(f"mizzen-test-{secrets.token_hex(4)}", version=2)
    assert m.bases[""].startswith("/sys/fs/cgroup/unified/")
    try:
        rel = "besteffort/podv2/c"
        m.ensure(rel, container_limits({"limits": {"memory": "20Mi"}}))
        (procs,) = m.procs_files(rel)
        proc = subprocess.Popen(["/bin/busybox", "sh", "-c", f"echo 0 > {procs}; sleep 1000 & sleep 1000"])
        try:
            deadline = time.monotonic() + 10
            while len(m.pids(rel)) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(m.pids(rel)) == 2
            m.kill(rel)
            proc.wait(10)
            assert proc.returncode == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        m.cleanup()
    assert not m.exists("")


def test_own_limits_walk_up_the_ancestors(tmp_path) -> None:
    for ctrl in cgroups.V1_CONTROLLERS:
        (tmp_path / ctrl).mkdir()
    mem = tmp_path / "memory" / "a" / "b"
    mem.mkdir(parents=True)
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (tmp_path / "memory" / "a" / "memory.limit_in_bytes").write_text(str(8 * 2**30))
    (mem / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    cpu = tmp_path / "cpu" / "k"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("150000\n")
    (cpu / "cpu.cfs_period_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    m = CgroupManager("mizzen-x", version=1, mount_root=str(tmp_path), self_cgroup="4:memory:/a/b\n1:cpu:/k\n")
    assert m.own_limits() == (1.5, 8 * 2**30)
    m = CgroupManager("mizzen-x", version=1, mount_root=str(tmp_path), self_cgroup="4:memory:/\n1:cpu:/\n")
    assert m.own_limits() == (None, None)


@pytest.mark.parametrize(("limits", "fresh", "written"), [
    # a new cgroup already has the kernel's defaults: only what differs is written
    (CgroupLimits(cpu_shares=2), True, {"cpu.shares": "2"}),
    (CgroupLimits(cpu_shares=1024), True, {}),
    (CgroupLimits(cpu_shares=512, cpu_quota_us=50000, memory_bytes=2**20, pids_max=40), True,
     {"cpu.shares": "512", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000",
      "memory.limit_in_bytes": "1048576", "pids.max": "40"}),
    # an existing cgroup may hold other values: everything is written
    (CgroupLimits(cpu_shares=1024), False,
     {"cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1",
      "memory.limit_in_bytes": "-1", "pids.max": "max"}),
])
def test_apply_v1_writes_only_what_a_fresh_cgroup_lacks(tmp_path, limits: CgroupLimits, fresh: bool,
                                                        written: dict[str, str]) -> None:
    for ctrl in cgroups.V1_CONTROLLERS:
        (tmp_path / ctrl).mkdir()
    files = ["cpu/cpu.shares", "cpu/cpu.cfs_period_us", "cpu/cpu.cfs_quota_us", "memory/memory.limit_in_bytes",
             "pids/pids.max"]
    for f in files:
        (tmp_path / f).write_text("")
    m = CgroupManager("mizzen-x", version=1, mount_root=str(tmp_path), self_cgroup="1:cpu:/\n")
    paths = cgroups.CgroupPaths({ctrl: str(tmp_path / ctrl) for ctrl in cgroups.V1_CONTROLLERS})
    m.apply(paths, limits, fresh=fresh)
    got = {f.split("/")[1]: (tmp_path / f).read_text() for f in files if (tmp_path / f).read_text()}
    assert got == written
