"""PodDisruptionBudget arithmetic (Kubernetes v1.32's disruption controller), pure.

How many pods the budget protects and how many must stay healthy:

- `minAvailable: 2` (an integer): expectedPods = the matching pods, desiredHealthy = 2;
- `minAvailable: "50%"`: expectedPods = the scale of the pods' controllers (a Deployment's
  or ReplicaSet's or StatefulSet's spec.replicas, each counted once), desiredHealthy =
  ceil(50% of it);
- `maxUnavailable: 1` or `"25%"`: expectedPods = the controllers' scale, desiredHealthy =
  expectedPods - maxUnavailable (a percentage rounded up), at least 0.

Worked example: a Deployment of 3 replicas, all ready, `maxUnavailable: 1`: expected 3,
desired 2, healthy 3 -> disruptionsAllowed 1. One eviction later the API server recorded the
pod in `disruptedPods` (and decremented disruptionsAllowed): it no longer counts as healthy
for 2 minutes (or until it is gone), so healthy 2 -> disruptionsAllowed 0 until the
replacement is Ready.

No I/O and no clock: callers pass `now` (seconds since the epoch)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apimachinery.timefmt import parse_time  # noqa: F401  (re-exported: callers use it from here)

Obj = dict[str, Any]

DELETION_TIMEOUT = 120.0  # seconds a disrupted pod stays counted as going away


class NoControllers(Exception):
    """A percentage or maxUnavailable needs the pods' controllers, and a pod has none."""


def _pct(v: Any) -> float | None:
    if isinstance(v, str) and v.strip().endswith("%"):
        return int(v.strip()[:-1]) / 100
    return None


def scaled(v: Any, total: int, round_up: bool) -> int:
    p = _pct(v)
    if p is None:
        return int(v)
    x = p * total
    return math.ceil(x - 1e-9) if round_up else math.floor(x + 1e-9)


def expected_and_desired(spec: Obj, pods: list[Obj], scale_of: Callable[[Obj], tuple[str, int] | None],
                         ) -> tuple[int, int]:
    """(expectedPods, desiredHealthy). `scale_of(pod)` gives (controller uid, its scale) or
    None when the pod has no controller with a scale; raises NoControllers then, when needed."""
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")

    def controllers_scale() -> int:
        seen: dict[str, int] = {}
        for p in pods:
            s = scale_of(p)
            if s is None:
                raise NoControllers(f'found no controllers for pod "{(p.get("metadata") or {}).get("name", "")}"')
            seen[s[0]] = s[1]
        return sum(seen.values())

    if max_unavailable is not None:
        expected = controllers_scale()
        desired = max(0, expected - scaled(max_unavailable, expected, True))
        return expected, desired
    if min_available is not None:
        if _pct(min_available) is None:
            return len(pods), int(min_available)
        expected = controllers_scale()
        return expected, scaled(min_available, expected, True)
    return 0, 0




def live_disrupted_pods(disrupted: dict[str, str], pods_by_name: dict[str, Obj], now: float,
                        ) -> tuple[dict[str, str], float | None]:
    """The disruptedPods entries to keep (the pod still exists, is not being deleted yet, and
    was evicted less than 2 minutes ago) and when the next one expires."""
    keep: dict[str, str] = {}
    next_expiry: float | None = None
    for name, at in (disrupted or {}).items():
        pod = pods_by_name.get(name)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        t = parse_time(at)
        if t is None or t + DELETION_TIMEOUT <= now:
            continue
        keep[name] = at
        exp = t + DELETION_TIMEOUT
        next_expiry = exp if next_expiry is None else min(next_expiry, exp)
    return keep, next_expiry


def _ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def current_healthy(pods: list[Obj], disrupted: dict[str, str]) -> int:
    """Ready pods that are neither being deleted nor just evicted."""
    return sum(1 for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")
               and (p.get("metadata") or {}).get("name") not in disrupted and _ready(p))


@dataclass(frozen=True)
class Computed:
    expected: int
    desired: int
    healthy: int
    allowed: int
    disrupted: dict[str, str]
    recheck_at: float | None


def compute(spec: Obj, status: Obj, pods: list[Obj], scale_of: Callable[[Obj], tuple[str, int] | None],
            now: float) -> Computed:
    """Everything the status needs (raises NoControllers, see expected_and_desired)."""
    expected, desired = expected_and_desired(spec, pods, scale_of)
    by_name = {(p.get("metadata") or {}).get("name", ""): p for p in pods}
    disrupted, recheck = live_disrupted_pods(status.get("disruptedPods") or {}, by_name, now)
    healthy = current_healthy(pods, disrupted)
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    return Computed(expected, desired, healthy, allowed, disrupted, recheck)


def _condition(old: list[Obj], status: str, reason: str, message: str, generation: int, at: str) -> list[Obj]:
    prev = next((c for c in old if c.get("type") == "DisruptionAllowed"), None)
    cond = {"type": "DisruptionAllowed", "status": status, "reason": reason, "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": prev["lastTransitionTime"] if prev and prev.get("status") == status
            and prev.get("lastTransitionTime") else at}
    return [c for c in old if c.get("type") != "DisruptionAllowed"] + [cond]


def new_status(old: Obj, c: Computed, generation: int, at: str) -> Obj:
    """The PDB status for computed numbers; the condition reason is SufficientPods when a
    disruption is allowed, else InsufficientPods."""
    st: Obj = {"observedGeneration": generation, "disruptionsAllowed": c.allowed, "currentHealthy": c.healthy,
               "desiredHealthy": c.desired, "expectedPods": c.expected}
    if c.disrupted:
        st["disruptedPods"] = dict(c.disrupted)
    ok = c.allowed > 0
    st["conditions"] = _condition(old.get("conditions") or [], "True" if ok else "False",
                                  "SufficientPods" if ok else "InsufficientPods", "", generation, at)
    return st


def failsafe_status(old: Obj, message: str, generation: int, at: str) -> Obj:
    """When the numbers cannot be computed: no disruption allowed (reason SyncFailed)."""
    st = {k: v for k, v in old.items() if k != "conditions"}
    st["disruptionsAllowed"] = 0
    st["observedGeneration"] = generation
    st["conditions"] = _condition(old.get("conditions") or [], "False", "SyncFailed", message, generation, at)
    return st


def now_str(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
