"""The Endpoints controller's decisions: which pods become addresses, under which ports,
ready or not, and when the object needs writing."""

from __future__ import annotations

from typing import Any

import pytest
from ctrl_helpers import T0, pod, ts

from controllers.endpoints import decisions as ed


def svc(ports: list[dict[str, Any]] | None = None, *, selector: dict | None = None, cluster_ip: str = "10.96.0.10",
        publish_not_ready: bool = False, labels: dict | None = None, name: str = "web") -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": "web"} if selector is None else selector, "clusterIP": cluster_ip,
                            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}] if ports is None else ports}
    if publish_not_ready:
        spec["publishNotReadyAddresses"] = True
    return {"metadata": {"name": name, "namespace": "default", "uid": "svc-uid", "creationTimestamp": ts(0),
                         "labels": labels or {}}, "spec": spec}


def web_pod(name: str, ip: str | None, *, ready: bool = True, ports: list[dict] | None = None, node: str = "n1",
            deleting: bool = False, phase: str = "Running", restart: str | None = None) -> dict[str, Any]:
    p = pod(name, ready=ready, node=node, deleting=deleting, phase=phase)
    if ip is not None:
        p["status"]["podIP"] = ip
    if ports is not None:
        p["spec"]["containers"][0]["ports"] = ports
    if restart:
        p["spec"]["restartPolicy"] = restart
    return p


def addr(name: str, ip: str, node: str = "n1") -> dict[str, Any]:
    return {"ip": ip, "nodeName": node,
            "targetRef": {"kind": "Pod", "namespace": "default", "name": name, "uid": "uid-" + name}}


P8080 = {"port": 8080, "protocol": "TCP"}


@pytest.mark.parametrize(("service", "pods", "want"), [
    pytest.param(svc(), [web_pod("a", "10.244.1.2"), web_pod("b", "10.244.0.5")],
                 [{"addresses": [addr("b", "10.244.0.5"), addr("a", "10.244.1.2")], "ports": [P8080]}],
                 id="ready pods sorted by IP"),
    pytest.param(svc(), [web_pod("a", "10.244.1.2"), web_pod("b", "10.244.1.3", ready=False)],
                 [{"addresses": [addr("a", "10.244.1.2")], "notReadyAddresses": [addr("b", "10.244.1.3")],
                   "ports": [P8080]}], id="not ready pods listed apart"),
    pytest.param(svc(), [web_pod("a", None)], [], id="pod without IP skipped"),
    pytest.param(svc(), [web_pod("a", "10.244.1.2", deleting=True)], [], id="terminating pod excluded"),
    pytest.param(svc(publish_not_ready=True), [web_pod("a", "10.244.1.2", deleting=True),
                                               web_pod("b", "10.244.1.3", ready=False)],
                 [{"addresses": [addr("a", "10.244.1.2"), addr("b", "10.244.1.3")], "ports": [P8080]}],
                 id="publishNotReadyAddresses: terminating and unready pods are ready addresses"),
    pytest.param(svc(), [web_pod("a", "10.244.1.2", phase="Succeeded", ready=False)], [], id="terminal pod skipped"),
    pytest.param(svc(), [web_pod("a", "10.244.1.2", ready=False, phase="Pending", restart="Never")],
                 [{"notReadyAddresses": [addr("a", "10.244.1.2")], "ports": [P8080]}],
                 id="unready pending pod that may still start"),
    pytest.param(svc([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]),
                 [web_pod("a", "10.244.1.2", ports=[{"name": "http", "containerPort": 8080}]),
                  web_pod("b", "10.244.1.3", ports=[{"name": "http", "containerPort": 9090}]),
                  web_pod("c", "10.244.1.4", ports=[{"name": "other", "containerPort": 1}])],
                 [{"addresses": [addr("a", "10.244.1.2")], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
                  {"addresses": [addr("b", "10.244.1.3")], "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]}],
                 id="named targetPort resolved per pod; subsets grouped by port"),
    pytest.param(svc([{"name": "a", "port": 80, "targetPort": 8080}, {"name": "b", "port": 443, "targetPort": 8443}]),
                 [web_pod("a", "10.244.1.2")],
                 [{"addresses": [addr("a", "10.244.1.2")],
                   "ports": [{"name": "a", "port": 8080, "protocol": "TCP"}, {"name": "b", "port": 8443, "protocol": "TCP"}]}],
                 id="two ports, one subset"),
    pytest.param(svc([{"port": 53, "protocol": "UDP"}]), [web_pod("a", "10.244.1.2")],
                 [{"addresses": [addr("a", "10.244.1.2")], "ports": [{"port": 53, "protocol": "UDP"}]}],
                 id="missing targetPort means the port"),
    pytest.param(svc([], cluster_ip="None"), [web_pod("a", "10.244.1.2")],
                 [{"addresses": [addr("a", "10.244.1.2")]}], id="headless without ports"),
    pytest.param(svc([]), [web_pod("a", "10.244.1.2")], [], id="cluster IP without ports: nothing"),
])
def test_desired_subsets(service: dict, pods: list[dict], want: list[dict]) -> None:
    assert ed.desired_subsets(service, pods) == want


def test_hostname_when_subdomain_names_the_service() -> None:
    p = web_pod("a", "10.244.1.2")
    p["spec"].update(hostname="h0", subdomain="web")
    (subset,) = ed.desired_subsets(svc(), [p])
    assert subset["addresses"][0]["hostname"] == "h0"


def test_desired_endpoints_create_then_no_change() -> None:
    service = svc(labels={"team": "a"})
    pods = [web_pod("a", "10.244.1.2")]
    created = ed.desired_endpoints(service, pods, None, T0)
    assert created == {"apiVersion": "v1", "kind": "Endpoints",
                       "metadata": {"name": "web", "namespace": "default", "labels": {"team": "a"},
                                    "annotations": {ed.TRIGGER_TIME_ANNOTATION: "2024-05-01T12:00:00Z"}},
                       "subsets": [{"addresses": [addr("a", "10.244.1.2")], "ports": [P8080]}]}
    stored = {**created, "metadata": {**created["metadata"], "resourceVersion": "7"}}
    assert ed.desired_endpoints(service, pods, stored, None) is None


def test_desired_endpoints_update_keeps_resource_version_and_drops_trigger_time() -> None:
    service = svc()
    stored = ed.desired_endpoints(service, [web_pod("a", "10.244.1.2")], None, T0)
    assert stored is not None
    stored["metadata"]["resourceVersion"] = "7"
    out = ed.desired_endpoints(service, [], stored, None)
    assert out is not None
    assert out["metadata"]["resourceVersion"] == "7" and out["subsets"] == []
    assert "annotations" not in out["metadata"]


def test_headless_label_and_labels_follow_the_service() -> None:
    out = ed.desired_endpoints(svc(cluster_ip="None"), [], None, None)
    assert out is not None and out["metadata"]["labels"] == {ed.HEADLESS_LABEL: ""}
    out["metadata"]["resourceVersion"] = "1"
    assert ed.desired_endpoints(svc(cluster_ip="None"), [], out, None) is None
    assert ed.desired_endpoints(svc(labels={"x": "y"}, cluster_ip="None"), [], out, None) is not None


def test_target_ref_resource_version_is_ignored_when_comparing() -> None:
    service = svc()
    pods = [web_pod("a", "10.244.1.2")]
    stored = ed.desired_endpoints(service, pods, None, None)
    assert stored is not None
    stored["subsets"][0]["addresses"][0]["targetRef"]["resourceVersion"] = "42"
    assert ed.desired_endpoints(service, pods, stored, None) is None


def test_over_capacity_truncates_ready_first() -> None:
    pods = [web_pod(f"p{i}", f"10.0.{i // 250}.{i % 250}") for i in range(5)]
    pods += [web_pod("u", "10.1.0.1", ready=False)]
    subsets, truncated = ed.truncate(ed.desired_subsets(svc(), pods), max_capacity=4)
    assert truncated and len(subsets[0]["addresses"]) == 4 and "notReadyAddresses" not in subsets[0]
    out = ed.desired_endpoints(svc(), [web_pod(f"p{i}", f"10.2.{i // 250}.{i % 250}") for i in range(1001)], None, None)
    assert out is not None and out["metadata"]["annotations"] == {ed.OVER_CAPACITY_ANNOTATION: "truncated"}
    assert len(out["subsets"][0]["addresses"]) == 1000


@pytest.mark.parametrize(("target", "container_ports", "want"), [
    (8080, [], 8080),
    ("8080", [], 8080),
    (None, [], 80),
    ("http", [{"name": "http", "containerPort": 9000}], 9000),
    ("http", [{"name": "http", "containerPort": 9000, "protocol": "UDP"}], None),
    ("http", [], None),
])
def test_find_port(target: Any, container_ports: list[dict], want: int | None) -> None:
    sp: dict[str, Any] = {"port": 80, "protocol": "TCP"}
    if target is not None:
        sp["targetPort"] = target
    assert ed.find_port(web_pod("a", "1.2.3.4", ports=container_ports), sp) == want


def test_selects_only_pods_of_its_namespace_and_labels() -> None:
    p = web_pod("a", "1.2.3.4")
    assert ed.selects(svc(), p)
    assert not ed.selects(svc(selector={"app": "db"}), p)
    assert not ed.selects(svc(selector={}), p)  # no selector: no pods
    other = web_pod("b", "1.2.3.5")
    other["metadata"]["namespace"] = "other"
    assert not ed.selects(svc(), other)


def test_trigger_time_tracker_reports_the_earliest_change_once() -> None:
    tracker = ed.TriggerTimeTracker()
    service = svc()
    a = web_pod("a", "1.2.3.4")
    a["status"]["conditions"][0]["lastTransitionTime"] = ts(30)
    assert tracker.compute(service, [a]) == T0  # the Service's creation, first time
    assert tracker.compute(service, [a]) is None  # nothing new
    b = web_pod("b", "1.2.3.5")
    b["status"]["conditions"][0]["lastTransitionTime"] = ts(50)
    a2 = web_pod("a", "1.2.3.4")
    a2["status"]["conditions"][0]["lastTransitionTime"] = ts(60)
    assert ed.format_trigger_time(tracker.compute(service, [a2, b])) == ts(50)  # type: ignore[arg-type]
    tracker.forget("default/web")
    assert tracker.compute(service, [a2, b]) == T0


def test_pod_change_matters() -> None:
    old = web_pod("a", "1.2.3.4")
    old["metadata"]["resourceVersion"] = "1"
    new = web_pod("a", "1.2.3.4")
    new["metadata"]["resourceVersion"] = "2"
    assert not ed.pod_change_matters(old, new)
    new["status"]["podIP"] = "1.2.3.5"
    assert ed.pod_change_matters(old, new)


def test_trigger_time_rollback_reports_the_change_again() -> None:
    tracker = ed.TriggerTimeTracker()
    service = svc()
    a = web_pod("a", "1.2.3.4")
    a["status"]["conditions"][0]["lastTransitionTime"] = ts(30)
    assert tracker.compute(service, []) == T0
    assert ed.format_trigger_time(tracker.compute(service, [a])) == ts(30)  # type: ignore[arg-type]
    tracker.rollback("default/web")  # that write failed
    assert ed.format_trigger_time(tracker.compute(service, [a])) == ts(30)  # type: ignore[arg-type]
    assert tracker.compute(service, [a]) is None
