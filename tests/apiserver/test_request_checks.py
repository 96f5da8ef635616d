"""Tables for the pure checks of the request path that kubectl users see: duplicate keys in
JSON bodies (fieldValidation), the pod-template deprecation warnings, and the metadata that
Kubernetes never stores empty."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from apimachinery.resources import DEFAULT, Registry
from apiserver.app import duplicate_fields
from apiserver.handlers import drop_empty_metadata, pod_template_warnings
from apiserver.objects import remove_path as _remove_path

REGISTRY = Registry(list(DEFAULT))


@pytest.mark.parametrize(("body", "want"), [
    (b'{"a":1}', []),
    (b'{"a":1,"a":2}', ["a"]),
    (b'{"a" : 1, "b": {"x": 1, "x" :2}, "a": 3}', ["x", "a"]),  # nested objects first, as the parser closes them
    (b'{"a":"value with \\":\\" inside","b":1}', []),  # more `":` than keys, yet no duplicate
    (b'{"items":[{"k":1,"k":2},{"k":3}]}', ["k"]),
    (b'{"data":{"k":"1"},"data":{"k":"2"}}', ["data"]),
    (b'[{"a":1,"a":2}]', []),  # not an object body: nothing Kubernetes would decode as one
    (b'{"a": 1, "b": {"c": "x\\":y"}, "b": {"c": 2}}', ["b"]),  # `":` inside a value, then a duplicate
    (b'{"a": "x\\":y", "b": 1}', []),
    (b'{\n  "a" :1,\n  "a"\t: 2\n}', ["a"]),  # spaces before colons
])
def test_duplicate_fields(body: bytes, want: list[str]) -> None:
    assert duplicate_fields(body, orjson.loads(body)) == want


def _res(group: str, version: str, plural: str) -> Any:
    res = REGISTRY.by_resource(group, version, plural)
    assert res is not None
    return res


TEMPLATE = {"metadata": {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}},
            "spec": {"nodeSelector": {"beta.kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}}}
SECCOMP = 'metadata.annotations[seccomp.security.alpha.kubernetes.io/pod]: non-functional in v1.27+; use the ' \
    '"seccompProfile" field instead'
ARCH = 'spec.nodeSelector[beta.kubernetes.io/arch]: deprecated since v1.14; use "kubernetes.io/arch" instead'


@pytest.mark.parametrize(("resource", "obj", "want"), [
    (("", "v1", "pods"), TEMPLATE, [ARCH, SECCOMP]),
    (("apps", "v1", "deployments"), {"spec": {"template": TEMPLATE}},
     [f"spec.template.{ARCH}", f"spec.template.{SECCOMP}"]),
    (("batch", "v1", "cronjobs"), {"spec": {"jobTemplate": {"spec": {"template": TEMPLATE}}}},
     [f"spec.jobTemplate.spec.template.{ARCH}", f"spec.jobTemplate.spec.template.{SECCOMP}"]),
    (("", "v1", "podtemplates"), {"template": {"metadata": {"annotations": {
        "container.apparmor.security.beta.kubernetes.io/app": "runtime/default"}}}},
     ['template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]: deprecated since v1.30; '
      'use the "appArmorProfile" field instead']),
    (("apps", "v1", "deployments"), {"spec": {"template": {"spec": {"nodeSelector": {
        "failure-domain.beta.kubernetes.io/zone": "a"}}}}},
     ['spec.template.spec.nodeSelector[failure-domain.beta.kubernetes.io/zone]: deprecated since v1.17; use '
      '"topology.kubernetes.io/zone" instead']),
    (("", "v1", "configmaps"), {"metadata": TEMPLATE["metadata"]}, []),  # not a pod template
    (("apps", "v1", "deployments"), {"spec": {}}, []),
])
def test_pod_template_warnings(resource: tuple[str, str, str], obj: dict[str, Any], want: list[str]) -> None:
    assert pod_template_warnings(_res(*resource), obj) == want


@pytest.mark.parametrize(("obj", "path", "want"), [
    ({"spec": {"a": 1, "b": 2}}, "spec.b", {"spec": {"a": 1}}),
    ({"spec": {"c": [{"x": 1, "foo": 2}]}}, "spec.c[0].foo", {"spec": {"c": [{"x": 1}]}}),
    ({"spec": {"c": []}}, "spec.c[3].foo", {"spec": {"c": []}}),  # nothing there: nothing removed
])
def test_remove_path(obj: dict[str, Any], path: str, want: dict[str, Any]) -> None:
    _remove_path(obj, path)
    assert obj == want


def test_drop_empty_metadata() -> None:
    m = {"name": "x", "labels": {}, "annotations": {"a": "b"}, "finalizers": [], "ownerReferences": []}
    drop_empty_metadata(m)
    assert m == {"name": "x", "annotations": {"a": "b"}}
