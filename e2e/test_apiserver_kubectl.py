"""The API server driven by the real kubectl, as a user would: apply, get, describe, label,
annotate, patch, replace, scale, delete, explain, api-resources."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from mizzen.testing import Cluster

pytestmark = pytest.mark.e2e
MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"


def ns(c: Cluster, name: str) -> str:
    c.kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
    return name


def test_version_and_namespaces(apiserver: Cluster) -> None:
    out = apiserver.kubectl("version", "-o", "json").out
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "32")
    got = apiserver.kubectl("get", "namespaces").out.split("\n")
    assert got[0].split() == ["NAME", "STATUS", "AGE"]
    names = {line.split()[0] for line in got[1:] if line}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    labels = json.loads(apiserver.kubectl("get", "ns", "default", "-o", "json").out)["metadata"]["labels"]
    assert labels["kubernetes.io/metadata.name"] == "default"


def test_apply_create_change_unchanged(apiserver: Cluster) -> None:
    n = ns(apiserver, "apply-test")
    f = str(MANIFESTS / "basics" / "web.yaml")
    out = apiserver.kubectl("apply", "-n", n, "-f", f).out
    assert "configmap/web-config created" in out
    assert "deployment.apps/web created" in out
    assert "service/web created" in out
    again = apiserver.kubectl("apply", "-n", n, "-f", f).out
    assert "deployment.apps/web unchanged" in again and "configmap/web-config unchanged" in again
    docs = list(yaml.safe_load_all(Path(f).read_text()))
    docs[1]["spec"]["replicas"] = 3
    docs[1]["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.36"
    changed = apiserver.kubectl("apply", "-n", n, "-f", "-", input=yaml.safe_dump_all(docs)).out
    assert "deployment.apps/web configured" in changed
    d = json.loads(apiserver.kubectl("get", "-n", n, "deployment", "web", "-o", "json").out)
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert d["metadata"]["generation"] == 2
    # Defaults a user would see, as Kubernetes sets them.
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert d["spec"]["revisionHistoryLimit"] == 10
    svc = json.loads(apiserver.kubectl("get", "-n", n, "svc", "web", "-o", "json").out)
    assert svc["spec"]["ports"][0]["protocol"] == "TCP"
    assert svc["spec"]["ports"][0]["targetPort"] == 8080


def test_get_outputs(apiserver: Cluster) -> None:
    n = ns(apiserver, "get-test")
    for i in range(5):
        apiserver.kubectl("apply", "-n", n, "-f", "-", input=(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  labels:\n    tier: "
                f"{'a' if i % 2 else 'b'}\ndata:\n  k: v{i}\n"))
    table = apiserver.kubectl("get", "configmaps", "-n", n).out.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    assert [line.split()[:2] for line in table[1:]] == [[f"cm-{i}", "1"] for i in range(5)]
    assert apiserver.kubectl("get", "cm", "cm-3", "-n", n, "-o", "jsonpath={.data.k}").out == "v3"
    as_yaml = yaml.safe_load(apiserver.kubectl("get", "cm", "cm-1", "-n", n, "-o", "yaml").out)
    assert as_yaml["data"] == {"k": "v1"} and as_yaml["metadata"]["resourceVersion"]
    sel = apiserver.kubectl("get", "cm", "-n", n, "-l", "tier=a", "-o", "name").out.split()
    assert sel == ["configmap/cm-1", "configmap/cm-3"]
    notin = apiserver.kubectl("get", "cm", "-n", n, "-l", "tier notin (a)", "-o", "name").out.split()
    assert notin == ["configmap/cm-0", "configmap/cm-2", "configmap/cm-4"]
    chunked = apiserver.kubectl("get", "cm", "-n", n, "--chunk-size=2", "-o", "name").out.split()
    assert chunked == [f"configmap/cm-{i}" for i in range(5)]
    missing = apiserver.kubectl("get", "cm", "nope", "-n", n, check=False)
    assert missing.code == 1
    assert 'Error from server (NotFound): configmaps "nope" not found' in missing.err


def test_get_watch(apiserver: Cluster) -> None:
    n = ns(apiserver, "watch-test")
    apiserver.kubectl("apply", "-n", n, "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w1\n")
    w = apiserver.kubectl_bg("get", "cm", "-n", n, "-w", "--request-timeout=20s")
    try:
        time.sleep(1.5)
        apiserver.kubectl("apply", "-n", n, "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  "
                                                             "name: w2\n")
        apiserver.kubectl("label", "cm", "w1", "-n", n, "x=y")
        time.sleep(1.5)
    finally:
        w.terminate()
        out, _ = w.communicate(10)
    lines = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert lines[0] == "NAME"
    assert lines[1:] == ["w1", "w2", "w1"]


def test_label_annotate_patch_replace(apiserver: Cluster) -> None:
    n = ns(apiserver, "edit-test")
    apiserver.kubectl("apply", "-n", n, "-f", str(MANIFESTS / "basics" / "web.yaml"))
    apiserver.kubectl("label", "deploy", "web", "-n", n, "tier=frontend")
    apiserver.kubectl("annotate", "deploy", "web", "-n", n, "owner=alice")
    again = apiserver.kubectl("annotate", "deploy", "web", "-n", n, "owner=bob", check=False)
    assert again.code == 1 and "--overwrite is false" in again.err
    apiserver.kubectl("annotate", "deploy", "web", "-n", n, "owner=bob", "--overwrite")
    apiserver.kubectl("label", "deploy", "web", "-n", n, "tier-")
    d = json.loads(apiserver.kubectl("get", "deploy", "web", "-n", n, "-o", "json").out)
    assert "tier" not in d["metadata"]["labels"] and d["metadata"]["annotations"]["owner"] == "bob"
    # strategic merge: containers merge by name
    apiserver.kubectl("patch", "deploy", "web", "-n", n, "-p",
                      '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}')
    d = json.loads(apiserver.kubectl("get", "deploy", "web", "-n", n, "-o", "json").out)
    assert [c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == ["sidecar", "web"]
    # merge patch replaces lists
    apiserver.kubectl("patch", "deploy", "web", "-n", n, "--type=merge", "-p",
                      '{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"busybox"}]}}}}')
    d = json.loads(apiserver.kubectl("get", "deploy", "web", "-n", n, "-o", "json").out)
    assert [c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == ["only"]
    # json patch with a failing test op: 422 and nothing changes
    bad = apiserver.kubectl("patch", "deploy", "web", "-n", n, "--type=json", "-p",
                            '[{"op":"test","path":"/spec/replicas","value":99},'
                            '{"op":"replace","path":"/spec/replicas","value":7}]', check=False)
    assert bad.code == 1 and "testing value /spec/replicas failed: test failed" in bad.err
    assert apiserver.kubectl("get", "deploy", "web", "-n", n, "-o", "jsonpath={.spec.replicas}").out == "2"
    apiserver.kubectl("patch", "deploy", "web", "-n", n, "--type=json", "-p",
                      '[{"op":"replace","path":"/spec/replicas","value":4}]')
    d = json.loads(apiserver.kubectl("get", "deploy", "web", "-n", n, "-o", "json").out)
    assert d["spec"]["replicas"] == 4
    # replace sends no resourceVersion
    d["spec"]["replicas"] = 1
    del d["metadata"]["resourceVersion"]
    apiserver.kubectl("replace", "-f", "-", input=json.dumps(d))
    assert apiserver.kubectl("get", "deploy", "web", "-n", n, "-o", "jsonpath={.spec.replicas}").out == "1"


def test_scale_and_conflict(apiserver: Cluster) -> None:
    n = ns(apiserver, "scale-test")
    apiserver.kubectl("apply", "-n", n, "-f", str(MANIFESTS / "basics" / "web.yaml"))
    out = apiserver.kubectl("scale", "deploy/web", "-n", n, "--replicas=5").out
    assert "deployment.apps/web scaled" in out
    assert apiserver.kubectl("get", "deploy", "web", "-n", n, "-o", "jsonpath={.spec.replicas}").out == "5"
    wrong = apiserver.kubectl("scale", "deploy/web", "-n", n, "--current-replicas=2", "--replicas=3", check=False)
    assert wrong.code == 1 and "Expected replicas to be 2, was 5" in wrong.err


def test_describe_explain_api_resources(apiserver: Cluster) -> None:
    n = ns(apiserver, "describe-test")
    apiserver.kubectl("apply", "-n", n, "-f", str(MANIFESTS / "basics" / "web.yaml"))
    out = apiserver.kubectl("describe", "deployment", "web", "-n", n).out
    assert "Name:" in out and "web" in out and "Replicas:" in out and "RollingUpdate" in out
    out = apiserver.kubectl("describe", "configmap", "web-config", "-n", n).out
    assert "greeting" in out and "hello" in out
    explain = apiserver.kubectl("explain", "deployment.spec.strategy").out
    assert "KIND:" in explain and "Deployment" in explain and "rollingUpdate" in explain
    resources = apiserver.kubectl("api-resources").out.splitlines()
    assert resources[0].split()[:2] == ["NAME", "SHORTNAMES"]
    pods = next(line.split() for line in resources if line.startswith("pods "))
    assert pods == ["pods", "po", "v1", "true", "Pod"]
    deploy = next(line.split() for line in resources if line.startswith("deployments "))
    assert deploy == ["deployments", "deploy", "apps/v1", "true", "Deployment"]


def test_invalid_input_is_refused_and_nothing_changes(apiserver: Cluster) -> None:
    n = ns(apiserver, "invalid-test")
    bad_name = apiserver.kubectl("apply", "-n", n, "-f", "-", check=False,
                                 input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n")
    assert bad_name.code == 1
    assert 'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in bad_name.err
    typo = apiserver.kubectl("apply", "-n", n, "-f", "-", check=False, input=(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: typo\nspec:\n  replcias: 2\n  selector:\n"
        "    matchLabels: {a: b}\n  template:\n    metadata:\n      labels: {a: b}\n    spec:\n      containers:\n"
        "      - name: c\n        image: busybox\n"))
    assert typo.code == 1 and 'unknown field "spec.replcias"' in typo.err
    mismatch = apiserver.kubectl("apply", "-n", n, "-f", "-", check=False, input=(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: mism\nspec:\n  selector:\n"
        "    matchLabels: {a: b}\n  template:\n    metadata:\n      labels: {a: c}\n    spec:\n      containers:\n"
        "      - name: c\n        image: busybox\n"))
    assert mismatch.code == 1 and "`selector` does not match template `labels`" in mismatch.err
    listed = apiserver.kubectl("get", "deploy,cm", "-n", n, "-o", "name").out.split()
    assert listed == []


def test_delete_propagation_and_wait(apiserver: Cluster) -> None:
    n = ns(apiserver, "delete-test")
    for name in ("a", "b", "c"):
        apiserver.kubectl("apply", "-n", n, "-f", "-", input=f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  "
                                                              f"name: {name}\n")
    out = apiserver.kubectl("delete", "cm", "a", "-n", n, "--wait").out
    assert 'configmap "a" deleted' in out
    # Foreground leaves the object with the foregroundDeletion finalizer until the garbage
    # collector finishes; with only the API server running it stays, Terminating.
    out = apiserver.kubectl("delete", "cm", "b", "-n", n, "--cascade=foreground", "--wait=false").out
    assert 'configmap "b" deleted' in out
    b = json.loads(apiserver.kubectl("get", "cm", "b", "-n", n, "-o", "json").out)
    assert b["metadata"]["finalizers"] == ["foregroundDeletion"] and b["metadata"]["deletionTimestamp"]
    apiserver.kubectl("patch", "cm", "b", "-n", n, "--type=json", "-p",
                      '[{"op":"remove","path":"/metadata/finalizers"}]')
    gone = apiserver.kubectl("get", "cm", "b", "-n", n, check=False)
    assert gone.code == 1 and "NotFound" in gone.err
    out = apiserver.kubectl("delete", "cm", "c", "-n", n, "--cascade=orphan", "--wait=false").out
    assert 'configmap "c" deleted' in out
    c = json.loads(apiserver.kubectl("get", "cm", "c", "-n", n, "-o", "json").out)
    assert c["metadata"]["finalizers"] == ["orphan"]


def test_kinds_stored_but_not_enforced_warn(apiserver: Cluster) -> None:
    n = ns(apiserver, "warn-test")
    policy = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny\nspec:\n"
              "  podSelector: {}\n  policyTypes: [Ingress]\n")
    r = apiserver.kubectl("apply", "-n", n, "-f", "-", input=policy)
    assert "networkpolicy.networking.k8s.io/deny created" in r.out
    assert ("Warning: mizzen stores NetworkPolicy objects but does not act on them yet: pod traffic is not "
            "restricted") in r.err
    assert apiserver.kubectl("get", "netpol", "deny", "-n", n, "-o", "name").out.strip() == \
        "networkpolicy.networking.k8s.io/deny"
    # Kinds mizzen acts on carry no such warning.
    r = apiserver.kubectl("apply", "-n", n, "-f", "-", input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
    assert "Warning" not in r.err
