"""Table printers for the built-in kinds: the columns and cells Kubernetes v1.32's API server
sends for `kubectl get` (pkg/printers/internalversion), ported to plain JSON objects.

The API server always prints "wide" (every column, priority 1 included) and lets kubectl hide
priority-1 columns unless `-o wide`, so each row function returns one cell per column. Objects
arrive as stored JSON (v1 field names), so where Kubernetes prints an internal field that the
wire form spells differently (`podIPs` filled from `podIP`, events.k8s.io `note`, autoscaling/v1
`targetCPUUtilizationPercentage`) the row function reads both. A printer must never raise on a
half-filled object: missing fields print as Kubernetes prints zero values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apiserver.registry.printers.format import (
    InvalidSelector,
    format_label_selector,
    format_labels,
    human_duration,
    int_or_string,
    join_host_port,
    parse_time,
    quantity,
    seconds_between,
    selector_string,
    since,
)

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name automatically. "
    "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
    "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients may "
    "not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
    "Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
CONTAINERS_DESCRIPTION = "Names of each container in the template."
IMAGES_DESCRIPTION = "Images referenced by each container in the template."

Row = Callable[[dict, dt.datetime], list]


def col(name: str, type_: str = "string", description: str = "", *, priority: int = 0,
        format_: str = "") -> dict:
    """One `TableColumnDefinition` (every field present, as Go marshals it)."""
    return {"name": name, "type": type_, "format": format_, "description": description,
            "priority": priority}


NAME = col("Name", "string", NAME_DESCRIPTION, format_="name")
AGE = col("Age", "string", AGE_DESCRIPTION)


@dataclass(frozen=True)
class Printer:
    columns: tuple[dict, ...]
    row: Row
    # Kubernetes sorts a few lists before printing (FlowSchemas by precedence).
    sort_key: Callable[[dict], Any] | None = None
    # Row conditions (pods that completed) as TableRowCondition dicts.
    conditions: Callable[[dict], list[dict]] | None = field(default=None)


# ---------------------------------------------------------------------------------------------
# small accessors


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(key)
        if obj is None:
            return default
    return obj


def _name(obj: dict) -> str:
    return _get(obj, "metadata", "name", default="")


def _age(obj: dict, now: dt.datetime) -> str:
    return since(_get(obj, "metadata", "creationTimestamp"), now)


def _int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return default


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _containers(spec: Any) -> tuple[str, str]:
    """`layoutContainerCells`: comma-joined names and images."""
    containers = _list(_get(spec, "containers"))
    return (",".join(str(c.get("name", "")) for c in containers if isinstance(c, dict)),
            ",".join(str(c.get("image", "")) for c in containers if isinstance(c, dict)))


def _replicas(obj: dict) -> int:
    """spec.replicas, defaulted to 1 as the API server defaults it."""
    return _int(_get(obj, "spec", "replicas"), 1)


def _condition_true(conditions: Any, type_: str) -> bool:
    for c in _list(conditions):
        if isinstance(c, dict) and c.get("type") == type_:
            return c.get("status") == "True"
    return False


def _bool_ptr(value: Any) -> str:
    if value is None:
        return "<unset>"
    return "True" if value else "False"


# ---------------------------------------------------------------------------------------------
# core/v1 Pod

POD_COLUMNS = (
    NAME,
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col("Restarts", "string", "The number of times the containers in this pod have been restarted "
        "and when the last container in this pod has restarted."),
    AGE,
    col("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. "
        "Empty if not yet allocated.", priority=1),
    col("Node", "string", "NodeName indicates in which node this pod is scheduled.", priority=1),
    col("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods "
        "on the node, but it cannot be scheduled right away as preemption victims receive their "
        "graceful termination periods.", priority=1),
    col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod "
        "readiness.", priority=1),
)

NODE_UNREACHABLE_POD_REASON = "NodeLost"


def _restartable(container: Any) -> bool:
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _last_termination(status: dict) -> dt.datetime | None:
    return parse_time(_get(status, "lastState", "terminated", "finishedAt"))


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def pod_status(pod: dict, now: dt.datetime) -> tuple[str, str, str]:
    """(READY, STATUS, RESTARTS) exactly as Kubernetes computes them for `kubectl get pods`.

    STATUS starts from `status.reason` or the phase; `SchedulingGated` when the PodScheduled
    condition says so; an init container that has not finished gives `Init:N/M`,
    `Init:<waiting reason>` or `Init:<terminated reason>`; otherwise the last container (walking
    the list backwards) that waits or terminated gives its reason (`CrashLoopBackOff`,
    `ContainerCreating`, `Completed`, `Error`, `OOMKilled`, `ExitCode:N`, `Signal:N`), with
    `Completed` turned back into `Running`/`NotReady` while another container still runs; a
    deletionTimestamp makes it `Terminating` (or `Unknown` for pods on a lost node).
    RESTARTS sums restart counts and adds `(5m ago)` from the latest `lastState.terminated`."""
    spec = _dict(pod.get("spec"))
    status = _dict(pod.get("status"))
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in _list(status.get("conditions")):
        if isinstance(cond, dict) and cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    total = len(_list(spec.get("containers")))
    init_specs = {c.get("name"): c for c in _list(spec.get("initContainers")) if isinstance(c, dict)}
    total += sum(1 for c in init_specs.values() if _restartable(c))
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: dt.datetime | None = None
    last_sidecar_restart: dt.datetime | None = None

    initializing = False
    init_statuses = [s for s in _list(status.get("initContainerStatuses")) if isinstance(s, dict)]
    for i, cs in enumerate(init_statuses):
        restarts += _int(cs.get("restartCount"))
        last_restart = _later(last_restart, _last_termination(cs))
        sidecar = _restartable(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += _int(cs.get("restartCount"))
            last_sidecar_restart = _later(last_sidecar_restart, _last_termination(cs))
        state = _dict(cs.get("state"))
        terminated = state.get("terminated") if isinstance(state.get("terminated"), dict) else None
        waiting = state.get("waiting") if isinstance(state.get("waiting"), dict) else None
        if terminated is not None and _int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        if terminated is not None:
            if not terminated.get("reason"):
                if _int(terminated.get("signal")) != 0:
                    reason = f"Init:Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"Init:ExitCode:{_int(terminated.get('exitCode'))}"
            else:
                reason = "Init:" + str(terminated.get("reason"))
        elif waiting is not None and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting.get("reason"))
        else:
            reason = f"Init:{i}/{len(_list(spec.get('initContainers')))}"
        initializing = True
        break

    if not initializing or _condition_true(status.get("conditions"), "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        statuses = [s for s in _list(status.get("containerStatuses")) if isinstance(s, dict)]
        for cs in reversed(statuses):
            restarts += _int(cs.get("restartCount"))
            last_restart = _later(last_restart, _last_termination(cs))
            state = _dict(cs.get("state"))
            terminated = state.get("terminated") if isinstance(state.get("terminated"), dict) else None
            waiting = state.get("waiting") if isinstance(state.get("waiting"), dict) else None
            if waiting is not None and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif terminated is not None and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif terminated is not None:
                if _int(terminated.get("signal")) != 0:
                    reason = f"Signal:{_int(terminated.get('signal'))}"
                else:
                    reason = f"ExitCode:{_int(terminated.get('exitCode'))}"
            elif cs.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status.get("conditions"), "Ready") else "NotReady"

    deleting = _get(pod, "metadata", "deletionTimestamp") is not None
    if deleting and status.get("reason") == NODE_UNREACHABLE_POD_REASON:
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_text = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(seconds_between(last_restart, now))} ago)"
    return f"{ready}/{total}", reason, restarts_text


def _pod_row(pod: dict, now: dt.datetime) -> list:
    ready, reason, restarts = pod_status(pod, now)
    spec = _dict(pod.get("spec"))
    status = _dict(pod.get("status"))
    ips = [p.get("ip") for p in _list(status.get("podIPs")) if isinstance(p, dict)]
    pod_ip = (ips[0] if ips else status.get("podIP")) or "<none>"
    gates = "<none>"
    readiness_gates = [g for g in _list(spec.get("readinessGates")) if isinstance(g, dict)]
    if readiness_gates:
        true_count = 0
        for gate in readiness_gates:
            for cond in _list(status.get("conditions")):
                if isinstance(cond, dict) and cond.get("type") == gate.get("conditionType"):
                    if cond.get("status") == "True":
                        true_count += 1
                    break
        gates = f"{true_count}/{len(readiness_gates)}"
    return [_name(pod), ready, reason, restarts, _age(pod, now), pod_ip,
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates]


def _pod_conditions(pod: dict) -> list[dict]:
    phase = _get(pod, "status", "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


# ---------------------------------------------------------------------------------------------
# workloads


def _pod_template_row(obj: dict, now: dt.datetime) -> list:
    names, images = _containers(_get(obj, "template", "spec"))
    return [_name(obj), names, images, format_labels(_get(obj, "template", "metadata", "labels"))]


def _rc_row(obj: dict, now: dt.datetime) -> list:
    names, images = _containers(_get(obj, "spec", "template", "spec"))
    status = _dict(obj.get("status"))
    return [_name(obj), _replicas(obj), _int(status.get("replicas")), _int(status.get("readyReplicas")),
            _age(obj, now), names, images, format_labels(_get(obj, "spec", "selector"))]


def _rs_row(obj: dict, now: dt.datetime) -> list:
    names, images = _containers(_get(obj, "spec", "template", "spec"))
    status = _dict(obj.get("status"))
    return [_name(obj), _replicas(obj), _int(status.get("replicas")), _int(status.get("readyReplicas")),
            _age(obj, now), names, images, format_label_selector(_get(obj, "spec", "selector"))]


def _deployment_row(obj: dict, now: dt.datetime) -> list:
    names, images = _containers(_get(obj, "spec", "template", "spec"))
    status = _dict(obj.get("status"))
    try:
        selector = selector_string(_get(obj, "spec", "selector"))
    except InvalidSelector:
        selector = "<invalid>"
    return [_name(obj), f"{_int(status.get('readyReplicas'))}/{_replicas(obj)}",
            _int(status.get("updatedReplicas")), _int(status.get("availableReplicas")), _age(obj, now),
            names, images, selector]


def _statefulset_row(obj: dict, now: dt.datetime) -> list:
    names, images = _containers(_get(obj, "spec", "template", "spec"))
    return [_name(obj), f"{_int(_get(obj, 'status', 'readyReplicas'))}/{_replicas(obj)}", _age(obj, now),
            names, images]


def _daemonset_row(obj: dict, now: dt.datetime) -> list:
    names, images = _containers(_get(obj, "spec", "template", "spec"))
    s = _dict(obj.get("status"))
    return [_name(obj), _int(s.get("desiredNumberScheduled")), _int(s.get("currentNumberScheduled")),
            _int(s.get("numberReady")), _int(s.get("updatedNumberScheduled")), _int(s.get("numberAvailable")),
            format_labels(_get(obj, "spec", "template", "spec", "nodeSelector")), _age(obj, now),
            names, images, format_label_selector(_get(obj, "spec", "selector"))]


def job_status(job: dict) -> str:
    """The Job STATUS column: Complete, Failed, Terminating, Suspended, FailureTarget, Running."""
    conditions = _get(job, "status", "conditions")
    if _condition_true(conditions, "Complete"):
        return "Complete"
    if _condition_true(conditions, "Failed"):
        return "Failed"
    if _get(job, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    if _condition_true(conditions, "Suspended"):
        return "Suspended"
    if _condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    succeeded = _int(status.get("succeeded"))
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{_int(spec.get('completions'))}"
    else:
        parallelism = _int(spec.get("parallelism"))
        completions = f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"
    start = parse_time(status.get("startTime"))
    end = parse_time(status.get("completionTime"))
    duration = ""
    if start is not None:
        duration = human_duration(seconds_between(start, end if end is not None else now))
    names, images = _containers(_get(spec, "template", "spec"))
    return [_name(obj), job_status(obj), completions, duration, _age(obj, now), names, images,
            format_label_selector(spec.get("selector"))]


def _cronjob_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    last = _get(obj, "status", "lastScheduleTime")
    job_spec = _get(spec, "jobTemplate", "spec")
    names, images = _containers(_get(job_spec, "template", "spec"))
    return [_name(obj), spec.get("schedule", ""), spec.get("timeZone") or "<none>", _bool_ptr(spec.get("suspend")),
            len(_list(_get(obj, "status", "active"))), since(last, now) if last else "<none>",
            _age(obj, now), names, images, format_label_selector(_get(job_spec, "selector"))]


def _controller_revision_row(obj: dict, now: dt.datetime) -> list:
    controller = "<none>"
    for ref in _list(_get(obj, "metadata", "ownerReferences")):
        if isinstance(ref, dict) and ref.get("controller") is True:
            group = str(ref.get("apiVersion", "")).rpartition("/")[0] if "/" in str(ref.get("apiVersion", "")) else ""
            kind = str(ref.get("kind", ""))
            group_kind = f"{kind}.{group}" if group else kind
            controller = f"{group_kind.lower()}/{ref.get('name', '')}" if group_kind else str(ref.get("name", ""))
            break
    return [_name(obj), controller, _int(obj.get("revision")), _age(obj, now)]


def _qptr(value: Any) -> str:
    """A `*resource.Quantity` printed by Go: `<nil>` when unset."""
    return "<nil>" if value is None else quantity(value)


def _hpa_metrics(obj: dict) -> str:
    """`formatHPAMetrics`: `cpu: 12%/80%`, at most two then `+ N more...`; autoscaling/v1 objects
    (targetCPUUtilizationPercentage) print as the one CPU utilization metric they stand for."""
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    specs = _list(spec.get("metrics"))
    statuses = _list(status.get("currentMetrics"))
    if not specs and ("targetCPUUtilizationPercentage" in spec or str(obj.get("apiVersion", "")) == "autoscaling/v1"):
        cpu_target = _int(spec.get("targetCPUUtilizationPercentage"), 80)
        specs = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": cpu_target}}}]
        current = status.get("currentCPUUtilizationPercentage")
        statuses = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": current}}}] if current is not None else []
    if not specs:
        return "<none>"
    items: list[str] = []
    for i, m in enumerate(specs):
        m = _dict(m)
        st = _dict(statuses[i]) if i < len(statuses) else {}
        kind = m.get("type")
        if kind in ("External", "Object"):
            key = kind.lower()
            target = _dict(_get(m, key, "target"))
            source = _get(st, key)
            cur = _dict(_get(source, "current"))
            if target.get("averageValue") is not None:
                current = quantity(cur["averageValue"]) if source and cur.get("averageValue") is not None else "<unknown>"
                items.append(f"{current}/{quantity(target['averageValue'])} (avg)")
            else:
                current = _qptr(cur.get("value")) if source else "<unknown>"
                items.append(f"{current}/{_qptr(target.get('value'))}")
        elif kind == "Pods":
            source = _get(st, "pods")
            current = _qptr(_get(source, "current", "averageValue")) if source else "<unknown>"
            items.append(f"{current}/{_qptr(_get(m, 'pods', 'target', 'averageValue'))}")
        elif kind in ("Resource", "ContainerResource"):
            key = "resource" if kind == "Resource" else "containerResource"
            name = _get(m, key, "name", default="")
            target = _dict(_get(m, key, "target"))
            source = _get(st, key)
            cur = _dict(_get(source, "current"))
            if target.get("averageValue") is not None:
                current = _qptr(cur.get("averageValue")) if source else "<unknown>"
                items.append(f"{name}: {current}/{quantity(target['averageValue'])}")
            else:
                current = "<unknown>"
                if source and cur.get("averageUtilization") is not None:
                    current = f"{_int(cur.get('averageUtilization'))}%"
                util = target.get("averageUtilization")
                goal = f"{_int(util)}%" if util is not None else "<auto>"
                items.append(f"{name}: {current}/{goal}")
        else:
            items.append("<unknown type>")
    if len(items) > 2:
        return ", ".join(items[:2]) + f" + {len(items) - 2} more..."
    return ", ".join(items)


def _hpa_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    ref = _dict(spec.get("scaleTargetRef"))
    min_pods = str(_int(spec.get("minReplicas"))) if spec.get("minReplicas") is not None else "<unset>"
    return [_name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", _hpa_metrics(obj), min_pods,
            _int(spec.get("maxReplicas")), _int(_get(obj, "status", "currentReplicas")), _age(obj, now)]


def _pdb_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    min_available = int_or_string(spec["minAvailable"]) if spec.get("minAvailable") is not None else "N/A"
    max_unavailable = int_or_string(spec["maxUnavailable"]) if spec.get("maxUnavailable") is not None else "N/A"
    return [_name(obj), min_available, max_unavailable, _int(_get(obj, "status", "disruptionsAllowed")),
            _age(obj, now)]


# ---------------------------------------------------------------------------------------------
# services and networking


def _service_external_ip(svc: dict) -> str:
    spec = _dict(svc.get("spec"))
    external = [str(x) for x in _list(spec.get("externalIPs"))]
    kind = spec.get("type") or "ClusterIP"
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        lb = _lb_addresses(_get(svc, "status", "loadBalancer", "ingress"))
        if external:
            return ",".join(lb + external)
        return ",".join(lb) if lb else "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _lb_addresses(ingress: Any) -> list[str]:
    """The sorted, de-duplicated IPs (or hostnames) of load-balancer ingress points."""
    found = set()
    for point in _list(ingress):
        if isinstance(point, dict):
            if point.get("ip"):
                found.add(point["ip"])
            elif point.get("hostname"):
                found.add(point["hostname"])
    return sorted(found)


def service_ports(ports: Any) -> str:
    """`80/TCP`, `80:30080/TCP` (with a nodePort), comma-joined; `<none>` without ports."""
    pieces = []
    for p in _list(ports):
        if not isinstance(p, dict):
            continue
        proto = p.get("protocol") or "TCP"
        if _int(p.get("nodePort")) > 0:
            pieces.append(f"{_int(p.get('port'))}:{_int(p.get('nodePort'))}/{proto}")
        else:
            pieces.append(f"{_int(p.get('port'))}/{proto}")
    return ",".join(pieces) or "<none>"


def _service_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    cluster_ips = _list(spec.get("clusterIPs"))
    cluster_ip = cluster_ips[0] if cluster_ips else (spec.get("clusterIP") or "<none>")
    return [_name(obj), spec.get("type") or "ClusterIP", cluster_ip, _service_external_ip(obj),
            service_ports(spec.get("ports")), _age(obj, now), format_labels(spec.get("selector"))]


def _endpoints_cell(obj: dict) -> str:
    """`formatEndpoints`: up to three `ip:port`, then `+ N more...`; `<none>` without subsets."""
    subsets = [s for s in _list(obj.get("subsets")) if isinstance(s, dict)]
    if not subsets:
        return "<none>"
    shown: list[str] = []
    more = False
    count = 0
    for ss in subsets:
        addresses = [a for a in _list(ss.get("addresses")) if isinstance(a, dict)]
        ports = [p for p in _list(ss.get("ports")) if isinstance(p, dict)]
        if not ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == 3:
                    more = True
                    break
                shown.append(str(a.get("ip", "")))
            continue
        for port in ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == 3:
                    more = True
                    break
                shown.append(join_host_port(str(a.get("ip", "")), _int(port.get("port"))))
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if more else text


def _list_with_more(items: list[str], total: int) -> str:
    if total > 3:
        return ",".join(items[:3]) + f" + {total - 3} more..."
    return ",".join(items) or "<unset>"


def _endpointslice_row(obj: dict, now: dt.datetime) -> list:
    ports = []
    for p in _list(obj.get("ports")):
        p = _dict(p)
        if p.get("port") is not None:
            ports.append(str(_int(p.get("port"))))
        elif p.get("name") is not None:
            ports.append(str(p["name"]))
        else:
            ports.append("*")
    addresses = [str(a) for e in _list(obj.get("endpoints")) for a in _list(_dict(e).get("addresses"))]
    return [_name(obj), obj.get("addressType", ""), _list_with_more(ports, len(ports)),
            _list_with_more(addresses, len(addresses)), _age(obj, now)]


def _ingress_hosts(rules: Any) -> str:
    rules = _list(rules)
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        host = _dict(rule).get("host")
        if not more and host:
            hosts.append(str(host))
    if not hosts:
        return "*"
    return ",".join(hosts) + (f" + {len(rules) - 3} more..." if more else "")


def _ingress_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    return [_name(obj), spec.get("ingressClassName") or "<none>", _ingress_hosts(spec.get("rules")),
            ",".join(_lb_addresses(_get(obj, "status", "loadBalancer", "ingress"))),
            "80, 443" if _list(spec.get("tls")) else "80", _age(obj, now)]


def _ingress_class_row(obj: dict, now: dt.datetime) -> list:
    params = _get(obj, "spec", "parameters")
    text = "<none>"
    if isinstance(params, dict):
        text = str(params.get("kind", ""))
        if params.get("apiGroup") is not None:
            text += "." + str(params["apiGroup"])
        text += "/" + str(params.get("name", ""))
    return [_name(obj), _get(obj, "spec", "controller", default=""), text, _age(obj, now)]


def _network_policy_row(obj: dict, now: dt.datetime) -> list:
    selector = _get(obj, "spec", "podSelector", default={})
    return [_name(obj), format_label_selector(selector), _age(obj, now)]


# ---------------------------------------------------------------------------------------------
# cluster objects


def find_node_roles(node: dict) -> list[str]:
    """Roles from `node-role.kubernetes.io/<role>` label keys and `kubernetes.io/role=<role>`."""
    roles = set()
    for key, value in _dict(_get(node, "metadata", "labels")).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return sorted(roles)


def node_status(node: dict) -> str:
    """`Ready`, `NotReady` (any Ready status but True) or `Unknown` (no Ready condition),
    plus `,SchedulingDisabled` when cordoned."""
    parts = []
    for cond in _list(_get(node, "status", "conditions")):
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            parts = ["Ready" if cond.get("status") == "True" else "NotReady"]
    if not parts:
        parts = ["Unknown"]
    if _get(node, "spec", "unschedulable") is True:
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def _node_address(node: dict, kind: str) -> str:
    for a in _list(_get(node, "status", "addresses")):
        if isinstance(a, dict) and a.get("type") == kind:
            return str(a.get("address", ""))
    return "<none>"


def _node_row(obj: dict, now: dt.datetime) -> list:
    info = _dict(_get(obj, "status", "nodeInfo"))
    return [_name(obj), node_status(obj), ",".join(find_node_roles(obj)) or "<none>", _age(obj, now),
            info.get("kubeletVersion", ""), _node_address(obj, "InternalIP"), _node_address(obj, "ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def _namespace_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), _get(obj, "status", "phase", default=""), _age(obj, now)]


def _event_source(source: Any, controller: Any, instance: Any) -> str:
    component = _get(source, "component") or controller or ""
    host = _get(source, "host") or instance or ""
    return f"{component}, {host}" if host else str(component)


def core_event(obj: dict) -> dict:
    """An events.k8s.io/v1 Event in core/v1 field names (Kubernetes stores one kind and prints
    the internal form); a core/v1 Event is returned unchanged."""
    if str(obj.get("apiVersion", "")).startswith("events.k8s.io/") or "regarding" in obj or "note" in obj:
        return {
            "metadata": obj.get("metadata", {}),
            "involvedObject": obj.get("regarding") or {},
            "reason": obj.get("reason", ""),
            "message": obj.get("note", ""),
            "type": obj.get("type", ""),
            "source": obj.get("deprecatedSource") or {},
            "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
            "lastTimestamp": obj.get("deprecatedLastTimestamp"),
            "count": obj.get("deprecatedCount"),
            "eventTime": obj.get("eventTime"),
            "series": obj.get("series"),
            "reportingComponent": obj.get("reportingController", ""),
            "reportingInstance": obj.get("reportingInstance", ""),
        }
    return obj


def _event_row(raw: dict, now: dt.datetime) -> list:
    obj = core_event(raw)
    first = since(obj.get("firstTimestamp"), now)
    if parse_time(obj.get("firstTimestamp")) is None:
        first = since(obj.get("eventTime"), now)
    last = since(obj.get("lastTimestamp"), now) if parse_time(obj.get("lastTimestamp")) else first
    count = _int(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, dict):
        last = since(series.get("lastObservedTime"), now)
        count = _int(series.get("count"))
    elif count == 0:
        count = 1
    involved = _dict(obj.get("involvedObject"))
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    return [last, obj.get("type", ""), obj.get("reason", ""), target, involved.get("fieldPath", ""),
            _event_source(obj.get("source"), obj.get("reportingComponent"), obj.get("reportingInstance")),
            str(obj.get("message", "")).strip(), first, count, _name(obj)]


def _secret_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), obj.get("type") or "Opaque", len(_dict(obj.get("data"))), _age(obj, now)]


def _configmap_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), len(_dict(obj.get("data"))) + len(_dict(obj.get("binaryData"))), _age(obj, now)]


def _serviceaccount_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), len(_list(obj.get("secrets"))), _age(obj, now)]


def access_modes(modes: Any) -> str:
    """`GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order."""
    present = set(_list(modes))
    order = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
             ("ReadWriteOncePod", "RWOP"))
    return ",".join(short for mode, short in order if mode in present)


def _storage_class_of(obj: dict) -> str:
    annotated = _get(obj, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class")
    if annotated is not None:
        return str(annotated)
    return str(_get(obj, "spec", "storageClassName", default=""))


def _pv_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    claim = ""
    if isinstance(spec.get("claimRef"), dict):
        claim = f"{spec['claimRef'].get('namespace', '')}/{spec['claimRef'].get('name', '')}"
    phase = "Terminating" if _get(obj, "metadata", "deletionTimestamp") else _get(obj, "status", "phase", default="")
    return [_name(obj), quantity(_get(spec, "capacity", "storage")), access_modes(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy", ""), phase, claim, _storage_class_of(obj),
            spec.get("volumeAttributesClassName") or "<unset>", _get(obj, "status", "reason", default=""),
            _age(obj, now), spec.get("volumeMode") or "<unset>"]


def _pvc_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    status = _dict(obj.get("status"))
    phase = "Terminating" if _get(obj, "metadata", "deletionTimestamp") else status.get("phase", "")
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = access_modes(status.get("accessModes"))
        capacity = quantity(_get(status, "capacity", "storage"))
    return [_name(obj), phase, spec.get("volumeName", ""), capacity, modes, _storage_class_of(obj),
            spec.get("volumeAttributesClassName") or "<unset>", _age(obj, now), spec.get("volumeMode") or "<unset>"]


def _component_status_row(obj: dict, now: dt.datetime) -> list:
    status, message, error = "Unknown", "", ""
    for cond in _list(obj.get("conditions")):
        if isinstance(cond, dict) and cond.get("type") == "Healthy":
            status = "Healthy" if cond.get("status") == "True" else "Unhealthy"
            message, error = cond.get("message", ""), cond.get("error", "")
            break
    return [_name(obj), status, message, error]


def _resource_quota_row(obj: dict, now: dt.datetime) -> list:
    hard = _dict(_get(obj, "status", "hard"))
    used = _dict(_get(obj, "status", "used"))
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        text = f"{resource}: {quantity(used.get(resource))}/{quantity(hard[resource])}"
        pieces = resource.split(".")
        (limits if len(pieces) > 1 and pieces[0] == "limits" else requests).append(text)
    return [_name(obj), _age(obj, now), ", ".join(requests), ", ".join(limits)]


# ---------------------------------------------------------------------------------------------
# rbac, certificates, coordination, scheduling, node, storage, admission, flow control


def subjects(obj: dict) -> tuple[str, str, str]:
    """`rbac.SubjectsStrings`: users, groups and `namespace/name` service accounts."""
    users, groups, sas = [], [], []
    for s in _list(obj.get("subjects")):
        if not isinstance(s, dict):
            continue
        kind = s.get("kind")
        if kind == "ServiceAccount":
            sas.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
        elif kind == "User":
            users.append(str(s.get("name", "")))
        elif kind == "Group":
            groups.append(str(s.get("name", "")))
    return ", ".join(users), ", ".join(groups), ", ".join(sas)


def _binding_row(obj: dict, now: dt.datetime) -> list:
    ref = _dict(obj.get("roleRef"))
    users, groups, sas = subjects(obj)
    return [_name(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(obj, now), users, groups, sas]


def csr_condition(obj: dict) -> str:
    kinds = {c.get("type") for c in _list(_get(obj, "status", "conditions")) if isinstance(c, dict)}
    if "Denied" in kinds:
        text = "Denied"
    elif "Approved" in kinds:
        text = "Approved"
    else:
        text = "Pending"
    if "Failed" in kinds:
        text += ",Failed"
    if _get(obj, "status", "certificate"):
        text += ",Issued"
    return text


def _csr_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    duration = "<none>"
    if spec.get("expirationSeconds") is not None:
        duration = human_duration(_int(spec.get("expirationSeconds")))
    return [_name(obj), _age(obj, now), spec.get("signerName") or "<none>", spec.get("username", ""),
            duration, csr_condition(obj)]


def _lease_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), _get(obj, "spec", "holderIdentity", default=""), _age(obj, now)]


def _priority_class_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), _int(obj.get("value")), bool(obj.get("globalDefault", False)), _age(obj, now),
            obj.get("preemptionPolicy") or ""]


def _runtime_class_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), obj.get("handler", ""), _age(obj, now)]


def _storage_class_row(obj: dict, now: dt.datetime) -> list:
    annotations = _dict(_get(obj, "metadata", "annotations"))
    name = _name(obj)
    if (annotations.get("storageclass.kubernetes.io/is-default-class") == "true"
            or annotations.get("storageclass.beta.kubernetes.io/is-default-class") == "true"):
        name += " (default)"
    return [name, obj.get("provisioner", ""), obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", bool(obj.get("allowVolumeExpansion", False)),
            _age(obj, now)]


def _volume_attachment_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    return [_name(obj), spec.get("attacher", ""), _get(spec, "source", "persistentVolumeName", default=""),
            spec.get("nodeName", ""), bool(_get(obj, "status", "attached", default=False)), _age(obj, now)]


def _csi_node_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), len(_list(_get(obj, "spec", "drivers"))), _age(obj, now)]


def _csi_driver_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    tokens = "<unset>"
    if spec.get("tokenRequests") is not None:
        tokens = ",".join(str(_dict(t).get("audience", "")) for t in _list(spec.get("tokenRequests")))
    modes = ",".join(str(m) for m in _list(spec.get("volumeLifecycleModes"))) or "<none>"
    return [_name(obj), bool(spec.get("attachRequired", True)), bool(spec.get("podInfoOnMount", False)),
            bool(spec.get("storageCapacity", False)), tokens, bool(spec.get("requiresRepublish", False)),
            modes, _age(obj, now)]


def _webhooks_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), len(_list(obj.get("webhooks"))), _age(obj, now)]


def _vap_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    param = spec.get("paramKind")
    param_kind = f"{param.get('apiVersion', '')}/{param.get('kind', '')}" if isinstance(param, dict) else "<unset>"
    return [_name(obj), len(_list(spec.get("validations"))), param_kind, _age(obj, now)]


def _vapb_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    ref = spec.get("paramRef")
    param = "<unset>"
    if isinstance(ref, dict):
        if ref.get("name"):
            # a name without a namespace may be cluster-scoped or any namespace's: Kubernetes writes */
            param = f"{ref.get('namespace') or '*'}/{ref['name']}"
        elif isinstance(ref.get("selector"), dict):
            param = go_label_selector_struct(ref["selector"])
    return [_name(obj), spec.get("policyName", ""), param, _age(obj, now)]


def go_label_selector_struct(selector: dict) -> str:
    """Go's generated `LabelSelector.String()` (a struct dump), which the binding printer uses."""
    labels = _dict(selector.get("matchLabels"))
    label_text = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(str(v) for v in _list(e.get('values')))}],}},"
        for e in _list(selector.get("matchExpressions")) if isinstance(e, dict))
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{label_text}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")


def _flow_schema_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    method = _get(spec, "distinguisherMethod", "type", default="<none>") if spec.get("distinguisherMethod") else "<none>"
    missing = "?"
    for cond in _list(_get(obj, "status", "conditions")):
        if isinstance(cond, dict) and cond.get("type") == "Dangling":
            missing = str(cond.get("status", ""))
            break
    return [_name(obj), _get(spec, "priorityLevelConfiguration", "name", default=""),
            _int(spec.get("matchingPrecedence")), method, _age(obj, now), missing]


def _priority_level_row(obj: dict, now: dt.datetime) -> list:
    spec = _dict(obj.get("spec"))
    shares: Any = "<none>"
    queues: Any = "<none>"
    hand: Any = "<none>"
    limit: Any = "<none>"
    limited = spec.get("limited")
    if isinstance(limited, dict):
        shares = _int(limited.get("nominalConcurrencyShares"))
        queuing = _get(limited, "limitResponse", "queuing")
        if isinstance(queuing, dict):
            queues = _int(queuing.get("queues"))
            hand = _int(queuing.get("handSize"))
            limit = _int(queuing.get("queueLengthLimit"))
    return [_name(obj), spec.get("type", ""), shares, queues, hand, limit, _age(obj, now)]


def _apiservice_row(obj: dict, now: dt.datetime) -> list:
    service = _get(obj, "spec", "service")
    where = f"{service.get('namespace', '')}/{service.get('name', '')}" if isinstance(service, dict) else "Local"
    available = "Unknown"
    for cond in _list(_get(obj, "status", "conditions")):
        if isinstance(cond, dict) and cond.get("type") == "Available":
            status = str(cond.get("status", ""))
            if status != "True" and cond.get("reason"):
                available = f"{status} ({cond['reason']})"
            else:
                available = status
            break
    return [_name(obj), where, available, _age(obj, now)]


def _scale_row(obj: dict, now: dt.datetime) -> list:
    return [_name(obj), _int(_get(obj, "spec", "replicas")), _int(_get(obj, "status", "replicas")), _age(obj, now)]


# ---------------------------------------------------------------------------------------------
# the table of printers, by (API group, kind): every version of a kind prints alike.
# Kinds left out get the default table (Name, Created At) as in Kubernetes, whose stores for
# Roles, ClusterRoles, LimitRanges, CRDs and CSIStorageCapacities register the default convertor
# (the last even though a print handler exists for it).


def _wl(*cols: dict) -> tuple[dict, ...]:
    return cols


_TEMPLATE_WIDE = (col("Containers", "string", CONTAINERS_DESCRIPTION, priority=1),
                  col("Images", "string", IMAGES_DESCRIPTION, priority=1))


def _selector_col(description: str = "A label query over pods that should match the replica count.") -> dict:
    return col("Selector", "string", description, priority=1)


PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): Printer(POD_COLUMNS, _pod_row, conditions=_pod_conditions),
    ("", "PodTemplate"): Printer(_wl(
        NAME, col("Containers", "string", CONTAINERS_DESCRIPTION), col("Images", "string", IMAGES_DESCRIPTION),
        col("Pod Labels", "string", "The labels for the pod template.")), _pod_template_row),
    ("", "ReplicationController"): Printer(_wl(
        NAME, col("Desired", "integer", "Replicas is the number of desired replicas."),
        col("Current", "integer", "Replicas is the most recently observed number of replicas."),
        col("Ready", "integer", "The number of ready replicas for this replication controller."),
        AGE, *_TEMPLATE_WIDE, _selector_col()), _rc_row),
    ("", "Service"): Printer(_wl(
        NAME, col("Type", "string", "type determines how the Service is exposed."),
        col("Cluster-IP", "string", "clusterIP is the IP address of the service."),
        col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the "
            "cluster will also accept traffic for this service."),
        col("Port(s)", "string", "The list of ports that are exposed by this service."), AGE,
        col("Selector", "string", "Route service traffic to pods with label keys and values matching "
            "this selector.", priority=1)), _service_row),
    ("", "Endpoints"): Printer(_wl(
        NAME, col("Endpoints", "string", "The set of all endpoints is the union of all subsets."), AGE),
        lambda o, now: [_name(o), _endpoints_cell(o), _age(o, now)]),
    ("", "Node"): Printer(_wl(
        NAME, col("Status", "string", "The status of the node"), col("Roles", "string", "The roles of the node"),
        AGE, col("Version", "string", "Kubelet Version reported by the node."),
        col("Internal-IP", "string", "List of addresses reachable to the node.", priority=1),
        col("External-IP", "string", "List of addresses reachable to the node.", priority=1),
        col("OS-Image", "string", "OS Image reported by the node from /etc/os-release.", priority=1),
        col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r'.", priority=1),
        col("Container-Runtime", "string", "ContainerRuntime Version reported by the node through "
            "runtime remote API.", priority=1)), _node_row),
    ("", "Event"): Printer(_wl(
        col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
        col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
        col("Reason", "string", "This should be a short, machine understandable string that gives the "
            "reason for the transition into the object's current status."),
        col("Object", "string", "The object that this event is about."),
        col("Subobject", "string", "If referring to a piece of an object instead of an entire object, "
            "this string should contain a valid JSON/Go field access statement.", priority=1),
        col("Source", "string", "The component reporting this event.", priority=1),
        col("Message", "string", "A human-readable description of the status of this operation."),
        col("First Seen", "string", "The time at which the event was first recorded.", priority=1),
        col("Count", "string", "The number of times this event has occurred.", priority=1),
        col("Name", "string", NAME_DESCRIPTION, priority=1, format_="name")), _event_row),
    ("", "Namespace"): Printer(_wl(NAME, col("Status", "string", "The status of the namespace"), AGE),
                               _namespace_row),
    ("", "Secret"): Printer(_wl(
        NAME, col("Type", "string", "Used to facilitate programmatic handling of secret data."),
        col("Data", "string", "Data contains the secret data."), AGE), _secret_row),
    ("", "ServiceAccount"): Printer(_wl(
        NAME, col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods "
                  "running using this ServiceAccount are allowed to use."), AGE), _serviceaccount_row),
    ("", "PersistentVolume"): Printer(_wl(
        NAME, col("Capacity", "string", "capacity is the description of the persistent volume's resources "
                  "and capacity."),
        col("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
        col("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a "
            "persistent volume when released from its claim."),
        col("Status", "string", "phase indicates if a volume is available, bound to a claim, or released "
            "by a claim."),
        col("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume "
            "and PersistentVolumeClaim."),
        col("StorageClass", "string", "StorageClass of the pv"),
        col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
        col("Reason", "string", "reason is a brief CamelCase string that describes any failure and is "
            "meant for machine parsing and tidy display in the CLI."),
        AGE, col("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a "
                 "formatted filesystem or to remain in raw block state.", priority=1)), _pv_row),
    ("", "PersistentVolumeClaim"): Printer(_wl(
        NAME, col("Status", "string", "phase represents the current phase of PersistentVolumeClaim."),
        col("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing "
            "this claim."),
        col("Capacity", "string", "capacity represents the actual resources of the underlying volume."),
        col("Access Modes", "string", "accessModes contains the actual access modes the volume backing "
            "the PVC has."),
        col("StorageClass", "string", "StorageClass of the pvc"),
        col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"), AGE,
        col("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim.",
            priority=1)), _pvc_row),
    ("", "ComponentStatus"): Printer(_wl(
        NAME, col("Status", "string", "Status of the component conditions"),
        col("Message", "string", "Message of the component conditions"),
        col("Error", "string", "Error of the component conditions")), _component_status_row),
    ("", "ConfigMap"): Printer(_wl(
        NAME, col("Data", "string", "Data contains the configuration data."), AGE), _configmap_row),
    ("", "ResourceQuota"): Printer(_wl(
        NAME, AGE,
        col("Request", "string", "Request represents a minimum amount of cpu/memory that a container may "
            "consume."),
        col("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use "
            "independent of contention on the node.")), _resource_quota_row),
    ("apps", "ReplicaSet"): Printer(_wl(
        NAME, col("Desired", "integer", "Replicas is the number of desired replicas."),
        col("Current", "integer", "Replicas is the most recently observed number of replicas."),
        col("Ready", "integer", "The number of ready replicas for this replica set."),
        AGE, *_TEMPLATE_WIDE, _selector_col()), _rs_row),
    ("apps", "DaemonSet"): Printer(_wl(
        NAME, col("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
        col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are "
            "supposed to run the daemon pod."),
        col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one "
            "or more of the daemon pod running and ready."),
        col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
        col("Available", "integer", "The number of nodes that should be running the daemon pod and have "
            "one or more of the daemon pod running and available."),
        col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit "
            "on a node."),
        AGE, *_TEMPLATE_WIDE, _selector_col("A label query over pods that are managed by the daemon set.")),
        _daemonset_row),
    ("apps", "Deployment"): Printer(_wl(
        NAME, col("Ready", "string", "Number of the pod with ready state"),
        col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that "
            "have the desired template spec."),
        col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) "
            "targeted by this deployment."),
        AGE, *_TEMPLATE_WIDE, _selector_col("Label selector for pods.")), _deployment_row),
    ("apps", "StatefulSet"): Printer(_wl(
        NAME, col("Ready", "string", "Number of the pod with ready state"), AGE, *_TEMPLATE_WIDE),
        _statefulset_row),
    ("apps", "ControllerRevision"): Printer(_wl(
        NAME, col("Controller", "string", "Controller of the object"),
        col("Revision", "string", "Revision indicates the revision of the state represented by Data."), AGE),
        _controller_revision_row),
    ("batch", "Job"): Printer(_wl(
        NAME, col("Status", "string", "Status of the job."),
        col("Completions", "string", "The number of pods which reached phase Succeeded."),
        col("Duration", "string", "Time required to complete the job."), AGE, *_TEMPLATE_WIDE,
        _selector_col("A label query over pods that should match the pod count.")), _job_row),
    ("batch", "CronJob"): Printer(_wl(
        NAME, col("Schedule", "string", "The schedule in Cron format."),
        col("Timezone", "string", "The time zone name for the given schedule."),
        col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions."),
        col("Active", "integer", "A list of pointers to currently running jobs."),
        col("Last Schedule", "string", "Information when was the last time the job was successfully "
            "scheduled."),
        AGE, *_TEMPLATE_WIDE, _selector_col("A label query over pods that should match the pod count.")),
        _cronjob_row),
    ("autoscaling", "HorizontalPodAutoscaler"): Printer(_wl(
        NAME, col("Reference", "string", "scaleTargetRef points to the target resource to scale."),
        col("Targets", "string", "metrics contains the specifications for which to use to calculate the "
            "desired replica count."),
        col("MinPods", "string", "minReplicas is the lower limit for the number of replicas."),
        col("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas."),
        col("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this "
            "autoscaler."), AGE), _hpa_row),
    ("autoscaling", "Scale"): Printer(_wl(
        col("Name", "string", NAME_DESCRIPTION), col("Desired", "integer", "desired number of instances."),
        col("Available", "integer", "actual number of observed instances."), AGE), _scale_row),
    ("policy", "PodDisruptionBudget"): Printer(_wl(
        NAME, col("Min Available", "string", "The minimum number of pods that must be available."),
        col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
        col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
        AGE), _pdb_row),
    ("networking.k8s.io", "Ingress"): Printer(_wl(
        NAME, col("Class", "string", "The name of the IngressClass resource that should be used for "
                  "additional configuration"),
        col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
        col("Ports", "string", "Ports of TLS configurations that open"), AGE), _ingress_row),
    ("networking.k8s.io", "IngressClass"): Printer(_wl(
        NAME, col("Controller", "string", "Controller that is responsible for handling this class"),
        col("Parameters", "string", "A reference to a resource with additional parameters"), AGE),
        _ingress_class_row),
    ("networking.k8s.io", "NetworkPolicy"): Printer(_wl(
        NAME, col("Pod-Selector", "string", "Selects the pods to which this NetworkPolicy object applies."),
        AGE), _network_policy_row),
    ("rbac.authorization.k8s.io", "RoleBinding"): Printer(_wl(
        NAME, col("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole "
                  "in the global namespace."), AGE,
        col("Users", "string", "Users in the roleBinding", priority=1),
        col("Groups", "string", "Groups in the roleBinding", priority=1),
        col("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", priority=1)), _binding_row),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): Printer(_wl(
        NAME, col("Role", "string", "RoleRef can only reference a ClusterRole in the global namespace."), AGE,
        col("Users", "string", "Users in the clusterRoleBinding", priority=1),
        col("Groups", "string", "Groups in the clusterRoleBinding", priority=1),
        col("ServiceAccounts", "string", "ServiceAccounts in the clusterRoleBinding", priority=1)),
        _binding_row),
    ("certificates.k8s.io", "CertificateSigningRequest"): Printer(_wl(
        NAME, AGE, col("SignerName", "string", "signerName indicates the requested signer."),
        col("Requestor", "string", "request contains an x509 certificate signing request."),
        col("RequestedDuration", "string", "expirationSeconds is the requested duration of validity of "
            "the issued certificate."),
        col("Condition", "string", "conditions applied to the request.")), _csr_row),
    ("coordination.k8s.io", "Lease"): Printer(_wl(
        NAME, col("Holder", "string", "holderIdentity contains the identity of the holder of a current "
                  "lease."), AGE), _lease_row),
    ("storage.k8s.io", "StorageClass"): Printer(_wl(
        NAME, col("Provisioner", "string", "provisioner indicates the type of the provisioner."),
        col("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically "
            "provisioned PersistentVolumes of this storage class."),
        col("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should "
            "be provisioned and bound."),
        col("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow "
            "volume expand."), AGE), _storage_class_row),
    ("storage.k8s.io", "VolumeAttachment"): Printer(_wl(
        NAME, col("Attacher", "string", "attacher indicates the name of the volume driver that MUST handle "
                  "this request.", format_="name"),
        col("PV", "string", "persistentVolumeName represents the name of the persistent volume to attach."),
        col("Node", "string", "nodeName represents the node that the volume should be attached to."),
        col("Attached", "boolean", "attached indicates the volume is successfully attached."), AGE),
        _volume_attachment_row),
    ("storage.k8s.io", "CSINode"): Printer(_wl(
        NAME, col("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
        AGE), _csi_node_row),
    ("storage.k8s.io", "CSIDriver"): Printer(_wl(
        NAME, col("AttachRequired", "boolean", "attachRequired indicates this CSI volume driver requires an "
                  "attach operation."),
        col("PodInfoOnMount", "boolean", "podInfoOnMount indicates this CSI volume driver requires "
            "additional pod information during mount operations."),
        col("StorageCapacity", "boolean", "storageCapacity indicates that the CSI volume driver wants pod "
            "scheduling to consider the storage capacity."),
        col("TokenRequests", "string", "tokenRequests indicates the CSI driver needs pods' service account "
            "tokens it is mounting volume for to do necessary authentication."),
        col("RequiresRepublish", "boolean", "requiresRepublish indicates the CSI driver wants "
            "`NodePublishVolume` being periodically called."),
        col("Modes", "string", "volumeLifecycleModes defines what kind of volumes this CSI volume driver "
            "supports."), AGE), _csi_driver_row),
    ("scheduling.k8s.io", "PriorityClass"): Printer(_wl(
        NAME, col("Value", "integer", "value represents the integer value of this priority class."),
        col("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be "
            "considered as the default priority for pods that do not have any priority class."),
        AGE, col("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with "
                 "lower priority.")), _priority_class_row),
    ("node.k8s.io", "RuntimeClass"): Printer(_wl(
        NAME, col("Handler", "string", "handler specifies the underlying runtime and configuration that "
                  "the CRI implementation will use to handle pods of this class."), AGE), _runtime_class_row),
    ("discovery.k8s.io", "EndpointSlice"): Printer(_wl(
        NAME, col("AddressType", "string", "addressType specifies the type of address carried by this "
                  "EndpointSlice."),
        col("Ports", "string", "ports specifies the list of network ports exposed by each endpoint in "
            "this slice."),
        col("Endpoints", "string", "endpoints is a list of unique endpoints in this slice."), AGE),
        _endpointslice_row),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): Printer(_wl(
        NAME, col("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this "
                  "configuration"), AGE), _webhooks_row),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): Printer(_wl(
        NAME, col("Webhooks", "integer", "Webhooks indicates the number of webhooks registered in this "
                  "configuration"), AGE), _webhooks_row),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): Printer(_wl(
        NAME, col("Validations", "integer", "Validations indicates the number of validation rules defined "
                  "in this configuration"),
        col("ParamKind", "string", "ParamKind specifies the kind of resources used to parameterize this "
            "policy"), AGE), _vap_row),
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): Printer(_wl(
        NAME, col("PolicyName", "string", "PolicyName indicates the policy definition which the policy "
                  "binding binded to"),
        col("ParamRef", "string", "ParamRef indicates the param resource which sets the configration param"),
        AGE), _vapb_row),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"): Printer(_wl(
        NAME, col("PriorityLevel", "string", "`name` is the name of the priority level configuration being "
                  "referenced Required."),
        col("MatchingPrecedence", "string", "`matchingPrecedence` is used to choose among the FlowSchemas "
            "that match a given request."),
        col("DistinguisherMethod", "string", "`distinguisherMethod` defines how to compute the flow "
            "distinguisher for requests that match this schema."),
        AGE, col("MissingPL", "string", "references a broken or non-existent PriorityLevelConfiguration")),
        _flow_schema_row,
        sort_key=lambda o: (_int(_get(o, "spec", "matchingPrecedence")), _name(o))),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): Printer(_wl(
        NAME, col("Type", "string", "`type` indicates whether this priority level is subject to limitation "
                  "on request execution."),
        col("NominalConcurrencyShares", "string", "`nominalConcurrencyShares` (NCS) contributes to the "
            "computation of the NominalConcurrencyLimit (NominalCL) of this level."),
        col("Queues", "string", "`queues` is the number of queues for this priority level."),
        col("HandSize", "string", "`handSize` is a small positive number that configures the shuffle "
            "sharding of requests into queues."),
        col("QueueLengthLimit", "string", "`queueLengthLimit` is the maximum number of requests allowed to "
            "be waiting in a given queue of this priority level at a time."), AGE), _priority_level_row),
    ("apiregistration.k8s.io", "APIService"): Printer(_wl(
        NAME, col("Service", "string", "The reference to the service that hosts this API endpoint."),
        col("Available", "string", "Whether this service is available."), AGE), _apiservice_row),
}
# events.k8s.io Events are the same stored objects as core Events and print alike.
PRINTERS[("events.k8s.io", "Event")] = PRINTERS[("", "Event")]


def printer_for(group: str, kind: str) -> Printer | None:
    return PRINTERS.get((group, kind))
