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


@pytest.mark.parametrize("model, field, present", [
    ("V1Container", "restartPolicyRules", False),  # v1.34: not in v1.32
    ("V1PodStatus", "observedGeneration", False),  # v1.33
    ("V1DeploymentStatus", "terminatingReplicas", False),  # v1.33
    ("V1Container", "resizePolicy", True),
    ("V1PodSpec", "schedulingGates", True),
    ("V1DeploymentSpec", "replicas", True),
])
def test_fields_are_exactly_v1_32s(model, field, present):
    assert (field in schema.fields(model)) is present


@pytest.mark.parametrize("model, field, kind, go", [
    ("V1DeploymentSpec", "replicas", "int32", "int32"),
    ("V1PodSpec", "terminationGracePeriodSeconds", "int64", "int64"),
    ("V1PodSpec", "hostNetwork", "bool", "bool"),
    ("V1PodSpec", "containers", "list", "[]v1.Container"),
    ("V1ObjectMeta", "labels", "map", "map[string]string"),
    ("V1ResourceRequirements", "limits", "map", "v1.ResourceList"),
    ("V1ServicePort", "targetPort", "IntOrString", "intstr.IntOrString"),
    ("V1ObjectMeta", "creationTimestamp", "Time", "v1.Time"),
    ("V1Secret", "data", "map", "map[string][]uint8"),
    ("V1Deployment", "spec", "struct", "v1.DeploymentSpec"),
])
def test_type_table_gives_go_types(model, field, kind, go):
    t = schema.type_table(model)[field]
    assert (t.kind, t.go) == (kind, go)
