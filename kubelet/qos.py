"""The OOM score adjustment of a pod's containers, by QoS class (Kubernetes' kubelet/qos policy).

Why it exists: when the node runs out of memory the kernel kills the process with the highest
``oom_score`` (about ten times its share of memory in percent, plus ``oom_score_adj``).  The
kubelet gives each container an ``oom_score_adj`` so that BestEffort pods go first, Burstable
pods next (the more memory they requested, the later), and Guaranteed and node-critical pods
last, just before the kubelet itself (-999).  The container's own process writes the value
before its execve (``kubelet.runtime.shim``), so all its children and every ``kubectl exec``
into it share it.

The QoS class is the one ``kubelet.runtime.cgroups.qos_class`` computes for the pod's cgroup
and its ``status.qosClass``: this module never decides it again.  Pure functions only: no I/O,
and never a value outside [-997, 1000].  mizzen has no pause container, so Kubernetes' old
sandbox value (-998) has nothing to apply to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelet.runtime.cgroups import BEST_EFFORT, GUARANTEED, bytes_of, qos_class

GUARANTEED_OOM_SCORE_ADJ = -997
BEST_EFFORT_OOM_SCORE_ADJ = 1000
# the lowest a Burstable container gets: a Guaranteed pod using all the memory scores 1000 - 997
BURSTABLE_MIN = 1000 + GUARANTEED_OOM_SCORE_ADJ
# the highest: one below BestEffort, so that a Burstable pod outlives a BestEffort one
BURSTABLE_MAX = BEST_EFFORT_OOM_SCORE_ADJ - 1

SYSTEM_NODE_CRITICAL = "system-node-critical"
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
CONFIG_SOURCE_ANNOTATION = "kubernetes.io/config.source"


def oom_score_adj(qos: str, memory_request: int, memory_capacity: int, *, node_critical: bool = False) -> int:
    """``oom_score_adj`` for one container (GetContainerOOMScoreAdjust).

    Node-critical pods and Guaranteed ones: -997; BestEffort: 1000.  Burstable: ``1000 -
    1000 * request / capacity`` (integer division), kept within [3, 999].  Worked examples on a
    node of 4 GiB: a request of 400 MiB (~9.8 %) -> 1000 - 97 = 903; no memory request (only
    cpu) -> 1000 -> 999; a request of 4 GiB or more -> 0 or below -> 3.

    Every container of a Burstable pod, a sidecar (restartable init container) included, scores
    by its own request, as in Kubernetes v1.32 (v1.33 lowers a sidecar to the score of the
    pod's smallest regular container).  ``memory_capacity`` (bytes) must be positive.
    """
    if node_critical or qos == GUARANTEED:
        return GUARANTEED_OOM_SCORE_ADJ
    if qos == BEST_EFFORT:
        return BEST_EFFORT_OOM_SCORE_ADJ
    if memory_capacity <= 0:
        raise ValueError(f"memory capacity must be positive, got {memory_capacity}")
    # 1000 - 1000 * request / capacity, in integers as Go computes it
    score = 1000 - (1000 * memory_request) // memory_capacity
    return max(BURSTABLE_MIN, min(BURSTABLE_MAX, score))


def memory_request(container: Mapping[str, Any]) -> int:
    """The container's ``resources.requests.memory`` in bytes (0 when none; the API server
    already defaulted a request from a limit)."""
    requests = (container.get("resources") or {}).get("requests") or {}
    return bytes_of(requests.get("memory"))


def is_node_critical(pod: Mapping[str, Any]) -> bool:
    """Kubernetes' IsNodeCriticalPod: priority class ``system-node-critical`` on a critical pod
    (a static or mirror pod, or one whose resolved priority is at least 2000000000)."""
    spec = pod.get("spec") or {}
    if spec.get("priorityClassName") != SYSTEM_NODE_CRITICAL:
        return False
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    source = annotations.get(CONFIG_SOURCE_ANNOTATION)
    static = source is not None and source != "api"
    priority = spec.get("priority")
    return static or MIRROR_POD_ANNOTATION in annotations or (
        isinstance(priority, int) and priority >= SYSTEM_CRITICAL_PRIORITY)


def container_oom_score_adj(pod: Mapping[str, Any], container: Mapping[str, Any], memory_capacity: int,
                            qos: str | None = None) -> int:
    """``oom_score_adj`` of one of ``pod``'s containers on a node of ``memory_capacity`` bytes.
    ``qos``: the pod's QoS class when the caller already has it (computed here otherwise)."""
    spec = pod.get("spec") or {}
    if qos is None:
        qos = qos_class((spec.get("initContainers") or []) + (spec.get("containers") or []))
    return oom_score_adj(qos, memory_request(container), memory_capacity, node_critical=is_node_critical(pod))
