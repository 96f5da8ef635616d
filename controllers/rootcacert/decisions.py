"""Pure decisions of the root-ca-cert-publisher, after Kubernetes'
pkg/controller/certificates/rootcacertpublisher (publisher.go). No I/O.

Every namespace gets the ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster CA (what
service-account token volumes mount), with Kubernetes' `kubernetes.io/description`. A
ConfigMap whose data differs, or that lost the annotation, is rewritten; other annotations
and labels someone added are kept."""

from __future__ import annotations

from apimachinery.client.informer import copy_object
from controllers import podutil
from controllers.podutil import Obj

CONFIGMAP_NAME = "kube-root-ca.crt"
CA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def new_configmap(namespace: str, ca: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": CONFIGMAP_NAME, "namespace": namespace,
                         "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
            "data": {CA_KEY: ca}}


def desired_change(ns: Obj | None, cm: Obj | None, ca: str) -> tuple[str, Obj | None]:
    """("create", body), ("update", body) or ("none", None) for one namespace.

    A namespace being deleted gets nothing (the API server refuses creations there); a
    ConfigMap is left alone when its data is exactly `{ca.crt: ca}` and it has a non-empty
    description annotation (whatever its text), as Kubernetes does."""
    if ns is None or podutil.is_deleting(ns) or (ns.get("status") or {}).get("phase") == "Terminating":
        return "none", None
    name = podutil.name_of(ns)
    if cm is None:
        return "create", new_configmap(name, ca)
    data = {CA_KEY: ca}
    if (cm.get("data") or {}) == data and podutil.annotations_of(cm).get(DESCRIPTION_ANNOTATION):
        return "none", None
    updated = copy_object(cm)
    updated["data"] = data
    anns = dict(podutil.annotations_of(cm))
    anns[DESCRIPTION_ANNOTATION] = DESCRIPTION
    updated.setdefault("metadata", {})["annotations"] = anns
    return "update", updated
