"""Pure decisions of the namespace controller, after Kubernetes' pkg/controller/namespace
(namespaced_resources_deleter.go). No I/O."""

from __future__ import annotations

from datetime import datetime

from apimachinery import resources
from apimachinery.resources import ResourceInfo
from controllers import podutil
from controllers.podutil import Obj

FINALIZER = "kubernetes"


def namespaced_resources(registry: resources.Registry = resources.DEFAULT,
                         extra: list[ResourceInfo] | None = None) -> list[ResourceInfo]:
    """Every namespaced kind that is stored and can be listed and deleted, one version per
    group/plural (the built-ins, plus `extra`: the CustomResourceDefinitions' kinds)."""
    out: dict[tuple[str, str], ResourceInfo] = {}
    for r in [*registry, *(extra or [])]:
        if not r.namespaced or not r.stored or not {"list", "delete"} <= set(r.verbs):
            continue
        out.setdefault((r.group, r.plural), r)
    return list(out.values())


def crd_resources(crds: list[Obj]) -> list[ResourceInfo]:
    """ResourceInfos for namespaced CRDs (served storage version first)."""
    out = []
    for crd in crds:
        spec = crd.get("spec") or {}
        if spec.get("scope") != "Namespaced":
            continue
        versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
        versions.sort(key=lambda v: not v.get("storage"))
        if not versions:
            continue
        names = spec.get("names") or {}
        out.append(ResourceInfo(spec.get("group", ""), versions[0]["name"], names.get("kind", ""),
                                names.get("plural", "")))
    return out


def terminating_status(ns: Obj, remaining: dict[str, int], failures: list[str], finalizers_left: dict[str, int],
                       at: datetime) -> Obj:
    """status.phase Terminating with Kubernetes' deletion conditions:
    NamespaceDeletionDiscoveryFailure, NamespaceDeletionGroupVersionParsingFailure,
    NamespaceDeletionContentFailure, NamespaceContentRemaining, NamespaceFinalizersRemaining."""
    t = podutil.format_time(at)
    status: Obj = {**(ns.get("status") or {}), "phase": "Terminating"}
    status["conditions"] = [dict(c) for c in status.get("conditions") or []]

    def cond(ctype: str, st: str, reason: str, message: str) -> None:
        podutil.set_condition(status, {"type": ctype, "status": st, "lastTransitionTime": t,
                                       "reason": reason, "message": message})
    cond("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered", "All resources successfully discovered")
    cond("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
         "All legacy kube types successfully parsed")
    if failures:
        cond("NamespaceDeletionContentFailure", "True", "ContentDeletionFailed",
             "Failed to delete all resource types, " + ", ".join(sorted(failures)))
    else:
        cond("NamespaceDeletionContentFailure", "False", "ContentDeleted",
             "All content successfully deleted, may be waiting on finalization")
    if remaining:
        parts = ", ".join(f"{k} has {v} resource instances" for k, v in sorted(remaining.items()))
        cond("NamespaceContentRemaining", "True", "SomeResourcesRemain", f"Some resources are remaining: {parts}")
    else:
        cond("NamespaceContentRemaining", "False", "ContentRemoved", "All content successfully removed")
    if finalizers_left:
        parts = ", ".join(f"{k} in {v} resource instances" for k, v in sorted(finalizers_left.items()))
        cond("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain", f"Some content in the namespace has finalizers remaining: {parts}")
    else:
        cond("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
             "All content-preserving finalizers finished")
    return status


def finalized(ns: Obj) -> Obj | None:
    """The namespace with the `kubernetes` finalizer removed from spec.finalizers, for
    `PUT /api/v1/namespaces/<ns>/finalize`; None when it is not there any more."""
    fins = list((ns.get("spec") or {}).get("finalizers") or [])
    if FINALIZER not in fins:
        return None
    out = {**ns, "spec": {**(ns.get("spec") or {}), "finalizers": [f for f in fins if f != FINALIZER]}}
    return out
