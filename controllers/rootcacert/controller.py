"""The root-ca-cert-publisher's I/O: informers on Namespaces and on the `kube-root-ca.crt`
ConfigMaps feed namespace keys to a work queue; `reconcile` creates or repairs the ConfigMap.

The CA is the one the controller manager trusts for the API server: the
`certificate-authority-data` of its kubeconfig (`ApiClient.config.ca_data`). Without a CA
(a plain-http test server) the controller publishes nothing rather than an empty bundle.
It never deletes a ConfigMap and never writes without the resourceVersion it read."""

from __future__ import annotations

import logging

from apimachinery.client.workqueue import Result
from apimachinery.errors import AlreadyExists, Conflict, NotFound, StatusError
from controllers import podutil
from controllers.base import NAMESPACES, Controller, ControllerContext, res
from controllers.podutil import Obj
from controllers.rootcacert import decisions

log = logging.getLogger(__name__)

CONFIGMAPS = res("configmaps")


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, ctx: ControllerContext, root_ca: bytes | None = None):
        super().__init__(ctx)
        ca = root_ca if root_ca is not None else ctx.client.config.ca_data
        self.root_ca: str | None = ca.decode() if ca else None
        if self.root_ca is None:
            log.warning("root-ca-cert-publisher: the client has no certificate-authority data; publishing nothing")
        self.ns_informer = ctx.informer(NAMESPACES)
        self.cm_informer = ctx.factory.informer(CONFIGMAPS, field_selector=f"metadata.name={decisions.CONFIGMAP_NAME}")
        self.ns_informer.add_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))
        self.cm_informer.add_handler(on_update=lambda old, new: self._cm_changed(new), on_delete=self._cm_changed)

    def _cm_changed(self, cm: Obj) -> None:
        if podutil.name_of(cm) == decisions.CONFIGMAP_NAME:
            self.queue.add(podutil.namespace_of(cm))

    async def reconcile(self, key: str) -> Result | None:  # type: ignore[override]
        if self.root_ca is None:
            return None
        ns = self.ns_informer.store.get(key)
        cm = self.cm_informer.store.get(f"{key}/{decisions.CONFIGMAP_NAME}")
        what, body = decisions.desired_change(ns, cm, self.root_ca)
        if body is None:
            return None
        try:
            if what == "create":
                await self.client.create(CONFIGMAPS, body, key)
            else:
                await self.client.replace(CONFIGMAPS, body, key)
        except (AlreadyExists, Conflict):
            return Result(requeue=True)  # the cache lags: decide again on the fresh object
        except NotFound:
            return None  # namespace (or ConfigMap) gone meanwhile
        except StatusError as e:
            if e.reason == "Forbidden" and "terminat" in str(e):
                return None
            raise
        return None
