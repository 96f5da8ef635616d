"""Pure decisions of the EndpointSlice controller, after Kubernetes' pkg/controller/endpointslice
(reconciler.go, utils.go). No I/O, no mutation of inputs.

`plan(service, pods, existing)` says which slices to create, update and delete so that the
Service's endpoints are covered, changing as few slices as it can:

1. Endpoints are grouped by the ports they resolve to (a named targetPort may differ per pod);
   each group gets its own slices.
2. An existing slice keeps the endpoints still wanted (refreshed if their conditions
   changed) and drops the others; one left empty is deleted, one changed is updated.
3. Endpoints not yet in any slice fill the slices being updated, then other slices with
   room, then new slices of at most `max_per_slice` (100).
4. A Service without any endpoint keeps exactly one empty placeholder slice.

Worked example: 250 pods, no slices -> three new slices of 100, 100, 50. Then 10 of the
first slice's pods go away and 5 new ones appear: the first slice is updated to 90 + 5 = 95
endpoints; nothing else is written."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controllers import podutil
from controllers.endpoints import decisions as ep
from controllers.podutil import Obj

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS_PER_SLICE = 100


@dataclass
class Plan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def address_type(service: Obj) -> str:
    families = (service.get("spec") or {}).get("ipFamilies") or ["IPv4"]
    return "IPv6" if families[0] == "IPv6" else "IPv4"


def _ip_family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def pod_ip_of_family(pod: Obj, family: str) -> str:
    st = pod.get("status") or {}
    ips = [e.get("ip", "") for e in st.get("podIPs") or []] or [st.get("podIP") or ""]
    for ip in ips:
        if ip and _ip_family(ip) == family:
            return ip
    return ""


def endpoint_for_pod(service: Obj, pod: Obj, family: str = "IPv4") -> Obj:
    """podToEndpoint: the pod's address, conditions, hostname, nodeName and targetRef.

    serving = the pod is Ready; terminating = it is being deleted; ready = serving and not
    terminating, or always with publishNotReadyAddresses."""
    spec = pod.get("spec") or {}
    serving = podutil.is_pod_ready(pod)
    terminating = podutil.is_deleting(pod)
    ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses")) or (serving and not terminating)
    out: Obj = {"addresses": [pod_ip_of_family(pod, family)],
                "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}
    if spec.get("hostname") and spec.get("subdomain") == podutil.name_of(service):
        out["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        out["nodeName"] = spec["nodeName"]
    out["targetRef"] = {"kind": "Pod", "namespace": podutil.namespace_of(pod), "name": podutil.name_of(pod),
                        "uid": podutil.uid_of(pod)}
    return out


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """getEndpointPorts: each Service port the pod resolves, with name ("" when unnamed),
    port, protocol and appProtocol."""
    out = []
    for sp in (service.get("spec") or {}).get("ports") or []:
        n = ep.find_port(pod, sp)
        if n is None:
            continue
        p: Obj = {"name": sp.get("name") or "", "port": n, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            p["appProtocol"] = sp["appProtocol"]
        out.append(p)
    return out


def _ports_key(ports: list[Obj] | None) -> Any:
    return tuple(sorted(ep._freeze(p) for p in ports or []))


def _endpoint_key(e: Obj) -> tuple[str, str]:
    return (e.get("targetRef") or {}).get("uid", ""), ",".join(e.get("addresses") or [])


def desired_endpoints(service: Obj, pods: list[Obj]) -> dict[Any, tuple[list[Obj], dict[tuple[str, str], Obj]]]:
    """Ports key -> (ports, endpoints by key): every pod that should be in the slices
    (terminating pods included, their conditions say so)."""
    family = address_type(service)
    out: dict[Any, tuple[list[Obj], dict[tuple[str, str], Obj]]] = {}
    for pod in pods:
        if not ep.should_pod_be_in_endpoints(pod, include_terminating=True):
            continue
        if not pod_ip_of_family(pod, family):
            continue
        ports = endpoint_ports(service, pod)
        e = endpoint_for_pod(service, pod, family)
        group = out.setdefault(_ports_key(ports), (ports, {}))
        group[1][_endpoint_key(e)] = e
    return out


def slice_labels(service: Obj) -> dict[str, str]:
    """The Service's labels (minus the reserved ones), the service-name and managed-by labels,
    and the headless label for a Service without a cluster IP."""
    labels = {k: v for k, v in podutil.labels_of(service).items()
              if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, ep.HEADLESS_LABEL)}
    labels[SERVICE_NAME_LABEL] = podutil.name_of(service)
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    if not ep.is_service_ip_set(service):
        labels[ep.HEADLESS_LABEL] = ""
    return labels


def owned_by(slice_: Obj, service: Obj) -> bool:
    return any(r.get("uid") == podutil.uid_of(service) and r.get("kind") == "Service"
               for r in podutil.meta(slice_).get("ownerReferences") or [])


def new_slice(service: Obj, ports: list[Obj], endpoints: list[Obj], family: str) -> Obj:
    name = podutil.name_of(service)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": name + "-", "namespace": podutil.namespace_of(service),
                         "labels": slice_labels(service),
                         "ownerReferences": [podutil.new_controller_ref(service, "v1", "Service")]},
            "addressType": family, "endpoints": endpoints, "ports": ports}


def _sorted_endpoints(eps: list[Obj]) -> list[Obj]:
    return sorted(eps, key=lambda e: ep._ip_sort_key({"ip": (e.get("addresses") or [""])[0],
                                                       "targetRef": e.get("targetRef")}))


def _with(slice_: Obj, service: Obj, endpoints: list[Obj]) -> Obj:
    """A copy of an existing slice with these endpoints and current labels."""
    out = {k: v for k, v in slice_.items() if k != "endpoints"}
    meta = {k: v for k, v in podutil.meta(slice_).items() if k != "managedFields"}
    meta["labels"] = {**(meta.get("labels") or {}), **slice_labels(service)}
    out["metadata"] = meta
    out["endpoints"] = _sorted_endpoints(endpoints)
    return out


def _annotate(slice_: Obj, trigger_time: datetime | None) -> Obj:
    """Set the last-change-trigger-time annotation of a slice being written, or drop a
    stale one when this write has no trigger time (as for Endpoints)."""
    meta = slice_["metadata"]
    anns = dict(meta.get("annotations") or {})
    if trigger_time is None:
        anns.pop(ep.TRIGGER_TIME_ANNOTATION, None)
    else:
        anns[ep.TRIGGER_TIME_ANNOTATION] = ep.format_trigger_time(trigger_time)
    if anns:
        meta["annotations"] = anns
    else:
        meta.pop("annotations", None)
    return slice_


def plan(service: Obj, pods: list[Obj], existing: list[Obj], *, trigger_time: datetime | None = None,
         max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> Plan:
    """What to write so that `existing` (this Service's slices, managed by this controller)
    cover the endpoints of `pods` (the pods the Service selects). See the module docstring."""
    p = Plan()
    family = address_type(service)
    want = desired_endpoints(service, pods)
    mine: list[Obj] = []
    for s in existing:
        if not owned_by(s, service) or s.get("addressType") != family:
            p.delete.append(s)
        else:
            mine.append(s)
    labels = slice_labels(service)

    if not any(eps for _, eps in want.values()):
        # Placeholder: one slice with no endpoints and no ports.
        keep = next((s for s in mine if not s.get("endpoints") and not s.get("ports")), None)
        for s in mine:
            if s is not keep:
                p.delete.append(s)
        if keep is None:
            p.create.append(_annotate(new_slice(service, [], [], family), trigger_time))
        elif any(podutil.labels_of(keep).get(k) != v for k, v in labels.items()):
            p.update.append(_annotate(_with(keep, service, []), trigger_time))
        return p

    by_ports: dict[Any, list[Obj]] = {}
    for s in mine:
        by_ports.setdefault(_ports_key(s.get("ports")), []).append(s)
    for pk, slices in by_ports.items():
        if pk not in want:
            p.delete.extend(slices)

    for pk, (ports, wanted) in want.items():
        placed: set[tuple[str, str]] = set()
        updating: list[tuple[Obj, list[Obj]]] = []
        unchanged: list[tuple[Obj, list[Obj]]] = []
        for s in by_ports.get(pk, []):
            kept: list[Obj] = []
            changed = False
            for e in s.get("endpoints") or []:
                k = _endpoint_key(e)
                if k in wanted and k not in placed:
                    if ep._freeze(wanted[k]) != ep._freeze(e):
                        changed = True
                    kept.append(wanted[k])
                    placed.add(k)
                else:
                    changed = True
            if not kept:
                p.delete.append(s)
                continue
            if not changed:
                current = podutil.labels_of(s)
                changed = any(current.get(k) != v for k, v in labels.items()) or (
                    ep.HEADLESS_LABEL in current and ep.HEADLESS_LABEL not in labels)
            (updating if changed else unchanged).append((s, kept))
        remaining = deque(_sorted_endpoints([e for k, e in wanted.items() if k not in placed]))
        # Fill slices already being written first, then the fullest unchanged ones with room.
        for _s, kept in updating:
            while remaining and len(kept) < max_per_slice:
                kept.append(remaining.popleft())
        for s, kept in sorted(unchanged, key=lambda x: -len(x[1])):
            if remaining and len(kept) < max_per_slice:
                while remaining and len(kept) < max_per_slice:
                    kept.append(remaining.popleft())
                updating.append((s, kept))
        for s, kept in updating:
            if ep.HEADLESS_LABEL not in labels and ep.HEADLESS_LABEL in podutil.labels_of(s):
                s = {**s, "metadata": {**podutil.meta(s), "labels": {
                    k: v for k, v in podutil.labels_of(s).items() if k != ep.HEADLESS_LABEL}}}
            p.update.append(_annotate(_with(s, service, kept), trigger_time))
        rest = list(remaining)
        for i in range(0, len(rest), max_per_slice):
            p.create.append(_annotate(new_slice(service, ports, rest[i:i + max_per_slice], family), trigger_time))
    return p
