import pytest

from controllers.garbagecollector import decisions as gc


def obj(uid, owners=(), deleting=False, finalizers=(), block=True):
    m = {"name": uid, "namespace": "default", "uid": uid}
    if owners:
        m["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o, "uid": o,
                                 "blockOwnerDeletion": block} for o in owners]
    if deleting:
        m["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    if finalizers:
        m["finalizers"] = list(finalizers)
    return {"metadata": m}


@pytest.mark.parametrize("owner,uid,expected", [
    (None, "a", gc.ABSENT),
    (obj("b"), "a", gc.ABSENT),                                          # same name, new uid
    (obj("a"), "a", gc.SOLID),
    (obj("a", deleting=True), "a", gc.SOLID),                            # background: already going
    (obj("a", deleting=True, finalizers=[gc.FOREGROUND]), "a", gc.WAITING),
    (obj("a", deleting=True, finalizers=[gc.ORPHAN]), "a", gc.SOLID),
])
def test_owner_state(owner, uid, expected):
    assert gc.owner_state(owner, uid) == expected


@pytest.mark.parametrize("the_obj,states,has_deps,expected", [
    (obj("p"), {}, False, ("none", [], "")),
    (obj("p", ["rs"]), {"rs": gc.SOLID}, False, ("none", [], "")),
    (obj("p", ["rs"]), {"rs": gc.ABSENT}, False, ("delete", [], "Background")),
    (obj("p", ["rs", "x"]), {"rs": gc.SOLID, "x": gc.ABSENT}, False, ("remove_refs", ["x"], "")),
    (obj("p", ["rs", "x"]), {"rs": gc.SOLID, "x": gc.WAITING}, False, ("remove_refs", ["x"], "")),
    (obj("rs", ["d"]), {"d": gc.WAITING}, True, ("delete", [], "Foreground")),
    (obj("p", ["rs"]), {"rs": gc.WAITING}, False, ("delete", [], "Background")),
    (obj("p", ["rs"], finalizers=[gc.ORPHAN]), {"rs": gc.ABSENT}, False, ("delete", [], "Orphan")),
    (obj("p", ["rs"], deleting=True), {"rs": gc.ABSENT}, False, ("none", [], "")),
])
def test_dependent_action(the_obj, states, has_deps, expected):
    a = gc.dependent_action(the_obj, states, has_deps)
    assert (a.kind, a.uids, a.policy) == expected


def test_orphan_plan():
    owner = obj("rs", deleting=True, finalizers=[gc.ORPHAN])
    deps = [obj("p1", ["rs"]), obj("p2", ["rs"])]
    plan = gc.deleting_owner_plan(owner, deps)
    assert [d["metadata"]["uid"] for d in plan.orphan] == ["p1", "p2"] and plan.remove_finalizer is None
    assert gc.deleting_owner_plan(owner, []).remove_finalizer == gc.ORPHAN


def test_foreground_plan_waits_for_blocking_dependents():
    owner = obj("rs", deleting=True, finalizers=[gc.FOREGROUND])
    deps = [obj("p1", ["rs"]), obj("p2", ["rs"], deleting=True)]
    plan = gc.deleting_owner_plan(owner, deps)
    assert [d["metadata"]["uid"] for d in plan.delete] == ["p1"]
    assert plan.remove_finalizer is None
    nonblocking = [obj("p3", ["rs"], block=False)]
    assert gc.deleting_owner_plan(owner, nonblocking).remove_finalizer == gc.FOREGROUND
    assert gc.deleting_owner_plan(owner, []).remove_finalizer == gc.FOREGROUND


def test_no_plan_for_live_owner():
    plan = gc.deleting_owner_plan(obj("rs", finalizers=[gc.FOREGROUND]), [obj("p", ["rs"])])
    assert (plan.orphan, plan.delete, plan.remove_finalizer) == ([], [], None)


def test_without_owner():
    assert [r["uid"] for r in gc.without_owner(obj("p", ["a", "b"]), ["a"])] == ["b"]
