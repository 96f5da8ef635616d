"""Pure decisions of the node lifecycle controller: is a node's heartbeat stale, what its
conditions become, which taints it should carry, how disrupted each zone is and how fast
nodes may be tainted for eviction there, and when a pod on a NoExecute-tainted node must go.

The policy is Kubernetes v1.32's (kube-controller-manager's node lifecycle controller and
taint eviction controller):

- no heartbeat (Lease renewal or Ready heartbeat) seen for `node_monitor_grace_period`
  -> every condition Unknown ("Kubelet stopped posting node status.");
- Ready=False -> `node.kubernetes.io/not-ready`, Ready=Unknown -> `.../unreachable`, both as
  NoSchedule at once and as NoExecute through a per-zone rate limiter;
- zone states from the Ready conditions: FullDisruption when no node of the zone is ready,
  PartialDisruption when more than 2 nodes and at least 55% are not ready, else Normal;
  Normal and FullDisruption zones taint at `--node-eviction-rate` (0.1 node/s), partially
  disrupted ones at `--secondary-node-eviction-rate` (0.01) or not at all in small clusters
  (<= 50 nodes); and when EVERY zone is fully disrupted the controller assumes that it, not
  the nodes, lost touch (an API server or database stall) and evicts nothing at all;
- a pod is evicted at once if it does not tolerate every NoExecute taint of its node, else
  after the smallest tolerationSeconds among the tolerations used, else never.

No I/O here, and no clock: callers pass `now`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apimachinery.timefmt import parse_time  # noqa: F401  (re-exported: callers use it from here)

Obj = dict[str, Any]

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
CONDITION_TAINTS = {  # condition type -> (status that taints, taint key), TaintNodesByCondition
    "MemoryPressure": ("True", "node.kubernetes.io/memory-pressure"),
    "DiskPressure": ("True", "node.kubernetes.io/disk-pressure"),
    "PIDPressure": ("True", "node.kubernetes.io/pid-pressure"),
    "NetworkUnavailable": ("True", "node.kubernetes.io/network-unavailable"),
}
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"

NORMAL = "Normal"
PARTIAL = "PartialDisruption"
FULL = "FullDisruption"

UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NEVER_REASON = "NodeStatusNeverUpdated"
NEVER_MESSAGE = "Kubelet never posted node status."
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def ready_status(node: Obj) -> str | None:
    """"True", "False", "Unknown", or None when the kubelet never posted a Ready condition."""
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") or "Unknown"
    return None


def zone_key(node: Obj) -> str:
    """The zone a node belongs to for eviction purposes ("" when unlabelled): region:zone."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    zone = labels.get(ZONE_LABEL) or labels.get("failure-domain.beta.kubernetes.io/zone") or ""
    region = labels.get(REGION_LABEL) or labels.get("failure-domain.beta.kubernetes.io/region") or ""
    return f"{region}:{zone}" if region or zone else ""


def is_stale(last_probe: float, now: float, grace: float) -> bool:
    """The node's last heartbeat, as observed by this controller's clock, is older than grace."""
    return now - last_probe > grace


def unknown_conditions(node: Obj, at: str) -> list[Obj] | None:
    """The node's conditions after the kubelet went silent: each of Ready and the pressure
    conditions Unknown (the missing ones added as never updated), heartbeat times kept.
    None when there is nothing to change (already all Unknown)."""
    old = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or ()}
    out: list[Obj] = []
    changed = False
    for ctype in NODE_CONDITIONS:
        c = old.get(ctype)
        if c is None:
            out.append({"type": ctype, "status": "Unknown", "reason": NEVER_REASON, "message": NEVER_MESSAGE,
                        "lastHeartbeatTime": at, "lastTransitionTime": at})
            changed = True
        elif c.get("status") != "Unknown":
            out.append({**c, "status": "Unknown", "reason": UNKNOWN_REASON, "message": UNKNOWN_MESSAGE,
                        "lastTransitionTime": at})
            changed = True
        else:
            out.append(c)
    out.extend(c for t, c in old.items() if t not in NODE_CONDITIONS)
    return out if changed else None


def noschedule_taint_keys(node: Obj) -> set[str]:
    """The NoSchedule taints the node's conditions call for (TaintNodesByCondition)."""
    keys: set[str] = set()
    ready = ready_status(node)
    if ready == "False":
        keys.add(NOT_READY)
    elif ready == "Unknown":
        keys.add(UNREACHABLE)
    for c in (node.get("status") or {}).get("conditions") or ():
        want = CONDITION_TAINTS.get(c.get("type") or "")
        if want is not None and c.get("status") == want[0]:
            keys.add(want[1])
    return keys


MANAGED_NOSCHEDULE = {NOT_READY, UNREACHABLE, *(k for _, k in CONDITION_TAINTS.values())}


def noexecute_taint_key(node: Obj) -> str | None:
    """The NoExecute taint the node should carry: not-ready for Ready=False, unreachable for
    Unknown (or never reported), none when Ready."""
    ready = ready_status(node)
    if ready == "True":
        return None
    if ready == "False":
        return NOT_READY
    return UNREACHABLE


def taints_with(node: Obj, noschedule: set[str], noexecute: str | None | bool, at: str) -> list[Obj] | None:
    """The node's taints with the managed NoSchedule set replaced by `noschedule` and, unless
    `noexecute` is False (leave as is), the managed NoExecute taint set to `noexecute` (None:
    removed). None when nothing changes. Taints we do not manage are kept in place."""
    old = list((node.get("spec") or {}).get("taints") or [])
    out: list[Obj] = []
    for t in old:
        key, effect = t.get("key"), t.get("effect")
        if effect == "NoSchedule" and key in MANAGED_NOSCHEDULE and key not in noschedule:
            continue
        if noexecute is not False and effect == "NoExecute" and key in (NOT_READY, UNREACHABLE) and key != noexecute:
            continue
        out.append(t)
    have = {(t.get("key"), t.get("effect")) for t in out}
    for key in sorted(noschedule):
        if (key, "NoSchedule") not in have:
            out.append({"key": key, "effect": "NoSchedule"})
    if noexecute not in (False, None) and (noexecute, "NoExecute") not in have:
        out.append({"key": noexecute, "effect": "NoExecute", "timeAdded": at})
    return None if out == old else out


def has_noexecute(node: Obj, key: str) -> bool:
    return any(t.get("key") == key and t.get("effect") == "NoExecute"
               for t in (node.get("spec") or {}).get("taints") or ())


def compute_zone_state(ready: list[str | None], threshold: float = 0.55) -> tuple[int, str]:
    """(not ready nodes, state) of one zone, from its nodes' Ready statuses.

    Worked examples: [T, T, U] -> (1, Normal); [U, U, U] -> (3, FullDisruption);
    [T, U, U, U] -> 3/4 = 75% >= 55% and > 2 -> (3, PartialDisruption); [T, U, U] -> only
    2 not ready -> (2, Normal)."""
    ok = sum(1 for r in ready if r == "True")
    bad = len(ready) - ok
    if ok == 0 and bad > 0:
        return bad, FULL
    if bad > 2 and bad / (bad + ok) >= threshold:
        return bad, PARTIAL
    return bad, NORMAL


def all_zones_disrupted(states: dict[str, str]) -> bool:
    """Every zone fully disrupted: the control plane, not the nodes, is the likely failure."""
    return bool(states) and all(s == FULL for s in states.values())


def zone_eviction_rate(state: str, zone_size: int, rate: float = 0.1, secondary_rate: float = 0.01,
                       large_cluster_threshold: int = 50) -> float:
    """Nodes per second that may be tainted NoExecute in a zone (setLimiterInZone)."""
    if state == PARTIAL:
        return secondary_rate if zone_size > large_cluster_threshold else 0.0
    return rate


@dataclass
class TokenBucket:
    """A token bucket with burst 1 (flowcontrol.NewTokenBucketRateLimiter(qps, 1)); time is
    passed in. qps 0 never grants."""

    qps: float
    tokens: float = 1.0
    last: float | None = None

    def set_rate(self, qps: float, now: float) -> None:
        if qps != self.qps:
            self._refill(now)
            self.qps = qps

    def _refill(self, now: float) -> None:
        if self.last is not None and self.qps > 0:
            self.tokens = min(1.0, self.tokens + (now - self.last) * self.qps)
        self.last = now

    def try_take(self, now: float) -> bool:
        self._refill(now)
        if self.qps > 0 and self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def _tolerates(tol: Obj, taint: Obj) -> bool:
    effect = tol.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and key == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or "")


def eviction_delay(tolerations: list[Obj], taints: list[Obj]) -> float | None:
    """Seconds after the taints appeared at which the pod must be evicted: 0 when some
    NoExecute taint is not tolerated, the smallest tolerationSeconds among the tolerations
    that match, or None (never) when they all tolerate forever or there is no NoExecute taint.

    Worked example: taint unreachable:NoExecute, tolerations [unreachable Exists for 300 s]
    -> 300; no toleration -> 0; [Exists, no seconds] -> None."""
    noexec = [t for t in taints if t.get("effect") == "NoExecute"]
    if not noexec:
        return None
    used: list[Obj] = []
    for taint in noexec:
        tol = next((t for t in tolerations if _tolerates(t, taint)), None)
        if tol is None:
            return 0.0
        used.append(tol)
    secs = [int(t["tolerationSeconds"]) for t in used if t.get("tolerationSeconds") is not None]
    if not secs:
        return None
    return float(max(0, min(secs)))




def taints_since(taints: list[Obj], observed: float) -> float:
    """When the pod's clock started: the earliest timeAdded of the NoExecute taints, else
    when this controller first saw them."""
    times = [parse_time(t.get("timeAdded")) for t in taints if t.get("effect") == "NoExecute"]
    known = [t for t in times if t is not None]
    return min(known) if known else observed


def pods_not_ready_status(pod: Obj, at: str) -> Obj | None:
    """The pod's status with Ready=False (MarkPodsNotReady), or None if already not ready."""
    status = dict(pod.get("status") or {})
    conds = [dict(c) for c in status.get("conditions") or ()]
    changed = False
    for c in conds:
        if c.get("type") == "Ready" and c.get("status") != "False":
            c["status"] = "False"
            c["lastTransitionTime"] = at
            changed = True
    if not changed:
        return None
    status["conditions"] = conds
    return status
