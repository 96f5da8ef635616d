"""Pure decisions of the DaemonSet controller, after Kubernetes' pkg/controller/daemon
(daemon_controller.go, update.go, util/daemonset_util.go).

Inputs are plain dicts (DaemonSet, Nodes, pods grouped by node); outputs are names and new
dicts. No I/O, no mutation of arguments."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import orjson

from controllers import podutil
from controllers.podutil import Obj

REVISION_HASH = "controller-revision-hash"
TEMPLATE_GENERATION = "pod-template-generation"

# The tolerations Kubernetes adds to every DaemonSet pod (AddOrUpdateDaemonPodTolerations):
# a daemon keeps running on a node that is not ready or unreachable, and is placed on nodes
# under pressure or cordoned.
DAEMON_TOLERATIONS: tuple[Obj, ...] = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)
NETWORK_UNAVAILABLE = {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"}


def with_daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """The pod's tolerations plus the DaemonSet ones (replacing same key+effect ones)."""
    extra = list(DAEMON_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        extra.append(NETWORK_UNAVAILABLE)
    out = [dict(t) for t in pod_spec.get("tolerations") or []]
    for t in extra:
        out = [o for o in out if not (o.get("key") == t["key"] and o.get("effect") == t["effect"])]
        out.append(dict(t))
    return out


# --- matching -----------------------------------------------------------------------------

def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint: an empty effect matches every effect, an empty key with
    Exists every key; Equal (the default operator) compares values."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    op = toleration.get("operator") or "Equal"
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    if not toleration.get("key") and op != "Exists":
        return False
    if op == "Exists":
        return True
    return (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taints(taints: list[Obj], tolerations: list[Obj], effects: tuple[str, ...]) -> list[Obj]:
    return [t for t in taints if t.get("effect") in effects and not any(tolerates(x, t) for x in tolerations)]


def _requirement_matches(req: Obj, value_of) -> bool:
    key, op, values = req.get("key", ""), req.get("operator", ""), req.get("values") or []
    present, value = value_of(key)
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def node_selector_term_matches(term: Obj, node: Obj) -> bool:
    """A NodeSelectorTerm: all of its matchExpressions (labels) and matchFields
    (`metadata.name`) hold. A term with neither matches nothing."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = podutil.labels_of(node)

    def label(k: str) -> tuple[bool, str]:
        return (k in labels, labels.get(k, ""))

    def field(k: str) -> tuple[bool, str]:
        return (True, podutil.name_of(node)) if k == "metadata.name" else (False, "")
    return all(_requirement_matches(r, label) for r in exprs) and all(_requirement_matches(r, field) for r in fields)


def node_affinity_matches(pod_spec: Obj, node: Obj) -> bool:
    """nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (terms ORed)."""
    labels = podutil.labels_of(node)
    for k, v in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(node_selector_term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])


def node_should_run(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """(shouldRun, shouldContinueRunning) for a node (NodeShouldRunDaemonPod).

    A node that stops matching the affinity loses its pod; a new NoSchedule taint stops new
    pods but lets a running one continue; an untolerated NoExecute taint removes it."""
    pod_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    if pod_spec.get("nodeName") and pod_spec["nodeName"] != podutil.name_of(node):
        return False, False
    tolerations = with_daemon_tolerations(pod_spec)
    taints = (node.get("spec") or {}).get("taints") or []
    fits_affinity = node_affinity_matches(pod_spec, node)
    fits_taints = not untolerated_taints(taints, tolerations, ("NoSchedule", "NoExecute"))
    if not fits_affinity or not fits_taints:
        return False, fits_affinity and not untolerated_taints(taints, tolerations, ("NoExecute",))
    return True, True


# --- pods ---------------------------------------------------------------------------------

def node_name_affinity(affinity: Obj | None, node_name: str) -> Obj:
    """The pod's affinity with its required node affinity replaced by `metadata.name In
    [node]` (ReplaceDaemonSetPodNodeNameNodeAffinity): the scheduler then binds the pod to
    exactly that node, and the controller has already checked the node matches."""
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    out = copy.deepcopy(affinity) if affinity else {}
    na = out.setdefault("nodeAffinity", {})
    na["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}
    return out


def new_pod(ds: Obj, node_name: str, hash_: str) -> Obj:
    """The pod to create for a node: the template, its labels plus controller-revision-hash
    and pod-template-generation, the daemon tolerations and the node-name affinity."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    tm = template.get("metadata") or {}
    labels = dict(tm.get("labels") or {})
    labels[REVISION_HASH] = hash_
    gen = podutil.meta(ds).get("generation")
    if gen is not None:
        labels[TEMPLATE_GENERATION] = str(gen)
    spec = template.get("spec") or {}
    spec["tolerations"] = with_daemon_tolerations(spec)
    spec["affinity"] = node_name_affinity(spec.get("affinity"), node_name)
    metadata: Obj = {"generateName": podutil.name_of(ds) + "-", "namespace": podutil.namespace_of(ds),
                     "labels": labels,
                     "ownerReferences": [podutil.new_controller_ref(ds, "apps/v1", "DaemonSet")]}
    if tm.get("annotations"):
        metadata["annotations"] = dict(tm["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def is_pod_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    labels = podutil.labels_of(pod)
    gen_ok = generation is not None and labels.get(TEMPLATE_GENERATION) == str(generation)
    return gen_ok or labels.get(REVISION_HASH) == hash_


def _creation_and_phase_key(p: Obj) -> tuple[str, int, str]:
    """Oldest first; on ties Running before others (podByCreationTimestampAndPhase)."""
    return (podutil.meta(p).get("creationTimestamp") or "",
            0 if (p.get("status") or {}).get("phase") == "Running" else 1, podutil.name_of(p))


def allows_surge(ds: Obj) -> bool:
    st = (ds.get("spec") or {}).get("updateStrategy") or {}
    if st.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    return podutil.scaled_value((st.get("rollingUpdate") or {}).get("maxSurge"), 1, True) != 0


ShouldRun = dict[str, tuple[bool, bool]]
"""node name -> node_should_run(node, ds), computed once per sync (or memoised) by the caller."""


def should_run_map(ds: Obj, nodes: list[Obj]) -> ShouldRun:
    return {podutil.name_of(n): node_should_run(n, ds) for n in nodes}


def pods_should_be_on_nodes(ds: Obj, nodes: list[Obj], pods_by_node: dict[str, list[Obj]],
                            hash_: str, should: ShouldRun | None = None) -> tuple[list[str], list[str], list[str]]:
    """(nodes needing a pod, names of pods to delete, names of failed pods among them)
    (podsShouldBeOnNode over every node, then over pods on nodes that no longer exist).

    Failed daemon pods are deleted so they are replaced; surplus pods on a node are deleted
    keeping the oldest (or, while surging, the oldest new pod and, until the new one is
    ready, the oldest old one); pods on nodes that should not run one are deleted."""
    need: list[str] = []
    delete: list[str] = []
    failed: list[str] = []
    surge = allows_surge(ds)
    known = set()
    for node in sorted(nodes, key=podutil.name_of):
        name = podutil.name_of(node)
        known.add(name)
        should_run, should_continue = should[name] if should is not None else node_should_run(node, ds)
        pods = pods_by_node.get(name) or []
        if should_run and not pods:
            need.append(name)
        elif should_continue:
            running = []
            for p in pods:
                if podutil.is_deleting(p):
                    continue
                phase = (p.get("status") or {}).get("phase")
                if phase in ("Failed", "Succeeded"):
                    delete.append(podutil.name_of(p))
                    failed.append(podutil.name_of(p))
                else:
                    running.append(p)
            running.sort(key=_creation_and_phase_key)
            if not surge:
                delete.extend(podutil.name_of(p) for p in running[1:])
            elif len(running) >= 2:
                oldest_new = oldest_old = None
                for p in running:
                    if podutil.labels_of(p).get(REVISION_HASH) == hash_:
                        if oldest_new is None:
                            oldest_new = p
                            continue
                    elif oldest_old is None:
                        oldest_old = p
                        continue
                    delete.append(podutil.name_of(p))
                if oldest_new is not None and oldest_old is not None:
                    if not podutil.is_pod_ready(oldest_old) or podutil.is_pod_ready(oldest_new):
                        delete.append(podutil.name_of(oldest_old))
        elif pods:
            delete.extend(podutil.name_of(p) for p in pods if not podutil.is_deleting(p))
    for node_name, pods in sorted(pods_by_node.items()):
        if node_name and node_name not in known:
            delete.extend(podutil.name_of(p) for p in pods if not podutil.is_deleting(p))
    return need, delete, failed


# --- rolling update -----------------------------------------------------------------------

def surge_and_unavailable(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods for `desired` scheduled nodes, both rounding up
    (DaemonSets round percentages up, unlike Deployments); 1 unavailable if both are 0."""
    st = (ds.get("spec") or {}).get("updateStrategy") or {}
    if st.get("type", "RollingUpdate") != "RollingUpdate":
        return 0, 0
    ru = st.get("rollingUpdate") or {}
    surge = podutil.scaled_value(ru.get("maxSurge"), desired, True)
    unavailable = podutil.scaled_value(ru.get("maxUnavailable", 1), desired, True)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _updated_pods_on_node(pods: list[Obj], hash_: str, generation: int | None) -> tuple[Obj | None, Obj | None, bool]:
    new = old = None
    for p in pods:
        if podutil.is_deleting(p):
            continue
        if is_pod_updated(p, hash_, generation):
            if new is not None:
                return None, None, False
            new = p
        else:
            if old is not None:
                return None, None, False
            old = p
    return new, old, True


def rolling_update(ds: Obj, nodes_to_pods: dict[str, list[Obj]], hash_: str, at: datetime,
                   desired: int | None = None) -> tuple[list[str], list[str]]:
    """(old pods to delete, nodes to surge a new pod onto) for one rolling-update step
    (update.go rollingUpdate). `nodes_to_pods` holds every node that should run a pod and
    every node that has one (an old pod on a node that may no longer take new ones is
    replaced by nothing); `desired` (default: their number) sizes the percentages.

    Without surge: delete old pods while fewer than maxUnavailable nodes are unavailable
    (unavailable old pods may always go). Worked example: 5 nodes, maxUnavailable 2, all old
    and available -> 2 old pods deleted; next step, with the 2 new ones not yet available,
    nothing more is deleted.

    With surge: start new pods beside old ones on up to maxSurge nodes, and delete an old
    pod once the new one on its node is available."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    gen = podutil.meta(ds).get("generation")
    surge, max_unavail = surge_and_unavailable(ds, len(nodes_to_pods) if desired is None else desired)
    if surge == 0:
        unavailable = 0
        allowed: list[str] = []
        candidates: list[str] = []
        for node in sorted(nodes_to_pods):
            new, old, ok = _updated_pods_on_node(nodes_to_pods[node] or [], hash_, gen)
            if not ok or (new is None) == (old is None):
                unavailable += 1
            elif new is not None:
                if not podutil.is_pod_available(new, min_ready, at):
                    unavailable += 1
            elif old is not None and not podutil.is_pod_available(old, min_ready, at):
                allowed.append(podutil.name_of(old))
            elif old is not None and unavailable < max_unavail:
                candidates.append(podutil.name_of(old))
        remaining = max(0, min(max_unavail - unavailable, len(candidates)))
        return allowed + candidates[:remaining], []
    delete: list[str] = []
    surged = 0
    allowed_nodes: list[str] = []
    candidate_nodes: list[str] = []
    for node in sorted(nodes_to_pods):
        new, old, ok = _updated_pods_on_node(nodes_to_pods[node] or [], hash_, gen)
        if not ok:
            surged += 1
            continue
        if old is None:
            continue
        if new is None:
            if not podutil.is_pod_available(old, min_ready, at):
                allowed_nodes.append(node)
            elif surged < surge:
                candidate_nodes.append(node)
        elif not podutil.is_pod_available(new, min_ready, at):
            surged += 1
        else:
            delete.append(podutil.name_of(old))
    remaining = max(0, min(surge - surged, len(candidate_nodes)))
    return delete, allowed_nodes + candidate_nodes[:remaining]


# --- ControllerRevisions ------------------------------------------------------------------

def revision_data(ds: Obj) -> Obj:
    """What a ControllerRevision stores (getPatch): a strategic merge patch that replaces the
    DaemonSet's template, `{"spec": {"template": {..., "$patch": "replace"}}}`; kubectl
    `rollout undo` sends it back verbatim and `rollout history` prints its template."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_hash(data: Obj, collision_count: int | None = None) -> str:
    """history.HashControllerRevision: FNV-32a over the data (plus the collision count),
    encoded label-safe."""
    raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return podutil.safe_encode(str(podutil.fnv32a(raw)))


def revision_name(ds_name: str, hash_: str) -> str:
    return f"{ds_name[:223]}-{hash_}"


def revision_matches(ds: Obj, cr: Obj) -> bool:
    return _strip_patch(cr.get("data") or {}) == _strip_patch(revision_data(ds))


def _strip_patch(data: Obj) -> Any:
    """Compare decoded data rather than bytes (Kubernetes compares bytes, which Python's JSON
    cannot promise), ignoring empty maps the server may drop."""
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x not in ({}, None)}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v
    return clean(data)


def new_controller_revision(ds: Obj, revision: int) -> Obj:
    data = revision_data(ds)
    h = revision_hash(data, (ds.get("status") or {}).get("collisionCount"))
    labels = dict((((ds.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    labels[REVISION_HASH] = h
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": revision_name(podutil.name_of(ds), h), "namespace": podutil.namespace_of(ds),
                     "labels": labels,
                     "ownerReferences": [podutil.new_controller_ref(ds, "apps/v1", "DaemonSet")]},
        "data": data,
        "revision": revision,
    }


def histories_to_cleanup(ds: Obj, histories: list[Obj], current: Obj | None, live_hashes: set[str]) -> list[Obj]:
    """Old ControllerRevisions beyond revisionHistoryLimit (default 10), lowest revision
    first, never the current one nor one a live pod still runs (cleanupHistory)."""
    limit = int((ds.get("spec") or {}).get("revisionHistoryLimit", 10) or 0)
    cur_name = podutil.name_of(current) if current else None
    olds = [h for h in histories if podutil.name_of(h) != cur_name
            and podutil.labels_of(h).get(REVISION_HASH) not in live_hashes]
    excess = len([h for h in histories if podutil.name_of(h) != cur_name]) - limit
    if excess <= 0:
        return []
    olds.sort(key=lambda h: int(h.get("revision") or 0))
    return olds[:excess]


# --- status -------------------------------------------------------------------------------

def calculate_status(ds: Obj, nodes: list[Obj], pods_by_node: dict[str, list[Obj]], hash_: str, at: datetime,
                     should: ShouldRun | None = None) -> Obj:
    """desiredNumberScheduled, currentNumberScheduled, numberMisscheduled, numberReady,
    numberAvailable, numberUnavailable, updatedNumberScheduled, observedGeneration."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    gen = podutil.meta(ds).get("generation")
    desired = current = mis = ready_n = avail = updated = 0
    for node in nodes:
        should_run = (should[podutil.name_of(node)] if should is not None else node_should_run(node, ds))[0]
        pods = [p for p in pods_by_node.get(podutil.name_of(node)) or []]
        if should_run:
            desired += 1
            if not pods:
                continue
            current += 1
            p = pods[0] if len(pods) == 1 else min(pods, key=podutil.creation_sort_key)
            if podutil.is_pod_ready(p):
                ready_n += 1
                if podutil.is_pod_available(p, min_ready, at):
                    avail += 1
            if is_pod_updated(p, hash_, gen):
                updated += 1
        elif pods:
            mis += 1
    status: Obj = {k: v for k, v in (ds.get("status") or {}).items()
                   if k in ("collisionCount", "conditions")}
    status.update({
        "currentNumberScheduled": current, "numberMisscheduled": mis, "desiredNumberScheduled": desired,
        "numberReady": ready_n, "observedGeneration": gen or 0, "updatedNumberScheduled": updated,
        "numberAvailable": avail, "numberUnavailable": max(0, desired - avail),
    })
    return status
