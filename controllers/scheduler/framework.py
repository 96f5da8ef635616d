"""The scheduler's plain data: what a pod asks for (`PodInfo`), what a node offers and already
carries (`NodeInfo`), and the small matching rules both sides share (quantities, node
selector terms, tolerations). Filters and scores (filters.py, scores.py) are pure functions
over these.

Everything here is parsed once per object (a pod when it is queued or bound, a node when it
changes) so that a scheduling decision does arithmetic, not parsing. Nothing here may do
I/O or mutate the API objects it was built from (they are informer-cache objects)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from apimachinery.selectors import LabelSelector

Obj = dict[str, Any]

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
ZONE_BETA = "failure-domain.beta.kubernetes.io/zone"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
DEFAULT_SCHEDULER = "default-scheduler"

# Kubernetes' non-zero defaults (pkg/scheduler/util): used by scores, never by filters.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"

_SUFFIX: dict[str, int | Decimal] = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "m": Decimal("0.001")}
_QTY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(value: Any, milli: bool = False) -> int:
    """A Kubernetes quantity as an integer: millis for cpu (`milli=True`: "250m" -> 250,
    "1" -> 1000), else the rounded-up value ("1Gi" -> 1073741824, "1.5k" -> 1500).
    Unparseable values count as 0 (validation rejects them before they get here)."""
    if value is None:
        return 0
    if isinstance(value, int | float):
        d = Decimal(str(value))
    else:
        m = _QTY.match(str(value).strip())
        if not m:
            return 0
        num, suf = m.groups()
        if suf not in _SUFFIX:
            return 0
        try:
            d = Decimal(num) * Decimal(_SUFFIX[suf])
        except ArithmeticError:
            return 0
    if milli:
        d *= 1000
    i = int(d)
    return i + 1 if d > i else i


def _resource_list(rl: Obj | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in (rl or {}).items():
        out[k] = parse_quantity(v, milli=(k == CPU))
    return out


def _container_requests(c: Obj) -> dict[str, int]:
    res = c.get("resources") or {}
    req = _resource_list(res.get("requests"))
    for k, v in _resource_list(res.get("limits")).items():
        req.setdefault(k, v)  # API defaulting copies limits into missing requests
    return req


def pod_requests(spec: Obj) -> dict[str, int]:
    """What a pod needs on a node (resource.PodRequests): the sum over containers, at least
    the largest init container (restartable sidecars add up with the rest), plus overhead.

    Worked example: containers 100m + 200m, init containers 500m and 250m -> max(300m, 500m)
    = 500m; a sidecar init container of 50m makes it max(350m, 550m) = 550m."""
    total: dict[str, int] = {}
    for c in spec.get("containers") or ():
        for k, v in _container_requests(c).items():
            total[k] = total.get(k, 0) + v
    sidecars: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for c in spec.get("initContainers") or ():
        r = _container_requests(c)
        if c.get("restartPolicy") == "Always":
            for k, v in r.items():
                sidecars[k] = sidecars.get(k, 0) + v
            continue
        for k, v in r.items():
            init_max[k] = max(init_max.get(k, 0), v + sidecars.get(k, 0))
    for k, v in sidecars.items():
        total[k] = total.get(k, 0) + v
    for k, v in init_max.items():
        total[k] = max(total.get(k, 0), v)
    for k, v in _resource_list(spec.get("overhead")).items():
        total[k] = total.get(k, 0) + v
    return {k: v for k, v in total.items() if v}


def nonzero_requests(spec: Obj) -> tuple[int, int]:
    """(milli cpu, memory) for scoring, with Kubernetes' defaults for containers that ask for
    nothing (100m, 200Mi) so that best-effort pods still spread."""
    cpu = mem = 0
    for c in spec.get("containers") or ():
        r = _container_requests(c)
        cpu += r.get(CPU) or DEFAULT_MILLI_CPU
        mem += r.get(MEMORY) or DEFAULT_MEMORY
    return cpu, mem


# --- matching -----------------------------------------------------------------------------------

def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return key == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(tolerations: list[Obj], taint: Obj) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def _int_or_none(s: str) -> int | None:
    try:
        return int(s)
    except (TypeError, ValueError):
        return None


def match_node_requirement(expr: Obj, labels: dict[str, str]) -> bool:
    """One NodeSelectorRequirement (In, NotIn, Exists, DoesNotExist, Gt, Lt) on node labels."""
    key, op, values = expr.get("key") or "", expr.get("operator"), expr.get("values") or []
    has = key in labels
    if op == "In":
        return has and labels[key] in values
    if op == "NotIn":
        return not has or labels[key] not in values
    if op == "Exists":
        return has
    if op == "DoesNotExist":
        return not has
    if op in ("Gt", "Lt"):
        if not has or len(values) != 1:
            return False
        a, b = _int_or_none(labels[key]), _int_or_none(values[0])
        if a is None or b is None:
            return False
        return a > b if op == "Gt" else a < b
    return False


def match_node_selector_term(term: Obj, labels: dict[str, str], name: str) -> bool:
    """A term matches when all its expressions and fields do; an empty term matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if not all(match_node_requirement(e, labels) for e in exprs):
        return False
    return all(match_node_requirement({**f, "key": "metadata.name"}, {"metadata.name": name})
               if f.get("key") == "metadata.name" else False for f in fields)


def match_node_selector_terms(terms: list[Obj], labels: dict[str, str], name: str) -> bool:
    """NodeSelectorTerms are ORed."""
    return any(match_node_selector_term(t, labels, name) for t in terms)


# --- pods ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    selector: LabelSelector
    namespaces: frozenset[str]  # the term's namespaces, or the pod's own
    all_namespaces: bool  # namespaceSelector: {} (every namespace)
    topology_key: str

    def matches(self, namespace: str, labels: dict[str, str]) -> bool:
        return (self.all_namespaces or namespace in self.namespaces) and self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    hard: bool  # whenUnsatisfiable: DoNotSchedule
    selector: LabelSelector
    min_domains: int


def _affinity_terms(pod_ns: str, terms: list[Obj]) -> tuple[PodAffinityTerm, ...]:
    out = []
    for t in terms:
        ns = t.get("namespaces") or []
        nss = t.get("namespaceSelector")
        out.append(PodAffinityTerm(LabelSelector.from_dict(t.get("labelSelector")),
                                   frozenset(ns or ([] if nss == {} else [pod_ns])), nss == {} and not ns,
                                   t.get("topologyKey") or ""))
    return tuple(out)


@dataclass(slots=True)
class PodInfo:
    """A pod as the scheduler needs it, parsed once."""

    obj: Obj
    key: str
    uid: str
    namespace: str
    name: str
    labels: dict[str, str]
    priority: int
    requests: dict[str, int]
    nonzero_cpu: int
    nonzero_mem: int
    ports: tuple[tuple[str, str, int], ...]  # (hostIP, protocol, hostPort)
    tolerations: list[Obj]
    node_selector: dict[str, str]
    required_terms: list[Obj] | None  # requiredDuringScheduling nodeSelectorTerms
    preferred_terms: list[tuple[int, Obj]]
    anti_affinity: tuple[PodAffinityTerm, ...]
    affinity: tuple[PodAffinityTerm, ...]
    spread: tuple[SpreadConstraint, ...]
    owner_uid: str
    node_name: str
    scheduler_name: str
    static_key: str = ""  # pods with equal keys pass the same node-only filters
    phase: str = ""

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        ns = meta.get("namespace") or ""
        aff = spec.get("affinity") or {}
        na = aff.get("nodeAffinity") or {}
        req = na.get("requiredDuringSchedulingIgnoredDuringExecution")
        pref = [(int(p.get("weight") or 0), p.get("preference") or {})
                for p in na.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        anti = (aff.get("podAntiAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
        paff = (aff.get("podAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
        ports = []
        for c in spec.get("containers") or ():
            for p in c.get("ports") or ():
                if p.get("hostPort"):
                    ports.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"])))
        spread = tuple(SpreadConstraint(int(c.get("maxSkew") or 1), c.get("topologyKey") or "",
                                        c.get("whenUnsatisfiable", "DoNotSchedule") == "DoNotSchedule",
                                        LabelSelector.from_dict(c.get("labelSelector")),
                                        int(c.get("minDomains") or 1))
                       for c in spec.get("topologySpreadConstraints") or ())
        owner = ""
        for r in meta.get("ownerReferences") or ():
            if r.get("controller"):
                owner = r.get("uid") or ""
        tolerations = list(spec.get("tolerations") or [])
        node_selector = dict(spec.get("nodeSelector") or {})
        required = (req or {}).get("nodeSelectorTerms") if req is not None else None
        cpu, mem = nonzero_requests(spec)
        info = cls(obj=pod, key=f"{ns}/{meta.get('name', '')}", uid=meta.get("uid") or "", namespace=ns,
                   name=meta.get("name") or "", labels=dict(meta.get("labels") or {}),
                   priority=int(spec.get("priority") or 0), requests=pod_requests(spec), nonzero_cpu=cpu,
                   nonzero_mem=mem, ports=tuple(ports), tolerations=tolerations, node_selector=node_selector,
                   required_terms=required, preferred_terms=pref, anti_affinity=_affinity_terms(ns, anti),
                   affinity=_affinity_terms(ns, paff), spread=spread, owner_uid=owner,
                   node_name=spec.get("nodeName") or "", scheduler_name=spec.get("schedulerName") or DEFAULT_SCHEDULER,
                   phase=(pod.get("status") or {}).get("phase") or "")
        info.static_key = repr((tolerations, sorted(node_selector.items()), required))
        return info


# --- nodes --------------------------------------------------------------------------------------

def zone_of(labels: dict[str, str]) -> str:
    return labels.get(ZONE) or labels.get(ZONE_BETA) or ""


@dataclass(slots=True)
class NodeInfo:
    """A node and what the pods on it (bound or assumed) already take."""

    name: str
    obj: Obj | None = None
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[Obj] = field(default_factory=list)
    unschedulable: bool = False
    allocatable: dict[str, int] = field(default_factory=dict)
    requested: dict[str, int] = field(default_factory=dict)
    nonzero_cpu: int = 0
    nonzero_mem: int = 0
    pods: dict[str, PodInfo] = field(default_factory=dict)  # uid -> pod
    ports: dict[tuple[str, str, int], int] = field(default_factory=dict)
    owners: dict[str, int] = field(default_factory=dict)  # controller uid -> pods of it here
    static_sig: tuple[Any, ...] = ()
    # Flat copies of the hot numbers for the scheduler's fast path (kept in step with the dicts).
    a_cpu: int = 0
    a_mem: int = 0
    a_eph: int = 0
    a_pods: int = 0
    u_cpu: int = 0
    u_mem: int = 0
    u_eph: int = 0

    @classmethod
    def of(cls, node: Obj) -> NodeInfo:
        ni = cls(node.get("metadata", {}).get("name", ""))
        ni.set_node(node)
        return ni

    def set_node(self, node: Obj) -> bool:
        """Take a new version of the node; True when what node-only filters look at changed."""
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        self.obj = node
        labels = dict(meta.get("labels") or {})
        taints = list(spec.get("taints") or [])
        unsched = bool(spec.get("unschedulable"))
        self.allocatable = a = _resource_list((node.get("status") or {}).get("allocatable"))
        self.a_cpu, self.a_mem, self.a_eph, self.a_pods = a.get(CPU, 0), a.get(MEMORY, 0), a.get(EPHEMERAL, 0), a.get(PODS, 0)
        sig = (labels, taints, unsched)
        changed = sig != self.static_sig
        self.labels, self.taints, self.unschedulable, self.static_sig = labels, taints, unsched, sig
        return changed

    @property
    def zone(self) -> str:
        return zone_of(self.labels)

    def add_pod(self, p: PodInfo) -> None:
        if p.uid in self.pods:
            self.remove_pod(self.pods[p.uid])
        self.pods[p.uid] = p
        for k, v in p.requests.items():
            self.requested[k] = self.requested.get(k, 0) + v
        self._flat()
        self.nonzero_cpu += p.nonzero_cpu
        self.nonzero_mem += p.nonzero_mem
        for port in p.ports:
            self.ports[port] = self.ports.get(port, 0) + 1
        if p.owner_uid:
            self.owners[p.owner_uid] = self.owners.get(p.owner_uid, 0) + 1

    def remove_pod(self, p: PodInfo) -> None:
        old = self.pods.pop(p.uid, None)
        if old is None:
            return
        for k, v in old.requests.items():
            self.requested[k] = self.requested.get(k, 0) - v
        self._flat()
        self.nonzero_cpu -= old.nonzero_cpu
        self.nonzero_mem -= old.nonzero_mem
        for port in old.ports:
            n = self.ports.get(port, 0) - 1
            if n > 0:
                self.ports[port] = n
            else:
                self.ports.pop(port, None)
        if old.owner_uid:
            n = self.owners.get(old.owner_uid, 0) - 1
            if n > 0:
                self.owners[old.owner_uid] = n
            else:
                self.owners.pop(old.owner_uid, None)

    def _flat(self) -> None:
        r = self.requested
        self.u_cpu, self.u_mem, self.u_eph = r.get(CPU, 0), r.get(MEMORY, 0), r.get(EPHEMERAL, 0)
