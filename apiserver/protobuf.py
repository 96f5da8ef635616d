"""Kubernetes protobuf request bodies, decoded into the JSON form of the object.

kubectl's generators (`create deployment|configmap|secret|namespace|...`, `create token`,
`autoscale`, `auth can-i`, `auth whoami`) send built-in objects only as
`application/vnd.kubernetes.protobuf` and never fall back to JSON, so the API server must read
them. A body is the 4-byte magic `k8s\\0` followed by a `runtime.Unknown` envelope
(typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3, contentType=4) whose `raw` holds
the object's own message. The object becomes the dict its JSON form would be: camelCase names,
`apiVersion`/`kind` from the envelope, zero values omitted where Go's `omitempty` omits them
and kept where Go keeps them (pointers such as `spec.replicas: 0`, fields without omitempty),
`inline` members flattened, and the well-known types (Time, MicroTime, Duration, Quantity,
IntOrString, RawExtension, FieldsV1) written as Kubernetes writes them in JSON.

The field tables live in `apiserver/protobuf_schema.py` (data in `protobuf_schema.json`).

This module must never crash on unknown input: unknown field numbers are skipped, wire-type
mismatches and truncated data are `BadRequest`s, kinds without a table are
`UnsupportedMediaType`. It never encodes: answers stay JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import orjson

from apimachinery.errors import BadRequest, UnsupportedMediaType
from apiserver.protobuf_schema import Field, Schema, load

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_TIME, _MICROTIME, _DURATION, _FIELDS_V1 = _META + "Time", _META + "MicroTime", _META + "Duration", _META + "FieldsV1"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class WireError(ValueError):
    """Malformed protobuf wire data (the message is what gogo-protobuf would say)."""


# ---------------------------------------------------------------------------- wire format


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at `pos` and the position after it."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("unexpected EOF")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("proto: integer overflow")


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of one message, in wire order: an int
    for varints, the raw 8 or 4 bytes for fixed-width fields, the payload of length-delimited
    ones. Groups (wire types 3/4) are not used by Kubernetes and are refused."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number <= 0:
            raise WireError(f"proto: illegal tag {number} (wire type {wire})")
        value: int | bytes
        if wire == _VARINT:
            value, pos = read_varint(buf, pos)
        elif wire == _LEN:
            n, pos = read_varint(buf, pos)
            if pos + n > end:
                raise WireError("unexpected EOF")
            value = buf[pos:pos + n]
            pos += n
        elif wire == _I64:
            if pos + 8 > end:
                raise WireError("unexpected EOF")
            value = buf[pos:pos + 8]
            pos += 8
        elif wire == _I32:
            if pos + 4 > end:
                raise WireError("unexpected EOF")
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise WireError(f"proto: illegal wireType {wire}")
        yield number, wire, value


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _zigzag(v: int) -> int:
    return (v >> 1) ^ -(v & 1)


def _scalar(f: Field, wire: int, value: int | bytes) -> Any:
    """A scalar of type `f.type` from one wire value (packed repeated values are split by the
    caller)."""
    t = f.type
    if t in ("string", "bytes"):
        if wire != _LEN:
            raise WireError(f"proto: wrong wireType = {wire} for field {f.json or f.proto}")
        assert isinstance(value, bytes)
        if t == "bytes":
            return base64.b64encode(value).decode()
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise WireError(f"proto: field {f.json or f.proto} contains invalid UTF-8") from None
    if t in ("int32", "int64", "uint32", "uint64", "bool", "sint32", "sint64", "enum"):
        if wire != _VARINT:
            raise WireError(f"proto: wrong wireType = {wire} for field {f.json or f.proto}")
        assert isinstance(value, int)
        if t == "bool":
            return value != 0
        if t in ("sint32", "sint64"):
            return _zigzag(value)
        if t in ("uint32", "uint64"):
            return value
        v = _signed64(value)
        if t == "int32":
            v = ((v + (1 << 31)) % (1 << 32)) - (1 << 31)
        return v
    if t in ("double", "fixed64", "sfixed64"):
        if wire != _I64:
            raise WireError(f"proto: wrong wireType = {wire} for field {f.json or f.proto}")
        assert isinstance(value, bytes)
        return struct.unpack("<" + {"double": "d", "fixed64": "Q", "sfixed64": "q"}[t], value)[0]
    if t in ("float", "fixed32", "sfixed32"):
        if wire != _I32:
            raise WireError(f"proto: wrong wireType = {wire} for field {f.json or f.proto}")
        assert isinstance(value, bytes)
        return struct.unpack("<" + {"float": "f", "fixed32": "I", "sfixed32": "i"}[t], value)[0]
    raise WireError(f"proto: unsupported field type {t}")


_PACKABLE = {"int32": _VARINT, "int64": _VARINT, "uint32": _VARINT, "uint64": _VARINT, "bool": _VARINT,
             "sint32": _VARINT, "sint64": _VARINT, "enum": _VARINT, "double": _I64, "fixed64": _I64,
             "sfixed64": _I64, "float": _I32, "fixed32": _I32, "sfixed32": _I32}


def _unpack(f: Field, payload: bytes) -> list[Any]:
    """The values of a packed repeated scalar field."""
    wire = _PACKABLE[f.type]
    out: list[Any] = []
    pos = 0
    while pos < len(payload):
        if wire == _VARINT:
            v, pos = read_varint(payload, pos)
            out.append(_scalar(f, wire, v))
        else:
            size = 8 if wire == _I64 else 4
            if pos + size > len(payload):
                raise WireError("unexpected EOF")
            out.append(_scalar(f, wire, payload[pos:pos + size]))
            pos += size
    return out


# ---------------------------------------------------------------------------- well-known types


def go_duration(nanos: int) -> str:
    """Go's time.Duration.String(): "1h2m3s", "1.5s", "300ms", "0s"."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    u = abs(nanos)
    if u < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if u >= size:
                return sign + _frac(u, size) + unit
    h, rem = divmod(u, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    s = _frac(rem, 1_000_000_000) + "s"
    if h:
        return f"{sign}{h}h{m}m{s}"
    if m:
        return f"{sign}{m}m{s}"
    return sign + s


def _frac(v: int, unit: int) -> str:
    whole, frac = divmod(v, unit)
    if not frac:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{frac:0{digits}d}".rstrip("0")


def _time(payload: bytes, micro: bool) -> str | None:
    seconds = nanos = 0
    for number, wire, value in iter_fields(payload):
        if wire != _VARINT:
            continue
        assert isinstance(value, int)
        if number == 1:
            seconds = _signed64(value)
        elif number == 2:
            nanos = _signed64(value)
    if seconds == 0 and nanos == 0:
        return None
    t = _EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
    if micro:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(payload: bytes) -> int | str:
    kind = 0
    int_val = 0
    str_val = ""
    for number, wire, value in iter_fields(payload):
        if number == 1 and wire == _VARINT:
            assert isinstance(value, int)
            kind = value
        elif number == 2 and wire == _VARINT:
            assert isinstance(value, int)
            int_val = ((_signed64(value) + (1 << 31)) % (1 << 32)) - (1 << 31)
        elif number == 3 and wire == _LEN:
            assert isinstance(value, bytes)
            str_val = value.decode(errors="replace")
    return str_val if kind == 1 else int_val


def _string_field(payload: bytes, number_wanted: int = 1) -> str:
    out = ""
    for number, wire, value in iter_fields(payload):
        if number == number_wanted and wire == _LEN:
            assert isinstance(value, bytes)
            out = value.decode(errors="replace")
    return out


def _raw_json(payload: bytes) -> Any:
    raw = b""
    for number, wire, value in iter_fields(payload):
        if number == 1 and wire == _LEN:
            assert isinstance(value, bytes)
            raw = value
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WireError("raw data is not JSON") from None


# ---------------------------------------------------------------------------- messages


def _is_zero(v: Any) -> bool:
    return v is None or v == "" or v is False or (isinstance(v, int | float) and not isinstance(v, bool) and v == 0)


def _special(type_name: str, payload: bytes) -> tuple[bool, Any]:
    """(handled, value) for the types whose JSON form is not an object."""
    if type_name == _TIME:
        return True, _time(payload, micro=False)
    if type_name == _MICROTIME:
        return True, _time(payload, micro=True)
    if type_name == _QUANTITY:
        return True, _string_field(payload)
    if type_name == _INT_OR_STRING:
        return True, _int_or_string(payload)
    if type_name == _DURATION:
        n = 0
        for number, wire, value in iter_fields(payload):
            if number == 1 and wire == _VARINT:
                assert isinstance(value, int)
                n = _signed64(value)
        return True, go_duration(n)
    if type_name in (_FIELDS_V1, _RAW_EXTENSION):
        return True, _raw_json(payload)
    return False, None


def _message_value(schema: Schema, type_name: str, payload: bytes, depth: int) -> Any:
    handled, v = _special(type_name, payload)
    if handled:
        return v
    msg = schema.messages.get(type_name)
    if msg is None:
        # A message we have no table for: keep nothing rather than guess.
        return {}
    if msg.list_of is not None:
        # Go slice types (ExtraValue, Verbs) wrapped as {repeated items = 1}.
        return _message(schema, type_name, payload, depth).get("items", [])
    return _message(schema, type_name, payload, depth)


def _map_entry(schema: Schema, f: Field, payload: bytes, depth: int) -> tuple[Any, Any]:
    assert f.map is not None
    key_type, value_type, value_ref = f.map
    key: Any = "" if key_type == "string" else 0
    value: Any = None
    kf = Field(1, "key", "key", key_type, "", None, None)
    vf = Field(2, "value", "value", value_type, "", value_ref, None)
    for number, wire, raw in iter_fields(payload):
        if number == 1:
            key = _scalar(kf, wire, raw)
        elif number == 2:
            if value_type == "message":
                if wire != _LEN:
                    raise WireError(f"proto: wrong wireType = {wire} for field {f.json}")
                assert isinstance(raw, bytes) and value_ref is not None
                value = _message_value(schema, value_ref, raw, depth + 1)
            else:
                value = _scalar(vf, wire, raw)
    if value is None:
        if value_type == "message":
            assert value_ref is not None
            value = _message_value(schema, value_ref, b"", depth + 1)
        elif value_type in ("string", "bytes"):
            value = ""
        elif value_type == "bool":
            value = False
        else:
            value = 0
    return (str(key) if not isinstance(key, str) else key), value


def _message(schema: Schema, type_name: str, payload: bytes, depth: int = 0) -> dict[str, Any]:
    """The JSON dict of one message of type `type_name` (full protobuf name)."""
    if depth > 100:
        raise WireError("proto: message nested too deeply")
    msg = schema.messages[type_name]
    out: dict[str, Any] = {}
    for number, wire, value in iter_fields(payload):
        f = msg.fields.get(number)
        if f is None:
            continue  # a field newer than our table: skipped like Go skips it
        if f.map is not None:
            if wire != _LEN:
                raise WireError(f"proto: wrong wireType = {wire} for field {f.json}")
            assert isinstance(value, bytes)
            k, v = _map_entry(schema, f, value, depth)
            out.setdefault(f.json, {})[k] = v
            continue
        if f.type == "message":
            if wire != _LEN:
                raise WireError(f"proto: wrong wireType = {wire} for field {f.json or f.proto}")
            assert isinstance(value, bytes) and f.ref is not None
            v = _message_value(schema, f.ref, value, depth + 1)
            if f.repeated:
                out.setdefault(f.json, []).append(v)
            elif f.inline and isinstance(v, dict):
                out.update(v)
            elif v is None or (_is_zero(v) and not f.pointer and f.ref in (_INT_OR_STRING, _QUANTITY)):
                # zero Time (Go writes null), unset IntOrString/Quantity struct: nothing to say
                out.pop(f.json, None)
            else:
                out[f.json] = v
            continue
        if f.repeated:
            if wire == _LEN and f.type in _PACKABLE:
                assert isinstance(value, bytes)
                out.setdefault(f.json, []).extend(_unpack(f, value))
            else:
                out.setdefault(f.json, []).append(_scalar(f, wire, value))
            continue
        v = _scalar(f, wire, value)
        if _is_zero(v) and f.omitempty and not f.pointer:
            out.pop(f.json, None)
        else:
            out[f.json] = v
    return out


def decode_message(type_name: str, payload: bytes, schema: Schema | None = None) -> dict[str, Any]:
    """The JSON dict of a bare message (no envelope) of the given full protobuf type name,
    e.g. `k8s.io.api.apps.v1.Deployment`. Raises WireError on malformed data, KeyError for a
    type without a table."""
    schema = schema or load()
    if type_name not in schema.messages:
        raise KeyError(type_name)
    return _message(schema, type_name, payload)


def unwrap(body: bytes) -> tuple[str, str, bytes, str, str]:
    """The envelope of a protobuf body: (apiVersion, kind, raw, contentEncoding, contentType)."""
    if not body.startswith(MAGIC):
        prefix = " ".join(str(b) for b in MAGIC)
        raise WireError(f"provided data does not appear to be a protobuf message, expected prefix [{prefix}]")
    api_version = kind = content_encoding = content_type = ""
    raw = b""
    for number, wire, value in iter_fields(body[len(MAGIC):]):
        if wire != _LEN:
            continue
        assert isinstance(value, bytes)
        if number == 1:
            for n2, w2, v2 in iter_fields(value):
                if w2 == _LEN and n2 in (1, 2):
                    assert isinstance(v2, bytes)
                    if n2 == 1:
                        api_version = v2.decode(errors="replace")
                    else:
                        kind = v2.decode(errors="replace")
        elif number == 2:
            raw = value
        elif number == 3:
            content_encoding = value.decode(errors="replace")
        elif number == 4:
            content_type = value.decode(errors="replace")
    return api_version, kind, raw, content_encoding, content_type


def _summary(data: bytes, limit: int = 30) -> str:
    """How Kubernetes quotes an undecodable body in its message (summarizeData)."""
    if not data:
        return "<empty>"
    if data[:1] == b"{":
        return data[:limit].decode(errors="replace") + (" ..." if len(data) > limit else "")
    return data[:limit].hex() + (" ..." if len(data) > limit else "")


def decode_object(body: bytes, expected_kind: str = "") -> dict[str, Any]:
    """The JSON-form dict of a `application/vnd.kubernetes.protobuf` request body.

    `expected_kind` is the kind of the resource the request was sent to (`Deployment`), used
    only in error messages. BadRequest for malformed data with Kubernetes' wording
    (transformDecodeError), UnsupportedMediaType for a kind without a protobuf table here
    (custom resources have no protobuf form in Kubernetes either)."""
    def unrecognized(err: object) -> BadRequest:
        of_type = f" (must be of type {expected_kind})" if expected_kind else ""
        return BadRequest(f"the object provided is unrecognized{of_type}: {err} ({_summary(body)})")

    try:
        api_version, kind, raw, encoding, inner_type = unwrap(body)
    except WireError as e:
        raise unrecognized(e) from None
    if not kind or not api_version:
        type_meta = f'runtime.TypeMeta{{APIVersion:{json.dumps(api_version)}, Kind:{json.dumps(kind)}}}'
        what = "Kind" if not kind else "apiVersion"
        raise unrecognized(f"Object '{what}' is missing in '{type_meta}'")
    group, _, version = api_version.rpartition("/")

    def bad(err: object) -> BadRequest:
        return BadRequest(f'{kind} in version "{version}" cannot be handled as a {expected_kind or kind}: {err}')

    if encoding:
        if encoding != "gzip":
            raise bad(f"unsupported content encoding {encoding!r}")
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise bad(e) from None
    if inner_type and inner_type.split(";")[0].strip() == "application/json":
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise bad(e) from None
        if not isinstance(obj, dict):
            raise bad("object is not a JSON object")
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind)
        return obj
    schema = load()
    type_name = schema.type_for(group, version, kind)
    if type_name is None:
        raise UnsupportedMediaType(MEDIA_TYPE)
    try:
        fields = _message(schema, type_name, raw)
    except WireError as e:
        raise bad(e) from None
    obj = {"kind": kind, "apiVersion": api_version}
    obj.update(fields)
    return obj
