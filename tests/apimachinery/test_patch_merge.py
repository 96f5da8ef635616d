"""JSON merge patch (RFC 7386), as Kubernetes applies it, and the diff that creates one."""

import copy

import pytest

from apimachinery.patch import PatchError, merge_patch

DOC = {"metadata": {"name": "c", "labels": {"a": "1"}, "finalizers": ["x", "y"]}, "data": {"a": "1", "b": "2"}}


@pytest.mark.parametrize("patch, expected", [
    ({}, DOC),
    ({"data": {"a": None, "c": "3"}}, {**DOC, "data": {"b": "2", "c": "3"}}),
    ({"metadata": {"labels": {"a": None}}}, {**DOC, "metadata": {**DOC["metadata"], "labels": {}}}),
    ({"metadata": {"finalizers": ["q"]}}, {**DOC, "metadata": {**DOC["metadata"], "finalizers": ["q"]}}),
    ({"metadata": {"annotations": {"n": "1", "gone": None}}},
     {**DOC, "metadata": {**DOC["metadata"], "annotations": {"n": "1"}}}),
    ({"data": "x"}, {**DOC, "data": "x"}),
    ({"data": None, "spec": {"replicas": 3}}, {"metadata": DOC["metadata"], "spec": {"replicas": 3}}),
    ({"list": [{"a": None}, None]}, {**DOC, "list": [{}, None]}),
])
def test_apply(patch, expected):
    before = copy.deepcopy(DOC)
    assert merge_patch.apply(DOC, patch) == expected
    assert DOC == before


@pytest.mark.parametrize("patch", [None, 5, "x", True])
def test_null_or_scalar_patch_is_400(patch):
    with pytest.raises(PatchError) as e:
        merge_patch.apply(DOC, patch)
    assert (e.value.code, e.value.reason, e.value.message) == (400, "BadRequest", "Invalid JSON Patch")


def test_array_patch_replaces_document():
    assert merge_patch.apply(DOC, [1, {"a": None}]) == [1, {}]


@pytest.mark.parametrize("original, modified, patch", [
    (DOC, DOC, {}),
    ({"a": 1}, {"a": 2}, {"a": 2}),
    ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
    ({"a": {"x": 1, "y": 2}}, {"a": {"x": 1, "y": 3}}, {"a": {"y": 3}}),
    ({"a": [1, 2]}, {"a": [2, 1]}, {"a": [2, 1]}),
    ({"a": 1}, {"a": True}, {"a": True}),
    ({"a": None}, {"a": {"b": 1}}, {"a": {"b": 1}}),
    ({"spec": {"replicas": 1}}, {"spec": {"replicas": 1}, "status": {}}, {"status": {}}),
])
def test_create(original, modified, patch):
    assert merge_patch.create(original, modified) == patch
    assert merge_patch.apply(original, patch) == modified
