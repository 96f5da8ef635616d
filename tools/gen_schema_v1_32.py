"""Regenerate `apimachinery/schema_v1_32.json`: the fields each built-in model has in
Kubernetes v1.32, with the Go type of each scalar.

Why: the installed `kubernetes` Python client (pinned to a newer release) carries fields that
Kubernetes v1.32 does not have (e.g. `Container.restartPolicyRules`), and its type strings say
`int` where Go says `int32` or `int64`. mizzen must serve and accept exactly v1.32's fields and
refuse wrong scalar types with Go's messages, so it filters the client's models by this table.

Sources, both facts that v1.32 itself ships:
- the field names of every model of the `kubernetes==32.0.1` client (generated from v1.32's
  OpenAPI document), read from its wheel without importing it;
- the Go scalar types (int32, int64, bool, Quantity, IntOrString, Time, ...) from
  `apiserver/protobuf_schema.json`, the protobuf descriptors of kubectl v1.32.

Run (from the repository root; the wheel is downloaded, never installed):

    pip download kubernetes==32.0.1 --no-deps -d /tmp/k32
    .venv/bin/python tools/gen_schema_v1_32.py /tmp/k32/kubernetes-32.0.1-py2.py3-none-any.whl

This script must never be imported by the running system; it only writes the JSON file."""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "apiserver" / "protobuf_schema.json"
OUT = ROOT / "apimachinery" / "schema_v1_32.json"

_NAME = re.compile(r"^(?P<prefix>[A-Z][a-z]+)?(?P<version>V\d+(?:alpha\d+|beta\d+)?)(?P<kind>[A-Z]\w*)$")
_SPECIAL = {
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawExtension",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "FieldsV1",
}
_PROTO_SCALARS = {"string": "string", "bool": "bool", "int32": "int32", "int64": "int64", "double": "float64",
                  "float": "float64", "bytes": "[]byte"}
# What the client's type strings say when no protobuf message describes the model.
_CLIENT_SCALARS = {"str": "string", "bool": "bool", "int": "int64", "float": "float64", "datetime": "Time",
                   "bytearray": "[]byte", "object": "RawExtension"}


# Models kubectl v1.32 has no protobuf message for (apiregistration): their int32 fields.
_OVERRIDES = {
    ("V1APIServiceSpec", "groupPriorityMinimum"): "int32",
    ("V1APIServiceSpec", "versionPriority"): "int32",
    ("V1CustomResourceColumnDefinition", "priority"): "int32",
}


def client_models(wheel: Path) -> dict[str, dict[str, str]]:
    """Model class name -> {JSON field name: client type string}, from the wheel's sources."""
    out: dict[str, dict[str, str]] = {}
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if not name.startswith("kubernetes/client/models/") or not name.endswith(".py"):
                continue
            tree = ast.parse(z.read(name))
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                types: dict[str, str] = {}
                attrs: dict[str, str] = {}
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
                        target = stmt.targets[0].id
                        if target in ("openapi_types", "attribute_map"):
                            value = ast.literal_eval(stmt.value)
                            (types if target == "openapi_types" else attrs).update(value)
                if attrs:
                    out[node.name] = {attrs[a]: types.get(a, "") for a in attrs}
    return out


def proto_fields(messages: dict[str, list], name: str) -> dict[str, list]:
    """JSON name -> protobuf row of a message, inline members flattened."""
    out: dict[str, list] = {}
    for row in messages.get(name, []):
        _, json_name, _, typ, flags, ref = row
        if "i" in flags and typ == "message":
            out.update(proto_fields(messages, ref))
        else:
            out[json_name] = row
    return out


def match_message(model: str, fields: dict[str, str], messages: dict[str, list]) -> str | None:
    m = _NAME.match(model)
    if m is None:
        return None
    suffix = f".{m['version'].lower()}.{m['kind']}"
    best, best_score = None, 0
    for name in messages:
        if not name.endswith(suffix):
            continue
        have = set(proto_fields(messages, name))
        score = len(have & set(fields)) * 2 - len(have ^ set(fields))
        if m["prefix"] and f".{m['prefix'].lower()}." in name:
            score += 1
        if best is None or score > best_score:
            best, best_score = name, score
    return best


def leaf_code(row: list | None, client_type: str, messages: dict[str, list]) -> str:
    """The Go type of the innermost element of a field: 'int32', 'Quantity', ... or '' for a struct."""
    inner = client_type
    while True:
        m = re.match(r"^(?:list|List)\[(.*)\]$", inner) or re.match(r"^(?:dict\(str, |Dict\[str, )(.*)[)\]]$", inner)
        if not m:
            break
        inner = m.group(1).strip()
    if row is not None:
        typ, ref = row[3], row[5]
        if typ == "map":
            typ, ref = ref[1], ref[2]
        if typ == "message":
            if ref in _SPECIAL:
                return _SPECIAL[ref]
            if ref in messages and len(messages[ref]) == 1 and messages[ref][0][2] == "items":
                # a Go slice type wrapped as a message (e.g. ExtraValue, []string)
                item = messages[ref][0]
                return _PROTO_SCALARS.get(item[3], "") if item[3] != "message" else _SPECIAL.get(item[5], "")
            return ""
        if typ in _PROTO_SCALARS:
            return _PROTO_SCALARS[typ]
    return _CLIENT_SCALARS.get(inner, "")


def generate(wheel: Path) -> dict:
    messages = json.loads(PROTO.read_text())["messages"]
    models: dict[str, dict[str, str]] = {}
    for model, fields in sorted(client_models(wheel).items()):
        message = match_message(model, fields, messages)
        rows = proto_fields(messages, message) if message else {}
        models[model] = {f: _OVERRIDES.get((model, f)) or leaf_code(rows.get(f), t, messages)
                         for f, t in sorted(fields.items())}
    return {
        "source": f"field names of the {wheel.name} client models; Go scalar types from "
                  "apiserver/protobuf_schema.json (kubectl v1.32); regenerate with tools/gen_schema_v1_32.py",
        "models": models,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    data = generate(Path(argv[1]))
    OUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n")
    sys.stdout.write(f"wrote {OUT} ({len(data['models'])} models)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
