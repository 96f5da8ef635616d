"""Table tests of the scheduler's scores, the queue and the decision (no API server)."""

from __future__ import annotations

import random

import pytest
from test_scheduler_filters import mknode, mkpod

from controllers.scheduler import scores as S
from controllers.scheduler.queue import SchedulingQueue, backoff_duration
from controllers.scheduler.scheduler import Scheduler, num_feasible_nodes_to_find


def loaded(name: str, cpu: str, mem: str, **kw: str) -> object:
    n = mknode(name, **kw)
    n.add_pod(mkpod("x-" + name, cpu=cpu, mem=mem))
    return n


@pytest.mark.parametrize(("node_cpu", "node_mem", "want_la", "want_ba"), [
    ("2", "1Gi", 50, 75),  # the docstring's node A: 3/4 cpu, 2/8 memory after the pod
    ("1m", "1m", 81, 93),  # nearly empty node B
])
def test_least_allocated_and_balanced(node_cpu: str, node_mem: str, want_la: int, want_ba: int) -> None:
    pod = mkpod(cpu="1", mem="1Gi")
    n = mknode()
    if node_cpu != "1m":
        n.add_pod(mkpod("x", cpu=node_cpu, mem=node_mem))
    assert S.least_allocated(pod, n) == want_la
    assert S.balanced_allocation(pod, n) == want_ba


def test_best_effort_pods_count_nonzero_defaults() -> None:
    n = mknode(cpu="1", mem="1Gi")
    pod = mkpod()
    # 100m of 1000m and 200Mi of 1Gi -> (90 + 80)/2
    assert S.least_allocated(pod, n) == 85


@pytest.mark.parametrize(("raw", "reverse", "want"), [
    ([0, 0], False, [0, 0]),
    ([0, 0], True, [100, 100]),
    ([1, 2, 4], False, [25, 50, 100]),
    ([1, 2, 4], True, [75, 50, 0]),
])
def test_normalize(raw: list[int], reverse: bool, want: list[int]) -> None:
    assert S.normalize(raw, reverse) == want


def test_taint_and_affinity_preferences() -> None:
    prefer = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}
    a, b = mknode("a", taints=[prefer]), mknode("b", labels={"disk": "ssd"})
    pod = mkpod(affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}})
    assert S.taint_toleration_raw(pod, a) == 1 and S.taint_toleration_raw(pod, b) == 0
    assert S.node_affinity_raw(pod, a) == 0 and S.node_affinity_raw(pod, b) == 10
    sa, sb = S.score_nodes(pod, [a, b])
    assert sb - sa == S.WEIGHT_TAINT * 100 + S.WEIGHT_NODE_AFFINITY * 100
    tolerant = mkpod(tolerations=[{"key": "spot", "operator": "Exists"}])
    assert S.taint_toleration_raw(tolerant, a) == 0


def test_spread_scores_same_owner() -> None:
    nodes = [mknode(f"n{i}") for i in range(3)]
    for i, count in enumerate((2, 0, 1)):
        for j in range(count):
            nodes[i].add_pod(mkpod(f"p{i}{j}", owner="rs"))
    assert S.spread_scores(mkpod("new", owner="rs"), nodes) == [0, 100, 50]
    assert S.spread_scores(mkpod("solo"), nodes) == [100, 100, 100]


def test_spread_scores_zones_weigh_more() -> None:
    nodes = [mknode("a1", labels={"topology.kubernetes.io/zone": "a"}),
             mknode("a2", labels={"topology.kubernetes.io/zone": "a"}),
             mknode("b1", labels={"topology.kubernetes.io/zone": "b"})]
    nodes[0].add_pod(mkpod("p", owner="rs"))
    s = S.spread_scores(mkpod("new", owner="rs"), nodes)
    assert s[2] > s[1] > s[0]


@pytest.mark.parametrize(("attempts", "want"), [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)])
def test_backoff(attempts: int, want: float) -> None:
    assert backoff_duration(attempts) == want


@pytest.mark.parametrize(("nodes", "want"), [(5, 5), (99, 99), (100, 100), (200, 100), (1000, 420), (5000, 500),
                                             (10000, 500), (100000, 5000)])
def test_num_feasible_nodes(nodes: int, want: int) -> None:
    assert num_feasible_nodes_to_find(nodes) == want


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _prio(name: str, prio: int) -> object:
    return mkpod(name, extra={"priority": prio})


def test_queue_priority_then_fifo() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    for name, prio in (("low", 0), ("high", 10), ("low2", 0)):
        q.add(_prio(name, prio))
        clock.t += 1
    assert [q.pop_nowait().info.name for _ in range(3)] == ["high", "low", "low2"]
    assert q.pop_nowait() is None


def test_queue_unschedulable_moves_on_event_with_backoff() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(mkpod("p"))
    qp = q.pop_nowait()
    q.requeue_unschedulable(qp.info.key)
    assert q.where("default/p") == "unschedulable"
    assert q.pop_nowait() is None
    q.move_all()  # still within the 1 s backoff: to backoff, not active
    assert q.where("default/p") == "backoff"
    assert q.pop_nowait() is None
    clock.t += 1.01
    assert q.pop_nowait().info.name == "p"


def test_queue_event_during_attempt_is_not_lost() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(mkpod("p"))
    qp = q.pop_nowait()
    q.move_all()  # a node was added while "p" was being tried
    q.requeue_unschedulable(qp.info.key)
    assert q.where("default/p") == "backoff"


def test_queue_error_backoff_doubles_and_delete_forgets() -> None:
    clock = FakeClock()
    q = SchedulingQueue(clock)
    q.add(mkpod("p"))
    for expected in (1.0, 2.0, 4.0):
        qp = q.pop_nowait()
        q.requeue_error(qp.info.key)
        clock.t += expected - 0.01
        assert q.pop_nowait() is None
        clock.t += 0.02
    assert q.pop_nowait() is not None
    q.delete("default/p")
    assert len(q) == 0


def _sched(nodes: list) -> Scheduler:
    s = Scheduler.__new__(Scheduler)
    # Only the cache and decision parts: no client, no informers.
    s.nodes = {n.name: n for n in nodes}
    s._node_list = None
    s._ghosts, s._accounted, s._assumed, s._anti, s._static = {}, {}, {}, {}, {}
    s._static_version, s._next_start, s.percentage = 0, 0, 0
    s.last_scores = []
    s.rng = random.Random(1)
    return s


def test_decide_prefers_emptier_node_and_assumes() -> None:
    nodes = [mknode("a"), mknode("b")]
    nodes[0].add_pod(mkpod("big", cpu="3", mem="6Gi"))
    s = _sched(nodes)
    pod = mkpod("p", cpu="500m", mem="512Mi")
    node, why = s.decide(pod)
    assert node == "b" and why == {}


def test_decide_assumed_pods_prevent_overcommit() -> None:
    s = _sched([mknode("a", cpu="1"), mknode("b", cpu="1")])
    placed = []
    for i in range(3):
        p = mkpod(f"p{i}", cpu="600m")
        node, why = s.decide(p)
        if node:
            s._account(p, node)
            placed.append(node)
    assert sorted(placed) == ["a", "b"]  # the third fits nowhere
    node, why = s.decide(mkpod("p9", cpu="600m"))
    assert node is None and {k: v.reasons for k, v in why.items()} == {"a": ("Insufficient cpu",),
                                                                       "b": ("Insufficient cpu",)}
    s._unaccount("uid-p0")
    assert s.decide(mkpod("p9", cpu="600m"))[0] is not None


def test_decide_static_cache_invalidated_by_node_change() -> None:
    n = mknode("a", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    s = _sched([n])
    assert s.decide(mkpod("p"))[0] is None
    n.set_node({"metadata": {"name": "a"}, "spec": {}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi",
                                                                                  "pods": "10"}}})
    s._static_version += 1
    assert s.decide(mkpod("p"))[0] == "a"


def test_decide_anti_affinity_spreads_three_replicas() -> None:
    s = _sched([mknode(f"n{i}") for i in range(3)])
    aff = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    placed = []
    for i in range(4):
        p = mkpod(f"w{i}", labels={"app": "web"}, affinity=aff, owner="rs")
        node, why = s.decide(p)
        if node:
            s._account(p, node)
            placed.append(node)
        else:
            assert {v.reasons for v in why.values()} == {("node(s) didn't match pod anti-affinity rules",)}
    assert sorted(placed) == ["n0", "n1", "n2"]


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_scores_equal_the_score_plugins(seed: int) -> None:
    """The scheduler's fused loop for simple pods gives exactly the weighted sum of scores.py."""
    rng = random.Random(seed)
    nodes = []
    for i in range(30):
        taints = [{"key": "spot", "effect": "PreferNoSchedule"}] if rng.random() < 0.3 else []
        zone = {"topology.kubernetes.io/zone": rng.choice("abc")} if seed % 2 else {}
        n = mknode(f"n{i:02}", cpu=str(rng.choice([2, 4, 8])), mem=rng.choice(["4Gi", "8Gi"]), taints=taints,
                   labels=zone)
        for j in range(rng.randrange(4)):
            n.add_pod(mkpod(f"x{i}-{j}", cpu=f"{rng.randrange(1, 900)}m", mem=f"{rng.randrange(1, 900)}Mi",
                            owner=rng.choice(["rs", "other"])))
        nodes.append(n)
    s = _sched(nodes)
    for k in range(5):
        pod = mkpod(f"p{k}", cpu=rng.choice([None, "250m", "1"]), mem=rng.choice([None, "256Mi"]),
                    owner=rng.choice([None, "rs"]))
        node, _ = s.decide(pod)
        assert node is not None
        names = [name for name, _ in s.last_scores]
        want = S.score_nodes(pod, [s.nodes[name] for name in names])
        assert [sc for _, sc in s.last_scores] == want
        assert dict(s.last_scores)[node] == max(want)


def test_soft_topology_spread_prefers_emptier_zone() -> None:
    nodes = [mknode("a1", labels={"topology.kubernetes.io/zone": "a"}),
             mknode("a2", labels={"topology.kubernetes.io/zone": "a"}),
             mknode("b1", labels={"topology.kubernetes.io/zone": "b"})]
    for i in range(3):
        nodes[i % 2].add_pod(mkpod(f"w{i}", labels={"app": "web"}))
    nodes[2].add_pod(mkpod("w9", labels={"app": "web"}))
    soft = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": {"app": "web"}}}]
    pod = mkpod("new", labels={"app": "web"}, spread=soft)
    assert S.topology_spread_scores(pod, nodes) == [0, 0, 67]  # zone a holds 3, zone b 1
    assert S.topology_spread_scores(mkpod("plain"), nodes) is None


def test_fast_path_honours_bound_pods_anti_affinity() -> None:
    nodes = [mknode("a"), mknode("b")]
    s = _sched(nodes)
    guard = mkpod("guard", labels={"app": "db"}, affinity={"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}})
    s._account(guard, "a")
    for i in range(3):
        assert s.decide(mkpod(f"w{i}", labels={"app": "web"}))[0] == "b"
    assert s.decide(mkpod("other", labels={"app": "cache"}))[0] in ("a", "b")
    s._account(mkpod("big", cpu="4"), "b")
    node, why = s.decide(mkpod("w8", labels={"app": "web"}, cpu="100m"))
    assert node is None
    assert {k: v.reasons for k, v in why.items()} == {
        "a": ("node(s) didn't satisfy existing pods anti-affinity rules",), "b": ("Insufficient cpu",)}
