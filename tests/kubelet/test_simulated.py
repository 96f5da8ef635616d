"""The simulated kubelet: pure status tables, and live against a real `mizzen apiserver`
(node registration, Lease renewal, pods to Running/Ready, failures on request, graceful
deletion, node stop/start)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from apimachinery.client.rest import ApiClient
from apimachinery.errors import NotFound
from kubelet import simulated as sim
from mizzen.testing import Cluster

NOW = "2024-05-01T12:00:00Z"


def pod(annotations=None, restart="Always", containers=("a", "b")):
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1", "annotations": annotations or {}},
            "spec": {"restartPolicy": restart, "nodeName": "node-1",
                     "containers": [{"name": n, "image": f"img-{n}"} for n in containers]}}


def conds(st):
    return {c["type"]: c["status"] for c in st["conditions"]}


@pytest.mark.parametrize("annotations,restart,phase,ready,state", [
    ({}, "Always", "Running", "True", "running"),
    ({sim.NEVER_READY: "true"}, "Always", "Running", "False", "running"),
    ({sim.FAIL: "image"}, "Always", "Pending", "False", "waiting"),
    ({sim.FAIL: "crash"}, "Always", "Running", "False", "waiting"),
    ({sim.FAIL: "exit1"}, "Always", "Running", "False", "waiting"),
    ({sim.FAIL: "exit1"}, "Never", "Failed", "False", "terminated"),
    ({sim.FAIL: "succeed"}, "OnFailure", "Succeeded", "False", "terminated"),
])
def test_simulated_status(annotations, restart, phase, ready, state):
    p = pod(annotations, restart)
    st = sim.simulated_status(p, "10.244.0.5", "172.18.0.2", annotations.get(sim.NEVER_READY) != "true", NOW)
    assert st["phase"] == phase
    assert conds(st)["Ready"] == ready and conds(st)["PodScheduled"] == "True"
    assert [next(iter(c["state"])) for c in st["containerStatuses"]] == [state, state]
    assert st["hostIP"] == "172.18.0.2"
    assert ("podIP" in st) == (phase != "Pending")


def test_status_reasons_users_see():
    st = sim.simulated_status(pod({sim.FAIL: "image"}), "ip", "hip", True, NOW)
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    st = sim.simulated_status(pod({sim.FAIL: "crash"}), "ip", "hip", True, NOW)
    c = st["containerStatuses"][0]
    assert c["state"]["waiting"]["reason"] == "CrashLoopBackOff" and c["restartCount"] == 1
    assert c["lastState"]["terminated"]["exitCode"] == 1
    ready = next(x for x in st["conditions"] if x["type"] == "Ready")
    assert ready["reason"] == "ContainersNotReady" and ready["message"] == "containers with unready status: [a b]"


def test_terminated_status():
    running = pod()
    running["status"] = sim.simulated_status(running, "ip", "hip", True, NOW)
    st = sim.terminated_status(running, "2024-05-01T12:01:00Z")
    assert all("terminated" in c["state"] and not c["ready"] for c in st["containerStatuses"])
    assert conds(st)["Ready"] == "False"


@pytest.mark.parametrize("index,cidr", [(0, "10.244.0.0/24"), (255, "10.244.255.0/24"), (256, "10.245.0.0/24")])
def test_pod_cidr(index, cidr):
    assert sim.pod_cidr(index)[0] == cidr


def test_node_status_fields():
    st = sim.node_status("node-1", 0, sim.DEFAULT_CAPACITY)
    assert st["nodeInfo"]["kubeletVersion"].startswith("v1.32.")
    assert st["nodeInfo"]["containerRuntimeVersion"].startswith("simulated://")
    assert st["allocatable"]["pods"] == "110"
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"


# -- live ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory):
    with Cluster.start(tmp_path_factory.mktemp("simulated"), command="apiserver") as c:
        yield c


@contextlib.asynccontextmanager
async def running(kubeconfig: Path, names: list[str]) -> AsyncIterator[tuple[ApiClient, sim.SimulatedNodes]]:
    client = ApiClient.from_kubeconfig(str(kubeconfig))
    nodes = sim.SimulatedNodes(client, names)
    stop = asyncio.Event()
    task = asyncio.ensure_future(nodes.run(stop))
    try:
        await asyncio.wait_for(nodes.registered.wait(), 30)
        yield client, nodes
    finally:
        stop.set()
        await task
        await client.close()


async def eventually(fn, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        last = await fn()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out (last: {last!r})")
        await asyncio.sleep(0.05)


def bound_pod(name: str, node: str, annotations: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"nodeName": node, "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}


async def test_nodes_register_and_run_pods(apiserver: Cluster) -> None:
    async with running(apiserver.kubeconfig, ["sim-a", "sim-b"]) as (client, nodes):
        n = await client.get("nodes", "sim-a")
        assert {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True"
        assert n["status"]["nodeInfo"]["kubeletVersion"] == sim.KUBELET_VERSION
        lease = await client.get("leases", "sim-b", "kube-node-lease")
        assert lease["spec"]["holderIdentity"] == "sim-b"

        await client.create("pods", bound_pod("ok", "sim-a"), "default")
        await client.create("pods", bound_pod("bad", "sim-b", {sim.FAIL: "exit1"}), "default")
        await client.create("pods", bound_pod("elsewhere", "not-ours"), "default")

        async def ok_ready():
            p = await client.get("pods", "ok", "default")
            return p if (p.get("status") or {}).get("phase") == "Running" and conds(p["status"])["Ready"] == "True" else None
        p = await eventually(ok_ready)
        assert p["status"]["podIP"].startswith("10.244.")

        async def bad_failed():
            return (await client.get("pods", "bad", "default")).get("status", {}).get("phase") == "Failed"
        await eventually(bad_failed)
        assert (await client.get("pods", "elsewhere", "default")).get("status", {}).get("phase") != "Running"

        # graceful deletion: the simulated kubelet finishes it
        await client.delete("pods", "ok", "default", grace_period_seconds=30)

        async def gone():
            try:
                await client.get("pods", "ok", "default")
            except NotFound:
                return True
            return False
        await eventually(gone)

        # a stopped node ignores its pods until started again
        await nodes.stop_node("sim-b")
        await client.create("pods", bound_pod("late", "sim-b"), "default")
        p = await client.get("pods", "late", "default")
        assert (p.get("status") or {}).get("phase") != "Running"
        await nodes.start_node("sim-b")

        async def late_running():
            return (await client.get("pods", "late", "default")).get("status", {}).get("phase") == "Running"
        await eventually(late_running)
        for name in ("bad", "late", "elsewhere"):
            await client.delete("pods", name, "default", grace_period_seconds=0)
