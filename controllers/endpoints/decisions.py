"""Pure decisions of the Endpoints controller, after Kubernetes' pkg/controller/endpoint
(endpoints_controller.go) and pkg/api/v1/endpoints (RepackSubsets). No I/O, no mutation of
inputs: functions take the Service and pod dicts as the API sends them.

Also the helpers the EndpointSlice controller shares (which pods count, which port a
Service port resolves to in a pod, the last-change-trigger-time tracker).

Worked example: Service `web` (port 80 -> targetPort "http") over three pods a, b, c where a
and b are Ready with container port http=8080 and c is not Ready and names no `http` port:
one subset `{addresses: [a, b], ports: [{port: 8080}]}`; c resolves no port, so it is in no
subset (a headless Service without ports would list it under notReadyAddresses)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apimachinery.selectors import selector_from_set
from controllers import podutil
from controllers.podutil import Obj

TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
HEADLESS_LABEL = "service.kubernetes.io/headless"
MAX_CAPACITY = 1000
"""At most this many addresses (ready and not ready) in one Endpoints object; beyond it the
object is truncated and annotated `over-capacity: truncated`."""


# --- shared with the EndpointSlice controller -------------------------------------------------

def service_selector(service: Obj) -> dict[str, str] | None:
    """The Service's selector map, or None for a Service without one (its Endpoints are
    someone else's to write)."""
    sel = (service.get("spec") or {}).get("selector")
    return dict(sel) if sel else None


def selects(service: Obj, pod: Obj) -> bool:
    sel = service_selector(service)
    return (sel is not None and podutil.namespace_of(pod) == podutil.namespace_of(service)
            and selector_from_set(sel).matches(podutil.labels_of(pod)))


def is_service_ip_set(service: Obj) -> bool:
    """helper.IsServiceIPSet: a cluster IP that is neither "None" nor empty."""
    ip = (service.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def is_pod_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def pod_ip(pod: Obj) -> str:
    st = pod.get("status") or {}
    if st.get("podIP"):
        return str(st["podIP"])
    for entry in st.get("podIPs") or []:
        if entry.get("ip"):
            return str(entry["ip"])
    return ""


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """ShouldPodBeInEndpoints: not terminal, has an IP, and not being deleted unless
    `include_terminating`."""
    if is_pod_terminal(pod) or not pod_ip(pod):
        return False
    return include_terminating or not podutil.is_deleting(pod)


def find_port(pod: Obj, service_port: Obj) -> int | None:
    """The container port a Service port's targetPort means in `pod` (podutil.FindPort): a
    number as is (missing: the Service port), a name looked up among the pod's container
    ports of the same protocol; None when the pod has no such named port."""
    target = service_port.get("targetPort")
    if target is None or target == "" or target == 0:
        return int(service_port.get("port") or 0) or None
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                return int(p.get("containerPort") or 0) or None
    return None


def _trigger_time_of_pod(pod: Obj) -> datetime | None:
    c = podutil.pod_condition(pod, "Ready")
    return podutil.parse_time(c.get("lastTransitionTime")) if c else None


class TriggerTimeTracker:
    """endpointutil.TriggerTimeTracker: the earliest change (pod Ready transition, pod first
    seen, Service creation) since the previous sync of a Service, for the
    `last-change-trigger-time` annotation. One per controller; `compute` returns the time
    (None: nothing new) and remembers what it saw."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[dict[str, datetime | None], datetime | None]] = {}
        self._previous: dict[str, tuple[dict[str, datetime | None], datetime | None] | None] = {}

    def compute(self, service: Obj, pods: list[Obj]) -> datetime | None:
        key = podutil.key_of(service)
        last_pods, last_svc = self._state.get(key, ({}, None))
        earliest: datetime | None = None
        changed = False
        seen: dict[str, datetime | None] = {}

        def note(t: datetime | None) -> None:
            nonlocal earliest, changed
            changed = True
            if t is not None and (earliest is None or t < earliest):
                earliest = t

        for pod in pods:
            t = _trigger_time_of_pod(pod)
            name = podutil.name_of(pod)
            seen[name] = t
            if name not in last_pods:
                note(t)
            else:
                prev = last_pods[name]
                if t is not None and (prev is None or t > prev):
                    note(t)
        svc_t = podutil.creation_time(service)
        if svc_t is not None and (last_svc is None or svc_t > last_svc):
            note(svc_t)
        self._previous[key] = self._state.get(key)
        self._state[key] = (seen, svc_t)
        return earliest if changed else None

    def rollback(self, key: str) -> None:
        """Forget the last `compute` for `key` (its write failed): the next one reports the
        same changes again, so a retried write still carries the trigger time."""
        if key in self._previous:
            prev = self._previous.pop(key)
            if prev is None:
                self._state.pop(key, None)
            else:
                self._state[key] = prev

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
        self._previous.pop(key, None)


def format_trigger_time(t: datetime) -> str:
    """RFC 3339 with nanoseconds trimmed as Go's RFC3339Nano does."""
    base = podutil.format_time(t)
    if t.microsecond:
        frac = f"{t.microsecond:06d}".rstrip("0")
        return base[:-1] + "." + frac + "Z"
    return base


# --- Endpoints ------------------------------------------------------------------------------

def endpoint_address(pod: Obj, service: Obj) -> Obj:
    """podToEndpointAddressForService: ip, nodeName, targetRef, and hostname when the pod's
    subdomain names this Service."""
    spec = pod.get("spec") or {}
    addr: Obj = {"ip": pod_ip(pod)}
    if spec.get("hostname") and spec.get("subdomain") == podutil.name_of(service):
        addr["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        addr["nodeName"] = spec["nodeName"]
    addr["targetRef"] = {"kind": "Pod", "namespace": podutil.namespace_of(pod), "name": podutil.name_of(pod),
                         "uid": podutil.uid_of(pod)}
    return addr


def endpoint_port(service_port: Obj, port: int) -> Obj:
    out: Obj = {}
    if service_port.get("name"):
        out["name"] = service_port["name"]
    out["port"] = port
    out["protocol"] = service_port.get("protocol") or "TCP"
    if service_port.get("appProtocol"):
        out["appProtocol"] = service_port["appProtocol"]
    return out


def _address_key(addr: Obj) -> tuple[str, str]:
    return addr.get("ip", ""), (addr.get("targetRef") or {}).get("uid", "")


def _freeze(o: Any) -> Any:
    if isinstance(o, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in o.items()))
    if isinstance(o, list):
        return tuple(_freeze(v) for v in o)
    return o


def _port_sort_key(p: Obj) -> tuple[str, int, str]:
    return p.get("name", ""), int(p.get("port") or 0), p.get("protocol", "")


def _ip_sort_key(addr: Obj) -> tuple[Any, ...]:
    ip = addr.get("ip", "")
    parts = ip.split(".")
    if len(parts) == 4 and all(x.isdigit() for x in parts):
        return (0, tuple(int(x) for x in parts), _address_key(addr)[1])
    return (1, ip, _address_key(addr)[1])


def repack_subsets(entries: list[tuple[Obj, bool, Obj | None]]) -> list[Obj]:
    """RepackSubsets: (address, ready, port or None) triples into the fewest subsets, one
    per distinct set of addresses sharing the same ports; addresses sorted by IP, ports by
    name then number, subsets by their first port then first address."""
    addrs: dict[tuple[str, str], Obj] = {}
    by_port: dict[Any, tuple[Obj | None, dict[tuple[str, str], bool]]] = {}
    for addr, ready, port in entries:
        k = _address_key(addr)
        addrs.setdefault(k, addr)
        pk = _freeze(port) if port is not None else None
        slot = by_port.setdefault(pk, (port, {}))[1]
        # An address both ready and not ready for one port (two pods, one IP) counts ready.
        slot[k] = slot.get(k, False) or ready
    groups: dict[Any, tuple[dict[tuple[str, str], bool], list[Obj]]] = {}
    for port, members in by_port.values():
        gk = tuple(sorted(members.items()))
        g = groups.setdefault(gk, (members, []))
        if port is not None:
            g[1].append(port)
    subsets: list[Obj] = []
    for members, ports in groups.values():
        ready_addrs = sorted((addrs[k] for k, r in members.items() if r), key=_ip_sort_key)
        not_ready = sorted((addrs[k] for k, r in members.items() if not r), key=_ip_sort_key)
        s: Obj = {}
        if ready_addrs:
            s["addresses"] = ready_addrs
        if not_ready:
            s["notReadyAddresses"] = not_ready
        if ports:
            s["ports"] = sorted(ports, key=_port_sort_key)
        subsets.append(s)

    def order(s: Obj) -> tuple[Any, ...]:
        first_port = _port_sort_key(s["ports"][0]) if s.get("ports") else ("", 0, "")
        first = (s.get("addresses") or s.get("notReadyAddresses") or [{}])[0]
        return first_port, _ip_sort_key(first)
    return sorted(subsets, key=order)


def desired_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The subsets of the Service's Endpoints from the pods it selects (syncService).

    A pod counts if it has an IP, is not terminal, and is not being deleted (unless
    publishNotReadyAddresses). Ready pods (all of them with publishNotReadyAddresses) go to
    `addresses`; others to `notReadyAddresses` unless their restartPolicy means they will
    not run again. A pod lacking a named targetPort is left out of that port's subset; a
    headless Service without ports lists addresses with no ports."""
    spec = service.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    ports = spec.get("ports") or []
    entries: list[tuple[Obj, bool, Obj | None]] = []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, tolerate):
            continue
        ready = tolerate or podutil.is_pod_ready(pod)
        if not ready and not _may_run_again(pod):
            continue
        addr = endpoint_address(pod, service)
        if not ports:
            if spec.get("clusterIP") == "None":
                entries.append((addr, ready, None))
            continue
        for sp in ports:
            n = find_port(pod, sp)
            if n is None:
                continue
            entries.append((addr, ready, endpoint_port(sp, n)))
    return repack_subsets(entries)


def _may_run_again(pod: Obj) -> bool:
    """shouldPodBeInEndpoints for a not-ready pod: its phase and restartPolicy allow it to
    become ready later."""
    phase = (pod.get("status") or {}).get("phase")
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if policy == "Never":
        return phase not in ("Failed", "Succeeded")
    if policy == "OnFailure":
        return phase != "Succeeded"
    return True


def truncate(subsets: list[Obj], max_capacity: int = MAX_CAPACITY) -> tuple[list[Obj], bool]:
    """At most `max_capacity` addresses, ready ones first, in subset order; (subsets, truncated)."""
    total = sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets)
    if total <= max_capacity:
        return subsets, False
    room = max_capacity
    out = [dict(s) for s in subsets]
    for field in ("addresses", "notReadyAddresses"):
        for s in out:
            if field not in s:
                continue
            s[field] = s[field][:room]
            room -= len(s[field])
            if not s[field]:
                del s[field]
    return [s for s in out if s.get("addresses") or s.get("notReadyAddresses")], True


def endpoints_labels(service: Obj) -> dict[str, str]:
    labels = dict(podutil.labels_of(service))
    if is_service_ip_set(service):
        labels.pop(HEADLESS_LABEL, None)
    else:
        labels[HEADLESS_LABEL] = ""
    return labels


def desired_endpoints(service: Obj, pods: list[Obj], current: Obj | None,
                      trigger_time: datetime | None) -> Obj | None:
    """The Endpoints object to write for `service` (create when `current` is None, else a
    full update carrying current's resourceVersion), or None when `current` already has these
    subsets, the Service's labels and a correct capacity annotation.

    Labels are the Service's plus `service.kubernetes.io/headless: ""` for a Service without a
    cluster IP; the trigger-time annotation is set when there is one and dropped otherwise."""
    subsets, truncated = truncate(desired_subsets(service, pods))
    labels = endpoints_labels(service)
    if current is not None:
        cur_anns = podutil.annotations_of(current)
        capacity_ok = (OVER_CAPACITY_ANNOTATION in cur_anns) == truncated
        if (_freeze(_strip_rv(current.get("subsets") or [])) == _freeze(subsets)
                and podutil.labels_of(current) == labels and capacity_ok):
            return None
        out: Obj = {k: v for k, v in current.items() if k not in ("subsets",)}
        meta = dict(podutil.meta(current))
        anns = dict(cur_anns)
    else:
        out = {"apiVersion": "v1", "kind": "Endpoints"}
        meta = {"name": podutil.name_of(service), "namespace": podutil.namespace_of(service)}
        anns = {}
    if trigger_time is not None:
        anns[TRIGGER_TIME_ANNOTATION] = format_trigger_time(trigger_time)
    else:
        anns.pop(TRIGGER_TIME_ANNOTATION, None)
    if truncated:
        anns[OVER_CAPACITY_ANNOTATION] = "truncated"
    else:
        anns.pop(OVER_CAPACITY_ANNOTATION, None)
    meta.pop("managedFields", None)
    meta["labels"] = labels
    meta["annotations"] = anns
    if not labels:
        meta.pop("labels")
    if not anns:
        meta.pop("annotations")
    out["metadata"] = meta
    out["subsets"] = subsets
    return out


def _strip_rv(subsets: list[Obj]) -> list[Obj]:
    """Subsets without targetRef.resourceVersion (endpointSubsetsEqualIgnoreResourceVersion)."""
    out = []
    for s in subsets:
        s2 = dict(s)
        for field in ("addresses", "notReadyAddresses"):
            if field in s2:
                s2[field] = [{**a, "targetRef": {k: v for k, v in (a.get("targetRef") or {}).items()
                                                 if k != "resourceVersion"}} if a.get("targetRef") else a
                             for a in s2[field]]
        if not s2.get("ports"):
            s2.pop("ports", None)
        out.append(s2)
    return out


def pod_change_matters(old: Obj, new: Obj) -> bool:
    """Whether a pod update can change any Endpoints or EndpointSlice: labels, IP, readiness,
    deletion, phase, node, hostname/subdomain or container ports."""
    if podutil.meta(old).get("resourceVersion") == podutil.meta(new).get("resourceVersion"):
        return False
    os_, ns_ = old.get("spec") or {}, new.get("spec") or {}

    def ports(spec: Obj) -> list[Any]:
        return [c.get("ports") for c in spec.get("containers") or []]
    return (podutil.labels_of(old) != podutil.labels_of(new) or pod_ip(old) != pod_ip(new)
            or podutil.ready_status(old) != podutil.ready_status(new)
            or podutil.is_deleting(old) != podutil.is_deleting(new)
            or (old.get("status") or {}).get("phase") != (new.get("status") or {}).get("phase")
            or os_.get("nodeName") != ns_.get("nodeName") or os_.get("hostname") != ns_.get("hostname")
            or os_.get("subdomain") != ns_.get("subdomain") or ports(os_) != ports(ns_)
            or _trigger_time_of_pod(old) != _trigger_time_of_pod(new))
