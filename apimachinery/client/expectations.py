"""Controller expectations, as kube-controller-manager keeps them (pkg/controller/
controller_utils.go): what a controller has asked the API server to create or delete and has
not yet *seen* in its informer.

Why: a ReplicaSet controller that creates 3 pods and reconciles again before the 3 watch
events arrive would count the old cache, find pods missing and create 3 more. So before
writing it records "expect 3 creations for default/web"; the pod informer's handlers call
`creation_observed("default/web")` as each pod appears; until the count reaches zero (or 5
minutes pass, in case an event was lost) `satisfied(key)` is False and the reconcile must not
act on counts. That is what keeps a restarted or fast controller from creating duplicates.

Pure bookkeeping over an injectable clock: no I/O, no waiting, event-loop thread only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

EXPECTATIONS_TIMEOUT = 300.0  # seconds; kube-controller-manager's ExpectationsTimeout (5 min)


@dataclass
class ControlleeExpectations:
    add: int
    delete: int
    timestamp: float

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """Counts of expected creations/deletions per controller key."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, timeout: float = EXPECTATIONS_TIMEOUT):
        self._clock = clock
        self.timeout = timeout
        self._by_key: dict[str, ControlleeExpectations] = {}

    def get(self, key: str) -> ControlleeExpectations | None:
        return self._by_key.get(key)

    def satisfied(self, key: str) -> bool:
        """True when the controller may trust its cache for `key`: nothing is expected (never
        set, or every expected event observed), or the expectations are older than the
        timeout (an event was lost: act again rather than wait forever)."""
        exp = self._by_key.get(key)
        if exp is None or exp.fulfilled():
            return True
        if self._clock() - exp.timestamp > self.timeout:
            log.info("expectations for %s expired (add %d, delete %d still expected)", key, exp.add, exp.delete)
            return True
        return False

    def set(self, key: str, add: int, delete: int) -> None:
        self._by_key[key] = ControlleeExpectations(add, delete, self._clock())

    def expect_creations(self, key: str, n: int) -> None:
        """Replace the record of `key` with "n creations, no deletions" (as kube's
        ExpectCreations does: calling it and then `expect_deletions` keeps only the latter;
        use `set` to expect both at once)."""
        self.set(key, n, 0)

    def expect_deletions(self, key: str, n: int) -> None:
        """Replace the record of `key` with "no creations, n deletions"."""
        self.set(key, 0, n)

    def raise_expectations(self, key: str, add: int, delete: int) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.add += add
            exp.delete += delete

    def lower_expectations(self, key: str, add: int, delete: int) -> None:
        exp = self._by_key.get(key)
        if exp is not None:
            exp.add -= add
            exp.delete -= delete

    def creation_observed(self, key: str) -> None:
        """The informer saw one of the expected creations (or a create failed: the caller
        lowers the expectation for every creation that will never be observed)."""
        self.lower_expectations(key, 1, 0)

    def deletion_observed(self, key: str) -> None:
        self.lower_expectations(key, 0, 1)

    def delete(self, key: str) -> None:
        """Forget `key` (its controller object was deleted)."""
        self._by_key.pop(key, None)


class UIDTrackingControllerExpectations(ControllerExpectations):
    """Deletions tracked by the deleted objects' keys, so that a deletion is counted once
    however many DELETED events (or updates with a deletionTimestamp) announce it
    (kube-controller-manager's UIDTrackingControllerExpectations)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, timeout: float = EXPECTATIONS_TIMEOUT):
        super().__init__(clock=clock, timeout=timeout)
        self._deleting: dict[str, set[str]] = {}

    def expect_deletions(self, key: str, deleted_keys: Iterable[str] | int) -> None:  # type: ignore[override]
        if isinstance(deleted_keys, int):
            raise TypeError("UIDTrackingControllerExpectations.expect_deletions takes the keys to be deleted")
        keys = set(deleted_keys)
        self._deleting[key] = keys
        super().expect_deletions(key, len(keys))

    def expect(self, key: str, creations: int, deleted_keys: Iterable[str]) -> None:
        """Expect `creations` creations and the deletion of `deleted_keys`, together (one
        sync that both creates and deletes, like the DaemonSet controller's)."""
        keys = set(deleted_keys)
        self._deleting[key] = keys
        self.set(key, creations, len(keys))

    def deletion_observed(self, key: str, deleted_key: str | None = None) -> None:  # type: ignore[override]
        keys = self._deleting.get(key)
        if deleted_key is None or keys is None or deleted_key not in keys:
            return
        keys.discard(deleted_key)
        super().deletion_observed(key)

    def pending_deletions(self, key: str) -> frozenset[str]:
        return frozenset(self._deleting.get(key, ()))

    def delete(self, key: str) -> None:
        self._deleting.pop(key, None)
        super().delete(key)
