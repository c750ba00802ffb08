"""The quick acceptance test of a message schema: nested Python closures.

:func:`compile_check` turns a draft 2020-12 JSON Schema document into one
function of a decoded value that answers True or False, several times
faster than a jsonschema validator. It understands the keywords the
shipped schemas use and is stricter than JSON Schema where being exact
would cost time (an integer must be a Python int, an enum value must have
the same Python type): it may send a valid record on to jsonschema, never
wave an invalid one through. A schema with any other keyword raises
:class:`Unsupported`, and :mod:`schemas.registry` then uses jsonschema
alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

_RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def is_date_time(value: object) -> bool:
    """RFC 3339 date-time: a full date, a full time and a UTC offset.

    The instant must also exist in UTC within years 1-9999 (the range of a
    Python datetime): ``0001-01-01T00:00:00+01:00`` is a valid RFC 3339 text
    for an instant no consumer could compute with.
    """
    if not isinstance(value, str):
        return True
    if _RFC3339_RE.match(value) is None:
        return False
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is outside the years 1-9999 in UTC") from None
    return True


Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "title", "description", "contentEncoding", "$comment"}
)
_TYPES: dict[str, Check] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}
_FORMATS: dict[str, Callable[[object], bool]] = {"date-time": is_date_time}


class Unsupported(Exception):
    """A schema keyword the quick test does not implement."""


def _all(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    steps = tuple(checks)

    def check(v: Any) -> bool:
        # a plain loop: a generator per value costs more than the checks
        for step in steps:
            if not step(v):
                return False
        return True

    return check


def _compile_type(kind: str | list[str]) -> Check:
    kinds = [kind] if isinstance(kind, str) else kind
    tests = [_TYPES[k] for k in kinds]
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(test(v) for test in tests)


def _compile_enum(values: list[Any]) -> Check:
    pairs = [(type(x), x) for x in values]
    return lambda v: any(type(v) is t and v == x for t, x in pairs)


def _compile_object(schema: Mapping[str, Any]) -> Check:
    required = tuple(schema.get("required", ()))
    fewest = schema.get("minProperties", 0)
    properties = {
        k: compile_check(sub) for k, sub in schema.get("properties", {}).items()
    }
    patterns = [
        (re.compile(pattern).search, compile_check(sub))
        for pattern, sub in schema.get("patternProperties", {}).items()
    ]
    closed = schema.get("additionalProperties", True) is False
    if schema.get("additionalProperties", False) not in (True, False):
        raise Unsupported("additionalProperties with a schema")

    def check(v: Any) -> bool:
        if type(v) is not dict:
            return True
        if len(v) < fewest:
            return False
        for key in required:
            if key not in v:
                return False
        for key, value in v.items():
            sub = properties.get(key)
            if sub is not None:
                if not sub(value):
                    return False
                continue
            matched = False
            for search, check_value in patterns:
                if search(key) is not None:
                    matched = True
                    if not check_value(value):
                        return False
            if closed and not matched:
                return False
        return True

    return check


def _compile_array(schema: Mapping[str, Any]) -> Check:
    prefix = [compile_check(sub) for sub in schema.get("prefixItems", ())]
    items = compile_check(schema["items"]) if "items" in schema else None
    low = schema.get("minItems", 0)
    high = schema.get("maxItems")
    unique = schema.get("uniqueItems", False)

    def check(v: Any) -> bool:
        if type(v) is not list:
            return True
        if len(v) < low or (high is not None and len(v) > high):
            return False
        for sub, value in zip(prefix, v, strict=False):
            if not sub(value):
                return False
        if items is not None:
            for value in v[len(prefix) :]:
                if not items(value):
                    return False
        if unique:
            if not all(type(x) is str for x in v) or len(set(v)) != len(v):
                return False
        return True

    return check


def _compile_scalar(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "minLength" in schema:
        n = schema["minLength"]
        checks.append(lambda v: type(v) is not str or len(v) >= n)
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda v: type(v) is not str or search(v) is not None)
    if "format" in schema:
        fmt = _FORMATS.get(schema["format"])
        if fmt is None:
            raise Unsupported(f"format {schema['format']!r}")
        checks.append(lambda v: _format_holds(fmt, v))
    bounds = {
        "minimum": lambda a, b: a >= b,
        "maximum": lambda a, b: a <= b,
        "exclusiveMinimum": lambda a, b: a > b,
        "exclusiveMaximum": lambda a, b: a < b,
    }
    for key, holds in bounds.items():
        if key in schema:
            checks.append(_bound(holds, schema[key]))
    return checks


def _bound(holds: Callable[[Any, Any], bool], limit: float) -> Check:
    def check(v: Any) -> bool:
        if type(v) is not int and type(v) is not float:
            return True
        return holds(v, limit)

    return check


def _format_holds(fmt: Callable[[object], bool], v: Any) -> bool:
    try:
        return fmt(v)
    except ValueError:
        return False


def _compile_combinators(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "allOf" in schema:
        checks.append(_all([compile_check(sub) for sub in schema["allOf"]]))
    if "oneOf" in schema:
        options = [compile_check(sub) for sub in schema["oneOf"]]
        checks.append(lambda v: sum(1 for o in options if o(v)) == 1)
    if "if" in schema:
        test = compile_check(schema["if"])
        then = compile_check(schema.get("then", {}))
        other = compile_check(schema.get("else", {}))
        checks.append(lambda v: then(v) if test(v) else other(v))
    return checks


_HANDLED = frozenset(
    {
        "type", "const", "enum", "required", "properties", "additionalProperties",
        "minProperties", "patternProperties",
        "prefixItems", "items", "minItems", "maxItems", "uniqueItems", "minLength",
        "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "allOf", "oneOf", "if", "then", "else",
    }
)  # fmt: skip


_OBJECT_KEYWORDS = frozenset(
    {"required", "properties", "patternProperties", "additionalProperties"}
    | {"minProperties"}
)


def compile_check(schema: Mapping[str, Any]) -> Check:
    unknown = set(schema) - _HANDLED - _ANNOTATIONS
    if unknown:
        raise Unsupported(", ".join(sorted(unknown)))

    checks: list[Check] = []
    if "type" in schema:
        checks.append(_compile_type(schema["type"]))
    if "const" in schema:
        checks.append(_compile_enum([schema["const"]]))
    if "enum" in schema:
        checks.append(_compile_enum(schema["enum"]))
    if _OBJECT_KEYWORDS & set(schema):
        checks.append(_compile_object(schema))
    if {"prefixItems", "items", "minItems", "maxItems", "uniqueItems"} & set(schema):
        checks.append(_compile_array(schema))
    checks.extend(_compile_scalar(schema))
    checks.extend(_compile_combinators(schema))
    if not checks:
        return lambda v: True
    return _all(checks)
