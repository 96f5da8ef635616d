"""A container's environment, command and downward-API values, computed as Kubernetes does.

Why it exists: the pod worker must hand the runtime a final argv and a final ``NAME=value``
list; the rules for getting there (``env`` in order after ``envFrom``, ``valueFrom`` sources,
``$(VAR)`` expansion with ``$$`` as the escape, resourceFieldRef rounding) are easy to get
subtly wrong, so they live here as pure functions tested with tables.

It must never do I/O: ConfigMaps and Secrets arrive already fetched (``Sources``), and a
missing one is reported as ``ConfigError`` (the pod worker turns it into
CreateContainerConfigError).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelet.runtime.cgroups import parse_quantity

Obj = dict[str, Any]

# Kubernetes' C_IDENTIFIER-ish rule for env names coming from envFrom keys
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """A referenced ConfigMap, Secret or key is missing (reason CreateContainerConfigError)."""


@dataclass
class Sources:
    """What the env and volumes of one pod refer to: objects by name (None: not found)."""

    configmaps: dict[str, Obj | None] = field(default_factory=dict)
    secrets: dict[str, Obj | None] = field(default_factory=dict)


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion.

    ``$(NAME)`` becomes the value of NAME when defined, and stays as written otherwise;
    ``$$`` is an escaped ``$``; a ``$`` followed by anything else is kept.
    Examples: ``"$(A)-$(B)"`` with A=1 -> ``"1-$(B)"``; ``"$$(A)"`` -> ``"$(A)"``;
    ``"$(A"`` -> ``"$(A"``.
    """
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = value[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = value.find(")", i + 2)
            if end < 0:
                out.append(value[i:])
                break
            name = value[i + 2:end]
            out.append(env[name] if name in env else value[i:end + 1])
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _decode(secret: Obj, key: str) -> str | None:
    data = secret.get("data") or {}
    if key in data:
        return base64.b64decode(data[key]).decode("utf-8", "replace")
    sdata = secret.get("stringData") or {}
    return sdata.get(key)


def object_data(kind: str, obj: Obj) -> dict[str, str]:
    """A ConfigMap's ``data`` (binaryData decoded) or a Secret's decoded ``data``."""
    if kind == "ConfigMap":
        out = {k: str(v) for k, v in (obj.get("data") or {}).items()}
        for k, v in (obj.get("binaryData") or {}).items():
            out.setdefault(k, base64.b64decode(v).decode("utf-8", "replace"))
        return out
    out = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in (obj.get("data") or {}).items()}
    for k, v in (obj.get("stringData") or {}).items():
        out.setdefault(k, str(v))
    return out


def object_bytes(kind: str, obj: Obj) -> dict[str, bytes]:
    """As ``object_data`` but raw bytes (for files in configMap/secret volumes)."""
    out: dict[str, bytes] = {}
    if kind == "ConfigMap":
        out.update({k: str(v).encode() for k, v in (obj.get("data") or {}).items()})
        for k, v in (obj.get("binaryData") or {}).items():
            out.setdefault(k, base64.b64decode(v))
        return out
    out.update({k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()})
    for k, v in (obj.get("stringData") or {}).items():
        out.setdefault(k, str(v).encode())
    return out


def _format_map(m: Mapping[str, str]) -> str:
    """Labels/annotations as the downward API writes them: ``key="value"`` lines, sorted."""
    return "\n".join(f'{k}="{_escape(v)}"' for k, v in sorted(m.items()))


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


def field_ref(pod: Obj, path: str, *, host_ip: str = "", pod_ip: str = "") -> str:
    """The value of a downward-API ``fieldRef`` (env or volume file).

    Example: ``metadata.labels['app']`` -> the label's value (empty when absent)."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    m = _SUBSCRIPT.match(path)
    if m:
        return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": host_ip or status.get("hostIP", ""),
        "status.hostIPs": host_ip or status.get("hostIP", ""),
        "status.podIP": pod_ip or status.get("podIP", ""),
        "status.podIPs": pod_ip or status.get("podIP", ""),
    }
    if path in simple:
        return str(simple[path] or "")
    if path == "metadata.labels":
        return _format_map(meta.get("labels") or {})
    if path == "metadata.annotations":
        return _format_map(meta.get("annotations") or {})
    raise ConfigError(f"unsupported fieldPath: {path}")


def resource_field_ref(container: Obj, ref: Obj, node_allocatable: Mapping[str, str]) -> str:
    """A ``resourceFieldRef`` value: the container's limit (node allocatable when unset) or
    request, divided by ``divisor`` and rounded up, as Kubernetes does.

    Examples: limits.cpu 500m, divisor 1 -> "1"; divisor 1m -> "500";
    limits.memory 64Mi, divisor 1Mi -> "64"; requests.cpu unset -> "0"."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    res = container.get("resources") or {}
    raw = (res.get(kind) or {}).get(name)
    if raw is None and kind == "requests":
        raw = (res.get("limits") or {}).get(name)
    if raw is None:
        raw = node_allocatable.get(name, "0") if kind == "limits" else "0"
    value = parse_quantity(str(raw))
    divisor = parse_quantity(str(ref.get("divisor") or "1")) or 1.0
    return str(int(math.ceil(round(value / divisor, 9))))


def build_env(pod: Obj, container: Obj, sources: Sources, *, host_ip: str = "", pod_ip: str = "",
              node_allocatable: Mapping[str, str] | None = None) -> list[str]:
    """The container's final ``NAME=value`` list: envFrom first, then env in order, each value
    expanded against the variables defined before it (Kubernetes' makeEnvironmentVariables)."""
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace", "")
    values: dict[str, str] = {}
    order: list[str] = []

    def put(name: str, value: str) -> None:
        if name not in values:
            order.append(name)
        values[name] = value

    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        if src.get("configMapRef"):
            ref, kind, pool = src["configMapRef"], "ConfigMap", sources.configmaps
        elif src.get("secretRef"):
            ref, kind, pool = src["secretRef"], "Secret", sources.secrets
        else:
            continue
        obj = pool.get(ref.get("name", ""))
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{kind.lower()} "{ref.get("name", "")}" not found')
        for k, v in object_data(kind, obj).items():
            if _ENV_NAME.match(prefix + k):
                put(prefix + k, v)
    for e in container.get("env") or []:
        name = e.get("name", "")
        if "value" in e or not e.get("valueFrom"):
            put(name, expand(str(e.get("value") or ""), values))
            continue
        vf = e["valueFrom"]
        if vf.get("fieldRef"):
            put(name, field_ref(pod, vf["fieldRef"].get("fieldPath", ""), host_ip=host_ip, pod_ip=pod_ip))
        elif vf.get("resourceFieldRef"):
            ref = vf["resourceFieldRef"]
            target = container
            if ref.get("containerName"):
                target = next((c for c in (pod.get("spec") or {}).get("containers") or []
                               if c.get("name") == ref["containerName"]), container)
            put(name, resource_field_ref(target, ref, node_allocatable or {}))
        elif vf.get("configMapKeyRef") or vf.get("secretKeyRef"):
            is_cm = bool(vf.get("configMapKeyRef"))
            ref = vf["configMapKeyRef"] if is_cm else vf["secretKeyRef"]
            kind = "ConfigMap" if is_cm else "Secret"
            obj = (sources.configmaps if is_cm else sources.secrets).get(ref.get("name", ""))
            optional = bool(ref.get("optional"))
            if obj is None:
                if optional:
                    continue
                raise ConfigError(f'{kind.lower()} "{ref.get("name", "")}" not found')
            data = object_data(kind, obj)
            key = ref.get("key", "")
            if key not in data:
                if optional:
                    continue
                raise ConfigError(f"couldn't find key {key} in {kind} {ns}/{ref.get('name', '')}")
            put(name, data[key])
    return [f"{k}={values[k]}" for k in order]


def env_map(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in env:
        k, _, v = e.partition("=")
        out[k] = v
    return out


def final_command(image_entrypoint: list[str] | None, image_cmd: list[str] | None, container: Obj,
                  env: Mapping[str, str]) -> list[str]:
    """Kubernetes' argv: command/args (expanded with ``$(VAR)``) merged with the image's
    Entrypoint/Cmd. Examples: neither set -> Entrypoint+Cmd; command set -> command+args;
    only args -> Entrypoint+args."""
    command = [expand(str(c), env) for c in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    if command:
        return command + args
    if args:
        return list(image_entrypoint or []) + args
    return list(image_entrypoint or []) + list(image_cmd or [])


def referenced_objects(pod: Obj) -> tuple[set[str], set[str]]:
    """(ConfigMap names, Secret names) the pod's env, envFrom and volumes refer to."""
    cms: set[str] = set()
    secrets: set[str] = set()
    spec = pod.get("spec") or {}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for src in c.get("envFrom") or []:
            if src.get("configMapRef"):
                cms.add(src["configMapRef"].get("name", ""))
            if src.get("secretRef"):
                secrets.add(src["secretRef"].get("name", ""))
        for e in c.get("env") or []:
            vf = e.get("valueFrom") or {}
            if vf.get("configMapKeyRef"):
                cms.add(vf["configMapKeyRef"].get("name", ""))
            if vf.get("secretKeyRef"):
                secrets.add(vf["secretKeyRef"].get("name", ""))
    for v in spec.get("volumes") or []:
        if v.get("configMap"):
            cms.add(v["configMap"].get("name", ""))
        if v.get("secret"):
            secrets.add(v["secret"].get("secretName", ""))
        for s in (v.get("projected") or {}).get("sources") or []:
            if s.get("configMap"):
                cms.add(s["configMap"].get("name", ""))
            if s.get("secret"):
                secrets.add(s["secret"].get("name", ""))
    cms.discard("")
    secrets.discard("")
    return cms, secrets
