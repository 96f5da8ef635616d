"""Shared field validators with Kubernetes' exact messages.

Kubernetes reports every validation problem as a `field.Error`: a type (Required, Invalid,
NotSupported ...), a path (`spec.template.spec.containers[0].image`), the bad value and a
detail. The API server turns each into a `details.causes` entry whose message is the
error's *body* (`Invalid value: "Web": a lowercase RFC 1123 subdomain must ...`), and kubectl
prints them after `The Deployment "web" is invalid:`. The helpers here build those causes, and
the `is_*` predicates return the detail strings of k8s.io/apimachinery/pkg/util/validation
word for word, because users (and scripts) match on them.

What this module must never do: know about a particular kind (that is `kinds_*`), mutate an
object, or raise for bad input — validators return lists of causes, empty when all is well.
"""

from __future__ import annotations

import functools
import json
import re
from fractions import Fraction
from typing import Any, TypeGuard

from apimachinery.errors import Cause

# ----------------------------------------------------------------- field errors

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
NOT_FOUND = "FieldValueNotFound"

FIELD_IMMUTABLE = "field is immutable"


def go_value(value: Any) -> str:
    """The bad value as Kubernetes prints it in a message (Go's `%q` for strings, `%v` for
    numbers, `%#v` for maps and slices of strings)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, dict):
        if all(isinstance(v, str) for v in value.values()):
            inner = ", ".join(f"{go_quote(k)}:{go_quote(v)}" for k, v in sorted(value.items()))
            return "map[string]string{" + inner + "}"
        inner = ", ".join(f"{go_quote(k)}:{go_value(v)}" for k, v in sorted(value.items()))
        return "map[string]interface {}{" + inner + "}"
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return "[]string{" + ", ".join(go_quote(v) for v in value) + "}"
        return "[]interface {}{" + ", ".join(go_value(v) for v in value) + "}"
    return str(value)


class Raw(str):
    """A value already rendered as Kubernetes renders it (a Go type dump, an IntOrString):
    printed without quotes."""


def go_quote(s: str) -> str:
    """Go's `%q`: a double-quoted string with Go escapes (close to JSON's for what users
    type; printable non-ASCII stays as is)."""
    return json.dumps(s, ensure_ascii=False).replace("\\u007f", "\\x7f")


def _body(kind: str, value: Any, detail: str, show_value: bool = True) -> str:
    if isinstance(value, Raw):
        s = f"{kind}: {value}" if show_value else kind
    else:
        s = f"{kind}: {go_value(value)}" if show_value else kind
    if detail:
        s += f": {detail}"
    return s


def required(path: str, detail: str = "") -> Cause:
    return Cause(path, _body("Required value", None, detail, False), REQUIRED)


def invalid(path: str, value: Any, detail: str = "") -> Cause:
    return Cause(path, _body("Invalid value", value, detail), INVALID)


def not_supported(path: str, value: Any, valid: list[str] | tuple[str, ...]) -> Cause:
    detail = ("supported values: " + ", ".join(go_quote(v) for v in valid)) if valid else ""
    return Cause(path, _body("Unsupported value", value, detail), NOT_SUPPORTED)


def duplicate(path: str, value: Any) -> Cause:
    return Cause(path, _body("Duplicate value", value, ""), DUPLICATE)


def forbidden(path: str, detail: str) -> Cause:
    return Cause(path, _body("Forbidden", None, detail, False), FORBIDDEN)


def too_long(path: str, max_length: int) -> Cause:
    return Cause(path, _body("Too long", None, f"must have at most {max_length} bytes", False), TOO_LONG)


def too_many(path: str, actual: int, max_items: int) -> Cause:
    return Cause(path, _body("Too many", actual, f"must have at most {max_items} items"), TOO_MANY)


def not_found(path: str, value: Any) -> Cause:
    return Cause(path, _body("Not found", value, ""), NOT_FOUND)


def immutable(path: str, new: Any, old: Any, render: Any = None) -> list[Cause]:
    """ValidateImmutableField: `Invalid value: <new>: field is immutable` when new != old."""
    if new == old:
        return []
    return [invalid(path, new if render is None else render, FIELD_IMMUTABLE)]


# ----------------------------------------------------------------- strings

def max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    msg += " (e.g. "
    msg += " or ".join(f"'{e}', " for e in examples)
    return msg + f"regex used for validation is '{fmt}')"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


EMPTY_ERROR = "must be non-empty"
NEGATIVE_ERROR = "must be greater than or equal to 0"

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                     "and must start and end with an alphanumeric character")
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                         "'-' or '.', and must start and end with an alphanumeric character")
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
                     "an alphabetic character, and end with an alphanumeric character")
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                      "an alphanumeric character")
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                   "'.', and must start and end with an alphanumeric character")
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
PERCENT_FMT = "[0-9]+%"
PERCENT_MSG = "a valid percent string must be a numeric string followed by an ending '%'"

_DNS1123_LABEL = re.compile(f"^{DNS1123_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(f"^{DNS1123_SUBDOMAIN_FMT}$")
_DNS1035_LABEL = re.compile(f"^{DNS1035_LABEL_FMT}$")
_QUALIFIED_NAME = re.compile(f"^{QUALIFIED_NAME_FMT}$")
_LABEL_VALUE = re.compile(f"^{LABEL_VALUE_FMT}$")
_CONFIG_MAP_KEY = re.compile(f"^{CONFIG_MAP_KEY_FMT}$")
_PERCENT = re.compile(f"^{PERCENT_FMT}$")


def _fullmatch(rx: re.Pattern[str], value: str) -> bool:
    # fullmatch: Python's `$` would also accept a trailing newline, Go's does not.
    return rx.fullmatch(value) is not None


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _fullmatch(_DNS1123_LABEL, value):
        if _fullmatch(_DNS1123_SUBDOMAIN, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _fullmatch(_DNS1123_SUBDOMAIN, value):
        errs.append(regex_error(DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _fullmatch(_DNS1035_LABEL, value):
        errs.append(regex_error(DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """Label keys, annotation keys, finalizers: `[prefix/]name`."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + EMPTY_ERROR)
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name",
                                                  "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part " + EMPTY_ERROR)
    elif len(name) > 63:
        errs.append("name part " + max_len_error(63))
    if not _fullmatch(_QUALIFIED_NAME, name):
        errs.append("name part " + regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name",
                                               "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > 63:
        errs.append(max_len_error(63))
    if not _fullmatch(_LABEL_VALUE, value):
        errs.append(regex_error(LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _fullmatch(_CONFIG_MAP_KEY, value):
        errs.append(regex_error(CONFIG_MAP_KEY_MSG, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir_prefix(value)


def is_env_var_name(value: str) -> list[str]:
    """The relaxed rule (RelaxedEnvironmentVariableValidation, on by default in v1.32)."""
    errs = []
    if not value:
        errs.append("environment variable name " + EMPTY_ERROR)
    if any(ord(c) > 126 or ord(c) < 32 or c == "=" for c in value):
        errs.append("a valid environment variable name must consist only of printable ASCII characters "
                    "other than '='")
    return errs


def is_valid_port_num(port: Any) -> list[str]:
    if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def is_valid_port_name(port: str) -> list[str]:
    errs = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not re.fullmatch("[-a-z0-9]+", port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_percent(value: str) -> list[str]:
    if _fullmatch(_PERCENT, value):
        return []
    return [regex_error(PERCENT_MSG, PERCENT_FMT, "1%", "93%")]


def mask_trailing_dash(name: str) -> str:
    """generateName prefixes may end with '-': validate them as if it were a letter."""
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_subdomain(mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1123_label(mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    return is_dns1035_label(mask_trailing_dash(name) if prefix else name)


def validate_path_segment_name(name: str, prefix: bool = False) -> list[str]:
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    errs = []
    for bad in ("/", "%"):
        if bad in name:
            errs.append(f"may not contain '{bad}'")
    return errs


# ----------------------------------------------------------------- small helpers

def is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def nonnegative(value: Any, path: str) -> list[Cause]:
    if is_int(value) and value < 0:
        return [invalid(path, value, NEGATIVE_ERROR)]
    return []


def positive(value: Any, path: str) -> list[Cause]:
    if is_int(value) and value <= 0:
        return [invalid(path, value, "must be greater than zero")]
    return []


def int_or_string(v: Any) -> Raw:
    """An IntOrString as Kubernetes prints it (its String(): no quotes)."""
    return Raw(str(v))


def validate_positive_int_or_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str):
        return [invalid(path, int_or_string(value), m) for m in is_valid_percent(value)]
    if is_int(value) and value < 0:
        return [invalid(path, int_or_string(value), NEGATIVE_ERROR)]
    return []


def percent_or_int_value(value: Any) -> int | None:
    """25 for "25%", 3 for 3, None when it is not a percent string."""
    if isinstance(value, str) and _fullmatch(_PERCENT, value):
        return int(value[:-1])
    if is_int(value):
        return int(value)
    return None


def is_not_more_than_100_percent(value: Any, path: str) -> list[Cause]:
    if isinstance(value, str) and _fullmatch(_PERCENT, value) and int(value[:-1]) > 100:
        return [invalid(path, int_or_string(value), "must not be greater than 100%")]
    return []


# ----------------------------------------------------------------- metadata

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_labels(labels: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(labels, dict):
        return causes
    for k, v in labels.items():
        causes += [invalid(path, k, m) for m in is_qualified_name(str(k))]
        if not isinstance(v, str):
            continue
        causes += [invalid(path, v, m) for m in is_valid_label_value(v)]
    return causes


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(annotations, dict):
        return causes
    size = 0
    for k, v in annotations.items():
        causes += [invalid(path, k, m) for m in is_qualified_name(str(k).lower())]
        size += len(str(k).encode()) + len(str(v or "").encode())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return causes


def validate_owner_references(refs: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(refs, list):
        return causes
    controllers = []
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        api_version = ref.get("apiVersion") or ""
        version = api_version.rpartition("/")[2]
        if not version:
            causes.append(invalid(path + ".apiVersion", api_version, "version must not be empty"))
        if not ref.get("kind"):
            causes.append(invalid(path + ".kind", ref.get("kind") or "", "kind must not be empty"))
        if not ref.get("name"):
            causes.append(invalid(path + ".name", ref.get("name") or "", "name must not be empty"))
        if not ref.get("uid"):
            causes.append(invalid(path + ".uid", ref.get("uid") or "", "uid must not be empty"))
        if ref.get("controller") is True:
            controllers.append(ref)
    if len(controllers) > 1:
        names = ", ".join(f'{{{c.get("kind")} {c.get("name")} {c.get("uid")}}}' for c in controllers)
        causes.append(invalid(path, Raw(f"[{names}]"),
                              "Only one reference can have Controller set to true. Found \"true\" in "
                              f"references for {names}"))
    return causes


def validate_finalizers(finalizers: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if not isinstance(finalizers, list):
        return causes
    for f in finalizers:
        if isinstance(f, str):
            causes += [invalid(path, f, m) for m in is_qualified_name(f)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        causes.append(invalid(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set"))
    return causes


def validate_object_meta(meta: Any, namespaced: bool, name_fn: Any = name_is_dns_subdomain,
                         path: str = "metadata") -> list[Cause]:
    """ValidateObjectMetaAccessor: name (or generateName), namespace per scope, labels,
    annotations, ownerReferences, finalizers."""
    if not isinstance(meta, dict):
        return [required(path + ".name", "name or generateName is required")]
    causes: list[Cause] = []
    gen = meta.get("generateName") or ""
    if gen:
        causes += [invalid(path + ".generateName", gen, m) for m in name_fn(gen, True)]
    name = meta.get("name") or ""
    if not name:
        causes.append(required(path + ".name", "name or generateName is required"))
    else:
        causes += [invalid(path + ".name", name, m) for m in name_fn(name, False)]
    ns = meta.get("namespace") or ""
    if namespaced:
        if not ns:
            causes.append(required(path + ".namespace"))
        else:
            causes += [invalid(path + ".namespace", ns, m) for m in name_is_dns_label(ns)]
    elif ns:
        causes.append(forbidden(path + ".namespace", "not allowed on this type"))
    causes += nonnegative(meta.get("generation"), path + ".generation")
    causes += validate_labels(meta.get("labels"), path + ".labels")
    causes += validate_annotations(meta.get("annotations"), path + ".annotations")
    causes += validate_owner_references(meta.get("ownerReferences"), path + ".ownerReferences")
    causes += validate_finalizers(meta.get("finalizers"), path + ".finalizers")
    return causes


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[Cause]:
    new = new if isinstance(new, dict) else {}
    old = old if isinstance(old, dict) else {}
    causes: list[Cause] = []
    causes += immutable(path + ".name", new.get("name") or "", old.get("name") or "")
    causes += immutable(path + ".namespace", new.get("namespace") or "", old.get("namespace") or "")
    if old.get("uid") and new.get("uid"):
        causes += immutable(path + ".uid", new.get("uid"), old.get("uid"))
    if old.get("creationTimestamp") and new.get("creationTimestamp"):
        causes += immutable(path + ".creationTimestamp", new.get("creationTimestamp"), old.get("creationTimestamp"))
    if old.get("deletionTimestamp") and "finalizers" in new:
        # No new finalizer may be added to an object that is being deleted.
        added = [f for f in new.get("finalizers") or [] if f not in (old.get("finalizers") or [])]
        if added:
            causes.append(forbidden(path + ".finalizers",
                                    f"no new finalizers can be added if the object is being deleted, found new "
                                    f"finalizers {go_value(added)}"))
    causes += nonnegative(new.get("generation"), path + ".generation")
    causes += validate_labels(new.get("labels"), path + ".labels")
    causes += validate_annotations(new.get("annotations"), path + ".annotations")
    causes += validate_owner_references(new.get("ownerReferences"), path + ".ownerReferences")
    causes += validate_finalizers(new.get("finalizers"), path + ".finalizers")
    return causes


# ----------------------------------------------------------------- label selectors

SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: str, allow_invalid_values: bool = False) -> list[Cause]:
    """metav1 ValidateLabelSelector (matchLabels and matchExpressions)."""
    causes: list[Cause] = []
    if not isinstance(selector, dict):
        return causes
    for i, req in enumerate(selector.get("matchExpressions") or []):
        p = f"{path}.matchExpressions[{i}]"
        if not isinstance(req, dict):
            continue
        op = req.get("operator") or ""
        values = req.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                causes.append(required(p + ".values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                causes.append(forbidden(p + ".values",
                                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            causes.append(invalid(p + ".operator", op, "not a valid selector operator"))
        key = req.get("key") or ""
        causes += [invalid(p + ".key", key, m) for m in is_qualified_name(key)]
        if not allow_invalid_values:
            for j, v in enumerate(values):
                if isinstance(v, str):
                    causes += [invalid(f"{p}.values[{j}]", v, m) for m in is_valid_label_value(v)]
    causes += validate_labels(selector.get("matchLabels"), path + ".matchLabels")
    return causes


def selector_matches(selector: Any, labels: dict[str, str] | None) -> bool:
    """Does a LabelSelector (matchLabels + matchExpressions) select these labels?"""
    labels = labels or {}
    if not isinstance(selector, dict):
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_is_empty(selector: Any) -> bool:
    return not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions"))


def label_selector_go(selector: Any) -> Raw:
    """A metav1.LabelSelector as Go's `%#v` prints it in `field is immutable` messages."""
    selector = selector if isinstance(selector, dict) else {}
    ml = selector.get("matchLabels")
    ml_s = go_value(ml) if ml else "map[string]string(nil)"
    exprs = selector.get("matchExpressions")
    if exprs:
        parts = []
        for e in exprs:
            vals = e.get("values")
            vals_s = go_value(vals) if vals else "[]string(nil)"
            parts.append(f'v1.LabelSelectorRequirement{{Key:{go_quote(e.get("key") or "")}, '
                         f'Operator:{go_quote(e.get("operator") or "")}, Values:{vals_s}}}')
        ex_s = "[]v1.LabelSelectorRequirement{" + ", ".join(parts) + "}"
    else:
        ex_s = "[]v1.LabelSelectorRequirement(nil)"
    return Raw(f"v1.LabelSelector{{MatchLabels:{ml_s}, MatchExpressions:{ex_s}}}")


# ----------------------------------------------------------------- quantities

QUANTITY_REGEX_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_QUANTITY = re.compile(r"^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]?)$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}


def parse_quantity(value: Any) -> tuple[Fraction, str]:
    """(value, format) with format 'BinarySI', 'DecimalSI' or 'DecimalExponent'; ValueError
    for what Kubernetes would reject when decoding."""
    if is_int(value) or isinstance(value, float):
        return Fraction(value), "DecimalSI"
    if not isinstance(value, str):
        raise ValueError(QUANTITY_REGEX_ERROR)
    return _parse_quantity_text(value)


@functools.lru_cache(maxsize=4096)
def _parse_quantity_text(value: str) -> tuple[Fraction, str]:
    """A quantity string, parsed once: every pod of a workload repeats the same few
    (`100m`, `64Mi`), each checked several times per write, and Fractions are slow to make."""
    m = _QUANTITY.match(value.strip())
    if not m or value != value.strip():
        raise ValueError(QUANTITY_REGEX_ERROR)
    sign, num, suffix = m.groups()
    n = Fraction(num if not num.endswith(".") else num[:-1] or "0")
    if sign == "-":
        n = -n
    if suffix in _BINARY:
        return n * (1024 ** _BINARY[suffix]), "BinarySI"
    if suffix[:1] in ("e", "E"):
        return n * Fraction(10) ** int(suffix[1:]), "DecimalExponent"
    return n * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"


def canonical_quantity(value: Any) -> str:
    """Quantity.String(): the canonical form (`1`, `500m`, `1536Mi`, `2k`)."""
    try:
        v, fmt = parse_quantity(value)
    except ValueError:
        return str(value)
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    v = abs(v)
    if fmt == "BinarySI" and v.denominator == 1 and v >= 1024:
        n = 0
        while n < 6 and (v / 1024 ** (n + 1)).denominator == 1:
            n += 1
        return f"{sign}{int(v / 1024 ** n)}{_BINARY_SUFFIX.get(n, '')}"
    # Decimal: the largest exponent (multiple of 3, -9..18) that keeps an integer mantissa.
    best = None
    for e in range(18, -12, -3):
        if (v / Fraction(10) ** e).denominator == 1:
            best = e
            break
    mant: Fraction | int
    if best is None:
        best = -9
        mant = -(-v * 10 ** 9 // 1)  # round up to nano units
    else:
        mant = v / Fraction(10) ** best
    if fmt == "DecimalExponent":
        return f"{sign}{int(mant)}" + (f"e{best}" if best else "")
    return f"{sign}{int(mant)}{_DECIMAL_SUFFIX[best]}"


def quantity_value(value: Any) -> Fraction | None:
    try:
        return parse_quantity(value)[0]
    except ValueError:
        return None
