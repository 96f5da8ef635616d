"""Pure decisions of the ServiceAccount controller, after Kubernetes'
pkg/controller/serviceaccount (serviceaccounts_controller.go). No I/O.

Kubernetes ensures the ServiceAccounts named in `--service-account-names` (by default only
`default`) exist in every namespace that is not terminating; it never updates or deletes one."""

from __future__ import annotations

from controllers import podutil
from controllers.podutil import Obj

DEFAULT_SERVICE_ACCOUNTS = ("default",)


def namespace_active(ns: Obj | None) -> bool:
    """A namespace that exists and is not being deleted (phase Terminating or a
    deletionTimestamp): only those get ServiceAccounts."""
    if ns is None or podutil.is_deleting(ns):
        return False
    return (ns.get("status") or {}).get("phase") != "Terminating"


def missing_service_accounts(ns: Obj | None, existing: set[str],
                             wanted: tuple[str, ...] = DEFAULT_SERVICE_ACCOUNTS) -> list[str]:
    """Names of the ServiceAccounts to create in `ns`, given the names that exist there.

    >>> missing_service_accounts({"metadata": {"name": "x"}}, set())
    ['default']"""
    if not namespace_active(ns):
        return []
    return [n for n in wanted if n not in existing]


def new_service_account(namespace: str, name: str) -> Obj:
    """The object Kubernetes creates: a name and nothing else."""
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}
