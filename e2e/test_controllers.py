"""End to end: the controllers and simulated nodes driven by the real kubectl against
`mizzen up --nodes 3 --runtime simulated`: Deployments (rollout status/history/undo/pause/
resume/restart, scale, surge and unavailability bounds at every observed moment), Recreate,
ReplicaSet adoption/release, DaemonSets across three simulated nodes including a tainted one,
deletion with each propagation policy, namespace deletion, the example manifests.

The failover test runs its own cluster: `mizzen apiserver` plus, in this process, simulated
nodes, a stand-in binder (mizzen.testing) and two controller managers, so that it can kill the leader
mid-rollout."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apimachinery.client import Informer
from apimachinery.client.rest import ApiClient
from controllers.manager import ControllerManager
from kubelet.simulated import SimulatedNodes
from mizzen.testing import BackgroundLoop, Cluster, stand_in_binder

pytestmark = pytest.mark.e2e

NODES = ["node-1", "node-2", "node-3"]


class Observer(BackgroundLoop):
    """An API client on a background event loop, to watch while kubectl acts."""

    def __init__(self, kubeconfig: str):
        super().__init__()
        self.kubeconfig = kubeconfig
        self.stop_event: asyncio.Event | None = None
        self.client: ApiClient | None = None

    async def main(self, stop: asyncio.Event) -> None:
        self.stop_event = stop
        self.client = ApiClient.from_kubeconfig(self.kubeconfig)
        self.ready.set()
        await stop.wait()
        await self.client.close()

    def start(self) -> Observer:  # type: ignore[override]
        super().start()
        return self


class Components(Observer):
    """Controller managers + simulated nodes + stand-in binder on a background event loop."""

    def __init__(self, kubeconfig: str, nodes: list[str]):
        super().__init__(kubeconfig)
        self.nodes = nodes
        self.sim: SimulatedNodes | None = None
        self.managers: dict[str, tuple[ControllerManager, asyncio.Future[None]]] = {}

    async def main(self, stop: asyncio.Event) -> None:
        self.stop_event = stop
        self.client = ApiClient.from_kubeconfig(self.kubeconfig)
        self.sim = SimulatedNodes(self.client, self.nodes)
        tasks = [asyncio.ensure_future(self.sim.run(self.stop_event)),
                 asyncio.ensure_future(stand_in_binder(self.client, self.nodes, self.stop_event))]
        cm = await self.start_manager("controller-manager-a")
        await self.sim.registered.wait()
        await cm.started.wait()
        self.ready.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, task in self.managers.values():
            task.cancel()
        await asyncio.gather(*(t for _, t in self.managers.values()), return_exceptions=True)
        await self.client.close()

    async def start_manager(self, identity: str) -> ControllerManager:
        """Another controller manager (it campaigns for the Lease; only the leader acts)."""
        assert self.client is not None and self.stop_event is not None
        cm = ControllerManager(self.client, workers=4, identity=identity)
        self.managers[identity] = (cm, asyncio.ensure_future(cm.run(self.stop_event)))
        return cm

    async def kill_manager(self, identity: str) -> None:
        cm, task = self.managers.pop(identity)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Observer]]:
    """`mizzen up` with 3 simulated nodes (controller manager and scheduler inside)."""
    with Cluster.start(tmp_path_factory.mktemp("controllers"), "--nodes", "3", "--runtime", "simulated",
                       command="up") as c:
        obs = Observer(str(c.kubeconfig)).start()
        try:
            yield c, obs
        finally:
            obs.stop()


@pytest.fixture()
def components_cluster(tmp_path: Path) -> Iterator[tuple[Cluster, Components]]:
    with Cluster.start(tmp_path, command="apiserver") as c:
        comp = Components(str(c.kubeconfig), NODES).start()
        try:
            yield c, comp
        finally:
            comp.stop()


def deployment(name: str, ns: str, image: str, replicas: int = 4, surge: Any = 1, unavailable: Any = 1,
               ready_after: str | None = None, strategy: str = "RollingUpdate") -> str:
    ann = f'\n      annotations: {{simulated.mizzen.io/ready-after: "{ready_after}"}}' if ready_after else ""
    strat = (f"{{type: RollingUpdate, rollingUpdate: {{maxSurge: {surge}, maxUnavailable: {unavailable}}}}}"
             if strategy == "RollingUpdate" else "{type: Recreate}")
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  strategy: {strat}
  template:
    metadata:
      labels: {{app: {name}}}{ann}
    spec: {{containers: [{{name: c, image: "{image}"}}]}}
"""


def get_json(c: Cluster, *args: str) -> Any:
    return json.loads(c.kubectl("get", *args, "-o", "json").out)


def rs_of(c: Cluster, ns: str, app: str) -> list[dict[str, Any]]:
    return get_json(c, "rs", "-n", ns, "-l", f"app={app}")["items"]


def ensure_ns(c: Cluster, ns: str) -> None:
    c.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n")


async def watch_bounds(client: ApiClient, ns: str, app: str, stop: asyncio.Event, samples: list[tuple[int, int, int]]) -> None:
    """At every ReplicaSet or pod event: (sum of RS spec.replicas, sum of RS availableReplicas,
    pods neither terminal nor terminating)."""
    rs_inf = Informer(client, "replicasets", ns, label_selector=f"app={app}")
    pod_inf = Informer(client, "pods", ns, label_selector=f"app={app}")

    def sample(*_: Any) -> None:
        rss = rs_inf.store.list()
        pods = [p for p in pod_inf.store.list() if not p["metadata"].get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        samples.append((sum(int(r["spec"].get("replicas") or 0) for r in rss),
                        sum(int((r.get("status") or {}).get("availableReplicas") or 0) for r in rss), len(pods)))
    for inf in (rs_inf, pod_inf):
        inf.add_handler(on_add=sample, on_update=sample, on_delete=sample)
        inf.start()
    await stop.wait()
    await rs_inf.stop()
    await pod_inf.stop()


def test_deployment_rollout_history_undo_scale(cluster: tuple[Cluster, Observer]) -> None:
    c, comp = cluster
    ns = "rollout"
    ensure_ns(c, ns)
    c.kubectl("apply", "-f", "-", input=deployment("web", ns, "nginx:1", replicas=4, surge=1, unavailable=1,
                                                     ready_after="0.3"))
    out = c.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s").out
    assert 'deployment "web" successfully rolled out' in out
    [rs1] = rs_of(c, ns, "web")
    h = rs1["metadata"]["labels"]["pod-template-hash"]
    assert rs1["metadata"]["name"] == f"web-{h}"
    assert rs1["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs1["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    d = get_json(c, "deployment/web", "-n", ns)
    assert d["status"]["readyReplicas"] == 4 and d["status"]["updatedReplicas"] == 4
    conds = {x["type"]: x["reason"] for x in d["status"]["conditions"]}
    assert conds == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    events = c.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=web").out
    assert f"Scaled up replica set web-{h} from 0 to 4" in events

    # Change the image and check maxSurge/maxUnavailable at every observed moment.
    stop_watch: asyncio.Event = comp.call(_event())
    samples: list[tuple[int, int, int]] = []
    fut = asyncio.run_coroutine_threadsafe(watch_bounds(comp.client, ns, "web", stop_watch, samples), comp.loop)
    c.kubectl("set", "image", "deployment/web", "c=nginx:2", "-n", ns)
    out = c.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s").out
    assert "successfully rolled out" in out
    comp.loop.call_soon_threadsafe(stop_watch.set)
    fut.result(10)
    assert len(samples) > 10
    for total, _available, pods in samples[1:]:
        assert total <= 4 + 1 and pods <= 4 + 1, samples
        # availability may only dip below replicas - maxUnavailable before the first sample settles
    settled = [s for s in samples if s[0] >= 4]
    assert all(avail >= 4 - 1 for _, avail, _ in settled[settled.index(next(s for s in settled if s[1] >= 4)):]), samples
    rss = rs_of(c, ns, "web")
    assert sorted((r["metadata"]["annotations"]["deployment.kubernetes.io/revision"], r["spec"]["replicas"])
                  for r in rss) == [("1", 0), ("2", 4)]

    hist = c.kubectl("rollout", "history", "deployment/web", "-n", ns).out
    assert "REVISION" in hist and "1 " in hist and "2 " in hist
    detail = c.kubectl("rollout", "history", "deployment/web", "-n", ns, "--revision=1").out
    assert "nginx:1" in detail

    c.kubectl("rollout", "undo", "deployment/web", "-n", ns)
    c.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    back = next(r for r in rs_of(c, ns, "web") if r["metadata"]["name"] == rs1["metadata"]["name"])
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert back["spec"]["replicas"] == 4

    c.kubectl("scale", "deployment/web", "--replicas=6", "-n", ns)
    c.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    assert get_json(c, "deployment/web", "-n", ns)["status"]["availableReplicas"] == 6
    c.kubectl("scale", "deployment/web", "--replicas=2", "-n", ns)
    c.wait_for(lambda: len([p for p in get_json(c, "pods", "-n", ns, "-l", "app=web")["items"]
                            if not p["metadata"].get("deletionTimestamp")]) == 2, timeout=30, what="2 pods")


async def _event() -> asyncio.Event:
    return asyncio.Event()


def test_pause_resume_restart(cluster: tuple[Cluster, Observer]) -> None:
    c, _ = cluster
    ns = "pause"
    ensure_ns(c, ns)
    c.kubectl("apply", "-f", "-", input=deployment("api", ns, "app:1", replicas=2))
    c.kubectl("rollout", "status", "deployment/api", "-n", ns, "--timeout=60s")
    c.kubectl("rollout", "pause", "deployment/api", "-n", ns)
    c.kubectl("set", "image", "deployment/api", "c=app:2", "-n", ns)

    def observed() -> bool:
        d = get_json(c, "deployment/api", "-n", ns)
        prog = next((x for x in d["status"].get("conditions", []) if x["type"] == "Progressing"), {})
        return d["status"].get("observedGeneration") == d["metadata"]["generation"] and prog.get("reason") == "DeploymentPaused"
    c.wait_for(observed, timeout=30, what="paused generation observed")
    assert len(rs_of(c, ns, "api")) == 1  # paused: no new ReplicaSet
    c.kubectl("rollout", "resume", "deployment/api", "-n", ns)
    c.kubectl("rollout", "status", "deployment/api", "-n", ns, "--timeout=60s")
    images = {r["spec"]["template"]["spec"]["containers"][0]["image"]: r["spec"]["replicas"] for r in rs_of(c, ns, "api")}
    assert images == {"app:1": 0, "app:2": 2}

    c.kubectl("rollout", "restart", "deployment/api", "-n", ns)
    c.kubectl("rollout", "status", "deployment/api", "-n", ns, "--timeout=60s")
    rss = rs_of(c, ns, "api")
    assert len(rss) == 3
    newest = max(rss, key=lambda r: int(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
    assert "kubectl.kubernetes.io/restartedAt" in newest["spec"]["template"]["metadata"]["annotations"]
    assert newest["spec"]["replicas"] == 2


def test_recreate(cluster: tuple[Cluster, Observer]) -> None:
    c, _ = cluster
    ns = "recreate"
    ensure_ns(c, ns)
    c.kubectl("apply", "-f", "-", input=deployment("db", ns, "db:1", replicas=2, strategy="Recreate"))
    c.kubectl("rollout", "status", "deployment/db", "-n", ns, "--timeout=60s")
    c.kubectl("set", "image", "deployment/db", "c=db:2", "-n", ns)
    c.kubectl("rollout", "status", "deployment/db", "-n", ns, "--timeout=60s")
    pods = get_json(c, "pods", "-n", ns, "-l", "app=db")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {"db:2"} and len(live) == 2


def test_replicaset_replaces_deleted_pods_and_adopts(cluster: tuple[Cluster, Observer]) -> None:
    c, _ = cluster
    ns = "rs"
    ensure_ns(c, ns)
    c.kubectl("apply", "-f", "-", input=f"""
apiVersion: v1
kind: Pod
metadata: {{name: stray, namespace: {ns}, labels: {{app: cache}}}}
spec: {{containers: [{{name: c, image: "redis"}}]}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: cache, namespace: {ns}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: cache}}}}
  template:
    metadata: {{labels: {{app: cache}}}}
    spec: {{containers: [{{name: c, image: "redis"}}]}}
""")
    def ready() -> bool:
        rs = get_json(c, "rs/cache", "-n", ns)
        return rs["status"].get("readyReplicas") == 3 and rs["status"].get("replicas") == 3
    c.wait_for(ready, timeout=30, what="3 ready replicas")
    stray = get_json(c, "pod/stray", "-n", ns)
    assert stray["metadata"]["ownerReferences"][0]["name"] == "cache"  # adopted: only 2 were created
    victim = next(p["metadata"]["name"] for p in get_json(c, "pods", "-n", ns)["items"] if p["metadata"]["name"] != "stray")
    c.kubectl("delete", "pod", victim, "-n", ns, "--wait=false")
    c.wait_for(lambda: ready() and victim not in c.kubectl("get", "pods", "-n", ns).out, timeout=30, what="replacement")
    # release: a pod whose labels stop matching is let go and replaced
    c.kubectl("label", "pod", "stray", "app=other", "--overwrite", "-n", ns)
    c.wait_for(lambda: not get_json(c, "pod/stray", "-n", ns)["metadata"].get("ownerReferences"), timeout=30,
               what="release")
    c.wait_for(ready, timeout=30, what="replaced after release")


def test_daemonset_across_nodes_with_taint(cluster: tuple[Cluster, Observer]) -> None:
    c, _ = cluster
    ns = "ds"
    ensure_ns(c, ns)
    c.kubectl("taint", "node", "node-3", "dedicated=db:NoSchedule")
    try:
        manifest = f"""
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec: {{containers: [{{name: c, image: "agent:1"}}]}}
"""
        c.kubectl("apply", "-f", "-", input=manifest)
        c.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
        pods = get_json(c, "pods", "-n", ns, "-l", "app=agent")["items"]
        assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-2"]
        st = get_json(c, "ds/agent", "-n", ns)["status"]
        assert (st["desiredNumberScheduled"], st["numberReady"], st["updatedNumberScheduled"]) == (2, 2, 2)
        tol = manifest.replace('spec: {containers: [{name: c, image: "agent:1"}]}',
                               'spec: {tolerations: [{key: dedicated, operator: Exists}], '
                               'containers: [{name: c, image: "agent:2"}]}')
        c.kubectl("apply", "-f", "-", input=tol)
        c.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
        pods = [p for p in get_json(c, "pods", "-n", ns, "-l", "app=agent")["items"]
                if not p["metadata"].get("deletionTimestamp")]
        assert sorted(p["spec"]["nodeName"] for p in pods) == NODES
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {"agent:2"}
        crs = get_json(c, "controllerrevisions", "-n", ns)["items"]
        assert sorted(r["revision"] for r in crs) == [1, 2]
        hist = c.kubectl("rollout", "history", "daemonset/agent", "-n", ns).out
        assert "1 " in hist and "2 " in hist
        c.kubectl("rollout", "undo", "daemonset/agent", "-n", ns)
        c.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
        def back() -> bool:
            live = [p for p in get_json(c, "pods", "-n", ns, "-l", "app=agent")["items"]
                    if not p["metadata"].get("deletionTimestamp")]
            # The toleration went with the undo: node-3's old pod is replaced by nothing.
            return sorted((p["spec"]["nodeName"], p["spec"]["containers"][0]["image"]) for p in live) == \
                [("node-1", "agent:1"), ("node-2", "agent:1")]
        c.wait_for(back, timeout=30, what="undo to agent:1 on the untainted nodes")
    finally:
        c.kubectl("taint", "node", "node-3", "dedicated-", check=False)


@pytest.mark.parametrize("cascade", ["background", "foreground", "orphan"])
def test_delete_propagation(cluster: tuple[Cluster, Observer], cascade: str) -> None:
    c, _ = cluster
    ns = f"gc-{cascade}"
    ensure_ns(c, ns)
    c.kubectl("apply", "-f", "-", input=deployment("app", ns, "app:1", replicas=2))
    c.kubectl("rollout", "status", "deployment/app", "-n", ns, "--timeout=60s")
    c.kubectl("delete", "deployment", "app", "-n", ns, f"--cascade={cascade}", "--wait=false")

    def live(kind: str) -> list[dict[str, Any]]:
        return [o for o in get_json(c, kind, "-n", ns)["items"] if not o["metadata"].get("deletionTimestamp")]
    c.wait_for(lambda: not get_json(c, "deployments", "-n", ns)["items"], timeout=30, what="deployment gone")
    if cascade == "orphan":
        c.wait_for(lambda: all(not r["metadata"].get("ownerReferences") for r in live("rs")), timeout=30,
                   what="orphaned replica sets")
        assert len(live("rs")) == 1 and len(live("pods")) == 2
    else:
        c.wait_for(lambda: not get_json(c, "rs", "-n", ns)["items"] and not get_json(c, "pods", "-n", ns)["items"],
                   timeout=30, what="dependents collected")


def test_delete_namespace_with_contents(cluster: tuple[Cluster, Observer]) -> None:
    c, _ = cluster
    ns = "doomed"
    ensure_ns(c, ns)
    c.kubectl("apply", "-f", "-", input=deployment("w", ns, "w:1", replicas=2))
    c.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: {ns}}}\n"
              "data: {a: b}\n")
    c.kubectl("rollout", "status", "deployment/w", "-n", ns, "--timeout=60s")
    c.kubectl("delete", "namespace", ns, "--wait=false")
    c.wait_for(lambda: c.kubectl("get", "namespace", ns, check=False).code != 0, timeout=60, what="namespace gone")


@pytest.mark.parametrize("folder,kind,name", [("rollout", "deployment", "web"),
                                              ("global-service", "daemonset", "node-agent")])
def test_manifests(cluster: tuple[Cluster, Observer], folder: str, kind: str, name: str) -> None:
    c, _ = cluster
    ns = f"manifest-{folder}"
    ensure_ns(c, ns)
    path = Path(__file__).resolve().parent.parent / "manifests" / folder
    c.kubectl("apply", "-n", ns, "-f", str(path))
    out = c.kubectl("rollout", "status", f"{kind}/{name}", "-n", ns, "--timeout=60s").out
    assert "successfully rolled out" in out


def test_failover_mid_rollout_keeps_bounds(components_cluster: tuple[Cluster, Components]) -> None:
    """Two controller managers: only the Lease holder acts. The leader dies mid-rollout; the
    standby takes the Lease and finishes the rollout, never exceeding maxSurge."""
    c, comp = components_cluster
    ns = "failover"
    ensure_ns(c, ns)
    c.kubectl("apply", "-f", "-", input=deployment("ha", ns, "ha:1", replicas=6, surge=1, unavailable=0,
                                                     ready_after="1"))
    c.kubectl("rollout", "status", "deployment/ha", "-n", ns, "--timeout=60s")
    leader = next(iter(comp.managers))
    standby_id = f"standby-of-{leader}"
    standby = comp.call(comp.start_manager(standby_id))
    lease = get_json(c, "lease/kube-controller-manager", "-n", "kube-system")
    assert lease["spec"]["holderIdentity"] == leader
    assert not standby.started.is_set()

    stop_watch: asyncio.Event = comp.call(_event())
    samples: list[tuple[int, int, int]] = []
    fut = asyncio.run_coroutine_threadsafe(watch_bounds(comp.client, ns, "ha", stop_watch, samples), comp.loop)
    c.kubectl("set", "image", "deployment/ha", "c=ha:2", "-n", ns)

    def midway() -> bool:
        d = get_json(c, "deployment/ha", "-n", ns)
        return 2 <= (d["status"].get("updatedReplicas") or 0) < 6
    c.wait_for(midway, timeout=30, what="rollout midway")
    assert not standby.started.is_set()
    comp.call(comp.kill_manager(leader))
    out = c.kubectl("rollout", "status", "deployment/ha", "-n", ns, "--timeout=60s").out
    assert "successfully rolled out" in out
    comp.loop.call_soon_threadsafe(stop_watch.set)
    fut.result(10)
    assert standby.started.is_set()
    assert get_json(c, "lease/kube-controller-manager", "-n", "kube-system")["spec"]["holderIdentity"] == standby_id
    assert samples and all(total <= 7 and pods <= 7 for total, _, pods in samples), samples
    # maxUnavailable 0: availability never below 6 once the first sample had all 6
    assert all(avail >= 6 for _, avail, _ in samples), samples
    live = [p for p in get_json(c, "pods", "-n", ns, "-l", "app=ha")["items"] if not p["metadata"].get("deletionTimestamp")]
    assert len(live) == 6 and {p["spec"]["containers"][0]["image"] for p in live} == {"ha:2"}


def test_progress_deadline_exceeded(cluster: tuple[Cluster, Observer]) -> None:
    """Pods that never become ready: Progressing goes False/ProgressDeadlineExceeded and
    `kubectl rollout status` gives up with Kubernetes' message."""
    c, _ = cluster
    ns = "deadline"
    ensure_ns(c, ns)
    manifest = deployment("stuck", ns, "stuck:1", replicas=2).replace(
        "  replicas: 2\n", "  replicas: 2\n  progressDeadlineSeconds: 2\n").replace(
        "      labels: {app: stuck}", '      labels: {app: stuck}\n      annotations: {simulated.mizzen.io/never-ready: "true"}')
    c.kubectl("apply", "-f", "-", input=manifest)
    r = c.kubectl("rollout", "status", "deployment/stuck", "-n", ns, "--timeout=60s", check=False)
    assert r.code != 0
    assert 'deployment "stuck" exceeded its progress deadline' in r.err
    d = get_json(c, "deployment/stuck", "-n", ns)
    conds = {x["type"]: (x["status"], x["reason"]) for x in d["status"]["conditions"]}
    assert conds["Progressing"] == ("False", "ProgressDeadlineExceeded")
    assert conds["Available"] == ("False", "MinimumReplicasUnavailable")


def test_api_server_restart_is_survived(tmp_path: Path) -> None:
    """The API server restarts under running controllers and simulated nodes: their informers
    resume (or re-list) and a change made after the restart is acted on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tmp_path / "data"
    c = Cluster.launch(tmp_path, "--port", str(port), command="apiserver", data_dir=data)
    comp: Components | None = None
    try:
        comp = Components(str(c.kubeconfig), NODES).start()
        ns = "restart"
        ensure_ns(c, ns)
        c.kubectl("apply", "-f", "-", input=deployment("svc", ns, "svc:1", replicas=2))
        c.kubectl("rollout", "status", "deployment/svc", "-n", ns, "--timeout=60s")
        c.stop()
        c = Cluster.launch(tmp_path, "--port", str(port), command="apiserver", data_dir=data)
        c.kubectl("scale", "deployment/svc", "--replicas=4", "-n", ns)
        out = c.kubectl("rollout", "status", "deployment/svc", "-n", ns, "--timeout=90s").out
        assert "successfully rolled out" in out
        assert get_json(c, "deployment/svc", "-n", ns)["status"]["readyReplicas"] == 4
    finally:
        if comp is not None:
            comp.stop()
        c.stop()


def test_revision_history_limit(cluster: tuple[Cluster, Observer]) -> None:
    c, _ = cluster
    ns = "history"
    ensure_ns(c, ns)
    manifest = deployment("h", ns, "h:1", replicas=1).replace("  replicas: 1\n", "  replicas: 1\n  revisionHistoryLimit: 1\n")
    c.kubectl("apply", "-f", "-", input=manifest)
    for tag in ("h:2", "h:3", "h:4"):
        c.kubectl("rollout", "status", "deployment/h", "-n", ns, "--timeout=60s")
        c.kubectl("set", "image", "deployment/h", f"c={tag}", "-n", ns)
    c.kubectl("rollout", "status", "deployment/h", "-n", ns, "--timeout=60s")

    def pruned() -> bool:
        revs = sorted(int(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for r in rs_of(c, ns, "h"))
        return revs == [3, 4]
    c.wait_for(pruned, timeout=30, what="only the newest old ReplicaSet kept")


def test_daemonset_on_delete(cluster: tuple[Cluster, Observer]) -> None:
    c, _ = cluster
    ns = "ondelete"
    ensure_ns(c, ns)
    manifest = f"""
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: od, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: od}}}}
  updateStrategy: {{type: OnDelete}}
  template:
    metadata: {{labels: {{app: od}}}}
    spec: {{containers: [{{name: c, image: "od:1"}}]}}
"""
    c.kubectl("apply", "-f", "-", input=manifest)

    def images() -> list[str]:
        return sorted(p["spec"]["containers"][0]["image"] for p in get_json(c, "pods", "-n", ns, "-l", "app=od")["items"]
                      if not p["metadata"].get("deletionTimestamp"))
    c.wait_for(lambda: images() == ["od:1"] * 3, timeout=30, what="3 daemon pods")
    c.kubectl("apply", "-f", "-", input=manifest.replace("od:1", "od:2"))
    c.wait_for(lambda: get_json(c, "ds/od", "-n", ns)["status"].get("observedGeneration") == 2, timeout=30,
               what="new generation observed")
    assert images() == ["od:1"] * 3  # OnDelete: nothing replaced by itself
    victim = get_json(c, "pods", "-n", ns, "-l", "app=od")["items"][0]["metadata"]["name"]
    c.kubectl("delete", "pod", victim, "-n", ns, "--wait=false")
    c.wait_for(lambda: images() == ["od:1", "od:1", "od:2"], timeout=30, what="the deleted pod replaced by od:2")
