"""Pure decisions of the garbage collector, after Kubernetes' pkg/controller/garbagecollector
(attemptToDeleteItem, processDeletingDependentsItem, orphanDependents).

An owner reference is *solid* when its owner exists and is not waiting for its dependents to
go, *dangling* when the owner (that uid) no longer exists, and *waiting* when the owner is
being deleted in the foreground (`foregroundDeletion` finalizer). No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field

from controllers import podutil
from controllers.podutil import Obj

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

ABSENT, SOLID, WAITING = "absent", "solid", "waiting"


def owner_state(owner: Obj | None, uid: str) -> str:
    """How an ownerReference stands, given the owner found by name (None if not found)."""
    if owner is None or podutil.uid_of(owner) != uid:
        return ABSENT
    if podutil.is_deleting(owner) and FOREGROUND in (podutil.meta(owner).get("finalizers") or []):
        return WAITING
    return SOLID


@dataclass
class Action:
    """`none`; `remove_refs` (patch out the owner references of `uids`); `delete` with
    `policy` (Background, Foreground or Orphan)."""

    kind: str
    uids: list[str] = field(default_factory=list)
    policy: str = ""


def dependent_action(obj: Obj, states: dict[str, str], has_dependents: bool) -> Action:
    """What to do with an object given the state of each of its owners (by uid).

    - some owner solid: keep it, dropping references to absent or waiting owners;
    - no solid owner, some waiting, and dependents of its own: delete it in the foreground
      too, so the waiting owner waits for the whole subtree;
    - otherwise (every owner gone, or waiting owners and no dependents): delete it with the
      policy its own finalizers ask for, Background by default.
    An object already being deleted is not deleted again."""
    refs = podutil.meta(obj).get("ownerReferences") or []
    if not refs:
        return Action("none")
    solid = [r["uid"] for r in refs if states.get(r.get("uid", "")) == SOLID]
    dangling = [r["uid"] for r in refs if states.get(r.get("uid", ""), ABSENT) == ABSENT]
    waiting = [r["uid"] for r in refs if states.get(r.get("uid", "")) == WAITING]
    if solid:
        if dangling or waiting:
            return Action("remove_refs", uids=dangling + waiting)
        return Action("none")
    if podutil.is_deleting(obj):
        return Action("none")
    if waiting and has_dependents:
        return Action("delete", policy="Foreground")
    finalizers = podutil.meta(obj).get("finalizers") or []
    if ORPHAN in finalizers:
        return Action("delete", policy="Orphan")
    if FOREGROUND in finalizers:
        return Action("delete", policy="Foreground")
    return Action("delete", policy="Background")


@dataclass
class OwnerPlan:
    """For an owner being deleted: dependents to orphan (strip the reference), dependents to
    delete, and whether a finalizer can now be removed."""

    orphan: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    remove_finalizer: str | None = None


def deleting_owner_plan(owner: Obj, dependents: list[Obj]) -> OwnerPlan:
    """Orphan: strip the reference from every dependent, then remove `orphan`.
    Foreground: delete every dependent not already going; remove `foregroundDeletion` once no
    dependent with `blockOwnerDeletion: true` remains."""
    plan = OwnerPlan()
    if not podutil.is_deleting(owner):
        return plan
    finalizers = podutil.meta(owner).get("finalizers") or []
    uid = podutil.uid_of(owner)
    if ORPHAN in finalizers:
        plan.orphan = list(dependents)
        if not dependents:
            plan.remove_finalizer = ORPHAN
        return plan
    if FOREGROUND in finalizers:
        plan.delete = [d for d in dependents if not podutil.is_deleting(d)]
        blocking = [d for d in dependents
                    if any(r.get("uid") == uid and r.get("blockOwnerDeletion")
                           for r in podutil.meta(d).get("ownerReferences") or [])]
        if not blocking:
            plan.remove_finalizer = FOREGROUND
    return plan


def without_owner(obj: Obj, uids: list[str]) -> list[Obj]:
    return [dict(r) for r in podutil.meta(obj).get("ownerReferences") or [] if r.get("uid") not in uids]
