"""OpenAPI v3 documents as kubectl reads them (explain, apply's patch metadata, the
fieldValidation check) — checked on the documents themselves."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from apimachinery import schema as model_schema
from apimachinery.resources import BUILTIN, Registry, ResourceInfo, Subresource
from apiserver import openapi

REF = "#/components/schemas/"
CRONTAB = ResourceInfo("stable.example.com", "v1", "CronTab", "crontabs", short_names=("ct",),
                       subresources=(Subresource("status", "CronTab"),))
CRONTAB_SCHEMA = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}}}},
}
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
def registry() -> Registry:
    return Registry(BUILTIN)


def load(registry: Registry, group: str, version: str, schemas: dict | None = None) -> dict[str, Any]:
    found = openapi.openapi_v3_document(registry, group, version, schemas)
    assert found is not None
    body, digest = found
    assert digest
    return orjson.loads(body)


def resolve(doc: dict, node: dict) -> dict:
    """Follow `$ref` and single-element `allOf` the way kubectl explain does."""
    while True:
        if "$ref" in node:
            node = doc["components"]["schemas"][node["$ref"].removeprefix(REF)]
        elif "allOf" in node and "properties" not in node and "type" not in node:
            node = node["allOf"][0]
        else:
            return node


def walk(doc: dict, schema_name: str, path: str) -> dict:
    """The (unresolved) property schema at a dotted field path, arrays stepped through."""
    node = doc["components"]["schemas"][schema_name]
    prop: dict = node
    for name in path.split("."):
        node = resolve(doc, node)
        if node.get("type") == "array":
            node = resolve(doc, node["items"])
        prop = node["properties"][name]
        node = prop
    return prop


def find_gvk_schema(doc: dict, group: str, version: str, kind: str) -> str:
    """What kubectl explain does: the schema whose x-kubernetes-group-version-kind lists the GVK."""
    want = {"group": group, "version": version, "kind": kind}
    names = [name for name, s in doc["components"]["schemas"].items()
             if want in s.get("x-kubernetes-group-version-kind", [])]
    assert len(names) == 1, names
    return names[0]


def refs(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.add(node["$ref"])
        for v in node.values():
            out |= refs(v)
    elif isinstance(node, list):
        for v in node:
            out |= refs(v)
    return out


def operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, item[method]) for path, item in doc["paths"].items() for method in METHODS
            if method in item]


def all_group_versions(registry: Registry) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r.group, r.version) for r in registry))


def test_every_document_is_openapi_3_with_resolvable_refs(registry: Registry) -> None:
    registry.add(CRONTAB)
    for group, version in all_group_versions(registry):
        doc = load(registry, group, version)
        assert doc["openapi"] == "3.0.0"
        assert doc["info"]["title"]
        schemas = doc["components"]["schemas"]
        for ref in refs(doc):
            assert ref.startswith(REF), ref
            assert ref.removeprefix(REF) in schemas, f"{group}/{version}: {ref} does not resolve"


def test_operation_gvk_is_one_object_and_every_patch_takes_field_validation(registry: Registry) -> None:
    registry.add(CRONTAB)
    for group, version in all_group_versions(registry):
        doc = load(registry, group, version)
        ops = operations(doc)
        assert ops
        for path, method, op in ops:
            gvk = op.get("x-kubernetes-group-version-kind")
            if path.endswith(f"/{version}/"):
                assert gvk is None  # the discovery operation
                continue
            assert isinstance(gvk, dict), (path, method)
            assert set(gvk) == {"group", "version", "kind"}
            assert op["x-kubernetes-action"]
            if method == "patch" and op["x-kubernetes-action"] == "patch":
                # kubectl looks among the operation's own parameters, not the path's
                assert "fieldValidation" in {p["name"] for p in op["parameters"] if p["in"] == "query"}, path


def test_operation_ids_and_paths_follow_kubernetes(registry: Registry) -> None:
    apps = load(registry, "apps", "v1")
    ids = {op["operationId"]: (path, method, op) for path, method, op in operations(apps)}
    assert ids["listAppsV1NamespacedDeployment"][:2] == ("/apis/apps/v1/namespaces/{namespace}/deployments", "get")
    assert ids["listAppsV1DeploymentForAllNamespaces"][:2] == ("/apis/apps/v1/deployments", "get")
    assert ids["createAppsV1NamespacedDeployment"][1] == "post"
    assert ids["deleteAppsV1CollectionNamespacedDeployment"][2]["x-kubernetes-action"] == "deletecollection"
    assert ids["readAppsV1NamespacedDeployment"][0] == "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    assert ids["replaceAppsV1NamespacedDeployment"][1] == "put"
    assert ids["patchAppsV1NamespacedDeploymentStatus"][0].endswith("/deployments/{name}/status")
    scale = ids["patchAppsV1NamespacedDeploymentScale"][2]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    scale_body = scale["requestBody"]["content"]["application/json-patch+json"]["schema"]
    assert scale_body == {"$ref": REF + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}
    read_scale = ids["readAppsV1NamespacedDeploymentScale"][2]
    assert read_scale["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == \
        REF + "io.k8s.api.autoscaling.v1.Scale"

    core = {op["operationId"]: (path, op) for path, _, op in operations(load(registry, "", "v1"))}
    assert core["patchCoreV1Node"][0] == "/api/v1/nodes/{name}"
    assert "listCoreV1NodeForAllNamespaces" not in core
    assert core["createCoreV1NamespacedPodEviction"][1]["x-kubernetes-group-version-kind"]["group"] == "policy"
    assert core["createCoreV1NamespacedPodBinding"][0].endswith("/pods/{name}/binding")
    assert core["readCoreV1NamespacedPodLog"][0].endswith("/pods/{name}/log")
    assert core["connectCoreV1GetNamespacedPodExec"][1]["x-kubernetes-action"] == "connect"
    assert "deleteCoreV1CollectionNamespace" not in core  # namespaces have no deletecollection

    rbac = {op["operationId"] for _, _, op in operations(load(registry, "rbac.authorization.k8s.io", "v1"))}
    assert {"listRbacAuthorizationV1ClusterRole", "patchRbacAuthorizationV1NamespacedRole"} <= rbac


def test_patch_media_types_offer_strategic_merge_only_for_built_in_kinds(registry: Registry) -> None:
    registry.add(CRONTAB)
    path = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
    media = set(load(registry, "apps", "v1")["paths"][path]["patch"]["requestBody"]["content"])
    assert media == {"application/json-patch+json", "application/merge-patch+json",
                     "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
    custom = load(registry, "stable.example.com", "v1")["paths"]
    media = set(custom["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
                ["requestBody"]["content"])
    assert media == {"application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"}


def test_patch_parameters(registry: Registry) -> None:
    op = load(registry, "", "v1")["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert {p["name"] for p in op["parameters"]} == {"dryRun", "fieldManager", "fieldValidation", "force"}


def test_deployment_schema_carries_merge_keys_down_to_containers(registry: Registry) -> None:
    doc = load(registry, "apps", "v1")
    name = find_gvk_schema(doc, "apps", "v1", "Deployment")
    assert name == "io.k8s.api.apps.v1.Deployment"
    containers = walk(doc, name, "spec.template.spec.containers")
    assert containers["type"] == "array"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert resolve(doc, containers["items"]) is doc["components"]["schemas"]["io.k8s.api.core.v1.Container"]
    ports = walk(doc, name, "spec.template.spec.containers.ports")
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    env = walk(doc, name, "spec.template.spec.containers.env")
    assert env["x-kubernetes-patch-merge-key"] == "name"
    volumes = walk(doc, name, "spec.template.spec.volumes")
    assert volumes["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    strategy = walk(doc, name, "spec.strategy")
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert "x-kubernetes-patch-merge-key" not in strategy
    finalizers = walk(doc, name, "metadata.finalizers")
    assert finalizers["x-kubernetes-patch-strategy"] == "merge"
    assert finalizers["x-kubernetes-list-type"] == "set"
    # lists without Kubernetes patch metadata are atomic: no merge key
    assert "x-kubernetes-patch-merge-key" not in walk(doc, name, "spec.template.spec.tolerations")


def test_patch_metadata_matches_the_strategic_merge_table(registry: Registry) -> None:
    """Every (model, field) the server's strategic merge patch uses is described the same way."""
    schemas: dict[str, dict] = {}
    for gv in all_group_versions(registry):
        schemas.update(load(registry, *gv)["components"]["schemas"])
    checked = 0
    for (model, field), (strategy, key) in model_schema.PATCH_META.items():
        schema = schemas.get(openapi.schema_name(model))
        if schema is None:
            continue  # a model no served kind reaches
        prop = schema["properties"][field]
        assert prop["x-kubernetes-patch-strategy"] == strategy, (model, field)
        assert prop.get("x-kubernetes-patch-merge-key") == key, (model, field)
        checked += 1
    assert checked >= 40
    # and nothing else carries patch metadata
    tagged = sum("x-kubernetes-patch-strategy" in p for s in schemas.values()
                 for p in s.get("properties", {}).values())
    assert tagged == checked


def test_explain_descriptions_and_types(registry: Registry) -> None:
    doc = load(registry, "apps", "v1")
    name = "io.k8s.api.apps.v1.Deployment"
    schemas = doc["components"]["schemas"]
    assert schemas[name]["description"].startswith("Deployment enables declarative updates")
    strategy = walk(doc, name, "spec.strategy")
    assert strategy["description"]
    strategy_type = walk(doc, name, "spec.strategy.type")
    assert strategy_type["type"] == "string" and "Recreate" in strategy_type["description"]
    replicas = walk(doc, name, "spec.replicas")
    assert replicas["type"] == "integer" and "Defaults to 1" in replicas["description"]
    assert walk(doc, name, "metadata")["description"].startswith("Standard object's metadata")
    max_surge = walk(doc, name, "spec.strategy.rollingUpdate.maxSurge")
    assert resolve(doc, max_surge)["x-kubernetes-int-or-string"] is True
    created = walk(doc, name, "metadata.creationTimestamp")
    assert resolve(doc, created) == {**schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"]}
    assert resolve(doc, created)["format"] == "date-time"
    limits = walk(doc, name, "spec.template.spec.containers.resources.limits")
    assert limits["type"] == "object"
    assert resolve(doc, limits["additionalProperties"]) is schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    quantity = schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    assert {"type": "string"} in quantity["oneOf"] and "type" not in quantity
    labels = walk(doc, name, "metadata.labels")
    assert labels == {**labels, "type": "object", "additionalProperties": {"type": "string"}}


def test_required_fields(registry: Registry) -> None:
    doc = load(registry, "apps", "v1")
    schemas = doc["components"]["schemas"]
    assert schemas["io.k8s.api.core.v1.Container"]["required"] == ["name"]
    assert schemas["io.k8s.api.apps.v1.DeploymentSpec"]["required"] == ["selector", "template"]
    assert "required" not in schemas["io.k8s.api.apps.v1.Deployment"]  # as in Kubernetes v1.32


@pytest.mark.parametrize(("group", "version", "expected"), [
    ("apps", "v1", {"io.k8s.api.core.v1.PodTemplateSpec", "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
                    "io.k8s.api.autoscaling.v1.Scale", "io.k8s.api.apps.v1.RollingUpdateDeployment"}),
    ("", "v1", {"io.k8s.api.core.v1.Event", "io.k8s.api.core.v1.EventSeries", "io.k8s.api.policy.v1.Eviction",
                "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"}),
    ("events.k8s.io", "v1", {"io.k8s.api.events.v1.Event", "io.k8s.api.events.v1.EventSeries",
                             "io.k8s.api.core.v1.ObjectReference"}),
    ("apiextensions.k8s.io", "v1",
     {"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
      "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"}),
    ("apiregistration.k8s.io", "v1", {"io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService"}),
    ("autoscaling", "v2", {"io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
                           "io.k8s.api.autoscaling.v2.CrossVersionObjectReference"}),
    ("storage.k8s.io", "v1", {"io.k8s.api.core.v1.TopologySelectorTerm", "io.k8s.api.storage.v1.StorageClass"}),
])
def test_schema_names_follow_kubernetes_packages(registry: Registry, group: str, version: str,
                                                 expected: set[str]) -> None:
    names = set(load(registry, group, version)["components"]["schemas"])
    assert expected <= names
    assert not [n for n in names if re.search(r"\.(V\d|Core|Events)[A-Z0-9]", n)]  # client prefixes stripped


def test_kind_schemas_carry_their_gvk_as_a_list(registry: Registry) -> None:
    doc = load(registry, "", "v1")
    schemas = doc["components"]["schemas"]
    assert schemas["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Pod", "version": "v1"}]
    assert schemas["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "PodList", "version": "v1"}]
    assert "x-kubernetes-group-version-kind" not in schemas["io.k8s.api.core.v1.PodSpec"]
    # Every kind served in a group-version is findable the way kubectl explain finds it.
    for r in registry:
        if r.group == "" and r.version == "v1":
            find_gvk_schema(doc, "", "v1", r.kind)


def test_custom_kind_uses_its_schema_and_object_meta(registry: Registry) -> None:
    registry.add(CRONTAB)
    doc = load(registry, "stable.example.com", "v1", {"CronTab": CRONTAB_SCHEMA})
    name = find_gvk_schema(doc, "stable.example.com", "v1", "CronTab")
    assert name == "com.example.stable.v1.CronTab"
    assert walk(doc, name, "spec.cronSpec") == {"type": "string"}
    assert walk(doc, name, "metadata.name")["type"] == "string"
    find_gvk_schema(doc, "stable.example.com", "v1", "CronTabList")
    # without a schema the kind is still described, and keeps unknown fields
    bare = load(registry, "stable.example.com", "v1")
    assert bare["components"]["schemas"][name]["x-kubernetes-preserve-unknown-fields"] is True


def test_index_lists_every_group_version_with_its_hash(registry: Registry) -> None:
    index = openapi.openapi_v3_index(registry)
    paths = index["paths"]
    for key in ("api", "apis", "version", "api/v1", "apis/apps/v1", "apis/autoscaling/v2", "apis/apps"):
        assert key in paths, key
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    found = openapi.openapi_v3_document(registry, "apps", "v1")
    assert found is not None
    assert url == f"/openapi/v3/apis/apps/v1?hash={found[1]}"
    for key, entry in paths.items():
        doc = openapi.openapi_v3_path_document(registry, key)
        assert doc is not None, key
        orjson.loads(doc[0])
        assert entry["serverRelativeURL"] == f"/openapi/v3/{key}?hash={doc[1]}"


def test_hash_changes_exactly_when_the_document_does(registry: Registry) -> None:
    apps_before = openapi.openapi_v3_document(registry, "apps", "v1")
    assert apps_before == openapi.openapi_v3_document(registry, "apps", "v1")
    registry.add(CRONTAB)
    assert openapi.openapi_v3_document(registry, "apps", "v1") == apps_before
    bare = openapi.openapi_v3_document(registry, "stable.example.com", "v1")
    with_schema = openapi.openapi_v3_document(registry, "stable.example.com", "v1", {"CronTab": CRONTAB_SCHEMA})
    assert bare is not None and with_schema is not None
    assert bare[1] != with_schema[1] and bare[0] != with_schema[0]
    registry.add(ResourceInfo("stable.example.com", "v1", "CronTab", "crontabs", namespaced=False))
    cluster = openapi.openapi_v3_document(registry, "stable.example.com", "v1", {"CronTab": CRONTAB_SCHEMA})
    assert cluster is not None and cluster[1] != with_schema[1]
    assert b"/apis/stable.example.com/v1/crontabs/{name}" in cluster[0]


def test_unknown_paths_have_no_document(registry: Registry) -> None:
    assert openapi.openapi_v3_document(registry, "apps", "v9") is None
    assert openapi.openapi_v3_path_document(registry, "apis/nope.example.com") is None
    assert openapi.openapi_v3_path_document(registry, "logs") is None


def test_model_lookup_agrees_with_apimachinery_schema(registry: Registry) -> None:
    for r in registry:
        for kind in (r.kind, r.list_kind):
            assert openapi._model_for(r.group, r.version, kind) == model_schema.model_for(r.group, r.version, kind)


def test_custom_schemas_keyed_by_group_version_kind_do_not_collide(registry: Registry) -> None:
    other = ResourceInfo("other.example.org", "v1", "CronTab", "crontabs")
    registry.add(CRONTAB)
    registry.add(other)
    schemas = {("stable.example.com", "v1", "CronTab"): CRONTAB_SCHEMA,
               ("other.example.org", "v1", "CronTab"): {"type": "object", "properties": {"when": {"type": "string"}}}}
    stable = load(registry, "stable.example.com", "v1", schemas)
    assert "cronSpec" in str(stable["components"]["schemas"]["com.example.stable.v1.CronTab"])
    org = load(registry, "other.example.org", "v1", schemas)
    assert walk(org, "org.example.other.v1.CronTab", "when") == {"type": "string"}
    index = openapi.openapi_v3_index(registry, schemas)["paths"]
    found = openapi.openapi_v3_document(registry, "other.example.org", "v1", schemas)
    assert found is not None
    assert index["apis/other.example.org/v1"]["serverRelativeURL"].endswith(f"hash={found[1]}")


def test_only_v1_32_fields_with_go_integer_formats(registry: Registry) -> None:
    """The installed client is newer than v1.32: its newer fields are not served, and integers
    carry the format Go gives them."""
    doc = load(registry, "", "v1")
    container = doc["components"]["schemas"]["io.k8s.api.core.v1.Container"]["properties"]
    assert "restartPolicyRules" not in container and "resizePolicy" in container
    pod_status = doc["components"]["schemas"]["io.k8s.api.core.v1.PodStatus"]["properties"]
    assert "observedGeneration" not in pod_status and "resize" in pod_status
    assert walk(doc, "io.k8s.api.core.v1.Pod", "spec.terminationGracePeriodSeconds")["format"] == "int64"
    assert walk(doc, "io.k8s.api.core.v1.Pod", "spec.containers.ports.containerPort")["format"] == "int32"
