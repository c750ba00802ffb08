"""Validate, encode and decode ews messages against their versioned schemas.

Every message is a JSON object whose ``schema`` field names its type and
version, ``"<name>/<version>"`` (``gauge_obs/1``). The schema for it is the
draft 2020-12 JSON Schema ``schemas/json/<name>.v<version>.json``. Each schema
file is read once, on first use, into two checks kept for the life of the
process: a jsonschema validator, which is the authority and writes the error
messages, and a quick acceptance test compiled here from the same document
into nested Python closures (:mod:`schemas.quick_check`), several times
faster. A record the quick test
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
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from schemas.errors import ParseError, SchemaError
from schemas.quick_check import Check, Unsupported, compile_check, is_date_time

logger = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parent / "json"

_NAME_RE = re.compile(r"^([a-z][a-z0-9_]*)/([1-9][0-9]*)$")

_format_checker = FormatChecker(formats=())
_format_checker.checks("date-time", raises=ValueError)(is_date_time)


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
        return compile_check(validator(name).schema)
    except Unsupported as exc:
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
