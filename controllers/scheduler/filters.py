"""Filters: may this pod run on this node? One pure function per Kubernetes filter plugin,
`check(pod, node, state) -> Status | None`, run in kube-scheduler's order (the first failing
filter decides a node's reason), and `fit_error_message`, which turns the reasons of every
node into the sentence a user reads in `kubectl describe pod`:

    0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint
    {dedicated: gpu}. preemption: 0/3 nodes are available: 1 No preemption victims found for
    incoming pod, 2 Preemption is not helpful for scheduling.

The wording of every reason is Kubernetes v1.32's, because users search for it. A filter
never does I/O and never mutates a pod, a node or the state: the state (`CycleState`) is
computed once per decision by `prefilter` (which domains hold which pods) so that a filter
is O(1) or O(terms) per node."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from controllers.scheduler.framework import (
    CPU,
    EPHEMERAL,
    MEMORY,
    PODS,
    UNSCHEDULABLE_TAINT,
    NodeInfo,
    PodInfo,
    match_node_selector_terms,
    tolerated,
)

ERR_NODE_NAME = "node(s) didn't match the requested node name"
ERR_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_TAINT = "node(s) had untolerated taint {%s: %s}"
ERR_NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
ERR_PORTS = "node(s) didn't have free ports for the requested pod ports"
ERR_TOO_MANY_PODS = "Too many pods"
ERR_INSUFFICIENT = "Insufficient %s"
ERR_SPREAD = "node(s) didn't match pod topology spread constraints"
ERR_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
ERR_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


@dataclass(frozen=True, slots=True)
class Status:
    """Why a node was rejected. `unresolvable` (UnschedulableAndUnresolvable) when evicting
    pods from the node could not help, which is what the preemption half of the message says."""

    reasons: tuple[str, ...]
    unresolvable: bool = False
    plugin: str = ""


@dataclass(slots=True)
class CycleState:
    """What `prefilter` learned about the cluster for one pod."""

    anti_forbidden: set[tuple[str, str]] = field(default_factory=set)  # (topologyKey, value)
    existing_anti_forbidden: set[tuple[str, str]] = field(default_factory=set)
    affinity_domains: list[set[str]] = field(default_factory=list)  # per term: values holding a match
    affinity_anywhere: bool = False  # no pod matches yet, but the pod matches its own terms
    spread_counts: list[dict[str, int]] = field(default_factory=list)  # per hard constraint
    spread_min: list[int] = field(default_factory=list)
    spread_self: list[int] = field(default_factory=list)


Filter = Callable[[PodInfo, NodeInfo, CycleState], "Status | None"]


def node_name(pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    if pod.node_name and pod.node_name != node.name:
        return Status((ERR_NODE_NAME,), True, "NodeName")
    return None


def node_unschedulable(pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    if node.unschedulable and not tolerated(pod.tolerations, {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}):
        return Status((ERR_UNSCHEDULABLE,), True, "NodeUnschedulable")
    return None


def taint_toleration(pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    """The first NoSchedule/NoExecute taint the pod does not tolerate (PreferNoSchedule only scores)."""
    for t in node.taints:
        if t.get("effect") in ("NoSchedule", "NoExecute") and not tolerated(pod.tolerations, t):
            return Status((ERR_TAINT % (t.get("key") or "", t.get("value") or ""),), True, "TaintToleration")
    return None


def node_affinity(pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    """spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution, both must hold."""
    labels = node.labels
    for k, v in pod.node_selector.items():
        if labels.get(k) != v:
            return Status((ERR_NODE_AFFINITY,), True, "NodeAffinity")
    if pod.required_terms is not None and not match_node_selector_terms(pod.required_terms, labels, node.name):
        return Status((ERR_NODE_AFFINITY,), True, "NodeAffinity")
    return None


def _port_conflict(want: tuple[str, str, int], used: Iterable[tuple[str, str, int]]) -> bool:
    ip, proto, port = want
    for uip, uproto, uport in used:
        if uport == port and uproto == proto and (ip == uip or ip == "0.0.0.0" or uip == "0.0.0.0"):
            return True
    return False


def node_ports(pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    if pod.ports and node.ports and any(_port_conflict(p, node.ports) for p in pod.ports):
        return Status((ERR_PORTS,), False, "NodePorts")
    return None


def node_resources_fit(pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    """Requests against allocatable minus what bound and assumed pods request; every
    insufficient resource is a reason of its own (pods, cpu, memory, ephemeral-storage, then
    extended resources in name order)."""
    alloc, used = node.allocatable, node.requested
    reasons: list[str] = []
    if len(node.pods) + 1 > alloc.get(PODS, 0):
        reasons.append(ERR_TOO_MANY_PODS)
    req = pod.requests
    if req:
        for r in (CPU, MEMORY, EPHEMERAL):
            v = req.get(r, 0)
            if v > 0 and v > alloc.get(r, 0) - used.get(r, 0):
                reasons.append(ERR_INSUFFICIENT % r)
        for r in sorted(req):
            if r in (CPU, MEMORY, EPHEMERAL, PODS):
                continue
            v = req[r]
            if v > 0 and v > alloc.get(r, 0) - used.get(r, 0):
                reasons.append(ERR_INSUFFICIENT % r)
    if reasons:
        return Status(tuple(reasons), False, "NodeResourcesFit")
    return None


def pod_topology_spread(pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    """whenUnsatisfiable: DoNotSchedule constraints: placing the pod here must keep
    (pods in this node's domain + 1) - (fewest pods in any eligible domain) <= maxSkew.

    Worked example: maxSkew 1 over zones a:2, b:1, c:1 -> a gives 3-1 = 2 > 1 (rejected),
    b and c give 2-1 = 1 (accepted)."""
    hard = [c for c in pod.spread if c.hard]
    for i, c in enumerate(hard):
        value = node.labels.get(c.topology_key)
        if value is None:
            return Status((ERR_SPREAD_LABEL,), True, "PodTopologySpread")
        if i >= len(state.spread_counts):
            continue
        count = state.spread_counts[i].get(value, 0)
        if count + state.spread_self[i] - state.spread_min[i] > c.max_skew:
            return Status((ERR_SPREAD,), False, "PodTopologySpread")
    return None


def inter_pod_affinity(pod: PodInfo, node: NodeInfo, state: CycleState) -> Status | None:
    """Kubernetes' order: the pod's affinity, the pod's anti-affinity, then the
    anti-affinity of pods already running."""
    labels = node.labels
    if pod.affinity and not state.affinity_anywhere:
        for term, domains in zip(pod.affinity, state.affinity_domains, strict=False):
            v = labels.get(term.topology_key)
            if v is None or v not in domains:
                return Status((ERR_AFFINITY,), True, "InterPodAffinity")
    for term in pod.anti_affinity:
        v = labels.get(term.topology_key)
        if v is not None and (term.topology_key, v) in state.anti_forbidden:
            return Status((ERR_ANTI_AFFINITY,), False, "InterPodAffinity")
    for key, value in state.existing_anti_forbidden:
        if labels.get(key) == value:
            return Status((ERR_EXISTING_ANTI_AFFINITY,), False, "InterPodAffinity")
    return None


STATIC_FILTERS: tuple[Filter, ...] = (node_unschedulable, node_name, taint_toleration, node_affinity)
"""Filters that look only at the pod's spec and the node's labels, taints and
`unschedulable`: their verdicts are cached per kind of pod until a node changes."""

DYNAMIC_FILTERS: tuple[Filter, ...] = (node_ports, node_resources_fit, pod_topology_spread, inter_pod_affinity)
"""Filters that depend on what runs where: evaluated at every decision."""

FILTERS: tuple[Filter, ...] = STATIC_FILTERS + DYNAMIC_FILTERS


def run_filters(pod: PodInfo, node: NodeInfo, state: CycleState, filters: Iterable[Filter] = FILTERS) -> Status | None:
    """The first failing filter's status, or None when the node fits."""
    for f in filters:
        st = f(pod, node, state)
        if st is not None:
            return st
    return None


def prefilter(pod: PodInfo, nodes: Iterable[NodeInfo], anti_affinity_pods: Iterable[tuple[PodInfo, NodeInfo]] = (),
              ) -> CycleState:
    """Count, once per decision, what the inter-pod and spread filters need: which topology
    domains hold pods the new pod must avoid or join, and how many matching pods each
    spread domain holds. `anti_affinity_pods` are the bound pods that carry required
    anti-affinity terms (with their nodes), to honour them against the new pod."""
    state = CycleState()
    for other, onode in anti_affinity_pods:
        for t in other.anti_affinity:
            v = onode.labels.get(t.topology_key)
            if v is not None and t.matches(pod.namespace, pod.labels):
                state.existing_anti_forbidden.add((t.topology_key, v))
    hard = [c for c in pod.spread if c.hard]
    if not (pod.anti_affinity or pod.affinity or hard):
        return state
    node_list = list(nodes)
    state.affinity_domains = [set() for _ in pod.affinity]
    any_affinity_match = False
    for c in hard:
        state.spread_counts.append({})
        state.spread_self.append(1 if c.selector.matches(pod.labels) else 0)
    for n in node_list:
        labels = n.labels
        spread_eligible = [labels.get(c.topology_key) for c in hard]
        if hard and node_affinity(pod, n, state) is not None:
            spread_eligible = [None] * len(hard)
        for i, v in enumerate(spread_eligible):
            if v is not None:
                state.spread_counts[i].setdefault(v, 0)
        for p in n.pods.values():
            for t in pod.anti_affinity:
                v = labels.get(t.topology_key)
                if v is not None and t.matches(p.namespace, p.labels):
                    state.anti_forbidden.add((t.topology_key, v))
            for i, t in enumerate(pod.affinity):
                v = labels.get(t.topology_key)
                if v is not None and t.matches(p.namespace, p.labels):
                    state.affinity_domains[i].add(v)
                    any_affinity_match = True
            for i, c in enumerate(hard):
                v = spread_eligible[i]
                if v is not None and p.namespace == pod.namespace and c.selector.matches(p.labels):
                    state.spread_counts[i][v] += 1
    if pod.affinity and not any_affinity_match and all(t.matches(pod.namespace, pod.labels) for t in pod.affinity):
        state.affinity_anywhere = True
    for i, c in enumerate(hard):
        counts = state.spread_counts[i]
        state.spread_min.append(0 if len(counts) < c.min_domains or not counts else min(counts.values()))
    return state


def fit_error_message(num_nodes: int, statuses: Iterable[Status], preemption_policy: str = "PreemptLowerPriority",
                      ) -> str:
    """FitError.Error() of kube-scheduler v1.32: every reason with the number of nodes that
    gave it, sorted as strings (so "10 X" sorts before "2 Y", as Kubernetes prints it), then
    what preemption would say. mizzen does not preempt: nodes rejected for a reason that
    evicting pods could fix say that no victims were found.

    Worked example: 3 nodes, one short of memory, two tainted ->
    "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint
    {dedicated: gpu}. preemption: 0/3 nodes are available: 1 No preemption victims found for
    incoming pod, 2 Preemption is not helpful for scheduling."
    """
    counts: dict[str, int] = {}
    preempt: dict[str, int] = {}
    for st in statuses:
        for r in st.reasons:
            counts[r] = counts.get(r, 0) + 1
        p = PREEMPTION_NOT_HELPFUL if st.unresolvable else NO_VICTIMS
        preempt[p] = preempt.get(p, 0) + 1
    msg = f"0/{num_nodes} nodes are available:"
    if counts:
        msg += " " + ", ".join(sorted(f"{v} {k}" for k, v in counts.items())) + "."
    if preemption_policy == "Never":
        return msg + " preemption: not eligible due to preemptionPolicy=Never."
    if num_nodes == 0:
        return msg
    return (msg + f" preemption: 0/{num_nodes} nodes are available: "
            + ", ".join(sorted(f"{v} {k}" for k, v in preempt.items())) + ".")
