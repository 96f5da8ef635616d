from datetime import timedelta

import pytest
from ctrl_helpers import T0, pod

from controllers.daemonset import decisions as d

NOW = T0 + timedelta(hours=1)


def node(name, labels=None, taints=None):
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or []}}


def ds(node_selector=None, affinity=None, tolerations=None, strategy=None, generation=2, host_network=False,
       min_ready=0, history=10):
    spec = {"containers": [{"name": "agent", "image": "agent:1"}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if affinity:
        spec["affinity"] = affinity
    if tolerations:
        spec["tolerations"] = tolerations
    if host_network:
        spec["hostNetwork"] = True
    return {"metadata": {"name": "agent", "namespace": "kube-system", "uid": "uid-ds", "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "minReadySeconds": min_ready,
                     "revisionHistoryLimit": history,
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec},
                     "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}},
            "status": {}}


NS = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
NE = {"key": "dedicated", "value": "db", "effect": "NoExecute"}


@pytest.mark.parametrize("toleration,taint,expected", [
    ({"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}, NS, True),
    ({"key": "dedicated", "value": "db"}, NS, True),                      # Equal is the default, any effect
    ({"key": "dedicated", "value": "web"}, NS, False),
    ({"key": "dedicated", "operator": "Exists"}, NE, True),
    ({"operator": "Exists"}, NE, True),                                   # tolerates everything
    ({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}, NS, False),
    ({"key": "other", "operator": "Exists"}, NS, False),
    ({"value": "db"}, NS, False),                                         # empty key needs Exists
])
def test_tolerates(toleration, taint, expected):
    assert d.tolerates(toleration, taint) is expected


@pytest.mark.parametrize("the_node,the_ds,expected", [
    (node("n1"), ds(), (True, True)),
    (node("n1", labels={"disk": "ssd"}), ds(node_selector={"disk": "ssd"}), (True, True)),
    (node("n1"), ds(node_selector={"disk": "ssd"}), (False, False)),
    (node("n1", taints=[NS]), ds(), (False, True)),          # NoSchedule: no new pod, existing continues
    (node("n1", taints=[NE]), ds(), (False, False)),         # NoExecute: evicted
    (node("n1", taints=[NS]), ds(tolerations=[{"key": "dedicated", "operator": "Exists"}]), (True, True)),
    (node("n1", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]), ds(), (True, True)),
    (node("n1", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]), ds(), (True, True)),
    (node("n1", taints=[{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]), ds(), (True, True)),
    (node("n1", taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]), ds(), (False, True)),
    (node("n1", taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]),
     ds(host_network=True), (True, True)),
    (node("n1", taints=[{"key": "x", "effect": "PreferNoSchedule"}]), ds(), (True, True)),
    (node("n1", labels={"zone": "a"}),
     ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
         {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
         {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}), (True, True)),
    (node("n1", labels={"zone": "a"}),
     ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
         {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}]}}}), (False, False)),
    (node("n2"),
     ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
         {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}), (True, True)),
    (node("n1", labels={"cpus": "8"}),
     ds(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
         {"matchExpressions": [{"key": "cpus", "operator": "Gt", "values": ["4"]}]}]}}}), (True, True)),
])
def test_node_should_run(the_node, the_ds, expected):
    assert d.node_should_run(the_node, the_ds) == expected


def test_new_pod_has_node_affinity_labels_and_tolerations():
    p = d.new_pod(ds(affinity={"podAntiAffinity": {"x": 1}}), "n3", "abc12")
    assert p["metadata"]["generateName"] == "agent-"
    assert p["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": "abc12", "pod-template-generation": "2"}
    terms = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n3"]}]}]
    assert p["spec"]["affinity"]["podAntiAffinity"] == {"x": 1}
    keys = {(t["key"], t["effect"]) for t in p["spec"]["tolerations"]}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in keys
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") not in keys
    assert p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    assert "nodeName" not in p["spec"]


def dpod(name, node_name, hash_="h1", created=0, phase="Running", ready=True, ready_at=0, deleting=False):
    p = pod(name, node=node_name, created=created, phase=phase, ready=ready, ready_at=ready_at, deleting=deleting,
            labels={"app": "agent", "controller-revision-hash": hash_})
    return p


def test_pods_should_be_on_nodes():
    nodes = [node("a"), node("b"), node("c", taints=[NE]), node("d"), node("e", taints=[NS])]
    by_node = {
        "a": [dpod("a1", "a", created=0), dpod("a2", "a", created=5)],   # duplicate: newer goes
        "c": [dpod("c1", "c")],                                          # NoExecute: goes
        "d": [dpod("d1", "d", phase="Failed", ready=False)],             # failed: replaced
        "e": [dpod("e1", "e")],                                          # NoSchedule: stays
        "gone": [dpod("g1", "gone")],                                    # node deleted
    }
    need, delete, failed = d.pods_should_be_on_nodes(ds(), nodes, by_node, "h1")
    assert need == ["b"]
    assert sorted(delete) == ["a2", "c1", "d1", "g1"]
    assert failed == ["d1"]


def test_surge_keeps_old_until_new_ready():
    strat = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    nodes = [node("a")]
    both = {"a": [dpod("old", "a", hash_="h0", created=0), dpod("new", "a", hash_="h1", created=5, ready=False)]}
    assert d.pods_should_be_on_nodes(ds(strategy=strat), nodes, both, "h1")[1] == []
    both["a"][1] = dpod("new", "a", hash_="h1", created=5)
    assert d.pods_should_be_on_nodes(ds(strategy=strat), nodes, both, "h1")[1] == ["old"]


@pytest.mark.parametrize("strategy,desired,expected", [
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}, 5, (0, 1)),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "30%"}}, 5, (0, 2)),   # rounds up
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "10%"}}, 5, (1, 0)),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}, 5, (0, 1)),
    ({"type": "OnDelete"}, 5, (0, 0)),
])
def test_surge_and_unavailable(strategy, desired, expected):
    assert d.surge_and_unavailable(ds(strategy=strategy), desired) == expected


def test_rolling_update_without_surge():
    strat = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}
    pods = {n: [dpod(n + "-old", n, hash_="h0")] for n in "abcde"}
    delete, create = d.rolling_update(ds(strategy=strat), pods, "h1", NOW)
    assert delete == ["a-old", "b-old"] and create == []
    # a and b now run new pods not yet ready: nothing more may go
    pods["a"] = [dpod("a-new", "a", ready=False)]
    pods["b"] = [dpod("b-new", "b", ready=False)]
    assert d.rolling_update(ds(strategy=strat), pods, "h1", NOW) == ([], [])
    # an unavailable old pod may always be replaced
    pods["c"] = [dpod("c-old", "c", hash_="h0", ready=False)]
    assert d.rolling_update(ds(strategy=strat), pods, "h1", NOW) == (["c-old"], [])


def test_rolling_update_with_surge():
    strat = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pods = {n: [dpod(n + "-old", n, hash_="h0")] for n in "abc"}
    assert d.rolling_update(ds(strategy=strat), pods, "h1", NOW) == ([], ["a"])
    pods["a"].append(dpod("a-new", "a", created=9, ready=False))
    assert d.rolling_update(ds(strategy=strat), pods, "h1", NOW) == ([], [])
    pods["a"][1] = dpod("a-new", "a", created=9)
    assert d.rolling_update(ds(strategy=strat), pods, "h1", NOW) == (["a-old"], ["b"])


def test_controller_revision_shape():
    obj = ds()
    cr = d.new_controller_revision(obj, 3)
    h = cr["metadata"]["labels"]["controller-revision-hash"]
    assert cr["metadata"]["name"] == "agent-" + h
    assert cr["revision"] == 3
    assert cr["data"]["spec"]["template"]["$patch"] == "replace"
    assert cr["data"]["spec"]["template"]["spec"]["containers"][0]["image"] == "agent:1"
    assert d.revision_matches(obj, cr)
    changed = ds()
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "agent:2"
    assert not d.revision_matches(changed, cr)
    assert d.new_controller_revision(changed, 4)["metadata"]["name"] != cr["metadata"]["name"]
    assert "$patch" not in obj["spec"]["template"]


def test_histories_to_cleanup():
    crs = [{"metadata": {"name": f"agent-{i}", "labels": {"controller-revision-hash": f"h{i}"}}, "revision": i}
           for i in range(1, 6)]
    out = d.histories_to_cleanup(ds(history=2), crs, crs[-1], live_hashes={"h1"})
    assert [c["metadata"]["name"] for c in out] == ["agent-2", "agent-3"]


def test_status():
    nodes = [node("a"), node("b"), node("c"), node("d", taints=[NS])]
    by_node = {"a": [dpod("a1", "a", hash_="h1")], "b": [dpod("b1", "b", hash_="h0", ready=False)],
               "d": [dpod("d1", "d")]}
    st = d.calculate_status(ds(), nodes, by_node, "h1", NOW)
    assert st == {"currentNumberScheduled": 2, "numberMisscheduled": 1, "desiredNumberScheduled": 3,
                  "numberReady": 1, "observedGeneration": 2, "updatedNumberScheduled": 1,
                  "numberAvailable": 1, "numberUnavailable": 2}
