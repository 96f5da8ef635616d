"""Tables for the Go type check of built-in objects (apiserver.objects.type_mismatches) and
the words each of Kubernetes' three decoders uses for a refused value: Go's JSON decoder
(create, update, JSON/merge patch), the unstructured converter (strategic merge patch) and
structured-merge-diff (server-side apply)."""

from __future__ import annotations

from typing import Any

import pytest

from apiserver import objects
from apiserver.objects import CONVERT, DECODE, TYPED

QUANTITY = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def deployment(spec: dict[str, Any] | None = None, pod: dict[str, Any] | None = None,
               container: dict[str, Any] | None = None) -> dict[str, Any]:
    c = {"name": "web", "image": "nginx", **(container or {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [c], **(pod or {})}}, **(spec or {})}}


def decode(obj: dict[str, Any], model: str = "V1Deployment") -> str | None:
    found = objects.type_mismatches(obj, model, DECODE)
    return objects.decode_message(found[0]) if found else None


@pytest.mark.parametrize(("obj", "model", "want"), [
    (deployment(), "V1Deployment", None),
    (deployment({"replicas": "x"}), "V1Deployment",
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (deployment({"replicas": 1.5}), "V1Deployment",
     "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (deployment({"replicas": 2**31}), "V1Deployment",
     "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (deployment({"replicas": None}), "V1Deployment", None),  # null is fine everywhere
    (deployment(container={"ports": [{"containerPort": "80"}]}), "V1Deployment",
     "json: cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports."
     "containerPort of type int32"),
    (deployment(pod={"hostNetwork": "yes"}), "V1Deployment",
     "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.hostNetwork of type bool"),
    (deployment(pod={"terminationGracePeriodSeconds": "30"}), "V1Deployment",
     "json: cannot unmarshal string into Go struct field PodSpec.spec.template.spec.terminationGracePeriodSeconds "
     "of type int64"),
    (deployment(pod={"containers": {"name": "web"}}), "V1Deployment",
     "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type "
     "[]v1.Container"),
    (deployment({"template": "x"}), "V1Deployment",
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.template of type v1.PodTemplateSpec"),
    (deployment(container={"args": ["a", 1]}), "V1Deployment",
     "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.args of type "
     "string"),
    # The first error in document order, unless a type with its own decoder fails later.
    (deployment({"replicas": "x", "paused": "no"}), "V1Deployment",
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    (deployment({"replicas": "x"}, container={"resources": {"limits": {"cpu": "one"}}}), "V1Deployment", QUANTITY),
    # Quantities take numbers and quantity strings; IntOrString an int32 or a string.
    (deployment(container={"resources": {"limits": {"cpu": 1, "memory": "1Gi"}, "requests": {"cpu": 0.5}}}),
     "V1Deployment", None),
    ({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}}, "V1Service",
     None),
    ({"spec": {"ports": [{"port": 80, "targetPort": True}]}}, "V1Service",
     "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32"),
    ({"metadata": {"labels": {"version": 1}}}, "V1ConfigMap",
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
    ({"metadata": {"creationTimestamp": 5}}, "V1ConfigMap",
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"),
    ({"data": {"port": 8080}}, "V1ConfigMap",
     "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"),
    ({"data": {"flag": True}}, "V1Secret", "json: cannot unmarshal bool into Go struct field Secret.data of type []uint8"),
    ({"spec": {"template": {"spec": {"nodeSelector": {"disk": ["ssd"]}}}}}, "V1Deployment",
     "json: cannot unmarshal array into Go struct field PodSpec.spec.template.spec.nodeSelector of type string"),
    ({"spec": {"hard": "x"}}, "V1ResourceQuota",
     "json: cannot unmarshal string into Go struct field ResourceQuotaSpec.spec.hard of type v1.ResourceList"),
    # Unknown fields are not this check's business (fieldValidation handles them).
    ({"spec": {"replcias": "x"}}, "V1Deployment", None),
    ({"metadata": {"labels": {"a": "b"}}, "data": {"k": "v", "n": None}}, "V1ConfigMap", None),
])
def test_decode(obj: dict[str, Any], model: str, want: str | None) -> None:
    assert decode(obj, model) == want


@pytest.mark.parametrize(("obj", "want"), [
    (deployment({"replicas": "x"}), "unrecognized type: int32"),
    (deployment({"replicas": True}), "unrecognized type: int32"),
    (deployment({"replicas": 2.0}), None),  # the converter takes a whole float for an int
    (deployment({"replicas": 2.5}), "cannot convert float64 to int32"),
    (deployment(pod={"hostNetwork": "yes"}), "unrecognized type: bool"),
    (deployment(container={"image": 5}), "cannot convert int64 to string"),
    (deployment(container={"image": True}), "unrecognized type: string"),
    (deployment({"template": "x"}), "cannot restore struct from: string"),
    (deployment(pod={"containers": {"name": "web"}}), "cannot restore slice from map"),
    (deployment(pod={"nodeSelector": ["a"]}), "cannot restore map from slice"),
    (deployment(container={"resources": {"limits": {"cpu": "one"}}}), QUANTITY),
    ({"spec": {"ports": [{"port": 80, "targetPort": True}]}}, "json: cannot unmarshal bool into Go value of type int32"),
])
def test_convert(obj: dict[str, Any], want: str | None) -> None:
    model = "V1Service" if "ports" in obj.get("spec", {}) else "V1Deployment"
    found = objects.type_mismatches(obj, model, CONVERT)
    assert (objects.convert_message(found[0]) if found else None) == want


@pytest.mark.parametrize(("obj", "want"), [
    (deployment(), None),
    (deployment({"replicas": "x"}), ".spec.replicas: expected numeric (int or float), got string"),
    (deployment({"replicas": 2.0}), None),
    (deployment(pod={"hostNetwork": "yes"}), ".spec.template.spec.hostNetwork: expected boolean, got &{yes}"),
    (deployment(container={"image": 5}),
     '.spec.template.spec.containers[name="web"].image: expected string, got &value.valueUnstructured{Value:5}'),
    (deployment({"template": "x"}), ".spec.template: expected map, got &{x}"),
    (deployment({"replcias": 1}), ".spec.replcias: field not declared in schema"),
    (deployment({"replicas": "x"}, container={"ports": [{"containerPort": "80"}]}),
     "errors:\n  .spec.replicas: expected numeric (int or float), got string\n"
     '  .spec.template.spec.containers[name="web"].ports[containerPort="80",protocol="TCP"].containerPort: '
     "expected numeric (int or float), got string"),
])
def test_typed(obj: dict[str, Any], want: str | None) -> None:
    found = objects.type_mismatches(obj, "V1Deployment", TYPED)
    assert (objects.typed_message(found) if found else None) == want


@pytest.mark.parametrize(("value", "want"), [
    ({"spec": {"replicas": "x"}}, "map[spec:map[replicas:x]]"),
    ({"b": [1, 2.5, None, True], "a": {}}, "map[a:map[] b:[1 2.5 <nil> true]]"),
])
def test_go_v(value: Any, want: str) -> None:
    assert objects.go_v(value) == want


def test_fields_newer_than_v1_32_are_unknown_fields() -> None:
    """What a v1.32 API server reports (and drops) for a field it does not have yet."""
    pod = {"spec": {"containers": [{"name": "a", "image": "a", "restartPolicyRules": []}]},
           "status": {"observedGeneration": 1}}
    assert objects.unknown_fields(pod, "V1Pod") == ["spec.containers[0].restartPolicyRules", "status.observedGeneration"]
    found = objects.type_mismatches(pod, "V1Pod", TYPED)
    assert objects.typed_message(found) == (
        'errors:\n  .spec.containers[name="a"].restartPolicyRules: field not declared in schema\n'
        "  .status.observedGeneration: field not declared in schema")
