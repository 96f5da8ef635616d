"""The shared validators give Kubernetes' exact messages (k8s.io/apimachinery util/validation
and field.Error bodies)."""

from __future__ import annotations

import pytest

from apimachinery.errors import Cause, Invalid
from apiserver.registry import validation as v

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
QUALIFIED_NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize("value,errors", [
    ("web", []),
    ("web.example.com", []),
    ("Web", [SUBDOMAIN_MSG]),
    ("-web", [SUBDOMAIN_MSG]),
    ("a" * 254, ["must be no more than 253 characters"]),
])
def test_dns1123_subdomain(value: str, errors: list[str]) -> None:
    assert v.is_dns1123_subdomain(value) == errors


@pytest.mark.parametrize("value,errors", [
    ("web-1", []),
    ("web.1", ["must not contain dots"]),
    ("Web", [LABEL_MSG]),
    ("a" * 64, ["must be no more than 63 characters"]),
    ("web\n", [LABEL_MSG]),  # Go's regexp does not let `$` match before a trailing newline
])
def test_dns1123_label(value: str, errors: list[str]) -> None:
    assert v.is_dns1123_label(value) == errors


def test_dns1035_label_rejects_leading_digit() -> None:
    assert v.is_dns1035_label("1web") == [DNS1035_MSG]
    assert v.is_dns1035_label("web1") == []


@pytest.mark.parametrize("value,errors", [
    ("app", []),
    ("app.kubernetes.io/name", []),
    ("a/b/c", ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
               "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
               "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
               "and '/' (e.g. 'example.com/MyName')"]),
    ("/name", ["prefix part must be non-empty"]),
    ("example.com/", ["name part must be non-empty", QUALIFIED_NAME_PART]),
    ("-bad", [QUALIFIED_NAME_PART]),
    ("x" * 64, ["name part must be no more than 63 characters"]),
])
def test_qualified_name(value: str, errors: list[str]) -> None:
    assert v.is_qualified_name(value) == errors


def test_label_value() -> None:
    assert v.is_valid_label_value("") == []
    assert v.is_valid_label_value("v1.2_3") == []
    assert v.is_valid_label_value("bad value") == [LABEL_VALUE_MSG]


def test_field_error_bodies() -> None:
    assert v.required("spec.containers") == Cause("spec.containers", "Required value", "FieldValueRequired")
    assert v.invalid("spec.replicas", -1, "must be greater than or equal to 0").message == \
        "Invalid value: -1: must be greater than or equal to 0"
    assert v.not_supported("spec.restartPolicy", "Sometimes", ["Always", "OnFailure", "Never"]).message == \
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    assert v.duplicate("spec.containers[1].name", "web").message == 'Duplicate value: "web"'
    assert v.forbidden("metadata.namespace", "not allowed on this type").message == \
        "Forbidden: not allowed on this type"
    assert v.too_long("metadata.annotations", 262144).message == "Too long: must have at most 262144 bytes"
    assert v.invalid("x", {"b": "2", "a": "1"}).message == 'Invalid value: map[string]string{"a":"1", "b":"2"}'
    assert v.invalid("x", ["None"]).message == 'Invalid value: []string{"None"}'
    assert v.invalid("x", None).message == "Invalid value: null"
    assert v.invalid("x", True).message == "Invalid value: true"


def test_invalid_error_message_as_kubectl_prints_it() -> None:
    causes = v.validate_object_meta({"name": "Web", "namespace": "default"}, True)
    err = Invalid("Deployment", "Web", causes, "apps")
    assert err.message == f'Deployment.apps "Web" is invalid: metadata.name: Invalid value: "Web": {SUBDOMAIN_MSG}'
    assert err.status()["details"]["causes"] == [
        {"reason": "FieldValueInvalid", "message": f'Invalid value: "Web": {SUBDOMAIN_MSG}', "field": "metadata.name"}]


@pytest.mark.parametrize("meta,namespaced,expected", [
    ({"name": "ok", "namespace": "default"}, True, []),
    ({}, True, [("metadata.name", "Required value: name or generateName is required"),
                ("metadata.namespace", "Required value")]),
    ({"name": "ok", "namespace": "default"}, False, [("metadata.namespace", "Forbidden: not allowed on this type")]),
    ({"generateName": "web-", "name": "web-abcde", "namespace": "default"}, True, []),
    ({"name": "ok", "namespace": "Bad_NS"}, True,
     [("metadata.namespace", f'Invalid value: "Bad_NS": {LABEL_MSG}')]),
    ({"name": "ok", "namespace": "d", "labels": {"app": "bad value"}}, True,
     [("metadata.labels", f'Invalid value: "bad value": {LABEL_VALUE_MSG}')]),
    ({"name": "ok", "namespace": "d", "labels": {"-app": "x"}}, True,
     [("metadata.labels", f'Invalid value: "-app": {QUALIFIED_NAME_PART}')]),
    ({"name": "ok", "namespace": "d", "annotations": {"big": "x" * 262142}}, True,
     [("metadata.annotations", "Too long: must have at most 262144 bytes")]),
    ({"name": "ok", "namespace": "d", "annotations": {"Example.COM/Key": "x"}}, True, []),
    ({"name": "ok", "namespace": "d", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                            "name": "rs"}]}, True,
     [("metadata.ownerReferences.uid", 'Invalid value: "": uid must not be empty')]),
    ({"name": "ok", "namespace": "d", "generation": -1}, True,
     [("metadata.generation", "Invalid value: -1: must be greater than or equal to 0")]),
])
def test_object_meta(meta: dict, namespaced: bool, expected: list[tuple[str, str]]) -> None:
    assert [(c.field, c.message) for c in v.validate_object_meta(meta, namespaced)] == expected


def test_object_meta_update_name_immutable() -> None:
    causes = v.validate_object_meta_update({"name": "b", "namespace": "d"}, {"name": "a", "namespace": "d"})
    assert [(c.field, c.message) for c in causes] == [("metadata.name", 'Invalid value: "b": field is immutable')]


@pytest.mark.parametrize("selector,expected", [
    ({"matchLabels": {"app": "web"}}, []),
    ({"matchExpressions": [{"key": "tier", "operator": "In"}]},
     [("spec.selector.matchExpressions[0].values",
       "Required value: must be specified when `operator` is 'In' or 'NotIn'")]),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]},
     [("spec.selector.matchExpressions[0].values",
       "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'")]),
    ({"matchExpressions": [{"key": "tier", "operator": "Like"}]},
     [("spec.selector.matchExpressions[0].operator", 'Invalid value: "Like": not a valid selector operator')]),
])
def test_label_selector(selector: dict, expected: list[tuple[str, str]]) -> None:
    assert [(c.field, c.message) for c in v.validate_label_selector(selector, "spec.selector")] == expected


@pytest.mark.parametrize("selector,labels,matches", [
    ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}, {"tier": "b"}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "x"}, False),
])
def test_selector_matches(selector: dict, labels: dict, matches: bool) -> None:
    assert v.selector_matches(selector, labels) is matches


@pytest.mark.parametrize("value,canonical", [
    ("1", "1"), ("1000m", "1"), ("500m", "500m"), ("0.5", "500m"), ("1500m", "1500m"), ("2000", "2k"),
    ("1Gi", "1Gi"), ("1536Mi", "1536Mi"), ("1.5Gi", "1536Mi"), ("0.5Ki", "512"), ("128974848", "128974848"),
    ("1e3", "1e3"), (2, "2"), ("0", "0"), ("100M", "100M"),
])
def test_canonical_quantity(value: object, canonical: str) -> None:
    assert v.canonical_quantity(value) == canonical


@pytest.mark.parametrize("value", ["1.2.3", "abc", "1Zi", " 1", "--1"])
def test_malformed_quantities(value: str) -> None:
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        v.parse_quantity(value)


def test_port_name_and_number() -> None:
    assert v.is_valid_port_name("http") == []
    assert v.is_valid_port_name("80") == ["must contain at least one letter (a-z)"]
    assert v.is_valid_port_name("http--x") == ["must not contain consecutive hyphens"]
    assert v.is_valid_port_num(0) == ["must be between 1 and 65535, inclusive"]
    assert v.is_valid_port_num(65535) == []


def test_config_map_key() -> None:
    assert v.is_config_map_key("app.properties") == []
    assert v.is_config_map_key("..data") == ["must not start with '..'"]
    assert v.is_config_map_key("a b") == [
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
        "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]
