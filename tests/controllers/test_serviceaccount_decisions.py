"""The ServiceAccount controller's decisions: `default` in every active namespace."""

from __future__ import annotations

import pytest

from controllers.serviceaccount import decisions as sa

ACTIVE = {"metadata": {"name": "x"}, "status": {"phase": "Active"}}
TERMINATING = {"metadata": {"name": "x"}, "status": {"phase": "Terminating"}}
DELETING = {"metadata": {"name": "x", "deletionTimestamp": "2024-05-01T12:00:00Z"}, "status": {"phase": "Active"}}


@pytest.mark.parametrize(("ns", "existing", "want"), [
    (ACTIVE, set(), ["default"]),
    (ACTIVE, {"default"}, []),
    ({"metadata": {"name": "x"}}, set(), ["default"]),  # no status yet
    (TERMINATING, set(), []),
    (DELETING, set(), []),
    (None, set(), []),
])
def test_missing_service_accounts(ns: dict | None, existing: set[str], want: list[str]) -> None:
    assert sa.missing_service_accounts(ns, existing) == want


def test_several_names_and_the_object() -> None:
    assert sa.missing_service_accounts(ACTIVE, {"builder"}, ("default", "builder", "deployer")) == ["default", "deployer"]
    assert sa.new_service_account("x", "default") == {"apiVersion": "v1", "kind": "ServiceAccount",
                                                      "metadata": {"name": "default", "namespace": "x"}}
