"""Validate, encode and decode ews messages against their versioned schemas.

Every message is a JSON object whose ``schema`` field names its type and
version, ``"<name>/<version>"`` (``gauge_obs/1``). The schema for it is the
draft 2020-12 JSON Schema ``schemas/json/<name>.v<version>.json``. Each schema
file is read once, on first use, into two checks kept for the life of the
process: a jsonschema validator, which is the authority and writes the error
messages, and a quick acceptance test compiled here from the same document
into nested Python closures, several times faster. A record the quick test
accepts is valid; any other record goes through jsonschema, which either
accepts it after all or says why not.

Producers call :func:`encode` (validate, then compact UTF-8 JSON); consumers
call :func:`decode` (bytes to dict, then validate). A failure raises
:class:`~schemas.errors.ParseError` for bytes that are not UTF-8 JSON and
:class:`~schemas.errors.SchemaError` for JSON that is not the declared schema,
with the JSON path of the offending value and what was expected there::

    >>> decode(b'{"schema": "area_rain/1", "area_code": "441202001"}',
    ...        "area_rain/1")
    Traceback (most recent call last):
    schemas.errors.SchemaError: area_rain/1 at $: 'time' is a required property

``NaN`` and infinities are not JSON: :func:`decode` refuses them and
:func:`encode` refuses to write them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from schemas.errors import ParseError, SchemaError

logger = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parent / "json"

_NAME_RE = re.compile(r"^([a-z][a-z0-9_]*)/([1-9][0-9]*)$")
_RFC3339_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

_format_checker = FormatChecker(formats=())


@_format_checker.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
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


def _check_event_sequence(msg: Mapping[str, Any]) -> str | None:
    expected = f"{msg['warning_id']}:{msg['sequence']}"
    if msg["event_id"] != expected:
        return (
            f"at $.event_id: {msg['event_id']!r} is not warning_id:sequence "
            f"({expected!r})"
        )
    return None


def _check_event_warning(msg: Mapping[str, Any]) -> str | None:
    warning_id, _, _ = msg["event_id"].rpartition(":")
    if warning_id != msg["warning_id"]:
        return (
            f"at $.event_id: {msg['event_id']!r} does not belong to warning "
            f"{msg['warning_id']!r} (expected '{msg['warning_id']}:<sequence>')"
        )
    return None


# Rules JSON Schema cannot state, run after the schema passed.
_SEMANTIC_CHECKS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "warning_event/1": _check_event_sequence,
    "cap_alert/1": _check_event_warning,
}


# The quick acceptance test. It understands the keywords the shipped schemas
# use and is stricter than JSON Schema where being exact would cost time (an
# integer must be a Python int, an enum value must have the same Python type):
# it may send a valid record on to jsonschema, never wave an invalid one
# through. A schema with any other keyword gets no quick test.

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
_FORMATS: dict[str, Callable[[object], bool]] = {"date-time": _is_date_time}


class _Unsupported(Exception):
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
    properties = {k: _compile(sub) for k, sub in schema.get("properties", {}).items()}
    patterns = [
        (re.compile(pattern).search, _compile(sub))
        for pattern, sub in schema.get("patternProperties", {}).items()
    ]
    closed = schema.get("additionalProperties", True) is False
    if schema.get("additionalProperties", False) not in (True, False):
        raise _Unsupported("additionalProperties with a schema")

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
    prefix = [_compile(sub) for sub in schema.get("prefixItems", ())]
    items = _compile(schema["items"]) if "items" in schema else None
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
            raise _Unsupported(f"format {schema['format']!r}")
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
        checks.append(_all([_compile(sub) for sub in schema["allOf"]]))
    if "oneOf" in schema:
        options = [_compile(sub) for sub in schema["oneOf"]]
        checks.append(lambda v: sum(1 for o in options if o(v)) == 1)
    if "if" in schema:
        test = _compile(schema["if"])
        then = _compile(schema.get("then", {}))
        other = _compile(schema.get("else", {}))
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


def _compile(schema: Mapping[str, Any]) -> Check:
    unknown = set(schema) - _HANDLED - _ANNOTATIONS
    if unknown:
        raise _Unsupported(", ".join(sorted(unknown)))

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


def schema_path(name: str) -> Path:
    """File of the schema called ``name`` (``"gauge_obs/1"``)."""
    match = _NAME_RE.match(name)
    if match is None:
        raise SchemaError(
            f"schema name {name!r} is not of the form '<name>/<version>' "
            "(for example 'gauge_obs/1')"
        )
    return SCHEMA_DIR / f"{match.group(1)}.v{match.group(2)}.json"


def known_schemas() -> list[str]:
    """Names of every schema shipped in ``schemas/json``, sorted."""
    names = []
    for path in sorted(SCHEMA_DIR.glob("*.v*.json")):
        stem, _, version = path.stem.rpartition(".v")
        names.append(f"{stem}/{version}")
    return names


@cache
def validator(name: str) -> Draft202012Validator:
    """The jsonschema validator of schema ``name``, built on first use."""
    path = schema_path(name)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(
            f"unknown schema {name!r}; known schemas: {', '.join(known_schemas())}"
        ) from None
    Draft202012Validator.check_schema(document)
    logger.debug("compiled schema %s from %s", name, path)
    return Draft202012Validator(document, format_checker=_format_checker)


@cache
def fast_check(name: str) -> Check | None:
    """The quick acceptance test of schema ``name``, or None if it has none."""
    try:
        return _compile(validator(name).schema)
    except _Unsupported as exc:
        logger.warning("schema %s has no fast check (%s); using jsonschema", name, exc)
        return None


def _describe(name: str, error: ValidationError) -> str:
    if error.validator == "oneOf" and error.context:
        # Report the alternative that came closest rather than "not valid
        # under any of the given schemas".
        error = best_match(error.context)
    text = error.message
    if error.validator in ("format", "pattern"):
        if error.validator == "format":
            text = f"{error.instance!r} is not a {error.validator_value}"
        else:
            text = f"{error.instance!r} does not match {error.validator_value!r}"
        description = error.schema.get("description")
        if description:
            text += f" (expected: {description.rstrip('.')})"
    return f"{name} at {error.json_path}: {text}"


def validate(msg: object, expected: str | None = None) -> str:
    """Check ``msg`` against the schema its ``schema`` field names.

    Parameters
    ----------
    msg
        A decoded message.
    expected
        If given, the schema name the message must declare.

    Returns
    -------
    str
        The schema name of the message.

    Raises
    ------
    SchemaError
        The message is not an object, declares no or an unknown schema, not the
        expected one, or does not match it; the text gives the JSON path.
    """
    if not isinstance(msg, dict):
        raise SchemaError(
            f"message is a {type(msg).__name__}, expected a JSON object "
            f"with a 'schema' field{f' of {expected!r}' if expected else ''}"
        )
    name = msg.get("schema")
    if not isinstance(name, str):
        raise SchemaError(
            f"message at $.schema: found {name!r}, expected a schema name such as "
            f"{expected or 'gauge_obs/1'!r}"
        )
    if expected is not None and name != expected:
        raise SchemaError(f"message at $.schema: found {name!r}, expected {expected!r}")

    # XXX: JSON Schema's "number" admits a Python NaN or infinity, so a dict
    # built in memory passes here with one; encode() and decode() refuse them,
    # and models.quality refuses non-finite readings before they are built.
    quick = fast_check(name)
    if quick is None or not quick(msg):
        errors = list(validator(name).iter_errors(msg))
        if errors:
            raise SchemaError(_describe(name, best_match(errors)))

    semantic = _SEMANTIC_CHECKS.get(name)
    if semantic is not None:
        problem = semantic(msg)
        if problem is not None:
            raise SchemaError(f"{name} {problem}")
    return name


def _refuse_constant(token: str) -> float:
    raise ValueError(f"{token} is not a JSON number")


def encode(msg: Mapping[str, Any]) -> bytes:
    """Validate ``msg`` and write it as compact UTF-8 JSON.

    Raises
    ------
    SchemaError
        The message fails :func:`validate`, or holds a NaN or an infinity.
    """
    name = validate(msg)
    try:
        text = json.dumps(
            msg, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except ValueError as exc:
        raise SchemaError(
            f"{name}: a number is NaN or infinite ({exc}); JSON has no such value"
        ) from None
    return text.encode("utf-8")


def decode(raw: bytes | bytearray | memoryview, expected: str) -> dict[str, Any]:
    """Read one message of schema ``expected`` from ``raw`` UTF-8 JSON bytes.

    Raises
    ------
    ParseError
        ``raw`` is not bytes, not UTF-8, not JSON, holds NaN or Infinity or
        an escaped lone surrogate, or nests too deeply to read.
    SchemaError
        The JSON is not an object of schema ``expected``.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ParseError(
            f"{expected} record is a {type(raw).__name__}, expected bytes of UTF-8 JSON"
        )
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"{expected} record is not UTF-8: byte {exc.start} is "
            f"{bytes(raw)[exc.start : exc.start + 1]!r}"
        ) from None
    try:
        msg = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"{expected} record is not JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise ParseError(f"{expected} record is not valid JSON: {exc}") from None
    except RecursionError:
        raise ParseError(
            f"{expected} record nests arrays or objects too deeply to read"
        ) from None
    if "\\u" in text:
        _refuse_lone_surrogates(msg, expected)
    try:
        validate(msg, expected)
    except RecursionError:
        raise SchemaError(
            f"{expected} record nests arrays or objects too deeply to check"
        ) from None
    return msg


def _refuse_lone_surrogates(msg: Any, expected: str) -> None:
    """Refuse a ``\\ud800``-style escape that stands for no character.

    JSON may escape half a surrogate pair; Python reads it into a string that
    cannot be written as UTF-8 again, so every message made from it would
    fail to encode further down the pipeline.
    """
    try:
        json.dumps(msg, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParseError(
            f"{expected} record holds an escaped lone surrogate "
            f"{exc.object[exc.start : exc.end]!r}, which is not a character"
        ) from None
    except RecursionError:
        raise ParseError(
            f"{expected} record nests arrays or objects too deeply to read"
        ) from None
