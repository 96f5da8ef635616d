"""Structural-schema validation, defaulting and pruning of custom resources: tables of
objects and the exact messages Kubernetes gives."""

from __future__ import annotations

from typing import Any

import pytest

from apimachinery.errors import Invalid
from apiserver import crd_schema

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 100},
                "color": {"type": "string", "enum": ["red", "blue"], "default": "blue"},
                "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                "port": {"x-kubernetes-int-or-string": True},
                "count": {"type": "integer", "format": "int32"},
                "when": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2,
                         "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                                     "port": {"type": "integer", "default": 80}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "nested": {"type": "object", "default": {},
                           "properties": {"depth": {"type": "integer", "default": 3}}},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def messages(spec: dict[str, Any]) -> list[str]:
    obj = {"apiVersion": "example.mizzen.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}
    return [f"{c.field}: {c.message}" for c in crd_schema.validate(SCHEMA, obj)]


@pytest.mark.parametrize(("spec", "want"), [
    ({"size": 3}, []),
    ({"size": "big"}, ['spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"']),
    ({}, ["spec.size: Required value"]),
    ({"size": 0}, ["spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"]),
    ({"size": 101}, ["spec.size: Invalid value: 101: spec.size in body should be less than or equal to 100"]),
    ({"size": 1, "color": "pink"}, ['spec.color: Unsupported value: "pink": supported values: "red", "blue"']),
    ({"size": 1, "name": "a"}, ['spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long']),
    ({"size": 1, "name": "abcdef"}, ["spec.name: Too long: may not be more than 5 bytes"]),
    ({"size": 1, "name": "AB"}, ["spec.name: Invalid value: \"AB\": spec.name in body should match '^[a-z]+$'"]),
    ({"size": 1, "ratio": 0}, ["spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"]),
    ({"size": 1, "port": 80}, []),
    ({"size": 1, "port": "http"}, []),
    ({"size": 1, "port": True}, ['spec.port: Invalid value: "boolean": spec.port in body must be of type '
                                 'integer,string: "boolean"']),
    ({"size": 1, "count": 2**31}, ["spec.count: Invalid value: 2147483648: spec.count in body must be of type "
                                   "int32: 2147483648"]),
    ({"size": 1, "when": "2024-01-02T03:04:05Z"}, []),
    ({"size": 1, "when": "yesterday"}, ['spec.when: Invalid value: "yesterday": spec.when in body must be of type '
                                        'date-time: "yesterday"']),
    ({"size": 1, "tags": []}, ["spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"]),
    ({"size": 1, "tags": ["a", "b", "c"]}, ["spec.tags: Too many: 3: must have at most 2 items"]),
    ({"size": 1, "tags": ["a", "a"]}, ['spec.tags[1]: Duplicate value: "a"']),
    ({"size": 1, "ports": [{"name": "a"}, {"name": "a"}]}, ['spec.ports[1]: Duplicate value: map[string]interface '
                                                            '{}{"name":"a"}']),
    ({"size": 1, "labels": {"a": 1}}, ['spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of '
                                       'type string: "integer"']),
    ({"size": 1, "template": {"spec": {}}}, ["spec.template.apiVersion: Required value: must not be empty",
                                             "spec.template.kind: Required value: must not be empty"]),
    ({"size": 1.0}, []),  # JSON numbers with no fraction are integers
])
def test_validation_messages(spec: dict[str, Any], want: list[str]) -> None:
    assert messages(spec) == want


def test_the_whole_error_reads_as_kubernetes() -> None:
    causes = crd_schema.validate(SCHEMA, {"spec": {"size": "big"}})
    err = Invalid("Widget", "w", causes, "example.mizzen.dev")
    assert err.message == ('Widget.example.mizzen.dev "w" is invalid: spec.size: Invalid value: "string": '
                           'spec.size in body must be of type integer: "string"')


@pytest.mark.parametrize(("spec", "want"), [
    ({"size": 1}, {"size": 1, "color": "blue", "nested": {"depth": 3}}),
    ({"size": 1, "color": "red", "nested": {"depth": 1}}, {"size": 1, "color": "red", "nested": {"depth": 1}}),
    ({"size": 1, "ports": [{"name": "a"}]}, {"size": 1, "color": "blue", "nested": {"depth": 3},
                                             "ports": [{"name": "a", "port": 80}]}),
])
def test_defaulting(spec: dict[str, Any], want: dict[str, Any]) -> None:
    obj = {"spec": spec}
    crd_schema.default(SCHEMA, obj)
    assert obj["spec"] == want


def test_no_default_without_the_enclosing_object() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "w"}}
    crd_schema.default(SCHEMA, obj)
    assert obj == {"metadata": {"name": "w"}}


@pytest.mark.parametrize(("obj", "unknown", "kept"), [
    ({"spec": {"size": 1, "bogus": 2}}, ["spec.bogus"], {"spec": {"size": 1}}),
    ({"spec": {"size": 1}, "extra": {}}, ["extra"], {"spec": {"size": 1}}),
    ({"spec": {"ports": [{"name": "a", "x": 1}]}}, ["spec.ports[0].x"], {"spec": {"ports": [{"name": "a"}]}}),
    ({"spec": {"free": {"any": {"thing": 1}}}}, [], {"spec": {"free": {"any": {"thing": 1}}}}),
    ({"spec": {"labels": {"a": "b"}}}, [], {"spec": {"labels": {"a": "b"}}}),
    ({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}}, [],
     {"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}}}),
    ({"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": "w"}}, [],
     {"apiVersion": "x/v1", "kind": "Widget", "metadata": {"name": "w"}}),
])
def test_pruning(obj: dict[str, Any], unknown: list[str], kept: dict[str, Any]) -> None:
    assert crd_schema.prune(SCHEMA, obj) == unknown
    assert obj == kept


@pytest.mark.parametrize(("schema", "want"), [
    ({"type": "object", "properties": {"spec": {"type": "object"}}}, []),
    ({"type": "object", "properties": {"spec": {"properties": {}}}},
     ["s.properties[spec].type: Required value: must not be empty for specified object fields"]),
    ({"type": "object", "properties": {"a": {"type": "array"}}}, ["s.properties[a].items: Required value: must be "
                                                                  "specified"]),
    ({"type": "object", "properties": {"a": {"x-kubernetes-preserve-unknown-fields": True}}}, []),
])
def test_structural_errors(schema: dict[str, Any], want: list[str]) -> None:
    assert [f"{c.field}: {c.message}" for c in crd_schema.structural_errors(schema, "s")] == want
