"""Scores: among the nodes that fit, which is best? Pure functions, one per Kubernetes score
plugin, each giving 0..100 per node (after normalisation), summed with kube-scheduler's
default weights:

    TaintToleration 3, NodeAffinity 2, spread (SelectorSpread) 2, PodTopologySpread
    (ScheduleAnyway constraints) 2,
    NodeResourcesFit (LeastAllocated) 1, NodeResourcesBalancedAllocation 1.

Worked example (4-cpu/8Gi nodes, pod asking 1 cpu / 1Gi): node A already has 2 cpu, 1Gi
requested, B nothing. LeastAllocated: A = ((4-3)/4*100 + (8-2)/8*100)/2 = (25+75)/2 = 50,
B = (75 + 87)/2 = 81. Balanced: A = (1 - |0.75-0.25|/2)*100 = 75, B = (1-|.25-.125|/2)*100 = 93.
B wins: 81 + 93 > 50 + 75 (other scores equal).

Nothing here does I/O or mutates its arguments."""

from __future__ import annotations

from controllers.scheduler.framework import (
    CPU,
    MEMORY,
    NodeInfo,
    PodInfo,
    match_node_selector_term,
    tolerated,
)

MAX_SCORE = 100

WEIGHT_TAINT = 3
WEIGHT_NODE_AFFINITY = 2
WEIGHT_SPREAD = 2
WEIGHT_TOPOLOGY_SPREAD = 2
WEIGHT_LEAST_ALLOCATED = 1
WEIGHT_BALANCED = 1
ZONE_WEIGHTING = 2 / 3  # SelectorSpread: zone spreading counts twice as much as node spreading


def least_allocated(pod: PodInfo, node: NodeInfo) -> int:
    """NodeResourcesFit with the LeastAllocated strategy on cpu and memory (weights 1, 1),
    with non-zero requests: (allocatable - requested) * 100 / allocatable, averaged."""
    total = 0
    for alloc, req in ((node.allocatable.get(CPU, 0), node.nonzero_cpu + pod.nonzero_cpu),
                       (node.allocatable.get(MEMORY, 0), node.nonzero_mem + pod.nonzero_mem)):
        if alloc > 0 and req <= alloc:
            total += (alloc - req) * MAX_SCORE // alloc
    return total // 2


def balanced_allocation(pod: PodInfo, node: NodeInfo) -> int:
    """NodeResourcesBalancedAllocation: (1 - standard deviation of the cpu and memory
    fractions) * 100; for two resources the deviation is half their difference."""
    fracs = []
    for alloc, req in ((node.allocatable.get(CPU, 0), node.nonzero_cpu + pod.nonzero_cpu),
                       (node.allocatable.get(MEMORY, 0), node.nonzero_mem + pod.nonzero_mem)):
        fracs.append(min(1.0, req / alloc) if alloc > 0 else 1.0)
    std = abs(fracs[0] - fracs[1]) / 2
    return int((1 - std) * MAX_SCORE)


def taint_toleration_raw(pod: PodInfo, node: NodeInfo) -> int:
    """How many PreferNoSchedule taints the pod does not tolerate (fewer is better)."""
    return sum(1 for t in node.taints if t.get("effect") == "PreferNoSchedule" and not tolerated(pod.tolerations, t))


def node_affinity_raw(pod: PodInfo, node: NodeInfo) -> int:
    """Sum of the weights of the preferred node affinity terms the node matches."""
    return sum(w for w, term in pod.preferred_terms if match_node_selector_term(term, node.labels, node.name))


def spread_raw(pod: PodInfo, node: NodeInfo) -> int:
    """Pods of the same controller already on the node (fewer is better)."""
    return node.owners.get(pod.owner_uid, 0) if pod.owner_uid else 0


def normalize(raw: list[int], reverse: bool = False) -> list[int]:
    """DefaultNormalizeScore: scale to 0..100 by the maximum; `reverse` for lower-is-better.
    All zero: 0 each, or 100 each when reversed."""
    top = max(raw, default=0)
    if top == 0:
        return [MAX_SCORE if reverse else 0 for _ in raw]
    if reverse:
        return [MAX_SCORE - v * MAX_SCORE // top for v in raw]
    return [v * MAX_SCORE // top for v in raw]


def spread_scores(pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
    """SelectorSpread: fewer pods of the pod's controller on the node and in its zone score
    higher. Worked example: counts 2, 0, 1 on nodes without zones -> 0, 100, 50."""
    if not pod.owner_uid:
        return [MAX_SCORE] * len(nodes)
    counts = [n.owners.get(pod.owner_uid, 0) for n in nodes]
    top = max(counts, default=0)
    zones: dict[str, int] = {}
    for n, c in zip(nodes, counts, strict=True):
        z = n.zone
        if z:
            zones[z] = zones.get(z, 0) + c
    ztop = max(zones.values(), default=0)
    out = []
    for n, c in zip(nodes, counts, strict=True):
        s = float(MAX_SCORE) if top == 0 else MAX_SCORE * (top - c) / top
        z = n.zone
        if zones and z:
            zs = float(MAX_SCORE) if ztop == 0 else MAX_SCORE * (ztop - zones[z]) / ztop
            s = s * (1 - ZONE_WEIGHTING) + zs * ZONE_WEIGHTING
        out.append(int(s))
    return out


def topology_spread_scores(pod: PodInfo, nodes: list[NodeInfo]) -> list[int] | None:
    """PodTopologySpread for `whenUnsatisfiable: ScheduleAnyway` constraints: fewer matching
    pods in the node's domain score higher (None when the pod has no such constraint).
    Worked example: one zone constraint, zones a:3 b:1 -> nodes in a 0, in b 100 - 100//3 = 67."""
    soft = [c for c in pod.spread if not c.hard]
    if not soft:
        return None
    counts: list[dict[str, int]] = []
    for c in soft:
        per: dict[str, int] = {}
        for n in nodes:
            v = n.labels.get(c.topology_key)
            if v is None or v in per:
                continue
            per[v] = 0
        counts.append(per)
    seen: set[str] = set()
    for n in nodes:
        if n.name in seen:
            continue
        seen.add(n.name)
        for c, per in zip(soft, counts, strict=True):
            v = n.labels.get(c.topology_key)
            if v is None:
                continue
            per[v] += sum(1 for p in n.pods.values() if p.namespace == pod.namespace and c.selector.matches(p.labels))
    raw = []
    for n in nodes:
        total = 0
        for c, per in zip(soft, counts, strict=True):
            v = n.labels.get(c.topology_key)
            total += per.get(v, 0) if v is not None else max(per.values(), default=0) + 1
        raw.append(total)
    return normalize(raw, reverse=True)


def score_nodes(pod: PodInfo, nodes: list[NodeInfo]) -> list[int]:
    """The weighted sum of every score for each of `nodes` (which all passed the filters)."""
    la = [least_allocated(pod, n) for n in nodes]
    ba = [balanced_allocation(pod, n) for n in nodes]
    taint = normalize([taint_toleration_raw(pod, n) for n in nodes], reverse=True)
    if pod.preferred_terms:
        aff = normalize([node_affinity_raw(pod, n) for n in nodes])
    else:
        aff = [0] * len(nodes)
    spread = spread_scores(pod, nodes)
    topo = topology_spread_scores(pod, nodes)
    return [WEIGHT_LEAST_ALLOCATED * la[i] + WEIGHT_BALANCED * ba[i] + WEIGHT_TAINT * taint[i]
            + WEIGHT_NODE_AFFINITY * aff[i] + WEIGHT_SPREAD * spread[i]
            + (WEIGHT_TOPOLOGY_SPREAD * topo[i] if topo is not None else 0) for i in range(len(nodes))]
