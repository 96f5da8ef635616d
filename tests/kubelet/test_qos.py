"""oom_score_adj by QoS class: Kubernetes' own table (pkg/kubelet/qos/policy_test.go) on the pure
function, and on whole pods as the pod worker passes them."""

from __future__ import annotations

import pytest

from kubelet.qos import container_oom_score_adj, is_node_critical, oom_score_adj
from kubelet.runtime.cgroups import BEST_EFFORT, BURSTABLE, GUARANTEED
from kubelet.runtime.runtime import restrict_oom_score_adj

STANDARD_MEMORY = 8_000_000_000
GI = 1024 ** 3


@pytest.mark.parametrize(("qos", "mem_request", "capacity", "expected"), [
    (GUARANTEED, 10_000_000_000, 123_456_789, -997),
    (GUARANTEED, 0, STANDARD_MEMORY, -997),
    (BEST_EFFORT, 0, 4_000_000_000, 1000),
    (BURSTABLE, 0, 4_000_000_000, 999),                              # cpu only: 1000 -> 999
    (BURSTABLE, 1, STANDARD_MEMORY, 999),                            # 1000 - 0 -> 999
    (BURSTABLE, STANDARD_MEMORY // 2, STANDARD_MEMORY, 500),
    (BURSTABLE, STANDARD_MEMORY // 8, STANDARD_MEMORY, 875),
    (BURSTABLE, 400 * 1024 ** 2, 4 * GI, 903),                       # 1000 - 97 (integer division)
    (BURSTABLE, STANDARD_MEMORY // 1000 * 997, STANDARD_MEMORY, 3),  # exactly the floor
    (BURSTABLE, STANDARD_MEMORY - 1, STANDARD_MEMORY, 3),            # 1000 - 999 = 1 -> 3
    (BURSTABLE, 2 * STANDARD_MEMORY, STANDARD_MEMORY, 3),            # above capacity: -1000 -> 3
])
def test_oom_score_adj(qos: str, mem_request: int, capacity: int, expected: int) -> None:
    assert oom_score_adj(qos, mem_request, capacity) == expected


@pytest.mark.parametrize("qos", [GUARANTEED, BURSTABLE, BEST_EFFORT])
def test_node_critical_is_last_to_go(qos: str) -> None:
    assert oom_score_adj(qos, 0, STANDARD_MEMORY, node_critical=True) == -997


def test_burstable_needs_a_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        oom_score_adj(BURSTABLE, 1, 0)


def container(name: str, requests: dict | None = None, limits: dict | None = None, **extra: object) -> dict:
    res: dict = {}
    if requests is not None:
        res["requests"] = requests
    if limits is not None:
        res["limits"] = limits
    return {"name": name, "resources": res, **extra}


def pod(*containers: dict, init: tuple[dict, ...] = (), **spec: object) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": list(containers), "initContainers": list(init), **spec}}


SIDECAR = container("sidecar", {"memory": str(STANDARD_MEMORY // 20)}, restartPolicy="Always")
MAIN = container("main", {"memory": str(STANDARD_MEMORY // 8)}, {"memory": str(STANDARD_MEMORY // 8 + 1000)})

# (pod, container name, node memory, expected): the pods of Kubernetes' policy_test.go
POD_CASES = [
    (pod(container("cpu-limit", None, {"cpu": "10"})), "cpu-limit", 4_000_000_000, 999),
    (pod(container("memory-limit-cpu-request", {"cpu": "0"}, {"memory": "10G"})), "memory-limit-cpu-request",
     STANDARD_MEMORY, 999),
    (pod(container("zero-memory-limit", None, {"memory": "0"})), "zero-memory-limit", 7_230_457_451, 1000),
    (pod(container("no-request-limit")), "no-request-limit", 4_000_000_000, 1000),
    (pod(container("equal", {"memory": "10G", "cpu": "5m"}, {"cpu": "5m", "memory": "10G"})), "equal",
     123_456_789, -997),
    (pod(container("half", {"memory": str(STANDARD_MEMORY // 2), "cpu": "5m"}, {"memory": "10G"})), "half",
     STANDARD_MEMORY, 500),
    (pod(container("request-no-limit", {"memory": str(STANDARD_MEMORY - 1), "cpu": "5m"})), "request-no-limit",
     STANDARD_MEMORY, 3),
    # system-cluster-critical is not node-critical: a BestEffort pod still goes first
    (pod(container("cluster-critical"), priorityClassName="system-cluster-critical", priority=2_000_000_000),
     "cluster-critical", 4_000_000_000, 1000),
    (pod(container("node-critical"), priorityClassName="system-node-critical", priority=2_000_001_000),
     "node-critical", 4_000_000_000, -997),
    (pod(MAIN), "main", STANDARD_MEMORY, 875),
    # v1.32: a sidecar scores by its own request (400 MB of 8 GB -> 950)
    (pod(MAIN, init=(SIDECAR,)), "sidecar", STANDARD_MEMORY, 950),
    (pod(MAIN, init=(SIDECAR,)), "main", STANDARD_MEMORY, 875),
    # one Guaranteed container does not make the pod Guaranteed: each container by its request
    (pod(container("g", {"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}), container("b")), "g",
     4 * GI, 750),
]


@pytest.mark.parametrize(("p", "name", "capacity", "expected"), POD_CASES)
def test_container_oom_score_adj(p: dict, name: str, capacity: int, expected: int) -> None:
    spec = p["spec"]
    c = next(c for c in spec["initContainers"] + spec["containers"] if c["name"] == name)
    assert container_oom_score_adj(p, c, capacity) == expected


@pytest.mark.parametrize(("spec", "annotations", "expected"), [
    ({"priorityClassName": "system-node-critical", "priority": 2_000_001_000}, {}, True),
    ({"priorityClassName": "system-node-critical"}, {}, False),          # priority not resolved
    ({"priorityClassName": "system-node-critical"}, {"kubernetes.io/config.mirror": "x"}, True),
    ({"priorityClassName": "system-node-critical"}, {"kubernetes.io/config.source": "file"}, True),
    ({"priorityClassName": "system-node-critical"}, {"kubernetes.io/config.source": "api"}, False),
    ({"priorityClassName": "system-cluster-critical", "priority": 2_000_000_000}, {}, False),
    ({"priority": 2_000_001_000}, {}, False),
])
def test_is_node_critical(spec: dict, annotations: dict, expected: bool) -> None:
    assert is_node_critical({"metadata": {"annotations": annotations}, "spec": spec}) is expected


@pytest.mark.parametrize(("wanted", "floor", "given"), [
    (-997, None, -997),        # the runtime may lower scores (CAP_SYS_RESOURCE)
    (-997, 0, 0),              # it may not: no lower than its own
    (-997, -999, -997),
    (1000, 0, 1000),
    (875, 900, 900),
    (None, 0, None),           # no score asked: the inherited one stays
])
def test_restrict_oom_score_adj(wanted: int | None, floor: int | None, given: int | None) -> None:
    assert restrict_oom_score_adj(wanted, floor) == given
