from datetime import timedelta

import pytest
from ctrl_helpers import T0, ts

from apimachinery.selectors import LabelSelector
from controllers.deployment import decisions as d

NOW = T0 + timedelta(hours=1)


def deploy(replicas=10, surge="25%", unavailable="25%", strategy="RollingUpdate", generation=1, status=None,
           annotations=None, image="nginx:1", history=10, pds=600, paused=False):
    spec = {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": image}]}},
            "strategy": {"type": strategy}, "revisionHistoryLimit": history, "progressDeadlineSeconds": pds,
            "paused": paused}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "web", "namespace": "default", "uid": "uid-web", "generation": generation,
                         "annotations": annotations or {}},
            "spec": spec, "status": status or {}}


def rs(name, replicas, avail=None, created=0, revision=None, annotations=None, status_replicas=None,
       image="nginx:1", ready=None):
    ann = dict(annotations or {})
    if revision is not None:
        ann[d.REVISION] = str(revision)
    avail = replicas if avail is None else avail
    return {"metadata": {"name": name, "namespace": "default", "uid": "uid-" + name, "creationTimestamp": ts(created),
                         "annotations": ann, "generation": 1},
            "spec": {"replicas": replicas,
                     "template": {"metadata": {"labels": {"app": "web", d.HASH_LABEL: name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {"replicas": replicas if status_replicas is None else status_replicas,
                       "availableReplicas": avail, "readyReplicas": avail if ready is None else ready,
                       "observedGeneration": 1}}


@pytest.mark.parametrize("surge,unavail,desired,expected", [
    ("25%", "25%", 10, (3, 2)),
    ("25%", "25%", 4, (1, 1)),
    ("25%", "25%", 1, (1, 0)),
    (0, 0, 10, (0, 1)),
    ("0%", "0%", 10, (0, 1)),
    (1, 0, 10, (1, 0)),
    (3, 2, 10, (3, 2)),
    ("50%", "10%", 5, (3, 0)),
    ("100%", "100%", 3, (3, 3)),
])
def test_resolve_fenceposts(surge, unavail, desired, expected):
    assert d.resolve_fenceposts(surge, unavail, desired) == expected


def test_max_unavailable_capped_and_zero_for_recreate():
    assert d.max_unavailable(deploy(replicas=3, unavailable=5, surge=0)) == 3
    assert d.max_unavailable(deploy(strategy="Recreate")) == 0
    assert d.max_unavailable(deploy(replicas=0)) == 0
    assert d.max_surge(deploy(strategy="Recreate")) == 0


def test_template_hash_is_stable_label_safe_and_sensitive():
    t = deploy()["spec"]["template"]
    h = d.template_hash(t)
    assert h == d.template_hash(dict(t))
    assert 0 < len(h) <= 10 and all(c in "bcdfghjklmnpqrstvwxz2456789" for c in h)
    assert d.template_hash(deploy(image="nginx:2")["spec"]["template"]) != h
    assert d.template_hash(t, 1) != h
    with_label = {"metadata": {"labels": {"app": "web", d.HASH_LABEL: h}}, "spec": t["spec"]}
    assert d.template_hash(with_label) == h


def test_find_new_and_old():
    dep = deploy(image="nginx:2")
    a, b, c = rs("web-a", 3, created=0), rs("web-b", 0, created=5, image="nginx:2"), \
        rs("web-c", 0, created=9, image="nginx:2")
    assert d.find_new_rs(dep, [c, a, b])["metadata"]["name"] == "web-b"
    assert [x["metadata"]["name"] for x in d.find_old_rss([a, b, c], b)] == ["web-a", "web-c"]
    assert d.find_new_rs(deploy(image="nginx:3"), [a, b]) is None


def test_new_rs_object():
    dep = deploy(replicas=4, annotations={"team": "a", "kubectl.kubernetes.io/last-applied-configuration": "{}"})
    obj = d.new_rs_object(dep, 3, 1, None)
    h = obj["metadata"]["labels"][d.HASH_LABEL]
    assert obj["metadata"]["name"] == "web-" + h
    assert obj["spec"]["selector"]["matchLabels"] == {"app": "web", d.HASH_LABEL: h}
    assert LabelSelector.from_dict(obj["spec"]["selector"]).matches(obj["spec"]["template"]["metadata"]["labels"])
    assert obj["metadata"]["annotations"] == {"team": "a", d.REVISION: "3", d.DESIRED_REPLICAS: "4",
                                              d.MAX_REPLICAS: "5"}
    ref = obj["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"], ref["blockOwnerDeletion"]) == ("Deployment", "uid-web", True, True)
    assert "pod-template-hash" not in dep["spec"]["template"]["metadata"]["labels"]  # input untouched


@pytest.mark.parametrize("existing,new_rev,exists,rev,history,changed", [
    ({}, 1, False, "1", None, True),
    ({d.REVISION: "1"}, 4, True, "4", "1", True),           # rollback to revision 1 when newest is 3
    ({d.REVISION: "4", d.REVISION_HISTORY: "1"}, 6, True, "6", "1,4", True),
    ({d.REVISION: "5"}, 5, True, "5", None, False),
    ({d.REVISION: "7"}, 5, True, "7", None, False),         # never goes backwards
])
def test_rs_annotations(existing, new_rev, exists, rev, history, changed):
    dep = deploy()
    r = rs("web-a", 1, annotations=existing)
    ann, ch = d.rs_annotations(dep, r, new_rev, exists)
    assert ann[d.REVISION] == rev
    assert ann.get(d.REVISION_HISTORY) == history
    if exists:
        assert ch == changed


# Rolling-update arithmetic: worked examples from Kubernetes' rolling.go comments.
def test_scale_up_new_within_surge():
    dep = deploy(replicas=10, surge=3, unavailable=2)
    old, new = rs("old", 10, created=0), rs("new", 0, created=1, image="nginx:2")
    assert d.reconcile_new_rs(dep, [old, new], new) == 3
    old, new = rs("old", 8), rs("new", 3, avail=0)
    assert d.reconcile_new_rs(dep, [old, new], new) == 5
    old, new = rs("old", 10), rs("new", 3, avail=0)
    assert d.reconcile_new_rs(dep, [old, new], new) is None   # 13 pods already
    assert d.reconcile_new_rs(dep, [rs("new", 12)], rs("new", 12)) == 10   # over: straight down


@pytest.mark.parametrize("old_replicas,old_avail,new_replicas,new_avail,expected", [
    (10, 10, 3, 0, 8),      # 13 - 8 - 3 = 2 may go
    (8, 8, 5, 0, None),     # new pods not available: stuck at minAvailable, nothing more
    (10, 8, 3, 0, 8),       # the 2 unhealthy old pods go first
    (8, 8, 5, 5, 3),        # 13 available, keep 8
    (3, 3, 10, 10, 0),
])
def test_scale_down_old(old_replicas, old_avail, new_replicas, new_avail, expected):
    dep = deploy(replicas=10, surge=3, unavailable=2)
    old, new = rs("old", old_replicas, avail=old_avail), rs("new", new_replicas, avail=new_avail, created=1)
    out = d.reconcile_old_rss(dep, [old], new)
    assert out.get("old") == expected


def test_scale_down_ignores_availability_beyond_spec():
    """Seen live: the old ReplicaSet was just scaled 3 -> 2 and its status still says 3
    available. Counting that third pod would allow scaling it to 0 and leave 2 available."""
    dep = deploy(replicas=4, surge=1, unavailable=1)
    old, new = rs("old", 2, avail=3), rs("new", 3, avail=2, created=1)
    assert d.reconcile_old_rss(dep, [old], new) == {"old": 1}


def test_scale_down_oldest_first_across_several():
    dep = deploy(replicas=4, surge=1, unavailable=1)
    a, b = rs("a", 2, created=0), rs("b", 2, created=5)
    new = rs("new", 1, avail=1, created=9)
    assert d.reconcile_old_rss(dep, [b, a], new) == {"a": 0}


def test_full_rollout_bounds_hold_at_every_step():
    """Drive a rollout step by step (pods become available at once) and check the bounds."""
    dep = deploy(replicas=10, surge=3, unavailable=2)
    old, new = rs("old", 10), rs("new", 0, created=1, image="nginx:2")
    for _ in range(50):
        up = d.reconcile_new_rs(dep, [old, new], new)
        if up is not None:
            new = rs("new", up, avail=up, created=1)
        else:
            down = d.reconcile_old_rss(dep, [old], new)
            if not down:
                break
            old = rs("old", down["old"])
        total = d.spec_replicas(old) + d.spec_replicas(new)
        assert total <= 13
        assert d.available(old) + d.available(new) >= 8
    assert (d.spec_replicas(old), d.spec_replicas(new)) == (0, 10)


def test_proportional_scaling_docs_example():
    dep = deploy(replicas=15, surge=3, unavailable=2)
    old = rs("old", 8, annotations={d.MAX_REPLICAS: "13", d.DESIRED_REPLICAS: "10"}, created=0)
    new = rs("new", 5, avail=0, annotations={d.MAX_REPLICAS: "13", d.DESIRED_REPLICAS: "10"}, created=1)
    assert d.is_scaling_event(dep, [old, new])
    assert d.scale(dep, new, [old]) == {"old": 11, "new": 7}


def test_proportional_scale_down():
    dep = deploy(replicas=5, surge=3, unavailable=2)
    old = rs("old", 8, annotations={d.MAX_REPLICAS: "13"}, created=0)
    new = rs("new", 5, avail=0, annotations={d.MAX_REPLICAS: "13"}, created=1)
    out = d.scale(dep, new, [old])
    assert sum(out.values()) == 8 and out["old"] > out["new"]


def test_scale_single_active_and_saturated():
    dep = deploy(replicas=6)
    assert d.scale(dep, rs("new", 3), [rs("old", 0)]) == {"new": 6}
    assert d.scale(dep, None, [rs("older", 0, created=0), rs("newer", 0, created=5)]) == {"newer": 6}
    sat = rs("new", 6, annotations={d.DESIRED_REPLICAS: "6"}, created=5)
    assert d.scale(dep, sat, [rs("old", 2, created=0)]) == {"old": 0}


def test_rss_to_cleanup():
    dep = deploy(history=1)
    olds = [rs("r1", 0, revision=1), rs("r2", 0, revision=2), rs("r3", 0, revision=3), rs("busy", 1, revision=0)]
    assert [x["metadata"]["name"] for x in d.rss_to_cleanup(dep, olds)] == ["r1", "r2"]
    assert d.rss_to_cleanup(deploy(history=10), olds) == []


def _cond(st, t):
    c = [c for c in st.get("conditions", []) if c["type"] == t]
    return (c[0]["status"], c[0]["reason"], c[0]["message"]) if c else None


def test_status_fields_and_available_condition():
    dep = deploy(replicas=4, surge=1, unavailable=1, generation=7)
    old, new = rs("old", 2, avail=2), rs("new", 3, avail=1, status_replicas=3, ready=2)
    st = d.calculate_status(dep, [old, new], new, NOW)
    assert {k: st[k] for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                               "availableReplicas", "unavailableReplicas")} == \
        {"observedGeneration": 7, "replicas": 5, "updatedReplicas": 3, "readyReplicas": 4,
         "availableReplicas": 3, "unavailableReplicas": 2}
    assert _cond(st, "Available") == ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    st = d.calculate_status(dep, [rs("new", 4, avail=2)], None, NOW)
    assert _cond(st, "Available") == ("False", "MinimumReplicasUnavailable",
                                      "Deployment does not have minimum availability.")


def test_progressing_condition_lifecycle():
    dep = deploy(replicas=2, status={"replicas": 2, "updatedReplicas": 0, "availableReplicas": 2,
                                     "conditions": [d.condition("Progressing", "True", d.NEW_RS_CREATED,
                                                                'Created new replica set "web-b"', T0)]})
    new = rs("web-b", 1, avail=0)
    st = d.rollout_status(dep, [rs("web-a", 2), new], new, NOW)
    assert _cond(st, "Progressing") == ("True", "ReplicaSetUpdated", 'ReplicaSet "web-b" is progressing.')
    # nothing moves for longer than progressDeadlineSeconds
    stuck = deploy(replicas=2, pds=60, status=st)
    late = NOW + timedelta(seconds=120)
    assert d.requeue_for_deadline(stuck, st, NOW) == pytest.approx(61)
    st2 = d.rollout_status(stuck, [rs("web-a", 2), new], new, late)
    assert _cond(st2, "Progressing") == ("False", "ProgressDeadlineExceeded", 'ReplicaSet "web-b" has timed out progressing.')
    # complete
    done = rs("web-b", 2, avail=2)
    st3 = d.rollout_status(deploy(replicas=2, status=st), [rs("web-a", 0, status_replicas=0), done], done, late)
    assert _cond(st3, "Progressing") == ("True", "NewReplicaSetAvailable", 'ReplicaSet "web-b" has successfully progressed.')
    assert d.deployment_complete(deploy(replicas=2), st3)


def test_replica_failure_is_copied():
    new = rs("web-b", 2, avail=0)
    new["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                    "message": "quota"}]
    st = d.rollout_status(deploy(replicas=2), [new], new, NOW)
    assert _cond(st, "ReplicaFailure") == ("True", "FailedCreate", "quota")


@pytest.mark.parametrize("paused,current,expected", [
    (True, None, ("Unknown", "DeploymentPaused", "Deployment is paused")),
    (True, d.PAUSED, None),
    (False, d.PAUSED, ("Unknown", "DeploymentResumed", "Deployment is resumed")),
    (False, d.RS_UPDATED, None),
])
def test_paused_condition(paused, current, expected):
    status = {"conditions": [d.condition("Progressing", "Unknown", current, "x", T0)]} if current else {}
    c = d.paused_condition_change(deploy(paused=paused, status=status), NOW)
    assert (None if c is None else (c["status"], c["reason"], c["message"])) == expected


def test_old_pods_running():
    assert d.old_pods_running([{"status": {"phase": "Unknown"}}])
    assert not d.old_pods_running([{"status": {"phase": "Failed"}}, {"status": {"phase": "Succeeded"}}])
