"""Scenario manifests: validation and the time-ordered merge of feeds."""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from connectors import radar_bom, scenario
from connectors.scenario import load_scenario, parse_time_shift
from schemas import registry
from schemas.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "data" / "scenarios"
SHIPPED = ["zhaoqing-exercise", "quiet-melbourne", "quiet-knmi", "hko-2025"]
SHIPPED += ["usgs-pearl-2019"]

MIHO_FEED = """
[[feeds]]
name = "miho"
kind = "gauge_csv"
path = "gauge/miho_3011665_2023-07.csv"
topic = "obs.gauge"
[feeds.options]
stations = ["3011665"]
area_codes = { "3011665" = ["441202001"] }
"""


def write_scenario(folder: Path, body: str, head: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    head = (
        head
        if head is not None
        else (
            'name = "t"\ndescription = "test"\nstatus = "Test"\ntime_shift = "none"\n'
        )
    )
    (folder / "manifest.toml").write_text(head + body, encoding="utf-8")
    return folder


def hko_csv(folder: Path, rows: list[tuple[str, str]]) -> None:
    lines = ["obs_time_hkt,RF004"] + [f"{t},{v}" for t, v in rows]
    (folder / "wide.csv").write_text("\n".join(lines) + "\n")


HKO_FEED = """
[[feeds]]
name = "hko"
kind = "rain_hko"
path = "wide.csv"
topic = "rain.area"
"""


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name: str) -> None:
    loaded = load_scenario(SCENARIOS / name)
    assert loaded.name == name
    assert loaded.status in ("Exercise", "Test")
    assert loaded.time_shift == timedelta(0)
    assert (SCENARIOS / name / "README.md").read_text().strip()
    for feed in loaded.feeds:
        assert feed.path.exists()


def test_zhaoqing_exercise_contents() -> None:
    loaded = load_scenario(SCENARIOS / "zhaoqing-exercise")
    assert loaded.status == "Exercise" and loaded.region == "zhaoqing"
    radar, gauge = loaded.feeds[:2]
    assert radar.kind == "radar_bom"
    assert radar.options["place_at"] == (112.35, 23.9)
    assert radar.options["transposed"] is True
    assert gauge.stations is not None
    codes = gauge.stations["3011665"].area_codes
    assert len(codes) == len(set(codes)) >= 4

    # Real township codes, all in the four West River counties.
    with (REPO / "data/regions/zhaoqing/source/streets.csv").open() as handle:
        towns = {row["code"]: row["areaCode"] for row in csv.DictReader(handle)}
    counties = {"441226": "德庆县", "441225": "封开县", "441204": "高要区"}
    counties["441202"] = "端州区"
    assert {towns[code] for code in codes} == set(counties)


def test_hko_scenario_uses_the_hko_rules() -> None:
    loaded = load_scenario(SCENARIOS / "hko-2025")
    assert loaded.rulesets == {"rainstorm": "hko-rainstorm"}
    assert loaded.feeds[0].topic == "rain.area"


def test_merge_is_time_ordered_across_feeds(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", MIHO_FEED + HKO_FEED)
    # 09:30 HKT is 10:30 KST: between the Miho readings of 10:00 and 11:00.
    hko_csv(
        folder,
        [
            ("2023-07-14T09:30:00+08:00", "12"),
            ("2023-07-14T10:00:00+08:00", "30"),  # = 11:00 KST, a tie
            ("2023-07-14T13:15:00+08:00", "5"),
        ],
    )
    records = list(load_scenario(folder).records())
    assert len(records) == 216 + 3
    times = [r.time for r in records]
    assert times == sorted(times)

    window = [
        (r.feed, r.time.astimezone(UTC).strftime("%d %H:%M"))
        for r in records
        if datetime(2023, 7, 14, 1, tzinfo=UTC)
        <= r.time
        <= datetime(2023, 7, 14, 5, 15, tzinfo=UTC)
    ]
    assert window == [
        ("miho", "14 01:00"),
        ("hko", "14 01:30"),
        ("miho", "14 02:00"),  # manifest order breaks the tie
        ("hko", "14 02:00"),
        ("miho", "14 03:00"),
        ("miho", "14 04:00"),
        ("miho", "14 05:00"),
        ("hko", "14 05:15"),
    ]
    hko = next(r for r in records if r.feed == "hko")
    assert hko.topic == "rain.area" and hko.key == b"RF004"
    assert registry.validate(hko.value) == "area_rain/1"
    miho = next(r for r in records if r.feed == "miho")
    assert miho.topic == "obs.gauge" and miho.key == b"3011665"
    assert registry.validate(miho.value) == "gauge_obs/1"


def test_time_shift_moves_records_and_messages(tmp_path: Path) -> None:
    head = 'name = "t"\ndescription = "d"\nstatus = "Exercise"\ntime_shift = "P1DT2H"\n'
    folder = write_scenario(tmp_path / "s", MIHO_FEED + HKO_FEED, head)
    hko_csv(folder, [("2023-07-14T09:30:00+08:00", "12")])
    records = list(load_scenario(folder).records())
    first = records[0]
    assert first.time == datetime(2023, 7, 10, 2, tzinfo=first.time.tzinfo) + timedelta(
        days=1
    )
    assert isinstance(first.value, dict)
    assert first.value["time"] == "2023-07-11T02:00:00+09:00"
    hko = next(r for r in records if r.feed == "hko")
    assert isinstance(hko.value, dict)
    assert hko.value["time"] == "2023-07-15T03:30:00Z"


def test_time_shift_syntax() -> None:
    assert parse_time_shift("none", "x") == timedelta(0)
    assert parse_time_shift("P3D", "x") == timedelta(days=3)
    assert parse_time_shift("-PT6H30M", "x") == -timedelta(hours=6, minutes=30)
    for bad in ("P", "3 days", "PT", 0, "P1W"):
        with pytest.raises(ConfigError, match="time_shift"):
            parse_time_shift(bad, "x")


def test_start_and_end_clip_a_feed(tmp_path: Path) -> None:
    body = MIHO_FEED.replace(
        'topic = "obs.gauge"',
        'topic = "obs.gauge"\nstart = "2023-07-15T05:00:00+09:00"\n'
        "end = 2023-07-15T01:00:00Z",
    )
    records = list(load_scenario(write_scenario(tmp_path / "s", body)).records())
    with (REPO / "data/samples/gauge/miho_3011665_2023-07.csv").open() as handle:
        expected = [
            float(row["wl"])
            for row in csv.DictReader(handle)
            if "2023-07-15 05:00" <= row["timestamp_kst"] <= "2023-07-15 10:00"
        ]
    assert len(expected) == 6
    assert [r.value["stage"] for r in records] == expected


def test_rejections_are_kept_per_feed(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", HKO_FEED)
    hko_csv(
        folder, [("2025-08-05T06:00:00+08:00", "-4"), ("2025-08-05T07:00:00+08:00", "")]
    )
    loaded = load_scenario(folder)
    assert list(loaded.records()) == []
    assert [r.reason_class for r in loaded.rejected["hko"]] == ["physical", "missing"]


def reading_counter(calls: list[Path]) -> Any:
    def read(path: Path) -> Any:
        calls.append(path)
        return radar_bom.read_bom_frame(path)

    return read


def test_radar_feed_is_read_lazily_and_placed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setitem(scenario.RADAR_READERS, "radar_bom", (__name__, "counted"))
    monkeypatch.setitem(globals(), "counted", reading_counter(calls))
    loaded = load_scenario(SCENARIOS / "zhaoqing-exercise")

    first = list(itertools.islice(loaded.records(), 3))
    assert len(calls) <= 4  # one frame ahead per feed at most, not all 144
    assert [r.feed for r in first] == ["brisbane-radar"] * 3
    assert [r.time for r in first] == [
        datetime(2020, 10, 31, 0, m, tzinfo=UTC) for m in (0, 10, 20)
    ]
    msg = first[0].value
    assert isinstance(msg, dict)
    assert registry.validate(msg) == "radar_frame/1"
    assert (msg["grid"]["origin_lon"], msg["grid"]["origin_lat"]) == (112.35, 23.9)
    assert msg["grid"]["transposed"] is True
    assert first[0].topic == "obs.radar" and first[0].key == msg["radar_id"].encode()


MINIMAL = 'name = "t"\ndescription = "d"\nstatus = "Test"\ntime_shift = "none"\n'
RADAR = """
[[feeds]]
kind = "radar_bom"
path = "radar/bom_prcp-cscn_2_20180616"
[feeds.options]
place_at = [112.1, 23.6]
transposed = true
"""


MIHO_CODES = 'area_codes = { "3011665" = ["441202001"] }\n'
RADAR_CASE = MINIMAL + RADAR
MIHO_CASE = MINIMAL + MIHO_FEED
RADAR_TWIN = RADAR.replace("kind", 'name = "radar_bom-0"\nkind')
NAIVE_START = 'start = "2023-07-15T05:00"\n'

# (manifest, text replaced, replacement, words the error must contain)
BAD_MANIFESTS = [
    (RADAR_CASE, 'status = "Test"\n', "", "status is missing"),
    (RADAR_CASE, '"Test"', '"Drill"', "status = 'Drill'"),
    (RADAR_CASE, 'time_shift = "none"\n', "", "time_shift is missing"),
    (RADAR_CASE, '"none"', '"tomorrow"', "time_shift = 'tomorrow'"),
    (RADAR_CASE, "[[feeds]]", 'owner = "x"\n[[feeds]]', "unknown keys ['owner']"),
    (RADAR_CASE, RADAR, "", "feeds is missing"),
    (RADAR_CASE, '"radar_bom"', '"radar_dwd"', "feeds[0].kind = 'radar_dwd'"),
    (RADAR_CASE, "bom_prcp-cscn_2", "bom_nowhere", "feeds[0].path"),
    (RADAR_CASE, "place_at = [112.1, 23.6]\n", "", "options.place_at is missing"),
    (RADAR_CASE, "[112.1, 23.6]", "[23.6, 112.1]", "place_at = [23.6, 112.1]"),
    (RADAR_CASE, "transposed = true", "transposed = 1", "transposed = 1"),
    (RADAR_CASE, "transposed = true", "shift = 1", "unknown keys ['shift']"),
    (RADAR_CASE, "[feeds.options]", 'topic = "a b"\n[feeds.options]', "topic = 'a b'"),
    (RADAR_CASE, RADAR, RADAR + RADAR_TWIN, "not unique"),
    (RADAR_CASE, "[[feeds]]", 'rulesets = { a = "wmo" }\n[[feeds]]', "rulesets.a"),
    (MIHO_CASE, MIHO_CODES, "", "station 3011665 covers no area"),
    (MIHO_CASE, '["3011665"]\n', '["3011666"]\n', "'3011666' is not in"),
    (MIHO_CASE, "[feeds.options]", NAIVE_START + "[feeds.options]", "no UTC offset"),
    (MIHO_CASE, MIHO_CODES, MIHO_CODES + 'columns = { time = "t" }', "options.columns"),
]  # fmt: skip


@pytest.mark.parametrize(("manifest", "old", "new", "words"), BAD_MANIFESTS)
def test_bad_manifests_name_the_field(
    tmp_path: Path, manifest: str, old: str, new: str, words: str
) -> None:
    assert old in manifest
    write_scenario(tmp_path / "s", "", head=manifest.replace(old, new))
    with pytest.raises(ConfigError) as caught:
        load_scenario(tmp_path / "s")
    assert words in str(caught.value), str(caught.value)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenario(tmp_path)


def test_out_of_order_feed_is_refused(tmp_path: Path) -> None:
    folder = write_scenario(tmp_path / "s", HKO_FEED)
    hko_csv(
        folder, [("2025-08-05T07:00:00+08:00", "1"), ("2025-08-05T06:00:00+08:00", "2")]
    )
    with pytest.raises(ConfigError, match="must be in time order"):
        list(load_scenario(folder).records())


def test_a_window_cuts_the_shifted_records(tmp_path: Path) -> None:
    head = 'name = "t"\ndescription = "d"\nstatus = "Exercise"\ntime_shift = "P1DT2H"\n'
    loaded = load_scenario(write_scenario(tmp_path / "s", MIHO_FEED, head))
    kst = timezone(timedelta(hours=9))
    # shifted by a day and two hours: the readings of 07-15 05:00 to 10:00 KST
    cut = loaded.window(
        datetime(2023, 7, 16, 7, tzinfo=kst), datetime(2023, 7, 16, 3, tzinfo=UTC)
    )
    records = list(cut.records())
    with (REPO / "data/samples/gauge/miho_3011665_2023-07.csv").open() as handle:
        expected = [
            float(row["wl"])
            for row in csv.DictReader(handle)
            if "2023-07-15 05:00" <= row["timestamp_kst"] <= "2023-07-15 10:00"
        ]
    assert len(expected) == 6
    assert [r.value["stage"] for r in records] == expected
    assert records[0].value["time"] == "2023-07-16T07:00:00+09:00"
    # the whole scenario is still there
    assert len(list(loaded.records())) == 216
    assert len(list(loaded.window(None, None).records())) == 216


def test_a_window_needs_offsets_and_order(tmp_path: Path) -> None:
    loaded = load_scenario(write_scenario(tmp_path / "s", MIHO_FEED))
    with pytest.raises(ConfigError, match="no UTC offset"):
        loaded.window(datetime(2023, 7, 15, 5), None)
    with pytest.raises(ConfigError, match="ends .* before it starts"):
        loaded.window(
            datetime(2023, 7, 15, 5, tzinfo=UTC), datetime(2023, 7, 15, 4, tzinfo=UTC)
        )


def test_window_options_of_the_command_line() -> None:
    import argparse  # noqa: PLC0415

    from pipeline.commands import instant  # noqa: PLC0415

    assert instant("2020-10-31T04:00+10:00") == datetime(2020, 10, 30, 18, tzinfo=UTC)
    assert instant("2020-10-31T04:00Z").utcoffset() == timedelta(0)
    for bad, words in (("2020-10-31T04:00", "no UTC offset"), ("31/10", "ISO-8601")):
        with pytest.raises(argparse.ArgumentTypeError, match=words):
            instant(bad)
