"""Table tests of the scheduler's filters, prefilter and failure messages (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.scheduler import filters as F
from controllers.scheduler.filters import CycleState, Status, fit_error_message, prefilter, run_filters
from controllers.scheduler.framework import NodeInfo, PodInfo, parse_quantity, pod_requests


def mkpod(name: str = "p", *, cpu: str | None = None, mem: str | None = None, labels: dict | None = None,
          ns: str = "default", node: str = "", extra: dict | None = None, tolerations: list | None = None,
          node_selector: dict | None = None, affinity: dict | None = None, ports: list | None = None,
          spread: list | None = None, owner: str | None = None, **resources: str) -> PodInfo:
    req: dict[str, str] = {}
    if cpu:
        req["cpu"] = cpu
    if mem:
        req["memory"] = mem
    req.update({k.replace("_", "-").replace("--", "/"): v for k, v in resources.items()})
    c: dict[str, Any] = {"name": "c", "image": "busybox", "resources": {"requests": req} if req else {}}
    if ports:
        c["ports"] = ports
    spec: dict[str, Any] = {"containers": [c]}
    if node:
        spec["nodeName"] = node
    if tolerations is not None:
        spec["tolerations"] = tolerations
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = affinity
    if spread:
        spec["topologySpreadConstraints"] = spread
    spec.update(extra or {})
    meta: dict[str, Any] = {"name": name, "namespace": ns, "uid": "uid-" + name, "labels": labels or {}}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": owner, "uid": "uid-" + owner, "controller": True}]
    return PodInfo.of({"metadata": meta, "spec": spec})


def mknode(name: str = "n1", *, cpu: str = "4", mem: str = "8Gi", pods: str = "110", labels: dict | None = None,
           taints: list | None = None, unschedulable: bool = False, extra_alloc: dict | None = None) -> NodeInfo:
    alloc = {"cpu": cpu, "memory": mem, "pods": pods, "ephemeral-storage": "100Gi", **(extra_alloc or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return NodeInfo.of({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                        "spec": spec, "status": {"allocatable": alloc, "capacity": alloc}})


def reasons(st: Status | None) -> tuple[str, ...] | None:
    return None if st is None else st.reasons


@pytest.mark.parametrize(("value", "milli", "want"), [
    ("250m", True, 250), ("1", True, 1000), ("1.5", True, 1500), ("0.1", True, 100), (2, True, 2000),
    ("1Gi", False, 2**30), ("128Mi", False, 128 * 2**20), ("1k", False, 1000), ("1.5k", False, 1500),
    ("100M", False, 10**8), ("1e3", False, 1000), ("10", False, 10), ("bogus", False, 0), (None, False, 0),
    ("1m", False, 1),  # a thousandth of a byte rounds up to one
])
def test_parse_quantity(value: Any, milli: bool, want: int) -> None:
    assert parse_quantity(value, milli) == want


@pytest.mark.parametrize(("spec", "want"), [
    ({"containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"requests": {"cpu": "200m"}}}]},
     {"cpu": 300}),
    ({"containers": [{"resources": {"requests": {"cpu": "100m"}}}],
      "initContainers": [{"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]},
     {"cpu": 500, "memory": 2**30}),
    ({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}, {"cpu": 1000, "memory": 2**30}),
    ({"containers": [{"resources": {"requests": {"cpu": "100m"}}}],
      "initContainers": [{"restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                         {"resources": {"requests": {"cpu": "500m"}}}]},
     {"cpu": 550}),
    ({"containers": [{"resources": {"requests": {"cpu": "100m"}}}], "overhead": {"cpu": "10m"}}, {"cpu": 110}),
    ({"containers": [{}]}, {}),
])
def test_pod_requests(spec: dict, want: dict) -> None:
    assert pod_requests(spec) == want


GPU_TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}

FILTER_CASES = [
    # (id, filter, pod, node, expected reasons or None)
    ("nodename-other", F.node_name, mkpod(node="n2"), mknode("n1"), ("node(s) didn't match the requested node name",)),
    ("nodename-same", F.node_name, mkpod(node="n1"), mknode("n1"), None),
    ("nodename-none", F.node_name, mkpod(), mknode("n1"), None),
    ("unschedulable", F.node_unschedulable, mkpod(), mknode(unschedulable=True), ("node(s) were unschedulable",)),
    ("unschedulable-tolerated", F.node_unschedulable,
     mkpod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]),
     mknode(unschedulable=True), None),
    ("schedulable", F.node_unschedulable, mkpod(), mknode(), None),
    ("taint", F.taint_toleration, mkpod(), mknode(taints=[GPU_TAINT]),
     ("node(s) had untolerated taint {dedicated: gpu}",)),
    ("taint-empty-value", F.taint_toleration, mkpod(),
     mknode(taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]),
     ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",)),
    ("taint-tolerated-equal", F.taint_toleration,
     mkpod(tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]),
     mknode(taints=[GPU_TAINT]), None),
    ("taint-wrong-value", F.taint_toleration,
     mkpod(tolerations=[{"key": "dedicated", "value": "cpu", "effect": "NoSchedule"}]),
     mknode(taints=[GPU_TAINT]), ("node(s) had untolerated taint {dedicated: gpu}",)),
    ("taint-tolerated-exists-any-effect", F.taint_toleration,
     mkpod(tolerations=[{"key": "dedicated", "operator": "Exists"}]), mknode(taints=[GPU_TAINT]), None),
    ("taint-tolerated-wildcard", F.taint_toleration, mkpod(tolerations=[{"operator": "Exists"}]),
     mknode(taints=[GPU_TAINT]), None),
    ("taint-wrong-effect", F.taint_toleration,
     mkpod(tolerations=[{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]),
     mknode(taints=[GPU_TAINT]), ("node(s) had untolerated taint {dedicated: gpu}",)),
    ("taint-prefer-ignored", F.taint_toleration, mkpod(),
     mknode(taints=[{"key": "a", "value": "b", "effect": "PreferNoSchedule"}]), None),
    ("selector-match", F.node_affinity, mkpod(node_selector={"disk": "ssd"}), mknode(labels={"disk": "ssd"}), None),
    ("selector-miss", F.node_affinity, mkpod(node_selector={"disk": "ssd"}), mknode(labels={"disk": "hdd"}),
     ("node(s) didn't match Pod's node affinity/selector",)),
    ("affinity-in", F.node_affinity, mkpod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}),
     mknode(labels={"zone": "b"}), None),
    ("affinity-notin", F.node_affinity, mkpod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}]}}}),
     mknode(labels={"zone": "b"}), ("node(s) didn't match Pod's node affinity/selector",)),
    ("affinity-terms-ored", F.node_affinity, mkpod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "x", "operator": "Exists"}]},
                              {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}]}]}}}),
     mknode(labels={"cores": "16"}), None),
    ("affinity-lt", F.node_affinity, mkpod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["8"]}]}]}}}),
     mknode(labels={"cores": "16"}), ("node(s) didn't match Pod's node affinity/selector",)),
    ("affinity-doesnotexist", F.node_affinity, mkpod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}]}}}),
     mknode(), None),
    ("affinity-matchfields", F.node_affinity, mkpod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}),
     mknode("n1"), ("node(s) didn't match Pod's node affinity/selector",)),
    ("affinity-empty-term", F.node_affinity, mkpod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{}]}}}), mknode(), ("node(s) didn't match Pod's node affinity/selector",)),
    ("fit-ok", F.node_resources_fit, mkpod(cpu="1", mem="1Gi"), mknode(), None),
    ("fit-cpu", F.node_resources_fit, mkpod(cpu="5"), mknode(), ("Insufficient cpu",)),
    ("fit-memory", F.node_resources_fit, mkpod(mem="9Gi"), mknode(), ("Insufficient memory",)),
    ("fit-both", F.node_resources_fit, mkpod(cpu="5", mem="9Gi"), mknode(), ("Insufficient cpu", "Insufficient memory")),
    ("fit-pods", F.node_resources_fit, mkpod(), mknode(pods="0"), ("Too many pods",)),
    ("fit-ephemeral", F.node_resources_fit, mkpod(ephemeral_storage="200Gi"), mknode(),
     ("Insufficient ephemeral-storage",)),
    ("fit-extended-missing", F.node_resources_fit, mkpod(**{"nvidia.com/gpu": "1"}), mknode(),
     ("Insufficient nvidia.com/gpu",)),
    ("fit-extended-ok", F.node_resources_fit, mkpod(**{"nvidia.com/gpu": "1"}),
     mknode(extra_alloc={"nvidia.com/gpu": "2"}), None),
    ("ports-free", F.node_ports, mkpod(ports=[{"containerPort": 80, "hostPort": 8080}]), mknode(), None),
]


@pytest.mark.parametrize(("filt", "pod", "node", "want"), [c[1:] for c in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter(filt: F.Filter, pod: PodInfo, node: NodeInfo, want: tuple[str, ...] | None) -> None:
    assert reasons(filt(pod, node, CycleState())) == want


def test_fit_counts_bound_pods() -> None:
    node = mknode(cpu="2", mem="4Gi", pods="2")
    node.add_pod(mkpod("a", cpu="1500m", mem="1Gi"))
    assert reasons(F.node_resources_fit(mkpod(cpu="500m"), node, CycleState())) is None
    assert reasons(F.node_resources_fit(mkpod(cpu="501m"), node, CycleState())) == ("Insufficient cpu",)
    node.add_pod(mkpod("b"))
    assert reasons(F.node_resources_fit(mkpod(), node, CycleState())) == ("Too many pods",)
    node.remove_pod(mkpod("b"))
    node.remove_pod(mkpod("a"))
    assert node.requested == {"cpu": 0, "memory": 0}
    assert reasons(F.node_resources_fit(mkpod(cpu="2"), node, CycleState())) is None


@pytest.mark.parametrize(("used", "want", "conflict"), [
    ({"hostPort": 8080}, {"hostPort": 8080}, True),
    ({"hostPort": 8080}, {"hostPort": 8081}, False),
    ({"hostPort": 8080, "protocol": "UDP"}, {"hostPort": 8080}, False),
    ({"hostPort": 8080, "hostIP": "10.0.0.1"}, {"hostPort": 8080, "hostIP": "10.0.0.2"}, False),
    ({"hostPort": 8080, "hostIP": "10.0.0.1"}, {"hostPort": 8080}, True),
    ({"hostPort": 8080}, {"hostPort": 8080, "hostIP": "10.0.0.2"}, True),
])
def test_node_ports(used: dict, want: dict, conflict: bool) -> None:
    node = mknode()
    node.add_pod(mkpod("a", ports=[{"containerPort": 1, **used}]))
    st = F.node_ports(mkpod("b", ports=[{"containerPort": 1, **want}]), node, CycleState())
    assert reasons(st) == (("node(s) didn't have free ports for the requested pod ports",) if conflict else None)


def _anti(key: str, app: str = "web") -> dict:
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}]}}


def _cluster(*zones: str) -> list[NodeInfo]:
    return [mknode(f"n{i + 1}", labels={"topology.kubernetes.io/zone": z}) for i, z in enumerate(zones)]


def _verdicts(pod: PodInfo, nodes: list[NodeInfo], filt: F.Filter, anti: list | None = None) -> list[Any]:
    state = prefilter(pod, nodes, anti or [])
    return [reasons(filt(pod, n, state)) for n in nodes]


ANTI = ("node(s) didn't match pod anti-affinity rules",)


def test_anti_affinity_by_hostname() -> None:
    nodes = _cluster("a", "a", "b")
    nodes[0].add_pod(mkpod("w1", labels={"app": "web"}))
    nodes[2].add_pod(mkpod("other", labels={"app": "db"}))
    pod = mkpod("w2", labels={"app": "web"}, affinity=_anti("kubernetes.io/hostname"))
    assert _verdicts(pod, nodes, F.inter_pod_affinity) == [ANTI, None, None]


def test_anti_affinity_by_zone() -> None:
    nodes = _cluster("a", "a", "b")
    nodes[0].add_pod(mkpod("w1", labels={"app": "web"}))
    pod = mkpod("w2", labels={"app": "web"}, affinity=_anti("topology.kubernetes.io/zone"))
    assert _verdicts(pod, nodes, F.inter_pod_affinity) == [ANTI, ANTI, None]


def test_anti_affinity_other_namespace_ignored() -> None:
    nodes = _cluster("a", "b")
    nodes[0].add_pod(mkpod("w1", labels={"app": "web"}, ns="other"))
    pod = mkpod("w2", labels={"app": "web"}, affinity=_anti("kubernetes.io/hostname"))
    assert _verdicts(pod, nodes, F.inter_pod_affinity) == [None, None]


def test_existing_pods_anti_affinity() -> None:
    nodes = _cluster("a", "b")
    guard = mkpod("guard", labels={"app": "db"}, affinity=_anti("kubernetes.io/hostname", app="web"))
    nodes[0].add_pod(guard)
    pod = mkpod("w", labels={"app": "web"})
    assert _verdicts(pod, nodes, F.inter_pod_affinity, [(guard, nodes[0])]) == [
        ("node(s) didn't satisfy existing pods anti-affinity rules",), None]


def test_pod_affinity() -> None:
    nodes = _cluster("a", "a", "b")
    aff = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "cache"}}, "topologyKey": "topology.kubernetes.io/zone"}]}}
    pod = mkpod("w", labels={"app": "web"}, affinity=aff)
    miss = ("node(s) didn't match pod affinity rules",)
    assert _verdicts(pod, nodes, F.inter_pod_affinity) == [miss, miss, miss]
    nodes[1].add_pod(mkpod("c", labels={"app": "cache"}))
    assert _verdicts(pod, nodes, F.inter_pod_affinity) == [None, None, miss]
    # The first pod of a group that matches its own affinity may go anywhere.
    self_pod = mkpod("c0", labels={"app": "cache"}, affinity=aff)
    assert _verdicts(self_pod, _cluster("a", "b"), F.inter_pod_affinity) == [None, None]


def _spread(key: str, skew: int = 1, when: str = "DoNotSchedule") -> list[dict]:
    return [{"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
             "labelSelector": {"matchLabels": {"app": "web"}}}]


SPREAD = ("node(s) didn't match pod topology spread constraints",)


def test_topology_spread_zones() -> None:
    nodes = _cluster("a", "b", "c")
    nodes[0].add_pod(mkpod("w1", labels={"app": "web"}))
    nodes[0].add_pod(mkpod("w2", labels={"app": "web"}))
    nodes[1].add_pod(mkpod("w3", labels={"app": "web"}))
    pod = mkpod("w4", labels={"app": "web"}, spread=_spread("topology.kubernetes.io/zone"))
    # a:2 b:1 c:0 -> only c keeps the skew <= 1
    assert _verdicts(pod, nodes, F.pod_topology_spread) == [SPREAD, SPREAD, None]
    pod2 = mkpod("w4", labels={"app": "web"}, spread=_spread("topology.kubernetes.io/zone", skew=2))
    assert _verdicts(pod2, nodes, F.pod_topology_spread) == [SPREAD, None, None]


def test_topology_spread_missing_label_and_soft() -> None:
    nodes = [mknode("n1", labels={"topology.kubernetes.io/zone": "a"}), mknode("n2")]
    pod = mkpod("w", labels={"app": "web"}, spread=_spread("topology.kubernetes.io/zone"))
    assert _verdicts(pod, nodes, F.pod_topology_spread) == [
        None, ("node(s) didn't match pod topology spread constraints (missing required label)",)]
    soft = mkpod("w", labels={"app": "web"}, spread=_spread("topology.kubernetes.io/zone", when="ScheduleAnyway"))
    assert _verdicts(soft, nodes, F.pod_topology_spread) == [None, None]


def test_run_filters_first_failure_wins() -> None:
    node = mknode(taints=[GPU_TAINT], cpu="1")
    st = run_filters(mkpod(cpu="2"), node, CycleState())
    assert st is not None and st.plugin == "TaintToleration"


U = True  # unresolvable
MSG_CASES = [
    ("brief", 3, [Status(("Insufficient memory",)), Status(("node(s) had untolerated taint {dedicated: gpu}",), U),
                  Status(("node(s) had untolerated taint {dedicated: gpu}",), U)], "PreemptLowerPriority",
     "0/3 nodes are available: 1 Insufficient memory, 2 node(s) had untolerated taint {dedicated: gpu}. "
     "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
     "2 Preemption is not helpful for scheduling."),
    ("all-affinity", 3, [Status(("node(s) didn't match Pod's node affinity/selector",), U)] * 3, "PreemptLowerPriority",
     "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
     "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."),
    ("two-reasons-one-node", 1, [Status(("Insufficient cpu", "Insufficient memory"))], "PreemptLowerPriority",
     "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
     "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."),
    ("sorted-as-strings", 12, [Status(("Insufficient cpu",))] * 10 + [Status(("node(s) were unschedulable",), U)] * 2,
     "PreemptLowerPriority",
     "0/12 nodes are available: 10 Insufficient cpu, 2 node(s) were unschedulable. "
     "preemption: 0/12 nodes are available: 10 No preemption victims found for incoming pod, "
     "2 Preemption is not helpful for scheduling."),
    ("never", 1, [Status(("Insufficient cpu",))], "Never",
     "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."),
]


@pytest.mark.parametrize(("n", "statuses", "policy", "want"), [c[1:] for c in MSG_CASES], ids=[c[0] for c in MSG_CASES])
def test_fit_error_message(n: int, statuses: list[Status], policy: str, want: str) -> None:
    assert fit_error_message(n, statuses, policy) == want
