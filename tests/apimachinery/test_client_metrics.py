"""The metrics registry renders the Prometheus text format that Prometheus and Kubernetes
dashboards parse."""

from __future__ import annotations

import pytest

from apimachinery.metrics import Registry, exponential_buckets


def test_counter_gauge_with_labels_render_sorted_with_help_and_type() -> None:
    reg = Registry()
    c = reg.counter("apiserver_request_total", "Counter of apiserver requests.", ["verb", "code"])
    c.labels(verb="GET", code="200").inc()
    c.labels("GET", "200").inc(2)
    c.labels(verb="POST", code="201").inc()
    g = reg.gauge("workqueue_depth", "Current depth of workqueue", ["name"])
    g.labels(name="rs").set(4)
    g.labels(name="rs").dec()
    assert reg.render() == (
        "# HELP apiserver_request_total Counter of apiserver requests.\n"
        "# TYPE apiserver_request_total counter\n"
        'apiserver_request_total{verb="GET",code="200"} 3\n'
        'apiserver_request_total{verb="POST",code="201"} 1\n'
        "# HELP workqueue_depth Current depth of workqueue\n"
        "# TYPE workqueue_depth gauge\n"
        'workqueue_depth{name="rs"} 3\n'
    )


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    reg = Registry()
    h = reg.histogram("d", "durations", buckets=[0.1, 1])
    for v in (0.05, 0.5, 0.7, 3):
        h.observe(v)
    assert reg.render().splitlines()[2:] == [
        'd_bucket{le="0.1"} 1', 'd_bucket{le="1"} 3', 'd_bucket{le="+Inf"} 4', "d_sum 4.25", "d_count 4",
    ]


def test_label_values_are_escaped() -> None:
    reg = Registry()
    reg.counter("c", "x", ["path"]).labels(path='a"b\\c\nd').inc()
    assert 'c{path="a\\"b\\\\c\\nd"} 1' in reg.render()


def test_same_name_returns_the_same_metric_and_conflicts_are_refused() -> None:
    reg = Registry()
    assert reg.counter("c", "x", ["a"]) is reg.counter("c", "x", ["a"])
    with pytest.raises(ValueError):
        reg.gauge("c", "x", ["a"])
    with pytest.raises(ValueError):
        reg.counter("c", "x", ["b"])
    with pytest.raises(ValueError):
        reg.counter("c", "x", ["a"]).labels(b="1")
    with pytest.raises(ValueError):
        reg.counter("n", "x").inc(-1)


def test_exponential_buckets() -> None:
    assert exponential_buckets(1e-8, 10, 10)[-1] == pytest.approx(10.0)
    assert len(exponential_buckets(1, 2, 4)) == 4
