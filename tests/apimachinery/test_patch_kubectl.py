"""The patch algorithms against Kubernetes' own: `kubectl patch --local` applies strategic
merge, merge and JSON patches with the Go libraries the API server uses, to the typed
built-in objects, without any server. Every case must give the same object, or fail too.

Skipped when kubectl is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from apimachinery import schema
from apimachinery.patch import PatchError, json_patch, merge_patch, strategic

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def _pod(**spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": [
        {"name": "a", "image": "nginx", "ports": [{"containerPort": 80}, {"containerPort": 443}],
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}]},
        {"name": "b", "image": "redis"}, {"name": "c", "image": "busybox"}]}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "labels": {"x": "1", "y": "2"}, "finalizers": ["f1", "f2", "f3"]}, "spec": s}


POD = _pod()
BIG = _pod(containers=[{"name": f"c{i}", "image": "x"} for i in range(25)])
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                       "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                       "template": {"metadata": {"labels": {"a": "b"}},
                                    "spec": {"containers": [{"name": "a", "image": "nginx"}]}}}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}, {"port": 443, "protocol": "TCP"}]}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]}}
CM = {"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "c", "labels": {"a/b": "1"}, "finalizers": ["x", "y"]}, "data": {"a": "1", "b": "2"}}

STRATEGIC = [
    (POD, {"spec": {"containers": [{"name": "d", "image": "x"}]}}),
    (POD, {"spec": {"containers": [{"name": "b", "image": "x"}]}}),
    (POD, {"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "a", "image": "y"}]}}),
    (POD, {"spec": {"containers": [{"name": "d", "image": "x"}, {"name": "b", "image": "y"}]}}),
    (POD, {"spec": {"containers": [{"name": "b", "image": "y"}, {"name": "d", "image": "x"}]}}),
    (POD, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
    (POD, {"spec": {"containers": [{"name": "z", "image": "q"}, {"$patch": "replace"}]}}),
    (POD, {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}}),
    (POD, {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "d"}, {"name": "b"}, {"name": "c"}],
                    "containers": [{"name": "d", "image": "x"}]}}),
    (POD, {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
                    "containers": [{"name": "c", "image": "z"}]}}),
    (POD, {"spec": {"containers": [{"name": "a", "env": [{"name": "D", "value": "4"}, {"name": "B", "value": "x"}]}]}}),
    (POD, {"spec": {"containers": [{"name": "a", "$setElementOrder/env": [{"name": "C"}, {"name": "D"}, {"name": "A"},
                                                                          {"name": "B"}],
                                    "env": [{"name": "D", "value": "4"}]}]}}),
    (POD, {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 8080}]}]}}),
    (POD, {"metadata": {"finalizers": ["f2", "f4"]}}),
    (POD, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["f2"]}}),
    (POD, {"metadata": {"$setElementOrder/finalizers": ["f3", "f4", "f1"], "finalizers": ["f4"],
                        "$deleteFromPrimitiveList/finalizers": ["f2"]}}),
    (POD, {"metadata": {"finalizers": ["f1", "f1", "f5", "f5"]}}),
    (POD, {"metadata": {"labels": {"x": None, "z": "3"}}}),
    (POD, {"metadata": {"labels": {"$patch": "replace", "z": "3"}}}),
    (_pod(tolerations=[{"key": "a", "operator": "Exists"}]), {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}),
    (_pod(volumes=[{"name": "v", "emptyDir": {}}]),
     {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}]}}),
    (_pod(hostAliases=[{"ip": "1.1.1.1", "hostnames": ["a"]}]), {"spec": {"hostAliases": [{"ip": "2.2.2.2"}]}}),
    (POD, {"spec": {"containers": [{"image": "x"}]}}),
    (POD, {"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}),
    (POD, {"spec": {"$setElementOrder": [{"name": "a"}]}}),
    (_pod(volumes=[{"name": "v", "emptyDir": {}}]),
     {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name"], "hostPath": {"path": "/x"}}]}}),
    (BIG, {"spec": {"containers": [{"name": "new", "image": "y"}, {"name": "c7", "image": "z"}]}}),
    (BIG, {"spec": {"$setElementOrder/containers": [{"name": f"c{i}"} for i in reversed(range(25))]}}),
    (BIG, {"spec": {"$setElementOrder/containers": [{"name": f"c{i}"} for i in (24, 3, 11)],
                    "containers": [{"name": "c24", "image": "q"}]}}),
    (DEPLOYMENT, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
    (DEPLOYMENT, {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}}),
    (SERVICE, {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 53, "protocol": "UDP"}]}}),
    (SERVICE, {"spec": {"ports": [{"port": 443, "$patch": "delete"}]}}),
    (NODE, {"spec": {"taints": [{"key": "b", "effect": "NoSchedule"}], "podCIDRs": ["10.1.0.0/24"]}}),
    (CM, {"data": {"a": None, "c": "3"}}),
]
JSON = [
    [{"op": "add", "path": "/metadata/finalizers/0", "value": "z"}],
    [{"op": "add", "path": "/metadata/finalizers/-1", "value": "z"}],
    [{"op": "add", "path": "/metadata/finalizers/3", "value": "z"}],
    [{"op": "add", "path": "/metadata/finalizers/x", "value": "z"}],
    [{"op": "add", "path": "/spec/x", "value": "z"}],
    [{"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"}],
    [{"op": "replace", "path": "/data/zz", "value": "9"}],
    [{"op": "remove", "path": "/data/zz"}],
    [{"op": "remove", "path": "/metadata/finalizers/-1"}],
    [{"op": "test", "path": "/data/a", "value": "1"}, {"op": "add", "path": "/data/t", "value": "t"}],
    [{"op": "test", "path": "/data/a", "value": "2"}],
    [{"op": "test", "path": "/spec/zz", "value": 1}],
    [{"op": "move", "from": "/data/a", "path": "/data/z"}],
    [{"op": "move", "from": "/data/q", "path": "/data/z"}],
    [{"op": "copy", "from": "/data/a", "path": "/metadata/labels/c"}],
    [{"op": "frob", "path": "/data/a"}],
]
MERGE = [
    {"data": {"a": None, "c": "3"}, "metadata": {"labels": {"n": "1"}}},
    {"metadata": {"finalizers": ["q"]}},
    {"metadata": {"annotations": {"a": "1", "b": None}}},
    {"data": "x"},
    None,
]


def _strip(v: Any) -> Any:
    """What survives kubectl's round trip through the typed object (omitempty fields)."""
    if isinstance(v, dict):
        return {k: _strip(x) for k, x in v.items() if x not in (None, {}, [], "")}
    if isinstance(v, list):
        return [_strip(x) for x in v]
    return v


@pytest.fixture(scope="module")
def run_kubectl(tmp_path_factory):
    home = tmp_path_factory.mktemp("kubectl-home")
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    env = {"HOME": str(home), "KUBECONFIG": str(kubeconfig), "PATH": "/usr/bin:/bin"}

    def run(doc: dict[str, Any], patch: Any, kind: str) -> tuple[bool, Any]:
        f = Path(home) / "in.json"
        f.write_text(json.dumps(doc))
        p = subprocess.run([str(KUBECTL), "patch", "--local", "-f", str(f), "--type", kind,
                            "-p", json.dumps(patch), "-o", "json"], capture_output=True, text=True, env=env,
                           timeout=60)
        return (p.returncode == 0, json.loads(p.stdout) if p.returncode == 0 else p.stderr.strip())

    return run


def _ours(doc: dict[str, Any], patch: Any, kind: str) -> tuple[bool, Any]:
    try:
        if kind == "strategic":
            group, _, version = doc["apiVersion"].rpartition("/")
            return True, strategic.apply(doc, patch, schema.model_for(group, version, doc["kind"]))
        if kind == "json":
            return True, json_patch.apply(doc, patch)
        return True, merge_patch.apply(doc, patch)
    except PatchError as e:
        return False, e.detail


def _check(run_kubectl, doc: dict[str, Any], patch: Any, kind: str) -> None:
    ok_theirs, theirs = run_kubectl(doc, patch, kind)
    ok_ours, ours = _ours(doc, patch, kind)
    assert ok_ours == ok_theirs, (theirs, ours)
    if ok_ours:
        assert _strip(ours) == _strip(theirs)
    elif not theirs.startswith("error: Object to be patched is missing field"):
        # kubectl prints the library's message (it rewords only JSON-patch "missing" errors)
        assert ours.rstrip("\n") in theirs


@pytest.mark.parametrize("doc, patch", STRATEGIC)
def test_strategic_merge_patch_matches_kubernetes(run_kubectl, doc, patch):
    _check(run_kubectl, doc, patch, "strategic")


@pytest.mark.parametrize("ops", JSON)
def test_json_patch_matches_kubernetes(run_kubectl, ops):
    _check(run_kubectl, CM, ops, "json")


@pytest.mark.parametrize("patch", MERGE)
def test_merge_patch_matches_kubernetes(run_kubectl, patch):
    _check(run_kubectl, CM, patch, "merge")


def test_created_patches_apply_as_kubernetes_applies_them(run_kubectl):
    modified = json.loads(json.dumps(POD))
    modified["metadata"]["finalizers"] = ["f3", "f9"]
    modified["spec"]["containers"] = [{"name": "z", "image": "q"}, modified["spec"]["containers"][2],
                                      modified["spec"]["containers"][0]]
    modified["spec"]["containers"][2]["env"] = [{"name": "C", "value": "x"}, {"name": "A", "value": "1"}]
    patch = strategic.create(POD, modified, "V1Pod")
    ok, theirs = run_kubectl(POD, patch, "strategic")
    assert ok and _strip(theirs) == _strip(modified)
