"""Server-side apply driven by the real kubectl, as a user sees it: `apply --server-side`,
conflicts after `kubectl scale`, `--force-conflicts`, a second field manager, pruning by
omission, `--show-managed-fields`, and client-side apply followed by server-side apply."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from mizzen.testing import Cluster

pytestmark = pytest.mark.e2e

HELP = "Please review the fields above--they currently have other managers."


def deployment(replicas: int = 2, image: str = "nginx:1.25", labels: dict[str, str] | None = None) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels if labels is not None else {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": image,
                                                       "ports": [{"containerPort": 80}]}]}}},
    })


def namespace(c: Cluster, name: str) -> str:
    c.kubectl("create", "namespace", name)
    return name


def get(c: Cluster, ns: str, what: str) -> dict[str, Any]:
    return json.loads(c.kubectl("get", "-n", ns, what, "-o", "json", "--show-managed-fields").out)


def managers(obj: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(e["manager"], e["operation"], e.get("subresource", "")): e["fieldsV1"]
            for e in obj["metadata"]["managedFields"]}


def test_create_reapply_and_managed_fields(apiserver: Cluster) -> None:
    ns = namespace(apiserver, "ssa-create")
    assert apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=deployment()).out == (
        "deployment.apps/web serverside-applied\n")
    assert apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=deployment()).out == (
        "deployment.apps/web serverside-applied\n")
    d = get(apiserver, ns, "deployment/web")
    assert d["metadata"]["generation"] == 1  # the re-apply changed nothing
    [entry] = d["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == (
        "kubectl", "Apply", "apps/v1", "FieldsV1")
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {}, "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"web"}': {
                    ".": {}, "f:image": {}, "f:name": {},
                    "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}}}}}
    # Without --show-managed-fields kubectl hides them, as against Kubernetes.
    plain = yaml.safe_load(apiserver.kubectl("get", "-n", ns, "deployment", "web", "-o", "yaml").out)
    assert "managedFields" not in plain["metadata"]


def test_conflict_after_scale_then_force(apiserver: Cluster) -> None:
    ns = namespace(apiserver, "ssa-scale")
    apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=deployment())
    assert apiserver.kubectl("scale", "-n", ns, "deployment", "web", "--replicas=3").out == (
        "deployment.apps/web scaled\n")
    scale_entry = managers(get(apiserver, ns, "deployment/web"))[("kubectl", "Update", "scale")]
    assert scale_entry == {"f:spec": {"f:replicas": {}}}

    r = apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=deployment(), check=False)
    assert r.code == 1
    assert r.err.startswith('error: Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
                            "using apps/v1: .spec.replicas\n" + HELP)
    assert get(apiserver, ns, "deployment/web")["spec"]["replicas"] == 3

    forced = apiserver.kubectl("apply", "--server-side", "--force-conflicts", "-n", ns, "-f", "-",
                               input=deployment())
    assert forced.out == "deployment.apps/web serverside-applied\n"
    d = get(apiserver, ns, "deployment/web")
    assert d["spec"]["replicas"] == 2
    assert list(managers(d)) == [("kubectl", "Apply", "")]  # the scaler owned nothing else


def test_second_field_manager_conflicts_and_co_owns(apiserver: Cluster) -> None:
    ns = namespace(apiserver, "ssa-other")
    apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=deployment())
    r = apiserver.kubectl("apply", "--server-side", "--field-manager=other", "-n", ns, "-f", "-",
                          input=deployment(replicas=4, image="nginx:1.26"), check=False)
    assert r.code == 1
    assert r.err.startswith('error: Apply failed with 2 conflicts: conflicts with "kubectl":\n'
                            "- .spec.replicas\n"
                            '- .spec.template.spec.containers[name="web"].image\n')
    # The same values: both managers own them.
    apiserver.kubectl("apply", "--server-side", "--field-manager=other", "-n", ns, "-f", "-", input=deployment())
    got = managers(get(apiserver, ns, "deployment/web"))
    assert "f:replicas" in got[("kubectl", "Apply", "")]["f:spec"]
    assert "f:replicas" in got[("other", "Apply", "")]["f:spec"]


def test_omitting_a_label_removes_it(apiserver: Cluster) -> None:
    ns = namespace(apiserver, "ssa-prune")
    apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-",
                      input=deployment(labels={"app": "web", "tier": "front"}))
    apiserver.kubectl("label", "-n", ns, "deployment", "web", "team=blue")
    apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=deployment())
    d = get(apiserver, ns, "deployment/web")
    # tier was only kubectl's: gone; team belongs to `kubectl label`: kept.
    assert d["metadata"]["labels"] == {"app": "web", "team": "blue"}
    assert managers(d)[("kubectl-label", "Update", "")] == {"f:metadata": {"f:labels": {"f:team": {}}}}


def test_server_side_dry_run_changes_nothing(apiserver: Cluster) -> None:
    ns = namespace(apiserver, "ssa-dry")
    apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=deployment())
    out = apiserver.kubectl("apply", "--server-side", "--dry-run=server", "-n", ns, "-f", "-",
                            input=deployment(replicas=5)).out
    assert out == "deployment.apps/web serverside-applied (server dry run)\n"
    assert get(apiserver, ns, "deployment/web")["spec"]["replicas"] == 2


def test_client_side_then_server_side_apply(apiserver: Cluster) -> None:
    ns = namespace(apiserver, "ssa-upgrade")
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n  b: '2'\n"
    assert apiserver.kubectl("apply", "-n", ns, "-f", "-", input=cm).out == "configmap/settings created\n"
    assert set(managers(get(apiserver, ns, "configmap/settings"))) == {("kubectl-client-side-apply", "Update", "")}

    # kubectl moves client-side apply's fields to its server-side entry; no conflict.
    out = apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=cm.replace("'2'", "'3'")).out
    assert out == "configmap/settings serverside-applied\n"
    obj = get(apiserver, ns, "configmap/settings")
    assert obj["data"] == {"a": "1", "b": "3"}
    got = managers(obj)
    assert ("kubectl-client-side-apply", "Update", "") not in got
    assert got[("kubectl", "Apply", "")]["f:data"] == {"f:a": {}, "f:b": {}}
    # The last-applied annotation follows, so a later client-side apply diffs correctly.
    last = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["data"] == {"a": "1", "b": "3"}

    out = apiserver.kubectl("apply", "-n", ns, "-f", "-",
                            input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: '1'\n").out
    assert out == "configmap/settings configured\n"
    assert get(apiserver, ns, "configmap/settings")["data"] == {"a": "1"}


def test_kubectl_create_records_an_update_entry_as_kubernetes_does(apiserver: Cluster) -> None:
    ns = namespace(apiserver, "ssa-created")
    apiserver.kubectl("create", "deployment", "nginx", "--image=nginx", "-n", ns)
    [entry] = get(apiserver, ns, "deployment/nginx")["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == ("kubectl-create", "Update", "apps/v1")
    # Defaults are the creator's too; new maps, list items and pointer structs are owned
    # themselves ("."), structs that exist in the zero object are not.
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:progressDeadlineSeconds": {}, "f:replicas": {}, "f:revisionHistoryLimit": {}, "f:selector": {},
            "f:strategy": {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}},
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {'k:{"name":"nginx"}': {
                        ".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {},
                        "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                    "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {}}}}}
