"""From a warning (hazard, colour, action) to the words and codes of CAP 1.2.

The table itself is data: ``schemas/cap_mapping.toml`` holds, for every
hazard and colour, the CAP ``event`` name in each language, ``category``,
``urgency``, ``severity``, ``certainty`` and ``responseType``, the
instruction texts, and the headline and description templates; the reasons
for each choice are written at the top of that file. This module loads the
table, checks it completely on load (every text in every language, every
CAP value one the schema allows, every template placeholder known) and
answers questions about it. It does no I/O beyond reading that file and
keeps no clock: times are passed in.
"""

from __future__ import annotations

import math
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import schemas
from schemas.errors import ConfigError, SchemaError, UnknownReferenceError

MAPPING_PATH = Path(schemas.__file__).with_name("cap_mapping.toml")

LEVELS = ("blue", "yellow", "orange", "red")
ACTIONS = ("issue", "upgrade", "downgrade", "extend", "cancel")
BRANCHES = ("observed", "forecast")

CATEGORIES = frozenset(
    "Geo Met Safety Security Rescue Fire Health Env Transport Infra CBRNE Other".split()
)
RESPONSE_TYPES = frozenset(
    "Shelter Evacuate Prepare Execute Avoid Monitor Assess AllClear None".split()
)
URGENCIES = frozenset("Immediate Expected Future Past Unknown".split())
SEVERITIES = frozenset("Extreme Severe Moderate Minor Unknown".split())
CERTAINTIES = frozenset("Observed Likely Possible Unlikely Unknown".split())

TEXT_FIELDS = frozenset(
    "sender_name area event previous_event observed observed_at valid_from "
    "valid_to".split()
)


@dataclass(frozen=True)
class InfoProfile:
    """The CAP codes of one ``info`` block."""

    category: str
    urgency: str
    severity: str
    certainty: str
    response_types: tuple[str, ...]


def _need(table: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise ConfigError(f"CAP mapping: {where} has no '{key}'")
    return table[key]


def _enum(value: Any, allowed: frozenset[str], where: str) -> str:
    if value not in allowed:
        raise ConfigError(
            f"CAP mapping: {where} is {value!r}, expected one of {sorted(allowed)}"
        )
    return str(value)


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


class CapMapping:
    """The checked CAP vocabulary table; see the module docstring."""

    def __init__(self, table: Mapping[str, Any], source: str = "<table>") -> None:
        self._t = table
        self.source = source
        self.languages: tuple[str, ...] = tuple(_need(table, "languages", "top level"))
        self.geocode_value_name = str(_need(table, "geocode_value_name", "top level"))
        self.sender_name = self._texts(table, "sender_name", "top level")
        self._check()

    # ------------------------------------------------------------- checks --

    def _texts(
        self,
        table: Mapping[str, Any],
        key: str,
        where: str,
        fields: frozenset[str] = TEXT_FIELDS,
    ) -> dict[str, str]:
        texts = _need(table, key, where)
        if not isinstance(texts, Mapping):
            raise ConfigError(f"CAP mapping: {where}.{key} is not a table of languages")
        for lang in self.languages:
            text = _need(texts, lang, f"{where}.{key}")
            unknown = _placeholders(str(text)) - fields
            if unknown:
                raise ConfigError(
                    f"CAP mapping: {where}.{key}.{lang} uses unknown placeholders "
                    f"{sorted(unknown)}, expected some of {sorted(fields)}"
                )
        return {lang: str(texts[lang]) for lang in self.languages}

    def _check(self) -> None:
        colours = _need(self._t, "colours", "top level")
        for level in LEVELS:
            c = _need(colours, level, "colours")
            _enum(
                _need(c, "severity", f"colours.{level}"),
                SEVERITIES,
                f"{level} severity",
            )
            _enum(
                _need(c, "urgency", f"colours.{level}"), URGENCIES, f"{level} urgency"
            )
            self._texts(c, "name", f"colours.{level}", frozenset())
        certainty = _need(self._t, "certainty", "top level")
        for branch in BRANCHES:
            _enum(
                _need(certainty, branch, "certainty"),
                CERTAINTIES,
                f"{branch} certainty",
            )
        cancel = _need(self._t, "cancel", "top level")
        _enum(_need(cancel, "urgency", "cancel"), URGENCIES, "cancel urgency")
        _enum(_need(cancel, "severity", "cancel"), SEVERITIES, "cancel severity")
        _enum(_need(cancel, "certainty", "cancel"), CERTAINTIES, "cancel certainty")
        for rt in _need(cancel, "responseType", "cancel"):
            _enum(rt, RESPONSE_TYPES, "cancel responseType")

        tpl = _need(self._t, "templates", "top level")
        self._texts(tpl, "event", "templates", frozenset({"hazard", "colour"}))
        for key in (
            "time_format",
            "list_separator",
            "observed_separator",
            "no_observation",
        ):
            self._texts(tpl, key, "templates", frozenset())
        self._texts(
            tpl, "area_more", "templates", frozenset({"names", "count", "more"})
        )
        if int(_need(tpl, "area_names_shown", "templates")) < 1:
            raise ConfigError("CAP mapping: templates.area_names_shown must be >= 1")
        for part in ("headline", "description"):
            for action in ACTIONS:
                self._texts(_need(tpl, part, "templates"), action, f"templates.{part}")

        hazards = _need(self._t, "hazards", "top level")
        for hazard, h in hazards.items():
            where = f"hazards.{hazard}"
            code = str(_need(h, "code", where))
            if not (code.isascii() and code.isalnum() and 1 <= len(code) <= 4):
                raise ConfigError(
                    f"CAP mapping: {where}.code {code!r} is not 1-4 letters"
                )
            _enum(_need(h, "category", where), CATEGORIES, f"{where}.category")
            self._texts(h, "name", where, frozenset())
            rts = _need(h, "responseType", where)
            for level in LEVELS:
                for rt in _need(rts, level, f"{where}.responseType"):
                    _enum(rt, RESPONSE_TYPES, f"{where}.responseType.{level}")
            instr = _need(h, "instruction", where)
            for key in (*LEVELS, "cancel"):
                self._texts(instr, key, f"{where}.instruction", frozenset())

    # ------------------------------------------------------------ lookups --

    @property
    def hazards(self) -> tuple[str, ...]:
        """The hazards the table knows."""
        return tuple(self._t["hazards"])

    def _hazard(self, hazard: str) -> Mapping[str, Any]:
        try:
            table: Mapping[str, Any] = self._t["hazards"][hazard]
        except KeyError:
            raise UnknownReferenceError(
                f"hazard {hazard!r} is not in the CAP mapping {self.source}; "
                f"known: {list(self.hazards)}"
            ) from None
        return table

    @staticmethod
    def _level(level: str | None) -> str:
        if level not in LEVELS:
            raise SchemaError(f"warning level {level!r} is not one of {list(LEVELS)}")
        return str(level)

    def hazard_code(self, hazard: str) -> str:
        """Short code of a hazard used inside CAP identifiers (``RS``, ``FL``...)."""
        return str(self._hazard(hazard)["code"])

    def event(self, hazard: str, level: str, language: str) -> str:
        """CAP ``event`` name, e.g. 暴雨蓝色预警 / Rainstorm Blue Warning."""
        h = self._hazard(hazard)
        colour = self._t["colours"][self._level(level)]["name"][language]
        template = str(self._t["templates"]["event"][language])
        return template.format(hazard=h["name"][language], colour=colour)

    def profile(self, hazard: str, level: str | None, branch: str) -> InfoProfile:
        """CAP codes for a warning; ``level`` None means a cancel.

        Parameters
        ----------
        hazard : str
            Hazard name as in ``warning_event/1``.
        level : str or None
            Colour in force; None for the all-clear of a cancel.
        branch : str
            ``"observed"`` or ``"forecast"``: what decided the warning.
        """
        h = self._hazard(hazard)
        if level is None:
            c = self._t["cancel"]
            return InfoProfile(
                h["category"],
                c["urgency"],
                c["severity"],
                c["certainty"],
                tuple(c["responseType"]),
            )
        if branch not in BRANCHES:
            raise SchemaError(
                f"trigger branch {branch!r} is not one of {list(BRANCHES)}"
            )
        colour = self._t["colours"][self._level(level)]
        return InfoProfile(
            category=h["category"],
            urgency=colour["urgency"],
            severity=colour["severity"],
            certainty=self._t["certainty"][branch],
            response_types=tuple(h["responseType"][level]),
        )

    def instruction(self, hazard: str, level: str | None, language: str) -> str:
        """What people should do; ``level`` None gives the all-clear text."""
        key = "cancel" if level is None else self._level(level)
        return str(self._hazard(hazard)["instruction"][key][language])

    def headline(self, action: str, language: str, **fields: str) -> str:
        """Headline for an action, filled from ``fields`` (see TEXT_FIELDS)."""
        return self._fill("headline", action, language, fields)

    def description(self, action: str, language: str, **fields: str) -> str:
        """Description for an action, filled from ``fields`` (see TEXT_FIELDS)."""
        return self._fill("description", action, language, fields)

    def _fill(
        self, part: str, action: str, language: str, fields: Mapping[str, str]
    ) -> str:
        if action not in ACTIONS:
            raise SchemaError(
                f"warning action {action!r} is not one of {list(ACTIONS)}"
            )
        return str(self._t["templates"][part][action][language]).format_map(fields)

    # ------------------------------------------------------- text helpers --

    def time_text(self, when: datetime, language: str) -> str:
        """A time for people to read, in the zone ``when`` carries."""
        return when.strftime(self._t["templates"]["time_format"][language])

    def list_separator(self, language: str) -> str:
        """What goes between town names (、 in Chinese, a comma in English)."""
        return str(self._t["templates"]["list_separator"][language])

    def area_text(self, names: Sequence[str], language: str) -> str:
        """Town names for a headline: the first few, then how many more."""
        tpl = self._t["templates"]
        shown = int(tpl["area_names_shown"])
        joined = self.list_separator(language).join(names[:shown])
        if len(names) <= shown:
            return joined
        return str(tpl["area_more"][language]).format(
            names=joined, count=len(names), more=len(names) - shown
        )

    def unit_for(self, key: str) -> str | None:
        """Unit of a trigger value from the ending of its key, longest first."""
        units: Mapping[str, str] = self._t["trigger"]["units"]
        for ending in sorted(units, key=len, reverse=True):
            if key.endswith(ending):
                return units[ending]
        return None

    def observed_text(self, trigger: Mapping[str, Any], language: str) -> str:
        """The trigger's values as text with labels and units."""
        labels: Mapping[str, Mapping[str, str]] = self._t["trigger"]["labels"]
        hidden = set(self._t["trigger"]["hidden"])
        parts = []
        for key, value in flatten_trigger(trigger):
            if key in hidden:
                continue
            label = labels.get(key, {}).get(language, key)
            unit = self.unit_for(key)
            text = value_text(value)
            parts.append(f"{label} {text} {unit}" if unit else f"{label} {text}")
        tpl = self._t["templates"]
        if not parts:
            return str(tpl["no_observation"][language])
        return str(tpl["observed_separator"][language]).join(parts)


def flatten_trigger(
    trigger: Mapping[str, Any], prefix: str = ""
) -> list[tuple[str, Any]]:
    """Trigger values as (dotted key, value) pairs, nested tables flattened."""
    out: list[tuple[str, Any]] = []
    for key, value in trigger.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(flatten_trigger(value, f"{name}."))
        else:
            out.append((name, value))
    return out


def value_text(value: Any) -> str:
    """A trigger value for people: floats to 2 decimals without trailing zeros."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SchemaError(f"trigger value {value!r} is not a finite number")
        return f"{round(value, 2):g}"
    if isinstance(value, list | tuple):
        return " ".join(value_text(v) for v in value)
    if value is None:
        return "null"
    return str(value)


def machine_value(value: Any) -> str:
    """A trigger value as a CAP parameter: exact, locale-free."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(machine_value(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def load_mapping(path: Path | None = None) -> CapMapping:
    """Load and check a CAP mapping table (the shipped one by default).

    Raises
    ------
    ConfigError
        When the file is not TOML or any entry is missing or not a CAP value.
    """
    if path is None:
        return _default_mapping()
    return _load(path)


@cache
def _default_mapping() -> CapMapping:
    return _load(MAPPING_PATH)


def _load(path: Path) -> CapMapping:
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"CAP mapping {path} cannot be read as TOML: {exc}") from exc
    return CapMapping(table, source=str(path))
