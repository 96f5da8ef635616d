"""Kubernetes `Status` errors, shared by the API server (which raises and serialises them)
and the client (which parses them back into the same types).

Every error the server sends is a `meta.k8s.io/v1 Status` with Kubernetes' reason and code:
kubectl prints `Error from server (<reason>): <message>` from it, and builds the
`The X "y" is invalid:` lines of 422 answers from `details.causes`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Cause:
    """One field-level problem of an Invalid error: reason is Kubernetes' FieldValueX name
    (FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueDuplicate,
    FieldValueForbidden, FieldValueTooLong ...)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class StatusError(Exception):
    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: the Status' ListMeta.continue (a 410 for a continue token too old to list consistently
    #: carries one that continues inconsistently)
    list_continue: str = ""

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {"continue": self.list_continue} if self.list_continue else {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def from_status(cls, body: dict[str, Any], code: int | None = None) -> StatusError:
        """The typed error for a Status body (used by the client)."""
        c = int(body.get("code") or code or 500)
        reason = body.get("reason") or ""
        sub = _BY_REASON.get(reason, cls)
        err = sub.__new__(sub)
        StatusError.__init__(err, c, reason, body.get("message", ""), body.get("details"))
        return err


def _details(name: str | None, group: str, kind: str, causes: list[Cause] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name is not None:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    if causes:
        d["causes"] = [c.to_dict() for c in causes]
    return d


def qualified(resource: str, group: str) -> str:
    """`deployments.apps`, or `pods` for the core group, as Kubernetes writes it in messages."""
    return f"{resource}.{group}" if group else resource


class NotFound(StatusError):
    def __init__(self, resource: str = "", name: str = "", group: str = "", message: str | None = None):
        msg = message or f'{qualified(resource, group)} "{name}" not found'
        super().__init__(404, "NotFound", msg, _details(name or None, group, resource))


class AlreadyExists(StatusError):
    def __init__(self, resource: str = "", name: str = "", group: str = "", message: str | None = None):
        msg = message or f'{qualified(resource, group)} "{name}" already exists'
        super().__init__(409, "AlreadyExists", msg, _details(name, group, resource))


class Conflict(StatusError):
    def __init__(self, resource: str = "", name: str = "", group: str = "", message: str | None = None,
                 causes: list[Cause] | None = None):
        msg = message or (
            f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again"
        )
        super().__init__(409, "Conflict", msg, _details(name, group, resource, causes))


class Invalid(StatusError):
    """422: `<Kind>.<group> "<name>" is invalid: <field>: <message>, ...`."""

    def __init__(self, kind: str = "", name: str = "", causes: list[Cause] | None = None, group: str = "",
                 message: str | None = None):
        causes = causes or []
        if message is None:
            what = f"{kind}.{group}" if group else kind
            parts = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
            if len(causes) > 1:
                parts = "[" + parts + "]"
            message = f'{what} "{name}" is invalid: {parts}'
        super().__init__(422, "Invalid", message, _details(name, group, kind, causes))


class BadRequest(StatusError):
    def __init__(self, message: str):
        super().__init__(400, "BadRequest", message)


class Unauthorized(StatusError):
    def __init__(self, message: str = "Unauthorized"):
        super().__init__(401, "Unauthorized", message)


class Forbidden(StatusError):
    def __init__(self, message: str, resource: str = "", name: str = "", group: str = ""):
        super().__init__(403, "Forbidden", message, _details(name or None, group, resource))


class MethodNotAllowed(StatusError):
    def __init__(self, message: str = "the server does not allow this method on the requested resource"):
        super().__init__(405, "MethodNotAllowed", message)


class Gone(StatusError):
    """410 Expired: the resourceVersion asked for was compacted away."""

    def __init__(self, message: str = "too old resource version"):
        super().__init__(410, "Expired", message)


class RequestEntityTooLarge(StatusError):
    def __init__(self, message: str = "Request entity too large: limit is 3145728"):
        super().__init__(413, "RequestEntityTooLarge", message)


class UnsupportedMediaType(StatusError):
    def __init__(self, content_type: str):
        super().__init__(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                         f"accepted media types include: application/json, application/yaml, "
                         f"application/vnd.kubernetes.protobuf (got {content_type})")


class NotAcceptable(StatusError):
    def __init__(self, message: str = "only the following media types are accepted: application/json"):
        super().__init__(406, "NotAcceptable", message)


class TooManyRequests(StatusError):
    def __init__(self, message: str, retry_after: int = 1, details: dict[str, Any] | None = None):
        # Kubernetes sends Retry-After only for a positive delay; client-go (kubectl) retries a
        # 429 that carries one by itself, up to 10 times, before the caller sees the error.
        super().__init__(429, "TooManyRequests", message, details,
                         {"Retry-After": str(retry_after)} if retry_after > 0 else {})


class InternalError(StatusError):
    def __init__(self, message: str):
        super().__init__(500, "InternalError", f"Internal error occurred: {message}")


class ServerTimeout(StatusError):
    """500 ServerTimeout: the operation could not be completed now (kube-apiserver's answer
    when every generated name it tried was taken)."""

    def __init__(self, kind: str, operation: str = "POST", group: str = "", retry_after: int = 0):
        target = f"{kind}.{group}" if group else kind
        super().__init__(500, "ServerTimeout", f"The {operation} operation against {target} could not be completed "
                         "at this time, please try again.", {"group": group, "kind": kind,
                                                             "retryAfterSeconds": retry_after} if group else
                         {"kind": kind, "retryAfterSeconds": retry_after})


class Timeout(StatusError):
    def __init__(self, message: str = "Timeout: request did not complete within the allowed duration"):
        super().__init__(504, "Timeout", message)


_BY_REASON: dict[str, type[StatusError]] = {
    "NotFound": NotFound,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Invalid": Invalid,
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "MethodNotAllowed": MethodNotAllowed,
    "Expired": Gone,
    "Gone": Gone,
    "RequestEntityTooLarge": RequestEntityTooLarge,
    "UnsupportedMediaType": UnsupportedMediaType,
    "TooManyRequests": TooManyRequests,
    "InternalError": InternalError,
    "Timeout": Timeout,
    "ServerTimeout": ServerTimeout,
}
