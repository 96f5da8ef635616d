"""JSON patch (RFC 6902) with Kubernetes' (evanphx/json-patch v4) semantics and messages."""

import copy

import pytest

from apimachinery.patch import PatchError, json_patch

DOC = {"metadata": {"name": "c", "labels": {"a/b": "1", "t~x": "2"}, "finalizers": ["x", "y"]},
       "data": {"a": "1", "b": "2"}}


@pytest.mark.parametrize("ops, path, expected", [
    ([{"op": "add", "path": "/data/c", "value": "3"}], ("data",), {"a": "1", "b": "2", "c": "3"}),
    ([{"op": "add", "path": "/metadata/finalizers/-", "value": "z"}], ("metadata", "finalizers"), ["x", "y", "z"]),
    ([{"op": "add", "path": "/metadata/finalizers/0", "value": "z"}], ("metadata", "finalizers"), ["z", "x", "y"]),
    ([{"op": "add", "path": "/metadata/finalizers/2", "value": "z"}], ("metadata", "finalizers"), ["x", "y", "z"]),
    ([{"op": "add", "path": "/metadata/finalizers/-1", "value": "z"}], ("metadata", "finalizers"), ["x", "y", "z"]),
    ([{"op": "add", "path": "/data", "value": {"n": 1}}], ("data",), {"n": 1}),
    ([{"op": "replace", "path": "/metadata/labels/a~1b", "value": "9"}], ("metadata", "labels"),
     {"a/b": "9", "t~x": "2"}),
    ([{"op": "remove", "path": "/metadata/labels/t~0x"}], ("metadata", "labels"), {"a/b": "1"}),
    ([{"op": "remove", "path": "/metadata/finalizers/-1"}], ("metadata", "finalizers"), ["x"]),
    # Kubernetes' json-patch v4 lets replace create a missing member of an object
    ([{"op": "replace", "path": "/data/zz", "value": "9"}], ("data",), {"a": "1", "b": "2", "zz": "9"}),
    ([{"op": "move", "from": "/data/a", "path": "/data/z"}], ("data",), {"b": "2", "z": "1"}),
    ([{"op": "copy", "from": "/data/a", "path": "/metadata/finalizers/0"}], ("metadata", "finalizers"),
     ["1", "x", "y"]),
    ([{"op": "test", "path": "/data", "value": {"b": "2", "a": "1"}},
      {"op": "add", "path": "/data/t", "value": True}], ("data",), {"a": "1", "b": "2", "t": True}),
    ([{"op": "test", "path": "/data/zz", "value": None}], ("data",), {"a": "1", "b": "2"}),
    ([{"op": "add", "path": "/data/n"}], ("data",), {"a": "1", "b": "2", "n": None}),
    ([], ("data",), {"a": "1", "b": "2"}),
])
def test_operations(ops, path, expected):
    before = copy.deepcopy(DOC)
    out = json_patch.apply(DOC, ops)
    for p in path:
        out = out[p]
    assert out == expected
    assert DOC == before


@pytest.mark.parametrize("ops, detail", [
    ([{"op": "test", "path": "/data/a", "value": "2"}], "testing value /data/a failed: test failed"),
    ([{"op": "test", "path": "/data/a", "value": 1}], "testing value /data/a failed: test failed"),
    ([{"op": "test", "path": "/data/zz", "value": "2"}], "testing value /data/zz failed: test failed"),
    ([{"op": "test", "path": "/spec/zz", "value": 1}],
     "test operation does not apply: is missing path: /spec/zz: missing value"),
    ([{"op": "add", "path": "/spec/x", "value": 1}],
     'add operation does not apply: doc is missing path: "/spec/x": missing value'),
    ([{"op": "add", "path": "/metadata/finalizers/3", "value": 1}],
     "error in add for path: '/metadata/finalizers/3': Unable to access invalid index: 3: invalid index referenced"),
    ([{"op": "add", "path": "/metadata/finalizers/x", "value": 1}],
     "error in add for path: '/metadata/finalizers/x': value was not a proper array index: 'x': "
     'strconv.Atoi: parsing "x": invalid syntax'),
    ([{"op": "remove", "path": "/data/zz"}],
     "error in remove for path: '/data/zz': Unable to remove nonexistent key: zz: missing value"),
    ([{"op": "remove", "path": "/metadata/finalizers/5"}],
     "error in remove for path: '/metadata/finalizers/5': Unable to access invalid index: 5: invalid index referenced"),
    ([{"op": "replace", "path": "/spec/zz", "value": 9}],
     "replace operation does not apply: doc is missing path: /spec/zz: missing value"),
    ([{"op": "move", "from": "/data/q", "path": "/data/z"}],
     "error in move for path: 'q': Unable to remove nonexistent key: q: missing value"),
    ([{"op": "copy", "from": "/nope/a", "path": "/data/c"}],
     "copy operation does not apply: doc is missing from path: /nope/a: missing value"),
    ([{"op": "frob", "path": "/data/a"}], "Unexpected kind: frob"),
    ([{"path": "/data/a"}], "Unexpected kind: unknown"),
    ([{"op": "add", "value": 1}], "add operation failed to decode path: missing value"),
    ([{"op": "add", "path": "/data/ok", "value": 1}, {"op": "test", "path": "/data/a", "value": "x"}],
     "testing value /data/a failed: test failed"),
])
def test_failures_are_422_invalid(ops, detail):
    before = copy.deepcopy(DOC)
    with pytest.raises(PatchError) as e:
        json_patch.apply(DOC, ops)
    assert e.value.code == 422 and e.value.reason == "Invalid"
    assert e.value.message == "the server rejected our request due to an error in our request"
    assert e.value.detail == detail
    assert e.value.status()["details"]["causes"] == [{"reason": "UnexpectedServerResponse", "message": detail}]
    assert DOC == before


def test_malformed_bodies_are_400_and_too_many_operations_413():
    with pytest.raises(PatchError) as e:
        json_patch.apply(DOC, {"op": "add"})
    assert e.value.code == 400
    with pytest.raises(PatchError) as e:
        json_patch.apply(DOC, ["add"])
    assert e.value.code == 400
    ops = [{"op": "test", "path": "/data/a", "value": "1"}] * (json_patch.MAX_OPERATIONS + 1)
    with pytest.raises(PatchError) as e:
        json_patch.apply(DOC, ops)
    assert e.value.code == 413
    assert e.value.message == "The allowed maximum operations in a JSON patch is 10000, got 10001"


def test_added_values_are_copies():
    value = {"k": ["v"]}
    out = json_patch.apply({}, [{"op": "add", "path": "/a", "value": value},
                                {"op": "copy", "from": "/a", "path": "/b"}])
    out["a"]["k"].append("w")
    assert value == {"k": ["v"]} and out["b"] == {"k": ["v"]}
