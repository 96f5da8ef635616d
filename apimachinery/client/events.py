"""Kubernetes Events from controllers, the scheduler and the kubelet (client-go's
tools/record EventRecorder, writing core/v1 Events).

`recorder.event(obj, "Normal", "ScalingReplicaSet", "Scaled up replica set web-5d9 to 3")`
returns at once: the Event is queued and written by a background task, because recording an
event must never slow down or fail a reconcile. The queue is bounded; when the API server is
down, writes are retried a few times and then dropped with a log line (events are best
effort in Kubernetes too).

Repeats are aggregated as Kubernetes does: the same object, type, reason and message from the
same component within 10 minutes PATCHes the existing Event (`count` + 1, `lastTimestamp`)
instead of creating a new one, so a crash-looping pod yields one Event with `count: 57`,
not 57 Events; and each source+object may emit 25 Events in a burst, then one per 5 minutes
(client-go's spam filter). New Events are named `<object name>.<unix nanoseconds in hex>` like
Kubernetes'.

The correlation logic (`EventCorrelator`, `make_event`) is pure and unit-tested; I/O is in
`EventRecorder._write` only. It never mutates the object it reports on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apimachinery.client.rest import TRANSPORT_ERRORS, ApiClient
from apimachinery.errors import NotFound, StatusError

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
AGGREGATION_WINDOW = 600.0  # seconds: repeats within 10 minutes bump the count
_CACHE_SIZE = 4096  # client-go's maxLruCacheEntries

EventKey = tuple[str, ...]


def rfc3339(t: float) -> str:
    """`2026-01-01T00:00:00Z` (metav1.Time: whole seconds)."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_name(obj_name: str, unix_nanos: int) -> str:
    """Kubernetes' Event name: `<object name>.<hex unix nanos>` (`web-1.17f0c2a9d3e8b6c4`)."""
    return f"{obj_name}.{unix_nanos:x}"


def involved_object(obj: Mapping[str, Any], field_path: str | None = None) -> dict[str, Any]:
    """The ObjectReference of `obj` as an Event's involvedObject."""
    meta = obj.get("metadata") or {}
    ref: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if meta.get("uid"):
        ref["uid"] = meta["uid"]
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


def make_event(obj: Mapping[str, Any], type_: str, reason: str, message: str, *, component: str,
               host: str | None, now: float, field_path: str | None = None) -> dict[str, Any]:
    """A new core/v1 Event about `obj` (count 1). Events about cluster-scoped objects live in
    the `default` namespace, as Kubernetes puts them."""
    ref = involved_object(obj, field_path)
    ts = rfc3339(now)
    source: dict[str, str] = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(ref["name"], int(now * 1e9)), "namespace": ref.get("namespace") or "default"},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": ts,
        "lastTimestamp": ts,
        "count": 1,
        "type": type_,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }


def correlation_key(event: Mapping[str, Any]) -> EventKey:
    """What makes two Events "the same": source, involved object, type, reason, message."""
    ref = event.get("involvedObject") or {}
    src = event.get("source") or {}
    return (src.get("component", ""), src.get("host", ""), ref.get("apiVersion", ""), ref.get("kind", ""),
            ref.get("namespace", ""), ref.get("name", ""), ref.get("uid", ""), event.get("type", ""),
            event.get("reason", ""), event.get("message", ""))


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    first_timestamp: str
    last_seen: float


@dataclass(frozen=True)
class Decision:
    """Create `event` as new, or patch the existing Event `name` to `count`."""

    action: str  # "create" | "patch"
    event: dict[str, Any]
    name: str
    namespace: str
    count: int


def spam_key(event: Mapping[str, Any]) -> EventKey:
    """Events are rate limited per source and involved object (client-go's spam filter)."""
    ref = event.get("involvedObject") or {}
    src = event.get("source") or {}
    return (src.get("component", ""), src.get("host", ""), ref.get("apiVersion", ""), ref.get("kind", ""),
            ref.get("namespace", ""), ref.get("name", ""), ref.get("uid", ""))


class EventCorrelator:
    """Remembers recent Events (an LRU of 4096, like client-go) and decides whether a new one
    is a repeat to aggregate, or spam to drop: each source+object may emit a burst of 25
    Events, then one per 5 minutes (client-go's EventSourceObjectSpamFilter), so a DaemonSet
    creating 1,000 pods writes 25 `SuccessfulCreate` Events, not 1,000."""

    def __init__(self, window: float = AGGREGATION_WINDOW, max_entries: int = _CACHE_SIZE,
                 spam_burst: int = 25, spam_refill_seconds: float = 300.0):
        self.window = window
        self.max_entries = max_entries
        self.spam_burst = spam_burst
        self.spam_refill_seconds = spam_refill_seconds
        self._seen: OrderedDict[EventKey, _Seen] = OrderedDict()
        self._tokens: OrderedDict[EventKey, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def allow(self, event: Mapping[str, Any], now: float) -> bool:
        """Take a token of the event's source+object bucket; False when it is empty (drop)."""
        key = spam_key(event)
        tokens, at = self._tokens.get(key, (float(self.spam_burst), now))
        tokens = min(float(self.spam_burst), tokens + (now - at) / self.spam_refill_seconds)
        allowed = tokens >= 1.0
        self._tokens[key] = (tokens - 1.0 if allowed else tokens, now)
        self._tokens.move_to_end(key)
        while len(self._tokens) > self.max_entries:
            self._tokens.popitem(last=False)
        return allowed

    def decide(self, event: dict[str, Any], now: float) -> Decision:
        key = correlation_key(event)
        seen = self._seen.get(key)
        meta = event["metadata"]
        if seen is not None and now - seen.last_seen <= self.window:
            return Decision("patch", event, seen.name, seen.namespace, seen.count + 1)
        return Decision("create", event, meta["name"], meta["namespace"], 1)

    def record(self, decision: Decision, now: float) -> None:
        """The write of `decision` succeeded."""
        key = correlation_key(decision.event)
        first = decision.event.get("firstTimestamp", "")
        old = self._seen.get(key)
        if decision.action == "patch" and old is not None:
            first = old.first_timestamp
        self._seen[key] = _Seen(decision.name, decision.namespace, decision.count, first, now)
        self._seen.move_to_end(key)
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)

    def forget(self, decision: Decision) -> None:
        self._seen.pop(correlation_key(decision.event), None)


class EventRecorder:
    """Records Events for one component (`deployment-controller`, `default-scheduler`,
    `kubelet` with `host` = the node name)."""

    def __init__(self, client: ApiClient, component: str, host: str | None = None, *, queue_size: int = 1000,
                 retries: int = 3, clock: Callable[[], float] = time.time):
        self.client = client
        self.component = component
        self.host = host
        self.retries = retries
        self._clock = clock
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._correlator = EventCorrelator()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0
        self._full_drops = 0

    def event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str, *,
              field_path: str | None = None) -> None:
        """Queue an Event about `obj` (type "Normal" or "Warning"); never blocks, never raises
        for API problems."""
        if type_ not in (NORMAL, WARNING):
            log.warning("event %s on %s: unsupported type %r", reason, (obj.get("metadata") or {}).get("name"),
                        type_)
            return
        now = self._clock()
        ev = make_event(obj, type_, reason, message, component=self.component, host=self.host,
                        now=now, field_path=field_path)
        if not self._correlator.allow(ev, now):
            self.dropped += 1
            log.debug("event %s on %s dropped by the spam filter", reason, ev["involvedObject"]["name"])
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("event %s dropped: no running event loop", reason)
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.dropped += 1
            self._full_drops += 1
            if self._full_drops == 1 or self._full_drops % 1000 == 0:  # one line, not one per event
                log.warning("event queue full (API server slow or down): dropped %d events so far, latest %s %s "
                            "on %s/%s: %s", self._full_drops, type_, reason,
                            ev["involvedObject"].get("namespace", ""), ev["involvedObject"]["name"], message)
            return
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name=f"events-{self.component}")

    def eventf(self, obj: Mapping[str, Any], type_: str, reason: str, fmt: str, *args: Any) -> None:
        self.event(obj, type_, reason, fmt % args if args else fmt)

    async def _run(self) -> None:
        while True:
            ev = await self._queue.get()
            try:
                await self._write(ev)
            finally:
                self._queue.task_done()

    async def _write(self, ev: dict[str, Any]) -> None:
        for attempt in range(self.retries + 1):
            now = self._clock()
            decision = self._correlator.decide(ev, now)
            try:
                if decision.action == "patch":
                    try:
                        await self.client.patch(
                            "events", decision.name, namespace=decision.namespace,
                            body={"count": decision.count, "lastTimestamp": ev["lastTimestamp"],
                                  "message": ev["message"]})
                    except NotFound:
                        # The Event expired (1 h TTL) or was deleted: start a new one.
                        self._correlator.forget(decision)
                        continue
                else:
                    await self.client.create("events", ev, decision.namespace)
                self._correlator.record(decision, now)
                self.written += 1
                return
            except asyncio.CancelledError:
                raise
            except StatusError as e:
                if e.code < 500 and e.code != 429:
                    log.warning("event %s on %s rejected: %s", ev["reason"], ev["involvedObject"]["name"], e)
                    self.dropped += 1
                    return
                err: BaseException = e
            except TRANSPORT_ERRORS as e:
                err = e
            if attempt < self.retries:
                await asyncio.sleep(min(2.0, 0.25 * 2**attempt))
            else:
                log.warning("event %s on %s dropped, API server unavailable: %s", ev["reason"],
                            ev["involvedObject"]["name"], err)
        self.dropped += 1

    async def flush(self, timeout: float | None = 5.0) -> None:  # noqa: ASYNC109
        """Wait until queued Events are written (or dropped), at most `timeout` seconds."""
        if self._task is None or self._task.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def close(self, timeout: float | None = 5.0) -> None:  # noqa: ASYNC109
        await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
