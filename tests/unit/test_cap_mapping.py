"""The CAP vocabulary table: its documented choices and its load-time checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from models.cap_mapping import (
    MAPPING_PATH,
    InfoProfile,
    load_mapping,
    machine_value,
    value_text,
)
from schemas.errors import ConfigError, SchemaError, UnknownReferenceError


@pytest.fixture(scope="module")
def mapping():
    return load_mapping()


def test_event_names(mapping) -> None:
    assert mapping.event("rainstorm", "blue", "zh-CN") == "暴雨蓝色预警"
    assert mapping.event("rainstorm", "blue", "en") == "Rainstorm Blue Warning"
    assert mapping.event("flood", "red", "zh-CN") == "洪水红色预警"
    assert mapping.event("flood", "yellow", "en") == "Flood Yellow Warning"
    assert mapping.event("landslide", "orange", "zh-CN") == "地质灾害橙色预警"
    assert mapping.event("forest_fire", "red", "zh-CN") == "森林火险红色预警"


def test_profiles_follow_the_documented_choices(mapping) -> None:
    assert mapping.profile("rainstorm", "blue", "observed") == InfoProfile(
        "Met", "Expected", "Minor", "Observed", ("Monitor",)
    )
    assert mapping.profile("flood", "red", "forecast") == InfoProfile(
        "Met", "Immediate", "Extreme", "Likely", ("Evacuate",)
    )
    assert mapping.profile("landslide", "yellow", "observed").category == "Geo"
    assert mapping.profile("forest_fire", "orange", "observed").severity == "Severe"
    assert mapping.profile("forest_fire", "orange", "observed").category == "Fire"
    assert mapping.profile("flood", None, "observed") == InfoProfile(
        "Met", "Past", "Minor", "Observed", ("AllClear",)
    )


def test_every_instruction_is_its_own(mapping) -> None:
    for hazard in mapping.hazards:
        for language in mapping.languages:
            texts = [
                mapping.instruction(hazard, level, language)
                for level in ("blue", "yellow", "orange", "red", None)
            ]
            assert all(texts) and len(set(texts)) == 5


def test_unknown_hazard_level_and_branch(mapping) -> None:
    with pytest.raises(UnknownReferenceError, match="'hail'"):
        mapping.event("hail", "red", "en")
    with pytest.raises(SchemaError, match="'purple'"):
        mapping.profile("flood", "purple", "observed")
    with pytest.raises(SchemaError, match="'guess'"):
        mapping.profile("flood", "red", "guess")


def test_observed_text_units_from_key_endings(mapping) -> None:
    trigger = {
        "value_mm": 52.346,
        "window_h": 3,
        "branch": "observed",
        "rate_mm_h": 31.0,
    }
    assert mapping.observed_text(trigger, "zh-CN") == (
        "累计雨量 52.35 mm，累计时段 3 h，rate_mm_h 31 mm/h"
    )
    assert mapping.observed_text({}, "en") == "no observed values"
    assert mapping.unit_for("stage_m") == "m"
    assert mapping.unit_for("threshold_mm") == "mm"
    assert mapping.unit_for("station") is None


def test_area_and_time_texts(mapping) -> None:
    names = ["城东街道", "城西街道", "黄岗街道", "睦岗街道", "坑口街道"]
    assert mapping.area_text(names[:2], "zh-CN") == "城东街道、城西街道"
    assert mapping.area_text(names, "zh-CN") == "城东街道、城西街道、黄岗街道等5个镇街"
    assert mapping.area_text(["A", "B", "C", "D"], "en") == "A, B, C and 1 more towns"
    when = datetime(2020, 10, 31, 11, 10, tzinfo=timezone(timedelta(hours=8)))
    assert mapping.time_text(when, "zh-CN") == "2020年10月31日11时10分"
    assert mapping.time_text(when, "en") == "2020-10-31 11:10 UTC+08:00"


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = MAPPING_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "cap_mapping.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ('severity = "Minor"', 'severity = "Small"', "blue severity is 'Small'"),
        ('category = "Geo"', 'category = "Geology"', "hazards.landslide.category"),
        ('red = ["Shelter"]', 'red = ["Hide"]', "hazards.rainstorm.responseType.red"),
        ('observed = "Observed"', 'observed = "Seen"', "observed certainty"),
        (
            'en = "Rainstorm" }',
            'english = "Rainstorm" }',
            "hazards.rainstorm.name has no 'en'",
        ),
        (
            "{sender_name} issues",
            "{sender} issues",
            "unknown placeholders \\['sender'\\]",
        ),
        ('code = "FL"', 'code = "FL-1"', "not 1-4 letters"),
        ("version = 1", "version = = 1", "cannot be read as TOML"),
    ],
)
def test_broken_table_is_refused(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_mapping(_broken(tmp_path, old, new))


def test_missing_instruction_is_refused(tmp_path: Path) -> None:
    old = 'cancel = { "zh-CN" = "洪水预警已解除'
    with pytest.raises(ConfigError, match="hazards.flood.instruction has no 'cancel'"):
        load_mapping(_broken(tmp_path, old, 'lifted = { "zh-CN" = "洪水预警已解除'))


def test_machine_and_human_values() -> None:
    assert machine_value(0.1 + 0.2) == "0.30000000000000004"
    assert value_text(0.1 + 0.2) == "0.3"
    assert machine_value([1, 2.5, True, None]) == "1 2.5 true "
    assert value_text(None) == "null"
    with pytest.raises(SchemaError, match="not a finite number"):
        value_text(float("nan"))
