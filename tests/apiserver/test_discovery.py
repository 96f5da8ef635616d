"""Discovery documents as kubectl, the Python client and kopf read them."""

from __future__ import annotations

import orjson
import pytest
from kubernetes.client import models

from apimachinery.resources import BUILTIN, Registry, ResourceInfo, Subresource
from apiserver import discovery as d

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)
CRONTAB = ResourceInfo("stable.example.com", "v1", "CronTab", "crontabs", short_names=("ct",),
                       categories=("all",), subresources=(Subresource("status", "CronTab"),))


@pytest.fixture
def registry() -> Registry:
    return Registry(BUILTIN)


def by_name(entries: list[dict], key: str, name: str) -> dict:
    found = [e for e in entries if e[key] == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def test_version_is_a_v1_32_server_the_python_client_accepts() -> None:
    info = d.version_info()
    parsed = models.VersionInfo.from_dict(info)
    assert (parsed.major, parsed.minor) == ("1", "32")
    assert info["gitVersion"].startswith("v1.32.")
    for key in ("buildDate", "compiler", "gitCommit", "gitTreeState", "goVersion", "platform"):
        assert info[key]


def test_api_versions_lists_core_v1(registry: Registry) -> None:
    doc = d.api_versions(registry, "127.0.0.1:6443")
    parsed = models.V1APIVersions.from_dict(doc)
    assert parsed.versions == ["v1"]
    assert parsed.server_address_by_client_cidrs[0].server_address == "127.0.0.1:6443"


def test_group_list_has_every_group_with_its_preferred_version(registry: Registry) -> None:
    doc = d.api_group_list(registry)
    models.V1APIGroupList.from_dict(doc)  # strict types
    groups = {g["name"]: g for g in doc["groups"]}
    assert "" not in groups
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    # autoscaling serves v2 and v1; v2 is preferred and listed first, as in Kubernetes.
    assert [v["version"] for v in groups["autoscaling"]["versions"]] == ["v2", "v1"]
    assert groups["autoscaling"]["preferredVersion"]["version"] == "v2"


@pytest.mark.parametrize(("group", "expected"), [("apps", "apps/v1"), ("batch", "batch/v1"), ("nope", None)])
def test_api_group(registry: Registry, group: str, expected: str | None) -> None:
    doc = d.api_group(registry, group)
    if expected is None:
        assert doc is None
    else:
        assert doc is not None
        models.V1APIGroup.from_dict(doc)
        assert doc["kind"] == "APIGroup"
        assert doc["preferredVersion"]["groupVersion"] == expected


def test_legacy_core_resource_list(registry: Registry) -> None:
    doc = d.api_resource_list(registry, "", "v1")
    assert doc is not None
    models.V1APIResourceList.from_dict(doc)
    assert doc["groupVersion"] == "v1"
    resources = doc["resources"]
    pods = by_name(resources, "name", "pods")
    assert pods["singularName"] == "pod"
    assert pods["namespaced"] is True
    assert pods["kind"] == "Pod"
    assert pods["shortNames"] == ["po"]
    assert pods["categories"] == ["all"]
    assert set(pods["verbs"]) == {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
    assert pods["storageVersionHash"]
    status = by_name(resources, "name", "pods/status")
    assert status["kind"] == "Pod" and status["verbs"] == ["get", "patch", "update"]
    eviction = by_name(resources, "name", "pods/eviction")
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    nodes = by_name(resources, "name", "nodes")
    assert nodes["namespaced"] is False
    assert "shortNames" not in by_name(resources, "name", "secrets")


def test_legacy_apps_resource_list_has_scale_as_autoscaling_v1(registry: Registry) -> None:
    doc = d.api_resource_list(registry, "apps", "v1")
    assert doc is not None
    models.V1APIResourceList.from_dict(doc)
    scale = by_name(doc["resources"], "name", "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert by_name(doc["resources"], "name", "deployments")["shortNames"] == ["deploy"]


def test_unknown_group_version_has_no_resource_list(registry: Registry) -> None:
    assert d.api_resource_list(registry, "apps", "v2") is None
    assert d.api_resource_list(registry, "nope.example.com", "v1") is None


def test_aggregated_core_lists_pods_with_short_name_and_category(registry: Registry) -> None:
    doc = d.aggregated_discovery(registry, legacy_core=True)
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    assert [item["metadata"]["name"] for item in doc["items"]] == [""]
    (v1,) = doc["items"][0]["versions"]
    assert v1["version"] == "v1" and v1["freshness"] == "Current"
    pods = by_name(v1["resources"], "resource", "pods")
    assert pods["responseKind"] == {"group": "", "version": "", "kind": "Pod"}
    assert pods["scope"] == "Namespaced"
    assert pods["singularResource"] == "pod"
    assert pods["shortNames"] == ["po"]
    assert pods["categories"] == ["all"]
    eviction = by_name(pods["subresources"], "subresource", "eviction")
    assert eviction["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    assert by_name(v1["resources"], "resource", "namespaces")["scope"] == "Cluster"


def test_aggregated_apis_has_named_groups_preferred_version_first(registry: Registry) -> None:
    doc = d.aggregated_discovery(registry, legacy_core=False)
    items = {item["metadata"]["name"]: item for item in doc["items"]}
    assert "" not in items
    assert [v["version"] for v in items["autoscaling"]["versions"]] == ["v2", "v1"]
    deployments = by_name(items["apps"]["versions"][0]["resources"], "resource", "deployments")
    scale = by_name(deployments["subresources"], "subresource", "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert scale["verbs"] == ["get", "patch", "update"]
    status = by_name(deployments["subresources"], "subresource", "status")
    assert status["responseKind"]["kind"] == "Deployment"
    orjson.dumps(doc)


def test_resources_added_at_run_time_appear_everywhere(registry: Registry) -> None:
    registry.add(CRONTAB)
    assert "stable.example.com" in {g["name"] for g in d.api_group_list(registry)["groups"]}
    legacy = d.api_resource_list(registry, "stable.example.com", "v1")
    assert legacy is not None
    assert [r["name"] for r in legacy["resources"]] == ["crontabs", "crontabs/status"]
    items = {i["metadata"]["name"]: i for i in d.aggregated_discovery(registry, False)["items"]}
    crontabs = items["stable.example.com"]["versions"][0]["resources"][0]
    assert crontabs["shortNames"] == ["ct"]


@pytest.mark.parametrize(("accept", "expected"), [
    (KUBECTL_ACCEPT, True),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", True),
    ("application/json", False),
    ("", False),
    (None, False),
    ("*/*", False),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", False),
    # protobuf is not served: skip it and take the next acceptable entry
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json", True),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     "application/json", False),
    # q-values order preferences
    ("application/json;q=0.5, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", True),
    ("application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5", False),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0", False),
])
def test_wants_aggregated(accept: str | None, expected: bool) -> None:
    assert d.wants_aggregated(accept) is expected


def test_content_type_is_exactly_what_client_go_matches() -> None:
    assert d.AGGREGATED_CONTENT_TYPE == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_storage_version_hash_is_stable_and_distinct() -> None:
    pods, nodes = Registry().lookup("pods"), Registry().lookup("nodes")
    assert pods is not None and nodes is not None
    assert d.storage_version_hash(pods) == d.storage_version_hash(pods)
    assert d.storage_version_hash(pods) != d.storage_version_hash(nodes)


def test_document_cache_rebuilds_only_when_the_generation_changes(registry: Registry) -> None:
    calls: list[str] = []

    def builder(reg: Registry, group: str) -> dict | None:
        calls.append(group)
        return d.api_group(reg, group)

    cache = d.DocumentCache()
    first = cache.json(1, builder, registry, "apps")
    assert first is not None and orjson.loads(first)["name"] == "apps"
    assert cache.json(1, builder, registry, "apps") is first
    assert cache.json(1, builder, registry, "nope") is None
    assert cache.json(1, builder, registry, "nope") is None
    assert calls == ["apps", "nope"]
    registry.add(CRONTAB)
    assert cache.json(2, builder, registry, "stable.example.com") is not None
    assert cache.json(2, builder, registry, "apps") == first
    assert calls == ["apps", "nope", "stable.example.com", "apps"]
