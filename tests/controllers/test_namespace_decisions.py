from ctrl_helpers import T0

from controllers.namespace import decisions as nd


def test_namespaced_resources_cover_workloads_once():
    plurals = [(r.group, r.plural) for r in nd.namespaced_resources()]
    assert len(plurals) == len(set(plurals))
    for want in [("", "pods"), ("apps", "deployments"), ("apps", "replicasets"), ("", "configmaps"),
                 ("", "secrets"), ("", "services"), ("apps", "controllerrevisions"), ("", "events"),
                 ("coordination.k8s.io", "leases"), ("autoscaling", "horizontalpodautoscalers")]:
        assert want in plurals
    assert ("", "nodes") not in plurals and ("", "namespaces") not in plurals
    assert ("", "bindings") not in plurals  # not stored


def test_crd_resources():
    crds = [{"spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"},
                      "versions": [{"name": "v1beta1", "served": True, "storage": False},
                                   {"name": "v1", "served": True, "storage": True}]}},
            {"spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Thing", "plural": "things"},
                      "versions": [{"name": "v1", "served": True, "storage": True}]}}]
    out = nd.crd_resources(crds)
    assert [(r.group, r.version, r.plural) for r in out] == [("example.com", "v1", "widgets")]


def _conds(st):
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in st["conditions"]}


def test_terminating_status_with_content():
    st = nd.terminating_status({"status": {"phase": "Active"}}, {"pods": 2}, [], {"example.com/x": 1}, T0)
    assert st["phase"] == "Terminating"
    c = _conds(st)
    assert c["NamespaceContentRemaining"] == ("True", "SomeResourcesRemain",
                                              "Some resources are remaining: pods has 2 resource instances")
    assert c["NamespaceFinalizersRemaining"][0] == "True"
    assert c["NamespaceDeletionContentFailure"][1] == "ContentDeleted"


def test_terminating_status_empty():
    c = _conds(nd.terminating_status({}, {}, [], {}, T0))
    assert c["NamespaceContentRemaining"] == ("False", "ContentRemoved", "All content successfully removed")


def test_finalized():
    ns = {"metadata": {"name": "x"}, "spec": {"finalizers": ["kubernetes", "other"]}}
    assert nd.finalized(ns)["spec"]["finalizers"] == ["other"]
    assert ns["spec"]["finalizers"] == ["kubernetes", "other"]
    assert nd.finalized({"spec": {"finalizers": []}}) is None
