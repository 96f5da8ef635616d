"""HorizontalPodAutoscaler autoscaling/v1 <-> v2 conversion."""

from __future__ import annotations

import pytest

from apiserver.conversion import convert

V1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
      "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
               "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
      "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 55}}
V2 = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
      "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
               "minReplicas": 1, "maxReplicas": 5,
               "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                   "type": "Utilization", "averageUtilization": 70}}}]},
      "status": {"currentReplicas": 2, "desiredReplicas": 2,
                 "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                     "averageUtilization": 55}}}]}}


@pytest.mark.parametrize(("src", "to", "want"), [(V1, "autoscaling/v2", V2), (V2, "autoscaling/v1", V1)])
def test_hpa_round_trip(src: dict, to: str, want: dict) -> None:
    before = repr(src)
    assert convert(src, to) == want
    assert repr(src) == before  # the input is never mutated


def test_same_version_is_the_same_object() -> None:
    assert convert(V2, "autoscaling/v2") is V2


def test_v1_without_target_has_no_metrics() -> None:
    src = {**V1, "spec": {k: v for k, v in V1["spec"].items() if k != "targetCPUUtilizationPercentage"}}
    assert "metrics" not in convert(src, "autoscaling/v2")["spec"]
