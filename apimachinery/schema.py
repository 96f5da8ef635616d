"""Schema metadata of Kubernetes' built-in kinds: which model describes a kind, the JSON
fields and types of each model, and the strategic-merge-patch metadata of each field.

Field names and types come from the official `kubernetes` Python client's models (generated
from Kubernetes' OpenAPI document), so they need no table of our own. The patch strategies and
merge keys are not in those models: `PATCH_META` carries them, transcribed from the
`patchStrategy`/`patchMergeKey` struct tags of the v1.32 `types.go` files (the tags, not the
`x-kubernetes-list-type` markers, are what the API server's strategic merge patch reads).

This module only describes; it must never hold objects or do I/O, and it must import the
client's models lazily so that importing apimachinery stays cheap."""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

__all__ = [
    "PATCH_META",
    "element_model",
    "field_type",
    "fields",
    "is_model",
    "model_for",
    "normalize_type",
    "patch_meta",
    "value_type",
]

MERGE = "merge"
RETAIN_KEYS = "retainKeys"
MERGE_RETAIN_KEYS = "merge,retainKeys"
REPLACE = "replace"

_CONDITIONS = ("merge", "type")

# (model, JSON field) -> (patch strategy, merge key or None).  Lists not listed here are atomic:
# a strategic merge patch replaces them whole (e.g. PodSpec.tolerations, NodeSpec.taints,
# Role.rules, Container.resizePolicy, EndpointSubset.addresses).
PATCH_META: dict[tuple[str, str], tuple[str, str | None]] = {
    # meta/v1
    ("V1ObjectMeta", "finalizers"): (MERGE, None),
    ("V1ObjectMeta", "ownerReferences"): (MERGE, "uid"),
    # core/v1 PodSpec
    ("V1PodSpec", "volumes"): (MERGE_RETAIN_KEYS, "name"),
    ("V1PodSpec", "initContainers"): (MERGE, "name"),
    ("V1PodSpec", "containers"): (MERGE, "name"),
    ("V1PodSpec", "ephemeralContainers"): (MERGE, "name"),
    ("V1PodSpec", "imagePullSecrets"): (MERGE, "name"),
    ("V1PodSpec", "hostAliases"): (MERGE, "ip"),
    ("V1PodSpec", "topologySpreadConstraints"): (MERGE, "topologyKey"),
    ("V1PodSpec", "schedulingGates"): (MERGE, "name"),
    ("V1PodSpec", "resourceClaims"): (MERGE_RETAIN_KEYS, "name"),
    # Container and EphemeralContainer
    ("V1Container", "ports"): (MERGE, "containerPort"),
    ("V1Container", "env"): (MERGE, "name"),
    ("V1Container", "volumeMounts"): (MERGE, "mountPath"),
    ("V1Container", "volumeDevices"): (MERGE, "devicePath"),
    ("V1EphemeralContainer", "ports"): (MERGE, "containerPort"),
    ("V1EphemeralContainer", "env"): (MERGE, "name"),
    ("V1EphemeralContainer", "volumeMounts"): (MERGE, "mountPath"),
    ("V1EphemeralContainer", "volumeDevices"): (MERGE, "devicePath"),
    # PodStatus
    ("V1PodStatus", "conditions"): _CONDITIONS,
    ("V1PodStatus", "podIPs"): (MERGE, "ip"),
    ("V1PodStatus", "hostIPs"): (MERGE, "ip"),
    ("V1PodStatus", "resourceClaimStatuses"): (MERGE_RETAIN_KEYS, "name"),
    ("V1ContainerStatus", "allocatedResourcesStatus"): (MERGE, "name"),
    # Node
    ("V1NodeSpec", "podCIDRs"): (MERGE, None),
    ("V1NodeStatus", "conditions"): _CONDITIONS,
    ("V1NodeStatus", "addresses"): (MERGE, "type"),
    # Service, ServiceAccount, Namespace, PVC, ReplicationController, ComponentStatus
    ("V1ServiceSpec", "ports"): (MERGE, "port"),
    ("V1ServiceStatus", "conditions"): _CONDITIONS,
    ("V1ServiceAccount", "secrets"): (MERGE, "name"),
    ("V1NamespaceStatus", "conditions"): _CONDITIONS,
    ("V1PersistentVolumeClaimStatus", "conditions"): _CONDITIONS,
    ("V1ReplicationControllerStatus", "conditions"): _CONDITIONS,
    ("V1ComponentStatus", "conditions"): _CONDITIONS,
    # apps/v1
    ("V1DeploymentSpec", "strategy"): (RETAIN_KEYS, None),
    ("V1DeploymentStatus", "conditions"): _CONDITIONS,
    ("V1ReplicaSetStatus", "conditions"): _CONDITIONS,
    ("V1DaemonSetStatus", "conditions"): _CONDITIONS,
    ("V1StatefulSetStatus", "conditions"): _CONDITIONS,
    # batch/v1, autoscaling/v2, policy/v1
    ("V1JobStatus", "conditions"): _CONDITIONS,
    ("V2HorizontalPodAutoscalerStatus", "conditions"): _CONDITIONS,
    ("V1PodDisruptionBudgetStatus", "conditions"): _CONDITIONS,
    # admissionregistration.k8s.io/v1, apiregistration.k8s.io/v1
    ("V1ValidatingWebhookConfiguration", "webhooks"): (MERGE, "name"),
    ("V1MutatingWebhookConfiguration", "webhooks"): (MERGE, "name"),
    ("V1APIServiceStatus", "conditions"): _CONDITIONS,
}


def patch_meta(model: str | None, json_field: str) -> tuple[str, str | None] | None:
    """(strategy, merge key) of a field of a model, or None when the field has none."""
    if model is None:
        return None
    return PATCH_META.get((model, json_field))


@functools.cache
def _models() -> Any:
    return importlib.import_module("kubernetes.client.models")


@functools.cache
def _all_models() -> frozenset[str]:
    mod = _models()
    return frozenset(n for n in dir(mod) if n[:1].isupper() and hasattr(getattr(mod, n), "openapi_types"))


def is_model(name: str | None) -> bool:
    return bool(name) and name in _all_models()


def _version_part(version: str) -> str:
    return version[:1].upper() + version[1:]


def _group_prefix(group: str) -> str:
    """The prefix the client puts on models whose names clash across groups:
    '' -> 'Core', 'events.k8s.io' -> 'Events', 'rbac.authorization.k8s.io' -> 'Rbac'."""
    if not group:
        return "Core"
    first = group.split(".", 1)[0]
    return first[:1].upper() + first[1:]


@functools.cache
def model_for(group: str, version: str, kind: str) -> str | None:
    """The client model describing group/version/kind, e.g. ('apps', 'v1', 'Deployment') ->
    'V1Deployment', ('', 'v1', 'Event') -> 'CoreV1Event', ('events.k8s.io', 'v1', 'Event') ->
    'EventsV1Event', ('autoscaling', 'v2', 'HorizontalPodAutoscaler') -> 'V2HorizontalPodAutoscaler'."""
    v = _version_part(version)
    for name in (f"{_group_prefix(group)}{v}{kind}", f"{v}{kind}"):
        if is_model(name):
            return name
    return None


_LIST_RE = re.compile(r"^(?:List|list)\[(.*)\]$")
_DICT_RE = re.compile(r"^(?:Dict\[|dict\()\s*str\s*,\s*(.*)[\])]$")


def _unwrap(type_string: str) -> tuple[str, str] | None:
    """('list'|'dict', inner type) for container types, else None."""
    m = _LIST_RE.match(type_string)
    if m:
        return "list", m.group(1).strip()
    m = _DICT_RE.match(type_string)
    if m:
        return "dict", m.group(1).strip()
    return None


def normalize_type(type_string: str) -> str:
    """One spelling for the client's type strings, whichever client version generated them:
    'List[X]' -> 'list[X]', 'Dict[str, X]' -> 'dict(str, X)' (recursively)."""
    inner = _unwrap(type_string)
    if inner is None:
        return type_string
    kind, elem = inner
    return f"list[{normalize_type(elem)}]" if kind == "list" else f"dict(str, {normalize_type(elem)})"


@functools.cache
def fields(model: str) -> dict[str, str]:
    """JSON field name -> type string: 'V1PodSpec', 'list[V1Container]', 'dict(str, str)',
    'str', 'int', 'bool', 'datetime', 'object' ...; empty for an unknown model."""
    if not is_model(model):
        return {}
    cls = getattr(_models(), model)
    return {cls.attribute_map[attr]: normalize_type(typ) for attr, typ in cls.openapi_types.items()}


def field_type(model: str | None, json_field: str) -> str | None:
    if model is None:
        return None
    return fields(model).get(json_field)


def element_model(type_string: str | None) -> str | None:
    """The model inside a type string: 'List[V1Container]' -> 'V1Container',
    'Dict[str, V1Foo]' -> 'V1Foo', 'V1PodSpec' -> 'V1PodSpec'; None for scalars and 'object'."""
    if not type_string:
        return None
    inner = _unwrap(type_string)
    while inner:
        type_string = inner[1]
        inner = _unwrap(type_string)
    return type_string if is_model(type_string) else None


def value_type(type_string: str | None) -> str | None:
    """One level down a type string: the element type of a list, the value type of a map,
    the type itself otherwise ('List[List[str]]' -> 'List[str]')."""
    if not type_string:
        return None
    inner = _unwrap(type_string)
    return inner[1] if inner else type_string
