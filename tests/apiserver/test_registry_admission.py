"""Pod admission: DefaultTolerationSeconds, ServiceAccount and Priority, as Kubernetes'
default plug-ins mutate a pod."""

from __future__ import annotations

import copy
import re
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


MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_SOURCES = [
    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                  "fieldPath": "metadata.namespace"}}]}},
]


def service_accounts(*accounts: dict[str, Any]) -> Any:
    """An async ServiceAccount lookup over a fixed set, counting its calls."""
    by_key = {(a["metadata"]["namespace"], a["metadata"]["name"]): a for a in accounts}
    calls: list[tuple[str, str]] = []

    async def lookup(ns: str, name: str) -> dict[str, Any] | None:
        calls.append((ns, name))
        return by_key.get((ns, name))
    lookup.calls = calls  # type: ignore[attr-defined]
    return lookup


async def no_sleep(_: float) -> None:
    return None


def sa(name: str = "default", **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"}, **fields}


@pytest.mark.parametrize(("pod_fields", "account", "mounted", "pull_secrets"), [
    ({}, sa(), True, None),
    # the pod's setting wins over the ServiceAccount's, either way
    ({"automountServiceAccountToken": False}, sa(), False, None),
    ({}, sa(automountServiceAccountToken=False), False, None),
    ({"automountServiceAccountToken": True}, sa(automountServiceAccountToken=False), True, None),
    ({"automountServiceAccountToken": False}, sa(automountServiceAccountToken=True), False, None),
    # a named account; its imagePullSecrets are inherited unless the pod has its own
    ({"serviceAccountName": "builder"}, sa("builder", imagePullSecrets=[{"name": "reg"}]), True, [{"name": "reg"}]),
    ({"serviceAccountName": "builder", "imagePullSecrets": [{"name": "mine"}]},
     sa("builder", imagePullSecrets=[{"name": "reg"}]), True, [{"name": "mine"}]),
    # the deprecated field names the account too
    ({"serviceAccount": "builder"}, sa("builder"), True, None),
])
async def test_service_account_admission(pod_fields: dict[str, Any], account: dict[str, Any], mounted: bool,
                                         pull_secrets: list[dict[str, str]] | None) -> None:
    config = AdmissionConfig(service_account=service_accounts(account), sleep=no_sleep)
    p = pod(**pod_fields)
    await make_admit(config)("CREATE", PODS, p, None)  # type: ignore[misc]
    spec = p["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == account["metadata"]["name"]
    assert spec.get("imagePullSecrets") == pull_secrets
    if not mounted:
        assert "volumes" not in spec and "volumeMounts" not in spec["containers"][0]
        return
    (vol,) = spec["volumes"]
    assert re.fullmatch(r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", vol["name"])
    assert vol["projected"] == {"defaultMode": 420, "sources": TOKEN_SOURCES}
    assert spec["containers"][0]["volumeMounts"] == [{"name": vol["name"], "readOnly": True, "mountPath": MOUNT_PATH}]


def test_token_volume_mounted_in_every_container_but_those_using_the_path() -> None:
    p = pod(initContainers=[{"name": "init", "image": "busybox"}],
            containers=[{"name": "a", "image": "nginx"},
                        {"name": "b", "image": "nginx", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}],
            volumes=[{"name": "own", "emptyDir": {}}])
    admit_create(PODS, p)
    spec = p["spec"]
    names = [v["name"] for v in spec["volumes"]]
    assert names[0] == "own" and names[1].startswith("kube-api-access-") and len(names) == 2
    assert spec["initContainers"][0]["volumeMounts"] == [{"name": names[1], "readOnly": True,
                                                          "mountPath": MOUNT_PATH}]
    assert spec["containers"][0]["volumeMounts"] == [{"name": names[1], "readOnly": True, "mountPath": MOUNT_PATH}]
    assert spec["containers"][1]["volumeMounts"] == [{"name": "own", "mountPath": MOUNT_PATH}]
    # no container needs it: no volume
    alone = pod(containers=[{"name": "b", "image": "nginx", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}],
                volumes=[{"name": "own", "emptyDir": {}}])
    admit_create(PODS, alone)
    assert [v["name"] for v in alone["spec"]["volumes"]] == ["own"]


async def test_missing_service_account_is_forbidden() -> None:
    lookup = service_accounts(sa())
    config = AdmissionConfig(service_account=lookup, sleep=no_sleep)
    with pytest.raises(Forbidden) as e:
        await make_admit(config)("CREATE", PODS, pod(serviceAccountName="ghost"), None)  # type: ignore[misc]
    assert e.value.code == 403
    assert str(e.value) == ('pods "web" is forbidden: error looking up service account default/ghost: '
                            'serviceaccount "ghost" not found')
    assert lookup.calls == [("default", "ghost")]  # a named account is looked up once


async def test_default_service_account_is_waited_for() -> None:
    """The serviceaccount controller creates `default` just after its namespace: the lookup is
    retried (10 times) before the pod is refused, and succeeds as soon as it appears."""
    appears: list[dict[str, Any]] = []
    calls: list[str] = []

    async def lookup(ns: str, name: str) -> dict[str, Any] | None:
        calls.append(name)
        if len(calls) == 3:
            appears.append(sa())
        return appears[0] if appears else None
    p = pod()
    await make_admit(AdmissionConfig(service_account=lookup, sleep=no_sleep))("CREATE", PODS, p, None)  # type: ignore[misc]
    assert len(calls) == 3 and p["spec"]["serviceAccountName"] == "default"

    never = service_accounts()
    with pytest.raises(Forbidden, match='serviceaccount "default" not found'):
        await make_admit(AdmissionConfig(service_account=never, sleep=no_sleep))(  # type: ignore[misc]
            "CREATE", PODS, pod(), None)
    assert len(never.calls) == 10


MIRROR = {"kubernetes.io/config.mirror": "abc"}


@pytest.mark.parametrize(("spec", "error"), [
    ({}, None),
    ({"serviceAccountName": "default"}, "a mirror pod may not reference service accounts"),
    ({"volumes": [{"name": "s", "secret": {"secretName": "x"}}]}, "a mirror pod may not reference secrets"),
    ({"containers": [{"name": "a", "image": "i", "env": [{"name": "E", "valueFrom": {"secretKeyRef": {
        "name": "x", "key": "k"}}}]}]}, "a mirror pod may not reference secrets"),
    ({"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]},
     "a mirror pod may not use ServiceAccountToken volume projections"),
])
async def test_mirror_pods_are_exempt(spec: dict[str, Any], error: str | None) -> None:
    lookup = service_accounts()
    p = pod(**spec)
    p["metadata"]["annotations"] = dict(MIRROR)
    admitting = make_admit(AdmissionConfig(service_account=lookup, sleep=no_sleep))
    if error is not None:
        with pytest.raises(Forbidden) as e:
            await admitting("CREATE", PODS, p, None)  # type: ignore[misc]
        assert str(e.value) == f'pods "web" is forbidden: {error}'
        return
    await admitting("CREATE", PODS, p, None)  # type: ignore[misc]
    assert "serviceAccountName" not in p["spec"] and "volumes" not in p["spec"]
    assert lookup.calls == []


async def test_plugin_disabled() -> None:
    """`--disable-admission-plugins=ServiceAccount`: no lookup, no default name, no volume."""
    lookup = service_accounts()
    p = pod()
    config = AdmissionConfig(service_account_admission=False, service_account=lookup)
    await make_admit(config)("CREATE", PODS, p, None)  # type: ignore[misc]
    assert "serviceAccountName" not in p["spec"] and "volumes" not in p["spec"] and lookup.calls == []
    assert p["spec"]["priority"] == 0  # the other plug-ins still run
