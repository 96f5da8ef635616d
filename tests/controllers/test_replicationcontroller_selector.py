"""The ReplicationController controller is the ReplicaSet controller with a map selector and
the `v1` kind: these cases pin the differences."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.replicationcontroller.controller import ReplicationControllerController, map_selector

CASES = [
    # (id, spec, pod labels, matches)
    ("exact map", {"selector": {"app": "a"}}, {"app": "a"}, True),
    ("extra pod labels", {"selector": {"app": "a"}}, {"app": "a", "x": "y"}, True),
    ("other value", {"selector": {"app": "a"}}, {"app": "b"}, False),
    ("every key needed", {"selector": {"app": "a", "tier": "db"}}, {"app": "a"}, False),
    ("empty selector falls back to template labels", {"template": {"metadata": {"labels": {"app": "t"}}}},
     {"app": "t"}, True),
    ("template fallback still selects", {"template": {"metadata": {"labels": {"app": "t"}}}}, {"app": "u"}, False),
]


@pytest.mark.parametrize(("spec", "labels", "matches"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_map_selector(spec: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    assert map_selector(spec).matches(labels) is matches


def test_kind_and_resource() -> None:
    c = ReplicationControllerController
    assert (c.kind, c.api_version, c.resource.plural, c.resource.group) == (
        "ReplicationController", "v1", "replicationcontrollers", "")
    assert c.selector_of({"selector": {"a": "b"}}).matches({"a": "b"})
