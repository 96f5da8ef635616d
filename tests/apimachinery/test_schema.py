"""Schema metadata from the client's models and the patch strategies of built-in kinds."""

import pytest

from apimachinery import schema


@pytest.mark.parametrize("group, version, kind, model", [
    ("apps", "v1", "Deployment", "V1Deployment"),
    ("", "v1", "Pod", "V1Pod"),
    ("", "v1", "Event", "CoreV1Event"),
    ("events.k8s.io", "v1", "Event", "EventsV1Event"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "V2HorizontalPodAutoscaler"),
    ("autoscaling", "v1", "Scale", "V1Scale"),
    ("discovery.k8s.io", "v1", "EndpointSlice", "V1EndpointSlice"),
    ("coordination.k8s.io", "v1", "Lease", "V1Lease"),
    ("policy", "v1", "PodDisruptionBudget", "V1PodDisruptionBudget"),
    ("apps", "v1", "NoSuchKind", None),
])
def test_model_for(group, version, kind, model):
    assert schema.model_for(group, version, kind) == model


def test_fields_use_json_names_and_client_types():
    f = schema.fields("V1PodSpec")
    assert schema.element_model(f["containers"]) == "V1Container"
    assert schema.element_model(f["initContainers"]) == "V1Container"
    assert schema.field_type("V1ObjectMeta", "ownerReferences") is not None
    assert schema.element_model(schema.field_type("V1ObjectMeta", "labels")) is None
    assert schema.field_type("V1Deployment", "spec") == "V1DeploymentSpec"
    assert schema.field_type("V1Deployment", "nope") is None
    assert f["containers"] == "list[V1Container]" and f["nodeSelector"] == "dict(str, str)"
    assert schema.normalize_type("Dict[str, List[V1Foo]]") == "dict(str, list[V1Foo])"
    assert schema.fields("NoSuchModel") == {}


@pytest.mark.parametrize("type_string, model", [
    ("List[V1Container]", "V1Container"),
    ("list[V1Container]", "V1Container"),
    ("Dict[str, V1ResourceRequirements]", "V1ResourceRequirements"),
    ("dict(str, V1ResourceRequirements)", "V1ResourceRequirements"),
    ("V1PodSpec", "V1PodSpec"),
    ("Dict[str, str]", None),
    ("object", None),
    ("str", None),
    (None, None),
])
def test_element_model(type_string, model):
    assert schema.element_model(type_string) == model


@pytest.mark.parametrize("model, field, meta", [
    ("V1PodSpec", "containers", ("merge", "name")),
    ("V1PodSpec", "volumes", ("merge,retainKeys", "name")),
    ("V1PodSpec", "tolerations", None),
    ("V1PodSpec", "topologySpreadConstraints", ("merge", "topologyKey")),
    ("V1Container", "ports", ("merge", "containerPort")),
    ("V1Container", "env", ("merge", "name")),
    ("V1Container", "volumeMounts", ("merge", "mountPath")),
    ("V1Container", "resizePolicy", None),
    ("V1ObjectMeta", "finalizers", ("merge", None)),
    ("V1ObjectMeta", "ownerReferences", ("merge", "uid")),
    ("V1DeploymentSpec", "strategy", ("retainKeys", None)),
    ("V1ServiceSpec", "ports", ("merge", "port")),
    ("V1NodeSpec", "taints", None),
    ("V1NodeStatus", "addresses", ("merge", "type")),
    ("V1PodStatus", "conditions", ("merge", "type")),
    ("V1Role", "rules", None),
    (None, "anything", None),
])
def test_patch_meta(model, field, meta):
    assert schema.patch_meta(model, field) == meta


def test_every_patch_meta_entry_names_a_real_field():
    for model, field in schema.PATCH_META:
        assert field in schema.fields(model), (model, field)
