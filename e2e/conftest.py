"""Fixtures for end-to-end tests: a real `mizzen` cluster driven by the real kubectl."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing import Cluster


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One API server (no controllers, no nodes) shared by a session's API tests."""
    with Cluster.start(tmp_path_factory.mktemp("apiserver"), command="apiserver") as c:
        yield c


@pytest.fixture()
def fresh_apiserver(tmp_path: Path) -> Iterator[Cluster]:
    with Cluster.start(tmp_path, command="apiserver") as c:
        yield c
