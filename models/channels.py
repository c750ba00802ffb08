"""Who can be reached, and how: the recipient, loudspeaker and village registries.

An inventory folder holds three files::

    villages.csv      village_id, town_code, name, population, lon, lat, language
    recipients.csv    recipient_id, phone, town_code, village_id, drill, language
    loudspeakers.csv  loudspeaker_id, village_id, town_code, lon, lat,
                      population_covered, mqtt_topic, language
                      (or loudspeakers.geojson: Point features, same properties)

Every row is checked when it is read; the first bad one raises
:class:`RegistryError` (a :class:`~schemas.errors.ConfigError`) that names the
file, the row (as a spreadsheet counts: the header is row 1, in GeoJSON the
feature number from 1) and the field. :func:`load_inventory` also checks that
every recipient and loudspeaker names a village of the inventory and the same
town as that village.

Phone numbers are personal data. :func:`mask_phone` keeps the country code
and operator prefix and the last four digits; :class:`Recipient` leaves the
number out of its ``repr``, so logging a recipient does not leak it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.errors import ConfigError

# Mandarin (Putonghua), Cantonese, English.
LANGUAGES = ("zh-CN", "yue", "en")

PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
TOWN_CODE_RE = re.compile(r"^[0-9]{9}$")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
TOPIC_RE = re.compile(r"^ews/ls/[0-9]{6}/[A-Za-z0-9_.:-]+/cmd$")

VILLAGE_FIELDS = ("village_id", "town_code", "name", "population", "lon", "lat")
RECIPIENT_FIELDS = ("recipient_id", "phone", "town_code", "village_id", "drill")
LOUDSPEAKER_FIELDS = (
    "loudspeaker_id",
    "village_id",
    "town_code",
    "lon",
    "lat",
    "population_covered",
    "mqtt_topic",
    "language",
)
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class RegistryError(ConfigError):
    """A registry row that is wrong; says which file, row and field."""

    def __init__(self, path: Path, row: int, field_name: str, problem: str) -> None:
        self.path = path
        self.row = row
        self.field = field_name
        super().__init__(f"{path}: row {row}, field {field_name!r}: {problem}")


@dataclass(frozen=True)
class Village:
    """A village and the people who live there (``population``, persons)."""

    village_id: str
    town_code: str
    name: str
    population: int
    lon: float
    lat: float
    language: str = "zh-CN"


@dataclass(frozen=True)
class Recipient:
    """A registered phone; ``drill`` recipients take part in exercises."""

    recipient_id: str
    phone: str = field(repr=False)
    town_code: str
    village_id: str
    drill: bool
    language: str = "zh-CN"


@dataclass(frozen=True)
class Loudspeaker:
    """A village loudspeaker; ``population_covered`` persons hear it."""

    loudspeaker_id: str
    village_id: str
    town_code: str
    lon: float
    lat: float
    population_covered: int
    mqtt_topic: str
    language: str = "zh-CN"

    @property
    def ack_topic(self) -> str:
        """The topic its acknowledgements come on (``.../ack`` beside ``.../cmd``)."""
        return self.mqtt_topic.rsplit("/", 1)[0] + "/ack"


def mask_phone(phone: str) -> str:
    """Return ``phone`` with its middle digits replaced by ``*``.

    The first five digits (country code and operator prefix) and the last
    four stay, as in ``+86138****5678``. Numbers of fewer than ten digits keep
    at most their last four, and at least four digits are always masked.
    """
    plus = "+" if phone.startswith("+") else ""
    digits = phone[len(plus) :]
    if len(digits) < 10:
        keep = min(4, max(len(digits) - 4, 0))
        return plus + "*" * (len(digits) - keep) + digits[len(digits) - keep :]
    return plus + digits[:5] + "*" * (len(digits) - 9) + digits[-4:]


@dataclass(frozen=True)
class Inventory:
    """The villages, recipients and loudspeakers of one region."""

    villages: dict[str, Village]
    recipients: tuple[Recipient, ...]
    loudspeakers: tuple[Loudspeaker, ...]

    def villages_in(self, town_codes: Iterable[str]) -> list[Village]:
        """Return the villages of the given towns."""
        towns = set(town_codes)
        return [v for v in self.villages.values() if v.town_code in towns]

    def recipients_in(
        self, town_codes: Iterable[str], *, drill_only: bool = False
    ) -> list[Recipient]:
        """Return the recipients of the given towns (only drill ones if asked)."""
        towns = set(town_codes)
        return [
            r
            for r in self.recipients
            if r.town_code in towns and (r.drill or not drill_only)
        ]

    def loudspeakers_in(self, town_codes: Iterable[str]) -> list[Loudspeaker]:
        """Return the loudspeakers of the given towns."""
        towns = set(town_codes)
        return [ls for ls in self.loudspeakers if ls.town_code in towns]


class _Rows:
    """Reads the fields of one row and turns a bad value into a RegistryError."""

    def __init__(self, path: Path, row: int, values: dict[str, Any]) -> None:
        self.path, self.row, self.values = path, row, values

    def fail(self, name: str, problem: str) -> RegistryError:
        return RegistryError(self.path, self.row, name, problem)

    def text(self, name: str, pattern: re.Pattern[str] | None = None) -> str:
        raw = self.values.get(name)
        value = "" if raw is None else str(raw).strip()
        if not value:
            raise self.fail(name, "empty; a value is required")
        if pattern is not None and not pattern.match(value):
            raise self.fail(name, f"{value!r} does not match {pattern.pattern}")
        return value

    def integer(self, name: str) -> int:
        value = self.text(name)
        try:
            number = int(value)
        except ValueError:
            raise self.fail(name, f"{value!r} is not a whole number") from None
        if number < 0:
            raise self.fail(name, f"{number} is negative; expected persons >= 0")
        return number

    def coordinate(self, name: str, limit: float) -> float:
        value = self.text(name)
        try:
            number = float(value)
        except ValueError:
            raise self.fail(name, f"{value!r} is not a number (degrees)") from None
        if not -limit <= number <= limit:
            raise self.fail(name, f"{number} is outside [-{limit}, {limit}] degrees")
        return number

    def flag(self, name: str) -> bool:
        value = self.text(name).lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise self.fail(name, f"{value!r} is not a boolean; expected true or false")

    def language(self, name: str = "language") -> str:
        if not str(self.values.get(name) or "").strip():
            return "zh-CN"
        value = self.text(name)
        if value not in LANGUAGES:
            raise self.fail(name, f"{value!r} is not one of {', '.join(LANGUAGES)}")
        return value


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[_Rows]:
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open registry: {exc}") from exc
    with handle:
        reader = csv.DictReader(handle)
        missing = [name for name in required if name not in (reader.fieldnames or [])]
        if missing:
            raise RegistryError(
                path, 1, missing[0], f"missing column(s) {', '.join(missing)}"
            )
        for number, values in enumerate(reader, start=2):
            yield _Rows(path, number, values)


def _geojson_rows(path: Path) -> Iterator[_Rows]:
    try:
        collection = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read GeoJSON registry: {exc}") from exc
    if collection.get("type") != "FeatureCollection":
        raise RegistryError(path, 1, "type", "expected a FeatureCollection")
    for number, feature in enumerate(collection.get("features", []), start=1):
        geometry = feature.get("geometry") or {}
        if geometry.get("type") != "Point":
            raise RegistryError(path, number, "geometry", "expected a Point")
        values = dict(feature.get("properties") or {})
        values["lon"], values["lat"] = geometry["coordinates"][:2]
        yield _Rows(path, number, values)


def _first_row(path: Path) -> int:
    """Row number of the first record: 2 in a CSV (after the header), 1 in GeoJSON."""
    return 1 if path.suffix in {".geojson", ".json"} else 2


def _unique(items: list[Any], key: Callable[[Any], str], path: Path) -> None:
    seen: set[str] = set()
    for number, item in enumerate(items, start=_first_row(path)):
        ident = key(item)
        if ident in seen:
            raise RegistryError(path, number, "id", f"{ident!r} appears twice")
        seen.add(ident)


def load_villages(path: Path) -> dict[str, Village]:
    """Read ``villages.csv``; return villages by id."""
    villages = [
        Village(
            village_id=row.text("village_id", ID_RE),
            town_code=row.text("town_code", TOWN_CODE_RE),
            name=row.text("name"),
            population=row.integer("population"),
            lon=row.coordinate("lon", 180.0),
            lat=row.coordinate("lat", 90.0),
            language=row.language(),
        )
        for row in _csv_rows(path, VILLAGE_FIELDS)
    ]
    _unique(villages, lambda v: v.village_id, path)
    return {v.village_id: v for v in villages}


def load_recipients(path: Path) -> list[Recipient]:
    """Read ``recipients.csv``; phones must be E.164 (``+`` and 7 to 15 digits)."""
    recipients = [
        Recipient(
            recipient_id=row.text("recipient_id", ID_RE),
            phone=_phone(row),
            town_code=row.text("town_code", TOWN_CODE_RE),
            village_id=row.text("village_id", ID_RE),
            drill=row.flag("drill"),
            language=row.language(),
        )
        for row in _csv_rows(path, RECIPIENT_FIELDS)
    ]
    _unique(recipients, lambda r: r.recipient_id, path)
    return recipients


def _phone(row: _Rows) -> str:
    value = str(row.values.get("phone") or "").strip()
    if not PHONE_RE.match(value):
        raise row.fail(
            "phone", f"{mask_phone(value)!r} is not E.164 (+ and 7 to 15 digits)"
        )
    return value


def load_loudspeakers(path: Path) -> list[Loudspeaker]:
    """Read ``loudspeakers.csv`` or ``loudspeakers.geojson`` (Point features)."""
    rows = (
        _geojson_rows(path)
        if path.suffix in {".geojson", ".json"}
        else _csv_rows(path, LOUDSPEAKER_FIELDS)
    )
    loudspeakers = [
        Loudspeaker(
            loudspeaker_id=row.text("loudspeaker_id", ID_RE),
            village_id=row.text("village_id", ID_RE),
            town_code=row.text("town_code", TOWN_CODE_RE),
            lon=row.coordinate("lon", 180.0),
            lat=row.coordinate("lat", 90.0),
            population_covered=row.integer("population_covered"),
            mqtt_topic=row.text("mqtt_topic", TOPIC_RE),
            language=row.language(),
        )
        for row in rows
    ]
    _unique(loudspeakers, lambda ls: ls.loudspeaker_id, path)
    return loudspeakers


def load_inventory(folder: Path) -> Inventory:
    """Read and cross-check the three registries of an inventory folder."""
    villages = load_villages(folder / "villages.csv")
    recipients = load_recipients(folder / "recipients.csv")
    geojson = folder / "loudspeakers.geojson"
    speakers_path = geojson if geojson.exists() else folder / "loudspeakers.csv"
    loudspeakers = load_loudspeakers(speakers_path)

    checks: list[tuple[Path, list[Recipient | Loudspeaker]]] = [
        (folder / "recipients.csv", list(recipients)),
        (speakers_path, list(loudspeakers)),
    ]
    for path, items in checks:
        for number, item in enumerate(items, start=_first_row(path)):
            village = villages.get(item.village_id)
            if village is None:
                raise RegistryError(
                    path,
                    number,
                    "village_id",
                    f"{item.village_id!r} is not in {folder / 'villages.csv'}",
                )
            if village.town_code != item.town_code:
                raise RegistryError(
                    path,
                    number,
                    "town_code",
                    f"{item.town_code} disagrees with "
                    f"village {item.village_id} in town {village.town_code}",
                )
    return Inventory(villages, tuple(recipients), tuple(loudspeakers))
