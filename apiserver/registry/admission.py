"""The mutating admission plug-ins Kubernetes enables by default that change what a user
sees on a pod: DefaultTolerationSeconds (the `node.kubernetes.io/not-ready` and
`.../unreachable` NoExecute tolerations of 300 s that decide when the node lifecycle
controller evicts), ServiceAccount (`serviceAccountName: default`) and Priority
(`priority: 0`, `preemptionPolicy: PreemptLowerPriority`).

The handlers call `admit(operation, resource, obj, old)` between `prepare_*` and
`default`; `make_admit(config)` binds the `--default-toleration-seconds` of `mizzen up`.

What this module must never do: I/O (a PriorityClass lookup, when wanted, is a plain
callable handed in by the caller), or touch anything but pods.
"""

from __future__ import annotations

from collections.abc import Callable
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
    #: add the projected `kube-api-access-*` token volume, as Kubernetes does (needs a kubelet
    #: that serves serviceAccountToken projections, so off by default)
    mount_service_account_token: bool = False


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


def default_service_account(pod: JSON, config: AdmissionConfig = DEFAULT_CONFIG) -> None:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    spec["serviceAccount"] = spec["serviceAccountName"]
    if config.mount_service_account_token and spec.get("automountServiceAccountToken") is not False:
        mount_service_account_token(spec)


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


def admit_create(resource: ResourceInfo, obj: JSON, ctx: AdmissionConfig | None = None) -> None:
    """Mutating admission of a create (raises Forbidden when Kubernetes would)."""
    config = ctx or DEFAULT_CONFIG
    if _is_pod(resource):
        default_service_account(obj, config)
        priority(obj, config)
        default_toleration_seconds(obj, config)


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


def make_admit(config: AdmissionConfig) -> Callable[[str, ResourceInfo, JSON, JSON | None], None]:
    """An `admit` bound to a configuration (`mizzen up --default-toleration-seconds`)."""

    def bound(operation: str, resource: ResourceInfo, obj: JSON, old: JSON | None) -> None:
        admit(operation, resource, obj, old, config)

    return bound
