"""Label and field selectors, parsed, printed and matched exactly as Kubernetes does.

The API server filters lists and watches with them, and controllers select their pods with
them, so one implementation serves both: the string grammar and error messages of
`k8s.io/apimachinery/pkg/labels` and `pkg/fields`, the API form of `metav1.LabelSelector`,
and the per-kind table of selectable fields (the field label conversions of each kind).

It must never do I/O or know about storage: everything here is a pure function of its
arguments, and no input is ever mutated."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from apimachinery.errors import BadRequest

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "convert_field_label",
    "label_key_errors",
    "label_value_errors",
    "object_fields",
    "selector_from_dict",
    "selector_from_set",
]


class SelectorError(BadRequest):
    """A selector that does not parse or validate (400 BadRequest with Kubernetes' message)."""


# ---------------------------------------------------------------------------------------------
# Validation of label keys and values (k8s.io/apimachinery/pkg/util/validation)

_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile("^" + _QNAME_FMT + "$")
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
              "alphanumeric character")
_LABEL_VALUE_FMT = "(" + _QNAME_FMT + ")?"
_LABEL_VALUE_RE = re.compile("^" + _LABEL_VALUE_FMT + "$")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile("^" + _DNS1123_SUBDOMAIN_FMT + "$")
_DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                          "'-' or '.', and must start and end with an alphanumeric character")


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    out = msg + " (e.g. "
    for i, ex in enumerate(examples):
        if i:
            out += " or "
        out += f"'{ex}', "
    return out + f"regex used for validation is '{fmt}')"


def _max_len(n: int) -> str:
    return f"must be no more than {n} characters"


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append(_max_len(253))
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def label_key_errors(key: str) -> list[str]:
    """Kubernetes' IsQualifiedName messages for a label key (empty list when valid)."""
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part " + _max_len(63))
    if not _QNAME_RE.match(name):
        errs.append("name part " + _regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """Kubernetes' IsValidLabelValue messages (empty list when valid)."""
    errs = []
    if len(value) > 63:
        errs.append(_max_len(63))
    if not _LABEL_VALUE_RE.match(value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _go_quote(s: str) -> str:
    """Go's %q for the strings that appear in selectors (printable ASCII in practice)."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_value(v: Any) -> str:
    if isinstance(v, str):
        return _go_quote(v)
    if isinstance(v, list):  # %#v of a []string
        return "[]string{" + ", ".join(_go_quote(x) for x in v) + "}"
    return str(v)


def _field_invalid(path: str, value: Any, detail: str) -> str:
    return f"{path}: Invalid value: {_go_value(value)}: {detail}"


def _aggregate(errs: list[str]) -> str | None:
    seen: list[str] = []
    for e in errs:
        if e not in seen:
            seen.append(e)
    if not seen:
        return None
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


# ---------------------------------------------------------------------------------------------
# Label selectors

IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_VALID_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, EXISTS, DOES_NOT_EXIST, GREATER_THAN,
                    LESS_THAN)


def _parse_int64(s: str) -> int | None:
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        return None
    n = int(s)
    if not -(2**63) <= n < 2**63:
        return None
    return n


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a label selector: `key`, `operator` (one of in, notin, =, ==, !=, exists, !,
    gt, lt) and its values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = (), path: str | None = "") -> Requirement:
        """NewRequirement: validates like Kubernetes and raises SelectorError with its message.
        `path` prefixes field paths in messages (None is Go's nil path, "" means no prefix)."""
        vals = list(values)

        def child(name: str) -> str:
            return f"{path}.{name}" if path else name

        errs: list[str] = []
        kerrs = label_key_errors(key)
        if kerrs:
            errs.append(_field_invalid(child("key"), key, "; ".join(kerrs)))
        vpath = child("values")
        if operator in (IN, NOT_IN):
            if not vals:
                errs.append(_field_invalid(vpath, vals, "for 'in', 'notin' operators, values set can't be empty"))
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                errs.append(_field_invalid(vpath, vals, "exact-match compatibility requires one single value"))
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if vals:
                errs.append(_field_invalid(vpath, vals, "values set must be empty for exists and does not exist"))
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(vals) != 1:
                errs.append(_field_invalid(vpath, vals, "for 'Gt', 'Lt' operators, exactly one value is required"))
            for i, v in enumerate(vals):
                if _parse_int64(v) is None:
                    errs.append(_field_invalid(f"{vpath}[{i}]", v,
                                               "for 'Gt', 'Lt' operators, the value must be an integer"))
        else:
            supported = ", ".join(_go_quote(o) for o in _VALID_OPERATORS)
            errs.append(f"{child('operator')}: Unsupported value: {_go_quote(operator)}: "
                        f"supported values: {supported}")
        for i, v in enumerate(vals):
            verrs = label_value_errors(v)
            if verrs:
                errs.append(_field_invalid(f"{vpath}[{i}][{key}]", v, "; ".join(verrs)))
        msg = _aggregate(errs)
        if msg:
            raise SelectorError(msg)
        return cls(key, operator, tuple(vals))

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        out = ("!" if op == DOES_NOT_EXIST else "") + self.key
        if op in (EXISTS, DOES_NOT_EXIST):
            return out
        out += {EQUALS: "=", DOUBLE_EQUALS: "==", NOT_EQUALS: "!=", IN: " in ", NOT_IN: " notin ",
                GREATER_THAN: ">", LESS_THAN: "<"}.get(op, "")
        vals = self.values[0] if len(self.values) == 1 else ",".join(sorted(self.values))
        return f"{out}({vals})" if op in (IN, NOT_IN) else out + vals


# Lexer tokens
_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _IDENT, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_STRING2TOKEN = {")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN, "<": _LT,
                 "!=": _NEQ, "notin": _NOTIN, "(": _OPEN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    items: list[tuple[int, str]] = []
    pos, n = 0, len(s)
    while True:
        while pos < n and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= n or s[pos] == "\0":
            items.append((_EOS, ""))
            return items
        if s[pos] in _SPECIAL:
            buf, last = "", None
            while pos < n and s[pos] in _SPECIAL:
                buf += s[pos]
                pos += 1
                tok = _STRING2TOKEN.get(buf)
                if tok is not None:
                    last = (tok, buf)
                elif last is not None:
                    pos -= 1
                    break
            items.append(last if last is not None else (_ERROR, f"error expected: keyword found '{buf}'"))
        else:
            start = pos
            while pos < n and s[pos] not in _SPECIAL and s[pos] not in _WHITESPACE and s[pos] != "\0":
                pos += 1
            lit = s[start:pos]
            items.append((_STRING2TOKEN.get(lit, _IDENT), lit))


class _Parser:
    """The recursive-descent parser of labels.Parse, with its exact error messages."""

    def __init__(self, text: str):
        self.items = _lex(text)
        self.pos = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.items[self.pos]
        if values and tok in (_IN, _NOTIN):
            tok = _IDENT
        return tok, lit

    def consume(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.lookahead(values)
        self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_IDENT, _NOT):
                try:
                    reqs.append(self.requirement())
                except SelectorError as e:
                    raise SelectorError(f"unable to parse requirement: {e.message}") from None
                t, lit2 = self.consume()
                if t == _EOS:
                    return reqs
                if t == _COMMA:
                    t2, l2 = self.lookahead()
                    if t2 not in (_IDENT, _NOT):
                        raise SelectorError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit2}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return reqs
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        op: str | None = None
        tok, lit = self.consume()
        if tok == _NOT:
            op = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        kerrs = label_key_errors(key)
        if kerrs:
            raise SelectorError(_field_invalid("<nil>", key, "; ".join(kerrs)))
        if op == DOES_NOT_EXIST or self.lookahead()[0] in (_EOS, _COMMA):
            return Requirement.new(key, op or EXISTS, (), path=None)
        tok, lit = self.consume(values=False)
        ops = {_IN: IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _GT: GREATER_THAN, _LT: LESS_THAN, _NOTIN: NOT_IN,
               _NEQ: NOT_EQUALS}
        if tok not in ops:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        op = ops[tok]
        values = self.values() if op in (IN, NOT_IN) else self.exact_value()
        return Requirement.new(key, op, sorted(values), path=None)

    def values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_IDENT, _COMMA):
            s = self.identifiers()
            if self.consume()[0] != _CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return s
        if tok == _CLOSE:
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> set[str]:
        s: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _IDENT:
                s.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return s
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not s:
                    s.add("")
                tok2 = self.lookahead()[0]
                if tok2 == _CLOSE:
                    s.add("")
                    return s
                if tok2 == _COMMA:
                    self.consume()
                    s.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _IDENT:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector. `requirements` is None for the selector that matches nothing
    (a nil `metav1.LabelSelector`), and empty for the one that matches everything."""

    requirements: tuple[Requirement, ...] | None = ()

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """labels.Parse: `a=b,c!=d,e in (f,g),h notin (i),j,!k,l>5`; raises SelectorError."""
        if not text:
            return cls(())
        reqs = _Parser(text).parse()
        return cls(tuple(sorted(reqs, key=lambda r: r.key)))

    @classmethod
    def from_dict(cls, selector: Mapping[str, Any] | None) -> LabelSelector:
        """metav1.LabelSelectorAsSelector: None matches nothing, `{}` matches everything."""
        if selector is None:
            return cls(None)
        match_labels = selector.get("matchLabels") or {}
        exprs = selector.get("matchExpressions") or []
        if not match_labels and not exprs:
            return cls(())
        reqs = [Requirement.new(k, EQUALS, [v]) for k, v in match_labels.items()]
        ops = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}
        for e in exprs:
            operator = e.get("operator")
            if operator not in ops:
                raise SelectorError(f"{_go_quote(str(operator or ''))} is not a valid label selector operator")
            reqs.append(Requirement.new(e.get("key") or "", ops[operator], list(e.get("values") or [])))
        return cls(tuple(sorted(reqs, key=lambda r: r.key)))

    @classmethod
    def everything(cls) -> LabelSelector:
        return cls(())

    @classmethod
    def nothing(cls) -> LabelSelector:
        return cls(None)

    @property
    def empty(self) -> bool:
        """True when the selector does not restrict anything (Kubernetes' Selector.Empty)."""
        return self.requirements is not None and not self.requirements

    @property
    def matches_nothing(self) -> bool:
        return self.requirements is None

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.requirements is None:
            return False
        ls = labels or {}
        return all(r.matches(ls) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The value `key` must have (for `key=v`, `key==v`, `key in (v)`), else None."""
        for r in self.requirements or ():
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements or ())


def selector_from_dict(selector: Mapping[str, Any] | None) -> LabelSelector:
    """The API form (`spec.selector` of workloads): None matches nothing, `{}` everything."""
    return LabelSelector.from_dict(selector)


def selector_from_set(labels: Mapping[str, str] | None) -> LabelSelector:
    """The map form (`spec.selector` of Services and ReplicationControllers, `nodeSelector`):
    `key=value` for each entry; an empty or missing map matches everything (SelectorFromSet)."""
    return LabelSelector(tuple(Requirement(k, EQUALS, (v,)) for k, v in sorted((labels or {}).items())))


# ---------------------------------------------------------------------------------------------
# Field selectors


def _escape_field_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(s: str) -> str:
    if not any(c in s for c in "\\,="):
        return s
    out: list[str] = []
    in_slash = False
    for c in s:
        if in_slash:
            if c in "\\,=":
                out.append(c)
            else:
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            in_slash = False
            continue
        if c == "\\":
            in_slash = True
        elif c in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms, start, in_slash = [], 0, False
    for i, c in enumerate(text):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed field selector: `requirements` is a tuple of (field, op, value), op one of
    `=`, `==` (stored as `=`) and `!=`, in Kubernetes' canonical (sorted) order."""

    requirements: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """fields.ParseSelector; raises SelectorError with Kubernetes' message."""
        if not text:
            return cls(())
        reqs: list[tuple[str, str, str]] = []
        for part in sorted(_split_terms(text)):
            if not part:
                continue
            for i in range(len(part)):
                op = next((o for o in ("!=", "==", "=") if part.startswith(o, i)), None)
                if op:
                    lhs, rhs = part[:i], part[i + len(op):]
                    break
            else:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
            reqs.append((lhs, "!=" if op == "!=" else "=", _unescape_field_value(rhs)))
        return cls(tuple(reqs))

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def fields(self) -> list[str]:
        return [f for f, _, _ in self.requirements]

    def matches(self, fields: Mapping[str, str]) -> bool:
        for f, op, v in self.requirements:
            have = fields.get(f, "")
            if (have == v) != (op == "="):
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        for f, op, v in self.requirements:
            if f == field and op == "=":
                return v
        return None

    def converted(self, kind: str, group: str = "") -> FieldSelector:
        """The selector with each field label checked and mapped for `kind` (in `group`), as
        the API server's ConvertFieldLabel does; raises SelectorError for an unsupported one."""
        return FieldSelector(tuple((convert_field_label(group, kind, f), op, v)
                                   for f, op, v in self.requirements))

    def __str__(self) -> str:
        return ",".join(f"{f}{'!=' if op == '!=' else '='}{_escape_field_value(v)}"
                        for f, op, v in self.requirements)


_META = ("metadata.name", "metadata.namespace")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                 "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")
_EVENTS_V1_FIELDS = ("regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                     "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath", "reason",
                     "reportingController", "source", "type")
_POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
               "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName")

# (group, kind) -> the field labels its conversion function accepts (besides aliases below).
SELECTABLE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): _META + _POD_FIELDS,
    ("", "Node"): ("metadata.name", "spec.unschedulable"),
    ("", "ReplicationController"): _META + ("status.replicas",),
    ("", "Event"): _META + _EVENT_FIELDS,
    ("", "Namespace"): ("metadata.name", "status.phase"),
    ("", "Secret"): _META + ("type",),
    ("", "Service"): _META + ("spec.clusterIP", "spec.type"),
    ("events.k8s.io", "Event"): _META + _EVENTS_V1_FIELDS,
    ("apps", "ReplicaSet"): _META + ("status.replicas",),
    ("batch", "Job"): _META + ("status.successful",),
    ("certificates.k8s.io", "CertificateSigningRequest"): _META + ("spec.signerName",),
}
_ALIASES: dict[tuple[str, str], dict[str, str]] = {("", "Pod"): {"spec.host": "spec.nodeName"}}


def convert_field_label(group: str, kind: str, label: str) -> str:
    """The field label as the server evaluates it, or SelectorError (400) when `kind` does not
    support selecting on it: `field label not supported: <label>` for kinds with their own
    field set, Kubernetes' default message for the others."""
    key = (group, kind)
    alias = _ALIASES.get(key, {}).get(label)
    if alias:
        return alias
    allowed = SELECTABLE_FIELDS.get(key)
    if allowed is None:
        if label in _META:
            return label
        raise SelectorError(f'"{label}" is not a known field selector: only "metadata.name", '
                            f'"metadata.namespace"')
    if label in allowed:
        return label
    if key == ("batch", "Job"):
        raise SelectorError(f'field label "{label}" not supported for batchv1.Job')
    raise SelectorError(f"field label not supported: {label}")


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    cur: Any = obj
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _s(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def object_fields(kind: str, obj: Mapping[str, Any], group: str | None = None) -> dict[str, str]:
    """The selectable fields of an object (its kind's ToSelectableFields), as strings.

    `group` tells the two Event kinds apart; when omitted it is taken from the object's
    apiVersion."""
    if group is None:
        api_version = str(obj.get("apiVersion") or "")
        group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    meta = obj.get("metadata") or {}
    out = {"metadata.name": _s(meta.get("name")), "metadata.namespace": _s(meta.get("namespace"))}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if group == "" and kind == "Pod":
        pod_ips = status.get("podIPs") or []
        pod_ip = _s(pod_ips[0].get("ip")) if pod_ips and isinstance(pod_ips[0], Mapping) else ""
        out.update({
            "spec.nodeName": _s(spec.get("nodeName")),
            "spec.restartPolicy": _s(spec.get("restartPolicy")),
            "spec.schedulerName": _s(spec.get("schedulerName")),
            "spec.serviceAccountName": _s(spec.get("serviceAccountName")),
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": _s(status.get("phase")),
            "status.podIP": pod_ip or _s(status.get("podIP")),
            "status.nominatedNodeName": _s(status.get("nominatedNodeName")),
        })
    elif group == "" and kind == "Node":
        out["spec.unschedulable"] = "true" if spec.get("unschedulable") else "false"
    elif group == "" and kind == "Namespace":
        out["status.phase"] = _s(status.get("phase"))
    elif group == "" and kind == "Secret":
        out["type"] = _s(obj.get("type"))
    elif group == "" and kind == "Service":
        out["spec.clusterIP"] = _s(spec.get("clusterIP"))
        out["spec.type"] = _s(spec.get("type"))
    elif (group, kind) in (("", "ReplicationController"), ("apps", "ReplicaSet")):
        out["status.replicas"] = _s(status.get("replicas") or 0)
    elif group == "batch" and kind == "Job":
        out["status.successful"] = _s(status.get("succeeded") or 0)
    elif group == "certificates.k8s.io" and kind == "CertificateSigningRequest":
        out["spec.signerName"] = _s(spec.get("signerName"))
    elif group == "" and kind == "Event":
        io = obj.get("involvedObject") or {}
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            out[f"involvedObject.{f}"] = _s(io.get(f))
        out["reason"] = _s(obj.get("reason"))
        out["reportingComponent"] = _s(obj.get("reportingComponent"))
        out["source"] = _s(_get(obj, "source", "component")) or _s(obj.get("reportingComponent"))
        out["type"] = _s(obj.get("type"))
    elif group == "events.k8s.io" and kind == "Event":
        reg = obj.get("regarding") or {}
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            out[f"regarding.{f}"] = _s(reg.get(f))
        out["reason"] = _s(obj.get("reason"))
        out["reportingController"] = _s(obj.get("reportingController"))
        out["source"] = _s(_get(obj, "deprecatedSource", "component")) or _s(obj.get("reportingController"))
        out["type"] = _s(obj.get("type"))
    return out
