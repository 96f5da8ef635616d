"""Table responses: the cells `kubectl get` prints, per kind, as Kubernetes v1.32 computes them."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apimachinery.resources import BUILTIN, DEFAULT, ResourceInfo
from apiserver.registry import tables
from apiserver.registry.printers.format import (
    format_label_selector,
    format_labels,
    human_duration,
    quantity,
)

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def res(name: str) -> ResourceInfo:
    r = DEFAULT.lookup(name)
    assert r is not None, name
    return r


def cells(resource: str, obj: dict) -> list:
    return tables.row(res(resource), obj, NOW)


def by_column(resource: str, obj: dict) -> dict:
    names = [c["name"] for c in tables.column_definitions(res(resource))]
    return dict(zip(names, cells(resource, obj), strict=True))


# ---------------------------------------------------------------------------------------------
# formatters


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"), (123, "2m3s"),
    (599, "9m59s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600 + 4 * 60, "3h4m"), (7 * 3600, "7h"),
    (8 * 3600 + 59 * 60, "8h"), (47 * 3600, "47h"), (2 * 86400 + 3 * 3600, "2d3h"), (3 * 86400, "3d"),
    (10 * 86400, "10d"), (729 * 86400, "729d"), (800 * 86400, "2y70d"), (3 * 365 * 86400, "3y"),
    (3000 * 86400, "8y"),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize(("given", "canonical"), [
    ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"), ("100Ki", "100Ki"), ("512", "512"), ("0.5Ki", "512"),
    ("0.5", "500m"), ("1000", "1k"), ("1500", "1500"), ("2000m", "2"), ("250m", "250m"), ("1.1", "1100m"),
    ("129e6", "129e6"), ("0", "0"), ("0Gi", "0"), ("1G", "1G"), ("1000M", "1G"), (None, "0"), (2, "2"),
    ("0.0000000001", "1n"),
])
def test_quantity_canonical_form(given, canonical):
    assert quantity(given) == canonical


@pytest.mark.parametrize(("selector", "text"), [
    (None, "<none>"), ({}, "<none>"), ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]},
                           {"key": "env", "operator": "NotIn", "values": ["prod"]},
                           {"key": "canary", "operator": "DoesNotExist"},
                           {"key": "app", "operator": "Exists"}]},
     "app,!canary,env notin (prod),tier in (api,web)"),
    ({"matchExpressions": [{"key": "x", "operator": "Near"}]}, "<error>"),
])
def test_label_selector_text(selector, text):
    assert format_label_selector(selector) == text


def test_label_map_text():
    assert format_labels({"z": "1", "a": "2"}) == "a=2,z=1"
    assert format_labels({}) == "<none>"


# ---------------------------------------------------------------------------------------------
# pods


def pod(status: dict | None = None, *, containers=("app",), init=(), meta: dict | None = None,
        spec: dict | None = None) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": ago(600), **(meta or {})},
        "spec": {"containers": [{"name": c, "image": "busybox"} for c in containers],
                 "initContainers": [dict(c) for c in init], **(spec or {})},
        "status": status or {"phase": "Pending"},
    }


def running(name="app", restarts=0, ready=True, last_finished=None):
    cs = {"name": name, "ready": ready, "restartCount": restarts, "started": True,
          "state": {"running": {"startedAt": ago(60)}}}
    if last_finished is not None:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(last_finished)}}
    return cs


def waiting(name="app", reason="ContainerCreating", restarts=0, last_finished=None):
    cs = {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}}
    if last_finished is not None:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(last_finished)}}
    return cs


def terminated(name="app", code=0, reason=None, signal=0):
    t = {"exitCode": code, "finishedAt": ago(30)}
    if reason:
        t["reason"] = reason
    if signal:
        t["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": t}}


READY_TRUE = [{"type": "Ready", "status": "True"}]

POD_CASES = [
    ("pending, nothing reported", pod({"phase": "Pending"}), "0/1", "Pending", "0"),
    ("scheduling gated", pod({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}), "0/1", "SchedulingGated", "0"),
    ("unschedulable keeps Pending", pod({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}), "0/1", "Pending", "0"),
    ("container creating", pod({"phase": "Pending", "containerStatuses": [waiting()]}),
     "0/1", "ContainerCreating", "0"),
    ("running and ready", pod({"phase": "Running", "conditions": READY_TRUE, "containerStatuses": [running()]}),
     "1/1", "Running", "0"),
    ("running, not ready", pod({"phase": "Running", "containerStatuses": [running(ready=False)]}),
     "0/1", "Running", "0"),
    ("crash loop with restarts", pod({"phase": "Running", "containerStatuses": [
        waiting(reason="CrashLoopBackOff", restarts=3, last_finished=10)]}), "0/1", "CrashLoopBackOff", "3 (10s ago)"),
    ("restarted, running again", pod({"phase": "Running", "containerStatuses": [
        running(restarts=2, last_finished=5 * 60)]}), "1/1", "Running", "2 (5m ago)"),
    ("restarts without a last termination", pod({"phase": "Running", "containerStatuses": [
        running(restarts=4)]}), "1/1", "Running", "4"),
    ("image pull backoff", pod({"phase": "Pending", "containerStatuses": [waiting(reason="ImagePullBackOff")]}),
     "0/1", "ImagePullBackOff", "0"),
    ("completed", pod({"phase": "Succeeded", "containerStatuses": [terminated(reason="Completed")]}),
     "0/1", "Completed", "0"),
    ("error", pod({"phase": "Failed", "containerStatuses": [terminated(code=1, reason="Error")]}),
     "0/1", "Error", "0"),
    ("oom killed", pod({"phase": "Running", "containerStatuses": [terminated(code=137, reason="OOMKilled")]}),
     "0/1", "OOMKilled", "0"),
    ("exit code without reason", pod({"phase": "Failed", "containerStatuses": [terminated(code=3)]}),
     "0/1", "ExitCode:3", "0"),
    ("signal without reason", pod({"phase": "Failed", "containerStatuses": [terminated(code=137, signal=9)]}),
     "0/1", "Signal:9", "0"),
    ("one completed, one still running and pod ready", pod(
        {"phase": "Running", "conditions": READY_TRUE,
         "containerStatuses": [terminated("a", reason="Completed"), running("b")]}, containers=("a", "b")),
     "1/2", "Running", "0"),
    ("one completed, one still running, pod not ready", pod(
        {"phase": "Running", "containerStatuses": [terminated("a", reason="Completed"), running("b")]},
        containers=("a", "b")), "1/2", "NotReady", "0"),
    ("the last waiting container's reason wins", pod(
        {"phase": "Pending", "containerStatuses": [waiting("a", "ErrImagePull"), waiting("b", "ContainerCreating")]},
        containers=("a", "b")), "0/2", "ErrImagePull", "0"),
    ("init container running", pod({"phase": "Pending", "initContainerStatuses": [
        {"name": "init", "ready": False, "restartCount": 0, "state": {"running": {}}}],
        "containerStatuses": [waiting(reason="PodInitializing")]}, init=[{"name": "init"}]),
     "0/1", "Init:0/1", "0"),
    ("second of two init containers", pod({"phase": "Pending", "initContainerStatuses": [
        terminated("i1"), {"name": "i2", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]},
        init=[{"name": "i1"}, {"name": "i2"}]), "0/1", "Init:1/2", "0"),
    ("init container failed", pod({"phase": "Pending", "initContainerStatuses": [
        terminated("init", code=1, reason="Error")]}, init=[{"name": "init"}]), "0/1", "Init:Error", "0"),
    ("init container crash looping", pod({"phase": "Pending", "initContainerStatuses": [
        waiting("init", "CrashLoopBackOff", restarts=2, last_finished=20)]}, init=[{"name": "init"}]),
     "0/1", "Init:CrashLoopBackOff", "2 (20s ago)"),
    ("init container exit code", pod({"phase": "Pending", "initContainerStatuses": [terminated("init", code=2)]},
                                     init=[{"name": "init"}]), "0/1", "Init:ExitCode:2", "0"),
    ("sidecar counts as a container", pod({"phase": "Running", "conditions": [
        {"type": "Initialized", "status": "True"}, *READY_TRUE],
        "initContainerStatuses": [running("proxy", restarts=1, last_finished=120)],
        "containerStatuses": [running()]}, init=[{"name": "proxy", "restartPolicy": "Always"}]),
     "2/2", "Running", "1 (2m ago)"),
    ("terminating", pod({"phase": "Running", "conditions": READY_TRUE, "containerStatuses": [running()]},
                        meta={"deletionTimestamp": ago(-30)}), "1/1", "Terminating", "0"),
    ("deleted after it completed stays Completed", pod(
        {"phase": "Succeeded", "containerStatuses": [terminated(reason="Completed")]},
        meta={"deletionTimestamp": ago(-30)}), "0/1", "Completed", "0"),
    ("node lost", pod({"phase": "Running", "reason": "NodeLost", "containerStatuses": [running()]},
                      meta={"deletionTimestamp": ago(-30)}), "1/1", "Unknown", "0"),
    ("evicted", pod({"phase": "Failed", "reason": "Evicted"}), "0/1", "Evicted", "0"),
]


@pytest.mark.parametrize(("obj", "ready", "status", "restarts"), [c[1:] for c in POD_CASES],
                         ids=[c[0] for c in POD_CASES])
def test_pod_ready_status_restarts(obj, ready, status, restarts):
    row = by_column("pods", obj)
    assert (row["Ready"], row["Status"], row["Restarts"]) == (ready, status, restarts)
    assert row["Age"] == "10m"


def test_pod_wide_cells():
    obj = pod({"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
               "nominatedNodeName": "n2", "conditions": [{"type": "example.com/gate", "status": "True"}]},
              spec={"nodeName": "n1", "readinessGates": [{"conditionType": "example.com/gate"},
                                                          {"conditionType": "example.com/other"}]})
    row = by_column("pods", obj)
    assert (row["IP"], row["Node"], row["Nominated Node"], row["Readiness Gates"]) == ("10.0.0.7", "n1", "n2", "1/2")
    bare = by_column("pods", pod())
    assert (bare["IP"], bare["Node"], bare["Nominated Node"], bare["Readiness Gates"]) == ("<none>",) * 4
    # a status written with podIP only (podIPs is filled from it on the way in, in Kubernetes)
    assert by_column("pods", pod({"phase": "Running", "podIP": "10.1.1.1"}))["IP"] == "10.1.1.1"


def test_pod_columns_and_priorities():
    columns = tables.column_definitions(res("pods"))
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1),
        ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert columns[0]["format"] == "name"
    assert all(c["type"] == "string" for c in columns)  # AGE is a pre-formatted string, as in Kubernetes


# ---------------------------------------------------------------------------------------------
# workloads


def test_deployment_row():
    obj = {"metadata": {"name": "web", "creationTimestamp": ago(3 * 3600 + 240)},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"},
                                                         {"name": "log", "image": "busybox"}]}}},
           "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert cells("deployments", obj) == ["web", "2/3", 3, 2, "3h4m", "nginx,log", "nginx:1.27,busybox", "app=web"]
    names = [c["name"] for c in tables.column_definitions(res("deployments"))]
    assert names == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"]


def test_replicaset_daemonset_statefulset_rows():
    rs = {"metadata": {"name": "web-abc", "creationTimestamp": ago(30)},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                   "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
          "status": {"replicas": 3, "readyReplicas": 1}}
    assert cells("replicasets", rs) == ["web-abc", 3, 3, 1, "30s", "c", "i", "app=web"]
    ds = {"metadata": {"name": "agent", "creationTimestamp": ago(86400 * 2 + 3600 * 3)},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                         "containers": [{"name": "a", "image": "agent:1"}]}}},
          "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                     "updatedNumberScheduled": 3, "numberAvailable": 2}}
    assert cells("daemonsets", ds) == ["agent", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "2d3h", "a", "agent:1",
                                       "app=agent"]
    sts = {"metadata": {"name": "db", "creationTimestamp": ago(5)}, "spec": {"replicas": 2},
           "status": {"readyReplicas": 1}}
    assert cells("statefulsets", sts)[:3] == ["db", "1/2", "5s"]


@pytest.mark.parametrize(("conditions", "deleting", "status"), [
    ([], False, "Running"),
    ([{"type": "Complete", "status": "True"}], False, "Complete"),
    ([{"type": "Failed", "status": "True"}], False, "Failed"),
    ([{"type": "Suspended", "status": "True"}], False, "Suspended"),
    ([{"type": "FailureTarget", "status": "True"}], False, "FailureTarget"),
    ([{"type": "Complete", "status": "False"}], True, "Terminating"),
    ([{"type": "Complete", "status": "True"}], True, "Complete"),
])
def test_job_status(conditions, deleting, status):
    meta = {"name": "j", "creationTimestamp": ago(60)}
    if deleting:
        meta["deletionTimestamp"] = ago(0)
    assert by_column("jobs", {"metadata": meta, "status": {"conditions": conditions}})["Status"] == status


def test_job_completions_and_duration():
    job = {"metadata": {"name": "pi", "creationTimestamp": ago(200)},
           "spec": {"completions": 3, "selector": {"matchLabels": {"job-name": "pi"}},
                    "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
           "status": {"succeeded": 3, "startTime": ago(190), "completionTime": ago(67),
                      "conditions": [{"type": "Complete", "status": "True"}]}}
    assert cells("jobs", job) == ["pi", "Complete", "3/3", "2m3s", "3m20s", "pi", "perl", "job-name=pi"]
    running_job = {"metadata": {"name": "w", "creationTimestamp": ago(50)},
                   "spec": {"parallelism": 2}, "status": {"succeeded": 1, "startTime": ago(45)}}
    row = by_column("jobs", running_job)
    assert (row["Completions"], row["Duration"]) == ("1/1 of 2", "45s")
    assert by_column("jobs", {"metadata": {"name": "new"}})["Duration"] == ""


def test_cronjob_row():
    cj = {"metadata": {"name": "nightly", "creationTimestamp": ago(86400 * 10)},
          "spec": {"schedule": "0 3 * * *", "timeZone": "Etc/UTC", "suspend": False,
                   "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "busybox"}]}}}}},
          "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(3600)}}
    assert cells("cronjobs", cj) == ["nightly", "0 3 * * *", "Etc/UTC", "False", 1, "60m", "10d", "b", "busybox",
                                     "<none>"]
    bare = by_column("cronjobs", {"metadata": {"name": "x"}, "spec": {"schedule": "@hourly"}})
    assert (bare["Timezone"], bare["Suspend"], bare["Active"], bare["Last Schedule"]) == ("<none>", "<unset>", 0,
                                                                                           "<none>")


def test_controller_revision_and_pdb_and_hpa():
    cr = {"metadata": {"name": "agent-5d4", "creationTimestamp": ago(10), "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": True}]}, "revision": 2}
    assert cells("controllerrevisions", cr) == ["agent-5d4", "daemonset.apps/agent", 2, "10s"]
    pdb = {"metadata": {"name": "web", "creationTimestamp": ago(10)}, "spec": {"minAvailable": "50%"},
           "status": {"disruptionsAllowed": 1}}
    assert cells("poddisruptionbudgets", pdb) == ["web", "50%", "N/A", 1, "10s"]
    hpa = {"apiVersion": "autoscaling/v2", "metadata": {"name": "web", "creationTimestamp": ago(10)},
           "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10,
                    "metrics": [
                        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                   "averageUtilization": 50}}},
                        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                                      "averageValue": "1024Mi"}}},
                        {"type": "Pods", "pods": {"target": {"averageValue": "1k"}}}]},
           "status": {"currentReplicas": 2, "currentMetrics": [
               {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}}
    assert cells("horizontalpodautoscalers", hpa) == [
        "web", "Deployment/web", "cpu: 12%/50%, memory: <unknown>/1Gi + 1 more...", "1", 10, 2, "10s"]
    pods_metric = {"metadata": {"name": "p"}, "spec": {"maxReplicas": 2, "metrics": [
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue"}}},
        {"type": "External", "external": {"target": {"type": "Value", "value": "10k"}}}]},
        "status": {"currentMetrics": [{"type": "Pods", "pods": {"current": {"averageValue": "1500m"}}},
                                      {"type": "External", "external": {"current": {}}}]}}
    assert by_column("horizontalpodautoscalers", pods_metric)["Targets"] == "1500m/<nil>, <nil>/10k"
    v1 = {"apiVersion": "autoscaling/v1", "metadata": {"name": "old"},
          "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "old"}, "maxReplicas": 3,
                   "targetCPUUtilizationPercentage": 70}}
    assert by_column("horizontalpodautoscalers", v1)["Targets"] == "cpu: <unknown>/70%"


# ---------------------------------------------------------------------------------------------
# services, endpoints, networking


@pytest.mark.parametrize(("spec", "status", "external", "ports"), [
    ({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
      "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}, {}, "<none>", "80/TCP,53/UDP"),
    ({"type": "NodePort", "clusterIP": "10.96.0.11", "ports": [{"port": 80, "nodePort": 30080}]}, {},
     "<none>", "80:30080/TCP"),
    ({"type": "LoadBalancer", "clusterIP": "10.96.0.12", "ports": [{"port": 443, "nodePort": 31443}]}, {},
     "<pending>", "443:31443/TCP"),
    ({"type": "LoadBalancer", "clusterIP": "10.96.0.12", "ports": [{"port": 443}]},
     {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example.com"}]}},
     "203.0.113.9,lb.example.com", "443/TCP"),
    ({"type": "ClusterIP", "clusterIP": "10.96.0.13", "externalIPs": ["198.51.100.1"]}, {}, "198.51.100.1", "<none>"),
    ({"type": "ExternalName", "externalName": "db.example.com"}, {}, "db.example.com", "<none>"),
])
def test_service_row(spec, status, external, ports):
    obj = {"metadata": {"name": "svc", "creationTimestamp": ago(42)}, "spec": {**spec, "selector": {"app": "web"}},
           "status": status}
    row = by_column("services", obj)
    assert (row["Type"], row["External-IP"], row["Port(s)"], row["Age"], row["Selector"]) == (
        spec["type"], external, ports, "42s", "app=web")
    assert row["Cluster-IP"] == spec.get("clusterIP", "<none>")


def test_headless_service_shows_none():
    obj = {"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}}
    assert by_column("services", obj)["Cluster-IP"] == "None"
    assert by_column("services", {"metadata": {"name": "x"}, "spec": {}})["Selector"] == "<none>"


def test_endpoints_and_endpointslices():
    ep = {"metadata": {"name": "web"}, "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 8080}, {"port": 9090}]}]}
    assert by_column("endpoints", ep)["Endpoints"] == "10.0.0.1:8080,10.0.0.2:8080,10.0.0.1:9090 + 1 more..."
    assert by_column("endpoints", {"metadata": {"name": "none"}})["Endpoints"] == "<none>"
    v6 = {"metadata": {"name": "v6"}, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]}
    assert by_column("endpoints", v6)["Endpoints"] == "[fd00::1]:80"
    es = {"metadata": {"name": "web-x7"}, "addressType": "IPv4", "ports": [{"port": 80, "name": "http"}, {"name": "x"}],
          "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}
    assert cells("endpointslices", es)[:4] == ["web-x7", "IPv4", "80,x", "10.0.0.1,10.0.0.2"]
    empty = {"metadata": {"name": "e"}, "addressType": "IPv4"}
    assert cells("endpointslices", empty)[2:4] == ["<unset>", "<unset>"]


def test_ingress_and_network_policy():
    ing = {"metadata": {"name": "web"}, "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example"]}],
           "rules": [{"host": "a.example"}, {"host": "b.example"}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    assert cells("ingresses", ing)[:5] == ["web", "nginx", "a.example,b.example", "192.0.2.1", "80, 443"]
    assert cells("ingresses", {"metadata": {"name": "x"}, "spec": {}})[:5] == ["x", "<none>", "*", "", "80"]
    np = {"metadata": {"name": "deny"}, "spec": {"podSelector": {}}}
    assert cells("networkpolicies", np)[:2] == ["deny", "<none>"]


# ---------------------------------------------------------------------------------------------
# nodes, namespaces, config, storage


@pytest.mark.parametrize(("conditions", "unschedulable", "status"), [
    ([{"type": "Ready", "status": "True"}], False, "Ready"),
    ([{"type": "Ready", "status": "False"}], False, "NotReady"),
    ([{"type": "Ready", "status": "Unknown"}], False, "NotReady"),
    ([{"type": "MemoryPressure", "status": "False"}], False, "Unknown"),
    ([{"type": "Ready", "status": "True"}], True, "Ready,SchedulingDisabled"),
])
def test_node_status(conditions, unschedulable, status):
    node = {"metadata": {"name": "n1"}, "spec": {"unschedulable": unschedulable}, "status": {"conditions": conditions}}
    assert by_column("nodes", node)["Status"] == status


def test_node_row():
    node = {"metadata": {"name": "n1", "creationTimestamp": ago(86400 * 3), "labels": {
        "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "", "kubernetes.io/role": "edge"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.1.0.4"}],
                   "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                "kernelVersion": "6.1.0", "containerRuntimeVersion": "mizzen://0.1.0"}}}
    assert cells("nodes", node) == ["n1", "Ready", "control-plane,edge,worker", "3d", "v1.32.0", "10.1.0.4", "<none>",
                                    "Debian GNU/Linux 12 (bookworm)", "6.1.0", "mizzen://0.1.0"]
    assert by_column("nodes", {"metadata": {"name": "bare"}})["Roles"] == "<none>"


def test_namespace_configmap_secret_serviceaccount_lease():
    assert cells("namespaces", {"metadata": {"name": "default", "creationTimestamp": ago(5)},
                                "status": {"phase": "Active"}}) == ["default", "Active", "5s"]
    assert cells("configmaps", {"metadata": {"name": "c", "creationTimestamp": ago(5)},
                                "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}) == ["c", 3, "5s"]
    assert cells("secrets", {"metadata": {"name": "s", "creationTimestamp": ago(5)}, "type": "kubernetes.io/tls",
                             "data": {"tls.crt": "", "tls.key": ""}}) == ["s", "kubernetes.io/tls", 2, "5s"]
    assert cells("serviceaccounts", {"metadata": {"name": "default", "creationTimestamp": ago(5)}}) == [
        "default", 0, "5s"]
    assert cells("leases", {"metadata": {"name": "n1", "creationTimestamp": ago(5)},
                            "spec": {"holderIdentity": "n1"}}) == ["n1", "n1", "5s"]


def test_persistent_volumes_and_claims():
    pv = {"metadata": {"name": "pv1", "creationTimestamp": ago(5)},
          "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                   "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local",
                   "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
          "status": {"phase": "Bound"}}
    assert cells("persistentvolumes", pv) == ["pv1", "1Gi", "RWO,RWX", "Retain", "Bound", "default/data", "local",
                                              "<unset>", "", "5s", "Filesystem"]
    pvc = {"metadata": {"name": "data", "creationTimestamp": ago(5)},
           "spec": {"volumeName": "pv1", "storageClassName": "local", "resources": {"requests": {"storage": "1Gi"}}},
           "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}}
    assert cells("persistentvolumeclaims", pvc) == ["data", "Bound", "pv1", "1Gi", "RWO", "local", "<unset>", "5s",
                                                    "<unset>"]
    pending = {"metadata": {"name": "p"}, "spec": {"storageClassName": "local"}, "status": {"phase": "Pending"}}
    assert cells("persistentvolumeclaims", pending)[1:5] == ["Pending", "", "", ""]


def test_storage_class_and_resource_quota():
    sc = {"metadata": {"name": "local", "creationTimestamp": ago(5), "annotations": {
        "storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer"}
    assert cells("storageclasses", sc) == ["local (default)", "rancher.io/local-path", "Delete",
                                           "WaitForFirstConsumer", False, "5s"]
    rq = {"metadata": {"name": "q", "creationTimestamp": ago(5)},
          "status": {"hard": {"pods": "10", "requests.cpu": "2", "limits.memory": "2Gi", "limits.cpu": "4"},
                     "used": {"pods": "3", "requests.cpu": "500m", "limits.memory": "1024Mi"}}}
    assert cells("resourcequotas", rq) == ["q", "5s", "pods: 3/10, requests.cpu: 500m/2",
                                           "limits.cpu: 0/4, limits.memory: 1Gi/2Gi"]


def test_rbac_bindings_and_default_table_kinds():
    rb = {"metadata": {"name": "view", "creationTimestamp": ago(5)},
          "roleRef": {"kind": "ClusterRole", "name": "view"},
          "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Group", "name": "devs"},
                       {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"},
                       {"kind": "User", "name": "bob"}]}
    assert cells("rolebindings", rb) == ["view", "ClusterRole/view", "5s", "alice, bob", "devs", "ci/bot"]
    # kinds Kubernetes has no printer for get the default Name / Created At table
    for kind in ("clusterroles", "roles", "customresourcedefinitions", "limitranges", "csistoragecapacities"):
        columns = tables.column_definitions(res(kind))
        assert [(c["name"], c["type"]) for c in columns] == [("Name", "string"), ("Created At", "date")]
        assert cells(kind, {"metadata": {"name": "admin", "creationTimestamp": "2025-12-31T10:00:00Z"}}) == [
            "admin", "2025-12-31T10:00:00Z"]


@pytest.mark.parametrize(("param_ref", "text"), [
    (None, "<unset>"),
    ({"name": "cfg", "namespace": "ns1"}, "ns1/cfg"),
    ({"name": "cfg"}, "*/cfg"),
    ({"selector": {"matchLabels": {"app": "x"}}},
     "&LabelSelector{MatchLabels:map[string]string{app: x,},MatchExpressions:[]LabelSelectorRequirement{},}"),
])
def test_validating_admission_policy_binding_param_ref(param_ref, text):
    spec = {"policyName": "p"} | ({"paramRef": param_ref} if param_ref else {})
    row = by_column("validatingadmissionpolicybindings", {"metadata": {"name": "b"}, "spec": spec})
    assert (row["PolicyName"], row["ParamRef"]) == ("p", text)


def test_csr_priorityclass_apiservice():
    csr = {"metadata": {"name": "node-csr", "creationTimestamp": ago(5)},
           "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "alice",
                    "expirationSeconds": 86400},
           "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}}
    assert cells("certificatesigningrequests", csr) == ["node-csr", "5s", "kubernetes.io/kube-apiserver-client",
                                                        "alice", "24h", "Approved,Issued"]
    pc = {"metadata": {"name": "high", "creationTimestamp": ago(5)}, "value": 1000, "globalDefault": True,
          "preemptionPolicy": "Never"}
    assert cells("priorityclasses", pc) == ["high", 1000, True, "5s", "Never"]
    api = {"metadata": {"name": "v1beta1.metrics.k8s.io", "creationTimestamp": ago(5)},
           "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
           "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}}
    assert cells("apiservices", api) == ["v1beta1.metrics.k8s.io", "kube-system/metrics-server",
                                         "False (MissingEndpoints)", "5s"]


# ---------------------------------------------------------------------------------------------
# events


def test_core_event_row():
    ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-1.17f", "namespace": "default"},
          "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
          "reason": "BackOff", "message": "Back-off restarting failed container\n", "type": "Warning",
          "source": {"component": "kubelet", "host": "n1"}, "firstTimestamp": ago(300), "lastTimestamp": ago(20),
          "count": 7}
    columns = [c["name"] for c in tables.column_definitions(res("events"))]
    assert columns == ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen",
                       "Count", "Name"]
    assert cells("events", ev) == ["20s", "Warning", "BackOff", "pod/web-1", "spec.containers{app}", "kubelet, n1",
                                   "Back-off restarting failed container", "5m", 7, "web-1.17f"]


def test_events_k8s_io_event_prints_like_a_core_event():
    ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "d.1"},
          "regarding": {"kind": "Deployment", "name": "web"}, "reason": "ScalingReplicaSet",
          "note": "Scaled up replica set web-abc to 3", "type": "Normal", "eventTime": "2026-01-01T11:59:00.000000Z",
          "reportingController": "deployment-controller", "reportingInstance": ""}
    resource = DEFAULT.by_kind("events.k8s.io", "v1", "Event")
    assert resource is not None
    assert tables.row(resource, ev, NOW) == ["60s", "Normal", "ScalingReplicaSet", "deployment/web", "",
                                             "deployment-controller", "Scaled up replica set web-abc to 3", "60s", 1,
                                             "d.1"]
    series = dict(ev, series={"count": 4, "lastObservedTime": "2026-01-01T11:59:50.000000Z"})
    assert tables.row(resource, series, NOW)[0] == "10s"
    assert tables.row(resource, series, NOW)[8] == 4


# ---------------------------------------------------------------------------------------------
# custom resources


PRINTER_COLUMNS = [
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Image", "type": "string", "jsonPath": ".spec.containers[*].image", "priority": 1},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {"name": "Weight", "type": "number", "jsonPath": ".spec.weight", "format": "float"},
    {"name": "Labels", "type": "string", "jsonPath": ".metadata.labels"},
    {"name": "Team", "type": "string", "jsonPath": ".metadata.labels.example\\.com/team"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def test_custom_columns_and_rows():
    crd_resource = ResourceInfo("example.com", "v1", "Rollout", "rollouts")
    columns = tables.column_definitions(crd_resource, PRINTER_COLUMNS)
    assert [c["name"] for c in columns] == ["Name", "Replicas", "Ready", "Image", "Paused", "Weight", "Labels",
                                            "Team", "Age"]
    assert columns[0]["format"] == "name" and columns[3]["priority"] == 1 and columns[5]["format"] == "float"
    assert columns[1]["description"] == "Custom resource definition column (in JSONPath format): .spec.replicas"
    obj = {"apiVersion": "example.com/v1", "kind": "Rollout",
           "metadata": {"name": "r1", "creationTimestamp": ago(90), "labels": {"example.com/team": "a", "b": "c"}},
           "spec": {"replicas": 3, "paused": False, "weight": 2,
                    "containers": [{"image": "web:2"}, {"image": "sidecar:1"}]},
           "status": {"conditions": [{"type": "Progressing", "status": "True"}, {"type": "Ready", "status": "False"}]}}
    assert tables.row(crd_resource, obj, NOW, PRINTER_COLUMNS) == [
        "r1", 3, "False", "web:2", False, 2.0, '{"b":"c","example.com/team":"a"}', "a", "90s"]
    missing = {"metadata": {"name": "r2"}, "spec": {"replicas": "three"}}
    assert tables.row(crd_resource, missing, NOW, PRINTER_COLUMNS) == ["r2"] + [None] * 8


def test_crd_printer_columns_by_version():
    crd = {"spec": {"versions": [{"name": "v1", "additionalPrinterColumns": PRINTER_COLUMNS[:2]},
                                 {"name": "v2"}]}}
    assert tables.crd_printer_columns(crd, "v1") == PRINTER_COLUMNS[:2]
    assert tables.crd_printer_columns(crd, "v2") == []


def test_custom_resource_without_printer_columns_shows_age():
    crd_resource = ResourceInfo("example.com", "v1", "Widget", "widgets")
    assert [c["name"] for c in tables.column_definitions(crd_resource, [])] == ["Name", "Age"]
    assert tables.row(crd_resource, {"metadata": {"name": "w", "creationTimestamp": ago(7)}}, NOW, []) == ["w", "7s"]


# ---------------------------------------------------------------------------------------------
# the Table object


def test_table_shape_with_partial_object_metadata():
    objs = [pod({"phase": "Succeeded", "containerStatuses": [terminated(reason="Completed")]}),
            pod({"phase": "Running", "conditions": READY_TRUE, "containerStatuses": [running()]}, meta={"name": "web-2"})]
    t = tables.table(res("pods"), objs, now=NOW, resource_version="42", continue_="tok", remaining=3)
    assert (t["apiVersion"], t["kind"]) == ("meta.k8s.io/v1", "Table")
    assert t["metadata"] == {"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3}
    assert [c["name"] for c in t["columnDefinitions"]][:3] == ["Name", "Ready", "Status"]
    assert [r["cells"][:3] for r in t["rows"]] == [["web-1", "0/1", "Completed"], ["web-2", "1/1", "Running"]]
    first = t["rows"][0]
    assert first["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": objs[0]["metadata"]}
    assert first["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                    "message": "The pod has completed successfully."}]
    assert "conditions" not in t["rows"][1]


def test_table_include_object_and_headers():
    cm = {"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}}
    full = tables.table(res("configmaps"), [cm], now=NOW, include_object="Object")
    assert full["rows"][0]["object"] == {"apiVersion": "v1", "kind": "ConfigMap", **cm}
    assert full["metadata"] == {}
    none = tables.table(res("configmaps"), [cm], now=NOW, include_object="None", no_headers=True)
    assert none["rows"][0]["object"] is None and none["columnDefinitions"] == []
    assert tables.table(res("apiservices"), [cm], now=NOW, no_headers=True)["columnDefinitions"]  # ignored there
    beta = tables.table(res("configmaps"), [cm], now=NOW, group_version="meta.k8s.io/v1beta1")
    assert beta["apiVersion"] == beta["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"
    with pytest.raises(ValueError, match="includeObject"):
        tables.table(res("configmaps"), [cm], now=NOW, include_object="Everything")
    assert cm == {"metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}}  # not mutated


def test_flowschemas_are_listed_by_precedence():
    fs = [{"metadata": {"name": n}, "spec": {"matchingPrecedence": p, "priorityLevelConfiguration": {"name": "x"}}}
          for n, p in (("global-default", 9900), ("exempt", 1), ("catch-all", 10000), ("b", 1000), ("a", 1000))]
    t = tables.table(res("flowschemas"), fs, now=NOW)
    assert [r["cells"][0] for r in t["rows"]] == ["exempt", "a", "b", "global-default", "catch-all"]


@pytest.mark.parametrize("resource", [r for r in BUILTIN if r.stored], ids=lambda r: f"{r.plural}.{r.group}/{r.version}")
def test_every_builtin_kind_has_one_cell_per_column(resource):
    columns = tables.column_definitions(resource)
    assert any(c["name"] == "Name" and c["format"] == "name" for c in columns)
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in columns)
    for obj in ({"metadata": {"name": "x"}}, {"metadata": {"name": "x", "creationTimestamp": ago(5)},
                                              "spec": {}, "status": {}}):
        assert len(tables.row(resource, obj, NOW)) == len(columns)


@pytest.mark.parametrize(("accept", "version"), [
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
     "application/json", "meta.k8s.io/v1"),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", "meta.k8s.io/v1beta1"),
    ("application/json", None),
    ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", None),
    ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io",
     "meta.k8s.io/v1"),
    ("", None),
])
def test_table_version_from_accept(accept, version):
    assert tables.table_version(accept) == version


# ---------------------------------------------------------------------------------------------
# what the real kubectl prints from these Tables (a minimal fake API server on 127.0.0.1)

KUBECTL = shutil.which("kubectl")


def _rollout_columns() -> list[dict]:
    return [{"name": "Desired", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]


ROLLOUTS = ResourceInfo("example.com", "v1", "Rollout", "rollouts")
DISCOVERY = {
    "/api/v1": ("v1", [("pods", "Pod", True), ("services", "Service", True), ("nodes", "Node", False),
                       ("events", "Event", True)]),
    "/apis/apps/v1": ("apps/v1", [("deployments", "Deployment", True)]),
    "/apis/rbac.authorization.k8s.io/v1": ("rbac.authorization.k8s.io/v1", [("clusterroles", "ClusterRole", False)]),
    "/apis/example.com/v1": ("example.com/v1", [("rollouts", "Rollout", True)]),
}


def _fake_objects(now: dt.datetime) -> dict[str, list[dict]]:
    def before(seconds: float) -> str:
        return (now - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")

    meta = {"namespace": "default", "creationTimestamp": before(600)}
    return {
        "pods": [
            {"metadata": {"name": "web-1", "labels": {"app": "web"}, **meta},
             "spec": {"containers": [{"name": "app"}], "nodeName": "n1"},
             "status": {"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [
                 {"name": "app", "restartCount": 3, "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                  "lastState": {"terminated": {"exitCode": 1, "finishedAt": before(10)}}}]}},
            {"metadata": {"name": "job-x", **meta}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
             "status": {"phase": "Succeeded", "containerStatuses": [
                 {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                 {"name": "b", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}},
        ],
        "services": [{"metadata": {"name": "web", **meta},
                      "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.11", "selector": {"app": "web"},
                               "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}],
        "nodes": [{"metadata": {"name": "n1", "creationTimestamp": before(86400 * 2 + 3600 * 3),
                                "labels": {"node-role.kubernetes.io/control-plane": ""}},
                   "spec": {"unschedulable": True},
                   "status": {"conditions": [{"type": "Ready", "status": "True"}],
                              "addresses": [{"type": "InternalIP", "address": "10.1.0.4"}],
                              "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                           "kernelVersion": "6.1.0-28-amd64",
                                           "containerRuntimeVersion": "mizzen://0.1.0"}}}],
        "events": [{"metadata": {"name": "web-1.1", **meta}, "type": "Warning", "reason": "BackOff",
                    "involvedObject": {"kind": "Pod", "name": "web-1"}, "firstTimestamp": before(300),
                    "lastTimestamp": before(20), "count": 7, "message": "Back-off restarting failed container"}],
        "deployments": [{"metadata": {"name": "web", **meta},
                         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                                  "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}},
                         "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}],
        "clusterroles": [{"metadata": {"name": "admin", "creationTimestamp": "2025-12-31T10:00:00Z"}}],
        "rollouts": [{"metadata": {"name": "canary", **meta}, "spec": {"replicas": 4}, "status": {"phase": "Progressing"}}],
    }


@pytest.fixture
def fake_api():
    now = dt.datetime.now(dt.UTC)
    objects = _fake_objects(now)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _json(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 - http.server's name
            path, _, query = self.path.partition("?")
            if path == "/version":
                return self._json({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "0",
                                   "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z",
                                   "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64"})
            if path == "/api":
                return self._json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
            if path == "/apis":
                groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": "v1"}],
                           "preferredVersion": {"groupVersion": gv, "version": "v1"}}
                          for gv, _ in DISCOVERY.values() if "/" in gv]
                return self._json({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
            if path in DISCOVERY:
                gv, resources = DISCOVERY[path]
                return self._json({"kind": "APIResourceList", "groupVersion": gv, "resources": [
                    {"name": p, "singularName": k.lower(), "namespaced": ns, "kind": k, "verbs": ["get", "list", "watch"],
                     "shortNames": list(getattr(DEFAULT.lookup(f"{p}.{gv.rpartition('/')[0]}"), "short_names", ()))}
                    for p, k, ns in resources]})
            plural = path.rstrip("/").split("/")[-1]
            resource = ROLLOUTS if plural == "rollouts" else DEFAULT.lookup(plural)
            if resource is None or plural not in objects:
                self.send_response(404)
                self.end_headers()
                return None
            columns = _rollout_columns() if resource is ROLLOUTS else None
            version = tables.table_version(self.headers.get("Accept")) or "meta.k8s.io/v1"
            if "watch=true" in query:  # two events, headers only on the first, then the stream ends
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                first = dict(objects[plural][0], status={"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True"}], "containerStatuses": [
                    {"name": "app", "restartCount": 0, "ready": True, "state": {"running": {}}}]})
                for i, obj in enumerate((first, objects[plural][1])):
                    t = tables.table(resource, [obj], now=now, group_version=version, no_headers=i > 0)
                    self.wfile.write(json.dumps({"type": "MODIFIED", "object": t}).encode() + b"\n")
                    self.wfile.flush()
                return None
            include = "Object" if "includeObject=Object" in query else "Metadata"
            return self._json(tables.table(resource, objects[plural], now=now, resource_version="7",
                                           printer_columns=columns, group_version=version, include_object=include))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def kubectl(port: int, home: Path, *args: str) -> str:
    assert KUBECTL is not None
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run([KUBECTL, f"--server=http://127.0.0.1:{port}", f"--cache-dir={home / 'cache'}", *args],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


KUBECTL_CASES = [
    (("get", "pods"), """\
NAME    READY   STATUS             RESTARTS      AGE
web-1   0/1     CrashLoopBackOff   3 (10s ago)   10m
job-x   0/2     Completed          0             10m
"""),
    (("get", "pods", "-o", "wide"), """\
NAME    READY   STATUS             RESTARTS      AGE   IP         NODE     NOMINATED NODE   READINESS GATES
web-1   0/1     CrashLoopBackOff   3 (10s ago)   10m   10.0.0.7   n1       <none>           <none>
job-x   0/2     Completed          0             10m   <none>     <none>   <none>           <none>
"""),
    (("get", "pods", "-A", "--show-labels"), """\
NAMESPACE   NAME    READY   STATUS             RESTARTS      AGE   LABELS
default     web-1   0/1     CrashLoopBackOff   3 (10s ago)   10m   app=web
default     job-x   0/2     Completed          0             10m   <none>
"""),
    (("get", "pods", "--sort-by=.spec.containers[0].name"), """\
NAME    READY   STATUS             RESTARTS      AGE
job-x   0/2     Completed          0             10m
web-1   0/1     CrashLoopBackOff   3 (10s ago)   10m
"""),
    (("get", "svc"), """\
NAME   TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE
web    LoadBalancer   10.96.0.11   <pending>     80:30080/TCP   10m
"""),
    (("get", "nodes", "-o", "wide"), """\
NAME   STATUS                     ROLES           AGE    VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
n1     Ready,SchedulingDisabled   control-plane   2d3h   v1.32.0   10.1.0.4      <none>        Debian GNU/Linux 12 (bookworm)   6.1.0-28-amd64   mizzen://0.1.0
"""),
    (("get", "deploy"), """\
NAME   READY   UP-TO-DATE   AVAILABLE   AGE
web    2/3     3            2           10m
"""),
    (("get", "events"), """\
LAST SEEN   TYPE      REASON    OBJECT      MESSAGE
20s         Warning   BackOff   pod/web-1   Back-off restarting failed container
"""),
    (("get", "clusterroles"), """\
NAME    CREATED AT
admin   2025-12-31T10:00:00Z
"""),
    (("get", "rollouts"), """\
NAME     DESIRED   PHASE         AGE
canary   4         Progressing   10m
"""),
    (("get", "pods", "--watch-only"), """\
NAME    READY   STATUS    RESTARTS   AGE
web-1   1/1     Running   0          10m
job-x   0/2     Completed   0          10m
"""),  # kubectl aligns each watch event on its own, as it does against Kubernetes
]


@pytest.mark.skipif(KUBECTL is None, reason="needs the real kubectl")
@pytest.mark.parametrize(("args", "expected"), KUBECTL_CASES, ids=[" ".join(a) for a, _ in KUBECTL_CASES])
def test_real_kubectl_prints_our_tables(fake_api, tmp_path, args, expected):
    assert kubectl(fake_api, tmp_path, *args) == expected
