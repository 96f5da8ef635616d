"""Strategies of the smaller API groups: coordination.k8s.io Lease, discovery.k8s.io
EndpointSlice, events.k8s.io Event, policy PodDisruptionBudget, scheduling.k8s.io
PriorityClass, and a generic "has a spec and a generation" strategy (Ingress, NetworkPolicy,
HorizontalPodAutoscaler).

What this module must never do: compute what a controller computes (a PDB's allowed
disruptions, an EndpointSlice's endpoints), or do I/O.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from apimachinery.errors import Cause
from apiserver.registry import pods
from apiserver.registry.strategy import Strategy
from apiserver.registry.validation import (
    FIELD_IMMUTABLE,
    Raw,
    forbidden,
    invalid,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_int,
    is_not_more_than_100_percent,
    is_qualified_name,
    is_valid_port_num,
    nonnegative,
    not_supported,
    required,
    too_many,
    validate_label_selector,
    validate_path_segment_name,
    validate_positive_int_or_percent,
)

JSON = dict[str, Any]


def _dict(v: Any) -> JSON:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


class GenerationStrategy(Strategy):
    """A kind whose spec changes bump metadata.generation."""

    has_generation = True


# ----------------------------------------------------------------- Lease

class LeaseStrategy(Strategy):
    allow_create_on_update = True

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes: list[Cause] = []
        lds = spec.get("leaseDurationSeconds")
        if is_int(lds) and lds <= 0:
            causes.append(invalid("spec.leaseDurationSeconds", lds, "must be greater than 0"))
        lt = spec.get("leaseTransitions")
        if is_int(lt) and lt < 0:
            causes.append(invalid("spec.leaseTransitions", lt, "must be greater than or equal to 0"))
        strategy = spec.get("strategy")
        if strategy is not None and strategy != "OldestEmulationVersion":
            causes.append(not_supported("spec.strategy", strategy, ["OldestEmulationVersion"]))
        if spec.get("preferredHolder") and not strategy:
            causes.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
        return causes


# ----------------------------------------------------------------- EndpointSlice

ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")


class EndpointSliceStrategy(Strategy):
    has_generation = True
    allow_create_on_update = False
    spec_fields = ("addressType", "endpoints", "ports")

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        at = obj.get("addressType") or ""
        if not at:
            causes.append(required("addressType"))
        elif at not in ADDRESS_TYPES:
            causes.append(not_supported("addressType", at, ADDRESS_TYPES))
        endpoints = _list(obj.get("endpoints"))
        if len(endpoints) > 1000:
            causes.append(too_many("endpoints", len(endpoints), 1000))
        for i, ep in enumerate(endpoints):
            p = f"endpoints[{i}]"
            ep = _dict(ep)
            addrs = _list(ep.get("addresses"))
            if not addrs:
                causes.append(required(p + ".addresses", "must contain at least 1 address"))
            elif len(addrs) > 100:
                causes.append(too_many(p + ".addresses", len(addrs), 100))
            for j, a in enumerate(addrs):
                causes += _validate_address(at, a, f"{p}.addresses[{j}]")
            host = ep.get("hostname")
            if host:
                causes += [invalid(p + ".hostname", host, m) for m in is_dns1123_label(host)]
            node = ep.get("nodeName")
            if node:
                causes += [invalid(p + ".nodeName", node, m) for m in is_dns1123_subdomain(node)]
        ports = _list(obj.get("ports"))
        if len(ports) > 20000:
            causes.append(too_many("ports", len(ports), 20000))
        names: set[str] = set()
        for i, port in enumerate(ports):
            p = f"ports[{i}]"
            port = _dict(port)
            name = port.get("name") or ""
            if name:
                causes += [invalid(p + ".name", name, m) for m in is_dns1123_label(name)]
            if name in names:
                from apiserver.registry.validation import duplicate
                causes.append(duplicate(p + ".name", name))
            names.add(name)
            proto = port.get("protocol") or ""
            if not proto:
                causes.append(required(p + ".protocol"))
            elif proto not in pods.PORT_PROTOCOLS:
                causes.append(not_supported(p + ".protocol", proto, pods.PORT_PROTOCOLS))
            if port.get("port") is not None:
                causes += [invalid(p + ".port", port["port"], m) for m in is_valid_port_num(port["port"])]
            ap = port.get("appProtocol")
            if ap:
                causes += [invalid(p + ".appProtocol", ap, m) for m in is_qualified_name(ap)]
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_spec(new)
        if (new.get("addressType") or "") != (old.get("addressType") or ""):
            causes.append(invalid("addressType", new.get("addressType") or "", FIELD_IMMUTABLE))
        return causes


def _validate_address(address_type: str, a: Any, path: str) -> list[Cause]:
    a = str(a)
    if address_type == "FQDN":
        return [invalid(path, a, m) for m in is_dns1123_subdomain(a)]
    try:
        ip = ipaddress.ip_address(a)
    except ValueError:
        return [invalid(path, a, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    if address_type == "IPv4" and ip.version != 4:
        return [invalid(path, a, "must be a valid IPv4 address")]
    if address_type == "IPv6" and ip.version != 6:
        return [invalid(path, a, "must be a valid IPv6 address")]
    return []


# ----------------------------------------------------------------- events.k8s.io/v1 Event

class EventsV1Strategy(Strategy):
    spec_fields = ()
    allow_create_on_update = True

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        regarding = _dict(obj.get("regarding"))
        rns = regarding.get("namespace") or ""
        if not obj.get("eventTime"):
            causes.append(required("eventTime"))
        if not rns and ns not in ("default", "kube-system"):
            causes.append(invalid("involvedObject.namespace", rns, "does not match event.namespace"))
        rc = obj.get("reportingController") or ""
        if not rc:
            causes.append(required("reportingController"))
        else:
            causes += [invalid("reportingController", rc, m) for m in is_qualified_name(rc)]
        ri = obj.get("reportingInstance") or ""
        if not ri:
            causes.append(required("reportingInstance"))
        elif len(ri) > 128:
            causes.append(invalid("reportingInstance", "", "can have at most 128 characters"))
        action = obj.get("action") or ""
        if not action:
            causes.append(required("action"))
        elif len(action) > 128:
            causes.append(invalid("action", "", "can have at most 128 characters"))
        reason = obj.get("reason") or ""
        if not reason:
            causes.append(required("reason"))
        elif len(reason) > 128:
            causes.append(invalid("reason", "", "can have at most 128 characters"))
        if obj.get("type") not in ("Normal", "Warning"):
            causes.append(invalid("type", "", f"has invalid value: {obj.get('type') or ''}"))
        note = obj.get("note") or ""
        if len(note) > 1024:
            causes.append(invalid("note", "", "can have at most 1024 characters"))
        if obj.get("deprecatedFirstTimestamp"):
            causes.append(invalid("deprecatedFirstTimestamp", "", "needs to be unset"))
        if obj.get("deprecatedLastTimestamp"):
            causes.append(invalid("deprecatedLastTimestamp", "", "needs to be unset"))
        if obj.get("deprecatedCount"):
            causes.append(invalid("deprecatedCount", "", "needs to be unset"))
        return causes


# ----------------------------------------------------------------- PodDisruptionBudget

class PodDisruptionBudgetStrategy(Strategy):
    has_generation = True

    def initial_status(self, obj: JSON) -> JSON:
        return {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes: list[Cause] = []
        min_a, max_u = spec.get("minAvailable"), spec.get("maxUnavailable")
        if min_a is not None and max_u is not None:
            causes.append(invalid("spec", Raw("policy.PodDisruptionBudgetSpec" + json.dumps(spec, sort_keys=True,
                                                                                          separators=(",", ":"))),
                                  "minAvailable and maxUnavailable cannot be both set"))
        for f, v in (("minAvailable", min_a), ("maxUnavailable", max_u)):
            if v is not None:
                causes += validate_positive_int_or_percent(v, f"spec.{f}")
                causes += is_not_more_than_100_percent(v, f"spec.{f}")
        causes += validate_label_selector(spec.get("selector"), "spec.selector")
        upep = spec.get("unhealthyPodEvictionPolicy")
        if upep is not None and upep not in ("AlwaysAllow", "IfHealthyBudget"):
            causes.append(not_supported("spec.unhealthyPodEvictionPolicy", upep, ["AlwaysAllow", "IfHealthyBudget"]))
        return causes

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        status = _dict(new.get("status"))
        causes: list[Cause] = []
        for f in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
            causes += nonnegative(status.get(f), f"status.{f}")
        return causes


# ----------------------------------------------------------------- PriorityClass

HIGHEST_USER_PRIORITY = 1000000000


class PriorityClassStrategy(Strategy):
    spec_fields = ()

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        name = (obj.get("metadata") or {}).get("name") or ""
        value = obj.get("value")
        if name.startswith("system-"):
            if name not in ("system-cluster-critical", "system-node-critical"):
                causes.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved "
                                        "for system use only"))
        elif is_int(value) and value > HIGHEST_USER_PRIORITY:
            causes.append(forbidden("value", f"maximum allowed value of a user defined priority is "
                                    f"{HIGHEST_USER_PRIORITY}"))
        pp = obj.get("preemptionPolicy")
        if pp is not None and pp not in ("Never", "PreemptLowerPriority"):
            causes.append(not_supported("preemptionPolicy", pp, ["Never", "PreemptLowerPriority"]))
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_spec(new)
        if new.get("value") != old.get("value"):
            causes.append(forbidden("value", "may not be changed in an update."))
        if new.get("preemptionPolicy") != old.get("preemptionPolicy"):
            causes.append(invalid("preemptionPolicy", new.get("preemptionPolicy"), FIELD_IMMUTABLE))
        return causes

    def default(self, obj: JSON) -> None:
        super().default(obj)
        obj.setdefault("preemptionPolicy", "PreemptLowerPriority")


# ----------------------------------------------------------------- RBAC, CSR: path-segment names

class PathSegmentNameStrategy(Strategy):
    """Kinds whose names only need to be a valid URL path segment (`system:aggregate-to-admin`
    is a valid ClusterRole name)."""

    name_fn = staticmethod(validate_path_segment_name)  # type: ignore[assignment]


# ----------------------------------------------------------------- CustomResourceDefinition

class CustomResourceDefinitionStrategy(Strategy):
    """The checks that keep a CRD servable: `<plural>.<group>` name, names, scope, exactly
    one storage version. Status starts with the storage version recorded, as Kubernetes does
    (acceptedNames and conditions come from whoever establishes the CRD)."""

    has_generation = True

    def initial_status(self, obj: JSON) -> JSON:
        storage = [v.get("name") for v in _list(_dict(obj.get("spec")).get("versions"))
                   if isinstance(v, dict) and v.get("storage")]
        return {"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": storage[:1]}

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        names = _dict(spec.get("names"))
        causes: list[Cause] = []
        name = (obj.get("metadata") or {}).get("name") or ""
        group, plural = spec.get("group") or "", names.get("plural") or ""
        if name and name != f"{plural}.{group}":
            causes.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
        if not group:
            causes.append(required("spec.group"))
        elif len(group.split(".")) < 2:
            causes.append(invalid("spec.group", group, "should be a domain with at least one dot"))
        else:
            causes += [invalid("spec.group", group, m) for m in is_dns1123_subdomain(group)]
        scope = spec.get("scope") or ""
        if not scope:
            causes.append(required("spec.scope"))
        elif scope not in ("Cluster", "Namespaced"):
            causes.append(not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))
        if not plural:
            causes.append(required("spec.names.plural"))
        else:
            causes += [invalid("spec.names.plural", plural, m) for m in is_dns1123_label(plural)]
        singular = names.get("singular") or ""
        if singular:
            causes += [invalid("spec.names.singular", singular, m) for m in is_dns1123_label(singular)]
        kind = names.get("kind") or ""
        if not kind:
            causes.append(required("spec.names.kind"))
        versions = [v for v in _list(spec.get("versions")) if isinstance(v, dict)]
        if not versions:
            causes.append(invalid("spec.versions", Raw("[]apiextensions.CustomResourceDefinitionVersion(nil)"),
                                  "must have exactly one version marked as storage version"))
        else:
            if sum(1 for v in versions if v.get("storage")) != 1:
                causes.append(invalid("spec.versions", Raw("[]apiextensions.CustomResourceDefinitionVersion{...}"),
                                      "must have exactly one version marked as storage version"))
            seen: set[str] = set()
            for i, v in enumerate(versions):
                vname = v.get("name") or ""
                if not vname:
                    causes.append(required(f"spec.versions[{i}].name"))
                else:
                    causes += [invalid(f"spec.versions[{i}].name", vname, m) for m in is_dns1035_label(vname)]
                    if vname in seen:
                        causes.append(invalid("spec.versions", Raw("[]apiextensions.CustomResourceDefinitionVersion"
                                                                   "{...}"), "must contain unique version names"))
                    seen.add(vname)
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_spec(new)
        ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
        if (ns.get("group") or "") != (os_.get("group") or ""):
            causes.append(invalid("spec.group", ns.get("group") or "", FIELD_IMMUTABLE))
        if (_dict(ns.get("names")).get("plural") or "") != (_dict(os_.get("names")).get("plural") or ""):
            causes.append(invalid("spec.names.plural", _dict(ns.get("names")).get("plural") or "", FIELD_IMMUTABLE))
        return causes
