"""Pure decisions of the kubelet agent: $(VAR) expansion, env with valueFrom/envFrom, the
final argv, what to (re)start, image pull policy and node capacity (tables of cases)."""

from __future__ import annotations

import base64

import pytest

from kubelet import envvars, node
from kubelet.envvars import ConfigError, Sources, build_env, expand, final_command
from kubelet.podworker import image_missing_waiting, plan_containers, pull_policy, should_restart


@pytest.mark.parametrize(("value", "env", "out"), [
    ("$(A)", {"A": "1"}, "1"),
    ("x-$(A)-y", {"A": "1"}, "x-1-y"),
    ("$(B)", {"A": "1"}, "$(B)"),                  # undefined: kept as written
    ("$$(A)", {"A": "1"}, "$(A)"),                 # escaped
    ("$$$(A)", {"A": "1"}, "$1"),
    ("$(A", {"A": "1"}, "$(A"),                    # unterminated
    ("a$b", {}, "a$b"),
    ("trailing$", {}, "trailing$"),
    ("$(A)$(A)", {"A": "ab"}, "abab"),
    ("", {}, ""),
])
def test_expand(value: str, env: dict[str, str], out: str) -> None:
    assert expand(value, env) == out


POD = {"metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "labels": {"app": "web", "tier": "fe"},
                    "annotations": {"note": 'say "hi"'}},
       "spec": {"nodeName": "node-1", "serviceAccountName": "default",
                "containers": [{"name": "c", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}]},
       "status": {}}
CM = {"data": {"k": "v", "other": "o", "bad key": "x"}}
SECRET = {"data": {"pw": base64.b64encode(b"s3cret").decode()}}


@pytest.mark.parametrize(("env", "expected"), [
    ([{"name": "A", "value": "1"}, {"name": "B", "value": "$(A)2"}], ["A=1", "B=12"]),
    ([{"name": "B", "value": "$(A)"}, {"name": "A", "value": "1"}], ["B=$(A)", "A=1"]),  # order matters
    ([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}], ["N=web"]),
    ([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}], ["N=prod"]),
    ([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}}], ["N=u-1"]),
    ([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}], ["N=web"]),
    ([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}], ["N=node-1"]),
    ([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}}], ["N=default"]),
    ([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}], ["N=10.0.0.5"]),
    ([{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}], ["N=127.0.0.1"]),
    ([{"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}], ["M=64"]),
    ([{"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}], ["M=1"]),      # rounded up
    ([{"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}}], ["M=500"]),
    ([{"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}}], ["M=500"]),
    ([{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}], ["K=v"]),
    ([{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}], ["P=s3cret"]),
    ([{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}}}], []),
    ([{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope", "optional": True}}}], []),
])
def test_build_env(env: list[dict], expected: list[str]) -> None:
    c = {**POD["spec"]["containers"][0], "env": env}
    out = build_env(POD, c, Sources({"cm": CM}, {"s": SECRET}), host_ip="127.0.0.1", pod_ip="10.0.0.5",
                    node_allocatable={"cpu": "2", "memory": "1Gi"})
    assert out == expected


def test_env_from_then_env_override_and_prefix() -> None:
    c = {"name": "c", "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "s"}}],
         "env": [{"name": "CM_k", "value": "mine"}, {"name": "X", "value": "$(pw)"}]}
    out = build_env(POD, c, Sources({"cm": CM}, {"s": SECRET}))
    assert out == ["CM_k=mine", "CM_other=o", "pw=s3cret", "X=s3cret"]   # "bad key" is not a valid name


@pytest.mark.parametrize(("env", "message"), [
    ([{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}], 'configmap "gone" not found'),
    ([{"name": "K", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}], 'secret "gone" not found'),
    ([{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}}],
     "couldn't find key nope in ConfigMap prod/cm"),
])
def test_missing_references_are_config_errors(env: list[dict], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_env(POD, {"name": "c", "env": env}, Sources({"cm": CM}, {}))


def test_field_ref_label_maps_as_downward_files() -> None:
    assert envvars.field_ref(POD, "metadata.labels") == 'app="web"\ntier="fe"'
    assert envvars.field_ref(POD, "metadata.annotations") == 'note="say \\"hi\\""'


@pytest.mark.parametrize(("entry", "cmd", "container", "argv"), [
    (None, ["sh"], {}, ["sh"]),
    (["/ep"], ["a"], {}, ["/ep", "a"]),
    (["/ep"], ["a"], {"args": ["b"]}, ["/ep", "b"]),
    (["/ep"], ["a"], {"command": ["x"]}, ["x"]),
    (["/ep"], ["a"], {"command": ["x"], "args": ["$(V)", "$$(V)"]}, ["x", "v", "$(V)"]),
])
def test_final_command(entry: list[str] | None, cmd: list[str], container: dict, argv: list[str]) -> None:
    assert final_command(entry, cmd, container, {"V": "v"}) == argv


def _st(state: str, code: int | None = None) -> dict:
    return {"state": state, "exit_code": code}


@pytest.mark.parametrize(("policy", "init", "latest", "left", "start", "backoff", "init_done", "init_failed"), [
    # fresh pod with init containers: only the first init container starts
    ("Always", ["i1", "i2"], {}, {}, ["i1"], {}, False, False),
    ("Always", ["i1", "i2"], {"i1": _st("running")}, {}, [], {}, False, False),
    ("Always", ["i1", "i2"], {"i1": _st("exited", 0)}, {}, ["i2"], {}, False, False),
    ("Always", ["i1"], {"i1": _st("exited", 0)}, {}, ["a", "b"], {}, True, False),
    ("Always", ["i1"], {"i1": _st("exited", 1)}, {}, ["i1"], {}, False, False),
    ("Always", ["i1"], {"i1": _st("exited", 1)}, {"i1": 5.0}, [], {"i1": 5.0}, False, False),
    ("Never", ["i1"], {"i1": _st("exited", 1)}, {}, [], {}, False, True),
    # containers
    ("Always", [], {"a": _st("running"), "b": _st("exited", 0)}, {}, ["b"], {}, True, False),
    ("OnFailure", [], {"a": _st("exited", 0), "b": _st("exited", 2)}, {}, ["b"], {}, True, False),
    ("Never", [], {"a": _st("exited", 0), "b": _st("exited", 2)}, {}, [], {}, True, False),
    ("Always", [], {"a": _st("exited", 1), "b": _st("running")}, {"a": 10.0}, [], {"a": 10.0}, True, False),
])
def test_plan_containers(policy: str, init: list[str], latest: dict, left: dict, start: list[str],
                         backoff: dict, init_done: bool, init_failed: bool) -> None:
    plan = plan_containers(policy, init, ["a", "b"], latest, left)
    assert (plan.start, plan.backoff, plan.init_done, plan.init_failed) == (start, backoff, init_done, init_failed)


@pytest.mark.parametrize(("policy", "code", "restart"), [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 137, True),
    ("Never", 1, False),
])
def test_should_restart(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


@pytest.mark.parametrize(("container", "policy"), [
    ({"image": "busybox"}, "Always"),
    ({"image": "busybox:latest"}, "Always"),
    ({"image": "busybox:1.36"}, "IfNotPresent"),
    ({"image": "localhost:5000/app"}, "Always"),
    ({"image": "busybox@sha256:abc"}, "IfNotPresent"),
    ({"image": "busybox", "imagePullPolicy": "Never"}, "Never"),
])
def test_pull_policy_defaults(container: dict, policy: str) -> None:
    assert pull_policy(container) == policy


def test_missing_image_messages() -> None:
    assert image_missing_waiting("app:1", "Never") == (
        "ErrImageNeverPull", 'Container image "app:1" is not present with pull policy of Never')
    reason, message = image_missing_waiting("app:1", "IfNotPresent")
    assert reason == "ImagePullBackOff"
    assert message.startswith('Back-off pulling image "app:1"') and "mizzen image import" in message


@pytest.mark.parametrize(("cpu", "text"), [(2.0, "2"), (1.5, "1500m"), (0.25, "250m")])
def test_cpu_quantity(cpu: float, text: str) -> None:
    assert node.cpu_quantity(cpu) == text


def _facts(**kw: object) -> node.HostFacts:
    base = dict(cpu=2.0, memory=4 * 2**30, storage=100 * 2**30, memory_available=2 * 2**30,
                storage_available=50 * 2**30, pids_max=32768, pids_used=300, kernel="6.1", os_image="Debian",
                arch="amd64", machine_id="m", boot_id="b")
    base.update(kw)
    return node.HostFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("facts", "pressured"), [
    (_facts(), set()),
    (_facts(memory_available=50 * 2**20), {"MemoryPressure"}),
    (_facts(storage_available=5 * 2**30), {"DiskPressure"}),
    (_facts(pids_used=32000), {"PIDPressure"}),
])
def test_pressure_conditions(facts: node.HostFacts, pressured: set[str]) -> None:
    assert {t for t, bad, _r, _m in node.pressure_conditions(facts) if bad} == pressured


def test_node_status_reasons_and_transitions() -> None:
    s1 = node.node_status("n", _facts(), {}, 10250, now="2026-01-01T00:00:00Z")
    by = {c["type"]: c for c in s1["conditions"]}
    assert by["Ready"]["reason"] == "KubeletReady"
    assert by["Ready"]["message"] == "kubelet is posting ready status"
    assert by["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
    assert s1["capacity"]["pods"] == "110" and s1["capacity"]["cpu"] == "2"
    assert s1["capacity"]["memory"] == f"{4 * 2**20}Ki"
    assert s1["nodeInfo"]["containerRuntimeVersion"] == "mizzen://0.1"
    assert s1["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    s2 = node.node_status("n", _facts(), s1, 10250, now="2026-01-01T00:01:00Z")
    ready = {c["type"]: c for c in s2["conditions"]}["Ready"]
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert ready["lastHeartbeatTime"] == "2026-01-01T00:01:00Z"
