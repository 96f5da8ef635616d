"""Pod admission: DefaultTolerationSeconds, ServiceAccount and Priority, as Kubernetes'
default plug-ins mutate a pod."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apimachinery.errors import Forbidden
from apimachinery.resources import DEFAULT
from apiserver.registry import AdmissionConfig, admit, admit_create, make_admit
from apiserver.registry.admission import default_toleration_seconds

PODS = DEFAULT.by_resource("", "v1", "pods")
DEPLOYMENTS = DEFAULT.by_resource("apps", "v1", "deployments")
NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "a", "image": "nginx"}], **spec}}


@pytest.mark.parametrize("tolerations,expected", [
    (None, [NOT_READY, UNREACHABLE]),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}],
     [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
      UNREACHABLE]),
    # an empty key with operator Exists tolerates every taint: nothing to add
    ([{"operator": "Exists"}], [{"operator": "Exists"}]),
    # a NoSchedule toleration of the same key does not cover NoExecute
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}, NOT_READY,
      UNREACHABLE]),
    # no effect means every effect
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}],
     [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}, NOT_READY]),
])
def test_default_toleration_seconds(tolerations: list | None, expected: list) -> None:
    p = pod() if tolerations is None else pod(tolerations=copy.deepcopy(tolerations))
    default_toleration_seconds(p)
    assert p["spec"]["tolerations"] == expected


def test_configured_toleration_seconds() -> None:
    p = pod()
    make_admit(AdmissionConfig(default_not_ready_toleration_seconds=5, default_unreachable_toleration_seconds=7))(
        "CREATE", PODS, p, None)
    assert [t["tolerationSeconds"] for t in p["spec"]["tolerations"]] == [5, 7]


def test_create_sets_service_account_and_priority() -> None:
    p = pod()
    admit("CREATE", PODS, p, None)
    spec = p["spec"]
    assert spec["serviceAccountName"] == "default" and spec["serviceAccount"] == "default"
    assert spec["priority"] == 0 and spec["preemptionPolicy"] == "PreemptLowerPriority"
    p = pod(serviceAccountName="builder", priorityClassName="system-node-critical")
    admit_create(PODS, p)
    assert p["spec"]["serviceAccount"] == "builder"
    assert p["spec"]["priority"] == 2000001000


def test_priority_must_not_be_given() -> None:
    with pytest.raises(Forbidden) as e:
        admit_create(PODS, pod(priority=5))
    assert str(e.value) == ('pods "web" is forbidden: the integer value of priority (5) must not be provided in pod '
                            "spec; priority admission controller computed 0 from the given PriorityClass name")


def test_priority_class_lookup() -> None:
    classes = {"high": {"value": 1000, "preemptionPolicy": "Never"}}
    config = AdmissionConfig(priority_class=classes.get)
    p = pod(priorityClassName="high")
    admit_create(PODS, p, config)
    assert (p["spec"]["priority"], p["spec"]["preemptionPolicy"]) == (1000, "Never")
    with pytest.raises(Forbidden, match="no PriorityClass with name low was found"):
        admit_create(PODS, pod(priorityClassName="low"), config)


def test_update_only_adds_tolerations_and_other_kinds_are_untouched() -> None:
    p = pod()
    admit("UPDATE", PODS, p, pod())
    assert p["spec"]["tolerations"] == [NOT_READY, UNREACHABLE]
    assert "serviceAccountName" not in p["spec"]
    d: dict[str, Any] = {"metadata": {"name": "web"}, "spec": {"template": {"spec": {}}}}
    before = copy.deepcopy(d)
    admit("CREATE", DEPLOYMENTS, d, None)
    assert d == before


def test_service_account_token_volume_when_enabled() -> None:
    config = AdmissionConfig(mount_service_account_token=True)
    p = pod()
    admit_create(PODS, p, config)
    vols = p["spec"]["volumes"]
    assert len(vols) == 1 and vols[0]["name"].startswith("kube-api-access-") and len(vols[0]["name"]) == 21
    assert vols[0]["projected"]["sources"][0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert p["spec"]["containers"][0]["volumeMounts"] == [
        {"name": vols[0]["name"], "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
    opted_out = pod(automountServiceAccountToken=False)
    admit_create(PODS, opted_out, config)
    assert "volumes" not in opted_out["spec"]
    default_off = pod()
    admit_create(PODS, default_off)
    assert "volumes" not in default_off["spec"]
