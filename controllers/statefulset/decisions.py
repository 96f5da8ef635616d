"""Pure decisions of the StatefulSet controller, after Kubernetes' pkg/controller/statefulset
(stateful_set_control.go, stateful_set_utils.go).

No I/O and no mutation of inputs: given the set, its claimed pods and the two revision
hashes, `plan` says which one step(s) to take now (create which ordinals, delete which pods);
the controller module does the writes and comes back on the next pod event. Under
OrderedReady a plan never holds more than one action, and never one while a lower ordinal is
not yet Running and Ready: that is the whole ordering guarantee, so it must stay here."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from datetime import datetime

from controllers import podutil
from controllers.daemonset.decisions import REVISION_HASH, revision_data, revision_hash, revision_name
from controllers.podutil import Obj

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"

__all__ = ["POD_INDEX_LABEL", "POD_NAME_LABEL", "REVISION_HASH", "Plan", "calculate_status", "claim_name", "claims_released_on_scale_down",
           "complete_rolling_update", "identity_labels_patch", "new_controller_revision", "new_pod", "new_pvcs", "ordinal_of", "owner_ref", "plan",
           "revision_data", "revision_hash", "revision_name"]


def replicas_of(sts: Obj) -> int:
    r = (sts.get("spec") or {}).get("replicas")
    return 1 if r is None else int(r)


def start_ordinal(sts: Obj) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def ordinal_of(sts: Obj, pod: Obj) -> int | None:
    """The ordinal of a pod named `<set>-<n>`, or None if the name is not of that form
    (getParentNameAndOrdinal)."""
    m = re.fullmatch(r"(.*)-([0-9]+)", podutil.name_of(pod))
    if m is None or m.group(1) != podutil.name_of(sts):
        return None
    return int(m.group(2))


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{podutil.name_of(sts)}-{ordinal}"


def claim_name(template_name: str, set_name: str, ordinal: int) -> str:
    """`<claim>-<set>-<ordinal>`, the PVC a pod's volume refers to (getPersistentVolumeClaimName)."""
    return f"{template_name}-{set_name}-{ordinal}"


def is_monotonic(sts: Obj) -> bool:
    return (sts.get("spec") or {}).get("podManagementPolicy", "OrderedReady") != "Parallel"


def _is_failed(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Failed"


def _is_succeeded(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Succeeded"


def is_running_and_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and podutil.is_pod_ready(pod)


def is_healthy(pod: Obj, min_ready: int, at: datetime) -> bool:
    """Running, Ready (for minReadySeconds) and not terminating: the next ordinal may go."""
    return (is_running_and_ready(pod) and not podutil.is_deleting(pod)
            and podutil.is_pod_available(pod, min_ready, at))


def pod_revision(pod: Obj) -> str:
    return podutil.labels_of(pod).get(REVISION_HASH, "")


# --- objects ------------------------------------------------------------------------------

def new_pod(sts: Obj, ordinal: int, hash_: str, template: Obj | None = None) -> Obj:
    """The pod of `ordinal` at the revision `hash_` (newVersionedStatefulSetPod): name
    `<set>-<ordinal>`, identity labels, hostname and subdomain, and one
    persistentVolumeClaim volume per volumeClaimTemplate (replacing a template volume of the
    same name). `template` is the revision's pod template (default: the set's)."""
    spec = sts.get("spec") or {}
    tpl = template if template is not None else (spec.get("template") or {})
    tm = tpl.get("metadata") or {}
    name = pod_name(sts, ordinal)
    labels = dict(tm.get("labels") or {})
    labels.update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), REVISION_HASH: hash_})
    meta: Obj = {"name": name, "namespace": podutil.namespace_of(sts), "labels": labels,
                 "ownerReferences": [podutil.new_controller_ref(sts, "apps/v1", "StatefulSet")]}
    if tm.get("annotations"):
        meta["annotations"] = dict(tm["annotations"])
    if tm.get("finalizers"):
        meta["finalizers"] = list(tm["finalizers"])
    pod_spec = copy.deepcopy(tpl.get("spec") or {})
    pod_spec["hostname"] = name
    if spec.get("serviceName"):
        pod_spec["subdomain"] = spec["serviceName"]
    claims = spec.get("volumeClaimTemplates") or []
    if claims:
        names = {podutil.name_of(c) for c in claims}
        vols = [v for v in pod_spec.get("volumes") or [] if v.get("name") not in names]
        for c in claims:
            vols.append({"name": podutil.name_of(c), "persistentVolumeClaim": {
                "claimName": claim_name(podutil.name_of(c), podutil.name_of(sts), ordinal)}})
        pod_spec["volumes"] = vols
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}


def new_pvcs(sts: Obj, ordinal: int) -> list[Obj]:
    """The PVCs of `ordinal` (getPersistentVolumeClaims): the template's spec, its labels plus
    the set's matchLabels, and an ownerReference to the set when
    persistentVolumeClaimRetentionPolicy.whenDeleted is Delete (Retain, the default, leaves
    the claims behind when the set goes)."""
    spec = sts.get("spec") or {}
    match = ((spec.get("selector") or {}).get("matchLabels")) or {}
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    out = []
    for c in spec.get("volumeClaimTemplates") or []:
        cm = c.get("metadata") or {}
        labels = {**(cm.get("labels") or {}), **match}
        meta: Obj = {"name": claim_name(podutil.name_of(c), podutil.name_of(sts), ordinal),
                     "namespace": podutil.namespace_of(sts), "labels": labels}
        if cm.get("annotations"):
            meta["annotations"] = dict(cm["annotations"])
        if policy.get("whenDeleted") == "Delete":
            meta["ownerReferences"] = [owner_ref(sts, "apps/v1", "StatefulSet")]
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
                    "spec": copy.deepcopy(c.get("spec") or {})})
    return out


def owner_ref(owner: Obj, api_version: str, kind: str) -> Obj:
    """A plain (non-controller) ownerReference, as the set puts on its claims (setOwnerRef):
    the garbage collector deletes the claim once that owner is gone."""
    return {"apiVersion": api_version, "kind": kind, "name": podutil.name_of(owner), "uid": podutil.uid_of(owner)}


def claims_released_on_scale_down(sts: Obj, pod: Obj) -> list[str]:
    """Claims of a condemned pod that must follow it (whenScaled: Delete): the controller
    makes the pod their owner before deleting it. Retain (the default) keeps them."""
    spec = sts.get("spec") or {}
    if (spec.get("persistentVolumeClaimRetentionPolicy") or {}).get("whenScaled") != "Delete":
        return []
    o = ordinal_of(sts, pod)
    start = start_ordinal(sts)
    if o is None or start <= o < start + replicas_of(sts):
        return []
    return [claim_name(podutil.name_of(c), podutil.name_of(sts), o) for c in spec.get("volumeClaimTemplates") or []]


def new_controller_revision(sts: Obj, revision: int) -> Obj:
    """A ControllerRevision of the set's template (newRevision): data is the template
    replace-patch that `kubectl rollout undo` sends back, named `<set>-<hash>`."""
    data = revision_data(sts)
    h = revision_hash(data, (sts.get("status") or {}).get("collisionCount"))
    labels = dict((((sts.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    labels[REVISION_HASH] = h
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": revision_name(podutil.name_of(sts), h), "namespace": podutil.namespace_of(sts),
                     "labels": labels,
                     "ownerReferences": [podutil.new_controller_ref(sts, "apps/v1", "StatefulSet")]},
        "data": data,
        "revision": revision,
    }


def identity_labels_patch(sts: Obj, pod: Obj) -> Obj | None:
    """Labels a pod of the set lacks for its identity (identityMatches/updateIdentity), as a
    merge patch, or None. Adopted orphans and pods made before a relabel get them; the pod's
    spec (hostname, volumes) cannot change after creation, so only labels are repaired."""
    o = ordinal_of(sts, pod)
    if o is None:
        return None
    labels = podutil.labels_of(pod)
    want = {POD_NAME_LABEL: podutil.name_of(pod), POD_INDEX_LABEL: str(o)}
    missing = {k: v for k, v in want.items() if labels.get(k) != v}
    return {"metadata": {"labels": missing}} if missing else None


# --- the plan -----------------------------------------------------------------------------

@dataclass
class Plan:
    """One sync's writes: pods to create (ordinal, revision hash) and pod names to delete.
    `waiting` names the pod the set waits for, when it waits."""
    create: list[tuple[int, str]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    waiting: str | None = None


def _max_unavailable(sts: Obj, replicas: int) -> int:
    ru = (((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate")) or {}
    v = ru.get("maxUnavailable")
    if v is None:
        return 1
    return max(1, podutil.scaled_value(v, replicas, False))


def _partition(sts: Obj) -> int:
    ru = (((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate")) or {}
    return int(ru.get("partition") or 0)


def _strategy(sts: Obj) -> str:
    return ((sts.get("spec") or {}).get("updateStrategy") or {}).get("type") or "RollingUpdate"


def plan(sts: Obj, pods: list[Obj], current: str, update: str, at: datetime) -> Plan:
    """What to do now (updateStatefulSet):

    1. replace: a Failed or Succeeded pod in range is deleted; a missing one is created, at
       the current revision below the partition (RollingUpdate), else the update revision;
    2. under OrderedReady, stop at the first pod that is terminating or not Running and Ready
       (for minReadySeconds), after at most one action;
    3. condemned pods (ordinals out of range) go highest first, one at a time under
       OrderedReady, and only while every lower pod is healthy;
    4. RollingUpdate: from the highest ordinal down to the partition, delete the first pod not
       at the update revision (up to maxUnavailable pods may be unavailable at once),
       waiting for unhealthy ones. OnDelete never deletes for an update."""
    spec = sts.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    monotonic = is_monotonic(sts)
    replicas, start = replicas_of(sts), start_ordinal(sts)
    partition = _partition(sts)
    rolling = _strategy(sts) == "RollingUpdate"
    slots: dict[int, Obj] = {}
    condemned: list[tuple[int, Obj]] = []
    for p in pods:
        o = ordinal_of(sts, p)
        if o is None:
            continue
        if start <= o < start + replicas:
            slots[o] = p
        else:
            condemned.append((o, p))
    condemned.sort(key=lambda x: -x[0])
    out = Plan()

    def acted() -> bool:
        return bool(out.create or out.delete)

    for o in range(start, start + replicas):
        p = slots.get(o)
        if p is not None and (_is_failed(p) or _is_succeeded(p)) and not podutil.is_deleting(p):
            out.delete.append(podutil.name_of(p))
            if monotonic:
                return out
            continue
        if p is None:
            rev = current if rolling and o - start < partition else update
            out.create.append((o, rev))
            if monotonic:
                return out
            continue
        if monotonic and not is_healthy(p, min_ready, at):
            out.waiting = podutil.name_of(p)
            return out
    if monotonic and acted():
        return out

    for _o, p in condemned:
        if podutil.is_deleting(p):
            if monotonic:
                out.waiting = podutil.name_of(p)
                return out
            continue
        out.delete.append(podutil.name_of(p))
        if monotonic:
            return out
    if acted() or not rolling:
        return out

    # Rolling update, highest ordinal first, down to the partition.
    budget = _max_unavailable(sts, replicas)
    unavailable = sum(1 for o in range(start, start + replicas)
                      if slots.get(o) is None or not is_healthy(slots[o], min_ready, at))
    for o in range(start + replicas - 1, start + partition - 1, -1):
        p = slots.get(o)
        if p is None:
            continue
        healthy = is_healthy(p, min_ready, at)
        if pod_revision(p) != update and not podutil.is_deleting(p):
            if healthy and unavailable >= budget:
                out.waiting = podutil.name_of(p)
                return out
            out.delete.append(podutil.name_of(p))
            if healthy:
                unavailable += 1  # an unhealthy one was counted already
            if budget == 1:
                return out
        elif not healthy and budget == 1:
            out.waiting = podutil.name_of(p)
            return out
    return out


# --- status -------------------------------------------------------------------------------

def calculate_status(sts: Obj, pods: list[Obj], current: str, update: str, at: datetime) -> Obj:
    """replicas, readyReplicas, availableReplicas, currentReplicas, updatedReplicas,
    currentRevision, updateRevision, observedGeneration, collisionCount
    (computeReplicaStatus then completeRollingUpdate)."""
    min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
    old = sts.get("status") or {}
    replicas = ready = available = cur = upd = 0
    for p in pods:
        if ordinal_of(sts, p) is None:
            continue
        replicas += 1
        deleting = podutil.is_deleting(p)
        if is_running_and_ready(p) and not deleting:
            ready += 1
            if podutil.is_pod_available(p, min_ready, at):
                available += 1
        if not deleting:
            rev = pod_revision(p)
            if rev == current:
                cur += 1
            if rev == update:
                upd += 1
    status: Obj = {k: v for k, v in old.items() if k == "conditions"}
    status.update({
        "observedGeneration": podutil.meta(sts).get("generation") or 0,
        "replicas": replicas, "readyReplicas": ready, "availableReplicas": available,
        "currentReplicas": cur, "updatedReplicas": upd,
        "currentRevision": current, "updateRevision": update,
        "collisionCount": int(old.get("collisionCount") or 0),
    })
    return complete_rolling_update(sts, status)


def complete_rolling_update(sts: Obj, status: Obj) -> Obj:
    """Once every pod runs the update revision and is ready, it becomes the current one."""
    n = replicas_of(sts)
    if (_strategy(sts) == "RollingUpdate" and status["updatedReplicas"] == n
            and status["readyReplicas"] == n and status["replicas"] == n):
        status = dict(status)
        status["currentReplicas"] = status["updatedReplicas"]
        status["currentRevision"] = status["updateRevision"]
    return status


def status_changed(old: Obj | None, new: Obj) -> bool:
    o = old or {}
    return any((o.get(k) or 0) != (v or 0) if isinstance(v, int) else o.get(k) != v for k, v in new.items())
