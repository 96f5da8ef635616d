"""Strategies of the workload kinds: apps/v1 Deployment, ReplicaSet, DaemonSet, StatefulSet,
ControllerRevision, and batch/v1 Job and CronJob.

They share one shape: a selector that must select the pod template's labels (and is
immutable in apps/v1), a pod template validated like a pod, `status` kept apart, and
`metadata.generation` bumped when the spec changes (what `observedGeneration` and
`kubectl rollout status` are built on). Jobs also get Kubernetes' generated selector on
`batch.kubernetes.io/controller-uid` unless `manualSelector` is set.

What this module must never do: act as a controller (no replicas counted, no pods made), or
do I/O.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from apimachinery.errors import Cause
from apiserver.registry import pods
from apiserver.registry.core import _TemplateQuantities
from apiserver.registry.strategy import Strategy, meta_of
from apiserver.registry.validation import (
    FIELD_IMMUTABLE,
    Raw,
    forbidden,
    immutable,
    int_or_string,
    invalid,
    is_int,
    is_not_more_than_100_percent,
    label_selector_go,
    max_len_error,
    name_is_dns_label,
    nonnegative,
    not_supported,
    percent_or_int_value,
    required,
    selector_is_empty,
    selector_matches,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_positive_int_or_percent,
)

JSON = dict[str, Any]
SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def _dict(v: Any) -> JSON:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _template_labels(template: Any) -> JSON:
    return _dict(_dict(_dict(template).get("metadata")).get("labels"))


def validate_template_for_selector(spec: JSON, path: str, kind_name: str,
                                   allowed_restart: tuple[str, ...] = ("Always",)) -> list[Cause]:
    """ValidatePodTemplateSpecForReplicaSet and friends: the selector selects the template's
    labels (a missing selector selects nothing), the template is a valid pod template, its
    restartPolicy is Always and it has no activeDeadlineSeconds."""
    template = spec.get("template")
    if not isinstance(template, dict):
        return [required(path)]
    causes: list[Cause] = []
    selector = spec.get("selector")
    labels = _template_labels(template)
    if selector is None or (not selector_is_empty(selector) and not selector_matches(selector, labels)):
        causes.append(invalid(path + ".metadata.labels", labels, SELECTOR_MISMATCH))
    causes += pods.validate_pod_template(template, path)
    tspec = _dict(template.get("spec"))
    rp = tspec.get("restartPolicy") or ""
    if rp not in allowed_restart:
        causes.append(not_supported(path + ".spec.restartPolicy", rp, allowed_restart))
    if tspec.get("activeDeadlineSeconds") is not None:
        causes.append(forbidden(path + ".spec.activeDeadlineSeconds",
                                f"activeDeadlineSeconds in {kind_name} is not Supported"))
    return causes


def validate_selector(spec: JSON, kind_word: str) -> list[Cause]:
    selector = spec.get("selector")
    if selector is None:
        return [required("spec.selector")]
    causes = validate_label_selector(selector, "spec.selector")
    if selector_is_empty(selector):
        causes.append(invalid("spec.selector", label_selector_go(selector), f"empty selector is invalid for {kind_word}"))
    return causes


def selector_immutable(new: JSON, old: JSON) -> list[Cause]:
    ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
    if _norm_selector(ns.get("selector")) != _norm_selector(os_.get("selector")):
        return [invalid("spec.selector", label_selector_go(ns.get("selector")), FIELD_IMMUTABLE)]
    return []


def _norm_selector(s: Any) -> Any:
    s = _dict(s)
    return {"matchLabels": s.get("matchLabels") or {}, "matchExpressions": s.get("matchExpressions") or []}


class WorkloadStrategy(_TemplateQuantities, Strategy):
    has_generation = True
    status_keeps_labels = True


# ----------------------------------------------------------------- Deployment

class DeploymentStrategy(WorkloadStrategy):
    def generation_changed(self, new: JSON, old: JSON) -> bool:
        # Kubernetes also bumps on annotation changes (the legacy rollback annotation).
        return (new.get("spec") != old.get("spec")
                or (new.get("metadata") or {}).get("annotations") != (old.get("metadata") or {}).get("annotations"))

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes = nonnegative(spec.get("replicas"), "spec.replicas")
        causes += validate_selector(spec, "deployment")
        causes += validate_template_for_selector(spec, "spec.template", "ReplicaSet")
        causes += validate_deployment_strategy(_dict(spec.get("strategy")), "spec.strategy")
        causes += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        causes += nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
        pds = spec.get("progressDeadlineSeconds")
        if is_int(pds):
            causes += nonnegative(pds, "spec.progressDeadlineSeconds")
            if pds <= (spec.get("minReadySeconds") or 0):
                causes.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        return self.validate_spec(new) + selector_immutable(new, old)

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        return validate_replica_status(_dict(new.get("status")), ("replicas", "updatedReplicas", "readyReplicas",
                                                                  "availableReplicas", "unavailableReplicas"))


def validate_replica_status(status: JSON, fields: tuple[str, ...]) -> list[Cause]:
    causes: list[Cause] = []
    for f in fields:
        causes += nonnegative(status.get(f), f"status.{f}")
    causes += nonnegative(status.get("observedGeneration"), "status.observedGeneration")
    return causes


def validate_deployment_strategy(strategy: JSON, path: str) -> list[Cause]:
    stype = strategy.get("type") or ""
    causes: list[Cause] = []
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            causes.append(forbidden(path + ".rollingUpdate", "may not be specified when strategy `type` is "
                                    "'Recreate'"))
    elif stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if not isinstance(ru, dict):
            causes.append(required(path + ".rollingUpdate", "this should be defaulted and never be nil"))
        else:
            p = path + ".rollingUpdate"
            mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
            causes += validate_positive_int_or_percent(mu, p + ".maxUnavailable")
            causes += validate_positive_int_or_percent(ms, p + ".maxSurge")
            if percent_or_int_value(mu) == 0 and percent_or_int_value(ms) == 0:
                causes.append(invalid(p + ".maxUnavailable", int_or_string(mu), "may not be 0 when `maxSurge` is 0"))
            causes += is_not_more_than_100_percent(mu, p + ".maxUnavailable")
    else:
        ru = strategy.get("rollingUpdate")
        ru_s = "(*apps.RollingUpdateDeployment)(nil)" if ru is None else "&apps.RollingUpdateDeployment{...}"
        causes.append(not_supported(path, Raw(f'apps.DeploymentStrategy{{Type:"{stype}", RollingUpdate:{ru_s}}}'),
                                    ["Recreate", "RollingUpdate"]))
    return causes


# ----------------------------------------------------------------- ReplicaSet

class ReplicaSetStrategy(WorkloadStrategy):
    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes = nonnegative(spec.get("replicas"), "spec.replicas")
        causes += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        causes += validate_selector(spec, "deployment")
        causes += validate_template_for_selector(spec, "spec.template", "ReplicaSet")
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        return self.validate_spec(new) + selector_immutable(new, old)

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        return validate_replica_status(_dict(new.get("status")), ("replicas", "fullyLabeledReplicas",
                                                                  "readyReplicas", "availableReplicas"))

    def initial_status(self, obj: JSON) -> JSON:
        return {"replicas": 0}


# ----------------------------------------------------------------- DaemonSet

TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"


class DaemonSetStrategy(WorkloadStrategy):
    def initial_status(self, obj: JSON) -> JSON:
        return {"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0,
                "numberReady": 0}

    def prepare_for_create(self, obj: JSON) -> None:
        super().prepare_for_create(obj)
        ann = meta_of(obj).setdefault("annotations", {})
        if isinstance(ann, dict):
            ann[TEMPLATE_GENERATION_ANNOTATION] = "1"

    def prepare_for_update(self, new: JSON, old: JSON) -> None:
        super().prepare_for_update(new, old)
        old_ann = _dict(_dict(old.get("metadata")).get("annotations"))
        tgen = old_ann.get(TEMPLATE_GENERATION_ANNOTATION)
        if tgen is not None:
            nm = meta_of(new)
            ann = nm.get("annotations")
            if not isinstance(ann, dict):
                ann = {}
                nm["annotations"] = ann
            if _dict(new.get("spec")).get("template") != _dict(old.get("spec")).get("template"):
                try:
                    ann[TEMPLATE_GENERATION_ANNOTATION] = str(int(tgen) + 1)
                except ValueError:
                    ann[TEMPLATE_GENERATION_ANNOTATION] = tgen
            else:
                ann[TEMPLATE_GENERATION_ANNOTATION] = tgen

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        selector = spec.get("selector")
        # No "Required" here: a missing selector selects nothing, so the template mismatches.
        causes = validate_label_selector(selector, "spec.selector")
        if selector is not None and selector_is_empty(selector):
            causes.append(invalid("spec.selector", label_selector_go(selector), "empty selector is invalid for "
                                  "daemonset"))
        causes += validate_template_for_selector(spec, "spec.template", "DaemonSet")
        causes += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        causes += nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
        strategy = _dict(spec.get("updateStrategy"))
        stype = strategy.get("type") or ""
        p = "spec.updateStrategy"
        if stype == "RollingUpdate":
            ru = strategy.get("rollingUpdate")
            if not isinstance(ru, dict):
                causes.append(required(p + ".rollingUpdate"))
            else:
                rp = p + ".rollingUpdate"
                mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
                causes += validate_positive_int_or_percent(mu, rp + ".maxUnavailable")
                causes += is_not_more_than_100_percent(mu, rp + ".maxUnavailable")
                causes += validate_positive_int_or_percent(ms, rp + ".maxSurge")
                causes += is_not_more_than_100_percent(ms, rp + ".maxSurge")
                mu_v, ms_v = percent_or_int_value(mu) or 0, percent_or_int_value(ms) or 0
                if mu_v != 0 and ms_v != 0:
                    causes.append(invalid(rp + ".maxSurge", int_or_string(ms),
                                          "may not be set when maxUnavailable is non-zero"))
                elif mu_v == 0 and ms_v == 0:
                    causes.append(required(rp + ".maxUnavailable", "cannot be 0 when maxSurge is 0"))
        elif stype != "OnDelete":
            ru = strategy.get("rollingUpdate")
            ru_s = "(*apps.RollingUpdateDaemonSet)(nil)" if ru is None else "&apps.RollingUpdateDaemonSet{...}"
            causes.append(not_supported(p, Raw(f'apps.DaemonSetUpdateStrategy{{Type:"{stype}", RollingUpdate:{ru_s}}}'),
                                        ["RollingUpdate", "OnDelete"]))
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        return self.validate_spec(new) + selector_immutable(new, old)

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        return validate_replica_status(_dict(new.get("status")), (
            "currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
            "updatedNumberScheduled", "numberAvailable", "numberUnavailable"))


# ----------------------------------------------------------------- StatefulSet

STATEFULSET_UPDATABLE = ("'replicas', 'ordinals', 'template', 'updateStrategy', "
                         "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds'")


class StatefulSetStrategy(WorkloadStrategy):
    """StatefulSet names are DNS-1123 labels (they prefix pod hostnames); its pod template
    is checked for labels, annotations, restartPolicy and activeDeadlineSeconds only, as
    Kubernetes does (the pod spec is validated when the pods are created)."""

    name_fn = staticmethod(name_is_dns_label)  # type: ignore[assignment]

    def initial_status(self, obj: JSON) -> JSON:
        return {"replicas": 0, "availableReplicas": 0}

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes: list[Cause] = []
        pmp = spec.get("podManagementPolicy") or ""
        if not pmp:
            causes.append(required("spec.podManagementPolicy"))
        elif pmp not in ("OrderedReady", "Parallel"):
            causes.append(invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
        strategy = _dict(spec.get("updateStrategy"))
        stype = strategy.get("type") or ""
        if not stype:
            causes.append(required("spec.updateStrategy"))
        elif stype == "OnDelete":
            if strategy.get("rollingUpdate") is not None:
                causes.append(invalid("spec.updateStrategy.rollingUpdate",
                                      Raw("&apps.RollingUpdateStatefulSetStrategy{...}"),
                                      "only allowed for updateStrategy 'RollingUpdate'"))
        elif stype == "RollingUpdate":
            ru = strategy.get("rollingUpdate")
            if isinstance(ru, dict):
                p = "spec.updateStrategy.rollingUpdate"
                causes += nonnegative(ru.get("partition"), p + ".partition")
                mu = ru.get("maxUnavailable")
                if mu is not None:
                    causes += validate_positive_int_or_percent(mu, p + ".maxUnavailable")
                    if percent_or_int_value(mu) == 0:
                        causes.append(invalid(p + ".maxUnavailable", int_or_string(mu), "cannot be 0"))
                    causes += is_not_more_than_100_percent(mu, p + ".maxUnavailable")
        else:
            causes.append(invalid("spec.updateStrategy", Raw(f'apps.StatefulSetUpdateStrategy{{Type:"{stype}"}}'),
                                  "must be 'RollingUpdate' or 'OnDelete'"))
        policy = spec.get("persistentVolumeClaimRetentionPolicy")
        if isinstance(policy, dict):
            for f in ("whenDeleted", "whenScaled"):
                v = policy.get(f) or ""
                if v not in ("Retain", "Delete"):
                    causes.append(not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{f}", v,
                                                ["Retain", "Delete"]))
        causes += nonnegative(spec.get("replicas"), "spec.replicas")
        causes += nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds")
        ordinals = _dict(spec.get("ordinals"))
        causes += nonnegative(ordinals.get("start"), "spec.ordinals.start")
        selector = spec.get("selector")
        if selector is None:
            causes.append(required("spec.selector"))
        else:
            causes += validate_label_selector(selector, "spec.selector")
            if selector_is_empty(selector):
                causes.append(invalid("spec.selector", label_selector_go(selector),
                                      "empty selector is invalid for statefulset"))
        template = spec.get("template")
        if not isinstance(template, dict):
            causes.append(required("spec.template"))
            template = {}
        labels = _template_labels(template)
        if selector is None or (not selector_is_empty(selector) and not selector_matches(selector, labels)):
            causes.append(invalid("spec.template.metadata.labels", labels, SELECTOR_MISMATCH))
        tmeta = _dict(template.get("metadata"))
        causes += validate_labels(tmeta.get("labels"), "spec.template.labels")
        causes += validate_annotations(tmeta.get("annotations"), "spec.template.annotations")
        tspec = _dict(template.get("spec"))
        rp = tspec.get("restartPolicy") or ""
        if rp != "Always":
            causes.append(not_supported("spec.template.spec.restartPolicy", rp, ["Always"]))
        if tspec.get("activeDeadlineSeconds") is not None:
            causes.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in StatefulSet is not Supported"))
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_spec(new)
        ns, os_ = dict(_dict(new.get("spec"))), dict(_dict(old.get("spec")))
        for f in ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                  "minReadySeconds"):
            ns.pop(f, None)
            os_.pop(f, None)
        if ns != os_:
            causes.append(forbidden("spec", "updates to statefulset spec for fields other than "
                                    f"{STATEFULSET_UPDATABLE} are forbidden"))
        return causes

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        return validate_replica_status(_dict(new.get("status")), (
            "replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"))


# ----------------------------------------------------------------- ControllerRevision

class ControllerRevisionStrategy(Strategy):
    spec_fields = ()

    def validate_spec(self, obj: JSON) -> list[Cause]:
        causes: list[Cause] = []
        if obj.get("data") is None:
            causes.append(required("data", "data is mandatory"))
        causes += nonnegative(obj.get("revision"), "revision")
        return causes

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_spec(new)
        if new.get("data") != old.get("data"):
            causes.append(invalid("data", Raw(_compact(new.get("data"))), FIELD_IMMUTABLE))
        return causes


def _compact(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------- Job

CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"
LEGACY_CONTROLLER_UID = "controller-uid"
LEGACY_JOB_NAME = "job-name"


def generate_job_selector(job: JSON) -> None:
    """Without manualSelector, Kubernetes labels the template with the job's uid and name
    and selects on the uid."""
    meta = meta_of(job)
    uid = meta.get("uid")
    if not uid:
        uid = str(uuid.uuid4())
        meta["uid"] = uid
    name = meta.get("name") or ""
    spec = job.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    template = spec.setdefault("template", {})
    if not isinstance(template, dict):
        return
    tmeta = template.setdefault("metadata", {})
    if not isinstance(tmeta, dict):
        return
    labels = tmeta.get("labels")
    if not isinstance(labels, dict):
        labels = {}
        tmeta["labels"] = labels
    labels.setdefault(CONTROLLER_UID, uid)
    labels.setdefault(JOB_NAME, name)
    labels.setdefault(LEGACY_CONTROLLER_UID, uid)
    labels.setdefault(LEGACY_JOB_NAME, name)
    if spec.get("selector") is None:
        spec["selector"] = {"matchLabels": {CONTROLLER_UID: uid}}


def validate_job_spec(spec: JSON, path: str, require_selector: bool) -> list[Cause]:
    causes: list[Cause] = []
    for f in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished", "backoffLimitPerIndex",
              "maxFailedIndexes"):
        causes += nonnegative(spec.get(f), f"{path}.{f}")
    ads = spec.get("activeDeadlineSeconds")
    if is_int(ads) and ads <= 0:
        causes.append(invalid(f"{path}.activeDeadlineSeconds", ads, "must be greater than or equal to 1"))
    mode = spec.get("completionMode")
    if mode is not None and mode not in ("NonIndexed", "Indexed"):
        causes.append(not_supported(f"{path}.completionMode", mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed":
        if spec.get("completions") is None:
            causes.append(required(f"{path}.completions", "when completion mode is Indexed"))
    prp = spec.get("podReplacementPolicy")
    if prp is not None and prp not in ("TerminatingOrFailed", "Failed"):
        causes.append(not_supported(f"{path}.podReplacementPolicy", prp, ["Failed", "TerminatingOrFailed"]))
    selector = spec.get("selector")
    if selector is None:
        if require_selector:
            causes.append(required(f"{path}.selector"))
    else:
        causes += validate_label_selector(selector, f"{path}.selector")
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(required(f"{path}.template"))
        return causes
    labels = _template_labels(template)
    if selector is not None and not selector_matches(selector, labels) and not selector_is_empty(selector):
        causes.append(invalid(f"{path}.template.metadata.labels", labels, SELECTOR_MISMATCH))
    causes += pods.validate_pod_template(template, f"{path}.template")
    rp = _dict(template.get("spec")).get("restartPolicy") or ""
    if rp not in ("OnFailure", "Never"):
        causes.append(not_supported(f"{path}.template.spec.restartPolicy", rp, ["OnFailure", "Never"]))
    return causes


class JobStrategy(_TemplateQuantities, Strategy):
    has_generation = True

    def prepare_for_create(self, obj: JSON) -> None:
        super().prepare_for_create(obj)
        if _dict(obj.get("spec")).get("manualSelector") is not True:
            generate_job_selector(obj)

    def validate_spec(self, obj: JSON) -> list[Cause]:
        return validate_job_spec(_dict(obj.get("spec")), "spec", require_selector=True)

    def validate_spec_update(self, new: JSON, old: JSON) -> list[Cause]:
        causes = self.validate_spec(new)
        ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
        causes += selector_immutable(new, old)
        if ns.get("completionMode") == "Indexed" and ns.get("completions") == ns.get("parallelism"):
            pass  # elastic indexed jobs may scale completions together with parallelism
        else:
            causes += immutable("spec.completions", ns.get("completions"), os_.get("completions"))
        causes += immutable("spec.completionMode", ns.get("completionMode"), os_.get("completionMode"))
        if ns.get("podFailurePolicy") != os_.get("podFailurePolicy"):
            causes.append(invalid("spec.podFailurePolicy", Raw(_compact(ns.get("podFailurePolicy"))), FIELD_IMMUTABLE))
        nt, ot = _dict(ns.get("template")), _dict(os_.get("template"))
        if nt != ot and not self._mutable_scheduling(new, old):
            causes.append(invalid("spec.template", Raw("core.PodTemplateSpec" + _compact(nt)), FIELD_IMMUTABLE))
        return causes

    @staticmethod
    def _mutable_scheduling(new: JSON, old: JSON) -> bool:
        """A suspended job that never started may change its template's scheduling
        directives (node affinity, node selector, tolerations, labels, annotations, gates)."""
        ns, os_ = _dict(new.get("spec")), _dict(old.get("spec"))
        if not (ns.get("suspend") and os_.get("suspend")):
            return False
        if _dict(old.get("status")).get("startTime"):
            return False
        nt, ot = json.loads(_compact(ns.get("template"))), json.loads(_compact(os_.get("template")))
        for t in (nt, ot):
            if not isinstance(t, dict):
                continue
            m = t.get("metadata") or {}
            m.pop("labels", None)
            m.pop("annotations", None)
            s = t.get("spec") or {}
            for f in ("nodeSelector", "tolerations", "affinity", "schedulingGates"):
                s.pop(f, None)
        return nt == ot

    def validate_status(self, new: JSON, old: JSON) -> list[Cause]:
        status = _dict(new.get("status"))
        causes: list[Cause] = []
        for f in ("active", "succeeded", "failed", "ready", "terminating"):
            causes += nonnegative(status.get(f), f"status.{f}")
        return causes


# ----------------------------------------------------------------- CronJob

CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (  # name, min, max, names
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("dom", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}),
    ("dow", 0, 6, {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
)
CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def cron_error(schedule: str) -> str | None:
    """robfig/cron's ParseStandard error for a schedule, or None when it parses."""
    spec = schedule.strip()
    if not spec:
        return "empty spec string"
    if spec.startswith("TZ=") or spec.startswith("CRON_TZ="):
        spec = spec.split(None, 1)[1] if " " in spec else ""
    if spec.startswith("@"):
        if spec in CRON_DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            return None if re.fullmatch(r"@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", spec) else (
                f"failed to parse duration {spec}")
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for value, (_, lo, hi, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in value.split(","):
            err = _cron_range(part, lo, hi, names)
            if err:
                return err
    return None


def _cron_int(s: str, names: dict[str, int]) -> tuple[int | None, str | None]:
    if s.lower() in names:
        return names[s.lower()], None
    if not re.fullmatch(r"\d+", s):
        return None, f'failed to parse int from {s}: strconv.Atoi: parsing "{s}": invalid syntax'
    return int(s), None


def _cron_range(expr: str, lo: int, hi: int, names: dict[str, int]) -> str | None:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = lo, hi
    else:
        start_v, err = _cron_int(low_and_high[0], names)
        if err:
            return err
        assert start_v is not None
        start = end = start_v
        if len(low_and_high) == 2:
            end_v, err = _cron_int(low_and_high[1], names)
            if err:
                return err
            assert end_v is not None
            end = end_v
        elif len(low_and_high) > 2:
            return f"too many hyphens: {expr}"
    if len(range_and_step) == 2:
        step_v, err = _cron_int(range_and_step[1], {})
        if err:
            return err
        if single and low_and_high[0] not in ("*", "?"):
            end = hi
        if step_v == 0:
            return f"step of range should be a positive number: {expr}"
    elif len(range_and_step) > 2:
        return f"too many slashes: {expr}"
    if start < lo:
        return f"beginning of range ({start}) below minimum ({lo}): {expr}"
    if end > hi:
        return f"end of range ({end}) above maximum ({hi}): {expr}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
    return None


class CronJobStrategy(_TemplateQuantities, Strategy):
    has_generation = True
    template_path = ("spec", "jobTemplate", "spec", "template", "spec")

    def validate(self, obj: JSON) -> list[Cause]:
        causes = super().validate(obj)
        name = (obj.get("metadata") or {}).get("name") or ""
        if len(name) > 52:
            causes.append(invalid("metadata.name", name, max_len_error(52)))
        return causes

    def validate_spec(self, obj: JSON) -> list[Cause]:
        spec = _dict(obj.get("spec"))
        causes: list[Cause] = []
        schedule = spec.get("schedule") or ""
        if not schedule:
            causes.append(required("spec.schedule"))
        else:
            err = cron_error(schedule)
            if err:
                causes.append(invalid("spec.schedule", schedule, err))
            elif "TZ" in schedule:
                causes.append(invalid("spec.schedule", schedule, "cannot use TZ or CRON_TZ in schedule, use "
                                      "timeZone field instead"))
        tz = spec.get("timeZone")
        if tz is not None and not _valid_time_zone(tz):
            causes.append(invalid("spec.timeZone", tz, "unknown time zone " + str(tz)))
        cp = spec.get("concurrencyPolicy") or ""
        if not cp:
            causes.append(required("spec.concurrencyPolicy"))
        elif cp not in ("Allow", "Forbid", "Replace"):
            causes.append(not_supported("spec.concurrencyPolicy", cp, ["Allow", "Forbid", "Replace"]))
        for f in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            causes += nonnegative(spec.get(f), f"spec.{f}")
        jt = spec.get("jobTemplate")
        if not isinstance(jt, dict):
            causes.append(required("spec.jobTemplate"))
        else:
            jmeta = _dict(jt.get("metadata"))
            causes += validate_labels(jmeta.get("labels"), "spec.jobTemplate.metadata.labels")
            causes += validate_annotations(jmeta.get("annotations"), "spec.jobTemplate.metadata.annotations")
            jspec = _dict(jt.get("spec"))
            causes += validate_job_spec(jspec, "spec.jobTemplate.spec", require_selector=False)
            if jspec.get("manualSelector") is True:
                causes.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ["nil", "false"]))
        return causes


def _valid_time_zone(tz: Any) -> bool:
    if not isinstance(tz, str) or not tz or tz.lower() == "local":
        return False
    import zoneinfo
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
