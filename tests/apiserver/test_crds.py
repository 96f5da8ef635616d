"""The CRD controller's decisions: which resources a CRD serves, its status, name conflicts,
and the schema strategy's generation and /status rules."""

from __future__ import annotations

import copy
from typing import Any

from apimachinery.resources import DEFAULT, Registry
from apiserver import crds

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.mizzen.dev"},
    "spec": {
        "group": "example.mizzen.dev", "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
        "versions": [
            {"name": "v1", "served": True, "storage": True,
             "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.count",
                                                      "statusReplicasPath": ".status.count"}},
             "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
             "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                 "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 1},
                                                           "count": {"type": "integer"}}},
                 "status": {"type": "object", "properties": {"count": {"type": "integer"}}}}}}},
            {"name": "v1beta1", "served": True, "storage": False,
             "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}},
            {"name": "v1alpha1", "served": False, "storage": False},
        ],
    },
}


def test_one_resource_per_served_version() -> None:
    got = crds.resources_for(CRD)
    assert [(r.group, r.version, r.plural, r.kind, r.singular_name, r.namespaced) for r in got] == [
        ("example.mizzen.dev", "v1", "widgets", "Widget", "widget", True),
        ("example.mizzen.dev", "v1beta1", "widgets", "Widget", "widget", True)]
    ordered = copy.deepcopy(CRD)
    ordered["spec"]["versions"].reverse()
    assert [r.version for r in crds.resources_for(ordered)] == ["v1", "v1beta1"]
    v1 = got[0]
    assert [s.name for s in v1.subresources] == ["scale", "status"]
    assert v1.short_names == ("wd",) and v1.categories == ("all",) and v1.list_kind == "WidgetList"
    assert v1.printer_columns == [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}]
    assert got[1].subresources == ()


def test_scale_follows_the_crd_paths() -> None:
    v1 = crds.resources_for(CRD)[0]
    obj: dict[str, Any] = {"metadata": {"name": "w", "namespace": "default"}, "spec": {"count": 2}, "status": {"count": 1}}
    scale = v1.scale_of(obj)
    assert scale["spec"] == {"replicas": 2} and scale["status"] == {"replicas": 1}
    v1.set_replicas(obj, 5)
    assert obj["spec"]["count"] == 5


def test_status_accepts_names_and_records_the_storage_version() -> None:
    status = crds.desired_status(CRD, "", "2024-01-01T00:00:00Z")
    assert status["acceptedNames"] == {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"],
                                       "categories": ["all"], "singular": "widget", "listKind": "WidgetList"}
    assert status["storedVersions"] == ["v1"]
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
        ("Established", "True", "InitialNamesAccepted", "the initial names have been accepted")]
    # A fixed point: computing it again from the result changes nothing.
    again = crds.desired_status({**CRD, "status": status}, "", "2030-01-01T00:00:00Z")
    assert again == status


def test_terminating_and_conflicting_crds() -> None:
    deleting = copy.deepcopy(CRD)
    deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    types = [(c["type"], c["status"]) for c in crds.desired_status(deleting, "", "t")["conditions"]]
    assert ("Terminating", "True") in types
    conflict = crds.desired_status(CRD, '"widgets" is already in use', "t")
    assert [(c["type"], c["status"], c["reason"]) for c in conflict["conditions"]] == [
        ("NamesAccepted", "False", "PluralConflict"), ("Established", "False", "NotAccepted")]


def test_name_conflicts() -> None:
    registry = Registry(list(DEFAULT))
    assert crds.name_conflicts(CRD, registry) == ""
    other = copy.deepcopy(CRD)
    other["metadata"]["name"] = "gadgets.example.mizzen.dev"
    for r in crds.resources_for(other):
        registry.add(r)
    assert crds.name_conflicts(CRD, registry) == '"widgets" is already in use'
    apps = copy.deepcopy(CRD)
    apps["spec"]["group"] = "apps"
    apps["spec"]["names"]["plural"] = "deployments"
    assert crds.name_conflicts(apps, registry) == '"deployments" is already in use'


def test_schema_strategy_generation_and_status() -> None:
    v1 = crds.resources_for(CRD)[0]
    s = crds.strategy_for(v1)
    obj: dict[str, Any] = {"metadata": {"name": "w"}, "spec": {"bogus": 1}, "status": {"count": 3}}
    s.prepare_for_create(obj)
    assert obj["spec"] == {"size": 1} and "status" not in obj and obj["metadata"]["generation"] == 1
    new = copy.deepcopy(obj)
    new["status"] = {"count": 2}
    s.prepare_for_update(new, obj)
    assert "status" not in new and new["metadata"]["generation"] == 1  # status ignored on the main resource
    new["spec"]["size"] = 2
    s.prepare_for_update(new, obj)
    assert new["metadata"]["generation"] == 2
    st = copy.deepcopy(obj)
    st["spec"] = {"size": 9}
    st["status"] = {"count": 2}
    s.prepare_for_status_update(st, obj)
    assert st["spec"] == {"size": 1} and st["status"] == {"count": 2}
    assert [c.message for c in s.validate_status({**st, "status": {"count": "x"}}, obj)] == [
        'Invalid value: "string": status.count in body must be of type integer: "string"']


def test_crd_strategy_requires_structural_schemas() -> None:
    res = DEFAULT.by_resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    assert res is not None
    bad = copy.deepcopy(CRD)
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"].pop("type")
    causes = crds.strategy_for(res).validate(bad)
    assert [f"{c.field}: {c.message}" for c in causes] == [
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for "
        "specified object fields",
        "spec.versions[2].schema.openAPIV3Schema: Required value: schemas are required"]


def test_cluster_scoped_crd_and_list_kind() -> None:
    cluster = copy.deepcopy(CRD)
    cluster["spec"]["scope"] = "Cluster"
    cluster["spec"]["names"]["listKind"] = "WidgetCollection"
    r = crds.resources_for(cluster)[0]
    assert not r.namespaced and r.list_kind == "WidgetCollection"
    assert r.path(name="w") == "/apis/example.mizzen.dev/v1/widgets/w"


def test_version_priority() -> None:
    names = ["v1alpha1", "foo", "v1", "v2beta1", "v1beta2", "v2", "v1beta1", "bar"]
    assert sorted(names, key=crds.version_priority) == ["v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1",
                                                       "bar", "foo"]


def test_serving_keeps_the_preferred_version_first_and_unserves() -> None:
    from types import SimpleNamespace

    registry = Registry(list(DEFAULT))
    controller = crds.CRDController(SimpleNamespace(store=None, registry=registry, handlers=None))  # type: ignore[arg-type]
    name = CRD["metadata"]["name"]
    controller.serve(name, crds.resources_for(CRD))
    changed = copy.deepcopy(CRD)
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = "changed"
    generation = registry.generation
    controller.serve(name, crds.resources_for(changed))
    assert registry.generation > generation
    assert registry.versions("example.mizzen.dev") == ["v1", "v1beta1"]
    v1 = registry.by_resource("example.mizzen.dev", "v1", "widgets")
    assert v1 is not None and v1.openapi_schema["description"] == "changed"  # type: ignore[attr-defined]
    generation = registry.generation
    controller.serve(name, crds.resources_for(changed))
    assert registry.generation == generation  # nothing changed: discovery caches stay valid
    controller.unserve(name)
    assert registry.versions("example.mizzen.dev") == [] and registry.lookup("widgets") is None


def test_as_version_changes_only_api_version() -> None:
    v1, v1beta1 = crds.resources_for(CRD)
    assert v1.all_versions == ("v1", "v1beta1")
    raw = b'{"apiVersion":"example.mizzen.dev/v1beta1","kind":"Widget","spec":{"apiVersion":"x"}}'
    assert crds.as_version(v1, raw) == b'{"apiVersion":"example.mizzen.dev/v1","kind":"Widget","spec":{"apiVersion":"x"}}'
    assert crds.as_version(v1beta1, raw) is raw
