"""Patch algorithms of the Kubernetes API: JSON patch (RFC 6902), JSON merge patch (RFC 7386)
and strategic merge patch, with the errors Kubernetes answers when a patch does not apply.

The API server calls `json_patch.apply`, `merge_patch.apply` or `strategic.apply` on the stored
object and the request body, and sends any `PatchError` as it is (it is a Status error with
Kubernetes' code, reason and message). Clients and controllers use `merge_patch.create` and
`strategic.create` to compute patches.

Nothing here does I/O, and no function ever mutates its arguments: each returns a new document."""

from __future__ import annotations

from typing import Any

from apimachinery.errors import StatusError

__all__ = ["PatchError", "bad_request", "go_type", "go_v", "server_error", "unprocessable"]

REJECTED = "the server rejected our request due to an error in our request"


class PatchError(StatusError):
    """A patch that does not apply. `detail` is the patch library's own message (what
    Kubernetes puts in the Status' `details.causes[0].message` for 422 answers)."""

    detail: str = ""


def _error(code: int, reason: str, message: str, detail: str, details: dict[str, Any] | None = None) -> PatchError:
    err = PatchError(code, reason, message, details)
    err.detail = detail
    return err


def bad_request(message: str) -> PatchError:
    """400 BadRequest: a malformed patch document."""
    return _error(400, "BadRequest", message, message)


def unprocessable(detail: str) -> PatchError:
    """422 Invalid, as Kubernetes' NewGenericServerResponse builds it for patches that cannot be
    applied (a failed JSON patch `test`, a missing path ...)."""
    return _error(422, "Invalid", REJECTED, detail,
                  {"causes": [{"reason": "UnexpectedServerResponse", "message": detail}]})


def server_error(message: str) -> PatchError:
    """500 with an empty reason: what Kubernetes answers for the other strategic-merge-patch
    failures (kubectl prints `Error from server: <message>`)."""
    return _error(500, "", message, message)


def go_v(value: Any) -> str:
    """Go's `%v` of a decoded JSON value, for messages that quote patch content."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**21 else go_v(float(value))
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        text = repr(value)
        if "e" in text:
            mant, exp = text.split("e")
            sign = exp[0] if exp[0] in "+-" else "+"
            digits = exp.lstrip("+-").rjust(2, "0")
            text = f"{mant}e{sign}{digits}"
        return text
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_v(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_v(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def go_type(value: Any) -> str:
    """Go's reflect type name of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def json_kind(value: Any) -> str:
    """The JSON type of a value, telling booleans from numbers (Python does not)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_equal(a: Any, b: Any) -> bool:
    """Deep equality of JSON values (1 == 1.0, but True != 1)."""
    ka, kb = json_kind(a), json_kind(b)
    if ka != kb:
        return False
    if ka == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if ka == "array":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def deep_copy(value: Any) -> Any:
    """A copy of a decoded JSON document (much faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [deep_copy(v) for v in value]
    return value
