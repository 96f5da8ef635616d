"""Strategies of the core/v1 kinds: Pod, Service, Namespace, Node, ConfigMap, Secret,
ServiceAccount, Endpoints, Event, PodTemplate, ReplicationController, PVC.

Each follows pkg/registry/core/<kind>/strategy.go and pkg/apis/core/validation of
Kubernetes v1.32: what create resets, what an update keeps, which fields are immutable, and
the exact cause for each rule.

What this module must never do: allocate anything (cluster IPs, node ports: the Service
REST layer's), look other objects up, or do I/O.
"""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

import orjson

from apimachinery.errors import BadRequest, Cause
from apiserver.registry import pods
from apiserver.registry.strategy import Strategy, meta_of
from apiserver.registry.validation import (
    QUANTITY_REGEX_ERROR,
    Raw,
    duplicate,
    forbidden,
    go_value,
    immutable,
    invalid,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_port_num,
    name_is_dns1035_label,
    name_is_dns_label,
    nonnegative,
    not_supported,
    parse_quantity,
    required,
    selector_matches,
    too_long,
    validate_label_selector,
    validate_labels,
)

JSON = dict[str, Any]
MAX_SECRET_SIZE = 1024 * 1024


def _dict(v: Any) -> JSON:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def cannot_decode(obj: JSON, kind: str, version: str, message: str) -> BadRequest:
    return BadRequest(f'{kind} in version "{version}" cannot be handled as a {kind}: {message}')


def check_quantities_in_pod_spec(spec: Any) -> str | None:
    """The decode error Kubernetes answers (400) for a malformed quantity, or None."""
    spec = _dict(spec)
    for c in _list(spec.get("containers")) + _list(spec.get("initContainers")):
        res = _dict(_dict(c).get("resources"))
        for part in ("limits", "requests"):
            for v in _dict(res.get(part)).values():
                try:
                    parse_quantity(v)
                except ValueError:
                    return QUANTITY_REGEX_ERROR
    return None


class _TemplateQuantities:
    """Mixin: a malformed quantity in the pod spec at `template_path` is a 400 at decode."""

    template_path: tuple[str, ...] = ("spec", "template", "spec")

    def check_decodable(self, obj: JSON) -> None:
        spec: Any = obj
        for p in self.template_path:
            spec = _dict(spec).get(p)
        msg = check_quantities_in_pod_spec(spec)
        if msg:
            r = self.resource  # type: ignore[attr-defined]
            raise cannot_decode(obj, r.kind, r.version, msg)

    def default(self, obj: JSON) -> None:
        self.check_decodable(obj)
        super().default(obj)  # type: ignore[misc]


# ----------------------------------------------------------------- Pod

#: pod specs (as JSON) that validated (a dict as an insertion-ordered set; oldest dropped first)
_VALID_POD_SPECS: dict[bytes, None] = {}


class PodStrategy(_TemplateQuantities, Strategy):
    template_path = ("spec",)
    spec_fields = ("spec",)

    def initial_status(self, obj: JSON) -> JSON:
        return {"phase": "Pending", "qosClass": pods.qos_class(obj.get("spec"))}

    def prepare_for_status_update(self, new: JSON, old: JSON) -> None:
        super().prepare_for_status_update(new, old)
        # The pods/status endpoint may not touch owner references (old kubelets broke them).
        om = old.get("metadata") or {}
        nm = meta_of(new)
        if "ownerReferences" in om:
            nm["ownerReferences"] = copy.deepcopy(om["ownerReferences"])
        else:
            nm.pop("ownerReferences", None)
        # The QoS class is decided once; a status writer that leaves it out keeps it.
        ns, os_ = new.get("status"), old.get("status") or {}
        if isinstance(ns, dict) and not ns.get("qosClass") and os_.get("qosClass"):
            ns["qosClass"] = os_["qosClass"]

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = obj.get("spec")
        # A workload's pods share their (defaulted) spec: one that passed once passes again.
        key = orjson.dumps(spec) if isinstance(spec, dict) else b""
        if key and key in _VALID_POD_SPECS:
            return []
        causes = pods.validate_pod_spec(spec, "spec")
        if _list(_dict(spec).get("ephemeralContainers")):
            causes.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
        if key and not causes:
            if len(_VALID_POD_SPECS) >= 512:
                _VALID_POD_SPECS.pop(next(iter(_VALID_POD_SPECS)))
            _VALID_POD_SPECS[key] = None
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes: list[Cause] = []
        for key in ("containers", "initContainers"):
            for i, c in enumerate(_list(_dict(new.get("spec")).get(key))):
                image = _dict(c).get("image")
                if not image:
                    causes.append(required(f"spec.{key}[{i}].image"))
                elif isinstance(image, str) and image != image.strip():
                    causes.append(invalid(f"spec.{key}[{i}].image", image,
                                          "must not have leading or trailing whitespace"))
        return causes + pods.validate_pod_spec_update(new, old)

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        causes: list[Cause] = []
        status = _dict(new.get("status"))
        nnn = status.get("nominatedNodeName") or ""
        if nnn:
            causes += [invalid("status.nominatedNodeName", nnn, m) for m in is_dns1123_subdomain(nnn)]
        return causes


def validate_binding(binding: JSON) -> list[Cause]:
    """ValidatePodBinding (pods/binding)."""
    target = _dict(binding.get("target"))
    causes: list[Cause] = []
    kind = target.get("kind") or ""
    if kind and kind != "Node":
        causes.append(not_supported("target.kind", kind, ["Node", "<empty>"]))
    if not target.get("name"):
        causes.append(required("target.name"))
    return causes


class BindingStrategy(Strategy):
    """POST bindings (and pods/{name}/binding): the target must be a Node by name."""

    def validate_spec(self, obj: JSON) -> list[Cause]:
        return validate_binding(obj)


# ----------------------------------------------------------------- PodTemplate, RC

class PodTemplateStrategy(_TemplateQuantities, Strategy):
    template_path = ("template", "spec")
    spec_fields = ("template",)

    def validate_spec(self, obj: JSON) -> list[Cause]:
        return pods.validate_pod_template(obj.get("template"), "template")


class ReplicationControllerStrategy(_TemplateQuantities, Strategy):
    has_generation = True

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes = nonnegative(spec.get("replicas"), "spec.replicas")
        causes += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        selector = _dict(spec.get("selector"))
        if not selector:
            causes.append(required("spec.selector"))
        causes += validate_labels(selector, "spec.selector")
        template = spec.get("template")
        if template is None:
            causes.append(required("spec.template"))
            return causes
        labels = _dict(_dict(_dict(template).get("metadata")).get("labels"))
        if selector and not selector_matches({"matchLabels": selector}, labels):
            causes.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template "
                                  "`labels`"))
        causes += pods.validate_pod_template(template, "spec.template")
        rp = _dict(_dict(template).get("spec")).get("restartPolicy")
        if rp != "Always":
            causes.append(not_supported("spec.template.spec.restartPolicy", rp or "", ["Always"]))
        return causes


# ----------------------------------------------------------------- Service

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
NODE_PORT_RANGE = (30000, 32767)


def _needs_cluster_ip(spec: JSON) -> bool:
    return spec.get("type") != "ExternalName"


def _needs_node_port(spec: JSON) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


class ServiceStrategy(Strategy):
    name_fn = staticmethod(name_is_dns1035_label)  # type: ignore[assignment]

    def initial_status(self, obj: JSON) -> JSON:
        return {"loadBalancer": {}}

    def prepare_for_update(self, new: JSON, old: JSON) -> None:
        super().prepare_for_update(new, old)
        self.patch_allocated_values(new, old)

    @staticmethod
    def patch_allocated_values(new: JSON, old: JSON) -> None:
        """An update that leaves out the allocated cluster IPs and node ports keeps the old
        ones (what `kubectl replace` of a manifest without them relies on)."""
        ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
        if not ns and not os_:
            return
        if _needs_cluster_ip(os_) and _needs_cluster_ip(ns):
            if not ns.get("clusterIP") and os_.get("clusterIP"):
                ns["clusterIP"] = os_["clusterIP"]
            if not ns.get("clusterIPs") and os_.get("clusterIPs"):
                ns["clusterIPs"] = list(os_["clusterIPs"])
        if _needs_node_port(os_) and _needs_node_port(ns):
            old_ports = _list(os_.get("ports"))
            for p in _list(ns.get("ports")):
                if not isinstance(p, dict) or p.get("nodePort"):
                    continue
                for op in old_ports:
                    if (isinstance(op, dict) and op.get("nodePort") and op.get("port") == p.get("port")
                            and (op.get("protocol") or "TCP") == (p.get("protocol") or "TCP")):
                        p["nodePort"] = op["nodePort"]
                        break
            if not ns.get("healthCheckNodePort") and os_.get("healthCheckNodePort"):
                if ns.get("externalTrafficPolicy") == "Local" and os_.get("externalTrafficPolicy") == "Local":
                    ns["healthCheckNodePort"] = os_["healthCheckNodePort"]

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes: list[Cause] = []
        stype = spec.get("type") or ""
        cluster_ip = spec.get("clusterIP") or ""
        headless = cluster_ip == "None"
        ports = _list(spec.get("ports"))
        if not ports and not headless and stype != "ExternalName":
            causes.append(required("spec.ports"))
        if stype == "ExternalName":
            ext = spec.get("externalName") or ""
            if not ext:
                causes.append(required("spec.externalName"))
            else:
                name = ext[:-1] if ext.endswith(".") else ext
                msgs = is_dns1123_subdomain(name)
                if msgs:
                    causes.append(invalid("spec.externalName", ext, ",".join(msgs)))
            if cluster_ip:
                causes.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if stype == "LoadBalancer" and headless:
            causes.append(invalid("spec.clusterIPs[0]", "None", "may not be set to 'None' for LoadBalancer "
                                  "services"))
        if stype == "NodePort" and headless:
            causes.append(invalid("spec.clusterIPs[0]", "None", "may not be set to 'None' for NodePort services"))
        if cluster_ip and not headless and not _is_ip(cluster_ip):
            causes.append(invalid("spec.clusterIPs[0]", cluster_ip, "must be a valid IP address, (e.g. 10.9.8.7 or "
                                  "2001:db8::ffff)"))
        require_name = len(ports) > 1
        names: set[str] = set()
        seen_ports: set[tuple[Any, Any]] = set()
        for i, p in enumerate(ports):
            pp = f"spec.ports[{i}]"
            p = _dict(p)
            name = p.get("name") or ""
            if require_name and not name:
                causes.append(required(pp + ".name"))
            elif name:
                causes += [invalid(pp + ".name", name, m) for m in is_dns1123_label(name)]
                if name in names:
                    causes.append(duplicate(pp + ".name", name))
                names.add(name)
            causes += [invalid(pp + ".port", p.get("port"), m) for m in is_valid_port_num(p.get("port"))]
            proto = p.get("protocol") or ""
            if not proto:
                causes.append(required(pp + ".protocol"))
            elif proto not in pods.PORT_PROTOCOLS:
                causes.append(not_supported(pp + ".protocol", proto, pods.PORT_PROTOCOLS))
            causes += pods.validate_port_num_or_name(p.get("targetPort"), pp + ".targetPort")
            node_port = p.get("nodePort")
            if node_port:
                if stype == "ClusterIP":
                    causes.append(forbidden(pp + ".nodePort", "may not be used when `type` is 'ClusterIP'"))
                elif stype == "ExternalName":
                    causes.append(forbidden(pp + ".nodePort", "may not be used when `type` is 'ExternalName'"))
                else:
                    msgs = is_valid_port_num(node_port)
                    causes += [invalid(pp + ".nodePort", node_port, m) for m in msgs]
                    if not msgs and not NODE_PORT_RANGE[0] <= node_port <= NODE_PORT_RANGE[1]:
                        causes.append(invalid(pp + ".nodePort", node_port, "provided port is not in the valid "
                                              f"range. The range of valid ports is {NODE_PORT_RANGE[0]}-"
                                              f"{NODE_PORT_RANGE[1]}"))
            key = (p.get("port"), proto)
            if key in seen_ports:
                causes.append(duplicate(pp, Raw(f'core.ServicePort{{Name:{go_value(name)}, Protocol:{go_value(proto)}, '
                                                f'Port:{p.get("port")}}}')))
            seen_ports.add(key)
        if not stype:
            causes.append(required("spec.type"))
        elif stype not in SERVICE_TYPES:
            causes.append(not_supported("spec.type", stype, SERVICE_TYPES))
        sa = spec.get("sessionAffinity") or ""
        if not sa:
            causes.append(required("spec.sessionAffinity"))
        elif sa not in ("ClientIP", "None"):
            causes.append(not_supported("spec.sessionAffinity", sa, ["ClientIP", "None"]))
        causes += validate_labels(spec.get("selector"), "spec.selector")
        for f, valid in (("externalTrafficPolicy", ("Cluster", "Local")),
                         ("internalTrafficPolicy", ("Cluster", "Local"))):
            v = spec.get(f)
            if v and v not in valid:
                causes.append(not_supported(f"spec.{f}", v, valid))
        if spec.get("externalTrafficPolicy") and not _needs_node_port(spec):
            causes.append(invalid("spec.externalTrafficPolicy", spec["externalTrafficPolicy"],
                                  "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
        ifp = spec.get("ipFamilyPolicy")
        if ifp and ifp not in ("SingleStack", "PreferDualStack", "RequireDualStack"):
            causes.append(not_supported("spec.ipFamilyPolicy", ifp, ["PreferDualStack", "RequireDualStack",
                                                                    "SingleStack"]))
        for i, fam in enumerate(_list(spec.get("ipFamilies"))):
            if fam not in ("IPv4", "IPv6"):
                causes.append(not_supported(f"spec.ipFamilies[{i}]", fam, ["IPv4", "IPv6"]))
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes: list[Cause] = []
        ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
        if _needs_cluster_ip(os_) and _needs_cluster_ip(ns):
            old_ips = _list(os_.get("clusterIPs")) or ([os_["clusterIP"]] if os_.get("clusterIP") else [])
            new_ips = _list(ns.get("clusterIPs")) or ([ns["clusterIP"]] if ns.get("clusterIP") else [])
            if old_ips and new_ips and old_ips[0] != new_ips[0]:
                causes.append(invalid("spec.clusterIPs[0]", new_ips, "may not change once set"))
        return causes + self.validate_spec(new)


def _is_ip(s: str) -> bool:
    import ipaddress
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------- Namespace

class NamespaceStrategy(Strategy):
    name_fn = staticmethod(name_is_dns_label)  # type: ignore[assignment]

    def initial_status(self, obj: JSON) -> JSON:
        return {"phase": "Active"}

    def prepare_for_create(self, obj: JSON) -> None:
        super().prepare_for_create(obj)
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = {}
            obj["spec"] = spec
        finalizers = _list(spec.get("finalizers"))
        if "kubernetes" not in finalizers:
            spec["finalizers"] = [*finalizers, "kubernetes"]

    def prepare_for_update(self, new: JSON, old: JSON) -> None:
        super().prepare_for_update(new, old)
        # spec.finalizers change only through /finalize.
        if "spec" in old:
            new["spec"] = copy.deepcopy(old["spec"])

    def prepare_for_finalize(self, new: JSON, old: JSON) -> None:
        """namespaces/{name}/finalize: only spec.finalizers change."""
        spec = copy.deepcopy(_dict(new.get("spec")))
        new.clear()
        new.update(copy.deepcopy(old))
        new["spec"] = {**_dict(new.get("spec")), "finalizers": _list(spec.get("finalizers"))}

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        for f in _list(_dict(obj.get("spec")).get("finalizers")):
            causes += _validate_finalizer_name(f, "spec.finalizers")
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        return self.validate_spec(new)

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        phase = _dict(new.get("status")).get("phase")
        causes: list[Cause] = []
        deleting = (new.get("metadata") or {}).get("deletionTimestamp")
        if not deleting and phase and phase != "Active":
            causes.append(invalid("status.Phase", phase, "may only be 'Active' if `deletionTimestamp` is empty"))
        if deleting and phase != "Terminating":
            causes.append(invalid("status.Phase", phase or "", "may only be in terminating phase if "
                                  "`deletionTimestamp` is set"))
        return causes


STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def _validate_finalizer_name(name: Any, path: str) -> list[Cause]:
    name = str(name)
    causes = [invalid(path, name, m) for m in is_qualified_name(name)]
    if not causes and "/" not in name and name not in STANDARD_FINALIZERS:
        causes.append(invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return causes


# ----------------------------------------------------------------- Node

class NodeStrategy(Strategy):
    keep_status_on_create = True

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes: list[Cause] = []
        for i, t in enumerate(_list(spec.get("taints"))):
            p = f"spec.taints[{i}]"
            t = _dict(t)
            key = t.get("key") or ""
            causes += [invalid(p + ".key", key, m) for m in is_qualified_name(key)]
            value = t.get("value") or ""
            if value:
                from apiserver.registry.validation import is_valid_label_value
                causes += [invalid(p + ".value", value, m) for m in is_valid_label_value(value)]
            causes += pods.validate_taint_effect(t.get("effect") or "", False, p + ".effect")
        seen: set[tuple[str, str]] = set()
        for i, t in enumerate(_list(spec.get("taints"))):
            t = _dict(t)
            k = (t.get("key") or "", t.get("effect") or "")
            if k in seen:
                taint = Raw(f'core.Taint{{Key:{go_value(k[0])}, Value:{go_value(t.get("value") or "")}, '
                            f'Effect:{go_value(k[1])}, TimeAdded:(*v1.Time)(nil)}}')
                dup = duplicate(f"spec.taints[{i}]", taint)
                causes.append(Cause(dup.field, dup.message + ": taints must be unique by key and effect pair",
                                    dup.reason))
            seen.add(k)
        cidr = spec.get("podCIDR") or ""
        if cidr and not _is_cidr(cidr):
            causes.append(invalid("spec.podCIDRs[0]", cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                                  "2001:db8::/64)"))
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_spec(new)
        ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
        if os_.get("podCIDR") and ns.get("podCIDR") != os_.get("podCIDR"):
            causes.append(forbidden("spec.podCIDRs", "node updates may not change podCIDR except from \"\" to "
                                    "valid"))
        if os_.get("providerID") and ns.get("providerID") != os_.get("providerID"):
            causes.append(forbidden("spec.providerID", "node updates may not change providerID except from \"\" "
                                    "to valid"))
        return causes

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        causes: list[Cause] = []
        status = _dict(new.get("status"))
        for part in ("capacity", "allocatable"):
            for k, v in _dict(status.get(part)).items():
                try:
                    q, _ = parse_quantity(v)
                except ValueError as e:
                    causes.append(invalid(f"status.{part}[{k}]", str(v), str(e)))
                    continue
                if q < 0:
                    causes.append(invalid(f"status.{part}[{k}]", str(v), "must be greater than or equal to 0"))
        return causes


def _is_cidr(s: str) -> bool:
    import ipaddress
    try:
        ipaddress.ip_network(s, strict=False)
    except ValueError:
        return False
    return "/" in s


# ----------------------------------------------------------------- ConfigMap, Secret

class ConfigMapStrategy(Strategy):
    spec_fields = ()

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        data, binary = _dict(obj.get("data")), _dict(obj.get("binaryData"))
        total = 0
        for key, value in data.items():
            causes += [invalid(f"data[{key}]", key, m) for m in is_config_map_key(key)]
            if key in binary:
                causes.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
            total += len(str(value or "").encode())
        for key, value in binary.items():
            causes += [invalid(f"binaryData[{key}]", key, m) for m in is_config_map_key(key)]
            total += len(str(value or "")) * 3 // 4
        if total > MAX_SECRET_SIZE:
            causes.append(too_long("", MAX_SECRET_SIZE))
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes: list[Cause] = []
        if old.get("immutable") is True:
            if new.get("immutable") is not True:
                causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
            if new.get("data") != old.get("data"):
                causes.append(forbidden("data", "field is immutable when `immutable` is set"))
            if new.get("binaryData") != old.get("binaryData"):
                causes.append(forbidden("binaryData", "field is immutable when `immutable` is set"))
        return causes + self.validate_spec(new)

    def check_decodable(self, obj: JSON) -> None:
        for value in _dict(obj.get("binaryData")).values():
            err = _base64_error(value)
            if err:
                raise cannot_decode(obj, self.kind, self.resource.version, err)

    def default(self, obj: JSON) -> None:
        self.check_decodable(obj)
        super().default(obj)


def _base64_error(value: Any) -> str | None:
    """Go's encoding/base64 error for a malformed value, or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "illegal base64 data at input byte 0"
    s = value.replace("\r", "").replace("\n", "")
    m = re.search(r"[^A-Za-z0-9+/=]", s)
    if m:
        return f"illegal base64 data at input byte {m.start()}"
    try:
        base64.b64decode(s, validate=True)
    except ValueError:
        return f"illegal base64 data at input byte {len(s) - len(s) % 4 if len(s) % 4 else max(len(s) - 4, 0)}"
    return None


SECRET_TYPE_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


class SecretStrategy(ConfigMapStrategy):
    def check_decodable(self, obj: JSON) -> None:
        for value in _dict(obj.get("data")).values():
            err = _base64_error(value)
            if err:
                raise cannot_decode(obj, self.kind, self.resource.version, err)

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        data = _dict(obj.get("data"))
        total = 0
        for key, value in data.items():
            causes += [invalid(f"data[{key}]", key, m) for m in is_config_map_key(key)]
            total += len(str(value or "")) * 3 // 4
        if total > MAX_SECRET_SIZE:
            causes.append(too_long("data", MAX_SECRET_SIZE))
        stype = obj.get("type") or "Opaque"
        for key in SECRET_TYPE_REQUIRED_KEYS.get(stype, ()):
            if key not in data:
                causes.append(required(f"data[{key}]"))
        if stype == "kubernetes.io/service-account-token":
            ann = _dict((obj.get("metadata") or {}).get("annotations"))
            if not ann.get("kubernetes.io/service-account.name"):
                causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
        if stype == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
            causes += [required("data[username]"), required("data[password]")]
        if stype == "kubernetes.io/ssh-auth" and "ssh-privatekey" not in data:
            causes.append(required("data[ssh-privatekey]"))
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = immutable("type", new.get("type") or "Opaque", old.get("type") or "Opaque")
        if old.get("immutable") is True:
            if new.get("immutable") is not True:
                causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
            if new.get("data") != old.get("data"):
                causes.append(forbidden("data", "field is immutable when `immutable` is set"))
        return causes + self.validate_spec(new)


# ----------------------------------------------------------------- small kinds

class ServiceAccountStrategy(Strategy):
    spec_fields = ()

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        for i, s in enumerate(_list(obj.get("secrets"))):
            if not _dict(s).get("name"):
                causes.append(required(f"secrets[{i}].name"))
        for i, s in enumerate(_list(obj.get("imagePullSecrets"))):
            if not _dict(s).get("name"):
                causes.append(required(f"imagePullSecrets[{i}].name"))
        return causes


class EndpointsStrategy(Strategy):
    spec_fields = ()
    allow_create_on_update = True

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        for i, subset in enumerate(_list(obj.get("subsets"))):
            sp = f"subsets[{i}]"
            subset = _dict(subset)
            addrs = _list(subset.get("addresses")) + _list(subset.get("notReadyAddresses"))
            if not addrs:
                causes.append(required(sp, "must specify `addresses` or `notReadyAddresses`"))
            for key in ("addresses", "notReadyAddresses"):
                for j, a in enumerate(_list(subset.get(key))):
                    ip = _dict(a).get("ip") or ""
                    if not _is_ip(ip):
                        causes.append(invalid(f"{sp}.{key}[{j}].ip", ip, "must be a valid IP address, (e.g. "
                                              "10.9.8.7 or 2001:db8::ffff)"))
            ports = _list(subset.get("ports"))
            for j, p in enumerate(ports):
                pp = f"{sp}.ports[{j}]"
                p = _dict(p)
                name = p.get("name") or ""
                if len(ports) > 1 and not name:
                    causes.append(required(pp + ".name"))
                elif name:
                    causes += [invalid(pp + ".name", name, m) for m in is_dns1123_label(name)]
                causes += [invalid(pp + ".port", p.get("port"), m) for m in is_valid_port_num(p.get("port"))]
                proto = p.get("protocol") or ""
                if not proto:
                    causes.append(required(pp + ".protocol"))
                elif proto not in pods.PORT_PROTOCOLS:
                    causes.append(not_supported(pp + ".protocol", proto, pods.PORT_PROTOCOLS))
        return causes


class EventStrategy(Strategy):
    """core/v1 Event: the legacy rules (namespace agreement; reporting fields when eventTime
    is set)."""

    spec_fields = ()
    allow_create_on_update = True

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        ns = (obj.get("metadata") or {}).get("namespace") or ""
        involved = _dict(obj.get("involvedObject"))
        ins = involved.get("namespace") or ""
        if not obj.get("eventTime"):
            if not ins:
                if ns not in ("", "default"):
                    causes.append(invalid("involvedObject.namespace", ins, "does not match event.namespace"))
            elif ns != ins:
                causes.append(invalid("involvedObject.namespace", ins, "does not match event.namespace"))
        else:
            if not ins and ns not in ("default", "kube-system"):
                causes.append(invalid("involvedObject.namespace", ins, "does not match event.namespace"))
            rc = obj.get("reportingComponent") or ""
            if not rc:
                causes.append(required("reportingComponent"))
            causes += [invalid("reportingComponent", rc, m) for m in is_qualified_name(rc)] if rc else []
            ri = obj.get("reportingInstance") or ""
            if not ri:
                causes.append(required("reportingInstance"))
            elif len(ri) > 128:
                causes.append(invalid("reportingInstance", "", "can have at most 128 characters"))
            if not obj.get("action"):
                causes.append(required("action"))
            if not obj.get("reason"):
                causes.append(required("reason"))
            if obj.get("type") not in ("Normal", "Warning"):
                causes.append(invalid("type", "", f"has invalid value: {obj.get('type') or ''}"))
        return causes


class PersistentVolumeClaimStrategy(Strategy):
    def initial_status(self, obj: JSON) -> JSON:
        return {"phase": "Pending"}

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes: list[Cause] = []
        modes = _list(spec.get("accessModes"))
        if not modes:
            causes.append(required("spec.accessModes", "at least 1 access mode is required"))
        for m in modes:
            if m not in ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"):
                causes.append(not_supported("spec.accessModes", m, ["ReadOnlyMany", "ReadWriteMany",
                                                                    "ReadWriteOnce", "ReadWriteOncePod"]))
        storage = _dict(_dict(spec.get("resources")).get("requests")).get("storage")
        if storage is None and not spec.get("dataSourceRef"):
            causes.append(required("spec.resources[storage]"))
        elif storage is not None:
            try:
                q, _ = parse_quantity(storage)
                if q <= 0:
                    causes.append(invalid("spec.resources[storage]", str(storage), "must be greater than zero"))
            except ValueError as e:
                causes.append(invalid("spec.resources[storage]", str(storage), str(e)))
        causes += validate_label_selector(spec.get("selector"), "spec.selector")
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_spec(new)
        ns, os_ = dict(_dict(new.get("spec"))), dict(_dict(old.get("spec")))
        # Only the storage request (growing) and volumeAttributesClassName may change once bound.
        for s in (ns, os_):
            s.pop("resources", None)
            s.pop("volumeAttributesClassName", None)
            if not os_.get("volumeName"):
                s.pop("volumeName", None)
        if ns != os_:
            causes.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                    "volumeAttributesClassName for bound claims"))
        return causes
