"""Pure decisions of the ReplicaSet controller, after Kubernetes' pkg/controller/replicaset.

No I/O here and no mutation of inputs: every function takes plain dicts (pods, ReplicaSets as
the API sends them) and returns what should change. The controller module does the writes."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from controllers import podutil
from controllers.podutil import Obj

BURST_REPLICAS = 500
"""At most this many creates or deletes per sync (kube-controller-manager's burstReplicas)."""

SLOW_START_INITIAL_BATCH = 1


def replicas_diff(desired: int, active: int, burst: int = BURST_REPLICAS) -> int:
    """Pods to create (> 0) or delete (< 0), capped at `burst` either way.

    >>> replicas_diff(3, 0), replicas_diff(3, 5), replicas_diff(1000, 0)
    (3, -2, 500)"""
    diff = desired - active
    return max(-burst, min(burst, diff))


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """Sizes of the create batches: 1, 2, 4, ... until `count` is reached (slowStartBatch).

    A batch runs only if the previous one fully succeeded, so a quota or admission error
    costs one failed call rather than `count` of them.

    Worked example: 10 pods -> [1, 2, 4, 3]."""
    out: list[int] = []
    size = min(count, initial)
    remaining = count
    while remaining > 0 and size > 0:
        out.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return out


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def _log_rank_diff(t1: datetime, t2: datetime, at: datetime) -> int:
    """Compare two ages on a log2 scale of nanoseconds, so pods of similar age count as equal
    (LogarithmicScaleDown) and the tie falls to the uid, spreading deletions randomly."""
    def rank(t: datetime) -> int:
        d = (at - t).total_seconds() * 1e9
        return int(math.log2(d)) if d > 0 else -1
    return rank(t1) - rank(t2)


def _deletion_cost(pod: Obj) -> int:
    try:
        return int(podutil.annotations_of(pod).get("controller.kubernetes.io/pod-deletion-cost", "0"))
    except ValueError:
        return 0


def _after_or_zero(t1: datetime | None, t2: datetime | None) -> bool:
    """Empty time first, then the later one first."""
    if t1 is None or t2 is None:
        return t1 is None
    return t1 > t2


def _less(a: Obj, b: Obj, rank_a: int, rank_b: int, at: datetime | None) -> bool:
    """Kubernetes' ActivePodsWithRanks.Less: True if `a` should be deleted before `b`."""
    na, nb = (a.get("spec") or {}).get("nodeName", ""), (b.get("spec") or {}).get("nodeName", "")
    # 1. unassigned < assigned
    if na != nb and (not na or not nb):
        return not na
    # 2. Pending < Unknown < Running
    pa = _PHASE_ORDINAL.get((a.get("status") or {}).get("phase", ""), -1)
    pb = _PHASE_ORDINAL.get((b.get("status") or {}).get("phase", ""), -1)
    if pa != pb:
        return pa < pb
    # 3. not ready < ready
    ra, rb = podutil.is_pod_ready(a), podutil.is_pod_ready(b)
    if ra != rb:
        return not ra
    # 4. lower pod-deletion-cost < higher
    ca, cb = _deletion_cost(a), _deletion_cost(b)
    if ca != cb:
        return ca < cb
    # 5. doubled up (more related pods on the same node) < not doubled up
    if rank_a != rank_b:
        return rank_a > rank_b
    # 6. ready for less time < ready for more time (log scale)
    if ra and rb:
        ta, tb = podutil.pod_ready_time(a), podutil.pod_ready_time(b)
        if ta != tb:
            if at is None or ta is None or tb is None:
                return _after_or_zero(ta, tb)
            d = _log_rank_diff(ta, tb, at)
            if d == 0:
                return podutil.uid_of(a) < podutil.uid_of(b)
            return d < 0
    # 7. more restarts < fewer restarts
    (rega, sida), (regb, sidb) = podutil.max_container_restarts(a), podutil.max_container_restarts(b)
    if rega != regb:
        return rega > regb
    if sida != sidb:
        return sida > sidb
    # 8. empty creation time < newer < older (log scale)
    ta, tb = podutil.creation_time(a), podutil.creation_time(b)
    if ta != tb:
        if at is None or ta is None or tb is None:
            return _after_or_zero(ta, tb)
        d = _log_rank_diff(ta, tb, at)
        if d == 0:
            return podutil.uid_of(a) < podutil.uid_of(b)
        return d < 0
    return False


def pods_to_delete(pods: list[Obj], related: list[Obj], diff: int, at: datetime | None = None) -> list[Obj]:
    """The `diff` pods to delete first, in Kubernetes' order (getPodsToDelete):
    unscheduled, Pending, Unknown, not ready, low deletion cost, doubled up on a node with
    related pods (pods of the same Deployment's other ReplicaSets), ready for less time, more
    restarts, newer.

    `related` are the active pods of every ReplicaSet with the same controller (including
    this one's) and decide the "doubled up" rank."""
    if diff >= len(pods):
        return list(pods)
    on_node = Counter((p.get("spec") or {}).get("nodeName", "") for p in related if podutil.is_pod_active(p))
    ranks = {id(p): on_node[(p.get("spec") or {}).get("nodeName", "")] for p in pods}

    def cmp(a: Obj, b: Obj) -> int:
        if _less(a, b, ranks[id(a)], ranks[id(b)], at):
            return -1
        if _less(b, a, ranks[id(b)], ranks[id(a)], at):
            return 1
        return 0
    return sorted(pods, key=cmp_to_key(cmp))[:diff]


# --- adoption -----------------------------------------------------------------------------

def claim_decision(pod: Obj, owner_uid: str, selector_matches: bool, owner_deleting: bool) -> str:
    """What the ReplicaSet does with a pod in its namespace (ClaimPods):
    `own` (already ours and matching), `adopt` (an orphan that matches), `release` (ours but
    no longer matching), or `ignore` (someone else's, or not for us).

    An owner being deleted adopts nothing; a pod being deleted is never adopted."""
    ref = podutil.controller_ref(pod)
    if ref is not None:
        if ref.get("uid") != owner_uid:
            return "ignore"
        if selector_matches:
            return "own"
        return "ignore" if owner_deleting else "release"
    if not selector_matches or owner_deleting or podutil.is_deleting(pod):
        return "ignore"
    return "adopt"


# --- status -------------------------------------------------------------------------------

def calculate_status(rs: Obj, active_pods: list[Obj], manage_error: str | None, manage_diff: int,
                     at: datetime) -> Obj:
    """The ReplicaSet's new status (calculateStatus).

    `manage_error` is the message of a failed create/delete in this sync: it becomes the
    ReplicaFailure condition (reason FailedCreate when pods were missing, FailedDelete when
    there were too many), which a successful sync removes."""
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    status: Obj = {k: v for k, v in (rs.get("status") or {}).items()}
    status["conditions"] = [dict(c) for c in status.get("conditions") or []]
    fully = ready = available = 0
    wanted = list(template_labels.items())
    for p in active_pods:  # the hot loop of every sync: plain dict access only
        labels = (p.get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in wanted):
            fully += 1
        for c in (p.get("status") or {}).get("conditions") or ():
            if c.get("type") == "Ready":
                if c.get("status") == "True":
                    ready += 1
                    if min_ready == 0 or podutil.is_pod_available(p, min_ready, at):
                        available += 1
                break
    status["replicas"] = len(active_pods)
    status["fullyLabeledReplicas"] = fully
    status["readyReplicas"] = ready
    status["availableReplicas"] = available
    status["observedGeneration"] = podutil.meta(rs).get("generation", 0)
    failure = podutil.get_condition(status, "ReplicaFailure")
    if manage_error is not None and failure is None:
        reason = "FailedCreate" if manage_diff < 0 else "FailedDelete"
        status["conditions"].append({"type": "ReplicaFailure", "status": "True", "reason": reason,
                                     "message": manage_error, "lastTransitionTime": podutil.format_time(at)})
    elif manage_error is None and failure is not None:
        podutil.remove_condition(status, "ReplicaFailure")
    if not status.get("conditions"):
        status.pop("conditions", None)
    return status


def status_equal(a: Obj | None, b: Obj | None) -> bool:
    def norm(s: Obj | None) -> dict[str, Any]:
        s = dict(s or {})
        for k in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"):
            s[k] = int(s.get(k) or 0)
        if not s.get("conditions"):
            s.pop("conditions", None)
        return s
    return norm(a) == norm(b)


def requeue_for_availability(rs: Obj, active_pods: list[Obj], at: datetime) -> float | None:
    """Seconds until a ready-but-not-yet-available pod becomes available (so status is
    refreshed then without polling), or None."""
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready <= 0:
        return None
    waits = []
    for p in active_pods:
        t = podutil.pod_ready_time(p)
        if t is not None and not podutil.is_pod_available(p, min_ready, at):
            waits.append(min_ready - (at - t).total_seconds())
    return max(0.1, min(waits)) if waits else None
