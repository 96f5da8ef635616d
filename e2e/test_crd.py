"""CustomResourceDefinitions through the real kubectl: a CRD applied from crds/ is served
(discovery, OpenAPI for explain, printer columns), its custom resources are validated,
defaulted and pruned by the schema with Kubernetes' messages, merge patches apply and
strategic merge is refused, /status and /scale work, and deleting the CRD deletes its
resources."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing import Cluster

ROOT = Path(__file__).resolve().parent.parent
CRD = ROOT / "crds" / "widgets.example.mizzen.dev.yaml"
EXAMPLE = ROOT / "manifests" / "crd-example" / "widget.yaml"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster.start(tmp_path_factory.mktemp("crd"), command="apiserver") as c:
        c.kubectl("apply", "-f", str(CRD))
        c.kubectl("wait", "--for=condition=Established", "crd/widgets.example.mizzen.dev", "--timeout=30s")
        yield c


def widget(name: str, spec: str) -> str:
    return f"apiVersion: example.mizzen.dev/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec: {spec}\n"


def test_crd_is_established_with_accepted_names(cluster: Cluster) -> None:
    out = cluster.kubectl("get", "crd", "widgets.example.mizzen.dev", "-o", "json").out
    crd = json.loads(out)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in crd["status"]["conditions"]}
    assert conditions["NamesAccepted"] == ("True", "NoConflicts")
    assert conditions["Established"] == ("True", "InitialNamesAccepted")
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    assert crd["status"]["acceptedNames"]["listKind"] == "WidgetList"
    assert crd["status"]["storedVersions"] == ["v1"]
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]
    assert cluster.kubectl("get", "crd").out.splitlines()[1].startswith("widgets.example.mizzen.dev ")
    res = cluster.kubectl("api-resources", "--api-group=example.mizzen.dev").out.splitlines()
    assert res[1].split() == ["widgets", "wd", "example.mizzen.dev/v1", "true", "Widget"]


def test_apply_get_with_printer_columns_and_defaults(cluster: Cluster) -> None:
    assert cluster.kubectl("apply", "-f", str(EXAMPLE)).out.strip() == "widget.example.mizzen.dev/small created"
    table = cluster.kubectl("get", "widgets").out.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "COLOR", "REPLICAS", "AGE"]
    assert table[1].split()[:4] == ["small", "3", "red", "1"]  # replicas defaulted from the schema
    assert cluster.kubectl("apply", "-f", str(EXAMPLE)).out.strip() == "widget.example.mizzen.dev/small unchanged"
    assert cluster.kubectl("get", "wd", "small", "-o", "jsonpath={.metadata.generation}").out == "1"


def test_explain_reads_the_schema(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "widget.spec").out
    assert "What the widget should be." in out
    assert "size\t<integer> -required-" in out
    assert "How big the widget is." in out


def test_invalid_resource_is_refused_with_kubernetes_messages(cluster: Cluster) -> None:
    r = cluster.kubectl("apply", "-f", "-", input=widget("bad", "{size: big, color: pink, replicas: -1}"),
                        check=False)
    assert r.code == 1
    assert r.err.splitlines() == [
        'The Widget "bad" is invalid: ',
        '* spec.color: Unsupported value: "pink": supported values: "red", "green", "blue"',
        "* spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        '* spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"',
    ]
    r = cluster.kubectl("create", "-f", "-", input=widget("bad", "{color: red}"), check=False)
    assert r.err.strip() == 'The Widget "bad" is invalid: spec.size: Required value'
    r = cluster.kubectl("create", "-f", "-", input=widget("bad", "{size: 1, bogus: 1}"), check=False)
    assert 'strict decoding error: unknown field "spec.bogus"' in r.err
    assert cluster.kubectl("get", "widget", "bad", check=False).code == 1


def test_unknown_fields_are_pruned_unless_preserved(cluster: Cluster) -> None:
    cluster.kubectl("create", "--validate=false", "-f", "-",
                    input=widget("pruned", "{size: 2, bogus: 1, labels: {any: {thing: 1}}}"))
    spec = json.loads(cluster.kubectl("get", "widget", "pruned", "-o", "jsonpath={.spec}").out)
    assert spec == {"size": 2, "color": "blue", "replicas": 1, "labels": {"any": {"thing": 1}}}


def test_merge_patch_works_and_strategic_is_refused(cluster: Cluster) -> None:
    cluster.kubectl("create", "-f", "-", input=widget("patched", "{size: 4}"))
    cluster.kubectl("patch", "widget", "patched", "--type=merge", "-p", '{"spec":{"size":5}}')
    assert cluster.kubectl("get", "widget", "patched", "-o", "jsonpath={.spec.size} {.metadata.generation}"
                           ).out == "5 2"
    r = cluster.kubectl("patch", "widget", "patched", "-p", '{"spec":{"size":6}}', check=False)
    assert r.code == 1
    assert r.err.strip() == (
        "error: application/strategic-merge-patch+json is not supported by example.mizzen.dev/v1, Kind=Widget: "
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
    r = cluster.kubectl("patch", "widget", "patched", "--type=merge", "-p", '{"spec":{"size":0}}', check=False)
    assert "spec.size in body should be greater than or equal to 1" in r.err


def test_status_subresource_and_scale(cluster: Cluster) -> None:
    cluster.kubectl("create", "-f", "-", input=widget("scaled", "{size: 4, replicas: 1}"))
    # The main resource ignores status; /status ignores everything else.
    cluster.kubectl("patch", "widget", "scaled", "--type=merge", "-p", '{"status":{"message":"nope"}}')
    cluster.kubectl("patch", "widget", "scaled", "--subresource=status", "--type=merge",
                    "-p", '{"status":{"replicas":1,"message":"ok"},"spec":{"size":9}}')
    got = cluster.kubectl("get", "widget", "scaled", "-o",
                          "jsonpath={.spec.size} {.status.message} {.metadata.generation}").out
    assert got == "4 ok 1"
    assert cluster.kubectl("scale", "widget", "scaled", "--replicas=3").out.strip() == \
        "widget.example.mizzen.dev/scaled scaled"
    assert cluster.kubectl("get", "widget", "scaled", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"
                           ).out == "3 2"
    scale = json.loads(cluster.kubectl("get", "--raw",
                                       "/apis/example.mizzen.dev/v1/namespaces/default/widgets/scaled/scale").out)
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 3} and scale["status"]["replicas"] == 1


def test_deleting_the_crd_deletes_its_resources(tmp_path: Path) -> None:
    with Cluster.start(tmp_path, command="apiserver") as c:
        c.kubectl("apply", "-f", str(CRD))
        c.kubectl("wait", "--for=condition=Established", "crd/widgets.example.mizzen.dev", "--timeout=30s")
        c.kubectl("apply", "-f", str(EXAMPLE))
        c.kubectl("delete", "crd", "widgets.example.mizzen.dev", "--wait=true", "--timeout=30s")
        assert c.kubectl("get", "crd").err.strip() == "No resources found"
        assert c.kubectl("get", "widgets", check=False).code == 1
        # Defined again: the old widget is gone for good.
        c.kubectl("apply", "-f", str(CRD))
        c.kubectl("wait", "--for=condition=Established", "crd/widgets.example.mizzen.dev", "--timeout=30s")
        assert c.kubectl("get", "widgets", "-A").err.strip() == "No resources found"


def test_custom_resources_are_served_after_restart(tmp_path: Path) -> None:
    with Cluster.start(tmp_path, command="apiserver") as c:
        c.kubectl("apply", "-f", str(CRD))
        c.kubectl("wait", "--for=condition=Established", "crd/widgets.example.mizzen.dev", "--timeout=30s")
        c.kubectl("apply", "-f", str(EXAMPLE))
        data = c.data_dir
    c = Cluster.launch(tmp_path / "again", command="apiserver", data_dir=data)
    try:
        assert c.kubectl("get", "widget", "small", "-o", "jsonpath={.spec.size}").out == "3"
    finally:
        c.stop()


def test_crd_without_structural_schema_is_refused(cluster: Cluster) -> None:
    bad = CRD.read_text().replace("name: widgets.example.mizzen.dev", "name: gadgets.example.mizzen.dev").replace(
        "plural: widgets", "plural: gadgets").replace("singular: widget", "singular: gadget").replace(
        "kind: Widget", "kind: Gadget").replace("shortNames: [wd]", "shortNames: [gd]").replace(
        "              type: object\n              description: What", "              description: What")
    r = cluster.kubectl("apply", "-f", "-", input=bad, check=False)
    assert r.code == 1
    assert r.err.strip() == (
        'The CustomResourceDefinition "gadgets.example.mizzen.dev" is invalid: '
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for "
        "specified object fields")


GIZMO = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.mizzen.dev
spec:
  group: example.mizzen.dev
  scope: Cluster
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  versions:
    - name: v1beta1
      served: true
      storage: false
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def test_versions_share_storage_and_show_the_version_asked_for(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=GIZMO)
    cluster.kubectl("wait", "--for=condition=Established", "crd/gizmos.example.mizzen.dev", "--timeout=30s")
    cluster.kubectl("create", "-f", "-", input="apiVersion: example.mizzen.dev/v1beta1\nkind: Gizmo\n"
                                               "metadata: {name: g}\nspec: {a: 1}\n")
    # The preferred version is v1 (GA before beta), whatever the CRD's order.
    assert cluster.kubectl("get", "gizmo", "g", "-o", "jsonpath={.apiVersion} {.spec.a}").out == \
        "example.mizzen.dev/v1 1"
    assert cluster.kubectl("get", "gizmos.v1beta1.example.mizzen.dev", "-o", "jsonpath={.items[0].apiVersion}"
                           ).out == "example.mizzen.dev/v1beta1"
    raw = json.loads(cluster.kubectl("get", "--raw", "/apis/example.mizzen.dev/v1/gizmos").out)
    assert [i["apiVersion"] for i in raw["items"]] == ["example.mizzen.dev/v1"]
