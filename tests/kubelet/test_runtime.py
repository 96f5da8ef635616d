"""The container runtime with real processes: isolation, limits, logs, exit codes, stop,
exec, security context, adoption after the kubelet is killed, and complete cleanup.

Every test gets its own ``Runtime`` (named ``mizzen-test-<random>``) and checks at teardown
that none of its cgroups, mounts, network namespaces or processes remain."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time

import pytest

from kubelet.images import ImageStore
from kubelet.runtime import (
    ContainerSpec,
    ImageNotPresent,
    Mount,
    Runtime,
    SecurityContext,
    StartFailed,
    merge_image_config,
)
from kubelet.runtime import shim as shim_mod

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
                       reason="needs root and busybox-static"),
]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$")


@pytest.fixture(scope="module")
def image_store(tmp_path_factory) -> ImageStore:
    store = ImageStore(str(tmp_path_factory.mktemp("images")))
    store.ensure_busybox()
    return store


def _processes(rt: Runtime) -> list[tuple[int, int | None]]:
    out = []
    for cid in os.listdir(rt.containers_dir):
        try:
            st = shim_mod.read_json(os.path.join(rt.containers_dir, cid, "state.json"))
        except (OSError, ValueError):
            continue
        for key in ("pid", "shim_pid"):
            if st.get(key):
                out.append((st[key], st.get(key.replace("pid", "start"))))
    return out


def assert_nothing_left(rt: Runtime, procs: list[tuple[int, int | None]]) -> None:
    assert not rt.cgroups.exists(""), "cgroup subtree left behind"
    netns_left = [n for n in os.listdir("/run/netns") if n.startswith(rt.name)] if os.path.isdir("/run/netns") else []
    assert netns_left == []
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split()[4] for ln in f]
    assert [m for m in mounts if rt.name in m or m.startswith(rt.data_dir)] == []
    assert not os.path.exists(rt.run_dir)
    for pid, start in procs:
        assert not Runtime._alive(pid, start), f"process {pid} still running"
    assert os.listdir(rt.containers_dir) == []


CREATED: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def nothing_of_this_module_remains():
    """After the last test: no cgroup, mount or netns of any runtime this module created."""
    yield
    leftovers = []
    for name in CREATED:
        for root_dir, dirs, _files in os.walk("/sys/fs/cgroup"):
            leftovers += [os.path.join(root_dir, d) for d in dirs if d.startswith(name)]
        if os.path.isdir("/run/netns"):
            leftovers += [n for n in os.listdir("/run/netns") if n.startswith(name)]
        leftovers += [ln for ln in read_text("/proc/self/mountinfo").splitlines() if name in ln]
    assert leftovers == []


@pytest.fixture
async def rt(tmp_path, image_store):
    r = Runtime(str(tmp_path / "node"), images=image_store, name=f"mizzen-test-{secrets.token_hex(4)}")
    CREATED.append(r.name)
    await r.start()
    try:
        yield r
    finally:
        procs = _processes(r)
        try:
            await r.cleanup_all()
        finally:
            await r.close()
        assert_nothing_left(r, procs)


def spec(command: list[str], **kw) -> ContainerSpec:
    base = dict(pod_uid="u1", pod_name="pod-a", namespace="default", name="c", image="busybox")
    base.update(kw)
    return ContainerSpec(command=command, **base)


def log_lines(path: str) -> list[tuple[str, str, str]]:
    out = []
    with open(path) as f:
        for line in f.read().splitlines():
            m = CRI_LINE.match(line)
            assert m, f"not a CRI log line: {line!r}"
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def texts(path: str) -> list[str]:
    return [t for _s, _f, t in log_lines(path)]


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def logged(path: str, needle: str) -> bool:
    return os.path.exists(path) and any(needle in t for t in texts(path))


async def wait_for_log(path: str, needle: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if logged(path, needle):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{needle!r} never appeared in {path}")


async def test_isolation_pid_hostname_mounts_network(rt: Runtime, tmp_path) -> None:
    ns = await rt.create_pod_netns("u1")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.0.0.5 pod-a\n")
    script = ("echo pid=$$; hostname; echo procs=$(ls -d /proc/[0-9]* | wc -l); "
              "echo cgroup=$(cat /proc/self/cgroup | grep -v '::/$' | grep -c -v ':/$'); "
              "echo memlimit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); "
              "cut -d' ' -f2 /proc/mounts; echo net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '); "
              "cat /etc/hosts")
    h = await rt.start_container(spec(["sh", "-c", script], netns_path=ns, resources={"limits": {"memory": "64Mi"}},
                                      mounts=[Mount(str(hosts), "/etc/hosts", readonly=True)]))
    st = await rt.wait_container(h.id, 30)
    assert (st.state, st.exit_code, st.reason, st.netns_path) == ("exited", 0, "Completed", ns)
    out = texts(h.log_path)
    assert out[0] == "pid=1"
    assert out[1] == "pod-a"
    assert 2 <= int(out[2].removeprefix("procs=")) <= 4   # sh, its subshell, ls, wc: no host process
    assert out[3] == "cgroup=0"          # every hierarchy shows "/": its own cgroup namespace root
    assert out[4] == f"memlimit={64 * 2**20}"
    del out[3:5]
    mounts = set(out[3:out.index(next(x for x in out if x.startswith("net=")))])
    assert {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/etc/hosts"} <= mounts
    assert not {m for m in mounts if m.startswith(("/work", "/tmp", "/run", "/boot", "/var", "/home"))}
    assert "net=lo" in out
    assert out[-2:] == ["127.0.0.1 localhost", "10.0.0.5 pod-a"]
    await rt.remove_container(h.id)
    await rt.delete_pod_netns("u1")
    assert ns not in read_text("/proc/self/mountinfo")


async def test_connections_into_the_pod_network_namespace(rt: Runtime, tmp_path) -> None:
    ns = await rt.create_pod_netns("u1")
    www = tmp_path / "www"
    www.mkdir()
    (www / "healthz").write_text("ok\n")
    h = await rt.start_container(spec(["sh", "-c", "httpd -f -p 8080 -h /www & echo up; wait"], netns_path=ns,
                                      mounts=[Mount(str(www), "/www", readonly=True)]))
    await wait_for_log(h.log_path, "up")
    deadline = time.monotonic() + 20
    while True:   # httpd may need a moment to listen
        try:
            reader, writer = await rt.open_connection_in_pod(ns, "127.0.0.1", 8080)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    writer.write(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 20)
    writer.close()
    assert response.startswith(b"HTTP/1.") and b" 200 " in response.split(b"\r\n")[0]
    assert response.endswith(b"ok\n")
    with pytest.raises(ConnectionRefusedError):
        await rt.open_connection_in_pod(ns, "127.0.0.1", 8081)
    await rt.stop_container(h.id, 0)


async def test_pod_shared_ipc_and_shm(rt: Runtime) -> None:
    ipc, shm = await rt.create_pod_ipc("u1")
    ipc_ids = "readlink /proc/self/ns/ipc"
    a = await rt.start_container(spec(["sh", "-c", f"{ipc_ids}; echo hello > /dev/shm/note; sleep 1000"],
                                      name="a", ipc_ns_path=ipc, mounts=[shm]))
    await wait_for_log(a.log_path, "ipc:")
    b = await rt.start_container(spec(["sh", "-c", f"{ipc_ids}; cat /dev/shm/note"], name="b",
                                      ipc_ns_path=ipc, mounts=[shm]))
    await rt.wait_container(b.id, 30)
    c = await rt.start_container(spec(["sh", "-c", f"{ipc_ids}; ls /dev/shm"], name="c"))
    await rt.wait_container(c.id, 30)
    assert texts(b.log_path)[0] == texts(a.log_path)[0]          # same IPC namespace
    assert texts(b.log_path)[1] == "hello"                         # same /dev/shm
    assert texts(c.log_path)[0] != texts(a.log_path)[0] and len(texts(c.log_path)) == 1
    await rt.stop_container(a.id, 0)
    for h in (a, b, c):
        await rt.remove_container(h.id)
    await rt.remove_pod_dir("u1")
    assert f"{rt.run_dir}/u1" not in read_text("/proc/self/mountinfo")


async def test_exit_code_and_cri_log(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sh", "-c", "echo out; echo err >&2; "
                                       "head -c 20000 /dev/zero | tr '\\0' a; echo; printf partial; exit 3"]))
    st = await rt.wait_container(h.id, 30)
    assert (st.state, st.exit_code, st.reason) == ("exited", 3, "Error")
    assert st.started_at <= st.finished_at
    lines = log_lines(h.log_path)
    assert ("stdout", "F", "out") in lines and ("stderr", "F", "err") in lines
    stdout = [x for x in lines if x[0] == "stdout"]
    assert [(s, f, len(t)) for s, f, t in stdout[1:3]] == [("stdout", "P", 16384), ("stdout", "F", 20000 - 16384)]
    assert stdout[-1] == ("stdout", "F", "partial")
    assert h.log_path.endswith("/default_pod-a_u1/c/0.log")


async def test_start_errors_are_reported_as_start_error(rt: Runtime) -> None:
    with pytest.raises(StartFailed, match=r'exec: "nosuchcmd": executable file not found in \$PATH') as exc:
        await rt.start_container(spec(["nosuchcmd"]))
    st = await rt.container_status(exc.value.container_id)
    assert (st.state, st.exit_code, st.reason) == ("exited", 128, "StartError")
    assert "executable file not found" in st.message
    with pytest.raises(StartFailed, match="no such file or directory"):
        await rt.start_container(spec(["/no/such/binary"], name="c2"))
    with pytest.raises(StartFailed, match="chdir"):
        await rt.start_container(spec(["true"], name="c3", working_dir="/etc/passwd"))
    with pytest.raises(ImageNotPresent, match="is not present"):
        await rt.start_container(spec(["true"], name="c4", image="example.com/absent:1"))


async def test_failed_preparation_leaves_nothing(rt: Runtime) -> None:
    with pytest.raises(ValueError, match="inside the node's subtree"):
        await rt.start_container(spec(["true"], cgroup_parent="../../escape"))
    assert await rt.list_containers() == []
    assert os.listdir(rt.containers_dir) == []


async def test_memory_limit_oom_killed(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sh", "-c", "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done"],
                                      resources={"limits": {"memory": "20Mi"}}))
    st = await rt.wait_container(h.id, 60)
    assert (st.state, st.exit_code, st.reason, st.oom_killed) == ("exited", 137, "OOMKilled", True)


async def test_cpu_limit_throttles(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sh", "-c", "while :; do :; done"],
                                      resources={"limits": {"cpu": "50m"}, "requests": {"cpu": "10m"}}))
    deadline = time.monotonic() + 20
    stats = await rt.container_stats(h.id)
    while stats.nr_throttled < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        stats = await rt.container_stats(h.id)
    assert stats.nr_throttled >= 3
    assert stats.cpu_usage_ns > 0
    st = await rt.stop_container(h.id, 0)
    assert (st.state, st.exit_code) == ("exited", 137)


async def test_pids_limit(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 60 & done; sleep 60"],
                                      pids_limit=4))
    await wait_for_log(h.log_path, "can't fork")
    pids_dir = rt.cgroups.paths(rt.container_cgroup(h.id)).for_controller("pids")
    assert read_text(os.path.join(pids_dir, "pids.max")).strip() == "4"
    stats = await rt.container_stats(h.id)
    assert stats.pids <= 4
    await rt.stop_container(h.id, 0)


async def test_stop_sigterm_ignored_is_killed_after_grace(rt: Runtime) -> None:
    # PID 1 without a SIGTERM handler never sees SIGTERM: only the cgroup kill ends it
    h = await rt.start_container(spec(["sleep", "1000"]))
    st = await rt.stop_container(h.id, 0.3)
    assert (st.state, st.exit_code, st.reason) == ("exited", 137, "Error")
    assert (await rt.stop_container(h.id, 1)).state == "exited"


async def test_stop_sigterm_trapped_exits_gracefully(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sh", "-c", "trap 'echo terminating; exit 0' TERM; echo ready; "
                                       "while :; do sleep 0.05; done"]))
    await wait_for_log(h.log_path, "ready")
    st = await rt.stop_container(h.id, 30)
    assert (st.state, st.exit_code, st.reason) == ("exited", 0, "Completed")
    assert "terminating" in texts(h.log_path)


async def test_exec_in_container(rt: Runtime) -> None:
    ns = await rt.create_pod_netns("u1")
    h = await rt.start_container(spec(["sleep", "1000"], netns_path=ns, env=["FROM_SPEC=yes"], oom_score_adj=500))
    r = await rt.exec_in_container(h.id, ["sh", "-c", "echo $$ $(hostname) $FROM_SPEC; cat /proc/1/cmdline | tr '\\0' ' '; echo; cat"],
                                   stdin=b"from stdin\n", timeout=20)
    assert r.exit_code == 0 and not r.timed_out
    first, second, third = r.stdout.decode().splitlines()
    pid, host, env = first.split()
    assert pid != "1" and host == "pod-a" and env == "yes"
    assert second.strip() == "sleep 1000"
    assert third == "from stdin"
    # the exec'd process scores for the OOM killer as the container it joins
    r = await rt.exec_in_container(h.id, ["cat", "/proc/1/oom_score_adj", "/proc/self/oom_score_adj"], timeout=20)
    assert r.stdout.split() == [b"500", b"500"]
    r = await rt.exec_in_container(h.id, ["sh", "-c", "echo oops >&2; exit 7"], timeout=20)
    assert (r.exit_code, r.stderr) == (7, b"oops\n")
    r = await rt.exec_in_container(h.id, ["sleep", "30"], timeout=0.3)
    assert r.timed_out
    # a process left behind keeps stdout open: the exec still ends with what was written
    r = await rt.exec_in_container(h.id, ["sh", "-c", "sleep 30 & echo hi"], timeout=20)
    assert (r.exit_code, r.stdout, r.timed_out) == (0, b"hi\n", False)
    with pytest.raises(StartFailed, match="executable file not found"):
        await rt.exec_in_container(h.id, ["nosuchcmd"], timeout=20)
    await rt.stop_container(h.id, 0)
    with pytest.raises(StartFailed, match="not running"):
        await rt.exec_in_container(h.id, ["true"], timeout=20)


def read_until_eio(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 1000)
        except OSError:      # EIO: every slave end is closed
            return out
        if not chunk:
            return out
        out += chunk


async def test_exec_with_tty(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sleep", "1000"]))
    proc = await rt.exec_process(h.id, ["sh", "-c", "read line; tty; stty size; exit 5"], tty=True)
    try:
        proc.resize(33, 101)
        os.write(proc.pty_fd, b"go\n")
        out = await asyncio.to_thread(read_until_eio, proc.pty_fd)
        code = await asyncio.to_thread(proc.wait, 20)
    finally:
        os.close(proc.pty_fd)
    assert code == 5
    assert out.split(b"\r\n")[:3] == [b"go", b"/dev/pts/0", b"33 101"]     # "go" is the echo
    await rt.stop_container(h.id, 0)


async def test_exec_with_tty_of_a_given_size(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sleep", "1000"]))
    proc = await rt.exec_process(h.id, ["stty", "size"], tty=True, size=(24, 132))
    try:
        out = await asyncio.to_thread(read_until_eio, proc.pty_fd)
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        os.close(proc.pty_fd)
    assert out.split() == [b"24", b"132"]
    await rt.stop_container(h.id, 0)


async def test_security_context(rt: Runtime) -> None:
    status = "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status | tr -d '\\t'"
    h = await rt.start_container(spec(["sh", "-c", f"id -u; id -g; {status}"], name="user",
                                      security=SecurityContext(run_as_user=65534, run_as_group=65534)))
    await rt.wait_container(h.id, 30)
    assert texts(h.log_path) == ["65534", "65534", "CapEff:0000000000000000", "CapBnd:00000000a80425fb",
                                 "NoNewPrivs:1"]
    for uid, gid in ((65534, "65534"), (1234, "0")):     # the group comes from the image's /etc/passwd
        h = await rt.start_container(spec(["sh", "-c", "id -g"], name=f"u{uid}", security=SecurityContext(run_as_user=uid)))
        await rt.wait_container(h.id, 30)
        assert texts(h.log_path) == [gid]
    h = await rt.start_container(spec(["sh", "-c", status], name="caps", security=SecurityContext(
        capabilities_drop=["ALL"], capabilities_add=["NET_ADMIN"])))
    await rt.wait_container(h.id, 30)
    assert texts(h.log_path) == ["CapEff:0000000000001000", "CapBnd:0000000000001000", "NoNewPrivs:1"]
    h = await rt.start_container(spec(["sh", "-c", "touch /x || echo ro-root; touch /tmp/x || echo ro-tmp"],
                                      name="ro", security=SecurityContext(read_only_root_filesystem=True)))
    await rt.wait_container(h.id, 30)
    assert "ro-root" in texts(h.log_path) and "ro-tmp" in texts(h.log_path)
    h = await rt.start_container(spec(["sh", "-c", f"{status}; touch /sys/x 2>&1 | grep -c Read-only"],
                                      name="priv", security=SecurityContext(privileged=True)))
    await rt.wait_container(h.id, 30)
    out = texts(h.log_path)
    assert out[1] == own_status("CapBnd")        # everything the host itself may have
    assert out[2] == "NoNewPrivs:0" and out[3] == "0"


def own_status(field: str) -> str:
    with open("/proc/self/status") as f:
        return next(ln.strip().replace("\t", "") for ln in f if ln.startswith(field + ":"))


async def test_volumes_read_only_and_read_write(rt: Runtime, tmp_path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "config").write_text("v1\n")
    term = tmp_path / "termination-log"
    term.write_text("")
    h = await rt.start_container(spec(
        ["sh", "-c", "cat /etc/app/config; echo written > /data/out; echo x > /etc/app/new || echo denied; "
                     "echo $HOSTNAME $HOME > /dev/termination-log"],
        mounts=[Mount(str(rw), "/data"), Mount(str(ro), "/etc/app", readonly=True),
                Mount(str(term), "/dev/termination-log")]))
    st = await rt.wait_container(h.id, 30)
    assert st.exit_code == 0
    assert term.read_text() == "pod-a /root\n"
    assert texts(h.log_path)[0] == "v1" and "denied" in texts(h.log_path)
    assert (rw / "out").read_text() == "written\n"
    assert not (ro / "new").exists()


async def test_log_rotation_reopens_the_log(rt: Runtime, tmp_path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    h = await rt.start_container(spec(["sh", "-c", "echo one; while [ ! -e /s/go ]; do sleep 0.02; done; echo two"],
                                      mounts=[Mount(str(shared), "/s")]))
    await wait_for_log(h.log_path, "one")
    os.rename(h.log_path, h.log_path + ".1")
    await rt.reopen_container_log(h.id)
    (shared / "go").write_text("")
    await rt.wait_container(h.id, 30)
    assert texts(h.log_path + ".1") == ["one"]
    assert texts(h.log_path) == ["two"]
    os.unlink(h.log_path + ".1")


async def test_stats_and_pod_cgroup(rt: Runtime) -> None:
    containers = [{"resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}}]
    parent = await rt.ensure_pod_cgroup("u2", "Burstable", containers)
    assert parent == "burstable/podu2"
    h = await rt.start_container(spec(["sh", "-c", "head -c 2000000 /dev/urandom > /dev/shm/blob; sleep 1000"],
                                      pod_uid="u2", cgroup_parent=parent, resources=containers[0]["resources"]))
    deadline = time.monotonic() + 20
    stats = await rt.container_stats(h.id)
    while stats.memory_usage_bytes < 1_000_000 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        stats = await rt.container_stats(h.id)
    assert stats.memory_usage_bytes >= 1_000_000
    assert stats.memory_working_set_bytes > 0 and stats.pids >= 1 and stats.cpu_usage_ns > 0
    assert rt.container_cgroup(h.id).startswith("burstable/podu2/")
    pod = await rt.pod_stats("u2", "Burstable")
    assert pod.memory_usage_bytes >= stats.memory_usage_bytes and pod.pids >= stats.pids
    if rt.cgroups.version == 1:
        mem = rt.cgroups.paths(parent).dirs["memory"]
        assert int(read_text(os.path.join(mem, "memory.limit_in_bytes"))) == 64 * 2**20
    await rt.stop_container(h.id, 0)
    await rt.remove_container(h.id)
    await rt.remove_pod_cgroup("u2", "Burstable")
    assert not rt.cgroups.exists(parent)


KUBELET = """
import asyncio, sys
from kubelet.images import ImageStore
from kubelet.runtime import ContainerSpec, Runtime

async def main():
    rt = Runtime(sys.argv[1], images=ImageStore(sys.argv[2]), name=sys.argv[3])
    await rt.start()
    ns = await rt.create_pod_netns("u9")
    h = await rt.start_container(ContainerSpec(pod_uid="u9", pod_name="survivor", namespace="default",
        name="c", image="busybox", command=["sh", "-c", "echo started; exec sleep 1000"], netns_path=ns))
    print(h.id, flush=True)
    await asyncio.sleep(1000)

asyncio.run(main())
"""


async def test_adopts_running_container_after_kubelet_kill9(rt: Runtime) -> None:
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", KUBELET, rt.data_dir, rt.images.root,
                                                rt.name, stdout=subprocess.PIPE, env=env, cwd=REPO)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        cid = line.decode().strip()
        assert len(cid) == 64, line
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    # a new runtime on the same data dir: what a restarted kubelet does
    again = Runtime(rt.data_dir, images=rt.images)
    assert again.name == rt.name
    (st,) = [c for c in await again.list_containers() if c.id == cid]
    assert (st.state, st.pod_name) == ("running", "survivor")
    assert Runtime._alive(st.pid, shim_mod.proc_start_time(st.pid))
    await wait_for_log(st.log_path, "started")
    r = await again.exec_in_container(cid, ["hostname"], timeout=20)
    assert r.stdout == b"survivor\n"
    stopped = await again.stop_container(cid, 0.2)
    assert (stopped.state, stopped.exit_code) == ("exited", 137)
    await again.close()


async def test_fork_server_crash_loses_nothing(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sleep", "1000"]))
    fs = rt._fork_server().proc
    fs.kill()
    await asyncio.to_thread(fs.wait)
    h2 = await rt.start_container(spec(["sh", "-c", "echo second"], name="c2"))
    assert (await rt.wait_container(h2.id, 30)).exit_code == 0
    assert (await rt.container_status(h.id)).state == "running"
    st = await rt.stop_container(h.id, 0)
    assert (st.state, st.exit_code) == ("exited", 137)


async def test_cleanup_all_removes_everything(rt: Runtime) -> None:
    procs = []
    for pod in ("p1", "p2"):
        ns = await rt.create_pod_netns(pod)
        ipc, shm = await rt.create_pod_ipc(pod)
        parent = await rt.ensure_pod_cgroup(pod, "BestEffort", [{}])
        for name in ("a", "b"):
            h = await rt.start_container(spec(["sh", "-c", "sleep 1000 & sleep 1000"], pod_uid=pod, name=name,
                                              netns_path=ns, cgroup_parent=parent, ipc_ns_path=ipc, mounts=[shm]))
            procs.append((h.pid, shim_mod.proc_start_time(h.pid)))
    assert len([c for c in await rt.list_containers() if c.state == "running"]) == 4
    more = _processes(rt)
    await rt.cleanup_all()
    assert_nothing_left(rt, procs + more)


def test_runtime_implements_the_protocol() -> None:
    import inspect

    from kubelet.runtime import ContainerRuntime

    for name, member in inspect.getmembers(ContainerRuntime, inspect.iscoroutinefunction):
        assert inspect.iscoroutinefunction(getattr(Runtime, name)), name
        assert list(inspect.signature(getattr(Runtime, name)).parameters) == list(inspect.signature(member).parameters)


def test_merge_image_config() -> None:
    from kubelet.images.store import Image, ImageConfig

    def img(entry, cmd):
        return Image(id="sha256:x", repo_tags=[], repo_digests=[], layers=[], diff_ids=[],
                     config=ImageConfig(entrypoint=entry, cmd=cmd), size=0)

    cases = [
        (img(None, ["sh"]), None, None, ["sh"]),
        (img(None, ["sh"]), None, ["-c", "true"], ["-c", "true"]),
        (img(["/ep"], ["--default"]), None, None, ["/ep", "--default"]),
        (img(["/ep"], ["--default"]), None, ["--x"], ["/ep", "--x"]),
        (img(["/ep"], ["--default"]), ["/bin/other"], None, ["/bin/other"]),
        (img(["/ep"], ["--default"]), ["/bin/other"], ["a"], ["/bin/other", "a"]),
    ]
    for image, command, args, expected in cases:
        assert merge_image_config(image, command, args) == expected


async def test_stdin_once_relays_one_client_then_closes(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sh", "-c", "cat; echo done"], stdin=True, stdin_once=True))
    sock = await rt.attach_stdin(h.id)
    assert sock is not None
    with sock:
        sock.sendall(b"abc\n")
        sock.shutdown(socket.SHUT_WR)      # this client's input ends: with stdinOnce, the container's
        st = await rt.wait_container(h.id, 30)
    assert st.exit_code == 0
    assert texts(h.log_path) == ["abc", "done"]
    assert await rt.attach_stdin(h.id) is None   # nothing to attach to any more


async def test_stdin_stays_open_across_clients_and_tty(rt: Runtime) -> None:
    h = await rt.start_container(spec(["sh", "-c", "while read l; do echo got $l; done"], stdin=True))
    for word in (b"a", b"b"):
        sock = await rt.attach_stdin(h.id)
        assert sock is not None
        with sock:
            sock.sendall(word + b"\n")
            await wait_for_log(h.log_path, f"got {word.decode()}")
    assert (await rt.container_status(h.id)).state == "running"   # type: ignore[union-attr]
    t = await rt.start_container(spec(["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo terminal; read x; echo got $x"],
                                      name="t", stdin=True, stdin_once=True, tty=True))
    sock = await rt.attach_stdin(t.id)
    assert sock is not None
    with sock:
        sock.sendall(b"yes\n")
        st = await rt.wait_container(t.id, 30)
    assert st.exit_code == 0
    lines = [x.strip() for x in texts(t.log_path)]
    # the terminal echoes the input, whenever it arrives
    assert "terminal" in lines and "got yes" in lines and "yes" in lines
    no_stdin = await rt.start_container(spec(["true"], name="n"))
    assert await rt.attach_stdin(no_stdin.id) is None
    await rt.stop_container(h.id, 0)


async def test_pod_sandbox_in_one_go(rt: Runtime) -> None:
    """create_pod_sandbox_sync: one network and one IPC namespace (and /dev/shm) shared by the
    pod's containers, the pod cgroup; calling it again finds the same ones."""
    sb = await asyncio.to_thread(rt.create_pod_sandbox_sync, "u2", "Burstable", [{"name": "a"}])
    again = await asyncio.to_thread(rt.create_pod_sandbox_sync, "u2", "Burstable", [{"name": "a"}])
    assert again == sb and sb.netns is not None and sb.cgroup == "burstable/podu2"
    ids = "echo $(readlink /proc/self/ns/net) $(readlink /proc/self/ns/ipc)"
    kw = dict(pod_uid="u2", netns_path=sb.netns, ipc_ns_path=sb.ipc, cgroup_parent=sb.cgroup, mounts=[sb.shm])
    a = await rt.start_container(spec(["sh", "-c", f"{ids}; echo hi > /dev/shm/x; ip link 2>/dev/null | grep -c UP"],
                                      name="a", **kw))
    await rt.wait_container(a.id, 30)
    b = await rt.start_container(spec(["sh", "-c", f"{ids}; cat /dev/shm/x"], name="b", **kw))
    await rt.wait_container(b.id, 30)
    host = f"{os.readlink('/proc/self/ns/net')} {os.readlink('/proc/self/ns/ipc')}"
    assert texts(a.log_path)[0] == texts(b.log_path)[0] != host
    assert texts(b.log_path)[1] == "hi"
    assert texts(a.log_path)[1] == "1"             # loopback is up in the pod's network namespace
    host_net = await asyncio.to_thread(rt.create_pod_sandbox_sync, "u3", "BestEffort", [], host_network=True)
    assert host_net.netns is None and os.path.exists(host_net.ipc)


async def test_volume_mounted_on_the_host_after_start(rt: Runtime, tmp_path) -> None:
    """A volume that is itself a mount made after the runtime started (a secret's tmpfs): the
    container sees its content, read-only when asked (containers' mount namespaces are copies
    of a template made at start, so such sources reach them as detached mount trees)."""
    from kubelet.runtime import linux

    secret = tmp_path / "secret"
    secret.mkdir()
    linux.mount(f"{rt.name}-secret", str(secret), "tmpfs", 0, "size=1m")
    try:
        (secret / "token").write_text("s3cret\n")
        h = await rt.start_container(spec(
            ["sh", "-c", "cat /var/run/secret/token; echo x 2>/dev/null > /var/run/secret/new || echo denied; "
                         "grep -c ' /var/run/secret ' /proc/self/mountinfo"],
            mounts=[Mount(str(secret), "/var/run/secret", readonly=True)]))
        st = await rt.wait_container(h.id, 30)
        assert st.exit_code == 0
        assert texts(h.log_path) == ["s3cret", "denied", "1"]
        assert not (secret / "new").exists()
        await rt.remove_container(h.id)
    finally:
        linux.umount2(str(secret), linux.MNT_DETACH)
