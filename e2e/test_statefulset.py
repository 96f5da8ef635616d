"""End to end: StatefulSets and ReplicationControllers driven by the real kubectl against
`mizzen up --nodes 2 --runtime simulated`: a 3-replica StatefulSet comes up as web-0, web-1,
web-2 in order, `kubectl rollout status` succeeds, scaling down removes the highest ordinals
first, an image change rolls from the highest ordinal, `rollout history` and `rollout undo`
work; claim templates give PVCs `<claim>-<set>-<ordinal>`; a ReplicationController keeps its
replicas and replaces a deleted pod.

Pods become Ready through the simulated kubelet (`simulated.mizzen.io/ready-after` delays it,
so OrderedReady's waiting shows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mizzen.testing import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster.start(tmp_path_factory.mktemp("sts"), "--nodes", "2", "--runtime", "simulated") as c:
        yield c


def get(c: Cluster, *args: str) -> Any:
    return json.loads(c.kubectl("get", *args, "-o", "json").out)


def sts_yaml(name: str, image: str = "nginx:1.25", replicas: int = 3, extra: str = "", ready_after: str = "0.3") -> str:
    return f"""apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}}}
spec:
  serviceName: {name}
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
{extra}  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{simulated.mizzen.io/ready-after: "{ready_after}"}}
    spec:
      containers: [{{name: c, image: "{image}"}}]
"""


def pods_of(c: Cluster, app: str) -> dict[str, Any]:
    return {p["metadata"]["name"]: p for p in get(c, "pods", "-l", f"app={app}")["items"]
            if not p["metadata"].get("deletionTimestamp")}


def test_statefulset_ordered_scale_update_undo(cluster: Cluster) -> None:
    # Ready 1 s after start: OrderedReady then spaces creations by >= 1 s, which the
    # creationTimestamps (second resolution) show.
    applied = cluster.kubectl("apply", "-f", "-", input=sts_yaml("web", ready_after="1"))
    assert "does not act on them" not in applied.err  # mizzen enforces StatefulSets now
    out = cluster.kubectl("rollout", "status", "sts/web", "--timeout=30s").out
    # The API server defaults rollingUpdate.partition to 0, so kubectl reports a partitioned roll out.
    assert "partitioned roll out complete: 3 new pods have been updated" in out
    pods = pods_of(cluster, "web")
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    # OrderedReady: each pod was created only once the previous one was Ready.
    created = [pods[f"web-{i}"]["metadata"]["creationTimestamp"] for i in range(3)]
    assert created[0] < created[1] < created[2]
    for lower, higher in (("web-0", "web-1"), ("web-1", "web-2")):
        ready = next(c for c in pods[lower]["status"]["conditions"] if c["type"] == "Ready")
        assert ready["lastTransitionTime"] <= pods[higher]["metadata"]["creationTimestamp"]
    p0 = pods["web-0"]
    assert p0["spec"]["hostname"] == "web-0" and p0["spec"]["subdomain"] == "web"
    labels = p0["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
    assert labels["apps.kubernetes.io/pod-index"] == "0"
    sts = get(cluster, "sts", "web")
    st = sts["status"]
    assert st["replicas"] == st["readyReplicas"] == st["currentReplicas"] == st["updatedReplicas"] == 3
    assert st["availableReplicas"] == 3
    assert st["currentRevision"] == st["updateRevision"] == labels["controller-revision-hash"]
    assert st["observedGeneration"] == sts["metadata"]["generation"]
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=web").out
    assert "create Pod web-0 in StatefulSet web successful" in events
    assert cluster.kubectl("get", "sts", "web").out.splitlines()[1].split()[:2] == ["web", "3/3"]

    # Rolling update: a new image replaces pods from the highest ordinal down.
    cluster.kubectl("set", "image", "sts/web", "c=nginx:1.26")
    cluster.kubectl("rollout", "status", "sts/web", "--timeout=30s")
    pods = pods_of(cluster, "web")
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"nginx:1.26"}
    assert (pods["web-2"]["metadata"]["creationTimestamp"] < pods["web-1"]["metadata"]["creationTimestamp"]
            < pods["web-0"]["metadata"]["creationTimestamp"])
    st = get(cluster, "sts", "web")["status"]
    assert st["currentRevision"] == st["updateRevision"] != labels["controller-revision-hash"]
    hist = cluster.kubectl("rollout", "history", "sts/web").out
    assert [ln.split()[0] for ln in hist.splitlines()[2:] if ln.strip()] == ["1", "2"]
    assert "nginx:1.25" in cluster.kubectl("rollout", "history", "sts/web", "--revision=1").out

    cluster.kubectl("rollout", "undo", "sts/web")
    cluster.kubectl("rollout", "status", "sts/web", "--timeout=30s")
    pods = pods_of(cluster, "web")
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == {"nginx:1.25"}
    hist = cluster.kubectl("rollout", "history", "sts/web").out
    assert [ln.split()[0] for ln in hist.splitlines()[2:] if ln.strip()] == ["2", "3"]

    # Scale down: the highest ordinals go, one at a time: web-1 is not touched while web-2
    # exists, so every list (terminating pods included) is web-0..web-k.
    cluster.kubectl("scale", "sts/web", "--replicas=1")
    seen: list[list[str]] = []

    def scaled() -> bool:
        names = sorted(p["metadata"]["name"] for p in get(cluster, "pods", "-l", "app=web")["items"])
        seen.append(names)
        return names == ["web-0"] and get(cluster, "sts", "web")["status"].get("replicas") == 1
    cluster.wait_for(scaled, what="scaled to 1")
    assert all(names == [f"web-{i}" for i in range(len(names))] for names in seen), seen
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=web").out
    assert "delete Pod web-2 in StatefulSet web successful" in events


def test_statefulset_claim_templates_make_pvcs(cluster: Cluster) -> None:
    extra = """  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenScaled: Delete}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""
    cluster.kubectl("apply", "-f", "-", input=sts_yaml("db", replicas=2, extra=extra))
    cluster.wait_for(lambda: sorted(pods_of(cluster, "db")) == ["db-0", "db-1"], what="db pods")
    pvcs = {p["metadata"]["name"]: p for p in get(cluster, "pvc")["items"]}
    assert {"data-db-0", "data-db-1"} <= set(pvcs)
    assert pvcs["data-db-0"]["metadata"]["labels"]["app"] == "db"
    vols = pods_of(cluster, "db")["db-1"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in vols
    # whenScaled: Delete: the claim of a removed ordinal goes with its pod; db-0's stays.
    cluster.kubectl("scale", "sts/db", "--replicas=1")
    cluster.wait_for(lambda: "data-db-1" not in {p["metadata"]["name"] for p in get(cluster, "pvc")["items"]},
                     what="data-db-1 deleted")
    assert "data-db-0" in {p["metadata"]["name"] for p in get(cluster, "pvc")["items"]}


def test_replicationcontroller_keeps_replicas(cluster: Cluster) -> None:
    applied = cluster.kubectl("apply", "-f", "-", input="""apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec:
  replicas: 2
  selector: {app: rc}
  template:
    metadata: {labels: {app: rc}}
    spec:
      containers: [{name: c, image: busybox}]
""")
    assert "does not act on them" not in applied.err

    def ready() -> bool:
        st = get(cluster, "rc", "rc").get("status") or {}
        return st.get("readyReplicas") == 2 and len(pods_of(cluster, "rc")) == 2
    cluster.wait_for(ready, what="rc ready")
    first = sorted(pods_of(cluster, "rc"))
    pod = get(cluster, "pod", first[0])
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("v1", "ReplicationController", "rc")
    cluster.kubectl("delete", "pod", first[0], "--wait=false")
    cluster.wait_for(lambda: ready() and first[0] not in pods_of(cluster, "rc"), what="replacement pod")
    assert first[1] in pods_of(cluster, "rc")
    out = cluster.kubectl("get", "rc", "rc").out.splitlines()
    assert out[1].split()[:4] == ["rc", "2", "2", "2"]
