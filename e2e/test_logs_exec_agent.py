"""kubectl logs, exec and port-forward of pods run by the real kubelet agent (pod workers,
restarts) through the kubelet server: the agent's containers, names and log files as the
server finds them.

Wiring: `mizzen up --runtime none` (API server, controllers, scheduler), and in this process a
`kubelet.agent.Kubelet` whose node advertises a `KubeletServer` on the same runtime, the way
`run_kubelet` is to wire it.  Everything is removed at the end (`cleanup=True`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mizzen.testing import AgentNode, Cluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
                       reason="needs root and busybox-static"),
]

NODE = "node-agent-server"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    pytest.importorskip("kubelet.agent")
    tmp = tmp_path_factory.mktemp("agent-server")
    with Cluster.start(tmp, "--runtime", "none") as c:
        node = AgentNode(c.kubeconfig, tmp / "kubelet", NODE, user_agent="kubelet-e2e", backoff_base=0.2)
        node.start()
        try:
            c.wait_for(lambda: c.kubectl("get", "node", NODE, check=False).code == 0, what="node registered")
            yield c
        finally:
            node.stop()
    rt = node.runtime
    assert rt is not None and not rt.cgroups.exists(""), "cgroups left behind"


def pod_manifest(name: str, script: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                                "volumes": [{"name": "data", "emptyDir": {}}],
                                "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                                                "command": ["sh", "-c", script],
                                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}})


def test_logs_exec_of_an_agent_pod_and_previous_after_a_restart(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("create", "-f", "-", input=pod_manifest(
        "crasher", "if [ -e /data/ran ]; then echo second; sleep 3600; fi; touch /data/ran; echo first; exit 2"))
    c.kubectl("wait", "--for=jsonpath={.status.containerStatuses[0].restartCount}=1", "pod/crasher",
              "--timeout=60s")
    c.kubectl("wait", "--for=condition=Ready", "pod/crasher", "--timeout=60s")
    assert c.kubectl("logs", "crasher", "-p").out == "first\n"
    assert c.kubectl("logs", "crasher").out == "second\n"
    r = c.kubectl("exec", "crasher", "--", "sh", "-c", "hostname; exit 5", check=False)
    assert (r.code, r.out) == (5, "crasher\n")
    assert c.kubectl("exec", "-i", "crasher", "--", "cat", input="round trip\n").out == "round trip\n"


def test_port_forward_to_an_agent_pod(cluster: Cluster) -> None:
    c = cluster
    c.kubectl("create", "-f", "-", input=pod_manifest(
        "httpd", "mkdir -p /www && echo served by the agent > /www/index.html && exec httpd -f -p 8080 -h /www"))
    c.kubectl("wait", "--for=condition=Ready", "pod/httpd", "--timeout=60s")
    # kubectl port-forward gives up on its first refused connection: wait for httpd to listen
    c.wait_for(lambda: c.kubectl("exec", "httpd", "--", "wget", "-qO-", "http://127.0.0.1:8080/", check=False).code == 0,
               timeout=60, what="httpd listening")
    proc = subprocess.Popen(["kubectl", "port-forward", "pod/httpd", ":8080"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=c.env)
    try:
        assert proc.stdout is not None
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", proc.stdout.readline())
        assert m

        def fetch() -> str:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/", timeout=5) as resp:
                    return resp.read().decode()
            except OSError:
                return ""
        assert c.wait_for(fetch, what="an answer through port-forward") == "served by the agent\n"
    finally:
        proc.terminate()
        proc.wait(10)


def test_mizzen_up_real_serves_logs_and_exec(tmp_path: Path) -> None:
    """`mizzen up --runtime real` as users run it: the kubelet server's port is advertised in
    the Node's daemonEndpoints, and logs and exec go through it."""
    with Cluster.start(tmp_path, "--runtime", "real", timeout=120) as c:
        def reported() -> Any:
            items = json.loads(c.kubectl("get", "nodes", "-o", "json").out)["items"]
            return items if items and items[0].get("status", {}).get("conditions") else None
        node = c.wait_for(reported, timeout=60, what="a node reporting its status")[0]
        port = node.get("status", {}).get("daemonEndpoints", {}).get("kubeletEndpoint", {}).get("Port", 0)
        assert port, "the Node advertises no kubelet port"
        c.kubectl("run", "hello", "--image=busybox", "--image-pull-policy=Never", "--",
                  "sh", "-c", "echo hello from mizzen; sleep 3600")
        c.kubectl("wait", "--for=condition=Ready", "pod/hello", "--timeout=60s")
        c.wait_for(lambda: c.kubectl("logs", "hello").out == "hello from mizzen\n", what="logs")
        r = c.kubectl("exec", "hello", "--", "sh", "-c", "exit 3", check=False)
        assert r.code == 3
        c.kubectl("delete", "pod", "hello", "--grace-period=1")
