"""Node failure rehearsed with simulated nodes and the real kubectl: a node stops
heartbeating, turns NotReady with the unreachable taints, its Deployment pods are evicted
after their tolerationSeconds and come back on the other nodes; when every node goes silent
at once nothing is evicted; `kubectl drain` is held back by a PodDisruptionBudget, then
allowed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_scheduler_harness import get_json, pods_by_node, scheduler_cluster

pytestmark = pytest.mark.e2e

NODES = ["node-1", "node-2", "node-3"]
TOLERATE_2S = """      tolerations:
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
"""


def deployment(name: str, replicas: int, extra: str = TOLERATE_2S) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
{extra}      containers: [{{name: c, image: busybox}}]
"""


def ready_status(c, node: str) -> str:  # type: ignore[no-untyped-def]
    conds = get_json(c, "node", node)["status"].get("conditions") or []
    return next((x["status"] for x in conds if x["type"] == "Ready"), "")


def taints(c, node: str) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(t["key"], t["effect"]) for t in get_json(c, "node", node)["spec"].get("taints") or []}


def running_elsewhere(c, app: str, dead: str, n: int) -> bool:  # type: ignore[no-untyped-def]
    pods = [p for p in get_json(c, "pods", "-l", f"app={app}")["items"] if not p["metadata"].get("deletionTimestamp")]
    return (len(pods) == n and all(p["spec"].get("nodeName") not in ("", None, dead) for p in pods)
            and all(p.get("status", {}).get("phase") == "Running" for p in pods))


def test_dead_node_pods_move_to_healthy_nodes(tmp_path: Path) -> None:
    # A grace period many heartbeats long: on a loaded machine a 2 s one can let the healthy
    # nodes' leases lapse too, and then the controller rightly stops evicting altogether.
    with scheduler_cluster(tmp_path, NODES, node_monitor_grace_period=5.0, lease_renew_seconds=0.3) as (c, h):
        c.kubectl("apply", "-f", "-", input=deployment("web", 3))
        c.wait_for(lambda: sum(1 for n in pods_by_node(c, selector="app=web").values() if n) == 3
                   and c.kubectl("get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}").out == "3",
                   what="3 ready replicas")
        placed = pods_by_node(c, selector="app=web")
        dead = sorted(placed.values())[0]
        victims = {p for p, n in placed.items() if n == dead}

        h.stop_node(dead)
        c.wait_for(lambda: ready_status(c, dead) == "Unknown", timeout=30, what="node Unknown")
        line = next(x for x in c.kubectl("get", "nodes").out.splitlines() if x.startswith(dead))
        assert line.split()[1] == "NotReady"
        node = get_json(c, "node", dead)
        ready = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
        assert (ready["reason"], ready["message"]) == ("NodeStatusUnknown", "Kubelet stopped posting node status.")
        c.wait_for(lambda: {("node.kubernetes.io/unreachable", "NoExecute"),
                            ("node.kubernetes.io/unreachable", "NoSchedule")} <= taints(c, dead), what="taints")
        # After the 2 s toleration the pods are evicted and replaced on the healthy nodes.
        c.wait_for(lambda: running_elsewhere(c, "web", dead, 3), timeout=60, what="replicas on the other nodes")
        gone = get_json(c, "pod", sorted(victims)[0])  # Terminating: its kubelet is not there to finish it
        assert gone["metadata"].get("deletionTimestamp")
        target = next(x for x in gone["status"]["conditions"] if x["type"] == "DisruptionTarget")
        assert (target["status"], target["reason"]) == ("True", "DeletionByTaintManager")
        assert next(x for x in gone["status"]["conditions"] if x["type"] == "Ready")["status"] == "False"
        assert not victims & set(pods_by_node(c, selector="app=web"))
        ev = c.kubectl("get", "events", "--field-selector", "reason=TaintManagerEviction").out
        assert f"Marking for deletion Pod default/{sorted(victims)[0]}" in ev

        h.start_node(dead)
        c.wait_for(lambda: ready_status(c, dead) == "True", what="node Ready again")
        c.wait_for(lambda: not {t for t in taints(c, dead) if t[0].startswith("node.kubernetes.io/")},
                   what="taints removed")
        c.kubectl("scale", "deploy", "web", "--replicas=6")
        c.wait_for(lambda: dead in pods_by_node(c, selector="app=web").values(), what="scheduling on it resumed")


def test_no_mass_eviction_when_every_node_goes_silent(tmp_path: Path) -> None:
    with scheduler_cluster(tmp_path, NODES, node_monitor_grace_period=2.0, lease_renew_seconds=0.3) as (c, h):
        c.kubectl("apply", "-f", "-", input=deployment("web", 3))
        c.wait_for(lambda: sum(1 for n in pods_by_node(c, selector="app=web").values() if n) == 3, what="bound")
        before = set(pods_by_node(c, selector="app=web"))
        for n in NODES:
            h.stop_node(n)
        c.wait_for(lambda: all(ready_status(c, n) == "Unknown" for n in NODES), timeout=30, what="all Unknown")
        lifecycle = next(x for x in h.ctrls if x.name == "nodelifecycle")
        c.wait_for(lambda: lifecycle.disrupted_mode, what="full disruption noticed")
        time.sleep(4)  # longer than the pods' 2 s toleration: nothing may happen meanwhile
        assert set(pods_by_node(c, selector="app=web")) == before
        assert lifecycle.evicted == 0
        for n in NODES:
            assert ("node.kubernetes.io/unreachable", "NoExecute") not in taints(c, n)
            assert ("node.kubernetes.io/unreachable", "NoSchedule") in taints(c, n)
        for n in NODES:
            h.start_node(n)
        c.wait_for(lambda: all(ready_status(c, n) == "True" for n in NODES), what="all Ready")
        c.wait_for(lambda: not any(taints(c, n) for n in NODES), what="taints removed")
        assert set(pods_by_node(c, selector="app=web")) == before


def test_drain_blocked_by_pdb_then_allowed(tmp_path: Path) -> None:
    with scheduler_cluster(tmp_path, ["node-1", "node-2"]) as (c, h):
        c.kubectl("apply", "-f", "-", input=deployment("web", 2, extra=""))
        c.kubectl("apply", "-f", "-", input="""apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
""")
        c.wait_for(lambda: c.kubectl("get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}").out == "2",
                   what="2 ready")
        pdb = c.wait_for(lambda: (p := get_json(c, "pdb", "web")).get("status", {}).get("currentHealthy") == 2 and p,
                         what="PDB status")
        st = pdb["status"]
        assert (st["expectedPods"], st["desiredHealthy"], st["disruptionsAllowed"]) == (2, 2, 0)
        assert st["observedGeneration"] == pdb["metadata"]["generation"]
        cond = next(x for x in st["conditions"] if x["type"] == "DisruptionAllowed")
        assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")
        line = c.kubectl("get", "pdb", "web").out.splitlines()[1].split()
        assert line[:4] == ["web", "2", "N/A", "0"]

        target = sorted(pods_by_node(c, selector="app=web").values())[0]
        r = c.kubectl("drain", target, "--ignore-daemonsets", "--timeout=3s", check=False, timeout=60)
        assert r.code != 0
        assert "Cannot evict pod as it would violate the pod's disruption budget" in r.err
        assert get_json(c, "node", target)["spec"].get("unschedulable") is True
        assert len(pods_by_node(c, selector="app=web")) == 2

        c.kubectl("patch", "pdb", "web", "--type=merge", "-p", '{"spec":{"minAvailable":1}}')
        c.wait_for(lambda: get_json(c, "pdb", "web")["status"].get("disruptionsAllowed") == 1, what="1 allowed")
        r = c.kubectl("drain", target, "--ignore-daemonsets", "--timeout=90s", timeout=120)
        assert f"node/{target} drained" in r.out
        c.wait_for(lambda: running_elsewhere(c, "web", target, 2), timeout=30, what="both replicas elsewhere")
