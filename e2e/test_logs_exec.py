"""kubectl logs, exec, cp and port-forward through the API server's proxy to the kubelet
server, against real containers.

Wiring: the API server runs as `mizzen apiserver`; this module runs a runtime and the kubelet
server in a thread of its own (its own event loop), registers a Node whose
`daemonEndpoints.kubeletEndpoint.Port` points at that server, and plays the pod worker's part
(start the container, write the pod status) so these tests do not depend on the kubelet agent.
Everything (containers, network namespaces, cgroups, the server) is removed at the end."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mizzen.testing import BackgroundLoop, Cluster

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/busybox"),
                       reason="needs root and busybox-static"),
]

NODE = "node-kubelet-server"


class Node(BackgroundLoop):
    """A runtime and a kubelet server (no kubelet agent) on a background event loop."""

    def __init__(self, data_dir: Path, token: str) -> None:
        super().__init__()
        self.data_dir, self.token = data_dir, token
        self.port = 0
        self.rt: Any = None

    async def main(self, stop: asyncio.Event) -> None:
        from kubelet.images import ImageStore
        from kubelet.runtime import Runtime
        from kubelet.server import KubeletServer, token_authenticator

        images = ImageStore(str(self.data_dir / "images"))
        await asyncio.to_thread(images.ensure_busybox)
        self.rt = Runtime(str(self.data_dir / "node"), images=images, name=f"mizzen-e2e-{secrets.token_hex(4)}")
        await self.rt.start()
        server = KubeletServer(self.rt, authenticate=token_authenticator(self.token))
        try:
            self.port = await server.start()
            self.ready.set()
            await stop.wait()
        finally:
            await server.stop()
            try:
                await self.rt.cleanup_all()
            finally:
                await self.rt.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Node]]:
    tmp = tmp_path_factory.mktemp("logs-exec")
    with Cluster.start(tmp, command="apiserver") as c:
        from apiserver.pki import admin_token
        token = admin_token(json.loads((c.data_dir / "tokens.json").read_text()))
        node = Node(tmp / "kubelet", token)
        node.start()
        try:
            c.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node",
                                                            "metadata": {"name": NODE}}))
            status = {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                               {"type": "Hostname", "address": NODE}],
                                 "daemonEndpoints": {"kubeletEndpoint": {"Port": node.port}}}}
            c.kubectl("patch", "node", NODE, "--subresource=status", "--type=merge", "-p", json.dumps(status))
            yield c, node
        finally:
            node.stop()
    assert not node.rt.cgroups.exists(""), "cgroups left behind"
    assert not [n for n in os.listdir("/run/netns") if n.startswith(node.rt.name)] if os.path.isdir(
        "/run/netns") else True


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_pod(c: Cluster, node: Node, name: str, containers: dict[str, str], *, network: bool = False,
            annotations: dict[str, str] | None = None) -> dict[str, str]:
    """Create the pod bound to the node, start its containers, report them running.
    Returns container name -> runtime container id."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "annotations": annotations or {}},
           "spec": {"nodeName": NODE, "containers": [{"name": n, "image": "busybox"} for n in containers]}}
    c.kubectl("create", "-f", "-", input=json.dumps(pod))
    uid = c.kubectl("get", "pod", name, "-o", "jsonpath={.metadata.uid}").out
    from kubelet.runtime import ContainerSpec
    netns = node.call(node.rt.create_pod_netns(uid)) if network else None
    ids = {}
    for cname, script in containers.items():
        h = node.call(node.rt.start_container(ContainerSpec(
            pod_uid=uid, pod_name=name, namespace="default", name=cname, image="busybox",
            command=["sh", "-c", script], netns_path=netns)))
        ids[cname] = h.id
    report(c, name, [{"name": n, "ready": True, "restartCount": 0, "image": "busybox", "imageID": "busybox",
                      "containerID": f"mizzen://{ids[n]}", "started": True,
                      "state": {"running": {"startedAt": now()}}} for n in containers])
    return ids


def report(c: Cluster, name: str, statuses: list[dict[str, Any]], phase: str = "Running") -> None:
    c.kubectl("patch", "pod", name, "--subresource=status", "--type=merge", "-p",
              json.dumps({"status": {"phase": phase, "hostIP": "127.0.0.1", "startTime": now(),
                                     "containerStatuses": statuses}}))


def wait_logged(c: Cluster, pod: str, text: str, *args: str) -> str:
    def logged() -> str:
        out = c.kubectl("logs", pod, *args).out
        return out if text in out else ""
    return c.wait_for(logged, what=f"{text!r} in the logs of {pod}")


def test_logs_tail_timestamps_container_and_previous(env) -> None:
    c, node = env
    ids = run_pod(c, node, "logger", {"main": "for i in 1 2 3 4 5; do echo line$i; done; sleep 3600",
                                      "side": "echo from the side; sleep 3600"},
                  annotations={"kubectl.kubernetes.io/default-container": "main"})
    assert wait_logged(c, "logger", "line5") == "line1\nline2\nline3\nline4\nline5\n"
    assert c.kubectl("logs", "logger", "--tail=2").out == "line4\nline5\n"
    stamped = c.kubectl("logs", "logger", "--timestamps", "--tail=1").out
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z line5\n", stamped)
    assert c.kubectl("logs", "logger", "--since=1h", "--tail=1").out == "line5\n"
    assert wait_logged(c, "logger", "side", "-c", "side") == "from the side\n"
    r = c.kubectl("logs", "logger", "--previous", check=False)
    assert r.code == 1
    assert 'previous terminated container "main" in pod "logger" not found' in r.err
    # a restart: attempt 0 exited, attempt 1 runs; --previous shows the first
    from kubelet.runtime import ContainerSpec
    node.call(node.rt.stop_container(ids["main"], 1))
    uid = c.kubectl("get", "pod", "logger", "-o", "jsonpath={.metadata.uid}").out
    h = node.call(node.rt.start_container(ContainerSpec(
        pod_uid=uid, pod_name="logger", namespace="default", name="main", image="busybox",
        command=["sh", "-c", "echo second life; sleep 3600"], attempt=1)))
    report(c, "logger", [
        {"name": "main", "ready": True, "restartCount": 1, "image": "busybox", "imageID": "busybox",
         "containerID": f"mizzen://{h.id}", "state": {"running": {"startedAt": now()}},
         "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": now(), "finishedAt": now()}}},
        {"name": "side", "ready": True, "restartCount": 0, "image": "busybox", "imageID": "busybox",
         "containerID": f"mizzen://{ids['side']}", "state": {"running": {"startedAt": now()}}}])
    assert wait_logged(c, "logger", "second life") == "second life\n"
    assert c.kubectl("logs", "logger", "-p").out == "line1\nline2\nline3\nline4\nline5\n"


def test_logs_follow_ends_with_the_container(env) -> None:
    c, node = env
    ids = run_pod(c, node, "follower", {"c": "echo start; while true; do read x || sleep 1; done"})
    proc = c.kubectl_bg("logs", "-f", "follower")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "start\n"
        node.call(node.rt.stop_container(ids["c"], 1))
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0 and out == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_attach_shows_output_until_the_container_exits(env) -> None:
    c, node = env
    ids = run_pod(c, node, "ticker", {"c": "while true; do echo tick; sleep 0.2; done"})
    proc = c.kubectl_bg("attach", "ticker")
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "tick\n"
        node.call(node.rt.stop_container(ids["c"], 1))
        proc.communicate(timeout=30)
        assert proc.returncode == 137   # attach exits with the container's code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_logs_errors_as_kubernetes(env) -> None:
    c, _node = env
    c.kubectl("run", "nohost", "--image=busybox", "--restart=Never")
    r = c.kubectl("exec", "nohost", "--", "true", check=False)
    assert r.code == 1 and "pod nohost does not have a host assigned" in r.err
    r = c.kubectl("logs", "nohost", check=False)
    assert r.code == 1 and r.err.strip() == \
        "Error from server (BadRequest): pod nohost does not have a host assigned"
    c.kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "creating"},
        "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}))
    report(c, "creating", [{"name": "c", "ready": False, "restartCount": 0, "image": "busybox", "imageID": "",
                            "state": {"waiting": {"reason": "ContainerCreating"}}}], phase="Pending")
    r = c.kubectl("logs", "creating", check=False)
    assert r.err.strip() == ('Error from server (BadRequest): container "c" in pod "creating" is waiting '
                                'to start: ContainerCreating')
    r = c.kubectl("logs", "creating", "-c", "nope", check=False)
    assert r.code == 1 and "container nope is not valid for pod creating" in r.err
    r = c.kubectl("exec", "creating", "--", "true", check=False)
    assert r.code == 1
    assert r.err.strip() == ('Error from server (BadRequest): container "c" in pod "creating" is waiting '
                             'to start: ContainerCreating')


def test_exec_exit_codes_stdin_and_cp(env, tmp_path: Path) -> None:
    c, node = env
    run_pod(c, node, "shell", {"c": "sleep 3600"})
    assert c.kubectl("exec", "shell", "--", "sh", "-c", "echo out; echo err >&2").out == "out\n"
    r = c.kubectl("exec", "shell", "--", "sh", "-c", "exit 3", check=False)
    assert r.code == 3 and "command terminated with exit code 3" in r.err
    assert c.kubectl("exec", "-i", "shell", "--", "sh", "-c", "tr a-z A-Z",
                     input="hello stdin\n").out == "HELLO STDIN\n"
    assert c.kubectl("exec", "shell", "-c", "c", "--", "hostname").out == "shell\n"
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(300_000))
    c.kubectl("cp", str(payload), "shell:/tmp/payload.bin")
    assert c.kubectl("exec", "shell", "--", "wc", "-c", "/tmp/payload.bin").out.split()[0] == "300000"
    back = tmp_path / "back.bin"
    c.kubectl("cp", "shell:/tmp/payload.bin", str(back))
    assert back.read_bytes() == payload.read_bytes()
    # kubectl sends its terminal's size on the resize channel: the container's terminal has it
    # (script's own stdin stays open and silent: at its end, script would type an EOF into the
    # terminal, which the container's terminal may echo before the command's output)
    with subprocess.Popen(["script", "-qec", "stty rows 33 cols 101; kubectl exec -it shell -- sh -c 'tty; stty size'",
                           "/dev/null"], env=c.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as script:
        assert script.stdout is not None and script.stdin is not None
        out = script.stdout.read()  # until script exits with kubectl
        script.stdin.close()
        code = script.wait(60)
    assert code == 0, out
    assert "/dev/pts/" in out, out
    assert "33 101" in [line.strip() for line in out.splitlines()], out


def test_port_forward_to_busybox_httpd(env) -> None:
    c, node = env
    run_pod(c, node, "web", {"httpd": "mkdir -p /www && echo hello through port-forward > /www/index.html "
                                      "&& dd if=/dev/urandom of=/www/big bs=1M count=8 2>/dev/null "
                                      "&& md5sum /www/big > /www/big.md5 && exec httpd -f -p 8080 -h /www"},
            network=True)
    # kubectl port-forward gives up on its first refused connection: wait for httpd to listen
    c.wait_for(lambda: c.kubectl("exec", "web", "--", "wget", "-qO-", "http://127.0.0.1:8080/", check=False).code == 0,
               timeout=60, what="httpd listening")
    proc = subprocess.Popen(["kubectl", "port-forward", "pod/web", ":8080"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=c.env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", line)
        assert m, line + (proc.stderr.read() if proc.stderr else "")
        url = f"http://127.0.0.1:{m.group(1)}/"

        def fetch() -> str:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    return resp.read().decode()
            except OSError:
                return ""
        assert c.wait_for(fetch, what="an answer through port-forward") == "hello through port-forward\n"
        assert fetch() == "hello through port-forward\n"   # a second connection on the same session
        with urllib.request.urlopen(url + "big.md5", timeout=10) as resp:
            expected = resp.read().decode().split()[0]
        with urllib.request.urlopen(url + "big", timeout=60) as resp:
            big = resp.read()
        assert len(big) == 8 << 20 and hashlib.md5(big).hexdigest() == expected
    finally:
        proc.terminate()
        proc.wait(10)


def test_port_forward_to_a_closed_port_reports_the_refusal(env) -> None:
    c, _node = env
    proc = subprocess.Popen(["kubectl", "port-forward", "pod/shell", ":9999"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=c.env)
    try:
        assert proc.stdout is not None
        m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 9999", proc.stdout.readline())
        assert m
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/", timeout=10)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 1     # kubectl gives up on the first refused connection
        assert "an error occurred forwarding" in err and "connect: connection refused" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_official_python_client_exec_and_logs(env) -> None:
    """The `kubernetes` package's stream helper (websocket-client, v4.channel.k8s.io)."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    c, _node = env
    api = client.CoreV1Api(config.new_client_from_config(config_file=str(c.kubeconfig)))
    resp = stream(api.connect_get_namespaced_pod_exec, "shell", "default",
                  command=["sh", "-c", "echo from python; exit 4"], stderr=True, stdin=False, stdout=True,
                  tty=False, _preload_content=False)
    resp.run_forever(timeout=30)
    assert resp.read_stdout() == "from python\n"
    assert resp.returncode == 4
    assert api.read_namespaced_pod_log("logger", "default", container="side") == "from the side\n"
