"""The per-kind registry strategy: what create, update and /status do to an object before it
is stored, and which causes make Kubernetes answer 422 Invalid.

The REST handlers call, for a create: `prepare_for_create` (status reset, generation 1),
admission, `default`, `validate`; for an update of the main resource: `prepare_for_update`
(keep the old status, carry the old generation and bump it when the spec changed),
admission, `default`, `validate_update`; for `/status`: `prepare_for_status_update` (keep the
old spec) and `validate_status_update`. Objects are plain JSON dicts, mutated in place.

`prepare_*` default the new object themselves first (defaulting is idempotent), so a
`kubectl replace` body without defaults is compared with the stored, defaulted object on
equal terms and does not bump `generation` for nothing.

What this module must never do: I/O, raise for invalid input (causes are returned), or keep
state between calls (one Strategy instance serves every request for its resource).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import Any

from apimachinery.errors import Cause
from apimachinery.resources import BUILTIN, ResourceInfo
from apiserver.registry import defaults
from apiserver.registry.validation import (
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)

JSON = dict[str, Any]
NameFn = Callable[[str, bool], list[str]]


def meta_of(obj: JSON) -> JSON:
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


class Strategy:
    """Generic rules: metadata validation, a DNS-1123 subdomain name, status kept apart from
    the main resource when the kind has a /status subresource. Kinds with their own rules
    subclass it and override the `*_spec` hooks."""

    #: validates metadata.name (and generateName with prefix=True)
    name_fn: NameFn = staticmethod(name_is_dns_subdomain)  # type: ignore[assignment]
    #: metadata.generation is 1 on create and bumped by spec changes
    has_generation: bool = False
    #: the create keeps the status the client sent (Nodes register with theirs)
    keep_status_on_create: bool = False
    #: an update of a missing object creates it (Kubernetes: Endpoints, Events, Leases ...)
    allow_create_on_update: bool = False
    #: an update without metadata.resourceVersion is accepted (`kubectl replace`)
    allow_unconditional_update: bool = True
    #: fields that belong to the main resource and that /status may not change
    spec_fields: tuple[str, ...] = ("spec",)
    #: /status also keeps the old labels (Deployments, ReplicaSets ...)
    status_keeps_labels: bool = False

    def __init__(self, resource: ResourceInfo):
        self.resource = resource
        self.has_status = resource.subresource("status") is not None

    # ------------------------------------------------------------ scope

    @property
    def namespaced(self) -> bool:
        return self.resource.namespaced

    @property
    def kind(self) -> str:
        return self.resource.kind

    # ------------------------------------------------------------ defaulting

    def default(self, obj: JSON) -> None:
        """Kubernetes' SetDefaults_* for the kind, recursively (pod templates too)."""
        defaults.default(self.resource.group, self.resource.kind, obj)

    # ------------------------------------------------------------ prepare

    def initial_status(self, obj: JSON) -> JSON:
        """The status a new object is stored with (the client's is dropped)."""
        return {}

    def prepare_for_create(self, obj: JSON) -> None:
        self.default(obj)
        meta = meta_of(obj)
        if self.has_status and not self.keep_status_on_create:
            obj["status"] = self.initial_status(obj)
        if self.has_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)

    def prepare_for_update(self, new: JSON, old: JSON) -> None:
        self.default(new)
        if self.has_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        self._carry_generation(new, old)
        if self.has_generation and self.generation_changed(new, old):
            meta_of(new)["generation"] = int(meta_of(old).get("generation") or 0) + 1

    def prepare_for_status_update(self, new: JSON, old: JSON) -> None:
        for f in self.spec_fields:
            if f in old:
                new[f] = copy.deepcopy(old[f])
            else:
                new.pop(f, None)
        if self.status_keeps_labels:
            om = old.get("metadata") or {}
            nm = meta_of(new)
            if "labels" in om:
                nm["labels"] = copy.deepcopy(om["labels"])
            else:
                nm.pop("labels", None)
        self._carry_generation(new, old)

    def _carry_generation(self, new: JSON, old: JSON) -> None:
        """Clients cannot write metadata.generation."""
        og = (old.get("metadata") or {}).get("generation")
        if og is None:
            meta_of(new).pop("generation", None)
        else:
            meta_of(new)["generation"] = og

    def generation_changed(self, new: JSON, old: JSON) -> bool:
        """Does this update bump metadata.generation? (spec changed, by default)."""
        return any(new.get(f) != old.get(f) for f in self.spec_fields)

    # ------------------------------------------------------------ validation

    def validate(self, obj: JSON) -> list[Cause]:
        if not self.resource.stored:
            return self.validate_spec(obj)  # reviews and bindings: nothing is stored under a name
        causes = validate_object_meta(obj.get("metadata"), self.namespaced, self.name_fn)
        return causes + self.validate_spec(obj)

    def validate_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
        return causes + self.validate_spec_update(new, old)

    def validate_status_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"))
        return causes + self.validate_status(new, old)

    # hooks for kinds

    def validate_spec(self, obj: JSON) -> list[Cause]:
        """Kind-specific create validation (everything but metadata)."""
        return []

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        """Kind-specific update validation: by default the create rules on the new object."""
        return self.validate_spec(new)

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        return []


class CustomResourceStrategy(Strategy):
    """Custom resources (kinds a CRD registered): generation 1 on create, bumped by any
    change outside metadata (and outside status when /status is enabled), the client's
    status dropped on create and kept on update when /status exists."""

    has_generation = True

    def initial_status(self, obj: JSON) -> JSON:
        return {}

    def prepare_for_create(self, obj: JSON) -> None:
        super().prepare_for_create(obj)
        if self.has_status:
            obj.pop("status", None)  # Kubernetes deletes it rather than storing {}

    def prepare_for_status_update(self, new: JSON, old: JSON) -> None:
        """Only status changes: everything else, metadata included, is the old object's
        (but for managedFields and resourceVersion, which the request path owns)."""
        status = copy.deepcopy(new.get("status"))
        nm: JSON = new["metadata"] if isinstance(new.get("metadata"), dict) else {}
        keep: JSON = {k: copy.deepcopy(nm[k]) for k in ("managedFields", "resourceVersion") if k in nm}
        new.clear()
        new.update(copy.deepcopy(old))
        meta = meta_of(new)
        meta.pop("managedFields", None)
        meta.update(keep)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status

    def generation_changed(self, new: JSON, old: JSON) -> bool:
        skip = {"metadata", "status"} if self.has_status else {"metadata"}
        keys = (set(new) | set(old)) - skip
        return any(new.get(k) != old.get(k) for k in keys)


# ----------------------------------------------------------------- lookup

# (group, kind) -> "module:Class" under apiserver.registry, imported on first use.
_STRATEGIES: dict[tuple[str, str], str] = {
    ("", "Pod"): "core:PodStrategy",
    ("", "Binding"): "core:BindingStrategy",
    ("", "Service"): "core:ServiceStrategy",
    ("", "Namespace"): "core:NamespaceStrategy",
    ("", "Node"): "core:NodeStrategy",
    ("", "ConfigMap"): "core:ConfigMapStrategy",
    ("", "Secret"): "core:SecretStrategy",
    ("", "ServiceAccount"): "core:ServiceAccountStrategy",
    ("", "Endpoints"): "core:EndpointsStrategy",
    ("", "Event"): "core:EventStrategy",
    ("", "PodTemplate"): "core:PodTemplateStrategy",
    ("", "ReplicationController"): "core:ReplicationControllerStrategy",
    ("", "PersistentVolumeClaim"): "core:PersistentVolumeClaimStrategy",
    ("apps", "Deployment"): "workloads:DeploymentStrategy",
    ("apps", "ReplicaSet"): "workloads:ReplicaSetStrategy",
    ("apps", "DaemonSet"): "workloads:DaemonSetStrategy",
    ("apps", "StatefulSet"): "workloads:StatefulSetStrategy",
    ("apps", "ControllerRevision"): "workloads:ControllerRevisionStrategy",
    ("batch", "Job"): "workloads:JobStrategy",
    ("batch", "CronJob"): "workloads:CronJobStrategy",
    ("coordination.k8s.io", "Lease"): "others:LeaseStrategy",
    ("discovery.k8s.io", "EndpointSlice"): "others:EndpointSliceStrategy",
    ("events.k8s.io", "Event"): "others:EventsV1Strategy",
    ("policy", "PodDisruptionBudget"): "others:PodDisruptionBudgetStrategy",
    ("networking.k8s.io", "Ingress"): "others:GenerationStrategy",
    ("networking.k8s.io", "NetworkPolicy"): "others:GenerationStrategy",
    ("autoscaling", "HorizontalPodAutoscaler"): "others:GenerationStrategy",
    ("scheduling.k8s.io", "PriorityClass"): "others:PriorityClassStrategy",
    ("apiextensions.k8s.io", "CustomResourceDefinition"): "others:CustomResourceDefinitionStrategy",
    ("rbac.authorization.k8s.io", "Role"): "others:PathSegmentNameStrategy",
    ("rbac.authorization.k8s.io", "ClusterRole"): "others:PathSegmentNameStrategy",
    ("rbac.authorization.k8s.io", "RoleBinding"): "others:PathSegmentNameStrategy",
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): "others:PathSegmentNameStrategy",
    ("certificates.k8s.io", "CertificateSigningRequest"): "others:PathSegmentNameStrategy",
}

_BUILTIN_KINDS = {(r.group, r.kind) for r in BUILTIN}

_cache: dict[tuple[str, str, str, str], Strategy] = {}


def strategy_class(group: str, kind: str) -> type[Strategy]:
    ref = _STRATEGIES.get((group, kind))
    if ref is None:
        return Strategy if (group, kind) in _BUILTIN_KINDS else CustomResourceStrategy
    module, _, cls = ref.partition(":")
    return getattr(importlib.import_module(f"apiserver.registry.{module}"), cls)  # type: ignore[no-any-return]


def strategy_for(resource: ResourceInfo) -> Strategy:
    """The strategy of a resource (the generic one for kinds without special rules, custom
    resources included). Instances are shared: strategies keep no state."""
    key = (resource.group, resource.version, resource.plural, resource.kind)
    s = _cache.get(key)
    if s is None or s.resource is not resource:
        s = strategy_class(resource.group, resource.kind)(resource)
        _cache[key] = s
    return s
