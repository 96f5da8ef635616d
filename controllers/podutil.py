"""Small pure helpers over pod, owner-reference and condition dicts shared by the controllers.

Objects are the JSON dicts the API sends (camelCase keys). Nothing here does I/O or mutates
its arguments: callers copy before they change an object they read from an informer cache."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


def now() -> datetime:
    return datetime.now(UTC)


def parse_time(s: str | None) -> datetime | None:
    """RFC 3339 as the API writes it (`2024-05-01T10:00:00Z`, optional fraction)."""
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(o: Obj) -> Obj:
    return o.get("metadata") or {}


def name_of(o: Obj) -> str:
    return meta(o).get("name", "")


def namespace_of(o: Obj) -> str:
    return meta(o).get("namespace", "") or ""


def uid_of(o: Obj) -> str:
    return meta(o).get("uid", "")


def labels_of(o: Obj) -> dict[str, str]:
    return meta(o).get("labels") or {}


def annotations_of(o: Obj) -> dict[str, str]:
    return meta(o).get("annotations") or {}


def key_of(o: Obj) -> str:
    """The work-queue key: `namespace/name`, or `name` for cluster-scoped objects."""
    ns = namespace_of(o)
    return f"{ns}/{name_of(o)}" if ns else name_of(o)


def split_key(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns, name


def is_deleting(o: Obj) -> bool:
    return bool(meta(o).get("deletionTimestamp"))


def creation_time(o: Obj) -> datetime | None:
    return parse_time(meta(o).get("creationTimestamp"))


def creation_sort_key(o: Obj) -> tuple[str, str]:
    """Oldest first, then by name (Kubernetes' ByCreationTimestamp tie-break)."""
    return (meta(o).get("creationTimestamp") or "", name_of(o))


# --- owner references -------------------------------------------------------------------------

def controller_ref(o: Obj) -> Obj | None:
    for ref in meta(o).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: Obj, api_version: str, kind: str) -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": True,
        "blockOwnerDeletion": True,
    }


# --- pods -------------------------------------------------------------------------------------

def pod_condition(pod: Obj, ctype: str) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def ready_status(pod: Obj) -> str | None:
    """The Ready condition's status ("True", "False", "Unknown") or None."""
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status")
    return None


def pod_change_matters(old: Obj, new: Obj) -> bool:
    """Whether a pod update can change what a ReplicaSet or DaemonSet decides: labels,
    owners, deletion, phase or readiness. Status-only noise (container details,
    heartbeat-like rewrites) does not wake the owner."""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    if om.get("resourceVersion") == nm.get("resourceVersion"):
        return False
    return (om.get("labels") != nm.get("labels") or om.get("ownerReferences") != nm.get("ownerReferences")
            or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
            or (old.get("status") or {}).get("phase") != (new.get("status") or {}).get("phase")
            or ready_status(old) != ready_status(new))


def only_status_changed(old: Obj, new: Obj) -> bool:
    """An update that changed nothing but status (typically our own status write coming back)."""
    if old.get("spec") != new.get("spec"):
        return False
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    ignore = ("resourceVersion", "managedFields")
    return {k: v for k, v in om.items() if k not in ignore} == {k: v for k, v in nm.items() if k not in ignore}


def is_pod_active(pod: Obj) -> bool:
    """Counts toward replicas: not terminal and not being deleted (controller.IsPodActive)."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_deleting(pod)


def is_pod_ready(pod: Obj) -> bool:
    c = pod_condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def pod_ready_time(pod: Obj) -> datetime | None:
    c = pod_condition(pod, "Ready")
    if c and c.get("status") == "True":
        return parse_time(c.get("lastTransitionTime"))
    return None


def is_pod_available(pod: Obj, min_ready_seconds: int, at: datetime) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds == 0:
        return True
    t = pod_ready_time(pod)
    return t is not None and (at - t).total_seconds() >= min_ready_seconds


def max_container_restarts(pod: Obj) -> tuple[int, int]:
    """(max restarts of regular containers, max restarts of sidecar init containers)."""
    status = pod.get("status") or {}
    regular = max((int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []
                if c.get("restartPolicy") == "Always"}
    sidecar = max((int(c.get("restartCount") or 0) for c in status.get("initContainerStatuses") or []
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


# --- conditions -------------------------------------------------------------------------------

def get_condition(status: Obj, ctype: str) -> Obj | None:
    for c in status.get("conditions") or []:
        if c.get("type") == ctype:
            return c
    return None


def set_condition(status: Obj, cond: Obj) -> None:
    """Kubernetes' SetDeploymentCondition: an identical status+reason is left alone (its times
    kept); a same-status change keeps lastTransitionTime; others replace the condition."""
    cur = get_condition(status, cond["type"])
    if cur is not None and cur.get("status") == cond.get("status") and cur.get("reason") == cond.get("reason"):
        return
    cond = dict(cond)
    if cur is not None and cur.get("status") == cond.get("status"):
        cond["lastTransitionTime"] = cur.get("lastTransitionTime", cond.get("lastTransitionTime"))
    remove_condition(status, cond["type"])
    status.setdefault("conditions", []).append(cond)


def remove_condition(status: Obj, ctype: str) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)


# --- intstr -----------------------------------------------------------------------------------

def scaled_value(v: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, `25%` of total rounded as asked.

    Worked example: 25% of 10 is 2.5 -> 3 rounding up (maxSurge), 2 rounding down
    (maxUnavailable)."""
    if v is None:
        return 0
    if isinstance(v, int):
        return v
    s = str(v).strip()
    if s.endswith("%"):
        pct = int(s[:-1])
        exact = pct * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(s)


# --- hashing ----------------------------------------------------------------------------------

_SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString: map every byte onto consonants and digits so that a hash never
    spells words and is a valid label value."""
    return "".join(_SAFE_ALPHANUMS[b % len(_SAFE_ALPHANUMS)] for b in s.encode())


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h
