"""WaterML-JSON of the wrong shape crashed the USGS reader.

A no-data marker that is text (ValueError), readings that are not objects
(AttributeError), a values list holding a number, and a series that is a
list (AttributeError in the handler of its own error).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from connectors.gauge_usgs import read_usgs_iv
from connectors.scenario import SAMPLES_DIR
from connectors.station import load_stations
from schemas.errors import ParseError

GAUGE = SAMPLES_DIR / "gauge"
DOCUMENT = json.loads(
    (GAUGE / "usgs_iv_02489500_02492000_2019-02-25_03-01.json").read_text("utf-8")
)
STAGE = next(
    s
    for s in DOCUMENT["value"]["timeSeries"]
    if s["variable"]["variableCode"][0]["value"] == "00065"
)


def read_series(tmp_path: Path, series: object):
    path = tmp_path / "iv.json"
    path.write_text(json.dumps({"value": {"timeSeries": [series]}}), "utf-8")
    return read_usgs_iv(path, load_stations(GAUGE / "stations.toml"))


def test_a_no_data_marker_that_is_text_refuses_its_series(tmp_path: Path) -> None:
    series = copy.deepcopy(STAGE)
    series["variable"]["noDataValue"] = "none"
    read = read_series(tmp_path, series)
    assert read.observations == []
    [rejection] = read.rejected
    assert rejection.reason_class == "schema" and "noDataValue" in rejection.reason


def test_readings_that_are_not_objects_are_refused_one_by_one(tmp_path: Path) -> None:
    series = copy.deepcopy(STAGE)
    readings = series["values"][0]["value"][:3]
    series["values"][0]["value"] = [readings[0], 7, "x", readings[1]]
    read = read_series(tmp_path, series)
    assert len(read.observations) == 2
    assert [r.reason_class for r in read.rejected] == ["schema", "schema"]


@pytest.mark.parametrize("values", [5, [5], [{"value": 5}]])
def test_values_of_the_wrong_shape_refuse_the_file(tmp_path: Path, values) -> None:
    series = dict(copy.deepcopy(STAGE), values=values)
    with pytest.raises(ParseError, match="values is not a list"):
        read_series(tmp_path, series)


def test_a_series_that_is_a_list_refuses_the_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="lacks sourceInfo"):
        read_series(tmp_path, [1, 2])
