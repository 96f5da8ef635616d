"""Stopping the kubelet: a plain stop leaves containers running (a restarted kubelet adopts
them), a stop with ``cleanup=True`` (``--cleanup``) leaves no container process, mount, cgroup
or network namespace of the node. The kubelet runs in the test's event loop against an API
server of its own (no scheduler: pods are bound with ``spec.nodeName``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from apimachinery.client import ApiClient
from kubelet.agent import Kubelet, run_kubelet
from mizzen.testing import Cluster

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/busybox"), reason="needs root and busybox-static"),
]

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "keep", "namespace": "default"},
       "spec": {"nodeName": "node-1", "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                                "volumeMounts": [{"name": "m", "mountPath": "/m"}]}],
                "volumes": [{"name": "m", "emptyDir": {"medium": "Memory"}}]}}


def _traces(name: str) -> list[str]:
    out = [line for line in Path("/proc/mounts").read_text().splitlines() if name in line]
    out += [line for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
            if name in line]
    for root, dirs, _f in os.walk("/sys/fs/cgroup"):
        out += [os.path.join(root, d) for d in dirs if d == name]
        if root.count("/") > 6:
            dirs[:] = []
    return out


async def _run_until_running(kubeconfig: str, data_dir: Path, cleanup: bool) -> tuple[int, str]:
    """Start the kubelet, wait for pod "keep" to run, stop it; (container pid, runtime name)."""
    stop = asyncio.Event()
    box: list[Kubelet] = []
    task = asyncio.create_task(run_kubelet(kubeconfig, node_name="node-1", data_dir=data_dir, stop=stop,
                                           cleanup=cleanup, on_started=box.append))
    async with ApiClient.from_kubeconfig(kubeconfig) as api:
        try:
            try:
                await api.create("pods", POD, "default")
            except Exception as exc:  # noqa: BLE001 -- already there after a restart
                if "AlreadyExists" not in type(exc).__name__:
                    raise
            for _ in range(600):
                pod = await api.get("pods", "keep", "default")
                cs = (pod.get("status") or {}).get("containerStatuses") or []
                if cs and "running" in cs[0]["state"]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"pod did not run: {pod.get('status')}")
            cid = cs[0]["containerID"].removeprefix("mizzen://")
            st = json.loads((data_dir / "containers" / cid / "state.json").read_text())
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    return int(st["pid"]), box[0].runtime.name


async def test_plain_stop_keeps_containers_and_cleanup_removes_everything(fresh_apiserver: Cluster,
                                                                          tmp_path: Path) -> None:
    data = tmp_path / "kubelet"
    kc = str(fresh_apiserver.kubeconfig)
    pid, name = await _run_until_running(kc, data, cleanup=False)
    try:
        assert os.path.exists(f"/proc/{pid}")                    # plain stop: still running
        assert _traces(name) != []
        pid2, name2 = await _run_until_running(kc, data, cleanup=True)
        assert (pid2, name2) == (pid, name)                      # adopted, not restarted
        assert not os.path.exists(f"/proc/{pid}")
        assert _traces(name) == []
    finally:
        from kubelet.runtime import Runtime
        Runtime(str(data)).cleanup_all_sync()


async def test_pod_deleted_while_the_kubelet_was_down_is_removed_at_start(fresh_apiserver: Cluster,
                                                                          tmp_path: Path) -> None:
    data = tmp_path / "kubelet"
    kc = str(fresh_apiserver.kubeconfig)
    pid, name = await _run_until_running(kc, data, cleanup=False)
    try:
        async with ApiClient.from_kubeconfig(kc) as api:
            uid = (await api.get("pods", "keep", "default"))["metadata"]["uid"]
            await api.delete("pods", "keep", "default", grace_period_seconds=0)
        assert os.path.exists(f"/proc/{pid}")
        stop = asyncio.Event()
        box: list[Kubelet] = []
        task = asyncio.create_task(run_kubelet(kc, node_name="node-1", data_dir=data, stop=stop, on_started=box.append))
        try:
            for _ in range(600):
                if box and box[0].started:
                    break
                await asyncio.sleep(0.05)
            assert box and box[0].started
            assert not os.path.exists(f"/proc/{pid}")
            assert [line for line in Path("/proc/mounts").read_text().splitlines() if uid in line] == []
            assert not (data / "pods" / uid).exists()
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
    finally:
        from kubelet.runtime import Runtime
        Runtime(str(data)).cleanup_all_sync()
    assert _traces(name) == []


async def test_a_stop_that_cleans_up_sends_sigterm_and_survives_being_cut_short(fresh_apiserver: Cluster,
                                                                                 tmp_path: Path) -> None:
    """Ctrl-C of `mizzen up`: the kubelet stops with clean-up while one pod is being terminated
    with a long grace period (its PID 1 ignores SIGTERM) and another runs a process that traps
    SIGTERM; the launcher, out of patience, cancels the stop. The second pod's process got its
    SIGTERM, and the first's process and every trace of the node are gone all the same."""
    data = tmp_path / "kubelet"
    out = tmp_path / "out"
    out.mkdir()
    kc = str(fresh_apiserver.kubeconfig)
    stop = asyncio.Event()
    box: list[Kubelet] = []
    task = asyncio.create_task(run_kubelet(kc, node_name="node-1", data_dir=data, stop=stop, cleanup=True,
                                           on_started=box.append))
    slow = {**POD, "metadata": {"name": "slow", "namespace": "default"},
            "spec": {**POD["spec"], "terminationGracePeriodSeconds": 600}}
    polite = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "polite", "namespace": "default"},
              "spec": {"nodeName": "node-1", "containers": [{
                  "name": "c", "image": "busybox", "volumeMounts": [{"name": "out", "mountPath": "/out"}],
                  "command": ["sh", "-c", "trap 'echo bye > /out/term; exit 0' TERM; while true; do sleep 0.1; done"]}],
                  "volumes": [{"name": "out", "hostPath": {"path": str(out)}}]}}
    pids: dict[str, int] = {}
    try:
        async with ApiClient.from_kubeconfig(kc) as api:
            for pod in (slow, polite):
                await api.create("pods", pod, "default")
            for name in ("slow", "polite"):
                for _ in range(600):
                    cs = ((await api.get("pods", name, "default")).get("status") or {}).get("containerStatuses") or []
                    if cs and "running" in cs[0]["state"]:
                        break
                    await asyncio.sleep(0.05)
                cid = cs[0]["containerID"].removeprefix("mizzen://")
                pids[name] = int(json.loads((data / "containers" / cid / "state.json").read_text())["pid"])
            await api.delete("pods", "slow", "default")  # graceful: up to 600 s
        await asyncio.sleep(1.0)  # the pod worker is terminating it (SIGTERM sent, ignored)
        assert os.path.exists(f"/proc/{pids['slow']}")
        stop.set()
        await asyncio.sleep(1.0)
        task.cancel()  # as `mizzen up` does with components that take too long to stop
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 60)
        assert (out / "term").read_text() == "bye\n"
        assert not any(os.path.exists(f"/proc/{pid}") for pid in pids.values())
        assert _traces(box[0].runtime.name) == []
    finally:
        if not task.done():
            stop.set()
            task.cancel()
        from kubelet.runtime import Runtime
        Runtime(str(data)).cleanup_all_sync()
