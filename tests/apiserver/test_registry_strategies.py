"""Per-kind strategies: what a create stores (defaults, status, generation), what an update
may change, and the causes Kubernetes v1.32 answers with, word for word."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from apimachinery.errors import BadRequest, Invalid
from apimachinery.resources import DEFAULT, ResourceInfo
from apiserver.registry import admit, strategy_for
from apiserver.registry.strategy import Strategy

JSON = dict[str, Any]


def res(plural: str, group: str = "") -> ResourceInfo:
    r = next((x for x in DEFAULT if x.plural == plural and x.group == group), None)
    assert r is not None, (plural, group)
    return r


def create(plural: str, group: str, obj: JSON) -> tuple[JSON, list[tuple[str, str]]]:
    """The handlers' create flow: prepare, admission, default, validate."""
    r = res(plural, group)
    s = strategy_for(r)
    obj = copy.deepcopy(obj)
    obj.setdefault("metadata", {}).setdefault("uid", "11111111-2222-3333-4444-555555555555")
    s.prepare_for_create(obj)
    admit("CREATE", r, obj, None)
    s.default(obj)
    return obj, [(c.field, c.message) for c in s.validate(obj)]


def update(plural: str, group: str, new: JSON, old: JSON) -> tuple[JSON, list[tuple[str, str]]]:
    r = res(plural, group)
    s = strategy_for(r)
    new = copy.deepcopy(new)
    s.prepare_for_update(new, old)
    admit("UPDATE", r, new, old)
    s.default(new)
    return new, [(c.field, c.message) for c in s.validate_update(new, old)]


def status_update(plural: str, group: str, new: JSON, old: JSON) -> tuple[JSON, list[tuple[str, str]]]:
    s = strategy_for(res(plural, group))
    new = copy.deepcopy(new)
    s.prepare_for_status_update(new, old)
    return new, [(c.field, c.message) for c in s.validate_status_update(new, old)]


def pod(name: str = "web", **spec: Any) -> JSON:
    base: JSON = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    base.update(spec)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": base}


def deployment(name: str = "web", selector: Any = "default", labels: Any = "default", **spec: Any) -> JSON:
    sel = {"matchLabels": {"app": "web"}} if selector == "default" else selector
    lab = {"app": "web"} if labels == "default" else labels
    s: JSON = {"template": {"metadata": {"labels": lab},
                            "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
    if sel is not None:
        s["selector"] = sel
    s.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": s}


# ----------------------------------------------------------------- lookup

def test_every_builtin_resource_has_a_strategy() -> None:
    for r in DEFAULT:
        s = strategy_for(r)
        assert isinstance(s, Strategy)
        assert s.resource is r
        assert s.has_status == (r.subresource("status") is not None)


# ----------------------------------------------------------------- pods

def test_pod_create_defaults_and_status() -> None:
    obj, causes = create("pods", "", pod(containers=[{"name": "app", "image": "nginx", "ports": [{"containerPort": 80}],
                                                      "readinessProbe": {"httpGet": {"port": 80}}}]))
    assert causes == []
    spec = obj["spec"]
    assert {k: spec[k] for k in ("restartPolicy", "dnsPolicy", "terminationGracePeriodSeconds", "schedulerName",
                                 "securityContext", "enableServiceLinks", "serviceAccountName", "serviceAccount",
                                 "priority", "preemptionPolicy")} == {
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30,
        "schedulerName": "default-scheduler", "securityContext": {}, "enableServiceLinks": True,
        "serviceAccountName": "default", "serviceAccount": "default", "priority": 0,
        "preemptionPolicy": "PreemptLowerPriority"}
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["resources"] == {}
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["readinessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                   "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert "generation" not in obj["metadata"]


@pytest.mark.parametrize("image,policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.27", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v1", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
])
def test_image_pull_policy_default(image: str, policy: str) -> None:
    obj, _ = create("pods", "", pod(containers=[{"name": "app", "image": image}]))
    assert obj["spec"]["containers"][0]["imagePullPolicy"] == policy


@pytest.mark.parametrize("resources,qos", [
    ({}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),  # requests default to the limits
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}, "Burstable"),
])
def test_qos_class(resources: JSON, qos: str) -> None:
    obj, causes = create("pods", "", pod(containers=[{"name": "app", "image": "nginx", "resources": resources}]))
    assert causes == []
    assert obj["status"]["qosClass"] == qos


SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
             "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")


@pytest.mark.parametrize("obj,expected", [
    (pod(name="Web"), [("metadata.name", f'Invalid value: "Web": {SUBDOMAIN}')]),
    (pod(containers=[]), [("spec.containers", "Required value")]),
    (pod(containers=[{"name": "app"}]), [("spec.containers[0].image", "Required value")]),
    (pod(containers=[{"name": "app", "image": "a"}, {"name": "app", "image": "b"}]),
     [("spec.containers[1].name", 'Duplicate value: "app"')]),
    (pod(restartPolicy="Sometimes"),
     [("spec.restartPolicy", 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')]),
    (pod(dnsPolicy="Cluster"),
     [("spec.dnsPolicy", 'Unsupported value: "Cluster": supported values: "ClusterFirst", '
                         '"ClusterFirstWithHostNet", "Default", "None"')]),
    (pod(containers=[{"name": "app", "image": "a", "ports": [{"containerPort": 70000, "protocol": "HTTP"}]}]),
     [("spec.containers[0].ports[0].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive"),
      ("spec.containers[0].ports[0].protocol",
       'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')]),
    (pod(containers=[{"name": "app", "image": "a", "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]),
     [("spec.containers[0].resources.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1')]),
    (pod(containers=[{"name": "app", "image": "a",
                      "resources": {"requests": {"memory": "1536Mi"}, "limits": {"memory": "1Gi"}}}]),
     [("spec.containers[0].resources.requests",
       'Invalid value: "1536Mi": must be less than or equal to memory limit of 1Gi')]),
    (pod(containers=[{"name": "app", "image": "a", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]),
     [("spec.containers[0].volumeMounts[0].name", 'Not found: "data"')]),
    (pod(containers=[{"name": "app", "image": "a", "livenessProbe": {"periodSeconds": 5}}]),
     [("spec.containers[0].livenessProbe", "Required value: must specify a handler type")]),
    (pod(tolerations=[{"key": "k", "operator": "Exists", "value": "v"}]),
     [("spec.tolerations[0].operator",
       'Invalid value: core.Toleration{Key:"k", Operator:"Exists", Value:"v", Effect:"", '
       "TolerationSeconds:(*int64)(nil)}: value must be empty when `operator` is 'Exists'")]),
    (pod(tolerations=[{"key": "k", "tolerationSeconds": 5}]),
     [("spec.tolerations[0].effect",
       "Invalid value: \"\": effect must be 'NoExecute' when `tolerationSeconds` is set")]),
    (pod(nodeSelector={"disk": "fast ssd"}),
     [("spec.nodeSelector", 'Invalid value: "fast ssd": a valid label must be an empty string or consist of '
       "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
       "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
       "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")]),
    (pod(activeDeadlineSeconds=0),
     [("spec.activeDeadlineSeconds", "Invalid value: 0: must be between 1 and 2147483647, inclusive")]),
])
def test_pod_validation(obj: JSON, expected: list[tuple[str, str]]) -> None:
    assert create("pods", "", obj)[1] == expected


def test_pod_malformed_quantity_is_a_bad_request() -> None:
    with pytest.raises(BadRequest) as e:
        create("pods", "", pod(containers=[{"name": "a", "image": "a", "resources": {"limits": {"cpu": "one"}}}]))
    assert str(e.value) == ('Pod in version "v1" cannot be handled as a Pod: quantities must match the regular '
                            "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def test_pod_update_allows_image_and_keeps_status() -> None:
    old, _ = create("pods", "", pod())
    old["status"] = {"phase": "Running", "qosClass": "BestEffort"}
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["status"] = {"phase": "Failed"}
    out, causes = update("pods", "", new, old)
    assert causes == []
    assert out["status"] == {"phase": "Running", "qosClass": "BestEffort"}
    assert out["spec"]["containers"][0]["image"] == "nginx:1.28"


def test_pod_update_forbids_other_spec_changes() -> None:
    old, _ = create("pods", "", pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    _, causes = update("pods", "", new, old)
    assert len(causes) == 1
    field, message = causes[0]
    assert field == "spec"
    assert message.startswith(
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to "
        "existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)\n")
    assert "Containers" in message


def test_pod_replace_without_defaults_is_not_a_change() -> None:
    """A manifest without the defaults (and without the default tolerations, which admission
    adds on update too) is no change; one without what only create-time admission sets
    (serviceAccountName, priority, the kube-api-access volume and its mount) is, as in Kubernetes."""
    old, _ = create("pods", "", pod())
    manifest = pod(serviceAccountName="default", priority=0, preemptionPolicy="PreemptLowerPriority",
                   volumes=old["spec"]["volumes"],
                   containers=[{"name": "app", "image": "nginx:1.27",
                                "volumeMounts": old["spec"]["containers"][0]["volumeMounts"]}])
    assert update("pods", "", manifest, old)[1] == []
    causes = update("pods", "", pod(), old)[1]
    assert [f for f, _ in causes] == ["spec"]
    assert '- \tServiceAccountName: "default",' in causes[0][1]


def test_pod_update_tolerations_only_additions() -> None:
    old, _ = create("pods", "", pod(tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]))
    new = copy.deepcopy(old)
    new["spec"]["tolerations"].append({"key": "ssd", "operator": "Exists", "effect": "NoSchedule"})
    assert update("pods", "", new, old)[1] == []
    changed = copy.deepcopy(old)
    changed["spec"]["tolerations"][0]["key"] = "tpu"
    assert update("pods", "", changed, old)[1] == [
        ("spec.tolerations", "Forbidden: existing toleration can not be modified except its tolerationSeconds")]


def test_pod_active_deadline_may_only_decrease() -> None:
    old, _ = create("pods", "", pod(activeDeadlineSeconds=60))
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 120
    assert update("pods", "", new, old)[1] == [
        ("spec.activeDeadlineSeconds", "Invalid value: 120: must be less than or equal to previous value")]


def test_pod_status_update_keeps_spec_and_qos() -> None:
    old, _ = create("pods", "", pod())
    new = copy.deepcopy(old)
    new["spec"]["nodeName"] = "sneaky"
    new["status"] = {"phase": "Running", "podIP": "10.0.0.5"}
    out, causes = status_update("pods", "", new, old)
    assert causes == []
    assert "nodeName" not in out["spec"]
    assert out["status"] == {"phase": "Running", "podIP": "10.0.0.5", "qosClass": "BestEffort"}


# ----------------------------------------------------------------- workloads

def test_deployment_defaults_status_generation() -> None:
    obj, causes = create("deployments", "apps", deployment())
    assert causes == []
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    tspec = spec["template"]["spec"]
    assert tspec["restartPolicy"] == "Always"
    assert tspec["containers"][0]["terminationMessagePolicy"] == "File"
    assert "enableServiceLinks" not in tspec  # a Pod default, not a template default
    assert spec["template"]["metadata"]["creationTimestamp"] is None
    assert obj["status"] == {}
    assert obj["metadata"]["generation"] == 1


@pytest.mark.parametrize("obj,expected", [
    (deployment(labels={"app": "web2"}),
     [("spec.template.metadata.labels",
       'Invalid value: map[string]string{"app":"web2"}: `selector` does not match template `labels`')]),
    (deployment(selector=None),
     [("spec.selector", "Required value"),
      ("spec.template.metadata.labels",
       'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`')]),
    (deployment(selector={}),
     [("spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
                        "deployment")]),
    (deployment(replicas=-1), [("spec.replicas", "Invalid value: -1: must be greater than or equal to 0")]),
    (deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
     [("spec.strategy.rollingUpdate.maxUnavailable", "Invalid value: 0: may not be 0 when `maxSurge` is 0")]),
    (deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "110%"}}),
     [("spec.strategy.rollingUpdate.maxUnavailable", "Invalid value: 110%: must not be greater than 100%")]),
    (deployment(strategy={"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}),
     [("spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'")]),
    (deployment(progressDeadlineSeconds=5, minReadySeconds=10),
     [("spec.progressDeadlineSeconds", "Invalid value: 5: must be greater than minReadySeconds")]),
])
def test_deployment_validation(obj: JSON, expected: list[tuple[str, str]]) -> None:
    assert create("deployments", "apps", obj)[1] == expected


def test_deployment_template_restart_policy_must_be_always() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert create("deployments", "apps", obj)[1] == [
        ("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"')]


def test_deployment_update_generation_and_immutable_selector() -> None:
    old, _ = create("deployments", "apps", deployment())
    old["status"] = {"observedGeneration": 1, "replicas": 1}
    # scale: spec change -> generation 2, status kept
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    new["status"] = {}
    new["metadata"]["generation"] = 99  # clients cannot set it
    out, causes = update("deployments", "apps", new, old)
    assert causes == []
    assert out["metadata"]["generation"] == 2
    assert out["status"] == {"observedGeneration": 1, "replicas": 1}
    # a label change alone does not bump it
    relabel = copy.deepcopy(old)
    relabel["metadata"]["labels"] = {"team": "a"}
    assert update("deployments", "apps", relabel, old)[0]["metadata"]["generation"] == 1
    # the manifest re-sent without defaults is not a spec change
    assert update("deployments", "apps", deployment(), old)[0]["metadata"]["generation"] == 1
    # the selector is immutable in apps/v1
    moved = deployment(selector={"matchLabels": {"app": "web2"}}, labels={"app": "web2"})
    assert update("deployments", "apps", moved, old)[1] == [
        ("spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, '
                          "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")]


def test_deployment_status_update_keeps_spec_and_labels() -> None:
    old, _ = create("deployments", "apps", deployment())
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    new["metadata"]["labels"] = {"x": "y"}
    new["status"] = {"replicas": 1, "observedGeneration": 1}
    out, causes = status_update("deployments", "apps", new, old)
    assert causes == []
    assert out["spec"]["replicas"] == 1
    assert "labels" not in out["metadata"]
    assert out["metadata"]["generation"] == 1
    bad = copy.deepcopy(old)
    bad["status"] = {"replicas": -1}
    assert status_update("deployments", "apps", bad, old)[1] == [
        ("status.replicas", "Invalid value: -1: must be greater than or equal to 0")]


def _with_kind(obj: JSON, kind: str, **spec: Any) -> JSON:
    obj = copy.deepcopy(obj)
    obj["kind"] = kind
    obj["spec"].update(spec)
    return obj


def test_replicaset_defaults_and_status() -> None:
    obj, causes = create("replicasets", "apps", _with_kind(deployment(), "ReplicaSet"))
    assert causes == []
    assert obj["spec"]["replicas"] == 1
    assert obj["status"] == {"replicas": 0}
    assert "strategy" not in obj["spec"]


def test_daemonset_defaults_and_template_generation() -> None:
    obj, causes = create("daemonsets", "apps", _with_kind(deployment(), "DaemonSet"))
    assert causes == []
    assert obj["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert obj["spec"]["revisionHistoryLimit"] == 10
    assert "replicas" not in obj["spec"]
    assert obj["status"] == {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0,
                             "numberReady": 0}
    assert obj["metadata"]["annotations"] == {"deprecated.daemonset.template.generation": "1"}
    new = copy.deepcopy(obj)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    out, causes = update("daemonsets", "apps", new, obj)
    assert causes == []
    assert out["metadata"]["generation"] == 2
    assert out["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "2"


def test_daemonset_rolling_update_rules() -> None:
    obj = _with_kind(deployment(), "DaemonSet",
                     updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}})
    assert create("daemonsets", "apps", obj)[1] == [
        ("spec.updateStrategy.rollingUpdate.maxUnavailable", "Required value: cannot be 0 when maxSurge is 0")]
    obj = _with_kind(deployment(), "DaemonSet",
                     updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}})
    assert create("daemonsets", "apps", obj)[1] == [
        ("spec.updateStrategy.rollingUpdate.maxSurge", "Invalid value: 1: may not be set when maxUnavailable is "
                                                       "non-zero")]


def test_statefulset_defaults_and_update_rule() -> None:
    obj, causes = create("statefulsets", "apps", _with_kind(deployment(), "StatefulSet", serviceName="web"))
    assert causes == []
    spec = obj["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["replicas"] == 1
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert obj["status"] == {"replicas": 0, "availableReplicas": 0}
    new = copy.deepcopy(obj)
    new["spec"]["serviceName"] = "other"
    assert update("statefulsets", "apps", new, obj)[1] == [
        ("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                 "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]
    scaled = copy.deepcopy(obj)
    scaled["spec"]["replicas"] = 3
    out, causes = update("statefulsets", "apps", scaled, obj)
    assert causes == [] and out["metadata"]["generation"] == 2


def test_statefulset_name_is_a_dns_label() -> None:
    obj = _with_kind(deployment(name="web.v1"), "StatefulSet")
    assert create("statefulsets", "apps", obj)[1] == [("metadata.name", 'Invalid value: "web.v1": must not contain dots')]


# ----------------------------------------------------------------- batch

def job(name: str = "pi", restart: str | None = "Never", **spec: Any) -> JSON:
    tspec: JSON = {"containers": [{"name": "pi", "image": "perl"}]}
    if restart:
        tspec["restartPolicy"] = restart
    s: JSON = {"template": {"spec": tspec}}
    s.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"}, "spec": s}


def test_job_defaults_and_generated_selector() -> None:
    obj, causes = create("jobs", "batch", job())
    assert causes == []
    uid = obj["metadata"]["uid"]
    spec = obj["spec"]
    assert {k: spec[k] for k in ("completions", "parallelism", "backoffLimit", "completionMode", "suspend",
                                 "podReplacementPolicy")} == {
        "completions": 1, "parallelism": 1, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed"}
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "pi",
        "controller-uid": uid, "job-name": "pi"}
    assert obj["metadata"]["generation"] == 1
    assert obj["status"] == {}


def test_job_parallelism_only() -> None:
    obj, _ = create("jobs", "batch", job(parallelism=3))
    assert obj["spec"]["parallelism"] == 3 and "completions" not in obj["spec"]


@pytest.mark.parametrize("obj,expected", [
    (job(restart=None), [("spec.template.spec.restartPolicy",
                          'Unsupported value: "Always": supported values: "OnFailure", "Never"')]),
    (job(backoffLimit=-1), [("spec.backoffLimit", "Invalid value: -1: must be greater than or equal to 0")]),
    (job(manualSelector=True), [("spec.selector", "Required value")]),
    (job(completionMode="Indexed", completions=None, parallelism=2),
     [("spec.completions", "Required value: when completion mode is Indexed")]),
])
def test_job_validation(obj: JSON, expected: list[tuple[str, str]]) -> None:
    if obj["spec"].get("completions", 0) is None:
        del obj["spec"]["completions"]
    assert create("jobs", "batch", obj)[1] == expected


def test_job_template_and_selector_immutable() -> None:
    old, _ = create("jobs", "batch", job())
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:5"
    causes = update("jobs", "batch", new, old)[1]
    assert [f for f, _ in causes] == ["spec.template"]
    assert causes[0][1].endswith(": field is immutable")
    new = copy.deepcopy(old)
    new["spec"]["completions"] = 5
    assert update("jobs", "batch", new, old)[1] == [("spec.completions", "Invalid value: 5: field is immutable")]
    suspended = copy.deepcopy(old)
    suspended["spec"]["suspend"] = True
    out, causes = update("jobs", "batch", suspended, old)
    assert causes == [] and out["metadata"]["generation"] == 2


def cronjob(schedule: str = "*/5 * * * *", name: str = "tick") -> JSON:
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}}


def test_cronjob_defaults() -> None:
    obj, causes = create("cronjobs", "batch", cronjob())
    assert causes == []
    spec = obj["spec"]
    assert {k: spec[k] for k in ("concurrencyPolicy", "suspend", "successfulJobsHistoryLimit",
                                 "failedJobsHistoryLimit")} == {
        "concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    jspec = spec["jobTemplate"]["spec"]
    assert "backoffLimit" not in jspec  # Job defaults apply to Jobs, not to the template
    assert jspec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


@pytest.mark.parametrize("schedule,message", [
    ("", "Required value"),
    ("* * *", 'Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]'),
    ("61 * * * *", 'Invalid value: "61 * * * *": end of range (61) above maximum (59): 61'),
    ("x * * * *", 'Invalid value: "x * * * *": failed to parse int from x: strconv.Atoi: parsing "x": invalid '
                  "syntax"),
    ("CRON_TZ=UTC 0 * * * *", 'Invalid value: "CRON_TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use '
                              "timeZone field instead"),
    ("@hourly", None),
    ("0 9 * jan-mar mon-fri", None),
])
def test_cronjob_schedule(schedule: str, message: str | None) -> None:
    causes = create("cronjobs", "batch", cronjob(schedule))[1]
    assert causes == ([] if message is None else [("spec.schedule", message)])


def test_cronjob_name_length() -> None:
    causes = create("cronjobs", "batch", cronjob(name="c" * 53))[1]
    assert causes == [("metadata.name", f'Invalid value: "{"c" * 53}": must be no more than 52 characters')]


# ----------------------------------------------------------------- services

def service(name: str = "web", **spec: Any) -> JSON:
    s: JSON = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    s.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": s}


def test_service_defaults() -> None:
    obj, causes = create("services", "", service())
    assert causes == []
    spec = obj["spec"]
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert {k: spec[k] for k in ("type", "sessionAffinity", "ipFamilyPolicy", "ipFamilies",
                                 "internalTrafficPolicy")} == {
        "type": "ClusterIP", "sessionAffinity": "None", "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"],
        "internalTrafficPolicy": "Cluster"}
    assert "externalTrafficPolicy" not in spec
    assert obj["status"] == {"loadBalancer": {}}
    assert "generation" not in obj["metadata"]
    np, _ = create("services", "", service(type="NodePort"))
    assert np["spec"]["externalTrafficPolicy"] == "Cluster"


DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
           "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


@pytest.mark.parametrize("obj,expected", [
    (service(name="1web"), [("metadata.name", f'Invalid value: "1web": {DNS1035}')]),
    (service(ports=[]), [("spec.ports", "Required value")]),
    (service(type="ExternalName", ports=[], externalName="db.example.com"), []),
    (service(clusterIP="None", ports=[]), []),
    (service(ports=[{"port": 80}, {"port": 443}]), [("spec.ports[0].name", "Required value"),
                                                    ("spec.ports[1].name", "Required value")]),
    (service(ports=[{"port": 0}]), [("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
                                    ("spec.ports[0].targetPort",
                                     "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    (service(type="Balanced"),
     [("spec.type", 'Unsupported value: "Balanced": supported values: "ClusterIP", "ExternalName", '
                    '"LoadBalancer", "NodePort"')]),
    (service(ports=[{"port": 80, "nodePort": 30080}]),
     [("spec.ports[0].nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'")]),
    (service(type="NodePort", ports=[{"port": 80, "nodePort": 80}]),
     [("spec.ports[0].nodePort", "Invalid value: 80: provided port is not in the valid range. The range of valid "
                                 "ports is 30000-32767")]),
])
def test_service_validation(obj: JSON, expected: list[tuple[str, str]]) -> None:
    assert create("services", "", obj)[1] == expected


def test_service_update_keeps_allocations_and_cluster_ip_is_immutable() -> None:
    old, _ = create("services", "", service(type="NodePort"))
    old["spec"]["clusterIP"] = "10.96.0.10"
    old["spec"]["clusterIPs"] = ["10.96.0.10"]
    old["spec"]["ports"][0]["nodePort"] = 30080
    out, causes = update("services", "", service(type="NodePort"), old)  # `kubectl replace` of the manifest
    assert causes == []
    assert out["spec"]["clusterIP"] == "10.96.0.10"
    assert out["spec"]["ports"][0]["nodePort"] == 30080
    headless = service(clusterIP="None")
    assert update("services", "", headless, old)[1] == [
        ("spec.clusterIPs[0]", 'Invalid value: []string{"None"}: may not change once set')]


# ----------------------------------------------------------------- config, namespaces, nodes

def test_namespace_create() -> None:
    obj, causes = create("namespaces", "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    assert causes == []
    assert obj["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert obj["spec"] == {"finalizers": ["kubernetes"]}
    assert obj["status"] == {"phase": "Active"}
    _, causes = create("namespaces", "", {"metadata": {"name": "team.a"}})
    assert causes == [("metadata.name", 'Invalid value: "team.a": must not contain dots')]
    _, causes = create("namespaces", "", {"metadata": {"name": "a", "namespace": "default"}})
    assert causes == [("metadata.namespace", "Forbidden: not allowed on this type")]


def test_namespace_label_cannot_be_removed() -> None:
    old, _ = create("namespaces", "", {"metadata": {"name": "team-a"}})
    out, causes = update("namespaces", "", {"metadata": {"name": "team-a", "labels": {"x": "y"}}}, old)
    assert causes == []
    assert out["metadata"]["labels"] == {"x": "y", "kubernetes.io/metadata.name": "team-a"}
    assert out["spec"] == {"finalizers": ["kubernetes"]}


def test_configmap_keys_and_immutability() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"},
          "data": {"a b": "1", "ok.key": "2"}}
    assert create("configmaps", "", cm)[1] == [
        ("data[a b]", "Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', "
                      "'_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                      "'[-._a-zA-Z0-9]+')")]
    old = {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"k": "v"}, "immutable": True}
    new = copy.deepcopy(old)
    new["data"]["k"] = "w"
    assert update("configmaps", "", new, old)[1] == [
        ("data", "Forbidden: field is immutable when `immutable` is set")]


def test_secret_defaults_and_checks() -> None:
    s = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
         "stringData": {"password": "hunter2"}}
    obj, causes = create("secrets", "", s)
    assert causes == []
    assert obj["type"] == "Opaque"
    assert obj["data"] == {"password": "aHVudGVyMg=="}
    assert "stringData" not in obj
    tls = {"metadata": {"name": "t", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {}}
    assert create("secrets", "", tls)[1] == [("data[tls.crt]", "Required value"), ("data[tls.key]", "Required value")]
    with pytest.raises(BadRequest, match=r'^Secret in version "v1" cannot be handled as a Secret: illegal base64 '
                                         r"data at input byte 4$"):
        create("secrets", "", {"metadata": {"name": "b", "namespace": "default"}, "data": {"k": "abcd!"}})
    old, _ = create("secrets", "", s)
    changed = copy.deepcopy(old)
    changed["type"] = "kubernetes.io/basic-auth"
    assert update("secrets", "", changed, old)[1] == [
        ("type", 'Invalid value: "kubernetes.io/basic-auth": field is immutable')]


def test_node_keeps_status_on_create_and_validates_taints() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
            "spec": {"taints": [{"key": "gpu", "effect": "Sometimes"}]},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}
    obj, causes = create("nodes", "", node)
    assert obj["status"]["capacity"] == {"cpu": "4", "memory": "8Gi", "pods": "110"}
    assert obj["status"]["allocatable"] == obj["status"]["capacity"]
    assert causes == [("spec.taints[0].effect", 'Unsupported value: "Sometimes": supported values: "NoSchedule", '
                                                '"PreferNoSchedule", "NoExecute"')]


# ----------------------------------------------------------------- small kinds

def test_lease_pdb_endpointslice_controllerrevision() -> None:
    lease = {"metadata": {"name": "node-1", "namespace": "kube-node-lease"},
             "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 0}}
    assert create("leases", "coordination.k8s.io", lease)[1] == [
        ("spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0")]
    assert strategy_for(res("leases", "coordination.k8s.io")).allow_create_on_update is True

    pdb = {"metadata": {"name": "p", "namespace": "default"},
           "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}}
    obj, causes = create("poddisruptionbudgets", "policy", pdb)
    assert causes == []
    assert obj["status"] == {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
    assert obj["metadata"]["generation"] == 1
    both = copy.deepcopy(pdb)
    both["spec"]["maxUnavailable"] = 1
    assert [f for f, _ in create("poddisruptionbudgets", "policy", both)[1]] == ["spec"]
    assert create("poddisruptionbudgets", "policy", both)[1][0][1].endswith(
        ": minAvailable and maxUnavailable cannot be both set")

    eps = {"metadata": {"name": "web-abc", "namespace": "default"}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}
    obj, causes = create("endpointslices", "discovery.k8s.io", eps)
    assert causes == []
    assert obj["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    assert obj["metadata"]["generation"] == 1
    bad = copy.deepcopy(eps)
    bad["endpoints"][0]["addresses"] = ["fd00::1"]
    assert create("endpointslices", "discovery.k8s.io", bad)[1] == [
        ("endpoints[0].addresses[0]", 'Invalid value: "fd00::1": must be a valid IPv4 address')]

    cr = {"metadata": {"name": "web-1", "namespace": "default"}, "revision": 1}
    assert create("controllerrevisions", "apps", cr)[1] == [("data", "Required value: data is mandatory")]


def test_core_event_namespace_must_match() -> None:
    ev = {"metadata": {"name": "web.1", "namespace": "default"},
          "involvedObject": {"kind": "Pod", "name": "web", "namespace": "other"}, "reason": "Started"}
    assert create("events", "", ev)[1] == [
        ("involvedObject.namespace", 'Invalid value: "other": does not match event.namespace')]


def test_generic_strategy_for_kinds_without_rules() -> None:
    role = {"metadata": {"name": "reader", "namespace": "default"}, "rules": []}
    obj, causes = create("roles", "rbac.authorization.k8s.io", role)
    assert causes == [] and "generation" not in obj["metadata"]
    _, causes = create("roles", "rbac.authorization.k8s.io", {"metadata": {"namespace": "default"}})
    assert causes == [("metadata.name", "Required value: name or generateName is required")]


def test_invalid_message_with_several_causes() -> None:
    _, causes = create("deployments", "apps", deployment(selector=None))
    s = strategy_for(res("deployments", "apps"))
    obj = deployment(selector=None)
    s.prepare_for_create(obj)
    err = Invalid("Deployment", "web", s.validate(obj), "apps")
    assert err.message == (
        'Deployment.apps "web" is invalid: [spec.selector: Required value, spec.template.metadata.labels: '
        'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`]')
    assert len(causes) == 2


# ----------------------------------------------------------------- custom resources

def test_custom_resource_generation_and_status() -> None:
    crd_res = ResourceInfo("example.com", "v1", "Widget", "widgets",
                           subresources=(res("deployments", "apps").subresource("status"),))
    s = strategy_for(crd_res)
    obj: JSON = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "d"},
                 "spec": {"size": 1}, "status": {"ready": True}}
    s.prepare_for_create(obj)
    assert obj["metadata"]["generation"] == 1 and "status" not in obj
    assert s.validate(obj) == []
    old = copy.deepcopy(obj)
    old["status"] = {"ready": False}
    new = copy.deepcopy(old)
    new["spec"]["size"] = 2
    new["status"] = {"ready": True}
    s.prepare_for_update(new, old)
    assert new["metadata"]["generation"] == 2 and new["status"] == {"ready": False}
    st = copy.deepcopy(old)
    st["spec"]["size"] = 9
    st["metadata"]["labels"] = {"x": "y"}
    st["status"] = {"ready": True}
    s.prepare_for_status_update(st, old)
    assert st["spec"] == {"size": 1} and "labels" not in st["metadata"] and st["status"] == {"ready": True}


def test_rbac_names_are_path_segments() -> None:
    role = {"metadata": {"name": "system:aggregate-to-admin"}, "rules": []}
    assert create("clusterroles", "rbac.authorization.k8s.io", role)[1] == []
    bad = {"metadata": {"name": "a/b"}, "rules": []}
    assert create("clusterroles", "rbac.authorization.k8s.io", bad)[1] == [
        ("metadata.name", "Invalid value: \"a/b\": may not contain '/'")]


def test_crd_name_and_versions() -> None:
    crd = {"metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True}]}}
    obj, causes = create("customresourcedefinitions", "apiextensions.k8s.io", crd)
    assert causes == []
    assert obj["status"] == {"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": ["v1"]}
    assert obj["metadata"]["generation"] == 1
    wrong = copy.deepcopy(crd)
    wrong["metadata"]["name"] = "widget.example.com"
    wrong["spec"]["versions"][0]["storage"] = False
    assert create("customresourcedefinitions", "apiextensions.k8s.io", wrong)[1] == [
        ("metadata.name", 'Invalid value: "widget.example.com": must be spec.names.plural+"."+spec.group'),
        ("spec.versions", "Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}: must have exactly "
                          "one version marked as storage version")]


def test_pod_scheduling_gates_only_removed() -> None:
    old, _ = create("pods", "", pod(schedulingGates=[{"name": "g1"}]))
    added = copy.deepcopy(old)
    added["spec"]["schedulingGates"].append({"name": "g2"})
    assert update("pods", "", added, old)[1] == [
        ("spec.schedulingGates[1].name", "Forbidden: only deletion is allowed, but found new scheduling gate 'g2'")]
    released = copy.deepcopy(old)
    del released["spec"]["schedulingGates"]
    released["spec"]["nodeSelector"] = {"zone": "a"}
    assert update("pods", "", released, old)[1] == []


def test_lifecycle_hook_needs_a_handler() -> None:
    obj = pod(containers=[{"name": "a", "image": "a", "lifecycle": {"preStop": {}}}])
    assert create("pods", "", obj)[1] == [
        ("spec.containers[0].lifecycle.preStop", "Required value: must specify a handler type")]


def test_events_v1_requires_the_new_fields() -> None:
    ev = {"metadata": {"name": "web.1", "namespace": "default"}, "eventTime": "2024-01-01T00:00:00.000000Z",
          "regarding": {"kind": "Pod", "name": "web", "namespace": "default"}, "reportingController": "mizzen/sched",
          "reportingInstance": "sched-1", "action": "Binding", "reason": "Scheduled", "type": "Normal"}
    assert create("events", "events.k8s.io", ev)[1] == []
    bare = {"metadata": {"name": "web.2", "namespace": "default"}, "type": "Info"}
    assert create("events", "events.k8s.io", bare)[1] == [
        ("eventTime", "Required value"), ("reportingController", "Required value"),
        ("reportingInstance", "Required value"), ("action", "Required value"), ("reason", "Required value"),
        ("type", 'Invalid value: "": has invalid value: Info')]


def test_binding_and_reviews_need_no_name() -> None:
    binding = strategy_for(res("bindings"))
    assert [(c.field, c.message) for c in binding.validate({"target": {"kind": "Pod"}})] == [
        ("target.kind", 'Unsupported value: "Pod": supported values: "Node", "<empty>"'),
        ("target.name", "Required value")]
    review = strategy_for(res("subjectaccessreviews", "authorization.k8s.io"))
    assert review.validate({"spec": {"user": "a"}}) == []


def test_node_taints_unique_by_key_and_effect() -> None:
    node = {"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "a", "effect": "NoSchedule"},
                                                            {"key": "a", "value": "b", "effect": "NoSchedule"}]}}
    assert create("nodes", "", node)[1] == [
        ("spec.taints[1]", 'Duplicate value: core.Taint{Key:"a", Value:"b", Effect:"NoSchedule", '
                           "TimeAdded:(*v1.Time)(nil)}: taints must be unique by key and effect pair")]
