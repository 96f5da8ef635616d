"""The small formatters Kubernetes' printers use for table cells: human durations, timestamps,
resource quantities in canonical form, label maps and label selectors.

They exist so that a cell reads exactly as `kubectl get` shows it against Kubernetes v1.32
(`5m3s`, `1536Mi`, `app=web,tier in (a,b)`). Pure functions over plain JSON values: they must
never raise on odd input (a table must render even for an object that is half-filled)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

# ---------------------------------------------------------------------------------------------
# durations and timestamps


def human_duration(seconds: float) -> str:
    """apimachinery's `duration.HumanDuration`: about two significant figures.

    Worked examples: 119 s -> `119s`; 123 s -> `2m3s`; 600 s -> `10m`; 3 h 4 m -> `3h4m`;
    9 h -> `9h`; 2 d 3 h -> `2d3h`; 10 d -> `10d`; 800 d -> `2y70d`; 3000 d -> `8y`.
    Up to one second in the future still reads `0s` (clock skew); more is `<invalid>`."""
    secs = int(seconds)  # truncates toward zero, as Go's int(d.Seconds())
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        s = secs % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp (`metav1.Time` or `MicroTime`) as an aware datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t


def seconds_between(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start) / dt.timedelta(seconds=1)


def since(value: Any, now: dt.datetime) -> str:
    """`translateTimestampSince`: `<unknown>` for a missing timestamp, else the human age."""
    t = parse_time(value)
    if t is None:
        return "<unknown>"
    return human_duration(seconds_between(t, now))


def rfc3339(value: Any) -> str:
    """A timestamp as Go prints `Time.UTC().Format(time.RFC3339)` (the default table's
    `Created At`); the zero time when missing."""
    t = parse_time(value)
    if t is None:
        return "0001-01-01T00:00:00Z"
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# resource quantities

_QUANTITY = re.compile(r"^([+-]?)([0-9]*\.?[0-9]*)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]|)$")
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {0: "", **{v: k for k, v in _BINARY.items()}}


def quantity(value: Any) -> str:
    """A resource quantity in the canonical form `resource.Quantity.String()` prints.

    Worked examples: `1024Mi` -> `1Gi`; `1.5Gi` -> `1536Mi`; `0.5` -> `500m`; `1000` -> `1k`;
    `1500` -> `1500`; `100Ki` stays; `512` (or `0.5Ki`) -> `512`; `1e3` stays `1e3`.
    A missing quantity is the zero quantity, `0`; text that is no quantity is shown as is."""
    if value is None:
        return "0"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        return str(value)
    m = _QUANTITY.match(value.strip())
    if not m or m.group(2) in ("", "."):
        return value
    sign, digits, suffix = m.groups()
    try:
        number = Decimal(sign + digits)
    except InvalidOperation:
        return value
    if suffix in _BINARY:
        amount = number * (Decimal(1024) ** _BINARY[suffix])
        if -1024 < amount < 1024 or amount != amount.to_integral_value():
            return _canonical_decimal(amount, exponent_form=False)
        n, exp = int(amount), 0
        while n != 0 and n % 1024 == 0 and exp < 6:
            n //= 1024
            exp += 1
        return f"{n}{_BINARY_SUFFIX[exp]}"
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return _canonical_decimal(number.scaleb(int(suffix[1:])), exponent_form=True)
    return _canonical_decimal(number.scaleb(_DECIMAL[suffix]), exponent_form=False)


def _canonical_decimal(amount: Decimal, *, exponent_form: bool) -> str:
    """Integer mantissa, exponent a multiple of three, no precision below nano (rounded up)."""
    exponent0 = amount.as_tuple().exponent
    if isinstance(exponent0, int) and exponent0 < -9:
        amount = amount.quantize(Decimal("1e-9"), rounding=ROUND_CEILING)
    sign, digit_tuple, exponent = amount.normalize().as_tuple()
    mantissa = int("".join(map(str, digit_tuple)) or "0")
    exp = int(exponent) if isinstance(exponent, int) else 0
    if mantissa == 0:
        return "0"
    while mantissa % 10 == 0:
        mantissa //= 10
        exp += 1
    while exp % 3 != 0:
        mantissa *= 10
        exp -= 1
    while exp > 18:  # beyond exa: keep the digits
        mantissa *= 1000
        exp -= 3
    text = f"{'-' if sign else ''}{mantissa}"
    if exponent_form:
        return text if exp == 0 else f"{text}e{exp}"
    return text + _DECIMAL_SUFFIX[exp]


def int_or_string(value: Any) -> str:
    """`intstr.IntOrString.String()`."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------------
# labels and selectors


def format_labels(labels: Any) -> str:
    """`labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


class InvalidSelector(ValueError):
    pass


def selector_string(selector: Any) -> str:
    """`metav1.LabelSelectorAsSelector(sel).String()`: requirements sorted by key, `in`/`notin`
    values sorted; `""` for a nil or empty selector. Raises InvalidSelector on a bad operator."""
    if not isinstance(selector, dict):
        return ""
    reqs: list[tuple[str, str]] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        reqs.append((k, f"{k}={v}"))
    for expr in selector.get("matchExpressions") or []:
        key = expr.get("key", "")
        op = expr.get("operator")
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        if op == "In":
            reqs.append((key, f"{key} in ({values})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({values})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
        else:
            raise InvalidSelector(f"{op!r} is not a valid label selector operator")
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_label_selector(selector: Any) -> str:
    """`metav1.FormatLabelSelector`: `<none>` when it selects by nothing, `<error>` if invalid."""
    try:
        text = selector_string(selector)
    except InvalidSelector:
        return "<error>"
    return text or "<none>"


def join_host_port(host: str, port: Any) -> str:
    """`net.JoinHostPort`: IPv6 addresses in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
