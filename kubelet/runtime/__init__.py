"""The kubelet's container runtime: shims, namespaces, cgroups, overlayfs roots.

See ``runtime.py`` for the interface the pod workers use.  Nothing here talks to the API
server, and nothing here may block an event loop (coroutines run blocking work in threads).
"""

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
    "ContainerHandle", "ContainerNotFound", "ContainerRuntime", "ContainerSpec", "ContainerStatus", "CreateContainerError", "ExecProcess",
    "ExecResult", "ImageNotPresent", "Mount", "Runtime", "ContainerRuntimeError", "SecurityContext",
    "StartFailed", "merge_image_config",
]
