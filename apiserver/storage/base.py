"""The Store protocol: the only thing the API server knows about persistence.

Shaped after k3s's kine: a handful of key/value operations over one global, monotonically
increasing revision. An object's `metadata.resourceVersion` is the revision of its last write,
and the store itself stamps it: the writer assigns the revision, sets
`metadata.resourceVersion`, and encodes the object once. That one encoding (`KeyValue.raw`)
is what GET returns and what every watcher receives, so a read never re-encodes.

Keys: `/registry/<group or "core">/<plural>/<namespace>/<name>` for namespaced objects and
`/registry/<group or "core">/<plural>/<name>` for cluster-scoped ones; a list or watch takes a
prefix ending in `/`.

Rules every driver keeps:
- a write is acknowledged (its coroutine returns) only once it is durable;
- current state and the change log change in one transaction;
- `KeyValue.obj` is shared: callers must never mutate it (copy first);
- watch events are delivered in revision order, without gaps, for every revision after
  `from_revision` that touches the prefix; a revision older than the retained history raises
  CompactedError (the API server answers 410 Expired)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol


class StorageError(Exception):
    pass


class KeyExistsError(StorageError):
    pass


class KeyNotFoundError(StorageError):
    pass


class ConflictError(StorageError):
    """The stored revision is not the expected one."""


class CompactedError(StorageError):
    """The revision asked for is older than the retained history."""

    def __init__(self, requested: int, oldest: int):
        super().__init__(f"revision {requested} is compacted (oldest retained: {oldest})")
        self.requested = requested
        self.oldest = oldest


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    obj: dict[str, Any]  # decoded object; shared and read-only
    raw: bytes  # JSON encoding of obj, metadata.resourceVersion included
    revision: int  # revision of the last write (the resourceVersion)
    create_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETED, `kv` is the last state stamped with the deletion revision
    (as Kubernetes sends it) and `prev` the state before."""

    type: Literal["ADDED", "MODIFIED", "DELETED"]
    kv: KeyValue
    prev: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.revision


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the store revision the list is consistent with
    remaining: int  # how many more keys follow after the last item (0 = complete)


class Watch(Protocol):
    """An open watch: iterate for events; close() to stop. Iteration ends when closed."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def next(self) -> Event | None:
        """The next event; None when interrupt() was called since the last call (so one
        timer per stream can end a wait, rather than a timeout around every wait). Raises
        StopAsyncIteration once closed, CompactedError as iteration does."""
        ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class Store(Protocol):
    @property
    def revision(self) -> int:
        """The current (latest committed) revision."""
        ...

    @property
    def oldest_revision(self) -> int:
        """The oldest revision a watch may still start from."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def failure(self) -> str | None:
        """Why writes cannot succeed now (None: they can). The API server's health checks
        report it as kube-apiserver reports its etcd."""
        ...

    async def get(self, key: str) -> KeyValue | None: ...

    async def list(self, prefix: str, *, limit: int = 0, start_after: str = "", revision: int = 0) -> ListResult:
        """Keys under prefix in key order, after `start_after` (exclusive), at most `limit`
        (0 = all), all at one revision: the current one, or `revision` (a snapshot, as etcd
        serves a paginated list; CompactedError when it is older than the retained history)."""
        ...

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, obj: dict[str, Any]) -> KeyValue:
        """Raises KeyExistsError. `obj` becomes the store's: the caller must not touch it after."""
        ...

    async def update(self, key: str, obj: dict[str, Any], expected_revision: int | None = None) -> KeyValue:
        """Raises KeyNotFoundError, or ConflictError when expected_revision is given and differs."""
        ...

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        """Returns the deleted object stamped with the deletion revision."""
        ...

    def watch(self, prefix: str, from_revision: int) -> Watch:
        """Events after from_revision (exclusive). Raises CompactedError for too-old revisions."""
        ...

    async def compact(self, keep: int) -> int:
        """Drop change-log history, keeping at least the newest `keep` revisions; returns the
        new oldest revision."""
        ...
