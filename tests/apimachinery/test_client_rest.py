"""The REST client against the real mizzen API server: every verb, typed errors,
pagination, dry run, watch streams."""

# ruff: noqa: F811  (fixtures imported from client_cluster are redefined as parameters)
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client_cluster import api, cluster, namespace  # noqa: F401

from apimachinery import errors
from apimachinery.client.rest import ApiClient


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data}


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


async def test_create_get_replace_patch_delete(api: ApiClient, namespace: str) -> None:
    created = await api.create("configmaps", cm("a", {"app": "web"}, k="v"), namespace)
    assert created["metadata"]["namespace"] == namespace and created["metadata"]["uid"]
    got = await api.get("configmaps", "a", namespace)
    assert got["data"] == {"k": "v"}
    got["data"]["k"] = "v2"
    replaced = await api.replace("configmaps", got)
    assert replaced["data"] == {"k": "v2"}
    assert int(replaced["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    patched = await api.patch("configmaps", "a", {"data": {"n": "1"}}, namespace=namespace)
    assert patched["data"] == {"k": "v2", "n": "1"}
    await api.delete("configmaps", "a", namespace)
    with pytest.raises(errors.NotFound, match='configmaps "a" not found'):
        await api.get("configmaps", "a", namespace)


async def test_replace_with_a_stale_resource_version_conflicts(api: ApiClient, namespace: str) -> None:
    first = await api.create("configmaps", cm("a"), namespace)
    await api.patch("configmaps", "a", {"data": {"x": "1"}}, namespace=namespace)
    with pytest.raises(errors.Conflict) as info:
        await api.replace("configmaps", {**first, "data": {"lost": "update"}})
    assert info.value.code == 409
    assert (await api.get("configmaps", "a", namespace))["data"] == {"x": "1"}


async def test_typed_errors_for_duplicates_and_invalid_objects(api: ApiClient, namespace: str) -> None:
    await api.create("configmaps", cm("a"), namespace)
    with pytest.raises(errors.AlreadyExists):
        await api.create("configmaps", cm("a"), namespace)
    with pytest.raises(errors.Invalid) as info:
        await api.create("configmaps", cm("Not_Valid"), namespace)
    assert info.value.code == 422 and "metadata.name" in str(info.value)


async def test_status_subresource_and_patch_types(api: ApiClient, namespace: str) -> None:
    dep = await api.create("deployments", deployment("web"), namespace)
    dep["status"] = {"observedGeneration": 1, "replicas": 2}
    updated = await api.update_status("deployments", dep)
    assert updated["status"]["replicas"] == 2
    smp = await api.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "busybox:2"}]}}}}, namespace=namespace, patch_type="strategic")
    assert smp["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:2"
    jp = await api.patch("deployments", "web", [{"op": "replace", "path": "/spec/replicas", "value": 5}],
                         namespace=namespace, patch_type="json")
    assert jp["spec"]["replicas"] == 5
    applied = await api.patch("configmaps", "applied", cm("applied", k="v"), namespace=namespace,
                              patch_type="apply", field_manager="client-test")
    assert applied["data"] == {"k": "v"}


async def test_list_with_selectors_pagination_and_list_all(api: ApiClient, namespace: str) -> None:
    for i in range(5):
        await api.create("configmaps", cm(f"c{i}", {"tier": "even" if i % 2 == 0 else "odd"}), namespace)
    even = await api.list("configmaps", namespace, label_selector="tier=even")
    assert sorted(i["metadata"]["name"] for i in even["items"]) == ["c0", "c2", "c4"]
    by_name = await api.list("configmaps", namespace, field_selector="metadata.name=c3")
    assert [i["metadata"]["name"] for i in by_name["items"]] == ["c3"]
    page = await api.list("configmaps", namespace, limit=2)
    assert len(page["items"]) == 2 and page["metadata"]["continue"]
    rest = await api.list("configmaps", namespace, limit=10, continue_=page["metadata"]["continue"])
    names = [i["metadata"]["name"] for i in page["items"] + rest["items"]]
    all_ = await api.list_all("configmaps", namespace, page_size=2)
    assert sorted(i["metadata"]["name"] for i in all_["items"]) == sorted(names)
    assert {n for n in names if n.startswith("c")} == {f"c{i}" for i in range(5)}
    assert "continue" not in all_["metadata"] and all_["metadata"]["resourceVersion"]


async def test_dry_run_and_delete_collection(api: ApiClient, namespace: str) -> None:
    await api.create("configmaps", cm("ghost"), namespace, dry_run=True)
    with pytest.raises(errors.NotFound):
        await api.get("configmaps", "ghost", namespace)
    for i in range(3):
        await api.create("configmaps", cm(f"d{i}", {"batch": "x"}), namespace)
    await api.create("configmaps", cm("keep"), namespace)
    await api.delete_collection("configmaps", namespace, label_selector="batch=x")
    left = await api.list("configmaps", namespace)
    assert "keep" in [i["metadata"]["name"] for i in left["items"]]
    assert not [i for i in left["items"] if i["metadata"]["name"].startswith("d")]


async def test_delete_with_precondition_and_propagation(api: ApiClient, namespace: str) -> None:
    obj = await api.create("configmaps", cm("a"), namespace)
    with pytest.raises(errors.Conflict):
        await api.delete("configmaps", "a", namespace, preconditions={"uid": "not-the-uid"})
    await api.delete("configmaps", "a", namespace, preconditions={"uid": obj["metadata"]["uid"]},
                     propagation_policy="Background", grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await api.get("configmaps", "a", namespace)


async def test_watch_streams_changes_from_a_list_resource_version(api: ApiClient, namespace: str) -> None:
    rv = (await api.list("configmaps", namespace))["metadata"]["resourceVersion"]
    events: list[tuple[str, str]] = []

    async def consume() -> None:
        async for type_, obj in api.watch("configmaps", namespace, resource_version=rv, timeout_seconds=20):
            if type_ != "BOOKMARK":
                events.append((type_, obj["metadata"]["name"]))
            if len(events) == 3:
                return

    task = asyncio.ensure_future(consume())
    await api.create("configmaps", cm("w"), namespace)
    await api.patch("configmaps", "w", {"data": {"a": "b"}}, namespace=namespace)
    await api.delete("configmaps", "w", namespace)
    await asyncio.wait_for(task, 15)
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


async def test_raw_request_and_version(api: ApiClient) -> None:
    version = await api.server_version()
    assert version["major"] == "1"
    discovery = await api.request("GET", "/apis/apps/v1")
    assert "deployments" in [r["name"] for r in discovery["resources"]]
