"""The node-failure rehearsal a user runs, through `mizzen up` itself:

    mizzen up --nodes 3 --runtime simulated --node-monitor-grace-period 3 --default-toleration-seconds 5
    kubectl create deployment web --image=busybox --replicas=3
    mizzen node stop node-X     # its pods come back on the other nodes after ~3 + 5 s
    mizzen node start node-X    # Ready again, taints gone

A grace period of 3 s needs kubelets that renew their Lease well within it (Kubernetes
renews every quarter of the lease duration); the test runs once the simulated kubelet can be
told its renewal interval (`SimulatedNodes(lease_renew_seconds=...)`), which `mizzen up`
must derive from `--node-monitor-grace-period`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mizzen.testing import Cluster

pytestmark = [pytest.mark.e2e]


def mizzen(c: Cluster, *args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "mizzen.cli", *args, "--data-dir", str(c.data_dir)],
                       capture_output=True, text=True, timeout=30, check=True)
    return p.stdout


def web_pods(c: Cluster) -> list[dict]:
    return [p for p in json.loads(c.kubectl("get", "pods", "-l", "app=web", "-o", "json").out)["items"]
            if not p["metadata"].get("deletionTimestamp")]


def node_status(c: Cluster, name: str) -> str:
    line = next(x for x in c.kubectl("get", "nodes", "--no-headers").out.splitlines() if x.split()[0] == name)
    return line.split()[1]


def test_mizzen_node_stop_moves_deployment_pods(tmp_path: Path) -> None:
    with Cluster.start(tmp_path, "--nodes", "3", "--runtime", "simulated", "--node-monitor-grace-period", "3",
                       "--default-toleration-seconds", "5") as c:
        c.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=3")
        c.wait_for(lambda: c.kubectl("get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}").out == "3",
                   what="3 ready replicas")
        pods = web_pods(c)
        tolerations = {t["key"]: t.get("tolerationSeconds") for t in pods[0]["spec"]["tolerations"]}
        assert tolerations == {"node.kubernetes.io/not-ready": 5, "node.kubernetes.io/unreachable": 5}
        dead = sorted(p["spec"]["nodeName"] for p in pods)[0]
        assert "kubelet stopping" in mizzen(c, "node", "stop", dead)
        c.wait_for(lambda: node_status(c, dead) == "NotReady", timeout=30, what="NotReady")
        assert {n for n in ("node-1", "node-2", "node-3") if n != dead} == {
            n for n in ("node-1", "node-2", "node-3") if node_status(c, n) == "Ready"}
        c.wait_for(lambda: len(pods := web_pods(c)) == 3 and all(p["spec"].get("nodeName") not in (None, dead)
                                                               and p["status"].get("phase") == "Running"
                                                               for p in pods),
                   timeout=60, what="replicas running on the other nodes")
        mizzen(c, "node", "start", dead)
        c.wait_for(lambda: node_status(c, dead) == "Ready", timeout=30, what="Ready again")
        c.wait_for(lambda: not json.loads(c.kubectl("get", "node", dead, "-o", "json").out)["spec"].get("taints"),
                   what="taints removed")
