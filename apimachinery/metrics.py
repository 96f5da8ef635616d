"""A tiny Prometheus registry: counters, gauges and histograms with labels, rendered in the
Prometheus text exposition format (version 0.0.4).

Every mizzen component exposes `/metrics` with the names Kubernetes uses
(`workqueue_depth`, `apiserver_request_total`, ...), so dashboards written for Kubernetes work
unchanged. prometheus_client would do, but it is one more dependency, keeps process-global
state we cannot reset in tests, and locks on every update; this module is a few dicts.

It must never do I/O or block: updating a metric is a dict operation, and `render()` only
builds a string. It is not thread-safe: use it from the event loop only.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

# Prometheus client's default buckets (seconds).
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                                      7.5, 10.0)


def exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """`exponential_buckets(1e-8, 10, 10)` -> 1e-08 ... 10 (client-go's work queue buckets)."""
    return tuple(start * factor**i for i in range(count))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(v: float) -> str:
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _labels(names: Sequence[str], values: Sequence[str], extra: tuple[str, str] | None = None) -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra is not None:
        pairs.append(f'{extra[0]}="{_escape(extra[1])}"')
    return "{" + ",".join(pairs) + "}" if pairs else ""


C = TypeVar("C")


class _Metric(Generic[C]):
    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()):
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], C] = {}

    def labels(self, *values: str, **kw: str) -> C:
        child = None if kw else self._children.get(values)  # the hot path: known label values
        if child is None:
            key = self._key(values, kw)
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self._new_child()
        return child

    def _new_child(self) -> C:  # pragma: no cover - overridden
        raise NotImplementedError

    def _key(self, args: tuple[str, ...], kwargs: dict[str, str]) -> tuple[str, ...]:
        if kwargs:
            if args:
                raise ValueError("pass label values either by position or by name")
            try:
                args = tuple(str(kwargs[n]) for n in self.labelnames)
            except KeyError as e:
                raise ValueError(f"{self.name}: missing label {e}") from None
            if len(kwargs) != len(self.labelnames):
                raise ValueError(f"{self.name}: unexpected labels {sorted(set(kwargs) - set(self.labelnames))}")
        elif len(args) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}")
        return tuple(map(str, args))

    def _header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape(self.documentation)}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError


class _ValueChild:
    __slots__ = ("_value", "fn")

    def __init__(self) -> None:
        self._value = 0.0
        self.fn: Callable[[], float] | None = None

    @property
    def value(self) -> float:
        return float(self.fn()) if self.fn is not None else self._value

    @value.setter
    def value(self, v: float) -> None:
        self._value = v

    def set_function(self, fn: Callable[[], float]) -> None:
        """Compute the value when rendered (gauges of "how long has the oldest item waited")."""
        self.fn = fn

    def inc(self, amount: float = 1.0) -> None:
        if self.fn is None:
            self._value += amount
        else:
            self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)

    def get(self) -> float:
        return self.value


class _ValueMetric(_Metric[_ValueChild]):
    def _new_child(self) -> _ValueChild:
        return _ValueChild()

    def get(self, *values: str, **kw: str) -> float:
        child = self._children.get(self._key(values, kw))
        return child.value if child else 0.0

    def render(self) -> list[str]:
        lines = self._header()
        for key, child in sorted(self._children.items()):
            lines.append(f"{self.name}{_labels(self.labelnames, key)} {_fmt(child.value)}")
        return lines


class Counter(_ValueMetric):
    """Monotonic: `c.labels(name="x").inc()`; without labels `c.inc()`."""

    kind = "counter"

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        self.labels().inc(amount)


class Gauge(_ValueMetric):
    kind = "gauge"

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self.labels().dec(amount)

    def set(self, value: float) -> None:
        self.labels().set(value)


class _HistogramChild:
    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        i = bisect.bisect_left(self.buckets, value)  # the first bound >= value
        if i < len(self.counts):
            self.counts[i] += 1


class Histogram(_Metric[_HistogramChild]):
    kind = "histogram"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 buckets: Iterable[float] = DEFAULT_BUCKETS):
        super().__init__(name, documentation, labelnames)
        self.buckets = tuple(sorted(float(b) for b in buckets if b != math.inf))

    def _new_child(self) -> _HistogramChild:
        return _HistogramChild(self.buckets)

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    def count(self, *values: str, **kw: str) -> int:
        child = self._children.get(self._key(values, kw))
        return child.count if child else 0

    def render(self) -> list[str]:
        lines = self._header()
        for key, child in sorted(self._children.items()):
            cumulative = 0
            for bound, n in zip(child.buckets, child.counts, strict=True):
                cumulative += n
                lines.append(f"{self.name}_bucket{_labels(self.labelnames, key, ('le', _fmt(bound)))} {cumulative}")
            lines.append(f"{self.name}_bucket{_labels(self.labelnames, key, ('le', '+Inf'))} {child.count}")
            lines.append(f"{self.name}_sum{_labels(self.labelnames, key)} {_fmt(child.sum)}")
            lines.append(f"{self.name}_count{_labels(self.labelnames, key)} {child.count}")
        return lines


class Registry:
    """Metrics by name. `counter()`/`gauge()`/`histogram()` return the existing metric of that
    name when there is one (so every work queue shares `workqueue_depth`), and refuse a name
    reused with another type or other labels."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def _get_or_add(self, cls: type, name: str, documentation: str, labelnames: Sequence[str], **kw):
        existing = self._metrics.get(name)
        if existing is not None:
            if type(existing) is not cls or existing.labelnames != tuple(labelnames):
                raise ValueError(f"metric {name} already registered with another type or labels")
            return existing
        metric = cls(name, documentation, labelnames, **kw)
        self._metrics[name] = metric
        return metric

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._get_or_add(Counter, name, documentation, labelnames)

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self._get_or_add(Gauge, name, documentation, labelnames)

    def histogram(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                  buckets: Iterable[float] = DEFAULT_BUCKETS) -> Histogram:
        return self._get_or_add(Histogram, name, documentation, labelnames, buckets=buckets)

    def get(self, name: str) -> _Metric | None:
        return self._metrics.get(name)

    def render(self) -> str:
        """The text format served at `/metrics` (content type
        `text/plain; version=0.0.4; charset=utf-8`)."""
        lines: list[str] = []
        for name in sorted(self._metrics):
            lines.extend(self._metrics[name].render())
        return "\n".join(lines) + "\n" if lines else ""


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The process-wide registry every component registers into and serves.
REGISTRY = Registry()
