"""Pod status as the kubelet reports it, computed from what the runtime says about containers.

Why it exists: ``kubectl get pods`` and ``kubectl describe pod`` show exactly what this module
computes (phase, conditions, container states with reasons and exit codes, restart counts), so
the rules follow Kubernetes v1.32's kubelet (``getPhase``, ``generateAPIPodStatus``,
``convertToAPIContainerStatuses``) and are pure functions tested with tables. The crash-loop
back-off arithmetic lives here too.

It must never do I/O or read the clock itself: ``now`` is always an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apimachinery.timefmt import parse_time  # noqa: F401  (re-exported: callers use it from here)

Obj = dict[str, Any]

MAX_BACKOFF = 300.0
# a container that ran this long without failing starts its back-off again from the base
BACKOFF_RESET_AFTER = 600.0


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")




def seconds_rfc3339(s: str) -> str:
    """Kubernetes reports container times with second precision."""
    t = parse_time(s)
    return rfc3339(t) if t is not None else s


# --------------------------------------------------------------------------- back-off


@dataclass
class BackoffEntry:
    delay: float          # current back-off (0: the next restart is immediate)
    since: float          # when the container last exited (the back-off counts from here)


def next_backoff(entry: BackoffEntry | None, finished_at: float, ran_for: float, base: float,
                 cap: float = MAX_BACKOFF) -> BackoffEntry:
    """The back-off after a container exited at ``finished_at`` having run ``ran_for`` s.

    Kubernetes' crash loop: the first restart is immediate, then 10 s, 20 s, 40 s ... 5 min;
    a container that ran 10 minutes starts again at the beginning. Worked example with
    base 10: exits -> delay 0 (restart now); exits again -> 10; again -> 20; ... -> 300, 300.
    """
    if entry is None or ran_for >= BACKOFF_RESET_AFTER:
        return BackoffEntry(0.0, finished_at)
    delay = base if entry.delay <= 0 else min(cap, entry.delay * 2)
    return BackoffEntry(delay, finished_at)


def backoff_remaining(entry: BackoffEntry | None, now: float) -> float:
    """Seconds before the container may be restarted (0: now)."""
    if entry is None:
        return 0.0
    return max(0.0, entry.since + entry.delay - now)


def crashloop_message(delay: float, container: str, pod: Obj) -> str:
    m = pod.get("metadata") or {}
    return (f"back-off {_duration(delay)} restarting failed container={container} "
            f"pod={m.get('name', '')}_{m.get('namespace', '')}({m.get('uid', '')})")


def _duration(s: float) -> str:
    """Go's time.Duration formatting for whole seconds: 10s, 1m20s, 5m0s."""
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    return f"{s // 60}m{s % 60}s"


# --------------------------------------------------------------------------- containers


@dataclass
class ContainerView:
    """What the pod worker knows about one container (pure data).

    ``latest``/``previous`` are runtime ContainerStatus-like mappings (state, exit_code,
    reason, message, started_at, finished_at, id, attempt, image_id); ``waiting`` is set when
    the container is not running and should be shown waiting (reason, message)."""

    name: str
    image: str
    latest: Mapping[str, Any] | None = None
    previous: Mapping[str, Any] | None = None
    waiting: tuple[str, str] | None = None
    ready: bool = False
    started: bool = False


def terminated(c: Mapping[str, Any]) -> Obj:
    reason = c.get("reason") or ("Completed" if c.get("exit_code") == 0 else "Error")
    if reason == "StartError":
        reason = "ContainerCannotRun"
    out: Obj = {"exitCode": int(c.get("exit_code") or 0), "reason": reason,
                "startedAt": seconds_rfc3339(c.get("started_at") or c.get("finished_at") or ""),
                "finishedAt": seconds_rfc3339(c.get("finished_at") or ""),
                "containerID": f"mizzen://{c.get('id', '')}"}
    if c.get("message"):
        out["message"] = c["message"]
    return out


def api_container_status(v: ContainerView) -> Obj:
    """One entry of containerStatuses / initContainerStatuses."""
    latest = v.latest
    state: Obj
    last: Obj = {}
    if v.waiting is not None:
        w: Obj = {"reason": v.waiting[0]}
        if v.waiting[1]:
            w["message"] = v.waiting[1]
        state = {"waiting": w}
        if latest is not None and latest.get("state") == "exited":
            last = {"terminated": terminated(latest)}
        elif v.previous is not None:
            last = {"terminated": terminated(v.previous)}
    elif latest is None:
        state = {"waiting": {"reason": "ContainerCreating"}}
    elif latest.get("state") == "running":
        state = {"running": {"startedAt": seconds_rfc3339(latest.get("started_at") or "")}}
        if v.previous is not None:
            last = {"terminated": terminated(v.previous)}
    elif latest.get("state") == "exited":
        state = {"terminated": terminated(latest)}
        if v.previous is not None:
            last = {"terminated": terminated(v.previous)}
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
    restarts = int(latest.get("attempt", 0)) if latest is not None else 0
    out: Obj = {"name": v.name, "image": v.image, "imageID": "", "ready": v.ready,
                "restartCount": restarts, "started": v.started, "state": state, "lastState": last}
    if latest is not None:
        out["imageID"] = latest.get("image_id") or ""
        out["containerID"] = f"mizzen://{latest.get('id', '')}"
    return out


# --------------------------------------------------------------------------- pod


def pod_phase(restart_policy: str, init_statuses: list[Obj], statuses: list[Obj], init_done: bool) -> str:
    """Kubernetes' getPhase over the API container statuses.

    Pending while init containers have not all succeeded (Failed if one failed for good
    under restartPolicy Never) or while a container has never run; Running while one runs
    or will be restarted; Succeeded when all exited 0; Failed when all exited and one failed
    and will not be restarted."""
    if not init_done:
        for s in init_statuses:
            t = (s.get("state") or {}).get("terminated")
            if t and t.get("exitCode", 0) != 0 and restart_policy == "Never":
                return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for s in statuses:
        st = s.get("state") or {}
        if "running" in st:
            running += 1
        elif "terminated" in st:
            stopped += 1
            if st["terminated"].get("exitCode", 0) == 0:
                succeeded += 1
        elif "waiting" in st:
            if (s.get("lastState") or {}).get("terminated"):
                stopped += 1
            else:
                waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def condition(old: list[Obj], ctype: str, ok: bool, now: float, reason: str = "", message: str = "") -> Obj:
    """A pod condition keeping its lastTransitionTime while its status does not change."""
    prev = next((c for c in old if c.get("type") == ctype), None)
    st = "True" if ok else "False"
    c: Obj = {"type": ctype, "status": st, "lastProbeTime": None,
              "lastTransitionTime": prev.get("lastTransitionTime") if prev and prev.get("status") == st
              and prev.get("lastTransitionTime") else rfc3339(now)}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def pod_conditions(old: list[Obj], *, phase: str, sandbox_ready: bool, init_statuses: list[Obj],
                   statuses: list[Obj], init_done: bool, now: float) -> list[Obj]:
    """PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled."""
    done = phase in ("Succeeded", "Failed")
    conds = [condition(old, "PodReadyToStartContainers", sandbox_ready and not done, now)]
    if init_done or not init_statuses:
        conds.append(condition(old, "Initialized", True, now, "PodCompleted" if done and init_statuses else ""))
    else:
        pending = [s["name"] for s in init_statuses
                   if "terminated" not in (s.get("state") or {})
                   or (s["state"]["terminated"].get("exitCode", 0) != 0)]
        conds.append(condition(old, "Initialized", False, now, "ContainersNotInitialized",
                               f"containers with incomplete status: [{' '.join(pending)}]"))
    unready = [s["name"] for s in statuses if not s.get("ready")]
    all_ready = init_done and bool(statuses) and not unready and not done
    if all_ready:
        r = ("", "")
    elif done:
        r = ("PodCompleted", "")
    elif not init_done:
        r = ("ContainersNotInitialized", f"containers with incomplete status: "
             f"[{' '.join(s['name'] for s in init_statuses if 'terminated' not in (s.get('state') or {}) or s['state']['terminated'].get('exitCode', 0) != 0)}]")
    else:
        r = ("ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    conds.append(condition(old, "Ready", all_ready, now, *r))
    conds.append(condition(old, "ContainersReady", all_ready, now, *r))
    scheduled = next((c for c in old if c.get("type") == "PodScheduled"), None)
    conds.append(scheduled or condition(old, "PodScheduled", True, now))
    return conds


def status_changed(old: Obj, new: Obj) -> bool:
    """True when ``new`` differs from the stored status in anything we own."""
    for k, v in new.items():
        if old.get(k) != v:
            return True
    return False
