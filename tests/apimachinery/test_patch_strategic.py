"""Strategic merge patch: the examples of Kubernetes' "Update API Objects in Place Using
kubectl patch" page, each directive kubectl sends, Kubernetes' error codes, and the two-way
diff that kubectl-style clients send."""

import copy
import random

import pytest

from apimachinery.patch import PatchError, strategic


def deployment():
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "patch-demo"},
        "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {
                "containers": [{"name": "patch-demo-ctr", "image": "nginx"}],
                "tolerations": [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}]}},
        },
    }


def pod(**spec):
    s = {"containers": [
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}, {"containerPort": 443}],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]},
        {"name": "b", "image": "redis"},
        {"name": "c", "image": "busybox"}]}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"x": "1", "y": "2"}, "finalizers": ["f1", "f2", "f3"]}, "spec": s}


def names(items, key="name"):
    return [i[key] for i in items]


# --- the documentation's examples ---------------------------------------------------------


def test_docs_containers_are_merged_by_name_new_one_first():
    out = strategic.apply(deployment(), {"spec": {"template": {"spec": {"containers": [
        {"name": "patch-demo-ctr-2", "image": "redis"}]}}}}, "V1Deployment")
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "patch-demo-ctr-2", "image": "redis"}, {"name": "patch-demo-ctr", "image": "nginx"}]


def test_docs_tolerations_are_replaced():
    out = strategic.apply(deployment(), {"spec": {"template": {"spec": {"tolerations": [
        {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]}}}}, "V1Deployment")
    assert out["spec"]["template"]["spec"]["tolerations"] == [
        {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]


def test_docs_retain_keys_clears_rolling_update():
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic.apply(deployment(), patch, "V1Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    # without the directive the old rollingUpdate stays (and validation would reject it)
    out = strategic.apply(deployment(), {"spec": {"strategy": {"type": "Recreate"}}}, "V1Deployment")
    assert out["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}


def test_docs_set_element_order():
    original = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": ["a", "b"]},
                "spec": {"containers": [{"name": "x", "image": "1"}, {"name": "y", "image": "2"}]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]},
             "spec": {"$setElementOrder/containers": [{"name": "y"}, {"name": "z"}, {"name": "x"}],
                      "containers": [{"name": "z", "image": "3"}]}}
    out = strategic.apply(original, patch, "V1Pod")
    assert out["metadata"]["finalizers"] == ["b", "c", "a"]
    assert names(out["spec"]["containers"]) == ["y", "z", "x"]


# --- directives and list strategies ----------------------------------------------------------


# Without $setElementOrder, Kubernetes keeps the patch's order for the patched elements and
# places new ones ahead of the live ones they are not ordered against (kubectl agrees).
@pytest.mark.parametrize("patch, path, expected", [
    ({"spec": {"containers": [{"name": "b", "image": "x"}]}}, ("spec", "containers"),
     [("a", "nginx"), ("b", "x"), ("c", "busybox")]),
    ({"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "a", "image": "y"}]}}, ("spec", "containers"),
     [("b", "redis"), ("c", "x"), ("a", "y")]),
    ({"spec": {"containers": [{"name": "d", "image": "x"}, {"name": "b", "image": "y"}]}}, ("spec", "containers"),
     [("d", "x"), ("a", "nginx"), ("b", "y"), ("c", "busybox")]),
    ({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}, ("spec", "containers"),
     [("a", "nginx"), ("c", "busybox")]),
    ({"spec": {"containers": [{"name": "z", "image": "q"}, {"$patch": "replace"}]}}, ("spec", "containers"),
     [("z", "q")]),
    ({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}},
     ("spec", "containers"), [("c", "busybox"), ("a", "nginx"), ("b", "redis")]),
    ({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
               "containers": [{"name": "b", "$patch": "delete"}]}}, ("spec", "containers"),
     [("a", "nginx"), ("c", "busybox")]),
])
def test_containers(patch, path, expected):
    out = strategic.apply(pod(), patch, "V1Pod")
    for p in path:
        out = out[p]
    assert [(c["name"], c["image"]) for c in out] == expected


@pytest.mark.parametrize("patch, expected", [
    ({"metadata": {"finalizers": ["f4"]}}, ["f4", "f1", "f2", "f3"]),
    ({"metadata": {"finalizers": ["f2", "f4"]}}, ["f1", "f2", "f4", "f3"]),
    ({"metadata": {"$deleteFromPrimitiveList/finalizers": ["f2"]}}, ["f1", "f3"]),
    ({"metadata": {"$setElementOrder/finalizers": ["f3", "f1", "f2"]}}, ["f3", "f1", "f2"]),
    ({"metadata": {"$setElementOrder/finalizers": ["f3", "f4", "f1"], "finalizers": ["f4"],
                   "$deleteFromPrimitiveList/finalizers": ["f2"]}}, ["f3", "f4", "f1"]),
    ({"metadata": {"finalizers": None}}, None),
])
def test_primitive_merge_list(patch, expected):
    assert strategic.apply(pod(), patch, "V1Pod")["metadata"].get("finalizers") == expected


@pytest.mark.parametrize("patch, expected", [
    ({"metadata": {"labels": {"x": None, "z": "3"}}}, {"y": "2", "z": "3"}),
    ({"metadata": {"labels": {"$patch": "replace", "z": "3"}}}, {"z": "3"}),
    ({"metadata": {"labels": {"$patch": "delete"}}}, {}),
    ({"metadata": {"labels": {"unmatched": None}}}, {"x": "1", "y": "2"}),
])
def test_maps(patch, expected):
    assert strategic.apply(pod(), patch, "V1Pod")["metadata"]["labels"] == expected


def test_env_and_ports_merge_inside_a_container():
    patch = {"spec": {"containers": [{"name": "a", "env": [{"name": "D", "value": "4"}, {"name": "B", "value": "x"}],
                                      "ports": [{"containerPort": 8080}]}]}}
    a = strategic.apply(pod(), patch, "V1Pod")["spec"]["containers"][0]
    assert [(e["name"], e["value"]) for e in a["env"]] == [("D", "4"), ("A", "1"), ("B", "x"), ("C", "3")]
    assert names(a["ports"], "containerPort") == [8080, 80, 443]


def test_service_ports_by_port_and_volume_retain_keys():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = strategic.apply(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, "V1Service")
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]
    p = pod(volumes=[{"name": "v", "emptyDir": {}}])
    out = strategic.apply(p, {"spec": {"volumes": [
        {"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}, "V1Pod")
    assert out["spec"]["volumes"] == [{"name": "v", "hostPath": {"path": "/x"}}]


def test_atomic_lists_are_replaced_and_unknown_model_merges_like_merge_patch():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
            "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]}}
    out = strategic.apply(node, {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}],
                                          "podCIDRs": ["10.1.0.0/24"]}}, "V1Node")
    assert out["spec"]["taints"] == [{"key": "b", "effect": "NoSchedule"}]
    assert out["spec"]["podCIDRs"] == ["10.1.0.0/24", "10.0.0.0/24"]
    out = strategic.apply(pod(), {"spec": {"containers": [{"name": "z"}]}, "metadata": {"labels": {"x": None}}}, None)
    assert out["spec"]["containers"] == [{"name": "z"}] and out["metadata"]["labels"] == {"y": "2"}


def test_directives_never_reach_the_result():
    patch = {"spec": {"newList": [{"$patch": "delete", "name": "q"}],
                      "containers": [{"name": "d", "image": "x", "$setElementOrder/env": [{"name": "E"}],
                                      "env": [{"name": "E", "value": "5"}, {"name": "G", "$patch": "delete"}],
                                      "resources": {"limits": {"cpu": "1", "memory": None}}}]},
             "status": {"$patch": "replace", "phase": "Running"}}
    out = strategic.apply(pod(), patch, "V1Pod")
    d = out["spec"]["containers"][0]
    assert d == {"name": "d", "image": "x", "env": [{"name": "E", "value": "5"}], "resources": {"limits": {"cpu": "1"}}}
    assert out["status"] == {"phase": "Running"}
    assert "$patch" not in str(out) and "$setElementOrder" not in str(out)


def test_whole_object_directives():
    assert strategic.apply(pod(), {"$patch": "delete"}, "V1Pod") == {}
    assert strategic.apply(pod(), {"$patch": "replace", "kind": "Pod"}, "V1Pod") == {"kind": "Pod"}


def test_inputs_are_not_mutated():
    original, patch = pod(), {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                                       "containers": [{"name": "b", "image": "q"}, {"name": "c", "$patch": "delete"}]},
                              "metadata": {"$retainKeys": ["name"], "name": "p"}}
    before_o, before_p = copy.deepcopy(original), copy.deepcopy(patch)
    strategic.apply(original, patch, "V1Pod")
    assert original == before_o and patch == before_p


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("patch, code, message", [
    ({"spec": {"containers": [{"image": "x"}]}}, 500,
     "map: map[image:x] does not contain declared merge key: name"),
    ({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}, 500,
     "merging lists cannot yet be specified in the patch"),
    ({"spec": {"$patch": "foo"}}, 500, "unknown patch type: foo in map: map[$patch:foo]"),
    ({"spec": {"$setElementOrder": [{"name": "a"}]}}, 400, "invalid patch format of setElementOrder list"),
    ({"metadata": {"$deleteFromPrimitiveList": ["f1"]}}, 400, "invalid patch format of primitive list"),
    ({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name"], "hostPath": {"path": "/x"}}]}}, 400,
     "invalid patch format of retainKeys"),
    ({"metadata": {"$retainKeys": "name"}}, 400, "invalid patch format of retainKeys"),
    ({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b", "image": "q"}]}}, 500,
     "The order in patch list:\n[map[image:q name:b]]\n doesn't match $setElementOrder list:\n[map[name:a]]\n"),
    ({"spec": {"containers": ["a"]}}, 500, "list element types are not identical: "
     "[[map[env:[map[name:A value:1] map[name:B value:2] map[name:C value:3]] image:nginx name:a "
     "ports:[map[containerPort:80] map[containerPort:443]]] map[image:redis name:b] map[image:busybox name:c]] [a]]"),
    ([{"op": "add"}], 400, "json: cannot unmarshal array into Go value of type map[string]interface {}"),
])
def test_errors(patch, code, message):
    p = pod(volumes=[{"name": "v", "emptyDir": {}}])
    with pytest.raises(PatchError) as e:
        strategic.apply(p, patch, "V1Pod")
    assert (e.value.code, e.value.message) == (code, message)


# --- create ----------------------------------------------------------------------------------


def test_create_matches_what_kubectl_sends():
    original, modified = deployment(), deployment()
    modified["spec"]["strategy"] = {"type": "Recreate"}
    modified["spec"]["template"]["spec"]["containers"].insert(0, {"name": "side", "image": "busybox"})
    assert strategic.create(original, modified, "V1Deployment") == {"spec": {
        "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"},
        "template": {"spec": {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "patch-demo-ctr"}],
            "containers": [{"name": "side", "image": "busybox"}]}}}}
    assert strategic.create(original, original, "V1Deployment") == {}


def test_create_primitive_and_keyed_deletions():
    o = pod()
    m = pod()
    m["metadata"]["finalizers"] = ["f3", "f1"]
    m["spec"]["containers"] = m["spec"]["containers"][:1]
    assert strategic.create(o, m, "V1Pod") == {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["f2"], "$setElementOrder/finalizers": ["f3", "f1"]},
        "spec": {"$setElementOrder/containers": [{"name": "a"}],
                 "containers": [{"name": "b", "$patch": "delete"}, {"name": "c", "$patch": "delete"}]}}


def test_create_then_apply_round_trips():
    rng = random.Random(7)

    def containers(ns):
        out = []
        for n in ns:
            c = {"name": n, "image": rng.choice("xy")}
            env = [{"name": e, "value": rng.choice("12")} for e in rng.sample("PQRS", rng.randint(0, 3))]
            if env:
                c["env"] = env
            out.append(c)
        return out

    for _ in range(200):
        docs = []
        for _ in range(2):
            fin = rng.sample(["f1", "f2", "f3", "f4"], rng.randint(0, 3))
            meta = {"name": "p", "labels": {rng.choice("ab"): rng.choice("12")}}
            if fin:
                meta["finalizers"] = fin
            docs.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                         "spec": {"containers": containers(rng.sample("abcdefg", rng.randint(1, 5)))}})
        original, modified = docs
        patch = strategic.create(original, modified, "V1Pod")
        assert strategic.apply(original, patch, "V1Pod") == modified, patch
