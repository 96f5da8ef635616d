"""The scheduler seen through the real kubectl: pending pods and why (describe), a new node
that makes them fit, taints and tolerations, cordon/uncordon, anti-affinity spreading, and
pods for another scheduler left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_scheduler_harness import get_json, pods_by_node, scheduler_cluster

from mizzen.testing import Cluster

pytestmark = pytest.mark.e2e

SMALL = {"cpu": "2", "memory": "2Gi", "pods": "110"}


def pod_yaml(name: str, *, memory: str = "64Mi", cpu: str = "100m", extra: str = "", labels: str = "") -> str:
    return f"""apiVersion: v1
kind: Pod
metadata:
  name: {name}
{labels}spec:
{extra}  containers:
  - name: c
    image: busybox
    resources:
      requests: {{cpu: "{cpu}", memory: "{memory}"}}
"""


def node_of(c: Cluster, name: str) -> str:
    return get_json(c, "pod", name)["spec"].get("nodeName", "")


def scheduled_condition(c: Cluster, name: str) -> dict:
    conds = get_json(c, "pod", name).get("status", {}).get("conditions") or []
    return next((x for x in conds if x["type"] == "PodScheduled"), {})


def test_pending_with_reasons_then_scheduled_on_new_node(tmp_path: Path) -> None:
    with scheduler_cluster(tmp_path, ["node-1", "node-2"], capacity=SMALL) as (c, h):
        out = c.kubectl("taint", "nodes", "node-2", "dedicated=gpu:NoSchedule").out
        assert "node/node-2 tainted" in out
        c.kubectl("apply", "-f", "-", input=pod_yaml("big", memory="3Gi"))
        want = ("0/2 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint "
                "{dedicated: gpu}. preemption: 0/2 nodes are available: 1 No preemption victims found for "
                "incoming pod, 1 Preemption is not helpful for scheduling.")
        cond = c.wait_for(lambda: scheduled_condition(c, "big").get("status") == "False"
                          and scheduled_condition(c, "big"), what="PodScheduled=False")
        assert cond["reason"] == "Unschedulable"
        assert cond["message"] == want
        assert get_json(c, "pod", "big")["status"]["phase"] == "Pending"
        described = c.wait_for(lambda: (d := c.kubectl("describe", "pod", "big").out) and "FailedScheduling" in d
                               and d, what="FailedScheduling event")
        assert "default-scheduler" in described and want in " ".join(described.split())
        cond_lines = [ln.split() for ln in described.splitlines() if ln.strip().startswith("PodScheduled")]
        assert cond_lines == [["PodScheduled", "False"]]

        h.add_node("node-3", {"cpu": "4", "memory": "8Gi", "pods": "110"})
        c.wait_for(lambda: node_of(c, "big") == "node-3", what="big bound to node-3")
        assert scheduled_condition(c, "big")["status"] == "True"
        events = c.wait_for(lambda: (e := c.kubectl("get", "events", "--field-selector",
                                                    "involvedObject.name=big,reason=Scheduled").out)
                            and "Successfully assigned" in e and e, what="Scheduled event")
        assert "Successfully assigned default/big to node-3" in events


def test_fills_up_then_too_many_pods(tmp_path: Path) -> None:
    with scheduler_cluster(tmp_path, ["node-1", "node-2"], capacity={"cpu": "2", "memory": "2Gi", "pods": "2"}) as (c, h):
        for i in range(5):
            c.kubectl("apply", "-f", "-", input=pod_yaml(f"p{i}"))
        c.wait_for(lambda: sum(1 for n in pods_by_node(c).values() if n) == 4, what="4 pods bound")
        placed = pods_by_node(c)
        assert sorted(n for n in placed.values() if n) == ["node-1", "node-1", "node-2", "node-2"]
        pending = next(p for p, n in placed.items() if not n)
        cond = c.wait_for(lambda: scheduled_condition(c, pending).get("message"), what="message")
        assert cond.startswith("0/2 nodes are available: 2 Too many pods.")
        # Deleting a pod frees a slot: the pending pod takes it.
        c.kubectl("delete", "pod", next(p for p, n in placed.items() if n), "--wait=false")
        c.wait_for(lambda: node_of(c, pending) != "", what="pending pod bound after a delete")


def test_taints_tolerations_cordon(tmp_path: Path) -> None:
    with scheduler_cluster(tmp_path, ["node-1", "node-2"], capacity=SMALL) as (c, h):
        c.kubectl("taint", "nodes", "node-1", "dedicated=gpu:NoSchedule")
        c.kubectl("cordon", "node-2")
        assert get_json(c, "node", "node-2")["spec"]["unschedulable"] is True
        c.kubectl("apply", "-f", "-", input=pod_yaml("plain"))
        msg = c.wait_for(lambda: scheduled_condition(c, "plain").get("message"), what="message")
        assert msg.startswith("0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
                              "1 node(s) were unschedulable.")
        tol = ("  tolerations:\n  - {key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}\n")
        c.kubectl("apply", "-f", "-", input=pod_yaml("gpu", extra=tol))
        c.wait_for(lambda: node_of(c, "gpu") == "node-1", what="tolerating pod on the tainted node")
        c.kubectl("uncordon", "node-2")
        c.wait_for(lambda: node_of(c, "plain") == "node-2", what="pending pod on the uncordoned node")
        out = c.kubectl("taint", "nodes", "node-1", "dedicated=gpu:NoSchedule-").out
        assert "node/node-1 untainted" in out
        assert not get_json(c, "node", "node-1")["spec"].get("taints")


def test_anti_affinity_spreads_replicas_and_other_schedulers_are_ignored(tmp_path: Path) -> None:
    with scheduler_cluster(tmp_path, ["node-1", "node-2", "node-3"], capacity=SMALL) as (c, h):
        deploy = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: web}}
            topologyKey: kubernetes.io/hostname
      containers: [{name: c, image: busybox}]
"""
        c.kubectl("apply", "-f", "-", input=deploy)
        c.wait_for(lambda: len(pods_by_node(c, selector="app=web")) == 4
                   and sum(1 for n in pods_by_node(c, selector="app=web").values() if n) == 3, what="3 bound")
        placed = pods_by_node(c, selector="app=web")
        assert sorted(n for n in placed.values() if n) == ["node-1", "node-2", "node-3"]
        pending = next(p for p, n in placed.items() if not n)
        msg = c.wait_for(lambda: scheduled_condition(c, pending).get("message"), what="message")
        assert msg == ("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: "
                       "0/3 nodes are available: 3 No preemption victims found for incoming pod.")
        c.kubectl("apply", "-f", "-", input=pod_yaml("mine", extra="  schedulerName: my-scheduler\n"))
        c.kubectl("apply", "-f", "-", input=pod_yaml("marker"))
        c.wait_for(lambda: node_of(c, "marker") != "", what="a later pod bound")
        other = get_json(c, "pod", "mine")
        assert not other["spec"].get("nodeName")
        assert not [x for x in other.get("status", {}).get("conditions") or [] if x["type"] == "PodScheduled"]
        assert json.loads(c.kubectl("get", "events", "--field-selector", "involvedObject.name=mine",
                                    "-o", "json").out)["items"] == []


def test_run_functions_with_leader_election(tmp_path: Path) -> None:
    """The entry points `mizzen scheduler` / `mizzen up` call: run_scheduler (behind the
    kube-scheduler Lease), run_node_lifecycle and run_disruption_controller."""
    import asyncio
    import threading

    from controllers.disruption import run_disruption_controller
    from controllers.nodelifecycle import run_node_lifecycle
    from controllers.scheduler import run_scheduler
    from kubelet.simulated import run_simulated_nodes

    with Cluster.start(tmp_path, command="apiserver") as c:
        loop = asyncio.new_event_loop()
        stop_holder: list[asyncio.Event] = []

        async def main() -> None:
            stop = asyncio.Event()
            stop_holder.append(stop)
            kc = str(c.kubeconfig)
            await asyncio.gather(run_scheduler(kc, stop=stop), run_node_lifecycle(kc, stop=stop),
                                 run_disruption_controller(kc, stop=stop),
                                 run_simulated_nodes(kc, ["node-1"], stop=stop))
        t = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        t.start()
        try:
            c.kubectl("apply", "-f", "-", input=pod_yaml("p"))
            c.wait_for(lambda: node_of(c, "p") == "node-1", what="bound by run_scheduler")
            lease = get_json(c, "lease", "-n", "kube-system", "kube-scheduler")
            assert lease["spec"]["holderIdentity"]
            c.kubectl("apply", "-f", "-", input="""apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: p}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: none}}
""")
            pdb = c.wait_for(lambda: (x := get_json(c, "pdb", "p")).get("status", {}).get("observedGeneration") and x,
                             what="PDB status")
            assert pdb["status"]["expectedPods"] == 0 and pdb["status"]["disruptionsAllowed"] == 0
        finally:
            if stop_holder:
                loop.call_soon_threadsafe(stop_holder[0].set)
            t.join(30)
            if not t.is_alive():
                loop.close()
