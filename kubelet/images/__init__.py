"""Local image store of the kubelet (see ``store``): import, list, resolve, remove, busybox.

It must never reach the network: images come from archives or are built locally.
"""

from kubelet.images.refs import InvalidReference, normalize, parse
from kubelet.images.store import Image, ImageConfig, ImageError, ImageStore

__all__ = ["Image", "ImageConfig", "ImageError", "ImageStore", "InvalidReference", "normalize", "parse"]
