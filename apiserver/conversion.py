"""Conversion between the served versions of one built-in resource.

A resource served in several versions (autoscaling/v1 and v2 HorizontalPodAutoscaler) is
stored once, in its storage version (the preferred one, listed first in the resource table).
Requests in another version are converted to it on the way in, and answers back to the
version asked for on the way out, so that `kubectl autoscale` (which sends v1) and
`kubectl get hpa` (which reads v2) see one object, each in its own schema.

Custom resources have their own rule (conversion None: only apiVersion changes; see
apiserver/crds.py). Everything here is pure: dicts in, dicts out, inputs never mutated."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]

_CPU_V1 = "targetCPUUtilizationPercentage"


def _hpa_v1_to_v2(obj: JSON) -> JSON:
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    spec = out.get("spec")
    if isinstance(spec, dict) and _CPU_V1 in spec:
        target = spec.pop(_CPU_V1)
        if target is not None:
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": target}}}]
    status = out.get("status")
    if isinstance(status, dict) and "currentCPUUtilizationPercentage" in status:
        current = status.pop("currentCPUUtilizationPercentage")
        if current is not None:
            status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": current}}}]
    return out


def _cpu_utilization(metrics: Any, field: str) -> Any:
    for m in metrics if isinstance(metrics, list) else []:
        res = (m or {}).get("resource") or {}
        if m.get("type") == "Resource" and res.get("name") == "cpu":
            return (res.get(field) or {}).get("averageUtilization")
    return None


def _hpa_v2_to_v1(obj: JSON) -> JSON:
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v1"
    spec = out.get("spec")
    if isinstance(spec, dict):
        target = _cpu_utilization(spec.pop("metrics", None), "target")
        spec.pop("behavior", None)
        if target is not None:
            spec[_CPU_V1] = target
    status = out.get("status")
    if isinstance(status, dict):
        current = _cpu_utilization(status.pop("currentMetrics", None), "current")
        status.pop("conditions", None)
        if current is not None:
            status["currentCPUUtilizationPercentage"] = current
    return out


# (group, from version, to version) -> converter
_CONVERTERS: dict[tuple[str, str, str], Callable[[JSON], JSON]] = {
    ("autoscaling", "v1", "v2"): _hpa_v1_to_v2,
    ("autoscaling", "v2", "v1"): _hpa_v2_to_v1,
}


def convert(obj: JSON, api_version: str) -> JSON:
    """`obj` as `api_version` (same group). Returns `obj` itself when nothing changes."""
    have = obj.get("apiVersion") or ""
    if have == api_version:
        return obj
    group, _, to_version = api_version.rpartition("/")
    from_version = have.rpartition("/")[2]
    fn = _CONVERTERS.get((group, from_version, to_version))
    if fn is None:
        out = dict(obj)
        out["apiVersion"] = api_version
        return out
    return fn(obj)


_GROUPS = frozenset(g for g, _, _ in _CONVERTERS)


def has_conversion(group: str) -> bool:
    return group in _GROUPS
