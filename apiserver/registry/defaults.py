"""Kubernetes' defaulting (`SetDefaults_*` of k8s.io/kubernetes/pkg/apis/*/v1), on plain dicts.

Kubernetes fills defaults when it decodes a request, so what a client reads back always
carries them (`protocol: TCP`, `restartPolicy: Always`, a Deployment's `strategy`), and the
update rules compare defaulted objects. Every function here is idempotent: running it on an
already-defaulted object changes nothing, which the update path relies on.

What this module must never do: validate (a wrong value stays wrong, for validation to
report), touch status or system metadata (that is the strategies'), or do I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

JSON = dict[str, Any]


def _d(obj: JSON, key: str) -> JSON:
    """obj[key] as a dict, created when missing (or null)."""
    v = obj.get(key)
    if not isinstance(v, dict):
        v = {}
        obj[key] = v
    return v


def _dicts(v: Any) -> list[JSON]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


# ----------------------------------------------------------------- pods

def image_pull_policy(image: str) -> str:
    """Always for `:latest` or no tag, IfNotPresent otherwise (a digest counts as a tag)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    default_handler(probe)


def default_handler(handler: Any) -> None:
    if not isinstance(handler, dict):
        return
    http = handler.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")
    grpc = handler.get("grpc")
    if isinstance(grpc, dict):
        grpc.setdefault("service", "")


def default_container(c: JSON) -> None:
    if not c.get("imagePullPolicy"):
        image = c.get("image")
        c["imagePullPolicy"] = image_pull_policy(image) if isinstance(image, str) and image else "IfNotPresent"
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if not isinstance(c.get("resources"), dict):
        c["resources"] = {}
    res = c["resources"]
    # SetDefaults_Pod: a limit without a request sets the request.
    limits = res.get("limits")
    if isinstance(limits, dict) and limits:
        requests = res.get("requests")
        if not isinstance(requests, dict):
            requests = {}
        for k, v in limits.items():
            requests.setdefault(k, v)
        res["requests"] = requests
    for p in _dicts(c.get("ports")):
        p.setdefault("protocol", "TCP")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        default_probe(c.get(name))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        default_handler(lifecycle.get("postStart"))
        default_handler(lifecycle.get("preStop"))
    for env in _dicts(c.get("env")):
        vf = env.get("valueFrom")
        if isinstance(vf, dict) and isinstance(vf.get("fieldRef"), dict):
            vf["fieldRef"].setdefault("apiVersion", "v1")


def default_volume(v: JSON) -> None:
    sources = [k for k in v if k != "name"]
    if not sources:
        v["emptyDir"] = {}
    for key in ("configMap", "secret", "downwardAPI", "projected"):
        src = v.get(key)
        if isinstance(src, dict):
            src.setdefault("defaultMode", 420)
    projected = v.get("projected")
    if isinstance(projected, dict):
        for s in _dicts(projected.get("sources")):
            sat = s.get("serviceAccountToken")
            if isinstance(sat, dict):
                sat.setdefault("expirationSeconds", 3600)
            da = s.get("downwardAPI")
            if isinstance(da, dict):
                for item in _dicts(da.get("items")):
                    if isinstance(item.get("fieldRef"), dict):
                        item["fieldRef"].setdefault("apiVersion", "v1")
    da = v.get("downwardAPI")
    if isinstance(da, dict):
        for item in _dicts(da.get("items")):
            if isinstance(item.get("fieldRef"), dict):
                item["fieldRef"].setdefault("apiVersion", "v1")
    hp = v.get("hostPath")
    if isinstance(hp, dict):
        hp.setdefault("type", "")
    iscsi = v.get("iscsi")
    if isinstance(iscsi, dict):
        iscsi.setdefault("iscsiInterface", "default")


def default_pod_spec(spec: JSON) -> None:
    """SetDefaults_PodSpec and the per-element defaults below it (pods and templates)."""
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("hostNetwork") is True:
        # Host networking: container ports are host ports.
        for c in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
            for p in _dicts(c.get("ports")):
                if not p.get("hostPort") and p.get("containerPort"):
                    p["hostPort"] = p["containerPort"]
    for c in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        default_container(c)
    for c in _dicts(spec.get("ephemeralContainers")):
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        if isinstance(c.get("image"), str) and c["image"]:
            c.setdefault("imagePullPolicy", image_pull_policy(c["image"]))
        if not isinstance(c.get("resources"), dict):
            c["resources"] = {}
    for v in _dicts(spec.get("volumes")):
        default_volume(v)
    for t in _dicts(spec.get("tolerations")):
        if t.get("operator") in (None, ""):
            pass  # Equal is implied; Kubernetes does not write it back.
    if spec.get("serviceAccountName") and not spec.get("serviceAccount"):
        # v1 conversion mirrors the deprecated field.
        spec["serviceAccount"] = spec["serviceAccountName"]
    elif spec.get("serviceAccount") and not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec["serviceAccount"]


def default_pod(pod: JSON) -> None:
    spec = _d(pod, "spec")
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    # With hostNetwork the default DNS policy still is ClusterFirst; nothing more to do.


def default_pod_template(template: Any) -> None:
    """A PodTemplateSpec inside a workload: pod spec defaults, and `creationTimestamp: null`
    in its metadata as Kubernetes v1.32 serialises it."""
    if not isinstance(template, dict):
        return
    meta = _d(template, "metadata")
    meta.setdefault("creationTimestamp", None)
    default_pod_spec(_d(template, "spec"))


# ----------------------------------------------------------------- apps

def _default_template_of(spec: JSON) -> None:
    if isinstance(spec.get("template"), dict):
        default_pod_template(spec["template"])


def default_deployment(obj: JSON) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _d(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template_of(spec)


def default_replicaset(obj: JSON) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    _default_template_of(spec)


def default_replicationcontroller(obj: JSON) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("replicas", 1)
    template = spec.get("template")
    if isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels")
        if labels and not spec.get("selector"):
            spec["selector"] = dict(labels)
        if labels and not (obj.get("metadata") or {}).get("labels"):
            _d(obj, "metadata")["labels"] = dict(labels)
    _default_template_of(spec)


def default_daemonset(obj: JSON) -> None:
    spec = _d(obj, "spec")
    strategy = _d(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _default_template_of(spec)


def default_statefulset(obj: JSON) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _d(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        ru.setdefault("partition", 0)
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    policy = _d(spec, "persistentVolumeClaimRetentionPolicy")
    policy.setdefault("whenDeleted", "Retain")
    policy.setdefault("whenScaled", "Retain")
    for pvc in _dicts(spec.get("volumeClaimTemplates")):
        pvc.setdefault("apiVersion", "v1")
        pvc.setdefault("kind", "PersistentVolumeClaim")
        _d(pvc, "metadata").setdefault("creationTimestamp", None)
        _d(pvc, "spec").setdefault("volumeMode", "Filesystem")
        _d(pvc, "status").setdefault("phase", "Pending")
    _default_template_of(spec)


# ----------------------------------------------------------------- batch

def default_job_spec_template(spec: JSON) -> None:
    _default_template_of(spec)


def default_job(obj: JSON) -> None:
    spec = _d(obj, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    meta = _d(obj, "metadata")
    if labels and not meta.get("labels"):
        meta["labels"] = dict(labels)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed"
    pfp = spec.get("podFailurePolicy")
    if isinstance(pfp, dict):
        for rule in _dicts(pfp.get("rules")):
            for cond in _dicts(rule.get("onPodConditions")):
                cond.setdefault("status", "True")
    _default_template_of(spec)


def default_cronjob(obj: JSON) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    jt = spec.get("jobTemplate")
    if isinstance(jt, dict):
        _d(jt, "metadata").setdefault("creationTimestamp", None)
        _default_template_of(_d(jt, "spec"))


# ----------------------------------------------------------------- core

def default_service(obj: JSON) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = _d(spec, "sessionAffinityConfig")
        _d(cfg, "clientIP").setdefault("timeoutSeconds", 10800)
    spec.setdefault("type", "ClusterIP")
    stype = spec["type"]
    for p in _dicts(spec.get("ports")):
        p.setdefault("protocol", "TCP")
        if p.get("targetPort") in (None, 0, "") and p.get("port") is not None:
            p["targetPort"] = p["port"]
    if stype in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if stype != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if stype == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if stype != "ExternalName":
        # ClusterIP allocation fills these in Kubernetes' REST layer; a single-stack IPv4
        # cluster always answers the same.
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]
        if spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        elif spec.get("clusterIPs") and not spec.get("clusterIP"):
            spec["clusterIP"] = spec["clusterIPs"][0]
    status = _d(obj, "status")
    if not isinstance(status.get("loadBalancer"), dict):
        status["loadBalancer"] = {}


def default_namespace(obj: JSON) -> None:
    meta = _d(obj, "metadata")
    name = meta.get("name")
    if name:
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = {}
            meta["labels"] = labels
        labels["kubernetes.io/metadata.name"] = name
    _d(obj, "spec")
    status = _d(obj, "status")
    status.setdefault("phase", "Active")


def default_secret(obj: JSON) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = {}
            obj["data"] = data
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def default_node(obj: JSON) -> None:
    status = obj.get("status")
    if isinstance(status, dict):
        if status.get("capacity") and not status.get("allocatable"):
            status["allocatable"] = dict(status["capacity"])
    _d(obj, "spec")


def _ports_tcp(ports: Any) -> None:
    for p in _dicts(ports):
        p.setdefault("protocol", "TCP")


def default_endpoints(obj: JSON) -> None:
    for s in _dicts(obj.get("subsets")):
        _ports_tcp(s.get("ports"))


def default_endpointslice(obj: JSON) -> None:
    for p in _dicts(obj.get("ports")):
        p.setdefault("name", "")
        p.setdefault("protocol", "TCP")


def default_pod_template_kind(obj: JSON) -> None:
    default_pod_template(obj.get("template"))


def default_limitrange(obj: JSON) -> None:
    for item in _dicts((obj.get("spec") or {}).get("limits")):
        if item.get("type") == "Container":
            limits = item.get("max")
            if isinstance(limits, dict):
                item.setdefault("default", {})
                for k, v in limits.items():
                    item["default"].setdefault(k, v)
            if isinstance(item.get("default"), dict):
                item.setdefault("defaultRequest", {})
                for k, v in item["default"].items():
                    item["defaultRequest"].setdefault(k, v)


def default_pvc(obj: JSON) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("volumeMode", "Filesystem")
    _d(obj, "status").setdefault("phase", "Pending")


def default_pv(obj: JSON) -> None:
    spec = _d(obj, "spec")
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    _d(obj, "status").setdefault("phase", "Pending")


def default_event(obj: JSON) -> None:
    # core/v1 Event: nothing is defaulted beyond what validation requires.
    return None


def default_pdb(obj: JSON) -> None:
    _d(obj, "spec")


def default_horizontal_pod_autoscaler(obj: JSON) -> None:
    """SetDefaults_HorizontalPodAutoscaler: minReplicas 1; in v2 (the storage version) an
    HPA without metrics scales on 80% average CPU utilization."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    spec.setdefault("minReplicas", 1)
    if obj.get("apiVersion") == "autoscaling/v2" and not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 80}}}]


DEFAULTERS: dict[tuple[str, str], Callable[[JSON], None]] = {
    ("autoscaling", "HorizontalPodAutoscaler"): default_horizontal_pod_autoscaler,
    ("", "Pod"): default_pod,
    ("", "PodTemplate"): default_pod_template_kind,
    ("", "ReplicationController"): default_replicationcontroller,
    ("", "Service"): default_service,
    ("", "Namespace"): default_namespace,
    ("", "Secret"): default_secret,
    ("", "Node"): default_node,
    ("", "Endpoints"): default_endpoints,
    ("", "LimitRange"): default_limitrange,
    ("", "PersistentVolumeClaim"): default_pvc,
    ("", "PersistentVolume"): default_pv,
    ("apps", "Deployment"): default_deployment,
    ("apps", "ReplicaSet"): default_replicaset,
    ("apps", "DaemonSet"): default_daemonset,
    ("apps", "StatefulSet"): default_statefulset,
    ("batch", "Job"): default_job,
    ("batch", "CronJob"): default_cronjob,
    ("discovery.k8s.io", "EndpointSlice"): default_endpointslice,
}


def default(group: str, kind: str, obj: JSON) -> None:
    """Apply the kind's defaults in place (no-op for kinds without any)."""
    fn = DEFAULTERS.get((group, kind))
    if fn is not None:
        fn(obj)
