"""Server-side `meta.k8s.io/v1 Table` responses: what `kubectl get` prints.

kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns
the server chooses; without them it can only show NAME and AGE. So the columns and cells here
follow Kubernetes v1.32's API server exactly: its printers for built-in kinds
(`apiserver.registry.printers.builtin`), the default table (Name, Created At) for kinds without
a printer (Roles, CRDs, LimitRanges...), and a CRD's `additionalPrinterColumns` (an Age column
when it has none). Like Kubernetes, every column is sent, priority-1 ones included; kubectl
hides those unless `-o wide`.

Pure functions over plain dict objects and an explicit `now`: no I/O, no clock, no mutation of
the objects passed in. They must never raise on odd objects (a half-filled object still gets a
row); they raise ValueError only for a bad request (`includeObject=Foo`)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from apimachinery.resources import ResourceInfo
from apiserver.registry.printers import jsonpath
from apiserver.registry.printers.builtin import AGE_DESCRIPTION, NAME_DESCRIPTION, col, printer_for
from apiserver.registry.printers.format import human_duration, parse_time, rfc3339, seconds_between

__all__ = [
    "INCLUDE_OBJECT_POLICIES",
    "column_definitions",
    "crd_printer_columns",
    "custom_columns",
    "custom_row",
    "row",
    "table",
    "table_version",
    "validate_include_object",
]

INCLUDE_OBJECT_POLICIES = ("None", "Metadata", "Object")

DEFAULT_COLUMNS = (
    col("Name", "string", NAME_DESCRIPTION, format_="name"),
    col("Created At", "date", AGE_DESCRIPTION),
)
# What a CRD version without additionalPrinterColumns prints (apiextensions serves this default).
DEFAULT_PRINTER_COLUMNS = ({"name": "Age", "type": "date", "description": AGE_DESCRIPTION,
                            "jsonPath": ".metadata.creationTimestamp"},)


# ---------------------------------------------------------------------------------------------
# CustomResourceDefinition printer columns


def custom_columns(printer_columns: list[dict] | tuple[dict, ...]) -> list[dict]:
    """Column definitions for a CRD version's `additionalPrinterColumns`: Name first, then each
    column with its type, format, description (Kubernetes' JSONPath note when it has none) and
    priority. An empty list means the default Age column."""
    columns = [col("Name", "string", NAME_DESCRIPTION, format_="name")]
    for pc in printer_columns or DEFAULT_PRINTER_COLUMNS:
        description = pc.get("description") or (
            f"Custom resource definition column (in JSONPath format): {pc.get('jsonPath', '')}")
        columns.append(col(str(pc.get("name", "")), str(pc.get("type", "string")), description,
                           priority=int(pc.get("priority") or 0), format_=str(pc.get("format") or "")))
    return columns


def crd_printer_columns(crd: dict, version: str) -> list[dict]:
    """A CRD version's `additionalPrinterColumns` (an empty list when it has none, which
    `custom_columns` turns into the default Age column); pass the result as `printer_columns`."""
    for v in (crd.get("spec") or {}).get("versions") or []:
        if isinstance(v, dict) and v.get("name") == version:
            return [c for c in v.get("additionalPrinterColumns") or [] if isinstance(c, dict)]
    return []


def _go_text(value: Any) -> str:
    """How Kubernetes' JSONPath printer writes one value: maps and lists as compact JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _cell(type_: str, value: Any, now: dt.datetime) -> Any:
    """`cellForJSONValue`: the typed cell, or None when the value does not fit the type."""
    if value is None:
        return None
    if type_ == "string":
        return _go_text(value)
    if type_ == "integer":
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return int(value)
        return None
    if type_ == "number":
        if isinstance(value, bool):
            return None
        return float(value) if isinstance(value, int | float) else None
    if type_ == "boolean":
        return value if isinstance(value, bool) else None
    if type_ == "date":
        if not isinstance(value, str):
            return None
        t = parse_time(value)
        if t is None:
            return "<invalid>"
        return human_duration(seconds_between(t, now))
    return None


def custom_row(printer_columns: list[dict] | tuple[dict, ...], obj: dict, now: dt.datetime) -> list:
    """The cells of one custom resource: its name, then the first value each column's JSONPath
    reaches, typed as the column says (None when nothing matches)."""
    cells: list[Any] = [_meta(obj).get("name", "")]
    for pc in printer_columns or DEFAULT_PRINTER_COLUMNS:
        try:
            found, value = jsonpath.first(str(pc.get("jsonPath", "")), obj)
        except jsonpath.JSONPathError:
            found, value = False, None
        cells.append(_cell(str(pc.get("type", "string")), value, now) if found else None)
    return cells


# ---------------------------------------------------------------------------------------------
# any resource


def _meta(obj: dict) -> dict:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else {}


def column_definitions(resource: ResourceInfo, printer_columns: list[dict] | None = None) -> list[dict]:
    """The `columnDefinitions` for a resource: its Kubernetes printer's columns (NAME first with
    format `name`, except Events whose LAST SEEN leads), the CRD's printer columns when
    `printer_columns` is given, else the default Name / Created At."""
    if printer_columns is not None:
        return custom_columns(printer_columns)
    printer = printer_for(resource.group, resource.kind)
    columns = printer.columns if printer is not None else DEFAULT_COLUMNS
    return [dict(c) for c in columns]


def row(resource: ResourceInfo, obj: dict, now: dt.datetime, printer_columns: list[dict] | None = None) -> list:
    """The cells of one object, one per column of `column_definitions(resource)`."""
    if printer_columns is not None:
        return custom_row(printer_columns, obj, now)
    printer = printer_for(resource.group, resource.kind)
    if printer is None:
        meta = _meta(obj)
        return [meta.get("name", ""), rfc3339(meta.get("creationTimestamp"))]
    return printer.row(obj, now)


def validate_include_object(value: str | None) -> str:
    """The `includeObject` query parameter: `None`, `Metadata` (the default) or `Object`.
    Anything else raises ValueError with Kubernetes' message, for a 400 BadRequest Status."""
    if value in (None, ""):
        return "Metadata"
    if value not in INCLUDE_OBJECT_POLICIES:
        raise ValueError(f"unrecognized includeObject value: {value!r}".replace("'", '"'))
    return value


def _row_object(resource: ResourceInfo, obj: dict, include_object: str, group_version: str) -> Any:
    if include_object == "None":
        return None
    if include_object == "Object":
        if obj.get("apiVersion") and obj.get("kind"):
            return obj
        return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
    return {"kind": "PartialObjectMetadata", "apiVersion": group_version, "metadata": _meta(obj)}


def table(
    resource: ResourceInfo,
    objs: list[dict],
    *,
    now: dt.datetime,
    include_object: str = "Metadata",
    resource_version: str = "",
    continue_: str = "",
    remaining: int | None = None,
    printer_columns: list[dict] | None = None,
    no_headers: bool = False,
    group_version: str = "meta.k8s.io/v1",
) -> dict:
    """The whole `Table` for a list (or, with one object, for a get or one watch event).

    `include_object` is the `includeObject` parameter: each row's `object` is a
    PartialObjectMetadata (Metadata), the full object (Object) or null (None). `no_headers`
    leaves out the column definitions, as Kubernetes does for every watch event after the first.
    `group_version` is `meta.k8s.io/v1` or `meta.k8s.io/v1beta1`, as the client asked."""
    include_object = validate_include_object(include_object)
    printer = None if printer_columns is not None else printer_for(resource.group, resource.kind)
    items = [o for o in objs if isinstance(o, dict)]
    if printer is not None and printer.sort_key is not None:
        items = sorted(items, key=printer.sort_key)
    rows = []
    for obj in items:
        r: dict[str, Any] = {"cells": row(resource, obj, now, printer_columns)}
        if printer is not None and printer.conditions is not None:
            conditions = printer.conditions(obj)
            if conditions:
                r["conditions"] = conditions
        r["object"] = _row_object(resource, obj, include_object, group_version)
        rows.append(r)
    metadata: dict[str, Any] = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_:
        metadata["continue"] = continue_
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": group_version,
        "metadata": metadata,
        # kube-aggregator's APIService convertor ignores noHeaders
        "columnDefinitions": [] if no_headers and resource.kind != "APIService"
        else column_definitions(resource, printer_columns),
        "rows": rows,
    }


def table_version(accept: str | None) -> str | None:
    """Which Table the `Accept` header asks for: `meta.k8s.io/v1`, `meta.k8s.io/v1beta1`, or
    None when the client wants the objects themselves. kubectl sends
    `application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,
    application/json`; the first acceptable entry wins."""
    if not accept:
        return None
    for entry in accept.split(","):
        parts = [p.strip() for p in entry.split(";")]
        media = parts[0].lower()
        params = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip()
        if media not in ("application/json", "application/*", "*/*", "application/yaml"):
            continue
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return f"meta.k8s.io/{params['v']}"
        if "as" not in params:
            return None
    return None
