"""Informers: the indexed Store (pure), and list+watch against the real mizzen API server,
including an API server restart in the middle (nothing missed). Transport corner cases
(410 re-list, dropped streams) are in test_client_transport.py."""

# ruff: noqa: F811  (fixtures imported from client_cluster are redefined as parameters)
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from client_cluster import api, cluster, namespace  # noqa: F401

from apimachinery.client.informer import (
    INDEX_CONTROLLER_UID,
    INDEX_LABEL,
    INDEX_NAMESPACE,
    INDEX_NODE_NAME,
    INDEX_OWNER_UID,
    Informer,
    InformerFactory,
    Store,
    copy_object,
    enqueue_key,
    meta_namespace_key,
    split_key,
)
from apimachinery.client.rest import ApiClient
from apimachinery.client.workqueue import WorkQueue
from apimachinery.metrics import Registry
from mizzen.testing import Cluster


def pod(name: str, ns: str = "default", node: str | None = None, labels: dict[str, str] | None = None,
        owners: list[dict[str, Any]] | None = None, rv: str = "1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}, "resourceVersion": rv}
    if owners:
        meta["ownerReferences"] = owners
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def owner(uid: str, controller: bool = True) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"rs-{uid}", "uid": uid, "controller": controller}


# -- keys and the Store (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(("obj", "key"), [
    (pod("a", "ns1"), "ns1/a"),
    ({"metadata": {"name": "node-1"}}, "node-1"),
])
def test_keys(obj: dict[str, Any], key: str) -> None:
    assert meta_namespace_key(obj) == key
    ns, name = split_key(key)
    assert (ns, name) == (obj["metadata"].get("namespace"), obj["metadata"]["name"])


STORE_OBJECTS = [
    pod("a", "ns1", node="n1", labels={"app": "web"}, owners=[owner("rs1")]),
    pod("b", "ns1", node="n2", labels={"app": "web", "tier": "fe"}, owners=[owner("rs1"), owner("x", False)]),
    pod("c", "ns2", labels={"app": "db"}, owners=[owner("rs2", controller=False)]),
]


@pytest.mark.parametrize(("index", "value", "keys"), [
    (INDEX_NAMESPACE, "ns1", {"ns1/a", "ns1/b"}),
    (INDEX_NAMESPACE, "ns3", set()),
    (INDEX_CONTROLLER_UID, "rs1", {"ns1/a", "ns1/b"}),
    (INDEX_CONTROLLER_UID, "rs2", set()),  # not a controller reference
    (INDEX_OWNER_UID, "rs2", {"ns2/c"}),
    (INDEX_OWNER_UID, "x", {"ns1/b"}),
    (INDEX_NODE_NAME, "n2", {"ns1/b"}),
    (INDEX_LABEL, "app=web", {"ns1/a", "ns1/b"}),
    (INDEX_LABEL, "tier=fe", {"ns1/b"}),
])
def test_store_indexes(index: str, value: str, keys: set[str]) -> None:
    store = Store()
    for obj in STORE_OBJECTS:
        store._put(meta_namespace_key(obj), obj)
    assert store.index_keys(index, value) == keys
    assert {meta_namespace_key(o) for o in store.by_index(index, value)} == keys


def test_store_updates_and_removals_move_index_entries() -> None:
    store = Store()
    store._put("ns1/a", pod("a", "ns1", node="n1", labels={"app": "web"}))
    store._put("ns1/a", pod("a", "ns1", node="n2", labels={"app": "api"}))
    assert store.index_keys(INDEX_NODE_NAME, "n1") == set()
    assert store.index_keys(INDEX_NODE_NAME, "n2") == {"ns1/a"}
    assert store.index_keys(INDEX_LABEL, "app=web") == set()
    store._remove("ns1/a")
    assert store.index_keys(INDEX_LABEL, "app=api") == set()
    assert len(store) == 0 and store.get("ns1/a") is None
    with pytest.raises(KeyError):
        store.by_index("nope", "x")


def test_store_update_changing_some_labels_keeps_the_others() -> None:
    store = Store()
    store._put("ns1/a", pod("a", "ns1", labels={"app": "web", "v": "1"}))
    store._put("ns1/b", pod("b", "ns1", labels={"app": "web", "v": "1"}))
    store._put("ns1/a", pod("a", "ns1", labels={"app": "web", "v": "2"}))
    assert store.index_keys(INDEX_LABEL, "app=web") == {"ns1/a", "ns1/b"}
    assert store.index_keys(INDEX_LABEL, "v=1") == {"ns1/b"}
    assert store.index_keys(INDEX_LABEL, "v=2") == {"ns1/a"}
    store._remove("ns1/b")
    assert store.index_keys(INDEX_LABEL, "v=1") == set()
    assert store.index_keys(INDEX_NAMESPACE, "ns1") == {"ns1/a"}


def test_custom_indexer_on_existing_objects() -> None:
    store = Store(indexers={})
    store._put("ns1/a", pod("a", "ns1", labels={"app": "web"}))
    store.add_indexer("app", lambda o: [o["metadata"]["labels"].get("app", "")])
    assert store.by_index("app", "web")[0]["metadata"]["name"] == "a"
    assert store.get_object("ns1", "a") is store.get("ns1/a")


def test_copy_object_is_deep() -> None:
    original = pod("a", labels={"app": "web"})
    copy = copy_object(original)
    copy["metadata"]["labels"]["app"] = "changed"
    assert original["metadata"]["labels"]["app"] == "web"


# -- against the real API server --------------------------------------------------------------------


async def eventually(check: Callable[[], bool], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition never became true")
        await asyncio.sleep(0.02)


def track(inf: Informer) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    inf.add_handler(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                    on_update=lambda old, new: seen.append(("update", new["metadata"]["name"])),
                    on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    return seen


async def test_informer_syncs_then_follows_changes_with_indexes(api: ApiClient, namespace: str) -> None:
    await api.create("pods", pod("p1", namespace, node="node-1", labels={"app": "web"}), namespace)
    inf = Informer(api, "pods", namespace)
    seen = track(inf)
    inf.start()
    try:
        assert await inf.wait_synced(10)
        assert inf.has_synced and seen == [("add", "p1")]
        assert inf.store.get(f"{namespace}/p1")["kind"] == "Pod"
        await api.create("pods", pod("p2", namespace, node="node-2", labels={"app": "web"}), namespace)
        await api.patch("pods", "p1", {"metadata": {"labels": {"app": "api"}}}, namespace=namespace)
        await api.delete("pods", "p2", namespace, grace_period_seconds=0)
        await eventually(lambda: len(seen) >= 4 and f"{namespace}/p2" not in inf.store)
        assert [s for s in seen if s[1] == "p2"][0] == ("add", "p2") and seen[-1] == ("delete", "p2")
        assert ("update", "p1") in seen
        assert [o["metadata"]["name"] for o in inf.store.by_index(INDEX_LABEL, "app=api")] == ["p1"]
        assert inf.store.by_index(INDEX_NODE_NAME, "node-2") == []
        assert [o["metadata"]["name"] for o in inf.store.by_index(INDEX_NAMESPACE, namespace)] == ["p1"]
    finally:
        await inf.stop()


async def test_label_selected_informer_and_late_handler_replay(api: ApiClient, namespace: str) -> None:
    for name, app in (("a", "web"), ("b", "db")):
        await api.create("configmaps", {"metadata": {"name": name, "labels": {"app": app}}}, namespace)
    inf = Informer(api, "configmaps", namespace, label_selector="app=web")
    inf.start()
    try:
        assert await inf.wait_synced(10)
        assert inf.store.keys() == [f"{namespace}/a"]
        queue = WorkQueue("late", registry=Registry())
        inf.add_handler(**enqueue_key(queue.add))  # added after sync: replayed as adds
        assert len(queue) == 1 and await queue.get() == f"{namespace}/a"
    finally:
        await inf.stop()


async def test_factory_shares_one_informer_per_resource(api: ApiClient, namespace: str) -> None:
    factory = InformerFactory(api)
    a = factory.informer("pods", namespace)
    assert factory.informer("po", namespace) is a
    assert factory.informer("pods", namespace, label_selector="x=y") is not a
    factory.start()
    try:
        assert await factory.wait_synced(10)
    finally:
        await factory.stop()


async def test_informer_survives_an_api_server_restart(tmp_path: Path) -> None:
    c = Cluster.launch(tmp_path, command="apiserver")
    port = c.server.rsplit(":", 1)[1]
    try:
        async with ApiClient.from_kubeconfig(str(c.kubeconfig)) as client:
            await client.create("configmaps", {"metadata": {"name": "before"}}, "default")
            await client.create("configmaps", {"metadata": {"name": "doomed"}}, "default")
            inf = Informer(client, "configmaps", "default")
            seen = track(inf)
            inf.start()
            try:
                assert await inf.wait_synced(10)
                c.stop()  # the informer now fails to watch and backs off
                c = Cluster.launch(tmp_path, "--port", port, command="apiserver", data_dir=c.data_dir)
                async with ApiClient.from_kubeconfig(str(c.kubeconfig)) as other:
                    await other.create("configmaps", {"metadata": {"name": "after"}}, "default")
                    await other.delete("configmaps", "doomed", "default")
                    await other.patch("configmaps", "before", {"data": {"v": "2"}}, namespace="default")
                await eventually(lambda: "default/after" in inf.store and "default/doomed" not in inf.store
                                 and (inf.store.get("default/before") or {}).get("data") == {"v": "2"}, 30)
                assert ("delete", "doomed") in seen and ("add", "after") in seen
            finally:
                await inf.stop()
    finally:
        c.stop()

