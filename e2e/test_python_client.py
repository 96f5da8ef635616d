"""The official `kubernetes` Python client against mizzen: its models are strict about
types, so every answer must deserialize into them."""

from __future__ import annotations

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from mizzen.testing import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture()
def api(apiserver: Cluster) -> client.ApiClient:
    c = config.new_client_from_config(config_file=str(apiserver.kubeconfig))
    yield c
    c.close()


def _ns(core: client.CoreV1Api, name: str) -> str:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def test_version_and_discovery(api: client.ApiClient) -> None:
    v = client.VersionApi(api).get_code()
    assert v.major == "1" and v.minor == "32" and v.git_version.startswith("v1.32")
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "batch", "coordination.k8s.io", "policy", "discovery.k8s.io"} <= groups
    names = {r.name for r in client.CoreV1Api(api).get_api_resources().resources}
    assert {"pods", "pods/status", "services", "namespaces", "configmaps"} <= names


def test_crud_and_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    ns = _ns(core, "pyclient")
    for i in range(4):
        core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=f"cm{i}", labels={"idx": str(i), "even": str(i % 2 == 0).lower()}),
            data={"i": str(i)}))
    got = core.read_namespaced_config_map("cm2", ns)
    assert got.data == {"i": "2"} and got.metadata.uid and got.metadata.creation_timestamp
    evens = core.list_namespaced_config_map(ns, label_selector="even=true")
    assert [c.metadata.name for c in evens.items] == ["cm0", "cm2"]
    byname = core.list_namespaced_config_map(ns, field_selector="metadata.name=cm3")
    assert [c.metadata.name for c in byname.items] == ["cm3"]
    page = core.list_namespaced_config_map(ns, limit=3)
    assert len(page.items) == 3 and page.metadata._continue
    rest = core.list_namespaced_config_map(ns, limit=3, _continue=page.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["cm3"] and not rest.metadata._continue
    with pytest.raises(ApiException) as e:
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm0")))
    assert e.value.status == 409 and '"reason":"AlreadyExists"' in e.value.body.replace(" ", "")
    stale = core.read_namespaced_config_map("cm1", ns)
    core.patch_namespaced_config_map("cm1", ns, {"data": {"i": "changed"}})
    stale.data = {"i": "lost"}
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("cm1", ns, stale)
    assert e.value.status == 409
    assert core.read_namespaced_config_map("cm1", ns).data == {"i": "changed"}
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="busybox")]))))
    created = apps.create_namespaced_deployment(ns, dep)
    assert created.spec.strategy.type == "RollingUpdate" and created.metadata.generation == 1
    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert scale.spec.replicas == 2 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 4
    core.delete_namespaced_config_map("cm0", ns)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("cm0", ns)
    assert e.value.status == 404


def test_watch_and_resume(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    ns = _ns(core, "pywatch")
    first = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="a")))
    start_rv = first.metadata.resource_version
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="b")))
    core.patch_namespaced_config_map("a", ns, {"data": {"x": "1"}})
    core.delete_namespaced_config_map("b", ns)
    seen = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=start_rv, timeout_seconds=2):
        seen.append((ev["type"], ev["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    # resourceVersion "0": current state first, as ADDED
    w = watch.Watch()
    initial = []
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version="0", timeout_seconds=2):
        initial.append((ev["type"], ev["object"].metadata.name))
        w.stop()
    assert initial == [("ADDED", "a")]
