"""The ServiceAccount controller's I/O: informers on Namespaces and ServiceAccounts feed
namespace keys to a work queue; `reconcile` creates the `default` ServiceAccount of an active
namespace when the cache has none (again after someone deletes it).

It never updates or deletes a ServiceAccount, and never creates one in a namespace being
deleted (the API server would refuse it, and the namespace controller is emptying it)."""

from __future__ import annotations

import logging

from apimachinery.client.workqueue import Result
from apimachinery.errors import AlreadyExists, NotFound, StatusError
from controllers import podutil
from controllers.base import NAMESPACES, Controller, ControllerContext, res
from controllers.podutil import Obj
from controllers.serviceaccount import decisions

log = logging.getLogger(__name__)

SERVICEACCOUNTS = res("serviceaccounts")


class ServiceAccountController(Controller):
    name = "serviceaccount"

    def __init__(self, ctx: ControllerContext, names: tuple[str, ...] = decisions.DEFAULT_SERVICE_ACCOUNTS):
        super().__init__(ctx)
        self.names = names
        self.ns_informer = ctx.informer(NAMESPACES)
        self.sa_informer = ctx.informer(SERVICEACCOUNTS)
        self.ns_informer.add_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))
        self.sa_informer.add_handler(on_delete=self._sa_deleted)

    def _sa_deleted(self, sa: Obj) -> None:
        if podutil.name_of(sa) in self.names:
            self.queue.add(podutil.namespace_of(sa))

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        ns = self.ns_informer.store.get(key)
        existing = {n for n in self.names if self.sa_informer.store.get(f"{key}/{n}") is not None}
        for name in decisions.missing_service_accounts(ns, existing, self.names):
            try:
                await self.client.create(SERVICEACCOUNTS, decisions.new_service_account(key, name), key)
            except (AlreadyExists, NotFound):
                continue  # created meanwhile, or the namespace is gone
            except StatusError as e:
                if e.reason == "Forbidden" and "terminat" in str(e):
                    continue  # the namespace began terminating
                raise
        return None
