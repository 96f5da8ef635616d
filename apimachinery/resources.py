"""The table of built-in resources: which kinds exist, where they live in the URL space and
how discovery describes them.

One table serves the API server (routing, discovery, OpenAPI) and the clients (URL building),
so that the two can never disagree about a plural, a scope or a short name. The entries follow
Kubernetes v1.32 exactly (`kubectl api-resources` against Kubernetes prints the same)."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True, slots=True)
class Subresource:
    name: str
    kind: str  # response kind
    group: str = ""  # response kind's group ("" = same as parent's)
    version: str = ""
    verbs: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceInfo:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    # False for kinds that are only POSTed and answered (reviews): nothing is stored.
    stored: bool = True
    singular: str = field(default="")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def subresource(self, name: str) -> Subresource | None:
        for s in self.subresources:
            if s.name == name:
                return s
        return None

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path: `/apis/apps/v1/namespaces/ns/deployments/web/scale`."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


STATUS = lambda kind: Subresource("status", kind)  # noqa: E731
SCALE = Subresource("scale", "Scale", "autoscaling", "v1")

_R = ResourceInfo
BUILTIN: tuple[ResourceInfo, ...] = (
    # core/v1
    _R("", "v1", "Binding", "bindings", verbs=CREATE_ONLY, stored=False),
    _R("", "v1", "ComponentStatus", "componentstatuses", namespaced=False, short_names=("cs",),
       verbs=("get", "list"), stored=False),
    _R("", "v1", "ConfigMap", "configmaps", short_names=("cm",)),
    _R("", "v1", "Endpoints", "endpoints", short_names=("ep",), singular="endpoints"),
    _R("", "v1", "Event", "events", short_names=("ev",)),
    _R("", "v1", "LimitRange", "limitranges", short_names=("limits",)),
    _R("", "v1", "Namespace", "namespaces", namespaced=False, short_names=("ns",),
       verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
       subresources=(Subresource("finalize", "Namespace", verbs=("update",)), STATUS("Namespace"))),
    _R("", "v1", "Node", "nodes", namespaced=False, short_names=("no",),
       subresources=(Subresource("proxy", "NodeProxyOptions", verbs=("create", "delete", "get", "patch", "update")),
                     STATUS("Node"))),
    _R("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short_names=("pvc",),
       subresources=(STATUS("PersistentVolumeClaim"),)),
    _R("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short_names=("pv",),
       subresources=(STATUS("PersistentVolume"),)),
    _R("", "v1", "Pod", "pods", short_names=("po",), categories=("all",),
       subresources=(
           Subresource("attach", "PodAttachOptions", verbs=("create", "get")),
           Subresource("binding", "Binding", verbs=("create",)),
           Subresource("ephemeralcontainers", "Pod"),
           Subresource("eviction", "Eviction", "policy", "v1", verbs=("create",)),
           Subresource("exec", "PodExecOptions", verbs=("create", "get")),
           Subresource("log", "Pod", verbs=("get",)),
           Subresource("portforward", "PodPortForwardOptions", verbs=("create", "get")),
           Subresource("proxy", "PodProxyOptions", verbs=("create", "delete", "get", "patch", "update")),
           Subresource("resize", "Pod"),
           STATUS("Pod"),
       )),
    _R("", "v1", "PodTemplate", "podtemplates"),
    _R("", "v1", "ReplicationController", "replicationcontrollers", short_names=("rc",), categories=("all",),
       subresources=(SCALE, STATUS("ReplicationController"))),
    _R("", "v1", "ResourceQuota", "resourcequotas", short_names=("quota",),
       subresources=(STATUS("ResourceQuota"),)),
    _R("", "v1", "Secret", "secrets"),
    _R("", "v1", "ServiceAccount", "serviceaccounts", short_names=("sa",),
       subresources=(Subresource("token", "TokenRequest", "authentication.k8s.io", "v1", verbs=("create",)),)),
    _R("", "v1", "Service", "services", short_names=("svc",), categories=("all",),
       verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
       subresources=(Subresource("proxy", "ServiceProxyOptions", verbs=("create", "delete", "get", "patch", "update")),
                     STATUS("Service"))),
    # admissionregistration.k8s.io/v1
    _R("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
       namespaced=False, categories=("api-extensions",)),
    _R("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies",
       namespaced=False, categories=("api-extensions",), subresources=(STATUS("ValidatingAdmissionPolicy"),)),
    _R("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
       "validatingadmissionpolicybindings", namespaced=False, categories=("api-extensions",)),
    _R("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
       namespaced=False, categories=("api-extensions",)),
    # apiextensions.k8s.io/v1
    _R("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False,
       short_names=("crd", "crds"), categories=("api-extensions",),
       subresources=(STATUS("CustomResourceDefinition"),)),
    # apiregistration.k8s.io/v1
    _R("apiregistration.k8s.io", "v1", "APIService", "apiservices", namespaced=False,
       categories=("api-extensions",), subresources=(STATUS("APIService"),)),
    # apps/v1
    _R("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _R("apps", "v1", "DaemonSet", "daemonsets", short_names=("ds",), categories=("all",),
       subresources=(STATUS("DaemonSet"),)),
    _R("apps", "v1", "Deployment", "deployments", short_names=("deploy",), categories=("all",),
       subresources=(SCALE, STATUS("Deployment"))),
    _R("apps", "v1", "ReplicaSet", "replicasets", short_names=("rs",), categories=("all",),
       subresources=(SCALE, STATUS("ReplicaSet"))),
    _R("apps", "v1", "StatefulSet", "statefulsets", short_names=("sts",), categories=("all",),
       subresources=(SCALE, STATUS("StatefulSet"))),
    # authentication.k8s.io/v1
    _R("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False,
       verbs=CREATE_ONLY, stored=False),
    _R("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", namespaced=False, verbs=CREATE_ONLY,
       stored=False),
    # authorization.k8s.io/v1
    _R("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", verbs=CREATE_ONLY,
       stored=False),
    _R("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False,
       verbs=CREATE_ONLY, stored=False),
    _R("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", namespaced=False,
       verbs=CREATE_ONLY, stored=False),
    _R("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False,
       verbs=CREATE_ONLY, stored=False),
    # autoscaling
    _R("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=("hpa",),
       categories=("all",), subresources=(STATUS("HorizontalPodAutoscaler"),)),
    _R("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short_names=("hpa",),
       categories=("all",), subresources=(STATUS("HorizontalPodAutoscaler"),)),
    # batch/v1
    _R("batch", "v1", "CronJob", "cronjobs", short_names=("cj",), categories=("all",),
       subresources=(STATUS("CronJob"),)),
    _R("batch", "v1", "Job", "jobs", categories=("all",), subresources=(STATUS("Job"),)),
    # certificates.k8s.io/v1
    _R("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", namespaced=False,
       short_names=("csr",),
       subresources=(Subresource("approval", "CertificateSigningRequest"), STATUS("CertificateSigningRequest"))),
    # coordination.k8s.io/v1
    _R("coordination.k8s.io", "v1", "Lease", "leases"),
    # discovery.k8s.io/v1
    _R("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    # events.k8s.io/v1
    _R("events.k8s.io", "v1", "Event", "events", short_names=("ev",)),
    # flowcontrol.apiserver.k8s.io/v1
    _R("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", "flowschemas", namespaced=False,
       subresources=(STATUS("FlowSchema"),)),
    _R("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration", "prioritylevelconfigurations",
       namespaced=False, subresources=(STATUS("PriorityLevelConfiguration"),)),
    # networking.k8s.io/v1
    _R("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _R("networking.k8s.io", "v1", "Ingress", "ingresses", short_names=("ing",), subresources=(STATUS("Ingress"),)),
    _R("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    # node.k8s.io/v1
    _R("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", namespaced=False),
    # policy/v1
    _R("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short_names=("pdb",),
       subresources=(STATUS("PodDisruptionBudget"),)),
    # rbac.authorization.k8s.io/v1
    _R("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _R("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _R("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _R("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    # scheduling.k8s.io/v1
    _R("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False, short_names=("pc",)),
    # storage.k8s.io/v1
    _R("storage.k8s.io", "v1", "CSIDriver", "csidrivers", namespaced=False),
    _R("storage.k8s.io", "v1", "CSINode", "csinodes", namespaced=False),
    _R("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities"),
    _R("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False, short_names=("sc",)),
    _R("storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", namespaced=False,
       subresources=(STATUS("VolumeAttachment"),)),
)

# Preferred version first within a group; the order of groups is the order discovery lists them.
GROUP_ORDER: tuple[str, ...] = tuple(dict.fromkeys(r.group for r in BUILTIN))


def storage_kind_key(r: ResourceInfo) -> str:
    """Objects of one resource in every version share storage: the key uses group and plural only."""
    return f"{r.group or 'core'}/{r.plural}"


class Registry:
    """Look-ups over a set of resources (the built-ins plus, in the server, CRDs)."""

    def __init__(self, resources: tuple[ResourceInfo, ...] | list[ResourceInfo] = BUILTIN):
        self._all: list[ResourceInfo] = []
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        self._by_gvk: dict[tuple[str, str, str], ResourceInfo] = {}
        self._versions: dict[str, list[str]] = {}
        # Bumped on every change, so that callers can cache what they derive (discovery).
        self.generation = 0
        for r in resources:
            self.add(r)

    def _changed(self) -> None:
        self.generation += 1
        self._versions = {}
        for r in self._all:
            vs = self._versions.setdefault(r.group, [])
            if r.version not in vs:
                vs.append(r.version)

    def add(self, r: ResourceInfo) -> None:
        self.remove(r.group, r.version, r.plural)
        self._all.append(r)
        self._by_gvr[(r.group, r.version, r.plural)] = r
        self._by_gvk[(r.group, r.version, r.kind)] = r
        self._changed()

    def remove(self, group: str, version: str, plural: str) -> None:
        old = self._by_gvr.pop((group, version, plural), None)
        if old is not None:
            self._all.remove(old)
            self._by_gvk.pop((old.group, old.version, old.kind), None)
            self._changed()

    def __iter__(self):
        return iter(self._all)

    def by_resource(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        return self._by_gvk.get((group, version, kind))

    def by_api_version_kind(self, api_version: str, kind: str) -> ResourceInfo | None:
        group, _, version = api_version.rpartition("/")
        return self._by_gvk.get((group, version, kind))

    def lookup(self, name: str) -> ResourceInfo | None:
        """By plural, singular, kind or short name, optionally qualified with a group
        (`deployments`, `deploy`, `Deployment`, `deployments.apps`), preferred version first."""
        base, _, group = name.partition(".")
        low = base.lower()
        for r in self._all:
            if group and r.group != group:
                continue
            if low in (r.plural, r.singular_name, r.kind.lower()) or low in r.short_names:
                return r
        return None

    def versions(self, group: str) -> list[str]:
        return self._versions.get(group, [])

    def groups(self) -> list[str]:
        return list(self._versions)


DEFAULT = Registry()
