"""The kubelet's container runtime: shims, namespaces, cgroups, overlayfs roots.

See ``runtime.py`` for the interface the pod workers use.  Nothing here talks to the API
server, and nothing here may block an event loop (coroutines run blocking work in threads).

The names below are imported lazily (PEP 562): the fork server imports ``shim`` alone, and
must not pay for asyncio and the image store at every kubelet start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubelet.runtime.runtime import (
        ContainerHandle,
        ContainerNotFound,
        ContainerRuntime,
        ContainerRuntimeError,
        ContainerSpec,
        ContainerStatus,
        CreateContainerError,
        ExecProcess,
        ExecResult,
        ImageNotPresent,
        Mount,
        Runtime,
        SecurityContext,
        StartFailed,
        merge_image_config,
    )

__all__ = [
    "ContainerHandle", "ContainerNotFound", "ContainerRuntime", "ContainerRuntimeError", "ContainerSpec",
    "ContainerStatus", "CreateContainerError", "ExecProcess", "ExecResult", "ImageNotPresent", "Mount",
    "Runtime", "SecurityContext", "StartFailed", "merge_image_config",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("kubelet.runtime.runtime"), name)
    raise AttributeError(f"module 'kubelet.runtime' has no attribute {name!r}")
