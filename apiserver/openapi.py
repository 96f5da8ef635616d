"""OpenAPI v3 documents (`/openapi/v3` and `/openapi/v3/<path>`), generated from the resource
table and the official `kubernetes` Python client's models.

kubectl cannot `apply`, `create -f`, `replace`, `edit` or `explain` without these documents:
it asks whether PATCH operations take `fieldValidation` (server-side validation), reads
`x-kubernetes-patch-merge-key`/`-strategy` to build strategic merge patches, and prints the
field descriptions. The Python client ships every built-in model's field names, types,
required fields and descriptions, so the schemas are derived from it instead of being
copied, keeping only the fields Kubernetes v1.32 has (apimachinery.schema.v1_32_fields: the
installed client is newer); what the client does not carry (Quantity, IntOrString, Time, patch metadata, the
`io.k8s...` schema names) is added here.

What the real kubectl is strict about (see KUBECTL-WIRE.md): the operation-level
`x-kubernetes-group-version-kind` is ONE object (a list there makes kubectl drop the whole
document), every PATCH operation lists `fieldValidation` among its own parameters, strategic
merge is offered only for built-in kinds, and a document's hash (its ETag) changes whenever the
document does.

Documents are built lazily per group-version and cached; the hash is computed from the inputs
(the group-version's resource entries, CRD schemas and this module's source), so the index
never has to build a document to list it. Pure functions: no web framework, no I/O beyond
importing the client's model classes. This module must never validate or change objects: it
only describes them."""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes
import orjson
from kubernetes.client import models as _client_models

from apimachinery import schema as model_schema
from apimachinery.resources import ResourceInfo, Subresource
from apiserver.discovery import GIT_VERSION, api_group_list

Schema = dict[str, Any]
# Custom kinds' openAPIV3Schema, keyed by (group, version, kind) or by kind.
SchemaSource = Mapping[Any, Schema] | None

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME = f"{META}.Time"
MICRO_TIME = f"{META}.MicroTime"
PATCH = f"{META}.Patch"
FIELDS_V1 = f"{META}.FieldsV1"
RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
VERSION_INFO = "io.k8s.apimachinery.pkg.version.Info"

# Schemas the client has no model for (it maps them to str, object or datetime). As in
# Kubernetes' v3 documents, Quantity and IntOrString have `oneOf` and no `type`, which is what
# makes kubectl explain print `<Quantity>` and `<IntOrString>` rather than `<string>`.
_HANDWRITTEN: dict[str, Schema] = {
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
        "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.\n\n"
        "The serialization format is:\n\n<quantity> ::= <signedNumber><suffix>\n\n"
        "(Note that <suffix> may be empty, from the \"\" case in <decimalSI>.)\n\n"
        "<binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei\n\n<decimalSI> ::= m | \"\" | k | M | G | T | P | E",
        "oneOf": [{"type": "string"}, {"type": "number"}],
    },
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or "
        "YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you "
        "to have, for example, a JSON field that can accept a name or number.",
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    },
    TIME: {
        "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and "
        "JSON.  Wrappers are provided for many of the factory methods that the time package offers.",
        "type": "string",
        "format": "date-time",
    },
    MICRO_TIME: {
        "description": "MicroTime is version of Time with microsecond level precision.",
        "type": "string",
        "format": "date-time",
    },
    PATCH: {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH "
        "request body.",
        "type": "object",
    },
    FIELDS_V1: {
        "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.\n\n"
        "Each key is either a '.' representing the field itself, and will always map to an empty set, "
        "or a string representing a sub-field or item.",
        "type": "object",
    },
    RAW_EXTENSION: {
        "description": "RawExtension is used to hold extensions in external versions.",
        "type": "object",
    },
}

# Models of apimachinery's meta/v1 (the client names them V1<Kind> like any core model).
_META_KINDS = frozenset({
    "APIGroup", "APIGroupList", "APIResource", "APIResourceList", "APIVersions", "Condition",
    "DeleteOptions", "FieldSelectorRequirement", "GroupVersionForDiscovery", "LabelSelector",
    "LabelSelectorRequirement", "ListMeta", "ManagedFieldsEntry", "ObjectMeta", "OwnerReference",
    "Preconditions", "ServerAddressByClientCIDR", "Status", "StatusCause", "StatusDetails",
    "WatchEvent",
})
# core/v1 models that other groups' kinds reach before any core kind does; everything under
# them is core as well.
_CORE_MODELS = frozenset({
    "V1EventSource", "V1ObjectReference", "V1PersistentVolumeClaim", "V1PersistentVolumeSpec",
    "V1PodTemplateSpec", "V1Toleration", "V1TypedLocalObjectReference", "V1TopologySelectorTerm",
    "V1LocalObjectReference", "V1NodeSelector", "V1SecretReference",
})

# Fields the client types as `str` (maps of str) that Kubernetes types as resource.Quantity.
_QUANTITY_FIELDS = frozenset({
    ("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests"),
    ("V1VolumeResourceRequirements", "limits"), ("V1VolumeResourceRequirements", "requests"),
    ("V1NodeStatus", "capacity"), ("V1NodeStatus", "allocatable"),
    ("V1LimitRangeItem", "max"), ("V1LimitRangeItem", "min"), ("V1LimitRangeItem", "default"),
    ("V1LimitRangeItem", "defaultRequest"), ("V1LimitRangeItem", "maxLimitRequestRatio"),
    ("V1ResourceQuotaSpec", "hard"), ("V1ResourceQuotaStatus", "hard"), ("V1ResourceQuotaStatus", "used"),
    ("V1PersistentVolumeSpec", "capacity"), ("V1PersistentVolumeClaimStatus", "capacity"),
    ("V1PersistentVolumeClaimStatus", "allocatedResources"), ("V1EmptyDirVolumeSource", "sizeLimit"),
    ("V1CSIStorageCapacity", "capacity"), ("V1CSIStorageCapacity", "maximumVolumeSize"),
    ("V1ResourceFieldSelector", "divisor"), ("V1PodSpec", "overhead"), ("V1Overhead", "podFixed"),
    ("V1ContainerStatus", "allocatedResources"), ("V2MetricTarget", "value"),
    ("V2MetricTarget", "averageValue"), ("V2MetricValueStatus", "value"),
    ("V2MetricValueStatus", "averageValue"), ("V1NodeSwapStatus", "capacity"),
})
_MICRO_TIME_FIELDS = frozenset({
    ("V1LeaseSpec", "acquireTime"), ("V1LeaseSpec", "renewTime"), ("CoreV1Event", "eventTime"),
    ("EventsV1Event", "eventTime"), ("CoreV1EventSeries", "lastObservedTime"),
    ("EventsV1EventSeries", "lastObservedTime"),
})
# The Python client marks these `spec`s required; Kubernetes v1.32 does not.
_NOT_REQUIRED = frozenset({
    ("V1Deployment", "spec"), ("V1DaemonSet", "spec"), ("V1ReplicaSet", "spec"), ("V1StatefulSet", "spec"),
    ("V1CronJob", "spec"), ("V1HorizontalPodAutoscaler", "spec"), ("V2HorizontalPodAutoscaler", "spec"),
    ("V1FlowSchema", "spec"), ("V1PriorityLevelConfiguration", "spec"),
    ("V1ValidatingAdmissionPolicyBinding", "spec"),
})
# Kubernetes lists more than one key for these list-map types.
_LIST_MAP_KEYS: dict[tuple[str, str], list[str]] = {
    ("V1Container", "ports"): ["containerPort", "protocol"],
    ("V1ServiceSpec", "ports"): ["port", "protocol"],
}

_CODE_DIGEST = hashlib.sha256(
    Path(__file__).read_bytes() + model_schema.V1_32_DATA.read_bytes()
    + str(getattr(kubernetes, "__version__", "")).encode()
).hexdigest()


# -- the client's models ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Field:
    json: str
    type: str  # the client's type string: 'str', 'List[V1Container]', 'Dict[str, str]' ...
    description: str
    required: bool
    int_or_string: bool
    any_json: bool  # `object` that may be any JSON value (not necessarily an object)


_NAME_RE = re.compile(r"^(?P<prefix>[A-Z][a-z]+)?(?P<version>V\d+(?:alpha\d+|beta\d+)?)(?P<kind>[A-Z]\w*)$")
_MODEL_REF_RE = re.compile(r"[A-Z][A-Za-z0-9]*")


# The client's models module imports each class on first use (~1 ms each): existence checks
# go through its export list so that the index never imports a model.
_MODEL_NAMES = frozenset(getattr(_client_models, "__all__", ()))


def _exists(name: str) -> bool:
    return name in _MODEL_NAMES


def _model(name: str) -> Any:
    return getattr(_client_models, name) if name in _MODEL_NAMES else None


def _model_for(group: str, version: str, kind: str) -> str | None:
    """The client's model class name of a kind: `V1Deployment`, `CoreV1Event`, `EventsV1Event`.

    Same answer as `apimachinery.schema.model_for` (a test holds them equal), but decided from
    the models module's export list: schema.model_for imports all ~850 model classes on its
    first call (~1.5 s), which the OpenAPI index must not pay."""
    ver = version[:1].upper() + version[1:]
    prefix = (group.split(".")[0] or "core").capitalize()
    for name in (f"{prefix}{ver}{kind}", f"{ver}{kind}"):
        if _exists(name):
            return name
    return None


def _class_description(name: str) -> str:
    doc = inspect.getdoc(_model(name)) or ""
    return doc.split("\n\nAttributes:")[0].strip()


@cache
def _fields(name: str) -> tuple[_Field, ...]:
    cls = _model(name)
    by_alias = {(f.serialization_alias or f.alias or attr): f for attr, f in cls.model_fields.items()}
    v1_32 = model_schema.v1_32_fields(name)  # the client is newer than v1.32: only v1.32's fields
    out = []
    for attr, json_name in cls.attribute_map.items():
        if v1_32 is not None and json_name not in v1_32:
            continue
        info = by_alias.get(json_name) or cls.model_fields.get(attr)
        annotation = str(info.annotation) if info is not None else ""
        out.append(_Field(
            json=json_name,
            type=cls.openapi_types[attr],
            description=(info.description or "") if info is not None else "",
            required=bool(info is not None and info.is_required()) and (name, json_name) not in _NOT_REQUIRED,
            int_or_string="int" in annotation and "str" in annotation and "Dict" not in annotation,
            any_json="Dict" not in annotation,
        ))
    return tuple(out)


def _model_refs(type_string: str) -> list[str]:
    return [m for m in _MODEL_REF_RE.findall(type_string) if m not in ("List", "Dict") and _exists(m)]


# -- schema names ---------------------------------------------------------------------------

def _package_path(package: str, version: str) -> str:
    if package == "meta":
        return META
    if package == "apiextensions":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{version}"
    if package == "apiregistration":
        return f"io.k8s.kube-aggregator.pkg.apis.apiregistration.{version}"
    return f"io.k8s.api.{package}.{version}"


def _package_of_group(group: str) -> str:
    return group.split(".")[0] or "core"


# model class name -> Kubernetes package ("core", "apps", "meta" ...), first assignment wins.
_PACKAGES: dict[str, str] = {}


def _assign_packages(name: str, inherited: str) -> None:
    """Give `name` and everything it references a package: the prefix the client put on the
    class (`CoreV1…`, `EventsV1…`), meta/v1 and shared core types by table, else the package of
    the kind that reached it (DeploymentSpec under Deployment is apps)."""
    stack = [(name, inherited)]
    while stack:
        current, parent = stack.pop()
        if current in _PACKAGES:
            continue
        match = _NAME_RE.match(current)
        if match is None:
            package = parent
        elif match["prefix"]:
            package = match["prefix"].lower()
        elif match["version"] == "V1" and match["kind"] in _META_KINDS:
            package = "meta"
        elif current in _CORE_MODELS:
            package = "core"
        else:
            package = parent
        _PACKAGES[current] = package
        for f in _fields(current):
            stack.extend((ref, package) for ref in _model_refs(f.type))


def schema_name(model: str) -> str:
    """The Kubernetes schema name of a client model (`V1Deployment` -> `io.k8s.api.apps.v1.Deployment`);
    the model must have been reached through `_assign_packages` first."""
    if model == "VersionInfo":
        return VERSION_INFO
    match = _NAME_RE.match(model)
    if match is None:
        return f"io.k8s.api.core.v1.{model}"
    return f"{_package_path(_PACKAGES.get(model, 'core'), match['version'].lower())}.{match['kind']}"


# -- schemas ----------------------------------------------------------------------------------

def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _scalar(model: str, f: _Field, type_string: str) -> Schema:
    if type_string == "str":
        return _ref(QUANTITY) if (model, f.json) in _QUANTITY_FIELDS else {"type": "string"}
    if type_string == "int":
        go = (model_schema.v1_32_fields(model) or {}).get(f.json)
        return {"type": "integer", "format": go} if go in ("int32", "int64") else {"type": "integer"}
    if type_string == "float":
        return {"type": "number", "format": "double"}
    if type_string == "bool":
        return {"type": "boolean"}
    if type_string == "bytes":
        return {"type": "string", "format": "byte"}
    if type_string == "datetime":
        return _ref(MICRO_TIME if (model, f.json) in _MICRO_TIME_FIELDS else TIME)
    if type_string == "object":
        if f.int_or_string:
            return _ref(INT_OR_STRING)
        if f.json == "fieldsV1":
            return _ref(FIELDS_V1)
        if f.any_json:
            return {"x-kubernetes-preserve-unknown-fields": True}
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if _exists(type_string):
        return _ref(schema_name(type_string))
    return {"type": "string"}


def _type_schema(model: str, f: _Field, type_string: str) -> Schema:
    if type_string.startswith("List[") and type_string.endswith("]"):
        return {"type": "array", "items": _wrap(_type_schema(model, f, type_string[5:-1]))}
    if type_string.startswith("Dict[str, ") and type_string.endswith("]"):
        return {"type": "object", "additionalProperties": _wrap(_type_schema(model, f, type_string[10:-1]))}
    return _scalar(model, f, type_string)


def _wrap(schema: Schema, description: str = "") -> Schema:
    """A $ref with siblings goes under allOf, as Kubernetes writes its v3 documents."""
    if "$ref" in schema and description:
        return {"description": description, "allOf": [schema]}
    if "$ref" in schema:
        return {"allOf": [schema]}
    if description:
        return {"description": description, **schema}
    return schema


def _property(model: str, f: _Field) -> Schema:
    description = f.description
    refs = _model_refs(f.type)
    if not description and refs and f.type == refs[0]:
        description = _fallback_description(model, f.json, refs[0])
    schema = _wrap(_type_schema(model, f, f.type), description)
    meta = model_schema.patch_meta(model, f.json)
    if meta is not None:
        strategy, key = meta
        if key:
            schema["x-kubernetes-patch-merge-key"] = key
        schema["x-kubernetes-patch-strategy"] = strategy
        if schema.get("type") == "array" and "merge" in strategy.split(","):
            if key:
                schema["x-kubernetes-list-type"] = "map"
                schema["x-kubernetes-list-map-keys"] = _LIST_MAP_KEYS.get((model, f.json), [key])
            else:
                schema["x-kubernetes-list-type"] = "set"
    return schema


_CONVENTIONS = "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
_METADATA_DESCRIPTIONS = {
    "metadata": f"Standard object's metadata. More info: {_CONVENTIONS}#metadata",
}


def _fallback_description(model: str, field: str, ref: str) -> str:
    """The client drops the description of every field typed by another model. Kinds' own
    metadata/spec/status get Kubernetes' conventional sentences; other fields the referenced
    type's description (kubectl explain then prints it twice, which beats `<no description>`)."""
    kind = _NAME_RE.match(model)
    is_kind = {"apiVersion", "kind"} <= {f.json for f in _fields(model)}
    if kind is not None and is_kind:
        name = kind["kind"]
        if field == "metadata" and ref == "V1ListMeta":
            return f"Standard list metadata. More info: {_CONVENTIONS}#types-kinds"
        if field == "metadata":
            return _METADATA_DESCRIPTIONS["metadata"]
        if field == "spec":
            return f"Specification of the desired behavior of the {name}. More info: {_CONVENTIONS}#spec-and-status"
        if field == "status":
            return (f"Most recently observed status of the {name}. This data may not be up to date. Populated by "
                    f"the system. Read-only. More info: {_CONVENTIONS}#spec-and-status")
    return _class_description(ref)


@cache
def _model_schema(model: str) -> Schema:
    """The schema of one client model (without the group-version-kind extension)."""
    fields = _fields(model)
    schema: Schema = {"description": _class_description(model), "type": "object",
                      "properties": {f.json: _property(model, f) for f in fields}}
    required = sorted(f.json for f in fields if f.required)
    if required:
        schema["required"] = required
    return schema


# -- paths ------------------------------------------------------------------------------------

def _query(name: str, description: str, type_: str = "string", unique: bool = True) -> Schema:
    schema: Schema = {"type": type_}
    if unique:
        schema["uniqueItems"] = True
    return {"name": name, "in": "query", "description": description, "schema": schema}


_P = {
    "pretty": _query("pretty", "If 'true', then the output is pretty printed."),
    "dryRun": _query("dryRun", "When present, indicates that modifications should not be persisted. "
                     "Valid values are: - All: all dry run stages will be processed"),
    "fieldManager": _query("fieldManager", "fieldManager is a name associated with the actor or entity "
                           "that is making these changes."),
    "fieldValidation": _query("fieldValidation", "fieldValidation instructs the server on how to handle "
                              "objects in the request containing unknown or duplicate fields. Valid values "
                              "are: - Ignore - Warn - Strict"),
    "force": _query("force", "Force is going to \"force\" Apply requests. It means user will re-acquire "
                    "conflicting fields owned by other people. Force flag must be unset for non-apply "
                    "patch requests.", "boolean"),
    "allowWatchBookmarks": _query("allowWatchBookmarks", "allowWatchBookmarks requests watch events with "
                                  "type \"BOOKMARK\".", "boolean"),
    "continue": _query("continue", "The continue option should be set when retrieving more results from "
                       "the server."),
    "fieldSelector": _query("fieldSelector", "A selector to restrict the list of returned objects by their "
                            "fields. Defaults to everything."),
    "labelSelector": _query("labelSelector", "A selector to restrict the list of returned objects by their "
                            "labels. Defaults to everything."),
    "limit": _query("limit", "limit is a maximum number of responses to return for a list call.", "integer"),
    "resourceVersion": _query("resourceVersion", "resourceVersion sets a constraint on what resource "
                              "versions a request may be served from."),
    "resourceVersionMatch": _query("resourceVersionMatch", "resourceVersionMatch determines how "
                                   "resourceVersion is applied to list calls."),
    "sendInitialEvents": _query("sendInitialEvents", "`sendInitialEvents=true` may be set together with "
                                "`watch=true`.", "boolean"),
    "timeoutSeconds": _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    "watch": _query("watch", "Watch for changes to the described resources and return them as a stream "
                    "of add, update, and remove notifications.", "boolean"),
    "gracePeriodSeconds": _query("gracePeriodSeconds", "The duration in seconds before the object should "
                                 "be deleted.", "integer"),
    "ignoreStoreReadErrorWithClusterBreakingPotential": _query(
        "ignoreStoreReadErrorWithClusterBreakingPotential", "if set to true, it will trigger an unsafe "
        "deletion of the resource in case the normal deletion flow fails with a corrupt object error.",
        "boolean"),
    "orphanDependents": _query("orphanDependents", "Deprecated: please use the PropagationPolicy.",
                               "boolean"),
    "propagationPolicy": _query("propagationPolicy", "Whether and how garbage collection will be "
                                "performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
}
_LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
                "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
                  "orphanDependents", "propagationPolicy")
_DELETECOLLECTION_PARAMS = ("continue", "dryRun", "fieldSelector", "gracePeriodSeconds",
                            "ignoreStoreReadErrorWithClusterBreakingPotential", "labelSelector", "limit",
                            "orphanDependents", "propagationPolicy", "resourceVersion",
                            "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds")


def _path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "description": description, "required": True,
            "schema": {"type": "string", "uniqueItems": True}}


_NAMESPACE = _path_param("namespace", "object name and auth scope, such as for teams and projects")

_OBJECT_MEDIA = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_LIST_MEDIA = _OBJECT_MEDIA + ("application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")


def _content(schema: Schema, media: Iterable[str] = _OBJECT_MEDIA) -> Schema:
    return {m: {"schema": schema} for m in media}


def _responses(schema: Schema | None, codes: Iterable[str] = ("200",), media: Iterable[str] = _OBJECT_MEDIA) -> Schema:
    media = tuple(media)
    text = {"200": "OK", "201": "Created", "202": "Accepted"}
    out: Schema = {}
    for code in codes:
        out[code] = {"description": text[code]}
        if schema is not None:
            out[code]["content"] = _content(schema, media)
    out["401"] = {"description": "Unauthorized"}
    return out


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "kind": kind, "version": version}


def _op_group_version(group: str, version: str) -> str:
    """`apps` v1 -> `AppsV1`, `rbac.authorization.k8s.io` -> `RbacAuthorizationV1`, core -> `CoreV1`."""
    if not group:
        name = "Core"
    else:
        base = group[: -len(".k8s.io")] if group.endswith(".k8s.io") else group
        name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[.\-]", base))
    return name + version[:1].upper() + version[1:]


def _tag(group: str, version: str) -> str:
    base = group[: -len(".k8s.io")] if group.endswith(".k8s.io") else group
    return f"{re.sub(r'[.-]', '_', base) or 'core'}_{version}"


@dataclass
class _Ctx:
    """What one document needs from the resource entries: operation name parts and refs."""
    group: str
    version: str
    builtin: bool
    names: Mapping[tuple[str, str, str], str]  # (group, version, kind) -> schema name


def _operation(ctx: _Ctx, op_id: str, action: str, description: str, gvk: dict[str, str],
               params: Iterable[str] = (), responses: Schema | None = None, body: Schema | None = None) -> Schema:
    op: Schema = {
        "tags": [_tag(ctx.group, ctx.version)],
        "description": description,
        "operationId": op_id,
        "parameters": [_P[p] for p in params],
        "responses": responses or _responses(None),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }
    if body is not None:
        op["requestBody"] = body
    return op


def _object_body(schema: Schema) -> Schema:
    return {"content": _content(schema), "required": True}


def _patch_body(builtin: bool) -> Schema:
    media = ["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"]
    if builtin:
        media.append("application/strategic-merge-patch+json")
    return {"content": {m: {"schema": _ref(PATCH)} for m in sorted(media)}, "required": True}


def _sub_op_suffix(name: str) -> str:
    return {"ephemeralcontainers": "EphemeralContainers"}.get(name, name[:1].upper() + name[1:])


def _resource_paths(ctx: _Ctx, r: ResourceInfo) -> dict[str, Schema]:
    gv = _op_group_version(r.group, r.version)
    scoped = "Namespaced" if r.namespaced else ""
    prefix = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
    collection = f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{prefix}/{r.plural}"
    item = collection + "/{name}"
    gvk = _gvk(r.group, r.version, r.kind)
    obj = _ref(ctx.names[(r.group, r.version, r.kind)])
    list_name = ctx.names.get((r.group, r.version, r.list_kind))
    status = _ref(f"{META}.Status")
    scope_params = [_NAMESPACE] if r.namespaced else []
    name_param = _path_param("name", f"name of the {r.kind}")
    verbs = set(r.verbs)
    paths: dict[str, Schema] = {}

    ops: Schema = {}
    if "list" in verbs:
        ops["get"] = _operation(ctx, f"list{gv}{scoped}{r.kind}", "list", f"list or watch objects of kind {r.kind}",
                                gvk, _LIST_PARAMS, _responses(_ref(list_name) if list_name else None, media=_LIST_MEDIA))
    if "create" in verbs:
        ops["post"] = _operation(ctx, f"create{gv}{scoped}{r.kind}", "post", f"create a {r.kind}", gvk,
                                 _WRITE_PARAMS, _responses(obj, ("200", "201", "202")), _object_body(obj))
    if "deletecollection" in verbs:
        ops["delete"] = _operation(ctx, f"delete{gv}Collection{scoped}{r.kind}", "deletecollection",
                                   f"delete collection of {r.kind}", gvk, _DELETECOLLECTION_PARAMS,
                                   _responses(status), _object_body(_ref(f"{META}.DeleteOptions")))
    if ops:
        paths[collection] = {**ops, "parameters": [*scope_params, _P["pretty"]]}

    ops = {}
    if "get" in verbs:
        ops["get"] = _operation(ctx, f"read{gv}{scoped}{r.kind}", "get", f"read the specified {r.kind}", gvk,
                                (), _responses(obj))
    if "update" in verbs:
        ops["put"] = _operation(ctx, f"replace{gv}{scoped}{r.kind}", "put", f"replace the specified {r.kind}",
                                gvk, _WRITE_PARAMS, _responses(obj, ("200", "201")), _object_body(obj))
    if "delete" in verbs:
        ops["delete"] = _operation(ctx, f"delete{gv}{scoped}{r.kind}", "delete", f"delete a {r.kind}", gvk,
                                   _DELETE_PARAMS, _responses(status, ("200", "202")),
                                   _object_body(_ref(f"{META}.DeleteOptions")))
    if "patch" in verbs:
        ops["patch"] = _operation(ctx, f"patch{gv}{scoped}{r.kind}", "patch",
                                  f"partially update the specified {r.kind}", gvk, (*_WRITE_PARAMS, "force"),
                                  _responses(obj, ("200", "201")), _patch_body(ctx.builtin))
    if ops:
        paths[item] = {**ops, "parameters": [name_param, *scope_params, _P["pretty"]]}

    if r.namespaced and "list" in verbs:
        paths[f"{prefix}/{r.plural}"] = {
            "get": _operation(ctx, f"list{gv}{r.kind}ForAllNamespaces", "list",
                              f"list or watch objects of kind {r.kind}", gvk, (),
                              _responses(_ref(list_name) if list_name else None, media=_LIST_MEDIA)),
            "parameters": [_P[p] for p in (*_LIST_PARAMS, "pretty")],
        }

    for s in r.subresources:
        sub_ops = _subresource_ops(ctx, r, s, f"{gv}{scoped}{r.kind}{_sub_op_suffix(s.name)}", gv, scoped)
        if sub_ops:
            paths[f"{item}/{s.name}"] = {**sub_ops, "parameters": [name_param, *scope_params, _P["pretty"]]}
    return paths


_CONNECT_METHODS = {"get": ("get", "Get"), "create": ("post", "Post"), "delete": ("delete", "Delete"),
                    "patch": ("patch", "Patch"), "update": ("put", "Put")}


def _subresource_ops(ctx: _Ctx, r: ResourceInfo, s: Subresource, name: str, gv: str, scoped: str) -> Schema:
    group, version = s.group or r.group, s.version or r.version
    gvk = _gvk(group, version, s.kind)
    schema_name_ = ctx.names.get((group, version, s.kind))
    ops: Schema = {}
    if s.name == "log":
        ops["get"] = _operation(ctx, f"read{name}", "get", f"read log of the specified {r.kind}", gvk, (),
                                _responses({"type": "string"}, media=("text/plain",)))
        return ops
    if schema_name_ is None:  # exec, attach, portforward, proxy: connections, not objects
        for verb in s.verbs:
            method, word = _CONNECT_METHODS[verb]
            ops[method] = _operation(ctx, f"connect{gv}{word}{scoped}{r.kind}{_sub_op_suffix(s.name)}", "connect",
                                     f"connect {word} requests to {s.name} of {r.kind}", gvk, (),
                                     _responses({"type": "string"}, media=("*/*",)))
        return ops
    obj = _ref(schema_name_)
    verbs = set(s.verbs)
    if "get" in verbs:
        ops["get"] = _operation(ctx, f"read{name}", "get", f"read {s.name} of the specified {r.kind}", gvk, (),
                                _responses(obj))
    if "update" in verbs:
        ops["put"] = _operation(ctx, f"replace{name}", "put", f"replace {s.name} of the specified {r.kind}", gvk,
                                _WRITE_PARAMS, _responses(obj, ("200", "201")), _object_body(obj))
    if "patch" in verbs:
        ops["patch"] = _operation(ctx, f"patch{name}", "patch", f"partially update {s.name} of the specified "
                                  f"{r.kind}", gvk, (*_WRITE_PARAMS, "force"), _responses(obj, ("200", "201")),
                                  _patch_body(ctx.builtin))
    if "create" in verbs:
        ops["post"] = _operation(ctx, f"create{name}", "post", f"create {s.name} of a {r.kind}", gvk,
                                 _WRITE_PARAMS, _responses(obj, ("200", "201", "202")), _object_body(obj))
    return ops


# -- documents --------------------------------------------------------------------------------

def _in_group_version(registry: Iterable[ResourceInfo], group: str, version: str) -> list[ResourceInfo]:
    return sorted((r for r in registry if r.group == group and r.version == version), key=lambda r: r.plural)


def _crd_schema(r: ResourceInfo, schemas: SchemaSource) -> Schema | None:
    """A custom kind's openAPIV3Schema: from `schemas` (keyed by (group, version, kind) or by kind
    alone) or the entry's `openapi_schema` attribute (for a ResourceInfo subclass)."""
    if schemas:
        for key in ((r.group, r.version, r.kind), r.kind):
            if key in schemas:
                return schemas[key]
    found = getattr(r, "openapi_schema", None)
    return found if isinstance(found, dict) else None


def _crd_schema_name(group: str, version: str, kind: str) -> str:
    return ".".join([*reversed(group.split(".")), version, kind])


def _custom_kind_schema(r: ResourceInfo, given: Schema | None) -> Schema:
    schema: Schema = dict(given) if given else {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema.setdefault("type", "object")
    properties = dict(schema.get("properties") or {})
    properties.setdefault("apiVersion", {"type": "string", "description": _API_VERSION_DESCRIPTION})
    properties.setdefault("kind", {"type": "string", "description": _KIND_DESCRIPTION})
    properties["metadata"] = {"description": _METADATA_DESCRIPTIONS["metadata"], "allOf": [_ref(f"{META}.ObjectMeta")]}
    schema["properties"] = properties
    schema["x-kubernetes-group-version-kind"] = [_gvk(r.group, r.version, r.kind)]
    return schema


def _custom_list_schema(r: ResourceInfo, item_name: str) -> Schema:
    return {
        "description": f"{r.kind}List is a list of {r.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": _API_VERSION_DESCRIPTION},
            "items": {"type": "array", "items": _ref(item_name),
                      "description": f"List of {r.plural}."},
            "kind": {"type": "string", "description": _KIND_DESCRIPTION},
            "metadata": {"description": "Standard list metadata.", "allOf": [_ref(f"{META}.ListMeta")]},
        },
        "x-kubernetes-group-version-kind": [_gvk(r.group, r.version, r.list_kind)],
    }


_API_VERSION_DESCRIPTION = (
    "APIVersion defines the versioned schema of this representation of an object. Servers should convert "
    "recognized schemas to the latest internal value, and may reject unrecognized values. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources")
_KIND_DESCRIPTION = (
    "Kind is a string value representing the REST resource this object represents. Servers may infer this "
    "from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds")


def _collect_models(roots: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen[name] = None
        for f in _fields(name):
            stack.extend(_model_refs(f.type))
    return list(seen)


def _collect_refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref[len("#/components/schemas/"):])
        for value in node.values():
            _collect_refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _collect_refs(value, out)


def _build_group_version(resources: list[ResourceInfo], group: str, version: str,
                         crd: Mapping[str, Schema | None]) -> Schema:
    # Roots: each kind, its list kind, subresource response kinds, and the meta kinds every
    # group-version's operations answer with.
    roots: list[tuple[str, str, tuple[str, str, str]]] = []  # (model, package, gvk)
    custom: list[ResourceInfo] = []
    for r in resources:
        model = _model_for(r.group, r.version, r.kind)
        if model is None:
            custom.append(r)
        else:
            roots.append((model, _package_of_group(r.group), (r.group, r.version, r.kind)))
            list_model = _model_for(r.group, r.version, r.list_kind)
            if list_model is not None:
                roots.append((list_model, _package_of_group(r.group), (r.group, r.version, r.list_kind)))
        for s in r.subresources:
            sg, sv = s.group or r.group, s.version or r.version
            sub_model = _model_for(sg, sv, s.kind)
            if sub_model is not None:
                roots.append((sub_model, _package_of_group(sg), (sg, sv, s.kind)))
    for kind in ("Status", "DeleteOptions", "APIResourceList", "ObjectMeta", "ListMeta"):
        roots.append((f"V1{kind}", "meta", ("", "", "")))

    for model, package, _ in roots:
        _assign_packages(model, package)

    names: dict[tuple[str, str, str], str] = {}
    gvks: dict[str, list[dict[str, str]]] = {}
    for model, _, (g, v, k) in roots:
        if k:
            names[(g, v, k)] = schema_name(model)
            gvks.setdefault(model, [])
            if _gvk(g, v, k) not in gvks[model]:
                gvks[model].append(_gvk(g, v, k))

    schemas: dict[str, Schema] = {}
    for model in _collect_models(m for m, _, _ in roots):
        schema = _model_schema(model)
        if model in gvks:
            schema = {**schema, "x-kubernetes-group-version-kind": gvks[model]}
        schemas[schema_name(model)] = schema
    for r in custom:
        item_name = _crd_schema_name(r.group, r.version, r.kind)
        list_name = _crd_schema_name(r.group, r.version, r.list_kind)
        schemas[item_name] = _custom_kind_schema(r, crd.get(r.kind))
        schemas[list_name] = _custom_list_schema(r, item_name)
        names[(r.group, r.version, r.kind)] = item_name
        names[(r.group, r.version, r.list_kind)] = list_name
    schemas.update(_HANDWRITTEN)

    ctx_builtin = {r.kind: _model_for(r.group, r.version, r.kind) is not None for r in resources}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    gv = _op_group_version(group, version)
    paths: dict[str, Schema] = {
        f"{prefix}/": {"get": {
            "tags": [_tag(group, version)],
            "description": "get available resources",
            "operationId": f"get{gv}APIResources",
            "responses": _responses(_ref(f"{META}.APIResourceList"), media=("application/json", "application/yaml",
                                                                             "application/vnd.kubernetes.protobuf")),
        }},
    }
    for r in resources:
        ctx = _Ctx(group, version, ctx_builtin[r.kind], names)
        paths.update(_resource_paths(ctx, r))

    # Keep only schemas something references (transitively), so the document stays small,
    # but never drop one a path needs.
    used: set[str] = set()
    _collect_refs(paths, used)
    keep: dict[str, Schema] = {}
    pending = sorted(used)
    while pending:
        name = pending.pop()
        if name in keep or name not in schemas:
            continue
        keep[name] = schemas[name]
        found: set[str] = set()
        _collect_refs(schemas[name], found)
        pending.extend(found - keep.keys())
    return _document(paths, dict(sorted(keep.items())))


def _document(paths: Schema, schemas: Schema) -> Schema:
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION.split("+")[0]},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                "name": "authorization", "in": "header"}},
        },
    }


# (group, version) -> (input digest, body, hash)
_DOCS: dict[tuple[str, str], tuple[str, bytes, str]] = {}


def _input_digest(resources: list[ResourceInfo], crd: Mapping[str, Schema | None]) -> str:
    h = hashlib.sha512(_CODE_DIGEST.encode())
    h.update(repr(resources).encode())
    h.update(orjson.dumps(crd, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest().upper()


def _crd_inputs(resources: list[ResourceInfo], schemas: SchemaSource) -> dict[str, Schema | None]:
    return {r.kind: _crd_schema(r, schemas) for r in resources if _model_for(r.group, r.version, r.kind) is None}


def document_hash(registry: Iterable[ResourceInfo], group: str, version: str,
                  schemas: SchemaSource = None) -> str | None:
    """The hash (ETag) `openapi_v3_document` would give, without building the document."""
    resources = _in_group_version(registry, group, version)
    if not resources:
        return None
    return _input_digest(resources, _crd_inputs(resources, schemas))


def openapi_v3_document(registry: Iterable[ResourceInfo], group: str, version: str,
                        schemas: SchemaSource = None) -> tuple[bytes, str] | None:
    """`GET /openapi/v3/apis/<group>/<version>` (or `api/v1`): the JSON document and its hash
    (send it as `ETag: "<hash>"`; answer 304 to a matching `If-None-Match`). None when the
    group-version is not served. `schemas` gives custom kinds' openAPIV3Schema by kind."""
    resources = _in_group_version(registry, group, version)
    if not resources:
        return None
    crd = _crd_inputs(resources, schemas)
    digest = _input_digest(resources, crd)
    cached = _DOCS.get((group, version))
    if cached is not None and cached[0] == digest:
        return cached[1], cached[2]
    body = orjson.dumps(_build_group_version(resources, group, version, crd))
    _DOCS[(group, version)] = (digest, body, digest)
    return body, digest


def _small_document(path: str, op_id: str, description: str, schema: str, extra: Mapping[str, Schema]) -> Schema:
    return _document(
        {path: {"get": {"tags": [op_id.removeprefix("get").removesuffix("APIGroup").lower() or "core"],
                        "description": description, "operationId": op_id,
                        "responses": _responses(_ref(schema), media=("application/json",))}}},
        dict(extra),
    )


def _discovery_schemas(*models: str) -> dict[str, Schema]:
    for model in models:
        _assign_packages(model, "meta")
    return {schema_name(m): _model_schema(m) for m in _collect_models(models)}


def openapi_v3_path_document(registry: Iterable[ResourceInfo], path: str,
                             schemas: SchemaSource = None) -> tuple[bytes, str] | None:
    """Any path the index lists: `api/v1`, `apis/<g>/<v>`, and the small `api`, `apis`,
    `apis/<g>`, `version` documents. None when unknown."""
    path = path.strip("/")
    parts = path.split("/")
    registry = list(registry)
    if parts[0] == "api" and len(parts) == 2:
        return openapi_v3_document(registry, "", parts[1], schemas)
    if parts[0] == "apis" and len(parts) == 3:
        return openapi_v3_document(registry, parts[1], parts[2], schemas)
    doc: Schema | None = None
    if path == "api":
        doc = _small_document("/api/", "getCoreAPIVersions", "get available API versions",
                              f"{META}.APIVersions", _discovery_schemas("V1APIVersions"))
    elif path == "apis":
        doc = _small_document("/apis/", "getAPIVersions", "get available API versions",
                              f"{META}.APIGroupList", _discovery_schemas("V1APIGroupList"))
    elif path == "version":
        doc = _small_document("/version/", "getCodeVersion", "get the version information for this server",
                              VERSION_INFO, {VERSION_INFO: _model_schema("VersionInfo")})
    elif parts[0] == "apis" and len(parts) == 2 and any(g["name"] == parts[1] for g in api_group_list(registry)["groups"]):
        doc = _small_document(f"/apis/{parts[1]}/", f"get{_op_group_version(parts[1], '')}APIGroup",
                              "get information of a group", f"{META}.APIGroup", _discovery_schemas("V1APIGroup"))
    if doc is None:
        return None
    body = orjson.dumps(doc)
    return body, hashlib.sha512(body).hexdigest().upper()


def openapi_v3_index(registry: Iterable[ResourceInfo], schemas: SchemaSource = None) -> Schema:
    """`GET /openapi/v3`: every document's path with its `serverRelativeURL` carrying the hash."""
    registry = list(registry)
    paths: dict[str, Schema] = {}

    def add(path: str, digest: str | None) -> None:
        if digest is not None:
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}

    for path in ("api", "apis", "version"):
        found = openapi_v3_path_document(registry, path)
        add(path, found[1] if found else None)
    gvs = list(dict.fromkeys((r.group, r.version) for r in registry))
    for group, version in gvs:
        key = f"apis/{group}/{version}" if group else f"api/{version}"
        add(key, document_hash(registry, group, version, schemas))
    for group in dict.fromkeys(g for g, _ in gvs if g):
        found = openapi_v3_path_document(registry, f"apis/{group}")
        add(f"apis/{group}", found[1] if found else None)
    return {"paths": dict(sorted(paths.items()))}


def warm(registry: Iterable[ResourceInfo], schemas: SchemaSource = None) -> int:
    """Build every document once (imports the client's models: ~0.5 s for the built-ins), so
    that no request pays for it. Blocking: run it in a thread (`asyncio.to_thread`) at start.
    Returns the total size of the documents in bytes."""
    registry = list(registry)
    total = 0
    for path in openapi_v3_index(registry, schemas)["paths"]:
        found = openapi_v3_path_document(registry, path, schemas)
        total += len(found[0]) if found else 0
    return total
