"""Microbenchmark: the cost of the Go type check (apiserver.objects) that every write of a
built-in kind pays, per pod create, next to the unknown-field walk that the same write paid
before it.

Run: .venv/bin/python bench/typecheck.py [iterations]

A clean write (the common case) pays one quick walk, `typed_and_known`, which also spares it
the unknown-field walk it paid before; the path-collecting walks run only for a refused
object. Prints microseconds per call for a typical pod (the shape a Deployment's ReplicaSet creates:
labels, owner reference, one container with ports, env, resources, probes, volume mounts, a
projected service-account volume) in each decoder dialect, and a first call that includes
building the type tables."""

from __future__ import annotations

import sys
import time
from typing import Any

from apiserver import objects

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {
        "generateName": "web-7d4b9c8f6d-", "namespace": "default",
        "labels": {"app": "web", "pod-template-hash": "7d4b9c8f6d"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-30T07:00:00Z"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f6d",
                             "uid": "6f1c2b1e-6a0e-4f1f-9a6b-0a1b2c3d4e5f", "controller": True,
                             "blockOwnerDeletion": True}],
    },
    "spec": {
        "containers": [{
            "name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
            "env": [{"name": "MODE", "value": "prod"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
            "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": 0.1, "memory": "128Mi"}},
            "readinessProbe": {"httpGet": {"path": "/", "port": "http", "scheme": "HTTP"}, "periodSeconds": 5,
                               "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "livenessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": 10},
            "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": True,
                              "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}},
        }],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "securityContext": {"fsGroup": 2000}, "schedulerName": "default-scheduler",
        "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                         "tolerationSeconds": 300}],
        "volumes": [{"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                           "fieldPath": "metadata.namespace"}}]}}]}}],
        "enableServiceLinks": True, "priority": 0,
    },
}


def per_call(fn: Any, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 20000
    start = time.perf_counter()
    assert objects.type_mismatches(POD, "V1Pod") == []
    first = (time.perf_counter() - start) * 1e3
    rows = [
        ("what a clean create/update pays: typed_and_known", lambda: objects.typed_and_known(POD, "V1Pod")),
        ("type check, create/update (Go JSON decoder)", lambda: objects.type_mismatches(POD, "V1Pod", objects.DECODE)),
        ("type check, strategic merge patch", lambda: objects.type_mismatches(POD, "V1Pod", objects.CONVERT)),
        ("type check, server-side apply", lambda: objects.type_mismatches(POD, "V1Pod", objects.TYPED)),
        ("before: unknown-field walk (now skipped when clean)", lambda: objects.unknown_fields(POD, "V1Pod")),
    ]
    sys.stdout.write(f"first call (builds the pod's type tables): {first:.1f} ms\n")
    for label, fn in rows:
        sys.stdout.write(f"{label:52s} {per_call(fn, n):7.1f} us/pod\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
