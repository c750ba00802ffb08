"""The message schemas and the registry that applies them."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import schemas.errors as errors
from schemas import registry
from schemas.errors import ParseError, SchemaError


def gauge_obs() -> dict[str, Any]:
    return {
        "schema": "gauge_obs/1",
        "source": "hrfco",
        "station": {
            "id": "3011665",
            "name": "Miho River Bridge",
            "river": "Miho River",
            "lon": 127.350556,
            "lat": 36.623056,
            "tz": "Asia/Seoul",
            "unit": "m",
            "levels": {"blue": 5.0, "yellow": 7.0, "orange": 8.0, "red": 9.38},
            "area_codes": ["441202001"],
        },
        "time": "2023-07-15T10:00:00+09:00",
        "stage": 10.08,
    }


def radar_frame() -> dict[str, Any]:
    return {
        "schema": "radar_frame/1",
        "source": "bom-rainfields",
        "radar_id": "66",
        "valid_time": "2020-10-31T04:30:00Z",
        "step_s": 600,
        "units": "mm",
        "quantum_mm": 0.01,
        "nodata": 65535,
        "grid": {
            "id": "bom-66",
            "shape": [512, 512],
            "dx_km": 0.5,
            "dy_km": 0.5,
            "x0_km": -127.75,
            "y0_km": 127.75,
            "origin_lon": 112.1,
            "origin_lat": 23.6,
            "projection": "aeqd",
            "transposed": True,
            "native_crs": "+proj=aea +lat_1=-26.2 +lat_2=-29.3 +lon_0=153.24",
        },
        "encoding": "zlib+uint16-le",
        "data": "eJwDAAAAAAE=",
    }


def area_rain() -> dict[str, Any]:
    return {
        "schema": "area_rain/1",
        "area_code": "441202001",
        "time": "2020-10-31T04:30:00Z",
        "step_s": 600,
        "rain_mm": 12.5,
        "statistic": "q90",
        "pixels": 310,
        "source": "bom-rainfields",
        "accumulations_mm": {"1": 31.0, "3": 52.4},
        "coverage": {"1": 1.0, "3": 0.94},
    }


def warning_event() -> dict[str, Any]:
    return {
        "schema": "warning_event/1",
        "event_id": "rainstorm-441202001-20201031T0430Z:2",
        "warning_id": "rainstorm-441202001-20201031T0430Z",
        "hazard": "rainstorm",
        "ruleset": "cma-rainstorm",
        "area": {"codes": ["441202001"], "names": ["端州区城东街道"]},
        "level": "orange",
        "previous_level": "yellow",
        "action": "upgrade",
        "sequence": 2,
        "observed_at": "2020-10-31T05:30:00Z",
        "valid_from": "2020-10-31T05:30:00Z",
        "valid_to": "2020-10-31T08:30:00Z",
        "status": "Exercise",
        "trigger": {"rain_mm_3h": 51.2},
    }


def cap_alert() -> dict[str, Any]:
    return {
        "schema": "cap_alert/1",
        "identifier": "CN-441202001-rainstorm-20201031T053000-2",
        "msgType": "Update",
        "status": "Exercise",
        "sent": "2020-10-31T13:30:00+08:00",
        "references": ["CN-441202001-rainstorm-20201031T043000-1"],
        "warning_id": "rainstorm-441202001-20201031T0430Z",
        "event_id": "rainstorm-441202001-20201031T0430Z:2",
        "hazard": "rainstorm",
        "level": "orange",
        "action": "upgrade",
        "area_codes": ["441202001"],
        "xml": "<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'/>",
    }


def deadletter() -> dict[str, Any]:
    return {
        "schema": "deadletter/1",
        "source": "gauge-agent",
        "topic": "obs.gauge",
        "partition": 2,
        "offset": 1041,
        "reason": "gauge_obs/1 at $.stage: 'x' is not of type 'number'",
        "reason_class": "schema",
        "original_b64": "eyJzdGFnZSI6IngifQ==",
        "time": "2023-07-15T01:00:00Z",
    }


def fire_obs() -> dict[str, Any]:
    return {
        "schema": "fire_obs/1",
        "source": "cffdrs-vw85-transposed",
        "station": {"id": "GN-FW01", "lon": 112.42, "lat": 23.63, "county": "441223"},
        "period": "daily",
        "time": "2024-04-13T12:00:00+08:00",
        "temp_c": 17.0,
        "rh_pct": 42.0,
        "wind_kmh": 25.0,
        "rain_24h_mm": 0.0,
    }


def geo_rain() -> dict[str, Any]:
    return {
        "schema": "geo_rain/1",
        "source": "usgs-thresh",
        "gauge": {
            "id": "HC01-RG",
            "lon": 112.12,
            "lat": 23.88,
            "area_codes": ["441224001"],
        },
        "time": "2011-03-14T23:00:00-08:00",
        "step_s": 3600,
        "rain_mm": 2.54,
    }


def slope_sensor() -> dict[str, Any]:
    return {
        "schema": "slope_sensor/1",
        "source": "synthetic-exercise",
        "site": {
            "id": "HC01",
            "lon": 112.12,
            "lat": 23.88,
            "area_codes": ["441224001"],
        },
        "sensor": {
            "id": "HC01-CR1",
            "kind": "crack_width",
            "lon": 112.1205,
            "lat": 23.8803,
            "rule": {"level": {"attention_mm": 15.0}, "rate_window_h": 12},
        },
        "time": "2011-03-14T12:00:00-08:00",
        "crack_width_mm": 5.48,
    }


def quake_event() -> dict[str, Any]:
    return {
        "schema": "quake_event/1",
        "source": "usgs",
        "event_id": "usb000ije3",
        "time": "2013-07-21T23:45:56.960000+00:00",
        "updated": "2013-07-26T16:50:43+00:00",
        "lon": 104.2427,
        "lat": 34.4991,
        "depth_km": 9.84,
        "magnitude": 5.9,
        "magnitude_type": "Mwp",
        "place": "Gansu, China",
        "event_type": "earthquake",
        "status": "reviewed",
    }


SAMPLES: dict[str, Callable[[], dict[str, Any]]] = {
    "gauge_obs/1": gauge_obs,
    "radar_frame/1": radar_frame,
    "area_rain/1": area_rain,
    "warning_event/1": warning_event,
    "cap_alert/1": cap_alert,
    "deadletter/1": deadletter,
    "fire_obs/1": fire_obs,
    "geo_rain/1": geo_rain,
    "slope_sensor/1": slope_sensor,
    "quake_event/1": quake_event,
}


# Schemas whose samples live with their owners' tests.
SAMPLED_ELSEWHERE = {
    "dispatch_order/1": "tests/unit/test_dispatch_records.py",
    "receipt/1": "tests/unit/test_dispatch_records.py",
    "geo_town/1": "tests/unit/test_hand_over.py",
    "fire_county/1": "tests/unit/test_hand_over.py",
}


def test_every_message_of_the_architecture_has_a_schema() -> None:
    assert registry.known_schemas() == sorted({*SAMPLES, *SAMPLED_ELSEWHERE})


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_schema_files_are_valid_draft_2020_12(name: str) -> None:
    document = json.loads(registry.schema_path(name).read_text(encoding="utf-8"))
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(document)
    assert document["properties"]["schema"] == {"const": name}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_valid_samples_pass_and_round_trip(name: str) -> None:
    msg = SAMPLES[name]()
    assert registry.validate(msg) == name
    raw = registry.encode(msg)
    assert raw.decode("utf-8") == json.dumps(
        msg, ensure_ascii=False, separators=(",", ":")
    )
    assert registry.decode(raw, name) == msg


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_valid_samples_take_the_fast_path(name: str) -> None:
    check = registry.fast_check(name)
    assert check is not None
    assert check(SAMPLES[name]())


def test_validators_are_compiled_once() -> None:
    assert registry.validator("gauge_obs/1") is registry.validator("gauge_obs/1")
    assert registry.fast_check("gauge_obs/1") is registry.fast_check("gauge_obs/1")


def test_encode_writes_utf8_not_escapes() -> None:
    raw = registry.encode(warning_event())
    assert "端州区城东街道".encode() in raw


DELETE = object()

# (schema, keys to the field, new value or DELETE, path in the error, words in it)
BAD: list[tuple[str, tuple[str, ...], Any, str, str]] = [
    ("gauge_obs/1", ("station", "unit"), "yd", "$.station.unit", "'m'"),
    ("gauge_obs/1", ("time",), "2023-07-15T10:00:00", "$.time", "offset"),
    ("gauge_obs/1", ("stage",), "10.08", "$.stage", "number"),
    ("gauge_obs/1", ("stage",), DELETE, "$", "'stage' is a required"),
    ("gauge_obs/1", ("extra",), 1, "$", "'extra' was unexpected"),
    ("gauge_obs/1", ("station", "lat"), 91.0, "$.station.lat", "90"),
    (
        "gauge_obs/1",
        ("station", "levels", "warning"),
        8.0,
        "$.station.levels",
        "warning",
    ),
    (
        "gauge_obs/1",
        ("station", "area_codes"),
        "441202001",
        "$.station.area_codes",
        "array",
    ),
    (
        "radar_frame/1",
        ("valid_time",),
        "2020-10-31T14:30:00+10:00",
        "$.valid_time",
        "UTC",
    ),
    ("radar_frame/1", ("units",), "in", "$.units", "'mm'"),
    ("radar_frame/1", ("encoding",), "gzip", "$.encoding", "zlib+uint16-le"),
    ("radar_frame/1", ("grid", "shape"), [512], "$.grid.shape", "short"),
    ("radar_frame/1", ("grid", "dx_km"), 0, "$.grid.dx_km", "0"),
    ("radar_frame/1", ("step_s",), 600.5, "$.step_s", "integer"),
    ("area_rain/1", ("rain_mm",), -0.1, "$.rain_mm", "minimum"),
    ("area_rain/1", ("statistic",), "median", "$.statistic", "q<percentile>"),
    ("area_rain/1", ("accumulations_mm", "3h"), 52.4, "$.accumulations_mm", "'3h'"),
    (
        "area_rain/1",
        ("accumulations_mm", "3"),
        -1,
        "$.accumulations_mm['3']",
        "minimum",
    ),
    ("area_rain/1", ("coverage", "1"), 1.5, "$.coverage['1']", "maximum"),
    ("area_rain/1", ("pixels",), 0, "$.pixels", "minimum"),
    ("area_rain/1", ("time",), "2020-10-31", "$.time", "date-time"),
    ("warning_event/1", ("level",), None, "$.level", "None"),
    ("warning_event/1", ("action",), "cancel", "$.level", "None"),
    ("warning_event/1", ("hazard",), "tsunami", "$.hazard", "rainstorm"),
    ("warning_event/1", ("status",), "Draft", "$.status", "Exercise"),
    ("warning_event/1", ("sequence",), 0, "$.sequence", "minimum"),
    ("warning_event/1", ("event_id",), "w:2", "$.event_id", "warning_id:sequence"),
    ("warning_event/1", ("area", "codes"), [], "$.area.codes", "non-empty"),
    ("cap_alert/1", ("sent",), "2020-10-31T05:30:00Z", "$.sent", "no 'Z'"),
    ("cap_alert/1", ("identifier",), "a b", "$.identifier", "spaces"),
    ("cap_alert/1", ("msgType",), "Notice", "$.msgType", "Alert"),
    ("cap_alert/1", ("xml",), "", "$.xml", "non-empty"),
    ("cap_alert/1", ("event_id",), "other:2", "$.event_id", "does not belong"),
    ("deadletter/1", ("reason_class",), "oops", "$.reason_class", "schema"),
    ("deadletter/1", ("offset",), -1, "$.offset", "minimum"),
]


def spoil(name: str, keys: tuple[str, ...], value: Any) -> dict[str, Any]:
    msg = SAMPLES[name]()
    node = msg
    for key in keys[:-1]:
        node = node[key]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return msg


@pytest.mark.parametrize(
    ("name", "keys", "value", "path", "words"),
    BAD,
    ids=[f"{b[0]}:{'.'.join(b[1])}" for b in BAD],
)
def test_bad_messages_are_refused_with_path_and_expectation(
    name: str, keys: tuple[str, ...], value: Any, path: str, words: str
) -> None:
    msg = spoil(name, keys, value)
    with pytest.raises(SchemaError) as caught:
        registry.validate(msg)
    text = str(caught.value)
    assert text.startswith(f"{name} at {path}:"), text
    assert words in text, text
    assert caught.value.reason_class == "schema"


def test_the_fast_path_never_accepts_what_jsonschema_refuses() -> None:
    for name, keys, value, _, _ in BAD:
        msg = spoil(name, keys, value)
        if list(registry.validator(name).iter_errors(msg)):
            assert not registry.fast_check(name)(msg), (name, msg)


_REPLACEMENTS = [None, True, 0, -1, 1.5, float("-inf"), "", "x", [], {}, ["x"]]


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(SAMPLES)),
    picks=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10)), max_size=3),
)
def test_fast_path_agrees_with_jsonschema_on_mutations(
    name: str, picks: list[tuple[int, int]]
) -> None:
    msg = SAMPLES[name]()
    for where, what in picks:
        holders = list(_containers(msg))
        holder, key = holders[where % len(holders)]
        holder[key] = copy.deepcopy(_REPLACEMENTS[what])
    valid = not list(registry.validator(name).iter_errors(msg))
    if registry.fast_check(name)(msg):
        assert valid, msg


def _containers(node: Any) -> Any:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        yield node, key
        if isinstance(value, dict | list) and value:
            yield from _containers(value)


def test_integral_float_is_accepted_by_the_slow_path() -> None:
    msg = area_rain()
    msg["step_s"] = 600.0  # JSON Schema counts 600.0 as an integer
    assert not registry.fast_check("area_rain/1")(msg)
    assert registry.validate(msg) == "area_rain/1"


def test_message_that_is_not_an_object() -> None:
    with pytest.raises(SchemaError, match="list, expected a JSON object"):
        registry.validate([gauge_obs()])


def test_message_without_schema_field() -> None:
    msg = gauge_obs()
    del msg["schema"]
    with pytest.raises(SchemaError, match=r"at \$.schema: found None"):
        registry.validate(msg)


def test_unknown_schema_name_lists_the_known_ones() -> None:
    msg = gauge_obs()
    msg["schema"] = "gauge_obs/9"
    with pytest.raises(SchemaError, match="unknown schema 'gauge_obs/9'.*area_rain/1"):
        registry.validate(msg)
    msg["schema"] = "gauge obs"
    with pytest.raises(SchemaError, match="not of the form"):
        registry.validate(msg)


def test_expected_schema_mismatch() -> None:
    with pytest.raises(
        SchemaError, match="found 'area_rain/1', expected 'gauge_obs/1'"
    ):
        registry.validate(area_rain(), "gauge_obs/1")


def test_encode_refuses_nan_and_infinity() -> None:
    for value in (float("nan"), float("inf")):
        msg = gauge_obs()
        msg["stage"] = value
        with pytest.raises(SchemaError, match="NaN or infinite"):
            registry.encode(msg)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\xff\xfe{}", "not UTF-8: byte 0"),
        (b'{"schema": "gauge_obs/1",', "not JSON: Expecting"),
        (b'{"schema": "gauge_obs/1", "stage": NaN}', "NaN is not a JSON number"),
        (b'{"stage": Infinity}', "Infinity is not a JSON number"),
        ("{}", "is a str, expected bytes"),
    ],
)
def test_decode_refuses_bad_bytes(raw: Any, words: str) -> None:
    with pytest.raises(ParseError, match=words) as caught:
        registry.decode(raw, "gauge_obs/1")
    assert caught.value.reason_class == "parse"


def test_decode_applies_the_schema() -> None:
    msg = gauge_obs()
    msg["stage"] = "high"
    raw = json.dumps(msg).encode()
    with pytest.raises(SchemaError, match=r"gauge_obs/1 at \$.stage"):
        registry.decode(raw, "gauge_obs/1")
    with pytest.raises(SchemaError, match="expected 'area_rain/1'"):
        registry.decode(registry.encode(gauge_obs()), "area_rain/1")


def test_impossible_calendar_date_is_not_a_date_time() -> None:
    msg = gauge_obs()
    msg["time"] = "2023-02-30T10:00:00+09:00"
    with pytest.raises(SchemaError, match=r"\$.time"):
        registry.validate(msg)
    assert not registry.fast_check("gauge_obs/1")(msg)


def test_deadletter_reason_classes_match_the_error_tree() -> None:
    document = json.loads(registry.schema_path("deadletter/1").read_text())
    allowed = set(document["properties"]["reason_class"]["enum"])
    declared = {
        cls.reason_class
        for cls in vars(errors).values()
        if isinstance(cls, type) and hasattr(cls, "reason_class")
    }
    assert allowed == declared | {"missing", "bug"}


def test_cancel_carries_no_level_and_issue_starts_at_one() -> None:
    msg = warning_event()
    msg.update(
        action="cancel",
        level=None,
        sequence=3,
        event_id="rainstorm-441202001-20201031T0430Z:3",
    )
    assert registry.validate(msg) == "warning_event/1"
    issue = copy.deepcopy(warning_event())
    issue.update(
        action="issue",
        sequence=1,
        event_id="rainstorm-441202001-20201031T0430Z:1",
        previous_level="yellow",
    )
    with pytest.raises(SchemaError, match=r"\$.previous_level"):
        registry.validate(issue)
