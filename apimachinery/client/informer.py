"""Informers: a local, indexed, always-up-to-date copy of one kind of object, and
notifications when it changes (client-go's Reflector + Indexer + SharedInformer in one).

An informer lists (paginated), then watches from the List's resourceVersion with bookmarks,
so that it sees every change exactly once after its first sync:
- the watch ends (server timeout) or the connection drops (API server restart): it watches
  again from the last resourceVersion it saw, with backoff while the server is away;
- the server answers 410 Gone (that resourceVersion was compacted away, or the new server's
  watch cache does not reach back that far): it lists again and emits the *difference*
  between the new List and its cache (adds, updates, and deletes for objects that vanished
  meanwhile), so no handler misses a deletion.

The cache (`Store`) is keyed by `namespace/name` (or `name` for cluster-scoped objects) and
indexed by namespace, controller owner uid, owner uid, `spec.nodeName` and label `key=value`.

Cached objects are shared with every handler and every reader: NEVER mutate one. Copy it
first (`copy_object`) and write the copy to the API server; the cache changes when the
server's watch event comes back. Handlers run on the informer's task, in registration order,
and should only enqueue keys (`WorkQueue.add`): a slow handler delays every later event.

Starting an informer raises the process's garbage-collector thresholds
(`apimachinery.gctune`): a cache of thousands of decoded objects, replaced as watch events
arrive, made CPython's defaults spend about half of a controller process's CPU in collections
that find nothing (JSON objects hold no reference cycles). `mizzen` components tune at start
already; this covers every other program that keeps informers (benchmarks, tests, operators).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from apimachinery.client.rest import TRANSPORT_ERRORS, ApiClient, ResourceRef
from apimachinery.errors import Gone, StatusError
from apimachinery.gctune import tune_for_long_lived_heap
from apimachinery.resources import ResourceInfo

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Indexer = Callable[[Obj], Iterable[str]]

INDEX_NAMESPACE = "namespace"
INDEX_CONTROLLER_UID = "controller-uid"  # the uid of the ownerReference with controller: true
INDEX_OWNER_UID = "owner-uid"  # the uids of every ownerReference (garbage collection)
INDEX_NODE_NAME = "spec.nodeName"
INDEX_LABEL = "label"  # "key=value" for each label


def meta_namespace_key(obj: Obj) -> str:
    """`namespace/name`, or `name` for a cluster-scoped object (client-go's MetaNamespaceKeyFunc)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta.get('name', '')}" if ns else meta.get("name", "")


def split_key(key: str) -> tuple[str | None, str]:
    """`"ns/name"` -> `("ns", "name")`; `"name"` -> `(None, "name")`."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


def copy_object(obj: Obj) -> Obj:
    """A deep copy of a JSON object (faster than copy.deepcopy for API objects)."""
    return orjson.loads(orjson.dumps(obj))


def strip_managed_fields(obj: Obj) -> Obj:
    """A transform for informers: drop `metadata.managedFields` (often half an object's size),
    which controllers never read."""
    meta = obj.get("metadata")
    if meta and "managedFields" in meta:
        meta.pop("managedFields")
    return obj


def index_by_namespace(obj: Obj) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def index_by_controller_uid(obj: Obj) -> list[str]:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller") and ref.get("uid"):
            return [ref["uid"]]
    return []


def index_by_owner_uid(obj: Obj) -> list[str]:
    return [ref["uid"] for ref in (obj.get("metadata") or {}).get("ownerReferences") or () if ref.get("uid")]


def index_by_node_name(obj: Obj) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


def index_by_label(obj: Obj) -> list[str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return [f"{k}={v}" for k, v in labels.items()]


DEFAULT_INDEXERS: dict[str, Indexer] = {
    INDEX_NAMESPACE: index_by_namespace,
    INDEX_CONTROLLER_UID: index_by_controller_uid,
    INDEX_OWNER_UID: index_by_owner_uid,
    INDEX_NODE_NAME: index_by_node_name,
    INDEX_LABEL: index_by_label,
}


class Store:
    """Objects by key, with secondary indexes (client-go's thread-safe store, minus threads).

    Only the informer writes it (`_put`, `_remove`); everyone else reads."""

    def __init__(self, indexers: dict[str, Indexer] | None = None):
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, Indexer] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}
        # The index values each object was filed under, so that an update only touches the
        # index entries that changed (most updates are status writes: none change).
        self._values: dict[str, dict[str, tuple[str, ...]]] = {}
        for name, fn in (DEFAULT_INDEXERS if indexers is None else indexers).items():
            self.add_indexer(name, fn)

    def add_indexer(self, name: str, fn: Indexer) -> None:
        self._indexers[name] = fn
        index: dict[str, set[str]] = {}
        for key, obj in self._items.items():
            values = tuple(fn(obj))
            self._values.setdefault(key, {})[name] = values
            for value in values:
                index.setdefault(value, set()).add(key)
        self._indices[name] = index

    def has_indexer(self, name: str) -> bool:
        return name in self._indexers

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_object(self, namespace: str | None, name: str) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self) -> builtins.list[Obj]:
        return builtins.list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def index_keys(self, index: str, value: str) -> set[str]:
        """Keys of the objects whose `index` function yields `value`."""
        try:
            return set(self._indices[index].get(value, ()))
        except KeyError:
            raise KeyError(f"no index {index!r}") from None

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        """`by_index(INDEX_NAMESPACE, "default")`, `by_index(INDEX_CONTROLLER_UID, rs_uid)`,
        `by_index(INDEX_NODE_NAME, "node-1")`, `by_index(INDEX_LABEL, "app=web")`."""
        try:
            keys = self._indices[index].get(value, ())
        except KeyError:
            raise KeyError(f"no index {index!r}") from None
        return [self._items[k] for k in keys]

    def _put(self, key: str, obj: Obj) -> Obj | None:
        old = self._items.get(key)
        self._items[key] = obj
        old_values = self._values.get(key) or {}
        new_values: dict[str, tuple[str, ...]] = {}
        for name, fn in self._indexers.items():
            values = tuple(fn(obj))
            new_values[name] = values
            before = old_values.get(name, ())
            if values == before:
                continue
            index = self._indices[name]
            for value in before:
                if value not in values:
                    keys = index.get(value)
                    if keys is not None:
                        keys.discard(key)
                        if not keys:
                            del index[value]
            for value in values:
                if value not in before:
                    keys = index.get(value)
                    if keys is None:
                        index[value] = {key}
                    else:
                        keys.add(key)
        self._values[key] = new_values
        return old

    def _remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        for name, values in (self._values.pop(key, None) or {}).items():
            index = self._indices[name]
            for value in values:
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
        return old


Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class _Handlers:
    on_add: Handler | None
    on_update: Handler | None
    on_delete: Handler | None


def _rv(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion") or ""


class _Backoff:
    """0.8 s doubling to 30 s with jitter, reset after a success (client-go's reflector)."""

    def __init__(self, initial: float = 0.8, cap: float = 30.0):
        self.initial, self.cap, self.n = initial, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.initial * (2**self.n))
        self.n = min(self.n + 1, 16)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.n = 0


class Informer:
    """List-then-watch one resource into an indexed `Store` and tell handlers what changed.

    >>> pods = Informer(api, "pods", indexers=None)
    >>> pods.add_handler(on_add=lambda p: q.add(meta_namespace_key(p)), ...)
    >>> pods.start(); await pods.wait_synced()
    >>> pods.store.by_index(INDEX_NODE_NAME, "node-1")
    """

    def __init__(self, client: ApiClient, res: ResourceRef, namespace: str | None = None, *,
                 label_selector: str | None = None, field_selector: str | None = None, resync: float = 0,
                 indexers: dict[str, Indexer] | None = None, page_size: int = 500,
                 watch_timeout: tuple[int, int] = (300, 600), transform: Callable[[Obj], Obj] | None = None):
        self.client = client
        self.resource: ResourceInfo = client.resource(res)
        self.namespace = namespace if self.resource.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync = resync
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        # Applied to every object before it is cached (client-go's TransformFunc), e.g.
        # `strip_managed_fields` to save memory in big caches.
        self.transform = transform
        self.store = Store(indexers)
        self.resource_version: str | None = None  # the last one seen (List, event or bookmark)
        self._handlers: list[_Handlers] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self.lists = 0  # how many times it listed (1 + re-lists after 410 or errors)

    def __repr__(self) -> str:
        return f"<Informer {self.resource.plural}.{self.resource.group or 'core'} ns={self.namespace}>"

    # -- handlers ------------------------------------------------------------------------

    def add_handler(self, on_add: Handler | None = None, on_update: Handler | None = None,
                    on_delete: Handler | None = None) -> None:
        """`on_add(obj)`, `on_update(old, new)`, `on_delete(obj)` (plain functions or
        coroutine functions). A handler added after objects were cached first receives an add
        for each of them, as in client-go."""
        h = _Handlers(on_add, on_update, on_delete)
        self._handlers.append(h)
        if on_add is not None and len(self.store):
            existing = self.store.list()
            if inspect.iscoroutinefunction(on_add):
                async def replay() -> None:
                    for obj in existing:
                        await self._call(on_add, obj)
                asyncio.get_running_loop().create_task(replay())
            else:
                for obj in existing:
                    try:
                        on_add(obj)
                    except Exception:
                        log.exception("%r: add handler failed", self)

    async def _call(self, fn: Handler, *args: Any) -> None:
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%r: handler %s failed", self, getattr(fn, "__qualname__", fn))

    async def _on_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                await self._call(h.on_add, obj)

    async def _on_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                await self._call(h.on_update, old, new)

    async def _on_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                await self._call(h.on_delete, obj)

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        """True once the first List is in the cache and its adds were delivered."""
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def start(self) -> asyncio.Task[None]:
        tune_for_long_lived_heap()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name=repr(self))
        return self._task

    async def stop(self) -> None:
        for task in (self._task, self._resync_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._resync_task = None

    async def run(self) -> None:
        """List and watch until cancelled."""
        backoff = _Backoff()
        need_list = True
        if self.resync > 0 and (self._resync_task is None or self._resync_task.done()):
            self._resync_task = asyncio.get_running_loop().create_task(self._resync_loop())
        while True:
            try:
                if need_list:
                    await self._list_and_sync()
                    need_list = False
                    backoff.reset()
                started = time.monotonic()
                events = await self._watch()
                if events or time.monotonic() - started > 5:
                    backoff.reset()
                else:  # the server ends our watches at once: do not spin
                    await asyncio.sleep(backoff.next())
            except Gone as e:
                log.info("%r: %s; re-listing", self, e)
                need_list = True
            except StatusError as e:
                delay = backoff.next()
                log.warning("%r: %s (HTTP %d); re-listing in %.1fs", self, e, e.code, delay)
                need_list = True
                await asyncio.sleep(delay)
            except TRANSPORT_ERRORS as e:
                delay = backoff.next()
                what = "listing" if need_list else f"watching again from resourceVersion {self.resource_version}"
                log.warning("%r: connection problem (%s: %s); %s in %.1fs", self, type(e).__name__, e, what, delay)
                await asyncio.sleep(delay)
            except ValueError as e:  # a corrupt stream (bad JSON): start over
                delay = backoff.next()
                log.warning("%r: bad response (%s); re-listing in %.1fs", self, e, delay)
                need_list = True
                await asyncio.sleep(delay)

    async def _list_and_sync(self) -> None:
        """List everything and make the cache equal to it, telling handlers the difference."""
        lst = await self.client.list_all(self.resource, self.namespace, label_selector=self.label_selector,
                                         field_selector=self.field_selector, page_size=self.page_size)
        self.lists += 1
        kind, api_version = self.resource.kind, self.resource.api_version
        fresh: dict[str, Obj] = {}
        for obj in lst.get("items") or ():
            # Items of a List carry no kind/apiVersion on the wire; watch events do.
            obj.setdefault("kind", kind)
            obj.setdefault("apiVersion", api_version)
            if self.transform is not None:
                obj = self.transform(obj)
            fresh[meta_namespace_key(obj)] = obj
        for key, obj in fresh.items():
            old = self.store._put(key, obj)
            if old is None:
                await self._on_add(obj)
            elif _rv(old) != _rv(obj):
                await self._on_update(old, obj)
        for key in [k for k in self.store.keys() if k not in fresh]:
            old = self.store._remove(key)
            if old is not None:
                await self._on_delete(old)
        self.resource_version = (lst.get("metadata") or {}).get("resourceVersion") or self.resource_version
        self._synced.set()

    async def _watch(self) -> int:
        """Watch from `resource_version` until the stream ends; the number of events seen."""
        lo, hi = self.watch_timeout
        stream = self.client.watch(self.resource, self.namespace, resource_version=self.resource_version,
                                   label_selector=self.label_selector, field_selector=self.field_selector,
                                   timeout_seconds=random.randint(lo, hi), allow_bookmarks=True)
        n = 0
        async with contextlib.aclosing(stream):
            async for type_, obj in stream:
                n += 1
                rv = _rv(obj)
                if type_ == "BOOKMARK":
                    if rv:
                        self.resource_version = rv
                    continue
                if self.transform is not None:
                    obj = self.transform(obj)
                key = meta_namespace_key(obj)
                if type_ == "DELETED":
                    self.store._remove(key)
                    if rv:
                        self.resource_version = rv
                    await self._on_delete(obj)
                elif type_ in ("ADDED", "MODIFIED"):
                    old = self.store._put(key, obj)
                    if rv:
                        self.resource_version = rv
                    if old is None:
                        await self._on_add(obj)
                    else:
                        await self._on_update(old, obj)
                else:
                    log.warning("%r: unknown watch event type %r", self, type_)
        return n

    async def _resync_loop(self) -> None:
        """Every `resync` seconds, an update(obj, obj) for every cached object (client-go's
        resync: a safety net for controllers that missed acting on something)."""
        while True:
            await asyncio.sleep(self.resync)
            if not self.has_synced:
                continue
            for obj in self.store.list():
                await self._on_update(obj, obj)


class InformerFactory:
    """Shares one informer per (resource, namespace, selectors) between controllers, as
    client-go's SharedInformerFactory does: one List and one watch however many use it."""

    def __init__(self, client: ApiClient, *, resync: float = 0, transform: Callable[[Obj], Obj] | None = None):
        self.client = client
        self.resync = resync
        self.transform = transform
        self._informers: dict[tuple[str, str, str, str | None, str | None, str | None], Informer] = {}

    def informer(self, res: ResourceRef, namespace: str | None = None, *, label_selector: str | None = None,
                 field_selector: str | None = None) -> Informer:
        r = self.client.resource(res)
        key = (r.group, r.version, r.plural, namespace, label_selector, field_selector)
        inf = self._informers.get(key)
        if inf is None:
            inf = self._informers[key] = Informer(self.client, r, namespace, label_selector=label_selector,
                                                  field_selector=field_selector, resync=self.resync,
                                                  transform=self.transform)
        return inf

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer not started yet (call again after adding more)."""
        for inf in self._informers.values():
            inf.start()

    async def wait_synced(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        results = await asyncio.gather(*(inf.wait_synced(timeout) for inf in self._informers.values()))
        return all(results)

    async def stop(self) -> None:
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))


def enqueue_key(add: Callable[[str], Any]) -> dict[str, Callable[..., Any]]:
    """Handlers that enqueue the object's key, for `informer.add_handler(**enqueue_key(q.add))`."""
    return {
        "on_add": lambda obj: add(meta_namespace_key(obj)),
        "on_update": lambda old, new: add(meta_namespace_key(new)),
        "on_delete": lambda obj: add(meta_namespace_key(obj)),
    }


__all__ = [
    "DEFAULT_INDEXERS", "INDEX_CONTROLLER_UID", "INDEX_LABEL", "INDEX_NAMESPACE", "INDEX_NODE_NAME",
    "INDEX_OWNER_UID", "Informer", "InformerFactory", "Store", "copy_object", "enqueue_key",
    "meta_namespace_key", "split_key", "strip_managed_fields",
]
