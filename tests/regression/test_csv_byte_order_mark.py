"""A UTF-8 byte-order mark (as spreadsheet exports write) hid the first column.

The CSV readers opened files as plain UTF-8, so the mark stuck to the first
header name (``\\ufefftimestamp_kst``) and the file was refused for lacking
its time column.
"""

from __future__ import annotations

from pathlib import Path

from connectors import rain_hko
from connectors.fire_csv import read_fire_csv
from connectors.gauge_csv import read_gauge_csv
from connectors.scenario import SAMPLES_DIR
from connectors.station import load_stations

BOM = b"\xef\xbb\xbf"


def with_mark(src: Path, tmp_path: Path) -> Path:
    path = tmp_path / src.name
    path.write_bytes(BOM + src.read_bytes())
    return path


def test_gauge_csv(tmp_path: Path) -> None:
    stations = load_stations(SAMPLES_DIR / "gauge" / "stations.toml")
    src = SAMPLES_DIR / "gauge" / "miho_3011665_2023-07.csv"
    plain = read_gauge_csv(src, stations)
    marked = read_gauge_csv(with_mark(src, tmp_path), stations)
    assert len(marked.observations) == len(plain.observations) > 0


def test_hko_rainfall(tmp_path: Path) -> None:
    stations = rain_hko.load_hko_stations(SAMPLES_DIR / "rain" / "hko_rf_stations.csv")
    src = SAMPLES_DIR / "rain" / "hko_rf_past_hour_wide.csv"
    plain = rain_hko.read_hko_rainfall(src, stations)
    marked = rain_hko.read_hko_rainfall(with_mark(src, tmp_path), stations)
    assert len(marked.points) == len(plain.points) > 0


def test_fire_csv(tmp_path: Path) -> None:
    src = SAMPLES_DIR / "fire" / "station_noon_vw85.csv"
    plain = read_fire_csv(src)
    marked = read_fire_csv(with_mark(src, tmp_path))
    assert len(marked.observations) == len(plain.observations) > 0
