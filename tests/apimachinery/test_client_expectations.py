"""Controller expectations behave as kube-controller-manager's: a controller waits for the
creations and deletions it made to be observed, or for 5 minutes to pass."""

from __future__ import annotations

import pytest

from apimachinery.client.expectations import ControllerExpectations, UIDTrackingControllerExpectations


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_unknown_key_is_satisfied() -> None:
    assert ControllerExpectations().satisfied("default/web")


@pytest.mark.parametrize(("expect_add", "expect_del", "observed_add", "observed_del", "satisfied"), [
    (3, 0, 0, 0, False),
    (3, 0, 2, 0, False),
    (3, 0, 3, 0, True),
    (3, 0, 4, 0, True),  # more than expected (someone else created one): still satisfied
    (0, 2, 0, 1, False),
    (0, 2, 0, 2, True),
    (0, 0, 0, 0, True),
])
def test_satisfied_once_everything_expected_was_observed(expect_add: int, expect_del: int, observed_add: int,
                                                         observed_del: int, satisfied: bool) -> None:
    e = ControllerExpectations()
    e.set("ns/rs", expect_add, expect_del)
    for _ in range(observed_add):
        e.creation_observed("ns/rs")
    for _ in range(observed_del):
        e.deletion_observed("ns/rs")
    assert e.satisfied("ns/rs") is satisfied


def test_expectations_expire_after_five_minutes() -> None:
    clock = Clock()
    e = ControllerExpectations(clock=clock)
    e.expect_creations("ns/rs", 2)
    clock.now = 299
    assert not e.satisfied("ns/rs")
    clock.now = 301
    assert e.satisfied("ns/rs")


def test_raise_lower_and_delete() -> None:
    e = ControllerExpectations()
    e.expect_creations("k", 1)
    e.raise_expectations("k", 2, 1)
    exp = e.get("k")
    assert exp is not None and (exp.add, exp.delete) == (3, 1)
    e.lower_expectations("k", 3, 1)
    assert e.satisfied("k")
    e.expect_creations("k", 5)
    e.delete("k")
    assert e.get("k") is None and e.satisfied("k")


def test_observations_for_other_keys_do_not_count() -> None:
    e = ControllerExpectations()
    e.expect_creations("a", 1)
    e.creation_observed("b")
    assert not e.satisfied("a")


def test_uid_tracking_counts_each_deleted_pod_once() -> None:
    e = UIDTrackingControllerExpectations()
    e.expect_deletions("ns/rs", ["ns/p1", "ns/p2"])
    e.deletion_observed("ns/rs", "ns/p1")
    e.deletion_observed("ns/rs", "ns/p1")  # a second event for the same pod
    e.deletion_observed("ns/rs", "ns/other")  # not one we deleted
    assert not e.satisfied("ns/rs")
    assert e.pending_deletions("ns/rs") == {"ns/p2"}
    e.deletion_observed("ns/rs", "ns/p2")
    assert e.satisfied("ns/rs")
    e.delete("ns/rs")
    assert e.pending_deletions("ns/rs") == frozenset()


def test_uid_tracking_expect_creations_and_deletions_together() -> None:
    e = UIDTrackingControllerExpectations()
    e.expect("ns/ds", 2, ["ns/old"])
    e.creation_observed("ns/ds")
    e.deletion_observed("ns/ds", "ns/old")
    assert not e.satisfied("ns/ds")  # one creation still expected
    e.creation_observed("ns/ds")
    assert e.satisfied("ns/ds")
