"""Pure decisions of the Deployment controller, after Kubernetes' pkg/controller/deployment
(rolling.go, recreate.go, sync.go, progress.go) and deployment/util.

Every function here takes plain dicts (a Deployment, its ReplicaSets) and returns numbers or
new dicts; none does I/O or mutates its arguments. The rollout is a sequence of single steps:
each sync either scales the new ReplicaSet up or old ones down, and returns.

Terms: `spec.replicas` of a ReplicaSet is what it was asked to run, `status.availableReplicas`
what is up for minReadySeconds. A Deployment's "surge" is how far the sum of `spec.replicas`
may exceed its own `spec.replicas`, its "unavailable" how far availability may fall below it."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import orjson

from controllers import podutil
from controllers.podutil import Obj

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations of the Deployment that are not copied onto its ReplicaSets (skipCopyAnnotation).
_SKIP_COPY = {
    "kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
    MAX_REPLICAS, "deprecated.deployment.rollback.to",
}
MAX_INT32 = 2**31 - 1

# Reasons of the Progressing and Available conditions, as Kubernetes names them.
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"


# --- small accessors ----------------------------------------------------------------------

def spec_replicas(o: Obj | None) -> int:
    if o is None:
        return 0
    r = (o.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


def available(rs: Obj | None) -> int:
    return int(((rs or {}).get("status") or {}).get("availableReplicas") or 0) if rs else 0


def status_replicas(rs: Obj | None) -> int:
    return int(((rs or {}).get("status") or {}).get("replicas") or 0) if rs else 0


def ready(rs: Obj | None) -> int:
    return int(((rs or {}).get("status") or {}).get("readyReplicas") or 0) if rs else 0


def strategy(d: Obj) -> Obj:
    return (d.get("spec") or {}).get("strategy") or {"type": "RollingUpdate"}


def is_rolling(d: Obj) -> bool:
    return strategy(d).get("type", "RollingUpdate") == "RollingUpdate"


def revision_of(o: Obj | None) -> int:
    try:
        return int(podutil.annotations_of(o or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def max_revision(rss: list[Obj]) -> int:
    return max((revision_of(rs) for rs in rss), default=0)


def is_active(rs: Obj) -> bool:
    return spec_replicas(rs) > 0


# --- template hash ------------------------------------------------------------------------

def template_hash(template: Obj, collision_count: int | None = None) -> str:
    """A short, label-safe, stable hash of a pod template (controller.ComputeHash).

    The template is serialised canonically (sorted keys) and hashed with FNV-32a, the
    collision count mixed in when set, and the decimal value mapped through SafeEncodeString:
    the result looks like Kubernetes' (`5d8b9c7f4`), though the digits differ because Go's
    spew printing of the struct is not reproduced."""
    data = orjson.dumps(_without_hash_label(template), option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += str(collision_count).encode()
    return podutil.safe_encode(str(podutil.fnv32a(data)))


def _without_hash_label(template: Obj) -> Obj:
    labels = ((template or {}).get("metadata") or {}).get("labels") or {}
    if HASH_LABEL not in labels:
        return template or {}
    t = copy.deepcopy(template)
    del t["metadata"]["labels"][HASH_LABEL]
    return t


def _normalised(template: Obj) -> Obj:
    t = _without_hash_label(template)
    # An empty labels/annotations map equals a missing one.
    m = {k: v for k, v in (t.get("metadata") or {}).items() if v not in ({}, None)}
    out = {k: v for k, v in t.items() if k != "metadata"}
    if m:
        out["metadata"] = m
    return out


def equal_ignore_hash(a: Obj, b: Obj) -> bool:
    """Templates equal but for the pod-template-hash label (EqualIgnoreHash)."""
    return _normalised(a) == _normalised(b)


def find_new_rs(d: Obj, rss: list[Obj]) -> Obj | None:
    """The ReplicaSet whose template is the Deployment's; the oldest if several are."""
    template = (d.get("spec") or {}).get("template") or {}
    ordered = sorted(rss, key=podutil.creation_sort_key)
    for rs in ordered:
        if equal_ignore_hash((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    # A server that defaults a ReplicaSet's template differently from the Deployment's would
    # otherwise make every sync look for a new ReplicaSet: the hash label we put is decisive.
    h = template_hash(template, (d.get("status") or {}).get("collisionCount"))
    for rs in ordered:
        if podutil.labels_of(rs).get(HASH_LABEL) == h and podutil.name_of(rs) == f"{podutil.name_of(d)}-{h}":
            return rs
    return None


def find_old_rss(rss: list[Obj], new_rs: Obj | None) -> list[Obj]:
    new_uid = podutil.uid_of(new_rs) if new_rs else None
    return [rs for rs in rss if podutil.uid_of(rs) != new_uid]


# --- fenceposts ---------------------------------------------------------------------------

def resolve_fenceposts(max_surge: int | str | None, max_unavailable: int | str | None, desired: int) -> tuple[int, int]:
    """(surge, unavailable) in pods. Surge rounds up, unavailable rounds down, and when both
    come to 0 unavailable becomes 1 so that a rollout can always progress.

    Worked examples with 10 replicas: 25%/25% -> (3, 2); 0/0 -> (0, 1); 1/0 -> (1, 0);
    with 1 replica 25%/25% -> (1, 0)."""
    surge = podutil.scaled_value(max_surge, desired, True)
    unavailable = podutil.scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(d: Obj) -> tuple[Any, Any]:
    ru = strategy(d).get("rollingUpdate") or {}
    return ru.get("maxSurge", "25%"), ru.get("maxUnavailable", "25%")


def max_surge(d: Obj) -> int:
    if not is_rolling(d):
        return 0
    surge, _ = resolve_fenceposts(*_rolling_params(d), spec_replicas(d))
    return surge


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or spec_replicas(d) == 0:
        return 0
    _, unavailable = resolve_fenceposts(*_rolling_params(d), spec_replicas(d))
    return min(unavailable, spec_replicas(d))


# --- annotations --------------------------------------------------------------------------

def rs_annotations(d: Obj, rs: Obj | None, new_revision: int, exists: bool) -> tuple[dict[str, str], bool]:
    """The annotations a (new) ReplicaSet should carry and whether they changed
    (SetNewReplicaSetAnnotations): the Deployment's own (minus _SKIP_COPY), the revision,
    the revision-history of a reused ReplicaSet (a rollback brings an old one back), and for
    a new ReplicaSet the desired-replicas/max-replicas used by proportional scaling.

    Worked example: rolling back to the ReplicaSet of revision 1 when the newest is 3 sets
    its revision to 4 and its revision-history to "1"."""
    ann = dict(podutil.annotations_of(rs or {}))
    before = dict(ann)
    for k, v in podutil.annotations_of(d).items():
        if k not in _SKIP_COPY:
            ann[k] = v
    old_raw = ann.get(REVISION, "")
    try:
        old = int(old_raw) if old_raw else 0
    except ValueError:
        old = 0
    if not old_raw or old < new_revision:
        ann[REVISION] = str(new_revision)
    if exists and old_raw and old < new_revision:
        hist = ann.get(REVISION_HISTORY, "")
        ann[REVISION_HISTORY] = f"{hist},{old_raw}" if hist else old_raw
    if not exists:
        ann[DESIRED_REPLICAS] = str(spec_replicas(d))
        ann[MAX_REPLICAS] = str(spec_replicas(d) + max_surge(d))
    return ann, ann != before


def replicas_annotations_stale(d: Obj, rs: Obj) -> bool:
    a = podutil.annotations_of(rs)
    return (a.get(DESIRED_REPLICAS) != str(spec_replicas(d))
            or a.get(MAX_REPLICAS) != str(spec_replicas(d) + max_surge(d)))


def new_rs_object(d: Obj, new_revision: int, replicas: int, collision_count: int | None) -> Obj:
    """The ReplicaSet to create for the Deployment's current template."""
    spec = d.get("spec") or {}
    template = copy.deepcopy(spec.get("template") or {})
    h = template_hash(template, collision_count)
    tm = template.setdefault("metadata", {})
    tm["labels"] = {**(tm.get("labels") or {}), HASH_LABEL: h}
    selector = copy.deepcopy(spec.get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: h}
    ann, _ = rs_annotations(d, None, new_revision, exists=False)
    ann[DESIRED_REPLICAS] = str(spec_replicas(d))
    ann[MAX_REPLICAS] = str(spec_replicas(d) + max_surge(d))
    rs_spec: Obj = {"replicas": replicas, "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                    "selector": selector, "template": template}
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": f"{podutil.name_of(d)}-{h}", "namespace": podutil.namespace_of(d),
                     "labels": dict(tm["labels"]), "annotations": ann,
                     "ownerReferences": [podutil.new_controller_ref(d, "apps/v1", "Deployment")]},
        "spec": rs_spec,
    }


# --- rolling update -----------------------------------------------------------------------

def new_rs_new_replicas(d: Obj, all_rss: list[Obj], new_rs: Obj | None) -> int:
    """How far the new ReplicaSet may be scaled up now (NewRSNewReplicas).

    RollingUpdate: up to `replicas + maxSurge` pods in total. Worked example: replicas 10,
    maxSurge 3, old ReplicaSet at 10, new at 0 -> the new one goes to 3 (13 in total); once
    2 old pods are removed (old 8, new 3 = 11) it goes to 5. Recreate: straight to replicas."""
    if not is_rolling(d):
        return spec_replicas(d)
    current = sum(spec_replicas(rs) for rs in all_rss)
    new_replicas = spec_replicas(new_rs)
    max_total = spec_replicas(d) + max_surge(d)
    if current >= max_total:
        return new_replicas
    scale_up = min(max_total - current, spec_replicas(d) - new_replicas)
    return new_replicas + max(0, scale_up)


def reconcile_new_rs(d: Obj, all_rss: list[Obj], new_rs: Obj) -> int | None:
    """The new ReplicaSet's next size in a rolling update, or None if it stays."""
    want = spec_replicas(d)
    cur = spec_replicas(new_rs)
    if cur == want:
        return None
    if cur > want:
        return want
    n = new_rs_new_replicas(d, all_rss, new_rs)
    return n if n != cur else None


def reconcile_old_rss(d: Obj, old_rss: list[Obj], new_rs: Obj | None) -> dict[str, int]:
    """The old ReplicaSets' next sizes in a rolling update (reconcileOldReplicaSets): first
    scale down old replicas that are not available (they count against nothing), then scale
    down available ones as far as maxUnavailable allows, oldest ReplicaSet first.

    Worked example (rolling.go): replicas 10, maxUnavailable 2, maxSurge 3; old at 10 all
    available, new scaled to 3 with none available: all pods 13, minAvailable 8, new
    unavailable 3, so 13 - 8 - 3 = 2 old pods may go -> old 8. If the new pods never become
    available, nothing more is scaled down: the rollout is stuck, availability held at 8."""
    old_rss = [rs for rs in old_rss if is_active(rs)]
    if not old_rss:
        return {}
    sizes = {podutil.name_of(rs): spec_replicas(rs) for rs in old_rss}
    all_pods = sum(sizes.values()) + spec_replicas(new_rs)
    min_avail = spec_replicas(d) - max_unavailable(d)
    new_unavailable = max(0, spec_replicas(new_rs) - available(new_rs))
    max_scaled_down = all_pods - min_avail - new_unavailable
    if max_scaled_down <= 0:
        return {}
    ordered = sorted(old_rss, key=podutil.creation_sort_key)
    # 1. unhealthy replicas first
    cleaned = 0
    for rs in ordered:
        if cleaned >= max_scaled_down:
            break
        name = podutil.name_of(rs)
        if sizes[name] == 0:
            continue
        unhealthy = sizes[name] - available(rs)
        if unhealthy <= 0:
            continue
        step = min(max_scaled_down - cleaned, unhealthy)
        sizes[name] -= step
        cleaned += step
    # 2. then available ones, keeping minAvailable. A ReplicaSet's status may still count pods
    # it was just told to remove: availability above spec.replicas is not counted (Kubernetes
    # counts status alone and can dip below minAvailable for one step).
    avail_total = sum(min(available(rs), spec_replicas(rs)) for rs in ordered) + \
        min(available(new_rs), spec_replicas(new_rs))
    if avail_total > min_avail:
        budget = avail_total - min_avail
        scaled = 0
        for rs in ordered:
            if scaled >= budget:
                break
            name = podutil.name_of(rs)
            if sizes[name] == 0:
                continue
            step = min(sizes[name], budget - scaled)
            sizes[name] -= step
            scaled += step
    return {name: n for name, n in sizes.items()
            if n != spec_replicas(next(rs for rs in old_rss if podutil.name_of(rs) == name))}


def old_pods_running(old_pods: list[Obj]) -> bool:
    """Recreate waits until no pod of an old ReplicaSet runs: Failed and Succeeded pods do
    not count, Unknown ones do (to be safe)."""
    return any((p.get("status") or {}).get("phase") not in ("Failed", "Succeeded") for p in old_pods)


# --- proportional scaling -----------------------------------------------------------------

def is_saturated(d: Obj, new_rs: Obj | None) -> bool:
    if new_rs is None:
        return False
    want = spec_replicas(d)
    desired = podutil.annotations_of(new_rs).get(DESIRED_REPLICAS)
    return (spec_replicas(new_rs) == want and desired == str(want) and available(new_rs) == want)


def find_active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    """The single ReplicaSet with replicas, or the newest if none has any; None if several do."""
    if new_rs is None and not old_rss:
        return None
    olds = sorted(old_rss, key=podutil.creation_sort_key, reverse=True)
    every = [rs for rs in olds + ([new_rs] if new_rs else []) if is_active(rs)]
    if len(every) == 0:
        return new_rs if new_rs is not None else olds[0]
    if len(every) == 1:
        return every[0]
    return None


def is_scaling_event(d: Obj, active_rss: list[Obj]) -> bool:
    """The Deployment's replicas changed since its ReplicaSets were last sized for it."""
    want = str(spec_replicas(d))
    for rs in active_rss:
        desired = podutil.annotations_of(rs).get(DESIRED_REPLICAS)
        if desired is not None and desired != want:
            return True
    return False


def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    if spec_replicas(d) == 0:
        fraction = -spec_replicas(rs)
    else:
        deployment_replicas = spec_replicas(d) + max_surge(d)
        try:
            annotated = int(podutil.annotations_of(rs).get(MAX_REPLICAS, ""))
        except ValueError:
            annotated = int((d.get("status") or {}).get("replicas") or 0)
        if annotated == 0:
            fraction = 0
        else:
            # Go's math.Round: half away from zero.
            exact = spec_replicas(rs) * deployment_replicas / annotated
            rounded = int(exact + 0.5) if exact >= 0 else -int(-exact + 0.5)
            fraction = rounded - spec_replicas(rs)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def scale(d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> dict[str, int]:
    """New sizes of ReplicaSets when the Deployment's replicas changed (sync.go scale()).

    One active ReplicaSet takes the whole count. A saturated new ReplicaSet means the old
    ones go to 0. Mid-rollout, the extra (or missing) replicas are spread over the active
    ReplicaSets in proportion to their size, the leftover going to the largest.

    Worked example (Kubernetes' documentation on proportional scaling): replicas 10,
    maxSurge 3, maxUnavailable 2, mid-rollout old 8 / new 5 (max-replicas 13); scaled to 15
    (allowed 18, 5 to add): old gets round(8 * 18 / 13) - 8 = 3 -> 11, new gets
    round(5 * 18 / 13) - 5 = 2 -> 7."""
    single = find_active_or_latest(new_rs, old_rss)
    if single is not None:
        if spec_replicas(single) == spec_replicas(d):
            return {}
        return {podutil.name_of(single): spec_replicas(d)}
    if is_saturated(d, new_rs):
        return {podutil.name_of(rs): 0 for rs in old_rss if is_active(rs)}
    if not is_rolling(d):
        return {}
    every = [rs for rs in old_rss + ([new_rs] if new_rs else []) if is_active(rs)]
    total = sum(spec_replicas(rs) for rs in every)
    allowed = spec_replicas(d) + max_surge(d) if spec_replicas(d) > 0 else 0
    to_add = allowed - total
    if to_add > 0:   # larger first, newer first on ties
        every.sort(key=lambda rs: (-spec_replicas(rs), _neg_time(rs)))
    elif to_add < 0:  # larger first, older first on ties
        every.sort(key=lambda rs: (-spec_replicas(rs), podutil.creation_sort_key(rs)))
    sizes: dict[str, int] = {}
    added = 0
    for rs in every:
        p = _proportion(rs, d, to_add, added) if to_add else 0
        sizes[podutil.name_of(rs)] = spec_replicas(rs) + p
        added += p
    if every and to_add:
        first = podutil.name_of(every[0])
        sizes[first] = max(0, sizes[first] + to_add - added)
    # Every active ReplicaSet is returned, changed or not: each must be re-annotated with the
    # Deployment's new replicas, or the next sync would see a scaling event again.
    return sizes


def _neg_time(rs: Obj) -> tuple[float, str]:
    t = podutil.creation_time(rs)
    return (-(t.timestamp() if t else 0.0), podutil.name_of(rs))


# --- history cleanup ----------------------------------------------------------------------

def rss_to_cleanup(d: Obj, old_rss: list[Obj]) -> list[Obj]:
    """Old ReplicaSets beyond revisionHistoryLimit (default 10), oldest revision first, that
    are fully scaled down and settled (cleanupDeployment)."""
    limit = (d.get("spec") or {}).get("revisionHistoryLimit", 10)
    if limit is None:
        return []
    alive = [rs for rs in old_rss if not podutil.is_deleting(rs)]
    diff = len(alive) - int(limit)
    if diff <= 0:
        return []
    alive.sort(key=lambda rs: (revision_of(rs), podutil.creation_sort_key(rs)))
    out = []
    for rs in alive[:diff]:
        st = rs.get("status") or {}
        if (status_replicas(rs) != 0 or spec_replicas(rs) != 0
                or podutil.meta(rs).get("generation", 0) > st.get("observedGeneration", 0)):
            continue
        out.append(rs)
    return out


# --- status and conditions ----------------------------------------------------------------

def condition(ctype: str, status: str, reason: str, message: str, at: datetime) -> Obj:
    t = podutil.format_time(at)
    return {"type": ctype, "status": status, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def has_progress_deadline(d: Obj) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds", 600)
    return pds is not None and int(pds) != MAX_INT32


def calculate_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, at: datetime) -> Obj:
    """Replica counts and the Available condition (calculateStatus): Available is True when
    at least `replicas - maxUnavailable` pods are available."""
    avail = sum(available(rs) for rs in all_rss)
    total = sum(spec_replicas(rs) for rs in all_rss)
    old = d.get("status") or {}
    status: Obj = {
        "observedGeneration": podutil.meta(d).get("generation", 0),
        "replicas": sum(status_replicas(rs) for rs in all_rss),
        "updatedReplicas": status_replicas(new_rs),
        "readyReplicas": sum(ready(rs) for rs in all_rss),
        "availableReplicas": avail,
        "unavailableReplicas": max(0, total - avail),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    status["conditions"] = [dict(c) for c in old.get("conditions") or []]
    if avail >= spec_replicas(d) - max_unavailable(d):
        podutil.set_condition(status, condition("Available", "True", MIN_AVAILABLE,
                                                "Deployment has minimum availability.", at))
    else:
        podutil.set_condition(status, condition("Available", "False", MIN_UNAVAILABLE,
                                                "Deployment does not have minimum availability.", at))
    return status


def deployment_complete(d: Obj, st: Obj) -> bool:
    want = spec_replicas(d)
    return (int(st.get("updatedReplicas") or 0) == want and int(st.get("replicas") or 0) == want
            and int(st.get("availableReplicas") or 0) == want
            and int(st.get("observedGeneration") or 0) >= podutil.meta(d).get("generation", 0))


def deployment_progressing(d: Obj, st: Obj) -> bool:
    old = d.get("status") or {}
    def g(s: Obj, k: str) -> int:
        return int(s.get(k) or 0)
    old_old = g(old, "replicas") - g(old, "updatedReplicas")
    new_old = g(st, "replicas") - g(st, "updatedReplicas")
    return (g(st, "updatedReplicas") > g(old, "updatedReplicas") or new_old < old_old
            or g(st, "readyReplicas") > g(old, "readyReplicas")
            or g(st, "availableReplicas") > g(old, "availableReplicas"))


def deployment_timed_out(d: Obj, st: Obj, at: datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = podutil.get_condition(st, "Progressing")
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = podutil.parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    pds = int((d.get("spec") or {}).get("progressDeadlineSeconds", 600))
    return since + timedelta(seconds=pds) < at


def rollout_status(d: Obj, all_rss: list[Obj], new_rs: Obj | None, at: datetime) -> Obj:
    """The status after a rollout step, Progressing condition included (syncRolloutStatus).

    Progressing is True/ReplicaSetUpdated while counts move, True/NewReplicaSetAvailable once
    complete, False/ProgressDeadlineExceeded when nothing moved for progressDeadlineSeconds."""
    st = calculate_status(d, all_rss, new_rs, at)
    if not has_progress_deadline(d):
        podutil.remove_condition(st, "Progressing")
    cur = podutil.get_condition(d.get("status") or {}, "Progressing")
    complete = (int(st["replicas"]) == int(st["updatedReplicas"]) and cur is not None
                and cur.get("reason") == NEW_RS_AVAILABLE)
    name = podutil.name_of(new_rs) if new_rs else None
    if has_progress_deadline(d) and not complete:
        if deployment_complete(d, st):
            msg = f'ReplicaSet "{name}" has successfully progressed.' if name else \
                f'Deployment "{podutil.name_of(d)}" has successfully progressed.'
            podutil.set_condition(st, condition("Progressing", "True", NEW_RS_AVAILABLE, msg, at))
        elif deployment_progressing(d, st):
            msg = f'ReplicaSet "{name}" is progressing.' if name else \
                f'Deployment "{podutil.name_of(d)}" is progressing.'
            c = condition("Progressing", "True", RS_UPDATED, msg, at)
            if cur is not None:
                if cur.get("status") == "True":
                    c["lastTransitionTime"] = cur.get("lastTransitionTime", c["lastTransitionTime"])
                podutil.remove_condition(st, "Progressing")
            podutil.set_condition(st, c)
        elif deployment_timed_out(d, st, at):
            msg = f'ReplicaSet "{name}" has timed out progressing.' if name else \
                f'Deployment "{podutil.name_of(d)}" has timed out progressing.'
            podutil.set_condition(st, condition("Progressing", "False", TIMED_OUT, msg, at))
    failure = next((podutil.get_condition(rs.get("status") or {}, "ReplicaFailure")
                    for rs in ([new_rs] if new_rs else []) + all_rss
                    if podutil.get_condition(rs.get("status") or {}, "ReplicaFailure")), None)
    if failure is not None:
        podutil.set_condition(st, {"type": "ReplicaFailure", "status": failure.get("status", "True"),
                                   "reason": failure.get("reason", ""), "message": failure.get("message", ""),
                                   "lastUpdateTime": podutil.format_time(at),
                                   "lastTransitionTime": failure.get("lastTransitionTime", podutil.format_time(at))})
    else:
        podutil.remove_condition(st, "ReplicaFailure")
    if not st.get("conditions"):
        st.pop("conditions", None)
    return st


def requeue_for_deadline(d: Obj, st: Obj, at: datetime) -> float | None:
    """Seconds until the progress deadline would pass for a rollout still in progress, so the
    controller looks again then (requeueStuckDeployment)."""
    if not has_progress_deadline(d):
        return None
    cond = podutil.get_condition(st, "Progressing")
    if cond is None or deployment_complete(d, st) or cond.get("reason") in (NEW_RS_AVAILABLE, TIMED_OUT):
        return None
    since = podutil.parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    pds = int((d.get("spec") or {}).get("progressDeadlineSeconds", 600))
    left = (since + timedelta(seconds=pds) - at).total_seconds()
    return max(1.0, left + 1.0)


def paused_condition_change(d: Obj, at: datetime) -> Obj | None:
    """The Progressing condition to set when a Deployment is paused or resumed, or None
    (checkPausedConditions)."""
    if not has_progress_deadline(d):
        return None
    cond = podutil.get_condition(d.get("status") or {}, "Progressing")
    if cond is not None and cond.get("reason") == TIMED_OUT:
        return None
    paused = bool((d.get("spec") or {}).get("paused"))
    if paused and (cond is None or cond.get("reason") != PAUSED):
        return condition("Progressing", "Unknown", PAUSED, "Deployment is paused", at)
    if not paused and cond is not None and cond.get("reason") == PAUSED:
        return condition("Progressing", "Unknown", RESUMED, "Deployment is resumed", at)
    return None


def status_equal(a: Obj | None, b: Obj | None) -> bool:
    """Equal but for condition timestamps that set_condition deliberately left alone."""
    return orjson.dumps(a or {}, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b or {}, option=orjson.OPT_SORT_KEYS)
