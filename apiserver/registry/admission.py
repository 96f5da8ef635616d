"""The mutating admission plug-ins Kubernetes enables by default that change what a user
sees on a pod: DefaultTolerationSeconds (the `node.kubernetes.io/not-ready` and
`.../unreachable` NoExecute tolerations of 300 s that decide when the node lifecycle
controller evicts), ServiceAccount and Priority (`priority: 0`, `preemptionPolicy:
PreemptLowerPriority`).

ServiceAccount (plugin/pkg/admission/serviceaccount): on create, a pod without
`serviceAccountName` gets `default`; the service account must exist (403 `error looking up
service account <ns>/<name>: serviceaccount "<name>" not found`; `default` is looked up for
up to ~2 s, since the serviceaccount controller creates it just after its namespace); unless
`automountServiceAccountToken: false` on the pod (which wins) or on the ServiceAccount, every
container mounts the projected `kube-api-access-xxxxx` volume (token, cluster CA, namespace)
at /var/run/secrets/kubernetes.io/serviceaccount; the pod inherits the account's
imagePullSecrets when it has none. Mirror pods (the kubelet's static pods) are left alone and
may not name a service account, reference secrets or project tokens.

The handlers call `admit(operation, resource, obj, old)` between `prepare_*` and `default`;
`make_admit(config)` binds the configuration of `mizzen up` (tolerations seconds, the
ServiceAccount lookup, `--disable-admission-plugins`). A bound admit returns an awaitable for
a pod create that needs the lookup, None otherwise.

What this module must never do: I/O of its own (the ServiceAccount and PriorityClass lookups
are callables handed in by the caller), or touch anything but pods.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from apimachinery.errors import Forbidden
from apimachinery.resources import ResourceInfo

JSON = dict[str, Any]

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


@dataclass(frozen=True)
class AdmissionConfig:
    default_not_ready_toleration_seconds: int = 300
    default_unreachable_toleration_seconds: int = 300
    #: name -> PriorityClass object (or None when missing); None: only the system classes
    priority_class: Callable[[str], JSON | None] | None = None
    #: the ServiceAccount plug-in (`--disable-admission-plugins=ServiceAccount` turns it off)
    service_account_admission: bool = True
    #: add the projected `kube-api-access-*` token volume (kube-apiserver's MountServiceAccountToken)
    mount_service_account_token: bool = True
    #: async (namespace, name) -> ServiceAccount or None; None: existence is not checked
    service_account: Callable[[str, str], Awaitable[JSON | None]] | None = None
    #: how a retry of the `default` lookup waits (tests hand in a fake)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


DEFAULT_CONFIG = AdmissionConfig()


def _is_pod(resource: ResourceInfo) -> bool:
    return resource.group == "" and resource.kind == "Pod"


def default_toleration_seconds(pod: JSON, config: AdmissionConfig = DEFAULT_CONFIG) -> None:
    """Add the not-ready/unreachable NoExecute tolerations unless the pod already tolerates
    those taints (an empty key or effect tolerates them too)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    not_ready = unreachable = False
    for t in tolerations:
        if not isinstance(t, dict):
            continue
        key, effect = t.get("key") or "", t.get("effect") or ""
        if effect in ("", "NoExecute"):
            if key in ("", NOT_READY_TAINT):
                not_ready = True
            if key in ("", UNREACHABLE_TAINT):
                unreachable = True
    added = []
    if not not_ready:
        added.append({"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute",
                      "tolerationSeconds": config.default_not_ready_toleration_seconds})
    if not unreachable:
        added.append({"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute",
                      "tolerationSeconds": config.default_unreachable_toleration_seconds})
    if added:
        spec["tolerations"] = tolerations + added


MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_SERVICE_ACCOUNT = "default"
#: `default` is created by the serviceaccount controller right after its namespace: look it
#: up this many times, 100-200 ms apart, before refusing the pod (Kubernetes' getServiceAccount)
DEFAULT_LOOKUP_ATTEMPTS = 10


def is_mirror_pod(pod: JSON) -> bool:
    return MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def should_automount(pod_spec: JSON, sa: JSON | None) -> bool:
    """The pod's automountServiceAccountToken wins, then the ServiceAccount's; default true."""
    if isinstance(pod_spec.get("automountServiceAccountToken"), bool):
        return bool(pod_spec["automountServiceAccountToken"])
    if sa is not None and isinstance(sa.get("automountServiceAccountToken"), bool):
        return bool(sa["automountServiceAccountToken"])
    return True


def lookup_attempts(name: str) -> int:
    return DEFAULT_LOOKUP_ATTEMPTS if name == DEFAULT_SERVICE_ACCOUNT else 1


def validate_mirror_pod(pod: JSON) -> None:
    """What a mirror pod may not reference (Forbidden, Kubernetes' messages)."""
    spec = pod.get("spec") or {}
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        raise Forbidden(f'pods "{_name(pod)}" is forbidden: a mirror pod may not reference service accounts',
                        "pods", _name(pod))
    if _references_secrets(spec):
        raise Forbidden(f'pods "{_name(pod)}" is forbidden: a mirror pod may not reference secrets', "pods",
                        _name(pod))
    for v in spec.get("volumes") or []:
        for src in ((v or {}).get("projected") or {}).get("sources") or []:
            if isinstance(src, dict) and src.get("serviceAccountToken") is not None:
                raise Forbidden(f'pods "{_name(pod)}" is forbidden: a mirror pod may not use ServiceAccountToken '
                                "volume projections", "pods", _name(pod))


def _references_secrets(spec: JSON) -> bool:
    if spec.get("imagePullSecrets"):
        return True
    for v in spec.get("volumes") or []:
        v = v or {}
        if v.get("secret") is not None:
            return True
        if any(isinstance(s, dict) and s.get("secret") is not None
               for s in (v.get("projected") or {}).get("sources") or []):
            return True
        if any(isinstance(x, dict) and isinstance(x.get("secretRef"), dict)
               for x in (v.get(k) for k in ("cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "csi",
                                            "azureFile"))):
            return True
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            for e in (c or {}).get("envFrom") or []:
                if (e or {}).get("secretRef") is not None:
                    return True
            for e in (c or {}).get("env") or []:
                if ((e or {}).get("valueFrom") or {}).get("secretKeyRef") is not None:
                    return True
    return False


def default_service_account(pod: JSON, config: AdmissionConfig = DEFAULT_CONFIG, sa: JSON | None = None) -> None:
    """The mutation of the ServiceAccount plug-in, once the account is known (`sa`; None when
    no lookup is configured: then only the pod's own automount setting counts)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict) or not config.service_account_admission or is_mirror_pod(pod):
        return
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
    spec["serviceAccount"] = spec["serviceAccountName"]
    if config.mount_service_account_token and should_automount(spec, sa):
        mount_service_account_token(spec)
    if sa is not None and not spec.get("imagePullSecrets") and sa.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": (s or {}).get("name", "")} for s in sa["imagePullSecrets"]]


async def find_service_account(pod: JSON, config: AdmissionConfig) -> JSON:
    """The pod's ServiceAccount, or Forbidden as Kubernetes words it."""
    assert config.service_account is not None
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace") or ""
    spec = pod.get("spec") or {}
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
    for attempt in range(lookup_attempts(name)):
        if attempt:
            await config.sleep(0.1 + random.random() / 10)
        sa = await config.service_account(ns, name)
        if sa is not None:
            return sa
    raise Forbidden(f'pods "{_name(pod)}" is forbidden: error looking up service account {ns}/{name}: '
                    f'serviceaccount "{name}" not found', "pods", _name(pod))


SERVICE_ACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # utilrand's alphabet: no vowels, no look-alikes


def mount_service_account_token(spec: JSON) -> None:
    """The `kube-api-access-xxxxx` projected volume (token, cluster CA, namespace) mounted
    read-only in every container that does not mount something at that path already."""
    import secrets
    containers = [c for key in ("initContainers", "containers") for c in spec.get(key) or []
                  if isinstance(c, dict)]
    if all(any(isinstance(m, dict) and m.get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH
               for m in c.get("volumeMounts") or []) for c in containers):
        return
    volumes = spec.get("volumes")
    if not isinstance(volumes, list):
        volumes = []
        spec["volumes"] = volumes
    existing = [v for v in volumes if isinstance(v, dict) and str(v.get("name", "")).startswith("kube-api-access-")]
    if existing:
        name = existing[0]["name"]
    else:
        name = "kube-api-access-" + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))
        volumes.append({"name": name, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                          "fieldPath": "metadata.namespace"}}]}},
        ]}})
    for c in containers:
        mounts = c.get("volumeMounts")
        if not isinstance(mounts, list):
            mounts = []
            c["volumeMounts"] = mounts
        if not any(isinstance(m, dict) and m.get("mountPath") == SERVICE_ACCOUNT_MOUNT_PATH for m in mounts):
            mounts.append({"name": name, "readOnly": True, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH})


def priority(pod: JSON, config: AdmissionConfig = DEFAULT_CONFIG) -> None:
    """The Priority plug-in: resolve priorityClassName into spec.priority and
    spec.preemptionPolicy (no global default class: 0 and PreemptLowerPriority)."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    name = spec.get("priorityClassName") or ""
    value, policy = 0, "PreemptLowerPriority"
    if name:
        if name in SYSTEM_PRIORITY_CLASSES:
            value = SYSTEM_PRIORITY_CLASSES[name]
        elif config.priority_class is not None:
            pc = config.priority_class(name)
            if pc is None:
                raise Forbidden(f'pods "{_name(pod)}" is forbidden: no PriorityClass with name {name} was found',
                                "pods", _name(pod))
            value = int(pc.get("value") or 0)
            policy = pc.get("preemptionPolicy") or policy
    given = spec.get("priority")
    if given is not None and given != value:
        raise Forbidden(f'pods "{_name(pod)}" is forbidden: the integer value of priority ({given}) must not be '
                        f"provided in pod spec; priority admission controller computed {value} from the given "
                        "PriorityClass name", "pods", _name(pod))
    spec["priority"] = value
    spec.setdefault("preemptionPolicy", policy)


def _name(pod: JSON) -> str:
    meta = pod.get("metadata") or {}
    return meta.get("name") or meta.get("generateName") or ""


def admit_create(resource: ResourceInfo, obj: JSON, ctx: AdmissionConfig | None = None,
                 sa: JSON | None = None) -> None:
    """Mutating admission of a create (raises Forbidden when Kubernetes would); `sa` is the
    pod's ServiceAccount when it was looked up (see `admit_create_async`)."""
    config = ctx or DEFAULT_CONFIG
    if _is_pod(resource):
        if is_mirror_pod(obj) and config.service_account_admission:
            validate_mirror_pod(obj)
        default_service_account(obj, config, sa)
        priority(obj, config)
        default_toleration_seconds(obj, config)


async def admit_create_async(resource: ResourceInfo, obj: JSON, config: AdmissionConfig) -> None:
    """`admit_create` after looking the pod's ServiceAccount up (when a lookup is configured)."""
    sa = None
    if (_is_pod(resource) and config.service_account_admission and config.service_account is not None
            and not is_mirror_pod(obj)):
        sa = await find_service_account(obj, config)
    admit_create(resource, obj, config, sa)


def admit_update(resource: ResourceInfo, new: JSON, old: JSON, ctx: AdmissionConfig | None = None) -> None:
    """Mutating admission of an update of the main resource (DefaultTolerationSeconds
    handles updates too, so a replaced pod keeps its tolerations)."""
    config = ctx or DEFAULT_CONFIG
    if _is_pod(resource):
        default_toleration_seconds(new, config)


def admit(operation: str, resource: ResourceInfo, obj: JSON, old: JSON | None,
          config: AdmissionConfig | None = None, subresource: str = "") -> None:
    """The handlers' hook: `admit("CREATE"|"UPDATE", resource, obj, old)`. Subresource
    writes (/status) are not admitted by these plug-ins; the handler passes old for them,
    so a status update (old given, obj carrying the old spec) is recognised by `subresource`
    when given and is harmless otherwise (tolerations already present)."""
    if subresource:
        return
    if operation == "CREATE":
        admit_create(resource, obj, config)
    elif operation == "UPDATE" and old is not None:
        admit_update(resource, obj, old, config)


def make_admit(config: AdmissionConfig) -> Callable[[str, ResourceInfo, JSON, JSON | None], Awaitable[None] | None]:
    """An `admit` bound to a configuration (`mizzen up --default-toleration-seconds`, the
    ServiceAccount lookup): a pod create that needs the lookup returns an awaitable."""

    def bound(operation: str, resource: ResourceInfo, obj: JSON, old: JSON | None) -> Awaitable[None] | None:
        if operation == "CREATE" and _is_pod(resource) and config.service_account is not None:
            return admit_create_async(resource, obj, config)
        admit(operation, resource, obj, old, config)
        return None

    return bound
