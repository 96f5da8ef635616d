"""Fixtures for client tests against the REAL mizzen API server (`mizzen apiserver` in a
subprocess on 127.0.0.1, port 0, fresh data directory). Import the fixtures into a test
module: `from client_cluster import api, cluster, namespace  # noqa: F401`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from apimachinery.client.rest import ApiClient
from apimachinery.errors import StatusError
from mizzen.testing import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with Cluster.start(tmp_path_factory.mktemp("client-apiserver"), command="apiserver") as c:
        yield c


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(str(cluster.kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(api: ApiClient) -> AsyncIterator[str]:
    """A namespace of the test's own, deleted afterwards."""
    name = f"client-{uuid.uuid4().hex[:8]}"
    await api.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    try:
        await api.delete("namespaces", name)
    except StatusError:
        pass
