"""Pod spec validation and the pod update rule, as pkg/apis/core/validation does them.

The same PodSpec rules serve pods and every pod template (Deployments, Jobs ...), with the
paths prefixed accordingly (`spec.template.spec.containers[0].image`). Also here: the QoS
class Kubernetes stores in `status.qosClass` on create, and the "pod updates may not change
fields other than ..." comparison.

What this module must never do: default (defaults.py does), or look at anything outside
the object it is given.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from apimachinery.errors import Cause
from apiserver.registry.validation import (
    canonical_quantity,
    duplicate,
    forbidden,
    go_value,
    inclusive_range_error,
    invalid,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_env_var_name,
    is_int,
    is_qualified_name,
    is_valid_label_value,
    is_valid_port_name,
    is_valid_port_num,
    nonnegative,
    not_found,
    not_supported,
    parse_quantity,
    required,
    validate_label_selector,
    validate_labels,
)

JSON = dict[str, Any]
MAX_INT32 = 2147483647

PORT_PROTOCOLS = ("SCTP", "TCP", "UDP")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI",
    "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk",
    "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
)
PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _dict(v: Any) -> JSON:
    return v if isinstance(v, dict) else {}


# ----------------------------------------------------------------- volumes

def validate_volumes(volumes: Any, path: str) -> tuple[set[str], list[Cause]]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, v in enumerate(_list(volumes)):
        p = f"{path}[{i}]"
        v = _dict(v)
        name = v.get("name") or ""
        if not name:
            causes.append(required(p + ".name"))
        else:
            causes += [invalid(p + ".name", name, m) for m in is_dns1123_label(name)]
            if name in names:
                causes.append(duplicate(p + ".name", name))
            names.add(name)
        sources = [k for k in v if k in VOLUME_SOURCES]
        if not sources:
            causes.append(required(p, "must specify a volume type"))
        for extra in sources[1:]:
            causes.append(forbidden(f"{p}.{extra}", "may not specify more than 1 volume type"))
        for key in ("configMap", "secret"):
            src = v.get(key)
            if isinstance(src, dict):
                for j, item in enumerate(_list(src.get("items"))):
                    ip = f"{p}.{key}.items[{j}]"
                    k = _dict(item).get("key") or ""
                    if not k:
                        causes.append(required(ip + ".key"))
                    if not _dict(item).get("path"):
                        causes.append(required(ip + ".path"))
        src = v.get("persistentVolumeClaim")
        if isinstance(src, dict) and not src.get("claimName"):
            causes.append(required(f"{p}.persistentVolumeClaim.claimName"))
        src = v.get("hostPath")
        if isinstance(src, dict) and not src.get("path"):
            causes.append(required(f"{p}.hostPath.path"))
    return names, causes


# ----------------------------------------------------------------- containers

def validate_container_ports(ports: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in enumerate(_list(ports)):
        p = f"{path}[{i}]"
        port = _dict(port)
        name = port.get("name") or ""
        if name:
            msgs = is_valid_port_name(name)
            if msgs:
                causes += [invalid(p + ".name", name, m) for m in msgs]
            elif name in names:
                causes.append(duplicate(p + ".name", name))
            else:
                names.add(name)
        cp = port.get("containerPort")
        if not cp:
            causes.append(required(p + ".containerPort"))
        else:
            causes += [invalid(p + ".containerPort", cp, m) for m in is_valid_port_num(cp)]
        hp = port.get("hostPort")
        if hp:
            causes += [invalid(p + ".hostPort", hp, m) for m in is_valid_port_num(hp)]
        proto = port.get("protocol") or ""
        if not proto:
            causes.append(required(p + ".protocol"))
        elif proto not in PORT_PROTOCOLS:
            causes.append(not_supported(p + ".protocol", proto, PORT_PROTOCOLS))
    return causes


def validate_env(env: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, ev in enumerate(_list(env)):
        p = f"{path}[{i}]"
        ev = _dict(ev)
        name = ev.get("name") or ""
        if not name:
            causes.append(required(p + ".name"))
        else:
            causes += [invalid(p + ".name", name, m) for m in is_env_var_name(name) if name]
        vf = ev.get("valueFrom")
        if isinstance(vf, dict):
            sources = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if k in vf]
            if ev.get("value") and sources:
                causes.append(invalid(p + ".valueFrom", "",
                                      "may not be specified when `value` is not empty"))
            if not sources:
                causes.append(invalid(p + ".valueFrom", "", "must specify one of: `fieldRef`, "
                                      "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
            elif len(sources) > 1:
                causes.append(invalid(p + ".valueFrom", "", "may not have more than one field specified at a "
                                      "time"))
            for key in ("configMapKeyRef", "secretKeyRef"):
                ref = vf.get(key)
                if isinstance(ref, dict):
                    k = ref.get("key") or ""
                    if not k:
                        causes.append(required(f"{p}.valueFrom.{key}.key"))
                    else:
                        causes += [invalid(f"{p}.valueFrom.{key}.key", k, m) for m in is_config_map_key(k)]
                    if not ref.get("name"):
                        causes.append(required(f"{p}.valueFrom.{key}.name"))
            fr = vf.get("fieldRef")
            if isinstance(fr, dict) and not fr.get("fieldPath"):
                causes.append(required(f"{p}.valueFrom.fieldRef.fieldPath"))
    return causes


def _is_native(name: str) -> bool:
    return "/" not in name or name.startswith("kubernetes.io/") or ".kubernetes.io/" in name.split("/")[0]


def _overcommit_allowed(name: str) -> bool:
    return _is_native(name) and not name.startswith("hugepages-")


STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")


def validate_resource_requirements(res: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    res = _dict(res)
    limits = _dict(res.get("limits"))
    requests = _dict(res.get("requests"))
    lim_path, req_path = path + ".limits", path + ".requests"

    def name_and_value(name: str, value: Any, p: str) -> list[Cause]:
        out: list[Cause] = []
        if "/" not in name:
            if name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
                out.append(invalid(p, name, "must be a standard resource for containers"))
        else:
            out += [invalid(p, name, m) for m in is_qualified_name(name)]
        try:
            q, _ = parse_quantity(value)
        except ValueError as e:
            return out + [invalid(p, value if isinstance(value, str) else str(value), str(e))]
        if q < 0:
            out.append(invalid(p, canonical_quantity(value), "must be greater than or equal to 0"))
        if not _is_native(name) and q.denominator != 1:
            out.append(invalid(p, canonical_quantity(value), "must be an integer"))
        return out

    for name, value in limits.items():
        causes += name_and_value(name, value, f"{lim_path}[{name}]")
    for name, value in requests.items():
        causes += name_and_value(name, value, f"{req_path}[{name}]")
        if name in limits:
            try:
                rq, lq = parse_quantity(value)[0], parse_quantity(limits[name])[0]
            except ValueError:
                continue
            if rq != lq and not _overcommit_allowed(name):
                causes.append(invalid(req_path, canonical_quantity(value),
                                      f"must be equal to {name} limit of {canonical_quantity(limits[name])}"))
            elif rq > lq:
                causes.append(invalid(req_path, canonical_quantity(value),
                                      f"must be less than or equal to {name} limit of "
                                      f"{canonical_quantity(limits[name])}"))
        elif not _overcommit_allowed(name):
            causes.append(required(lim_path, "Limit must be set for non overcommitable resources"))
    return causes


def validate_probe(probe: Any, path: str, liveness_or_startup: bool = False) -> list[Cause]:
    if not isinstance(probe, dict):
        return []
    causes: list[Cause] = []
    handlers = [h for h in PROBE_HANDLERS if probe.get(h) is not None]
    if not handlers:
        causes.append(required(path, "must specify a handler type"))
    for extra in handlers[1:]:
        causes.append(forbidden(f"{path}.{extra}", "may not specify more than 1 handler type"))
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        causes += nonnegative(probe.get(f), f"{path}.{f}")
    if liveness_or_startup and is_int(probe.get("successThreshold")) and probe["successThreshold"] != 1:
        causes.append(invalid(path + ".successThreshold", probe["successThreshold"], "must be 1"))
    http = probe.get("httpGet")
    if isinstance(http, dict):
        port = http.get("port")
        causes += validate_port_num_or_name(port, f"{path}.httpGet.port")
        scheme = http.get("scheme")
        if scheme not in (None, "HTTP", "HTTPS"):
            causes.append(not_supported(f"{path}.httpGet.scheme", scheme, ["HTTP", "HTTPS"]))
    tcp = probe.get("tcpSocket")
    if isinstance(tcp, dict):
        causes += validate_port_num_or_name(tcp.get("port"), f"{path}.tcpSocket.port")
    ex = probe.get("exec")
    if isinstance(ex, dict) and not ex.get("command"):
        causes.append(required(f"{path}.exec.command"))
    return causes


def validate_lifecycle_handler(handler: Any, path: str) -> list[Cause]:
    """postStart/preStop: exactly one of exec, httpGet, tcpSocket, sleep."""
    handler = _dict(handler)
    kinds = [k for k in ("exec", "httpGet", "tcpSocket", "sleep") if handler.get(k) is not None]
    causes = [forbidden(f"{path}.{k}", "may not specify more than 1 handler type") for k in kinds[1:]]
    if not kinds:
        causes.append(required(path, "must specify a handler type"))
    ex = handler.get("exec")
    if isinstance(ex, dict) and not ex.get("command"):
        causes.append(required(f"{path}.exec.command"))
    http = handler.get("httpGet")
    if isinstance(http, dict):
        causes += validate_port_num_or_name(http.get("port"), f"{path}.httpGet.port")
    return causes


def validate_port_num_or_name(port: Any, path: str) -> list[Cause]:
    if is_int(port):
        return [invalid(path, port, m) for m in is_valid_port_num(port)]
    if isinstance(port, str):
        if not port:
            return [required(path)]
        if port.isdigit():
            return [invalid(path, port, m) for m in is_valid_port_num(int(port))]
        return [invalid(path, port, m) for m in is_valid_port_name(port)]
    return [required(path)]


def validate_container_common(c: JSON, p: str) -> list[Cause]:
    """validateContainerCommon: image, terminationMessagePolicy, ports, env, pull policy
    (the name is checked by the caller, before)."""
    causes: list[Cause] = []
    if not c.get("image"):
        causes.append(required(p + ".image"))
    tmp = c.get("terminationMessagePolicy") or ""
    if not tmp:
        causes.append(required(p + ".terminationMessagePolicy"))
    elif tmp not in ("File", "FallbackToLogsOnError"):
        causes.append(not_supported(p + ".terminationMessagePolicy", tmp, ["File", "FallbackToLogsOnError"]))
    causes += validate_container_ports(c.get("ports"), p + ".ports")
    causes += validate_env(c.get("env"), p + ".env")
    pull = c.get("imagePullPolicy") or ""
    if not pull:
        causes.append(required(p + ".imagePullPolicy"))
    elif pull not in PULL_POLICIES:
        causes.append(not_supported(p + ".imagePullPolicy", pull, PULL_POLICIES))
    return causes


def validate_container_rest(c: JSON, p: str, volumes: set[str], init: bool) -> list[Cause]:
    """After the duplicate-name check: restartPolicy, probes, resources, volume mounts."""
    causes: list[Cause] = []
    rp = c.get("restartPolicy")
    if rp is not None:
        if not init:
            causes.append(forbidden(p + ".restartPolicy", "may not be set for non-init containers"))
        elif rp != "Always":
            causes.append(not_supported(p + ".restartPolicy", rp, ["Always"]))
    probes_allowed = not init or rp == "Always"
    for name, liveness_like in (("livenessProbe", True), ("readinessProbe", False), ("startupProbe", True)):
        probe = c.get(name)
        if probe is None:
            continue
        if not probes_allowed:
            causes.append(forbidden(f"{p}.{name}", "may not be set for init containers without restartPolicy=Always"))
        else:
            causes += validate_probe(probe, f"{p}.{name}", liveness_like)
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if lifecycle.get(hook) is not None:
                causes += validate_lifecycle_handler(lifecycle[hook], f"{p}.lifecycle.{hook}")
    causes += validate_resource_requirements(c.get("resources"), p + ".resources")
    mount_paths: set[str] = set()
    for i, m in enumerate(_list(c.get("volumeMounts"))):
        mp = f"{p}.volumeMounts[{i}]"
        m = _dict(m)
        name = m.get("name") or ""
        if not name:
            causes.append(required(mp + ".name"))
        elif name not in volumes:
            causes.append(not_found(mp + ".name", name))
        path = m.get("mountPath") or ""
        if not path:
            causes.append(required(mp + ".mountPath"))
        elif path in mount_paths:
            causes.append(invalid(mp + ".mountPath", path, "must be unique"))
        mount_paths.add(path)
    return causes


def validate_containers(containers: Any, path: str, volumes: set[str], seen: set[str],
                        init: bool = False, for_pod: bool = True) -> list[Cause]:
    causes: list[Cause] = []
    if not init and not _list(containers):
        return [required(path)]
    for i, c in enumerate(_list(containers)):
        p = f"{path}[{i}]"
        c = _dict(c)
        name = c.get("name") or ""
        if not name:
            causes.append(required(p + ".name"))
        else:
            causes += [invalid(p + ".name", name, m) for m in is_dns1123_label(name)]
        causes += validate_container_common(c, p)
        if name in seen:
            causes.append(duplicate(p + ".name", name))
        else:
            seen.add(name)
        causes += validate_container_rest(c, p, volumes, init)
        image = c.get("image")
        if for_pod and isinstance(image, str) and image and image != image.strip():
            causes.append(invalid(p + ".image", image, "must not have leading or trailing whitespace"))
    return causes


# ----------------------------------------------------------------- tolerations

def validate_taint_effect(effect: Any, allow_empty: bool, path: str) -> list[Cause]:
    if not effect:
        return [] if allow_empty else [required(path)]
    if effect not in TAINT_EFFECTS:
        return [not_supported(path, effect, TAINT_EFFECTS)]
    return []


def validate_tolerations(tolerations: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, t in enumerate(_list(tolerations)):
        p = f"{path}[{i}]"
        t = _dict(t)
        key = t.get("key") or ""
        op = t.get("operator") or ""
        effect = t.get("effect") or ""
        if key:
            causes += [invalid(p + ".key", key, m) for m in is_qualified_name(key)]
        if not key and op != "Exists":
            causes.append(invalid(p + ".operator", op, "operator must be Exists when `key` is empty, which means "
                                  "\"match all values and all keys\""))
        if t.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(invalid(p + ".effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        value = t.get("value") or ""
        if op in ("Equal", ""):
            msgs = is_valid_label_value(value)
            if msgs:
                causes.append(invalid(p + ".operator", value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                causes.append(invalid(p + ".operator", _toleration_go(t), "value must be empty when `operator` is "
                                      "'Exists'"))
        else:
            causes.append(not_supported(p + ".operator", op, ["Equal", "Exists"]))
        causes += validate_taint_effect(effect, True, p + ".effect")
    return causes


def _toleration_go(t: JSON) -> Any:
    from apiserver.registry.validation import Raw, go_quote
    secs = t.get("tolerationSeconds")
    secs_s = "(*int64)(nil)" if secs is None else f"&{secs}"
    return Raw(f'core.Toleration{{Key:{go_quote(t.get("key") or "")}, Operator:{go_quote(t.get("operator") or "")}, '
               f'Value:{go_quote(t.get("value") or "")}, Effect:{go_quote(t.get("effect") or "")}, '
               f"TolerationSeconds:{secs_s}}}")


# ----------------------------------------------------------------- pod spec

def validate_pod_spec(spec: Any, path: str, for_pod: bool = True) -> list[Cause]:
    """ValidatePodSpec, for a pod (`spec`) or a template (`spec.template.spec`, for_pod=False:
    image whitespace is tolerated there, as Kubernetes does)."""
    if not isinstance(spec, dict):
        return [required(path + ".containers")]
    causes: list[Cause] = []
    volumes, vcauses = validate_volumes(spec.get("volumes"), path + ".volumes")
    causes += vcauses
    seen: set[str] = set()
    causes += validate_containers(spec.get("containers"), path + ".containers", volumes, seen, for_pod=for_pod)
    causes += validate_containers(spec.get("initContainers"), path + ".initContainers", volumes, seen, init=True,
                                  for_pod=for_pod)
    rp = spec.get("restartPolicy") or ""
    if not rp:
        causes.append(required(path + ".restartPolicy"))
    elif rp not in RESTART_POLICIES:
        causes.append(not_supported(path + ".restartPolicy", rp, RESTART_POLICIES))
    dp = spec.get("dnsPolicy") or ""
    if not dp:
        causes.append(required(path + ".dnsPolicy"))
    elif dp not in DNS_POLICIES:
        causes.append(not_supported(path + ".dnsPolicy", dp, DNS_POLICIES))
    elif dp == "None" and not _dict(spec.get("dnsConfig")).get("nameservers"):
        causes.append(required(path + ".dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))
    causes += validate_labels(spec.get("nodeSelector"), path + ".nodeSelector")
    sc = spec.get("securityContext")
    if isinstance(sc, dict):
        for f in ("runAsUser", "runAsGroup", "fsGroup"):
            v = sc.get(f)
            if is_int(v) and not 0 <= v <= 2147483647:
                causes.append(invalid(f"{path}.securityContext.{f}", v, inclusive_range_error(0, 2147483647)))
    for i, s in enumerate(_list(spec.get("imagePullSecrets"))):
        if not _dict(s).get("name"):
            causes.append(required(f"{path}.imagePullSecrets[{i}].name"))
    aff = _dict(spec.get("affinity"))
    na = _dict(aff.get("nodeAffinity"))
    req = _dict(na.get("requiredDuringSchedulingIgnoredDuringExecution"))
    if "nodeSelectorTerms" in req and not _list(req.get("nodeSelectorTerms")):
        causes.append(required(f"{path}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
                               "nodeSelectorTerms", "must have at least one node selector term"))
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = _list(_dict(aff.get(kind)).get("requiredDuringSchedulingIgnoredDuringExecution"))
        for i, term in enumerate(terms):
            tp = f"{path}.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution[{i}]"
            term = _dict(term)
            if not term.get("topologyKey"):
                causes.append(required(tp + ".topologyKey", "can not be empty"))
            causes += validate_label_selector(term.get("labelSelector"), tp + ".labelSelector")
    for i, tsc in enumerate(_list(spec.get("topologySpreadConstraints"))):
        tp = f"{path}.topologySpreadConstraints[{i}]"
        tsc = _dict(tsc)
        ms = tsc.get("maxSkew")
        if not is_int(ms) or ms <= 0:
            causes.append(invalid(tp + ".maxSkew", ms, "must be greater than zero"))
        if not tsc.get("topologyKey"):
            causes.append(required(tp + ".topologyKey", "can not be empty"))
        wus = tsc.get("whenUnsatisfiable")
        if wus not in ("DoNotSchedule", "ScheduleAnyway"):
            if not wus:
                causes.append(required(tp + ".whenUnsatisfiable"))
            else:
                causes.append(not_supported(tp + ".whenUnsatisfiable", wus, ["DoNotSchedule", "ScheduleAnyway"]))
    sa = spec.get("serviceAccountName") or ""
    if sa:
        causes += [invalid(path + ".serviceAccountName", sa, m) for m in is_dns1123_subdomain(sa)]
    node = spec.get("nodeName") or ""
    if node:
        causes += [invalid(path + ".nodeName", node, m) for m in is_dns1123_subdomain(node)]
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not is_int(ads) or not 1 <= ads <= MAX_INT32):
        causes.append(invalid(path + ".activeDeadlineSeconds", ads, inclusive_range_error(1, MAX_INT32)))
    for f in ("hostname", "subdomain"):
        v = spec.get(f) or ""
        if v:
            causes += [invalid(f"{path}.{f}", v, m) for m in is_dns1123_label(v)]
    causes += validate_tolerations(spec.get("tolerations"), path + ".tolerations")
    pcn = spec.get("priorityClassName") or ""
    if pcn:
        causes += [invalid(path + ".priorityClassName", pcn, m) for m in is_dns1123_subdomain(pcn)]
    return causes


def validate_pod_template(template: Any, path: str) -> list[Cause]:
    """ValidatePodTemplateSpec: template labels and annotations, then the pod spec."""
    if not isinstance(template, dict):
        return [required(path)]
    from apiserver.registry.validation import validate_annotations
    meta = _dict(template.get("metadata"))
    causes = validate_labels(meta.get("labels"), path + ".metadata.labels")
    causes += validate_annotations(meta.get("annotations"), path + ".metadata.annotations")
    causes += validate_pod_spec(template.get("spec"), path + ".spec", for_pod=False)
    return causes


# ----------------------------------------------------------------- QoS

def qos_class(spec: Any) -> str:
    """GetPodQOS: Guaranteed when every container has cpu and memory limits equal to its
    requests, BestEffort when none sets any, Burstable otherwise."""
    spec = _dict(spec)
    containers = [_dict(c) for c in _list(spec.get("containers")) + _list(spec.get("initContainers"))]
    requests_seen = limits_seen = False
    guaranteed = True
    for c in containers:
        res = _dict(c.get("resources"))
        req = {k: v for k, v in _dict(res.get("requests")).items() if k in ("cpu", "memory")}
        lim = {k: v for k, v in _dict(res.get("limits")).items() if k in ("cpu", "memory")}
        if any(_nonzero(v) for v in req.values()):
            requests_seen = True
        if any(_nonzero(v) for v in lim.values()):
            limits_seen = True
        if set(lim) != {"cpu", "memory"}:
            guaranteed = False
        else:
            for k in ("cpu", "memory"):
                if k in req and _q(req[k]) != _q(lim[k]):
                    guaranteed = False
    if not requests_seen and not limits_seen:
        return "BestEffort"
    if guaranteed and limits_seen:
        return "Guaranteed"
    return "Burstable"


def _q(v: Any) -> Any:
    try:
        return parse_quantity(v)[0]
    except ValueError:
        return v


def _nonzero(v: Any) -> bool:
    q = _q(v)
    return q != 0


# ----------------------------------------------------------------- pod update

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def validate_pod_spec_update(new: JSON, old: JSON) -> list[Cause]:
    """ValidatePodUpdate's spec part: only images, activeDeadlineSeconds (set or lowered),
    added tolerations, removed scheduling gates and a negative grace period set to 1 may change."""
    ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
    ads_new, ads_old = ns.get("activeDeadlineSeconds"), os_.get("activeDeadlineSeconds")
    if ads_new is not None:
        if not is_int(ads_new) or not 0 <= ads_new <= MAX_INT32:
            return [invalid("spec.activeDeadlineSeconds", ads_new, inclusive_range_error(0, MAX_INT32))]
        if ads_old is not None and ads_old < ads_new:
            return [invalid("spec.activeDeadlineSeconds", ads_new, "must be less than or equal to previous value")]
    elif ads_old is not None:
        return [invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value")]

    causes: list[Cause] = []
    munged = copy.deepcopy(ns)
    for key in ("containers", "initContainers"):
        new_cs, old_cs = _list(munged.get(key)), _list(os_.get(key))
        if len(new_cs) == len(old_cs):
            for nc, oc in zip(new_cs, old_cs, strict=True):
                if isinstance(nc, dict) and isinstance(oc, dict):
                    if "image" in oc:
                        nc["image"] = oc["image"]
                    else:
                        nc.pop("image", None)
    _set_or_pop(munged, "activeDeadlineSeconds", os_)
    # Tolerations: every old one must still be there (its tolerationSeconds may change).
    old_tols, new_tols = _list(os_.get("tolerations")), _list(ns.get("tolerations"))
    for ot in old_tols:
        found = False
        for nt in new_tols:
            clone = dict(_dict(ot))
            if isinstance(nt, dict) and "tolerationSeconds" in nt:
                clone["tolerationSeconds"] = nt["tolerationSeconds"]
            else:
                clone.pop("tolerationSeconds", None)
            if clone == nt:
                found = True
                break
        if not found:
            return [forbidden("spec.tolerations", "existing toleration can not be modified except its "
                              "tolerationSeconds")]
    causes += validate_tolerations(new_tols, "spec.tolerations")
    _set_or_pop(munged, "tolerations", os_)
    # Scheduling gates may only be removed; a gated pod may add to its nodeSelector.
    old_gates = [_dict(g).get("name") for g in _list(os_.get("schedulingGates"))]
    for i, g in enumerate(_list(ns.get("schedulingGates"))):
        name = _dict(g).get("name")
        if name not in old_gates:
            causes.append(forbidden(f"spec.schedulingGates[{i}].name", "only deletion is allowed, but found new "
                                    f"scheduling gate '{name}'"))
    _set_or_pop(munged, "schedulingGates", os_)
    if old_gates:
        old_sel, new_sel = _dict(os_.get("nodeSelector")), _dict(ns.get("nodeSelector"))
        if all(new_sel.get(k) == v for k, v in old_sel.items()):
            _set_or_pop(munged, "nodeSelector", os_)
    old_grace, new_grace = os_.get("terminationGracePeriodSeconds"), ns.get("terminationGracePeriodSeconds")
    if is_int(old_grace) and old_grace < 0 and new_grace == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if munged != os_:
        diff = spec_diff(os_, munged)
        causes.append(forbidden("spec", "pod updates may not change fields other than "
                                + ",".join(UPDATABLE_POD_SPEC_FIELDS) + "\n" + diff))
    return causes


def _set_or_pop(target: JSON, key: str, source: JSON) -> None:
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)


def _go_field(key: str) -> str:
    special = {"dnsPolicy": "DNSPolicy", "dnsConfig": "DNSConfig", "hostIPC": "HostIPC", "hostPID": "HostPID",
               "os": "OS"}
    return special.get(key, key[:1].upper() + key[1:])


def spec_diff(old: JSON, new: JSON) -> str:
    """A readable stand-in for the cmp.Diff Kubernetes appends: one -/+ pair per changed
    field of core.PodSpec."""
    lines = ["  core.PodSpec{"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key in old:
            lines.append(f"- \t{_go_field(key)}: {_render(old[key])},")
        if key in new:
            lines.append(f"+ \t{_go_field(key)}: {_render(new[key])},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _render(v: Any) -> str:
    if isinstance(v, str | int | float | bool) or v is None:
        return go_value(v)
    return json.dumps(v, sort_keys=True, separators=(",", ":"))
