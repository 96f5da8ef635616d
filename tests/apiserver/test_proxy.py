"""The API server's checks before it proxies to a kubelet, with Kubernetes' messages, and
how it finds and addresses the kubelet."""

from __future__ import annotations

from typing import Any

import pytest

from apimachinery.errors import BadRequest
from apiserver.proxy import check_pod, choose_container, kubelet_address, kubelet_query


def pod(containers: list[str], inits: list[str] = (), node: str = "n1", phase: str = "Running",
        statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p"},
            "spec": {"nodeName": node, "containers": [{"name": c} for c in containers],
                     "initContainers": [{"name": c} for c in inits]},
            "status": {"phase": phase, "containerStatuses": statuses or []}}


@pytest.mark.parametrize("p,requested,expected", [
    (pod(["a"]), None, "a"),
    (pod(["a"]), "", "a"),
    (pod(["a", "b"]), "b", "b"),
    (pod(["a"], ["init"]), "init", "init"),
    (pod(["a", "b"]), None, "a container name must be specified for pod p, choose one of: [a b]"),
    (pod(["a", "b"], ["i"]), None,
     "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"),
    (pod(["a"]), "x", "container x is not valid for pod p"),
])
def test_choose_container(p: dict[str, Any], requested: str | None, expected: str) -> None:
    if expected in ("a", "b", "init"):
        assert choose_container(p, requested) == expected
    else:
        with pytest.raises(BadRequest) as e:
            choose_container(p, requested)
        assert e.value.message == expected


RUNNING = {"name": "a", "state": {"running": {}}}
WAITING = {"name": "a", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
RESTARTED = {"name": "a", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"exitCode": 1}}}
DONE = {"name": "a", "state": {"terminated": {"exitCode": 0}}}


@pytest.mark.parametrize("p,sub,previous,message", [
    (pod(["a"], statuses=[RUNNING]), "log", False, None),
    (pod(["a"], statuses=[DONE], phase="Succeeded"), "log", False, None),
    (pod(["a"], statuses=[RESTARTED]), "log", False, None),
    (pod(["a"], statuses=[RESTARTED]), "log", True, None),
    (pod(["a"], node=""), "log", False, "pod p does not have a host assigned"),
    (pod(["a"], node=""), "portforward", False, "pod p does not have a host assigned"),
    (pod(["a"], statuses=[]), "log", False, 'container "a" in pod "p" is waiting to start: ContainerCreating'),
    (pod(["a"], statuses=[WAITING]), "log", False, 'container "a" in pod "p" is waiting to start: ImagePullBackOff'),
    (pod(["a"], statuses=[RUNNING]), "log", True, 'previous terminated container "a" in pod "p" not found'),
    (pod(["a"], statuses=[RUNNING]), "exec", False, None),
    (pod(["a"], statuses=[WAITING]), "exec", False, 'container "a" in pod "p" is waiting to start: ImagePullBackOff'),
    (pod(["a"], statuses=[DONE], phase="Succeeded"), "exec", False,
     "cannot exec into a container in a completed pod; current phase is Succeeded"),
    (pod(["a"], statuses=[DONE], phase="Running"), "attach", False, 'container "a" in pod "p" is not running'),
])
def test_check_pod(p: dict[str, Any], sub: str, previous: bool, message: str | None) -> None:
    container = None if sub == "portforward" else "a"
    if message is None:
        check_pod(p, sub, container, previous)
    else:
        with pytest.raises(BadRequest) as e:
            check_pod(p, sub, container, previous)
        assert e.value.message == message


@pytest.mark.parametrize("status,expected", [
    ({"addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "127.0.0.1"}],
      "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}, ("127.0.0.1", 10250)),
    ({"addresses": [{"type": "Hostname", "address": "n1"}]}, ("n1", 0)),
    ({}, ("", 0)),
])
def test_kubelet_address(status: dict[str, Any], expected: tuple[str, int]) -> None:
    assert kubelet_address({"status": status}) == expected


def test_kubelet_query_renames_stream_flags_and_drops_the_rest() -> None:
    q = {"command": ["sh", "-c", "x"], "container": ["c"], "stdin": ["true"], "stdout": ["true"],
         "stderr": ["true"], "tty": ["false"], "follow": ["true"]}
    assert kubelet_query("exec", q) == [("command", "sh"), ("command", "-c"), ("command", "x"), ("input", "true"),
                                        ("output", "true"), ("error", "true"), ("tty", "false")]
    assert kubelet_query("attach", q)[0] == ("input", "true")
    assert kubelet_query("log", {"follow": ["true"], "tailLines": ["3"], "container": ["c"], "pretty": ["1"]}) == [
        ("follow", "true"), ("tailLines", "3")]
    assert kubelet_query("portforward", q) == []
