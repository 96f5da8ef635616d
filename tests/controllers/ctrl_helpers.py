"""Builders of plain API dicts for the controllers' table tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool | None = None,
        ready_at: float = 0, created: float = 0, restarts: int = 0, labels: dict | None = None,
        owner: str | None = None, deleting: bool = False, annotations: dict | None = None) -> dict[str, Any]:
    if ready is None:
        ready = phase == "Running"
    p: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "default", "uid": "uid-" + name,
                     "creationTimestamp": ts(created), "labels": dict(labels or {"app": "web"})},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]},
        "status": {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": restarts}],
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                   "lastTransitionTime": ts(ready_at)}]},
    }
    if owner:
        p["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                             "uid": "uid-" + owner, "controller": True}]
    if deleting:
        p["metadata"]["deletionTimestamp"] = ts(100)
    if annotations:
        p["metadata"]["annotations"] = annotations
    return p
