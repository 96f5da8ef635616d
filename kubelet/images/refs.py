"""Image reference normalisation, as docker and Kubernetes spell references.

Why: a pod says ``busybox``; the store, ``imageID`` and ``mizzen image ls`` say
``docker.io/library/busybox:latest``.  Both must mean the same image, so every reference is
normalised once, here, with the rules of docker's reference package.

What it must never do: touch the disk or the network.  Pure functions only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


class InvalidReference(ValueError):
    """The reference cannot be parsed (message as docker's: ``invalid reference format``)."""


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    def familiar(self) -> str:
        """The short form users type: ``busybox:latest``, ``user/app:v1``."""
        path = self.path
        if self.domain == DEFAULT_DOMAIN and path.startswith(OFFICIAL_PREFIX):
            path = path[len(OFFICIAL_PREFIX):]
        s = path if self.domain == DEFAULT_DOMAIN else f"{self.domain}/{path}"
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def parse(ref: str) -> Reference:
    """Normalise ``ref``: ``busybox`` -> ``docker.io/library/busybox:latest``.

    A digest-only reference keeps no tag; a reference without tag or digest gets ``latest``.
    """
    if not ref or ref != ref.strip():
        raise InvalidReference(f"invalid reference format: {ref!r}")
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise InvalidReference(f"invalid reference format: {ref!r}")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.match(tag):
            raise InvalidReference(f"invalid reference format: {ref!r}")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, remainder
    else:
        domain, path = DEFAULT_DOMAIN, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if path != path.lower():
        raise InvalidReference(f"invalid reference format: repository name (library/{path}) "
                               "must be lowercase" if domain == DEFAULT_DOMAIN else
                               f"invalid reference format: repository name must be lowercase: {ref!r}")
    if not all(_COMPONENT.match(c) for c in path.split("/")):
        raise InvalidReference(f"invalid reference format: {ref!r}")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(domain, path, tag, digest)


def normalize(ref: str) -> str:
    return str(parse(ref))
