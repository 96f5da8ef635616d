"""The root-ca-cert-publisher's decisions: `kube-root-ca.crt` with the cluster CA in every
namespace, repaired when changed."""

from __future__ import annotations

from controllers.rootcacert import decisions as rc

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
NS = {"metadata": {"name": "x"}, "status": {"phase": "Active"}}


def stored(data: dict, annotations: dict | None = None) -> dict:
    meta: dict = {"name": "kube-root-ca.crt", "namespace": "x", "resourceVersion": "3"}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def test_create_in_a_new_namespace() -> None:
    assert rc.desired_change(NS, None, CA) == ("create", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": "x", "annotations": {
            "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when "
            "using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
            "guaranteed across distributions of Kubernetes clusters."}},
        "data": {"ca.crt": CA}})


def test_nothing_in_a_terminating_or_missing_namespace() -> None:
    assert rc.desired_change({"metadata": {"name": "x"}, "status": {"phase": "Terminating"}}, None, CA) == ("none", None)
    assert rc.desired_change(None, None, CA) == ("none", None)


def test_correct_configmap_left_alone_even_with_another_description() -> None:
    assert rc.desired_change(NS, stored({"ca.crt": CA}, {rc.DESCRIPTION_ANNOTATION: "mine"}), CA) == ("none", None)


def test_changed_data_or_lost_annotation_repaired_keeping_other_annotations() -> None:
    what, body = rc.desired_change(NS, stored({"ca.crt": "tampered", "extra": "x"}, {"team": "a"}), CA)
    assert what == "update" and body is not None
    assert body["data"] == {"ca.crt": CA}
    assert body["metadata"]["resourceVersion"] == "3"
    assert body["metadata"]["annotations"] == {"team": "a", rc.DESCRIPTION_ANNOTATION: rc.DESCRIPTION}
    what, body = rc.desired_change(NS, stored({"ca.crt": CA}), CA)
    assert what == "update" and body is not None and body["metadata"]["annotations"] == {
        rc.DESCRIPTION_ANNOTATION: rc.DESCRIPTION}
