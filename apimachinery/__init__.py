"""Shared by every mizzen component: API object helpers, selectors, patches, Status errors,
the resource table, and the client machinery (REST client, informers, work queue).

It must never import apiserver, controllers, kubelet or mizzen (import-linter enforces it)."""
