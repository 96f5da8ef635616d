"""Pure decisions of the Job controller, after Kubernetes' pkg/controller/job (v1.32).

No I/O and no mutation of inputs: functions take the Job and its pods as the API sends them
and say what to count, what to create or delete and what the status becomes. The controller
module performs the writes.

Pod accounting follows Kubernetes' finalizer tracking: a pod the Job created carries the
`batch.kubernetes.io/job-tracking` finalizer; once terminal (or being deleted) its uid is first
recorded in `status.uncountedTerminatedPods`, then its finalizer is removed, then the uid moves
into `status.succeeded`/`status.failed`. A terminated pod without the finalizer is therefore
already counted, and a pod is never counted twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controllers import podutil
from controllers.podutil import Obj

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"

DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0
MAX_UNCOUNTED = 500  # Kubernetes' maxUncountedPods bounds one status write

BACKOFF_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"
COMPLETE_MESSAGE = "Reached expected number of succeeded pods"


def spec_of(job: Obj) -> Obj:
    return job.get("spec") or {}


def is_indexed(job: Obj) -> bool:
    return spec_of(job).get("completionMode") == "Indexed"


def restart_policy(job: Obj) -> str:
    return ((spec_of(job).get("template") or {}).get("spec") or {}).get("restartPolicy", "Never")


def condition_true(job: Obj, ctype: str) -> bool:
    c = podutil.get_condition(job.get("status") or {}, ctype)
    return c is not None and c.get("status") == "True"


def is_finished(job: Obj) -> bool:
    """Complete or Failed (IsJobFinished)."""
    return condition_true(job, "Complete") or condition_true(job, "Failed")


def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase", "")


def has_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (podutil.meta(pod).get("finalizers") or [])


def is_active(pod: Obj) -> bool:
    return phase(pod) not in ("Succeeded", "Failed") and not podutil.is_deleting(pod)


def is_terminating(pod: Obj) -> bool:
    return podutil.is_deleting(pod) and phase(pod) not in ("Succeeded", "Failed")


def completion_index(pod: Obj) -> int | None:
    v = podutil.annotations_of(pod).get(COMPLETION_INDEX)
    if v is None:
        v = podutil.labels_of(pod).get(COMPLETION_INDEX)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


def finish_time(pod: Obj) -> datetime | None:
    """When the pod's last container stopped, else when it stopped being ready, else its creation."""
    latest: datetime | None = None
    for c in (pod.get("status") or {}).get("containerStatuses") or []:
        t = podutil.parse_time(((c.get("state") or {}).get("terminated") or {}).get("finishedAt"))
        if t is not None and (latest is None or t > latest):
            latest = t
    if latest is None:
        ready = podutil.pod_condition(pod, "Ready")
        latest = podutil.parse_time((ready or {}).get("lastTransitionTime"))
    return latest or podutil.creation_time(pod)


# --- indexes ----------------------------------------------------------------------------------

def parse_indexes(s: str | None, completions: int) -> set[int]:
    """`"1,3-5,7"` -> {1, 3, 4, 5, 7} (indexes >= completions dropped)."""
    out: set[int] = set()
    for part in (s or "").split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            continue
        out.update(i for i in range(lo, hi + 1) if 0 <= i < completions)
    return out


def format_indexes(indexes: set[int]) -> str:
    """{1, 3, 4, 5, 7} -> `"1,3-5,7"` (consecutive runs as ranges)."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def surplus_index_pods(active: list[Obj], completed: set[int], completions: int) -> list[Obj]:
    """Active pods of an Indexed Job that must go: no valid index, an index already
    completed, or a duplicate of an index another pod runs (the ready, then older, one stays)."""
    out: list[Obj] = []
    by_index: dict[int, list[Obj]] = {}
    for p in active:
        i = completion_index(p)
        if i is None or i < 0 or i >= completions or i in completed:
            out.append(p)
        else:
            by_index.setdefault(i, []).append(p)
    for pods in by_index.values():
        if len(pods) > 1:
            pods = sorted(pods, key=lambda p: (not podutil.is_pod_ready(p),
                                               podutil.meta(p).get("creationTimestamp") or "", podutil.name_of(p)))
            out.extend(pods[1:])
    return out


# --- backoff ----------------------------------------------------------------------------------

def backoff_delay(failures: int, base: float = DEFAULT_BACKOFF, cap: float = MAX_BACKOFF) -> float:
    """Delay before the next pod after `failures` consecutive failures: base * 2^(n-1), capped.

    >>> [backoff_delay(n) for n in (0, 1, 2, 3, 6, 7)]
    [0.0, 10.0, 20.0, 40.0, 320.0, 360.0]"""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, 32))


def remaining_backoff(pods: list[Obj], at: datetime, base: float = DEFAULT_BACKOFF,
                      cap: float = MAX_BACKOFF) -> float:
    """Seconds to wait before creating pods: failures after the last success count, and the
    delay runs from the last failure (Kubernetes' backoffRecord)."""
    last_success: datetime | None = None
    for p in pods:
        if phase(p) == "Succeeded":
            t = finish_time(p)
            if t is not None and (last_success is None or t > last_success):
                last_success = t
    failures = [t for p in pods if phase(p) == "Failed" and (t := finish_time(p)) is not None
                and (last_success is None or t >= last_success)]
    if not failures:
        return 0.0
    left = backoff_delay(len(failures), base, cap) - (at - max(failures)).total_seconds()
    return max(0.0, left)


# --- the sync ---------------------------------------------------------------------------------

@dataclass
class Plan:
    """What one sync of a Job does, decided from its spec, status and pods."""
    status: Obj
    """The status after this sync (with newly terminated pods in uncountedTerminatedPods)."""
    create: int = 0
    create_indexes: list[int] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    finalize: list[Obj] = field(default_factory=list)
    """Pods whose tracking finalizer must be removed (their uid is already in uncounted)."""
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None
    finished_reason: str | None = None


def _cond(ctype: str, reason: str, message: str, at: datetime, status: str = "True") -> Obj:
    t = podutil.format_time(at)
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastProbeTime": t, "lastTransitionTime": t}


def past_backoff_limit_on_failure(job: Obj, pods: list[Obj]) -> bool:
    """With restartPolicy OnFailure the kubelet restarts containers in place: their restarts
    count toward backoffLimit (pastBackoffLimitOnFailure)."""
    if restart_policy(job) != "OnFailure":
        return False
    restarts = 0
    for p in pods:
        if phase(p) in ("Running", "Pending"):
            st = p.get("status") or {}
            for c in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
                restarts += int(c.get("restartCount") or 0)
    limit = int(spec_of(job).get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


def pod_failure_policy_action(job: Obj, pod: Obj) -> tuple[str, str] | None:
    """The first matching podFailurePolicy rule's action for a failed pod (exit codes and pod
    conditions), with the message Kubernetes uses for FailJob; None when no rule matches."""
    pfp = spec_of(job).get("podFailurePolicy") or {}
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for i, rule in enumerate(pfp.get("rules") or []):
        req = rule.get("onExitCodes")
        if req:
            values = set(req.get("values") or [])
            for c in statuses:
                if req.get("containerName") and c.get("name") != req["containerName"]:
                    continue
                code = ((c.get("state") or {}).get("terminated") or {}).get("exitCode")
                if code is None or code == 0:
                    continue
                hit = code in values if req.get("operator") == "In" else code not in values
                if hit:
                    msg = (f"Container {c.get('name')} for pod {podutil.namespace_of(pod)}/{podutil.name_of(pod)} "
                           f"failed with exit code {code} matching {rule.get('action')} rule at index {i}")
                    return rule.get("action", ""), msg
        for pc in rule.get("onPodConditions") or []:
            c = podutil.pod_condition(pod, pc.get("type", ""))
            if c is not None and c.get("status") == pc.get("status", "True"):
                msg = (f"Pod {podutil.namespace_of(pod)}/{podutil.name_of(pod)} has condition {pc.get('type')} "
                       f"matching {rule.get('action')} rule at index {i}")
                return rule.get("action", ""), msg
    return None


def plan_sync(job: Obj, pods: list[Obj], at: datetime, *, backoff_base: float = DEFAULT_BACKOFF,
              burst: int = 500) -> Plan:
    """One sync of an unfinished Job (syncJob + manageJob + trackJobStatusAndRemoveFinalizers).

    Worked example: completions 5, parallelism 2, 3 succeeded (counted), 1 active: wantActive =
    min(parallelism, completions - succeeded) = min(2, 2) = 2, so 1 pod is created.
    Failure: restartPolicy Never, backoffLimit 1: the 2nd failed pod makes failed (2) >
    backoffLimit (1): FailureTarget (BackoffLimitExceeded), active pods are deleted, and Failed
    follows once no pod of the Job is terminating."""
    spec = spec_of(job)
    old = job.get("status") or {}
    status: Obj = {k: v for k, v in old.items()}
    status["conditions"] = [dict(c) for c in old.get("conditions") or []]
    indexed = is_indexed(job)
    completions = spec.get("completions")
    parallelism = int(spec.get("parallelism", 1) or 0)
    suspended = bool(spec.get("suspend"))
    plan = Plan(status=status)

    uncounted = old.get("uncountedTerminatedPods") or {}
    unc_succ = list(uncounted.get("succeeded") or [])
    unc_fail = list(uncounted.get("failed") or [])
    known = set(unc_succ) | set(unc_fail)
    succeeded = int(old.get("succeeded") or 0)
    failed = int(old.get("failed") or 0)
    completed = parse_indexes(old.get("completedIndexes"), int(completions or 0)) if indexed else set()

    active = [p for p in pods if is_active(p)]
    finishing_failure = podutil.get_condition(status, "FailureTarget")
    finishing_success = podutil.get_condition(status, "SuccessCriteriaMet")
    fail_job: tuple[str, str] | None = None

    # 1. Newly terminated pods (terminal, or being deleted) still holding the finalizer.
    new_succ = new_fail = 0
    for p in pods:
        uid = podutil.uid_of(p)
        if not has_finalizer(p) or uid in known:
            continue
        if len(unc_succ) + len(unc_fail) >= MAX_UNCOUNTED:
            break
        ph = phase(p)
        if ph == "Succeeded":
            idx = completion_index(p)
            if indexed and (idx is None or idx in completed or idx >= int(completions or 0)):
                # A duplicate or out-of-range index: counted nowhere, but still released.
                plan.finalize.append(p)
                continue
            if indexed and idx is not None:
                completed.add(idx)
            unc_succ.append(uid)
            new_succ += 1
        elif ph == "Failed" or (podutil.is_deleting(p)):
            if ph != "Failed" and not (finishing_failure or finishing_success or suspended) and \
                    spec.get("podReplacementPolicy") == "Failed":
                continue  # counted as failed once it reaches Failed
            if ph == "Failed" and spec.get("podFailurePolicy"):
                action = pod_failure_policy_action(job, p)
                if action is not None and action[0] == "Ignore":
                    plan.finalize.append(p)
                    continue
                if action is not None and action[0] == "FailJob" and fail_job is None:
                    fail_job = ("PodFailurePolicy", action[1])
            unc_fail.append(uid)
            new_fail += 1
        else:
            continue
        plan.finalize.append(p)
    status["uncountedTerminatedPods"] = {k: v for k, v in (("succeeded", unc_succ), ("failed", unc_fail)) if v}

    total_succ = len(completed) if indexed else succeeded + len(unc_succ)
    total_fail = failed + len(unc_fail)
    limit = int(spec.get("backoffLimit", 6))

    # 2. Is the Job done?
    if finishing_failure is None and finishing_success is None:
        if fail_job is not None:
            finishing_failure = _cond("FailureTarget", fail_job[0], fail_job[1], at)
        elif total_fail > limit or past_backoff_limit_on_failure(job, pods):
            finishing_failure = _cond("FailureTarget", "BackoffLimitExceeded", BACKOFF_MESSAGE, at)
        elif not suspended and spec.get("activeDeadlineSeconds") is not None and old.get("startTime"):
            start = podutil.parse_time(old.get("startTime"))
            left = int(spec["activeDeadlineSeconds"]) - (at - start).total_seconds() if start else 0
            if left <= 0:
                finishing_failure = _cond("FailureTarget", "DeadlineExceeded", DEADLINE_MESSAGE, at)
            else:
                plan.requeue_after = left
        if finishing_failure is None:
            if completions is None:
                done = total_succ > 0 and not active
            elif indexed:
                done = len(completed) >= int(completions)
            else:
                done = total_succ >= int(completions)
            if done:
                finishing_success = _cond("SuccessCriteriaMet", "CompletionsReached", COMPLETE_MESSAGE, at)
        if finishing_failure is not None:
            podutil.set_condition(status, finishing_failure)
        elif finishing_success is not None:
            podutil.set_condition(status, finishing_success)

    # 3. Pods to create or delete.
    if finishing_failure is not None or finishing_success is not None:
        plan.delete = active
        active_left: list[Obj] = []
    elif suspended:
        plan.delete = active
        active_left = []
        if not condition_true(job, "Suspended"):
            podutil.set_condition(status, _cond("Suspended", "JobSuspended", "Job suspended", at))
            status.pop("startTime", None)
            plan.events.append(("Normal", "Suspended", "Job suspended"))
    else:
        active_left = active
        if indexed:
            # Pods without a valid index, of an index already completed, or a second pod of
            # one index are not needed (firstPendingIndexes / appendDuplicatedIndexPodsForRemoval).
            extra = surplus_index_pods(active, completed, int(completions or 0))
            if extra:
                plan.delete = extra
                active_left = [p for p in active if not any(p is x for x in extra)]
                active = active_left
        if condition_true(job, "Suspended"):
            podutil.set_condition(status, _cond("Suspended", "JobResumed", "Job resumed", at, status="False"))
            status["startTime"] = podutil.format_time(at)
            plan.events.append(("Normal", "Resumed", "Job resumed"))
        if not status.get("startTime"):
            status["startTime"] = podutil.format_time(at)
            if spec.get("activeDeadlineSeconds") is not None:
                plan.requeue_after = float(spec["activeDeadlineSeconds"])
        if completions is None:
            want = len(active) if total_succ > 0 else parallelism
        elif indexed:
            want = min(parallelism, int(completions) - len(completed))
        else:
            want = min(parallelism, max(0, int(completions) - total_succ))
        terminating_block = spec.get("podReplacementPolicy") == "Failed" and any(is_terminating(p) for p in pods)
        diff = want - len(active)
        if diff > 0 and not terminating_block:
            wait = remaining_backoff(pods, at, backoff_base) if total_fail > 0 else 0.0
            if wait > 0:
                plan.requeue_after = min(wait, plan.requeue_after or wait)
            elif indexed:
                taken = completed | {i for p in active if (i := completion_index(p)) is not None}
                plan.create_indexes = [i for i in range(int(completions or 0)) if i not in taken][:min(diff, burst)]
                plan.create = len(plan.create_indexes)
            else:
                plan.create = min(diff, burst)
        elif diff < 0 and not indexed:
            ordered = sorted(active, key=lambda p: (podutil.is_pod_ready(p), phase(p) == "Running",
                                                    podutil.meta(p).get("creationTimestamp") or ""))
            plan.delete = ordered[:-diff]
            gone = {id(p) for p in plan.delete}
            active_left = [p for p in active if id(p) not in gone]
        elif diff < 0:
            # Indexed: parallelism went down; the highest indexes stop first.
            ordered = sorted(active, key=lambda p: completion_index(p) or 0, reverse=True)
            plan.delete = plan.delete + ordered[:-diff]
            active_left = [p for p in active if not any(p is x for x in plan.delete)]

    # 4. Counters.
    status["active"] = len(active_left) + plan.create
    status["ready"] = sum(1 for p in active_left if podutil.is_pod_ready(p))
    status["terminating"] = sum(1 for p in pods if is_terminating(p)) + len(plan.delete)
    status["succeeded"] = succeeded
    status["failed"] = failed
    if indexed:
        status["completedIndexes"] = format_indexes(completed)
    plan.finished_reason = (finishing_failure or finishing_success or {}).get("reason")
    return plan


def fold_uncounted(status: Obj, released: set[str], indexed: bool) -> Obj:
    """Move the uids of pods whose finalizer is gone from uncountedTerminatedPods into the
    counters (the last step of finalizer tracking). Returns a new status."""
    out = dict(status)
    unc = out.get("uncountedTerminatedPods") or {}
    keep: dict[str, list[str]] = {}
    for kind in ("succeeded", "failed"):
        left = []
        for uid in unc.get(kind) or []:
            if uid in released:
                if not (indexed and kind == "succeeded"):
                    out[kind] = int(out.get(kind) or 0) + 1
            else:
                left.append(uid)
        if left:
            keep[kind] = left
    if indexed:
        out["succeeded"] = len(parse_indexes(out.get("completedIndexes"), 1 << 30))
    out["uncountedTerminatedPods"] = keep
    return out


def finish(status: Obj, at: datetime) -> tuple[Obj, tuple[str, str, str] | None]:
    """Once every pod is counted and none is terminating, the interim condition
    (SuccessCriteriaMet / FailureTarget) becomes Complete / Failed, with its event."""
    if (status.get("uncountedTerminatedPods") or {}) or int(status.get("terminating") or 0) or \
            int(status.get("active") or 0):
        return status, None
    out = dict(status)
    out["conditions"] = [dict(c) for c in status.get("conditions") or []]
    success = podutil.get_condition(out, "SuccessCriteriaMet")
    failure = podutil.get_condition(out, "FailureTarget")
    if failure is not None and failure.get("status") == "True" and podutil.get_condition(out, "Failed") is None:
        podutil.set_condition(out, _cond("Failed", failure.get("reason", ""), failure.get("message", ""), at))
        return out, ("Warning", failure.get("reason", ""), failure.get("message", ""))
    if success is not None and success.get("status") == "True" and podutil.get_condition(out, "Complete") is None:
        podutil.set_condition(out, _cond("Complete", success.get("reason", ""), success.get("message", ""), at))
        out["completionTime"] = podutil.format_time(at)
        return out, ("Normal", "Completed", "Job completed")
    return out, None


def pod_for_index(body: Obj, job: Obj, index: int | None) -> Obj:
    """The pod to create: the template pod plus the Job's tracking labels and finalizer, and
    for Indexed Jobs the completion index (annotation, label, hostname, JOB_COMPLETION_INDEX)."""
    import copy
    pod = copy.deepcopy(body)
    meta = pod["metadata"]
    labels = meta.setdefault("labels", {})
    uid, name = podutil.uid_of(job), podutil.name_of(job)
    labels.setdefault(CONTROLLER_UID, uid)
    labels.setdefault(JOB_NAME, name)
    labels.setdefault(LEGACY_CONTROLLER_UID, uid)
    labels.setdefault(LEGACY_JOB_NAME, name)
    fins = meta.setdefault("finalizers", [])
    if TRACKING_FINALIZER not in fins:
        fins.append(TRACKING_FINALIZER)
    if index is not None:
        meta["generateName"] = f"{name}-{index}-"
        meta.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        labels[COMPLETION_INDEX] = str(index)
        spec = pod["spec"]
        spec.setdefault("hostname", f"{name}-{index}")
        for c in spec.get("containers") or []:
            env = c.setdefault("env", [])
            if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                    "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}})
    return pod


def ttl_remaining(job: Obj, at: datetime) -> float | None:
    """Seconds until a finished Job with ttlSecondsAfterFinished expires (<= 0: delete now);
    None when it has no TTL or is not finished (the TTL-after-finished controller)."""
    ttl = spec_of(job).get("ttlSecondsAfterFinished")
    if ttl is None or not is_finished(job):
        return None
    st = job.get("status") or {}
    t = podutil.parse_time(st.get("completionTime"))
    if t is None:
        for c in st.get("conditions") or []:
            if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
                t = podutil.parse_time(c.get("lastTransitionTime"))
    if t is None:
        return None
    return (t + timedelta(seconds=int(ttl)) - at).total_seconds()


def wire_status(status: Obj) -> Obj:
    """The status as Kubernetes serializes it: `active`, `succeeded`, `failed` and
    `completedIndexes` are omitempty; `ready`, `terminating` and `uncountedTerminatedPods`
    are pointers, written even when zero or empty."""
    out = {k: v for k, v in status.items() if not (k in ("active", "succeeded", "failed") and not v)}
    if not out.get("completedIndexes"):
        out.pop("completedIndexes", None)
    if not out.get("conditions"):
        out.pop("conditions", None)
    return out


def status_equal(a: Obj | None, b: Obj | None) -> bool:
    def norm(s: Obj | None) -> dict[str, Any]:
        s = {k: v for k, v in (s or {}).items() if v not in (None, {}, [], "")}
        for k in ("active", "ready", "succeeded", "failed", "terminating"):
            if not s.get(k):
                s.pop(k, None)
        return s
    return norm(a) == norm(b)
