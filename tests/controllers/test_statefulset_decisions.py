"""Table tests of the StatefulSet controller's pure decisions: which ordinal is created,
deleted or updated next, the pod and PVC objects, and the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controllers.statefulset import decisions as d

AT = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
OLD, NEW = "web-old", "web-new"


def sts(replicas: int = 3, policy: str = "OrderedReady", strategy: str = "RollingUpdate", partition: int = 0,
        max_unavailable: Any = None, min_ready: int = 0, **spec: Any) -> dict[str, Any]:
    ru: dict[str, Any] = {"partition": partition}
    if max_unavailable is not None:
        ru["maxUnavailable"] = max_unavailable
    us: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        us["rollingUpdate"] = ru
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1", "generation": 4},
            "spec": {"replicas": replicas, "podManagementPolicy": policy, "updateStrategy": us,
                     "minReadySeconds": min_ready, "serviceName": "svc",
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}, **spec}}


def pod(ordinal: int, state: str = "ready", rev: str = NEW, ready_since: float = 60) -> dict[str, Any]:
    """state: ready | pending | running (not ready) | deleting | failed."""
    meta: dict[str, Any] = {"name": f"web-{ordinal}", "labels": {"controller-revision-hash": rev},
                            "uid": f"p{ordinal}"}
    status: dict[str, Any] = {"phase": "Pending"}
    if state in ("ready", "deleting", "running"):
        status = {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True" if state != "running" else "False",
             "lastTransitionTime": (AT - timedelta(seconds=ready_since)).isoformat().replace("+00:00", "Z")}]}
    if state == "failed":
        status = {"phase": "Failed"}
    if state == "deleting":
        meta["deletionTimestamp"] = "2026-01-01T12:00:00Z"
    return {"metadata": meta, "status": status}


def ready(*ordinals: int, rev: str = NEW) -> list[dict[str, Any]]:
    return [pod(o, rev=rev) for o in ordinals]


CASES = [
    # (id, set, pods, expected create, expected delete)
    ("empty set creates web-0 only", sts(), [], [(0, NEW)], []),
    ("next ordinal once lower ones are ready", sts(), ready(0), [(1, NEW)], []),
    ("waits for a pending pod", sts(), [pod(0), pod(1, "pending")], [], []),
    ("waits for a running but unready pod", sts(), [pod(0, "running")], [], []),
    ("waits for minReadySeconds", sts(min_ready=120), ready(0), [], []),
    ("minReadySeconds elapsed", sts(min_ready=30), ready(0), [(1, NEW)], []),
    ("parallel creates every missing ordinal", sts(policy="Parallel"), [pod(1, "pending")], [(0, NEW), (2, NEW)], []),
    ("a failed pod is deleted first", sts(), [pod(0, "failed")], [], ["web-0"]),
    ("hole refilled before going on", sts(), ready(0, 2), [(1, NEW)], []),
    ("scale down: highest first, one at a time", sts(replicas=1), ready(0, 1, 2), [], ["web-2"]),
    ("scale down waits for the terminating one", sts(replicas=1), [pod(0), pod(1), pod(2, "deleting")], [], []),
    ("scale down waits for an unhealthy pod", sts(replicas=1), [pod(0, "running"), pod(1)], [], []),
    ("parallel scale down deletes all at once", sts(replicas=1, policy="Parallel"), ready(0, 1, 2), [],
     ["web-2", "web-1"]),
    ("rolling update: highest ordinal first", sts(), ready(0, 1, 2, rev=OLD), [], ["web-2"]),
    ("rolling update: next one once the updated is ready", sts(),
     [pod(0, rev=OLD), pod(1, rev=OLD), pod(2)], [], ["web-1"]),
    ("rolling update: waits for an updated pod to be ready", sts(policy="Parallel"),
     [pod(0, rev=OLD), pod(1, rev=OLD), pod(2, "running")], [], []),
    ("rolling update recreates at the update revision", sts(), ready(0, 1, rev=OLD), [(2, NEW)], []),
    ("partition keeps lower ordinals", sts(partition=2), [pod(0, rev=OLD), pod(1, rev=OLD), pod(2)], [], []),
    ("partition: ordinal below it recreated at current", sts(partition=2), [pod(1, rev=OLD), pod(2)],
     [(0, OLD)], []),
    ("maxUnavailable 2 updates two at once", sts(max_unavailable=2, policy="Parallel"),
     ready(0, 1, 2, rev=OLD), [], ["web-2", "web-1"]),
    ("maxUnavailable counts unavailable pods", sts(max_unavailable=2, policy="Parallel"),
     [pod(0, rev=OLD), pod(1, rev=OLD), pod(2, "running")], [], ["web-1"]),
    ("OnDelete never deletes for an update", sts(strategy="OnDelete"), ready(0, 1, 2, rev=OLD), [], []),
    ("OnDelete recreates at the update revision", sts(strategy="OnDelete"), ready(0, 1, rev=OLD), [(2, NEW)], []),
    ("ordinals.start shifts the range", sts(replicas=2, ordinals={"start": 5}), [], [(5, NEW)], []),
    ("a pod of another name is ignored", sts(replicas=1), [{"metadata": {"name": "other-3"}, "status": {}}],
     [(0, NEW)], []),
]


@pytest.mark.parametrize(("s", "pods", "create", "delete"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan(s: dict[str, Any], pods: list[dict[str, Any]], create: list[tuple[int, str]],
              delete: list[str]) -> None:
    p = d.plan(s, pods, OLD, NEW, AT)
    assert (p.create, p.delete) == (create, delete)


def test_new_pod_identity_and_claims() -> None:
    s = sts(volumeClaimTemplates=[{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}])
    s["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}, {"name": "x", "emptyDir": {}}]
    p = d.new_pod(s, 2, NEW)
    assert p["metadata"]["name"] == "web-2"
    assert p["metadata"]["labels"] == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-2",
                                       "apps.kubernetes.io/pod-index": "2", "controller-revision-hash": NEW}
    assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == ("web-2", "svc")
    assert p["spec"]["volumes"] == [{"name": "x", "emptyDir": {}},
                                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-2"}}]
    ref = p["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("StatefulSet", "web", True)
    assert "volumes" in s["spec"]["template"]["spec"] and len(s["spec"]["template"]["spec"]["volumes"]) == 2


@pytest.mark.parametrize(("policy", "owned"), [(None, False), ({"whenDeleted": "Retain"}, False),
                                               ({"whenDeleted": "Delete"}, True)])
def test_new_pvcs(policy: dict[str, str] | None, owned: bool) -> None:
    extra: dict[str, Any] = {"volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"t": "1"}},
                                                       "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]}
    if policy:
        extra["persistentVolumeClaimRetentionPolicy"] = policy
    [pvc] = d.new_pvcs(sts(**extra), 0)
    assert pvc["metadata"]["name"] == "data-web-0"
    assert pvc["metadata"]["labels"] == {"t": "1", "app": "web"}
    assert pvc["spec"] == {"resources": {"requests": {"storage": "1Gi"}}}
    assert ("ownerReferences" in pvc["metadata"]) is owned


STATUS_CASES = [
    # (id, set, pods, expected subset of status)
    ("all updated and ready completes the rollout", sts(), ready(0, 1, 2),
     {"replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "currentReplicas": 3, "currentRevision": NEW,
      "updateRevision": NEW, "observedGeneration": 4, "availableReplicas": 3}),
    ("mid rollout", sts(), [pod(0, rev=OLD), pod(1, rev=OLD), pod(2, "running")],
     {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 1, "currentReplicas": 2, "currentRevision": OLD}),
    ("terminating pods are neither current nor ready", sts(), [pod(0, rev=OLD), pod(1, "deleting", rev=OLD)],
     {"replicas": 2, "readyReplicas": 1, "currentReplicas": 1}),
    ("minReadySeconds holds availableReplicas", sts(min_ready=120), ready(0, 1, 2),
     {"readyReplicas": 3, "availableReplicas": 0}),
    ("OnDelete keeps the current revision", sts(strategy="OnDelete"), ready(0, 1, 2),
     {"currentRevision": OLD, "updatedReplicas": 3, "currentReplicas": 0}),
]


@pytest.mark.parametrize(("s", "pods", "want"), [c[1:] for c in STATUS_CASES], ids=[c[0] for c in STATUS_CASES])
def test_calculate_status(s: dict[str, Any], pods: list[dict[str, Any]], want: dict[str, Any]) -> None:
    status = d.calculate_status(s, pods, OLD, NEW, AT)
    assert {k: status[k] for k in want} == want


def test_revision_is_stable_and_tracks_the_template() -> None:
    a, b = d.new_controller_revision(sts(), 1), d.new_controller_revision(sts(), 2)
    assert a["metadata"]["name"] == b["metadata"]["name"] and a["metadata"]["name"].startswith("web-")
    changed = sts()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "j"
    assert d.new_controller_revision(changed, 3)["metadata"]["name"] != a["metadata"]["name"]
    assert a["data"]["spec"]["template"]["$patch"] == "replace"


RELEASE_CASES = [
    # (id, policy, replicas, pod ordinal, claims that follow the pod)
    ("Retain by default", None, 1, 2, []),
    ("Delete on scale: condemned pod takes its claims", {"whenScaled": "Delete"}, 1, 2, ["data-web-2"]),
    ("Delete on scale: a pod in range keeps them", {"whenScaled": "Delete"}, 3, 2, []),
    ("whenDeleted alone does not release on scale", {"whenDeleted": "Delete"}, 1, 2, []),
]


@pytest.mark.parametrize(("policy", "replicas", "ordinal", "want"), [c[1:] for c in RELEASE_CASES],
                         ids=[c[0] for c in RELEASE_CASES])
def test_claims_released_on_scale_down(policy: dict[str, str] | None, replicas: int, ordinal: int,
                                       want: list[str]) -> None:
    extra: dict[str, Any] = {"volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}
    if policy:
        extra["persistentVolumeClaimRetentionPolicy"] = policy
    assert d.claims_released_on_scale_down(sts(replicas=replicas, **extra), pod(ordinal)) == want


IDENTITY_CASES = [
    # (id, pod, expected patch)
    ("complete identity needs nothing", {"metadata": {"name": "web-1", "labels": {
        "statefulset.kubernetes.io/pod-name": "web-1", "apps.kubernetes.io/pod-index": "1"}}}, None),
    ("adopted orphan gets both labels", {"metadata": {"name": "web-1", "labels": {"app": "web"}}},
     {"metadata": {"labels": {"statefulset.kubernetes.io/pod-name": "web-1", "apps.kubernetes.io/pod-index": "1"}}}),
    ("wrong index is corrected", {"metadata": {"name": "web-1", "labels": {
        "statefulset.kubernetes.io/pod-name": "web-1", "apps.kubernetes.io/pod-index": "7"}}},
     {"metadata": {"labels": {"apps.kubernetes.io/pod-index": "1"}}}),
    ("not one of the set's names", {"metadata": {"name": "db-1", "labels": {}}}, None),
]


@pytest.mark.parametrize(("p", "want"), [c[1:] for c in IDENTITY_CASES], ids=[c[0] for c in IDENTITY_CASES])
def test_identity_labels_patch(p: dict[str, Any], want: dict[str, Any] | None) -> None:
    assert d.identity_labels_patch(sts(), p) == want
