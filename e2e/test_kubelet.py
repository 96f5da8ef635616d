"""The real kubelet end to end: `mizzen up --runtime real` driven by the real kubectl, pods as
real processes. Each test checks what a user sees (kubectl get/describe output, container
output, files written by containers) and that a deleted pod leaves no process, mount, cgroup
or network namespace behind.

Container output is read with `kubectl logs` when the kubelet server answers it, else from
the container's CRI log file in the data dir. Everything the kubelet made is removed at the
end of the module even on failure (the runtime's cleanup_all on the same data dir)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing import Cluster

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/bin/busybox"), reason="needs root and busybox-static"),
]

CRI = re.compile(r"^\S+ (stdout|stderr) [FP] ?(.*)$")


def _cleanup_runtime(kubelet_dir: Path) -> str:
    from kubelet.runtime import Runtime
    if not (kubelet_dir / "runtime-name").exists():
        return ""
    rt = Runtime(str(kubelet_dir))
    rt.cleanup_all_sync()
    return rt.name


def _leftovers(name: str) -> list[str]:
    out = [line for line in Path("/proc/mounts").read_text().splitlines() if name in line]
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    out += [line for line in r.stdout.splitlines() if name in line]
    for root, dirs, _files in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d == name:
                out.append(os.path.join(root, d))
        if root.count("/") > 6:
            dirs[:] = []
    return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("kubelet")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MIZZEN_KUBELET_BACKOFF_BASE", "1")
        mp.setenv("MIZZEN_KUBELET_POD_PIDS_LIMIT", "40")
        c = Cluster.launch(tmp, "--runtime", "real")
    try:
        _wait_node_ready(c)
        yield c
    finally:
        c.stop()
        name = _cleanup_runtime(c.data_dir / "kubelet")
        if name:
            assert _leftovers(name) == []


def _wait_node_ready(c: Cluster) -> None:
    def ready() -> bool:
        r = c.kubectl("get", "node", "node-1", "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                      check=False)
        return r.out == "True"
    c.wait_for(ready, 60, what="node-1 Ready")


def _pod(c: Cluster, name: str) -> dict:
    return json.loads(c.kubectl("get", "pod", name, "-o", "json").out)


def _apply(c: Cluster, manifest: str) -> None:
    c.kubectl("apply", "-f", "-", input=manifest)


def _cs(c: Cluster, name: str) -> dict:
    """The pod's first container status ({} before the kubelet reported one)."""
    return ((_pod(c, name).get("status") or {}).get("containerStatuses") or [{}])[0]


def _status(c: Cluster, name: str) -> str:
    """The STATUS column of `kubectl get pod`."""
    out = c.kubectl("get", "pod", name, "--no-headers", check=False).out.split()
    return out[2] if len(out) > 2 else ""


def _wait_status(c: Cluster, name: str, *statuses: str, timeout: float = 60) -> str:
    return c.wait_for(lambda: (s := _status(c, name)) in statuses and s, timeout, what=f"{name} in {statuses}")


def _logs(c: Cluster, name: str, container: str | None = None) -> str:
    args = ["logs", name] + (["-c", container] if container else [])
    r = c.kubectl(*args, check=False)
    if r.code == 0:
        return r.out
    pod = _pod(c, name)
    m = pod["metadata"]
    cname = container or pod["spec"]["containers"][0]["name"]
    d = c.data_dir / "kubelet" / "logs" / f"{m['namespace']}_{m['name']}_{m['uid']}" / cname
    files = sorted(d.glob("*.log"), key=lambda p: int(p.stem)) if d.exists() else []
    if not files:
        return ""
    lines = []
    for line in files[-1].read_text().splitlines():
        mm = CRI.match(line)
        if mm:
            lines.append(mm.group(2))
    return "\n".join(lines) + "\n"


def _delete(c: Cluster, *names: str) -> None:
    c.kubectl("delete", "pod", *names, "--ignore-not-found", "--wait=true", timeout=90)


def _events(c: Cluster, name: str) -> str:
    return c.kubectl("get", "events", "--field-selector", f"involvedObject.name={name}", "-o",
                     "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message", "--no-headers").out


def _container_pid(c: Cluster, name: str) -> int:
    cid = _pod(c, name)["status"]["containerStatuses"][0]["containerID"].removeprefix("mizzen://")
    st = json.loads((c.data_dir / "kubelet" / "containers" / cid / "state.json").read_text())
    return int(st["pid"])


def _no_trace_of(uid: str, kubelet_dir: Path) -> list[str]:
    """Mounts, netns, cgroups and pod directories of a deleted pod that are still there."""
    out = [line for line in Path("/proc/mounts").read_text().splitlines() if uid in line]
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    out += [line for line in r.stdout.splitlines() if uid in line]
    for root, dirs, _f in os.walk("/sys/fs/cgroup"):
        out += [os.path.join(root, d) for d in dirs if uid in d]
        if root.count("/") > 8:
            dirs[:] = []
    if (kubelet_dir / "pods" / uid).exists():
        out.append(str(kubelet_dir / "pods" / uid))
    return out


def _wait_pid_gone(c: Cluster, pid: int) -> None:
    """The API server reaps a pod whose deletionTimestamp passed, so `kubectl delete` can
    return while the kubelet is killing a SIGTERM-ignoring container at that very instant."""
    def gone() -> bool:
        try:
            return "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return True
    c.wait_for(gone, 15, what=f"pid {pid} gone")


def _given_oom_score_adj(wanted: int) -> int:
    """The oom_score_adj a kubelet started by this test can give: without CAP_SYS_RESOURCE (as
    in some CI sandboxes) no lower than its own, which it inherited from this process."""
    from kubelet.runtime.linux import CAP_NUMBER
    status = Path("/proc/self/status").read_text()
    eff = int(re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.M).group(1), 16)  # type: ignore[union-attr]
    if eff >> CAP_NUMBER["SYS_RESOURCE"] & 1:
        return wanted
    return max(wanted, int(Path("/proc/self/oom_score_adj").read_text()))


def _wait_gone(c: Cluster, uid: str) -> None:
    """A deleted pod's resources go (asynchronously when the API object went first, as for
    a completed pod, which the API server deletes at once)."""
    c.wait_for(lambda: not _no_trace_of(uid, c.data_dir / "kubelet"), 30, what=f"cleanup of pod {uid}")


# --------------------------------------------------------------------------- tests


def test_node_registered_with_host_capacity(cluster: Cluster) -> None:
    node = json.loads(cluster.kubectl("get", "node", "node-1", "-o", "json").out)
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-1"
    assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"
    st = node["status"]
    assert st["capacity"]["pods"] == "110"
    assert int(st["capacity"]["cpu"].rstrip("m")) > 0
    assert st["nodeInfo"]["containerRuntimeVersion"] == "mizzen://0.1"
    assert st["nodeInfo"]["kubeletVersion"] == "v1.32.4-mizzen"
    conds = {x["type"]: x for x in st["conditions"]}
    assert conds["Ready"]["reason"] == "KubeletReady"
    assert conds["MemoryPressure"]["status"] == "False"
    lease = json.loads(cluster.kubectl("get", "lease", "-n", "kube-node-lease", "node-1", "-o", "json").out)
    assert lease["spec"]["holderIdentity"] == "node-1"


def test_isolation_pid_hostname_mounts_network(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: iso}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo "pid=$$$$"; echo "host=$(hostname)"; echo "pids=$(ls /proc | grep "^[0-9]" | tr "\\n" " ")";
      echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\\n" ,)";
      echo "root=$(grep " / " /proc/mounts | cut -d" " -f3)"']
""")
    _wait_status(cluster, "iso", "Completed")
    out = _logs(cluster, "iso")
    assert "pid=1\n" in out
    assert "host=iso\n" in out
    pids = [int(p) for p in re.search(r"pids=([0-9 ]*)", out).group(1).split()]  # type: ignore[union-attr]
    assert 1 in pids and max(pids) < 20                  # its own PID namespace: no host process
    assert "ifaces=lo,\n" in out                          # its own network namespace
    assert "root=overlay\n" in out
    ev = _events(cluster, "iso")
    for reason, message in (("Pulled", 'Container image "busybox" already present on machine'),
                            ("Created", "Created container c"), ("Started", "Started container c")):
        assert reason in ev and message in ev
    uid = _pod(cluster, "iso")["metadata"]["uid"]
    _delete(cluster, "iso")
    _wait_gone(cluster, uid)


def test_memory_limit_is_oom_killed(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'tail /dev/zero']
    resources: {limits: {memory: 32Mi}}
""")
    _wait_status(cluster, "oom", "OOMKilled")
    t = _pod(cluster, "oom")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (t["reason"], t["exitCode"]) == ("OOMKilled", 137)
    assert _pod(cluster, "oom")["status"]["phase"] == "Failed"
    _delete(cluster, "oom")


def test_cpu_limit_throttles(cluster: Cluster) -> None:
    from kubelet.runtime.cgroups import CgroupManager
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: cpu}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'while :; do :; done']
    resources: {limits: {cpu: 100m, memory: 64Mi}}
""")
    _wait_status(cluster, "cpu", "Running")
    cid = _pod(cluster, "cpu")["status"]["containerStatuses"][0]["containerID"].removeprefix("mizzen://")
    kdir = cluster.data_dir / "kubelet"
    cfg = json.loads((kdir / "containers" / cid / "config.json").read_text())
    cg = CgroupManager((kdir / "runtime-name").read_text().strip())
    assert cluster.wait_for(lambda: cg.stats(cfg["cgroup"]).nr_throttled > 0, 30, what="throttling")
    # Guaranteed: the container and what is exec'd into it are the last the OOM killer picks
    assert _pod(cluster, "cpu")["status"]["qosClass"] == "Guaranteed"
    out = cluster.kubectl("exec", "cpu", "--", "cat", "/proc/1/oom_score_adj", "/proc/self/oom_score_adj").out
    want = str(_given_oom_score_adj(-997))
    assert out.split() == [want, want]
    _delete(cluster, "cpu")


def test_pod_pids_limit(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: pids}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'for i in $(seq 60); do sleep 30 & done; echo "started=$(ls /proc | grep -c "^[0-9]")"']
""")
    _wait_status(cluster, "pids", "Completed", "Error")
    out = _logs(cluster, "pids")
    assert "can't fork" in out                            # MIZZEN_KUBELET_POD_PIDS_LIMIT=40
    m = re.search(r"started=(\d+)", out)
    assert m is None or int(m.group(1)) <= 40
    _delete(cluster, "pids")


def test_restart_policies_and_crash_loop(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  containers: [{name: c, image: busybox, command: [sh, -c, 'echo crashing; exit 3']}]
---
apiVersion: v1
kind: Pod
metadata: {name: onfail}
spec:
  restartPolicy: OnFailure
  containers: [{name: c, image: busybox, command: [sh, -c, 'exit 0']}]
---
apiVersion: v1
kind: Pod
metadata: {name: never}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [sh, -c, 'exit 2']}]
""")
    _wait_status(cluster, "onfail", "Completed")
    _wait_status(cluster, "never", "Error")
    assert _pod(cluster, "onfail")["status"]["phase"] == "Succeeded"
    never = _pod(cluster, "never")["status"]
    assert never["phase"] == "Failed" and never["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2

    def looping() -> dict | None:
        p = _cs(cluster, "crash")
        return p if p.get("restartCount", 0) >= 2 and "waiting" in p["state"] else None
    cs = cluster.wait_for(looping, 60, what="crash loop")
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert re.match(r"back-off \d+s restarting failed container=c pod=crash_default\(", cs["state"]["waiting"]["message"])
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert _pod(cluster, "crash")["status"]["phase"] == "Running"
    assert "BackOff" in _events(cluster, "crash")
    _delete(cluster, "crash", "onfail", "never")


def test_missing_image_never_pulled(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: noimg}
spec:
  containers: [{name: c, image: "example.com/nothing:1", imagePullPolicy: Never}]
---
apiVersion: v1
kind: Pod
metadata: {name: pullimg}
spec:
  containers: [{name: c, image: "example.com/nothing:1"}]
""")
    _wait_status(cluster, "noimg", "ErrImageNeverPull")
    w = _pod(cluster, "noimg")["status"]["containerStatuses"][0]["state"]["waiting"]
    assert w["message"] == 'Container image "example.com/nothing:1" is not present with pull policy of Never'
    _wait_status(cluster, "pullimg", "ImagePullBackOff")
    w = _pod(cluster, "pullimg")["status"]["containerStatuses"][0]["state"]["waiting"]
    assert w["message"].startswith('Back-off pulling image "example.com/nothing:1"')
    assert "mizzen image import" in w["message"]
    assert "Failed" in _events(cluster, "pullimg")
    _delete(cluster, "noimg", "pullimg")


def test_liveness_failure_restarts_the_container(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
    livenessProbe: {exec: {command: [cat, /nonexistent]}, periodSeconds: 1, failureThreshold: 2}
""")
    cluster.wait_for(lambda: _cs(cluster, "live").get("restartCount", 0) >= 1, 60,
                     what="a liveness restart")
    ev = _events(cluster, "live")
    assert "Liveness probe failed" in ev
    assert "Container c failed liveness probe, will be restarted" in ev
    _delete(cluster, "live")


def test_readiness_drives_ready(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: ready}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    command: [sh, -c, 'mkdir /www; echo ok > /www/index.html; sleep 2; exec httpd -f -p 8080 -h /www']
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /index.html, port: http}, periodSeconds: 1}
  - name: tcp
    image: busybox
    command: [sh, -c, 'sleep 1; exec nc -ll -p 9090 -e true']
    readinessProbe: {tcpSocket: {port: 9090}, periodSeconds: 1}
""")
    _wait_status(cluster, "ready", "Running")

    def ready() -> bool:
        conds = {x["type"]: x["status"] for x in _pod(cluster, "ready")["status"]["conditions"]}
        return conds.get("Ready") == "True" and conds.get("ContainersReady") == "True"
    cluster.wait_for(ready, 60, what="Ready")
    assert "Readiness probe failed" in _events(cluster, "ready")
    assert cluster.kubectl("get", "pod", "ready", "--no-headers").out.split()[1] == "2/2"
    _delete(cluster, "ready")


def test_graceful_termination(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _apply(cluster, f"""
apiVersion: v1
kind: Pod
metadata: {{name: trap}}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'trap "echo term > /out/trap; exit 0" TERM; while :; do sleep 0.1; done']
    lifecycle: {{preStop: {{exec: {{command: [sh, -c, 'echo pre > /out/prestop']}}}}}}
    volumeMounts: [{{name: out, mountPath: /out}}]
  volumes: [{{name: out, hostPath: {{path: {out}, type: Directory}}}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: stubborn}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'trap "" TERM; while :; do sleep 0.1; done']
""")
    _wait_status(cluster, "trap", "Running")
    _wait_status(cluster, "stubborn", "Running")
    pids = [_container_pid(cluster, "trap"), _container_pid(cluster, "stubborn")]
    uids = [_pod(cluster, n)["metadata"]["uid"] for n in ("trap", "stubborn")]
    _delete(cluster, "trap", "stubborn")
    assert (out / "prestop").read_text() == "pre\n"
    assert (out / "trap").read_text() == "term\n"
    for pid in pids:
        _wait_pid_gone(cluster, pid)
    ev = cluster.kubectl("get", "events", "-o", "custom-columns=R:.reason,M:.message", "--no-headers").out
    assert "Stopping container c" in ev
    for uid in uids:
        _wait_gone(cluster, uid)


def test_post_start_hooks(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: hooked}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo main >> /tmp/order; exec sleep 3600']
    lifecycle: {postStart: {exec: {command: [sh, -c, 'sleep 1; echo hook >> /tmp/order']}}}
---
apiVersion: v1
kind: Pod
metadata: {name: badhook}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
    lifecycle: {postStart: {exec: {command: [sh, -c, 'echo secret; exit 3']}}}
---
apiVersion: v1
kind: Pod
metadata: {name: badhttphook}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sleep, "3600"]
    lifecycle: {postStart: {httpGet: {scheme: HTTPS, path: /started, port: 8443}}}
""")

    def ready(name: str) -> bool:
        conds = {x["type"]: x["status"] for x in (_pod(cluster, name).get("status") or {}).get("conditions") or []}
        return conds.get("Ready") == "True"
    cluster.wait_for(lambda: ready("hooked"), 60, what="hooked Ready")
    # the container was reported ready only once its hook had finished
    assert sorted(cluster.kubectl("exec", "hooked", "--", "cat", "/tmp/order").out.split()) == ["hook", "main"]
    assert _cs(cluster, "hooked")["restartCount"] == 0
    # BestEffort: the container and what is exec'd into it are the first the OOM killer picks
    assert _pod(cluster, "hooked")["status"]["qosClass"] == "BestEffort"
    out = cluster.kubectl("exec", "hooked", "--", "cat", "/proc/1/oom_score_adj", "/proc/self/oom_score_adj").out
    assert out.split() == ["1000", "1000"]

    # a failing hook: the container is killed and restarted, and never becomes ready
    cluster.wait_for(lambda: _cs(cluster, "badhook").get("restartCount", 0) >= 1, 60, what="a postStart restart")
    assert not ready("badhook")
    def hook_events() -> str:
        ev = _events(cluster, "badhook")
        return ev if re.search(r"Warning\s+FailedPostStartHook\s+PostStartHook failed", ev) and \
            re.search(r"Normal\s+Killing\s+FailedPostStartHook", ev) else ""
    ev = cluster.wait_for(hook_events, 30, what="FailedPostStartHook and Killing events")
    assert "secret" not in ev

    # restartPolicy Never: killed once and left terminated, the pod Failed
    cluster.wait_for(lambda: _pod(cluster, "badhttphook")["status"].get("phase") == "Failed", 60,
                     what="badhttphook Failed")
    cluster.wait_for(lambda: "FailedPostStartHook" in _events(cluster, "badhttphook"), 30,
                     what="badhttphook's FailedPostStartHook event")
    _delete(cluster, "hooked", "badhook", "badhttphook")


def test_run_interactive_with_stdin(cluster: Cluster) -> None:
    """`kubectl run -i --rm`: kubectl's stdin reaches the container (stdin, stdinOnce), the
    end of it closes the container's stdin, and the pod is deleted afterwards."""
    r = cluster.kubectl("run", "stdin-echo", "-i", "--rm", "--restart=Never", "--image=busybox", "--",
                        "sh", "-c", "read x; echo got $x", input="hello\n", timeout=90)
    assert "got hello" in r.out
    r = cluster.kubectl("run", "stdin-cat", "-i", "--rm", "--restart=Never", "--image=busybox", "--",
                        "sh", "-c", "cat; echo eof", input="one\ntwo\n", timeout=90)
    assert r.out.splitlines()[:3] == ["one", "two", "eof"]
    for name in ("stdin-echo", "stdin-cat"):
        cluster.wait_for(lambda name=name: cluster.kubectl("get", "pod", name, check=False).code != 0, 30,
                         what=f"{name} deleted")


def test_attach_stdin_stays_open_without_stdin_once(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox
    stdin: true
    command: [sh, -c, 'while read l; do echo "line $l"; done; echo closed']
""")
    _wait_status(cluster, "reader", "Running")
    for word in ("a", "b"):
        proc = subprocess.Popen(["kubectl", "attach", "-i", "reader"], env=cluster.env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert proc.stdin is not None
            proc.stdin.write(f"{word}\n")
            proc.stdin.flush()
            cluster.wait_for(lambda word=word: f"line {word}" in _logs(cluster, "reader"), 30, what=f"line {word}")
        finally:
            proc.kill()
            proc.wait(10)
    # each client left, the container's stdin stayed open: it still runs, still reading
    assert "closed" not in _logs(cluster, "reader") and _status(cluster, "reader") == "Running"
    _delete(cluster, "reader")


def test_init_containers_run_in_order(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: inits}
spec:
  restartPolicy: Never
  initContainers:
  - {name: one, image: busybox, command: [sh, -c, 'echo one >> /w/log'], volumeMounts: [{name: w, mountPath: /w}]}
  - {name: two, image: busybox, command: [sh, -c, 'echo two >> /w/log'], volumeMounts: [{name: w, mountPath: /w}]}
  containers:
  - {name: main, image: busybox, command: [cat, /w/log], volumeMounts: [{name: w, mountPath: /w}]}
  volumes: [{name: w, emptyDir: {}}]
""")
    _wait_status(cluster, "inits", "Completed")
    assert _logs(cluster, "inits", "main") == "one\ntwo\n"
    st = _pod(cluster, "inits")["status"]
    assert [s["state"]["terminated"]["reason"] for s in st["initContainerStatuses"]] == ["Completed", "Completed"]
    assert {c["type"]: c["status"] for c in st["conditions"]}["Initialized"] == "True"
    _delete(cluster, "inits")


def test_env_and_volume_contents(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: ConfigMap
metadata: {name: envcfg}
data: {greeting: hello, file.txt: "from configmap"}
---
apiVersion: v1
kind: Secret
metadata: {name: envsec}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: envvol, labels: {app: envvol}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'env | sort; for f in /cm/file.txt /sec/password /dapi/labels /dapi/name /sub; do echo "$f=$(cat $f)"; done;
      echo "mem=$(grep " /mem " /proc/mounts | cut -d" " -f3)"; touch /cm/x 2>/dev/null || echo cm-readonly;
      echo "oom=$(cat /proc/self/oom_score_adj)"']
    env:
    - {name: A, value: "1"}
    - {name: B, value: "$(A)-$$(A)"}
    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: GREET, valueFrom: {configMapKeyRef: {name: envcfg, key: greeting}}}
    - {name: PW, valueFrom: {secretKeyRef: {name: envsec, key: password}}}
    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    envFrom: [{configMapRef: {name: envcfg}, prefix: CM_}]
    resources: {limits: {memory: 64Mi}}
    volumeMounts:
    - {name: cm, mountPath: /cm}
    - {name: sec, mountPath: /sec}
    - {name: dapi, mountPath: /dapi}
    - {name: mem, mountPath: /mem}
    - {name: cm, mountPath: /sub, subPath: file.txt}
  volumes:
  - {name: cm, configMap: {name: envcfg}}
  - {name: sec, secret: {secretName: envsec}}
  - {name: mem, emptyDir: {medium: Memory}}
  - name: dapi
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: name, fieldRef: {fieldPath: metadata.name}}]}
""")
    _wait_status(cluster, "envvol", "Completed")
    out = _logs(cluster, "envvol")
    for line in ("A=1", "B=1-$(A)", "POD=envvol", "NODE=node-1", "GREET=hello", "PW=s3cret", "MEM=64",
                 "CM_greeting=hello", "HOSTNAME=envvol", "/cm/file.txt=from configmap", "/sec/password=s3cret",
                 '/dapi/labels=app="envvol"', "/dapi/name=envvol", "/sub=from configmap", "mem=tmpfs",
                 "cm-readonly"):
        assert line + "\n" in out, line
    # Burstable (a memory limit only): 1000 - 1000 * request (64Mi) / the node's memory, in [3, 999]
    node = json.loads(cluster.kubectl("get", "node", "node-1", "-o", "json").out)
    capacity = int(node["status"]["capacity"]["memory"].removesuffix("Ki")) * 1024
    assert f"oom={max(3, min(999, 1000 - 1000 * 64 * 2 ** 20 // capacity))}\n" in out
    _delete(cluster, "envvol")
    cluster.kubectl("delete", "configmap", "envcfg")
    cluster.kubectl("delete", "secret", "envsec")


def test_config_map_update_reaches_mounted_file(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _apply(cluster, f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: live-cfg}}
data: {{key: one}}
---
apiVersion: v1
kind: Pod
metadata: {{name: cmwatch}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'while :; do cat /cfg/key > /out/seen.tmp; mv /out/seen.tmp /out/seen; sleep 0.2; done']
    volumeMounts: [{{name: cfg, mountPath: /cfg}}, {{name: out, mountPath: /out}}]
  volumes:
  - {{name: cfg, configMap: {{name: live-cfg}}}}
  - {{name: out, hostPath: {{path: {out}}}}}
""")
    seen = out / "seen"
    cluster.wait_for(lambda: seen.exists() and seen.read_text() == "one", 60, what="first value")
    cluster.kubectl("patch", "configmap", "live-cfg", "-p", '{"data":{"key":"two"}}')
    cluster.wait_for(lambda: seen.read_text() == "two", 60, what="updated value in the container")
    _delete(cluster, "cmwatch")
    cluster.kubectl("delete", "configmap", "live-cfg")


def test_active_deadline(cluster: Cluster) -> None:
    _apply(cluster, """
apiVersion: v1
kind: Pod
metadata: {name: deadline}
spec:
  activeDeadlineSeconds: 2
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
""")
    st = cluster.wait_for(lambda: (s := _pod(cluster, "deadline")["status"]).get("phase") == "Failed" and s, 60,
                          what="deadline Failed")
    assert st["reason"] == "DeadlineExceeded"
    assert st["message"] == "Pod was active on the node longer than the specified deadline"
    assert "terminated" in st["containerStatuses"][0]["state"]
    _delete(cluster, "deadline")


def test_kill_9_and_restart_adopts_containers(tmp_path: Path) -> None:
    c = Cluster.launch(tmp_path, "--runtime", "real")
    try:
        _wait_node_ready(c)
        _apply(c, """
apiVersion: v1
kind: Pod
metadata: {name: survivor}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
""")
        _wait_status(c, "survivor", "Running")
        before = _pod(c, "survivor")["status"]["containerStatuses"][0]
        pid = _container_pid(c, "survivor")
        c.kill()
        assert os.path.exists(f"/proc/{pid}")             # the container outlives the kubelet
        c = Cluster.launch(tmp_path, "--runtime", "real", data_dir=c.data_dir)
        _wait_node_ready(c)
        _apply(c, """
apiVersion: v1
kind: Pod
metadata: {name: after}
spec:
  nodeName: node-1          # no scheduler needed: its leader lease is still held by the killed process
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
""")
        _wait_status(c, "after", "Running")             # the restarted kubelet works
        after = _pod(c, "survivor")["status"]["containerStatuses"][0]
        assert after["containerID"] == before["containerID"]
        assert after["restartCount"] == before["restartCount"] == 0
        assert "running" in after["state"] and os.path.exists(f"/proc/{pid}")
        _delete(c, "survivor", "after")
        _wait_pid_gone(c, pid)
    finally:
        c.stop()
        name = _cleanup_runtime(c.data_dir / "kubelet")
        if name:
            assert _leftovers(name) == []
