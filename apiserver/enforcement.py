"""What mizzen stores but does not act on yet.

A migration rehearsal must show what would not be enforced: writing one of these kinds
succeeds (the object is stored and served, as Kubernetes would) and the answer carries a
`Warning` header saying what is missing, which kubectl prints as `Warning: ...`.

Keep this table honest: remove an entry in the same change that makes mizzen act on the
kind."""

from __future__ import annotations

from apimachinery.resources import ResourceInfo

NOT_ENFORCED: dict[tuple[str, str], str] = {
    ("networking.k8s.io", "networkpolicies"): "pod traffic is not restricted",
    ("networking.k8s.io", "ingresses"): "no ingress controller routes traffic to its backends",
    ("autoscaling", "horizontalpodautoscalers"): "no autoscaler changes the target's replicas",
    ("", "resourcequotas"): "quota is not enforced on creation",
    ("", "limitranges"): "defaults and limits are not applied to pods",
    ("", "persistentvolumeclaims"): "no provisioner binds it to a volume, and pods cannot mount it",
    ("", "persistentvolumes"): "no volume plugin attaches or mounts it",
    ("rbac.authorization.k8s.io", "roles"): "authorization is not enforced (every authenticated user may do "
                                            "everything)",
    ("rbac.authorization.k8s.io", "rolebindings"): "authorization is not enforced (every authenticated user may "
                                                   "do everything)",
    ("rbac.authorization.k8s.io", "clusterroles"): "authorization is not enforced (every authenticated user may "
                                                   "do everything)",
    ("rbac.authorization.k8s.io", "clusterrolebindings"): "authorization is not enforced (every authenticated "
                                                          "user may do everything)",
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): "its webhooks are not called",
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): "its webhooks are not called",
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): "its rules are not evaluated",
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): "its policy is not evaluated",
    ("node.k8s.io", "runtimeclasses"): "pods run with mizzen's one runtime whatever their runtimeClassName",
    ("storage.k8s.io", "storageclasses"): "no provisioner creates volumes for it",
    ("certificates.k8s.io", "certificatesigningrequests"): "no signer issues certificates",
    ("apiregistration.k8s.io", "apiservices"): "requests are not proxied to aggregated API servers",
    ("flowcontrol.apiserver.k8s.io", "flowschemas"): "requests are not classified or limited",
    ("flowcontrol.apiserver.k8s.io", "prioritylevelconfigurations"): "requests are not classified or limited",
}


def not_enforced_warning(res: ResourceInfo) -> str | None:
    why = NOT_ENFORCED.get((res.group, res.plural))
    if why is None:
        return None
    return f"mizzen stores {res.kind} objects but does not act on them yet: {why}"
