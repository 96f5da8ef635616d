"""The table of Kubernetes' protobuf messages that `apiserver.protobuf` decodes with.

For each message of k8s.io/api and k8s.io/apimachinery (full protobuf name, e.g.
`k8s.io.api.apps.v1.DeploymentSpec`) the table gives, per field number: the JSON name, the
protobuf type, the referenced message or map types, and what Go's JSON encoding does with the
field: repeated (`r`), a pointer (`p`: a zero value that was sent is kept, e.g.
`spec.replicas: 0`), `omitempty` (`o`: a zero value is dropped), `inline` (`i`: the member's
fields are flattened into the parent, e.g. `Volume.volumeSource`).

The data, `protobuf_schema.json`, is generated from the facts Kubernetes v1.32 itself ships
in a kubectl binary: the file descriptors that gogo-protobuf registers (field numbers, types,
`nullable`) and the Go struct tags (`json:"replicas,omitempty"`). Regenerate it with

    python -m apiserver.protobuf_schema /usr/lib/google-cloud-sdk/bin/kubectl.1.32

This module must never be needed for anything but decoding: it performs no I/O at import and
loads the JSON once, on the first protobuf body.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import struct
import sys
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATA = Path(__file__).with_name("protobuf_schema.json")


@dataclass(frozen=True, slots=True)
class Field:
    number: int
    json: str
    proto: str
    type: str  # string, bytes, int32, int64, bool, double, ..., message, map
    flags: str  # letters: r repeated, p pointer, o omitempty, i inline
    ref: str | None  # full name of the message type
    map: tuple[str, str, str | None] | None  # (key type, value type, value message)

    @property
    def repeated(self) -> bool:
        return "r" in self.flags

    @property
    def pointer(self) -> bool:
        return "p" in self.flags

    @property
    def omitempty(self) -> bool:
        return "o" in self.flags

    @property
    def inline(self) -> bool:
        return "i" in self.flags


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    fields: dict[int, Field]
    list_of: str | None = None  # a Go slice type wrapped as {repeated items = 1}: the item type


@dataclass(frozen=True, slots=True)
class Schema:
    messages: dict[str, Message]
    packages: dict[str, str]  # "apps/v1" -> "k8s.io.api.apps.v1"

    def type_for(self, group: str, version: str, kind: str) -> str | None:
        """The full message name of a kind in a group/version, or None."""
        gv = f"{group}/{version}" if group else version
        pkg = self.packages.get(gv)
        if pkg is None:
            return None
        name = f"{pkg}.{kind}"
        return name if name in self.messages else None


@functools.cache
def load(path: Path = DATA) -> Schema:
    """The schema from its JSON data (cached: loaded once per process)."""
    data = json.loads(path.read_text())
    messages: dict[str, Message] = {}
    for name, rows in data["messages"].items():
        fields: dict[int, Field] = {}
        for row in rows:
            number, json_name, proto_name, typ, flags, ref = row
            map_types: tuple[str, str, str | None] | None = None
            if typ == "map":
                map_types = (ref[0], ref[1], ref[2])
                ref = None
            fields[number] = Field(number, json_name, proto_name, typ, flags, ref, map_types)
        list_of = None
        only = fields.get(1)
        if len(fields) == 1 and only is not None and only.proto == "items" and only.repeated \
                and name in data.get("slices", []):
            list_of = only.ref or only.type
        messages[name] = Message(name, fields, list_of)
    return Schema(messages, dict(data["packages"]))


# ============================================================================ generator
#
# Everything below runs only when regenerating protobuf_schema.json from a kubectl binary.

_TYPES = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
          8: "bool", 9: "string", 11: "message", 12: "bytes", 13: "uint32", 14: "enum", 15: "sfixed32",
          16: "sfixed64", 17: "sint32", 18: "sint64"}
_GOGO_NULLABLE = 65001

# group of each k8s.io/api package (the import path's directory is not the group name)
_GROUPS = {
    "core": "", "admissionregistration": "admissionregistration.k8s.io", "apps": "apps",
    "authentication": "authentication.k8s.io", "authorization": "authorization.k8s.io",
    "autoscaling": "autoscaling", "batch": "batch", "certificates": "certificates.k8s.io",
    "coordination": "coordination.k8s.io", "discovery": "discovery.k8s.io", "events": "events.k8s.io",
    "extensions": "extensions", "flowcontrol": "flowcontrol.apiserver.k8s.io", "networking": "networking.k8s.io",
    "node": "node.k8s.io", "policy": "policy", "rbac": "rbac.authorization.k8s.io",
    "scheduling": "scheduling.k8s.io", "storage": "storage.k8s.io", "resource": "resource.k8s.io",
    "apiserverinternal": "internal.apiserver.k8s.io", "storagemigration": "storagemigration.k8s.io",
    "imagepolicy": "imagepolicy.k8s.io", "admission": "admission.k8s.io",
}

# Go slice types that protobuf wraps in a message with `repeated items = 1`.
_SLICE_TYPES = ("ExtraValue", "Verbs")


def _descriptors(binary: bytes) -> dict[str, bytes]:
    """The gzipped FileDescriptorProtos that gogo-protobuf registers, found in a Go binary."""
    files: dict[str, bytes] = {}
    magic = b"\x1f\x8b\x08\x00\x00\x00\x00\x00"
    i = binary.find(magic)
    while i >= 0:
        try:
            out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(binary[i:i + 4_000_000])
        except zlib.error:
            out = b""
        if out[:1] == b"\x0a" and len(out) > 2:
            name = out[2:2 + out[1]].decode(errors="replace")
            if name.endswith("/generated.proto"):
                files[name] = out
        i = binary.find(magic, i + 1)
    return files


def _go_struct_tags(binary: bytes) -> list[list[tuple[str, str, int]]]:
    """The field lists [(Go name, tag, Go kind)] of the Go structs in an ELF binary whose
    fields carry `protobuf:` tags, read from the runtime's type data (structField arrays of
    {name pointer, type pointer, offset})."""
    (phoff,) = struct.unpack_from("<Q", binary, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", binary, 0x36)
    segments = []
    for k in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack_from("<IIQQQQQQ", binary, phoff + k * phentsize)
        if p_type == 1:
            segments.append((p_vaddr, p_offset, p_filesz))

    def v2o(v: int) -> int | None:
        for va, off, size in segments:
            if va <= v < va + size:
                return off + v - va
        return None

    def o2v(o: int) -> int | None:
        for va, off, size in segments:
            if off <= o < off + size:
                return va + o - off
        return None

    ident = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*\Z")

    def read_name(o: int | None) -> tuple[str, str, int] | None:
        if o is None or o + 2 >= len(binary) or binary[o] > 15:
            return None
        flags, i = binary[o], o + 1
        n = binary[i]
        i += 1
        if n >= 0x80:
            n = (n & 0x7F) | (binary[i] << 7)
            i += 1
        name = binary[i:i + n]
        if not 0 < n <= 100 or not ident.match(name):
            return None
        i += n
        tag = ""
        tag_at = i
        if flags & 2:
            tl = binary[i]
            i += 1
            if tl >= 0x80:
                tl = (tl & 0x7F) | (binary[i] << 7)
                i += 1
            tag_at = i
            tag = binary[i:i + tl].decode(errors="replace")
        return name.decode(), tag, tag_at

    names: dict[int, tuple[str, str, int]] = {}
    for m in re.finditer(rb'json:"', binary):
        t = m.start()
        for back in range(3, 104):
            r = read_name(t - back)
            if r and r[2] == t:
                v = o2v(t - back)
                if v is not None and "protobuf:" in r[1]:
                    names[v] = r
                break
    qwords = memoryview(binary[: len(binary) // 8 * 8]).cast("Q")
    seen: set[int] = set()
    structs = []
    for j in range(len(qwords)):
        if qwords[j] not in names or j in seen:
            continue
        start = j
        while start >= 3 and read_name(v2o(qwords[start - 3])) is not None:
            start -= 3
        fields = []
        k = start
        while k + 2 < len(qwords):
            r = names.get(qwords[k]) or read_name(v2o(qwords[k]))
            if r is None:
                break
            to = v2o(qwords[k + 1])
            kind = binary[to + 23] & 0x1F if to is not None and to + 23 < len(binary) else 0
            fields.append((r[0], r[1], kind))
            seen.add(k)
            k += 3
        structs.append(fields)
    return structs


def _parse_tag(tag: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+):"([^"]*)"', tag))


def generate(binary_path: str) -> dict[str, Any]:
    """The JSON data of the schema, from a kubectl (or any client-go) binary."""
    from apiserver.protobuf import iter_fields

    binary = Path(binary_path).read_bytes()
    files = _descriptors(binary)
    if not files:
        raise SystemExit(f"{binary_path}: no protobuf file descriptors found")

    # Go structs, indexed by their set of (proto number, proto name)
    by_signature: dict[frozenset[tuple[int, str]], list[dict[int, tuple[str, str, int]]]] = defaultdict(list)
    for fields in _go_struct_tags(binary):
        sig = set()
        info = {}
        for go_name, tag, kind in fields:
            tags = _parse_tag(tag)
            pb = tags.get("protobuf", "").split(",")
            if len(pb) < 2 or not pb[1].isdigit():
                continue
            pname = next((p[5:] for p in pb if p.startswith("name=")), go_name)
            sig.add((int(pb[1]), pname.lower()))
            info[int(pb[1])] = (tags.get("json", ""), go_name, kind)
        if sig:
            by_signature[frozenset(sig)].append(info)

    messages: dict[str, list[list[Any]]] = {}
    packages: dict[str, str] = {}
    slices: list[str] = []
    unmatched = 0

    def text(b: int | bytes) -> str:
        return b.decode() if isinstance(b, bytes) else str(b)

    for file_name, fd in sorted(files.items()):
        pkg = ""
        raw_messages = []
        for number, _, value in iter_fields(fd):
            if number == 2:
                pkg = text(value)
            elif number == 4:
                assert isinstance(value, bytes)
                raw_messages.append(value)
        parts = file_name.split("/")
        if file_name.startswith("k8s.io/api/") and len(parts) == 5 and parts[2] in _GROUPS:
            group = _GROUPS[parts[2]]
            packages[f"{group}/{parts[3]}" if group else parts[3]] = pkg
        for raw in raw_messages:
            _read_message(raw, pkg, by_signature, messages)
        for name in list(messages):
            if name.startswith(pkg + ".") and name.rsplit(".", 1)[1] in _SLICE_TYPES:
                slices.append(name)
    for rows in messages.values():
        for row in rows:
            if row[-1] == "?":
                unmatched += 1
            del row[6:]
    log.info("%d messages, %d packages, %d fields without Go tags", len(messages), len(packages), unmatched)
    return {
        "source": f"gogo-protobuf descriptors and Go struct tags of {Path(binary_path).name}",
        "packages": dict(sorted(packages.items())),
        "slices": sorted(slices),
        "messages": messages,
    }


def _read_message(raw: bytes, scope: str, by_signature: dict[frozenset[tuple[int, str]], list[dict[int, Any]]],
                  out: dict[str, list[list[Any]]]) -> None:
    from apiserver.protobuf import iter_fields

    name = ""
    fields_raw: list[bytes] = []
    nested: list[bytes] = []
    for number, _, value in iter_fields(raw):
        if number == 1:
            assert isinstance(value, bytes)
            name = value.decode()
        elif number == 2:
            assert isinstance(value, bytes)
            fields_raw.append(value)
        elif number == 3:
            assert isinstance(value, bytes)
            nested.append(value)
    full = f"{scope}.{name}"
    map_entries: dict[str, tuple[str, str, str | None]] = {}
    for n in nested:
        entry_name = ""
        kv: dict[int, tuple[str, str | None]] = {}
        for number, _, value in iter_fields(n):
            if number == 1:
                assert isinstance(value, bytes)
                entry_name = value.decode()
            elif number == 2:
                assert isinstance(value, bytes)
                f = _read_field(value)
                kv[f["number"]] = (f["type"], f["ref"])
        map_entries[f"{full}.{entry_name}"] = (kv[1][0], kv[2][0], kv[2][1])
    fields = [_read_field(f) for f in fields_raw]
    candidates = by_signature.get(frozenset((f["number"], f["name"].lower()) for f in fields), [])
    rows = []
    for f in fields:
        tags = [c[f["number"]] for c in candidates if f["number"] in c]
        flags = ""
        if f["repeated"] and f["ref"] not in map_entries:
            flags += "r"
        json_name = f["name"]
        matched = "?"
        if tags:
            matched = ""
            json_tags = {t[0] for t in tags}
            json_name = sorted(json_tags)[0].split(",")[0]
            if any(t[0].split(",")[0] == "" and "inline" in t[0] for t in tags):
                flags += "i"
                json_name = ""
            # omitempty only when every Go struct of that shape says so
            if all("omitempty" in t[0].split(",")[1:] for t in tags):
                flags += "o"
            if any(t[2] == 22 for t in tags):  # reflect.Ptr
                flags += "p"
        else:
            flags += "o"
            if f["nullable"] and not f["repeated"]:
                flags += "p"
        if f["ref"] in map_entries:
            rows.append([f["number"], json_name, f["name"], "map", flags.replace("r", ""),
                         list(map_entries[f["ref"]]), matched])
        else:
            rows.append([f["number"], json_name, f["name"], f["type"], flags, f["ref"], matched])
    out[full] = rows


def _read_field(raw: bytes) -> dict[str, Any]:
    from apiserver.protobuf import iter_fields

    f: dict[str, Any] = {"name": "", "number": 0, "repeated": False, "type": "", "ref": None, "nullable": True}
    for number, _, value in iter_fields(raw):
        if number == 1:
            assert isinstance(value, bytes)
            f["name"] = value.decode()
        elif number == 3:
            f["number"] = value
        elif number == 4:
            f["repeated"] = value == 3
        elif number == 5:
            assert isinstance(value, int)
            f["type"] = _TYPES.get(value, "unknown")
        elif number == 6:
            assert isinstance(value, bytes)
            f["ref"] = value.decode().lstrip(".")
        elif number == 8:
            assert isinstance(value, bytes)
            for n2, _, v2 in iter_fields(value):
                if n2 == _GOGO_NULLABLE:
                    f["nullable"] = bool(v2)
    if f["type"] == "message" and f["ref"] is None:
        f["type"] = "unknown"
    return f


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(argv) != 2:
        sys.stderr.write("usage: python -m apiserver.protobuf_schema KUBECTL_BINARY\n")
        return 2
    data = generate(argv[1])
    with DATA.open("w") as fh:
        fh.write("{\n")
        fh.write(f' "source": {json.dumps(data["source"])},\n')
        fh.write(f' "packages": {json.dumps(data["packages"])},\n')
        fh.write(f' "slices": {json.dumps(data["slices"])},\n')
        fh.write(' "messages": {\n')
        items = sorted(data["messages"].items())
        for i, (name, rows) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            fh.write(f"  {json.dumps(name)}: {json.dumps(rows, separators=(',', ':'))}{comma}\n")
        fh.write(" }\n}\n")
    log.info("wrote %s", DATA)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
