"""``ews train``: fit the gradient-boosting stage model and record its score.

The only hourly stage series bundled with a flood in it is the Miho River
Bridge gauge of July 2023 (``data/samples/gauge/miho_3011665_2023-07.csv``):
**one event**, 216 hours. The model is trained on the hours before
``--split`` (by default 2023-07-15 00:00 KST: the first rise to 7.03 m and
its fall) and scored on the hours from it (the main rise to 10.08 m, the
recession and a small second rise), against the rate of rise and against
persistence, lead by lead. The skops file and a JSON record of the data,
the split, the parameters and the scores are written next to each other
(``data/models/`` by default). One event cannot show that the model
generalises; the record says so, and the pipeline keeps the rate of rise
(see :mod:`models.stage_forecast`).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from models.stage_forecast import StageModel, hourly_windows, save_model
from schemas.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
MIHO = REPO / "data" / "samples" / "gauge" / "miho_3011665_2023-07.csv"
MODEL = REPO / "data" / "models" / "stage_gbr_miho.skops"
KST = timezone(timedelta(hours=9))


def read_hourly(path: Path) -> tuple[list[datetime], np.ndarray]:
    """Times and stages (m) of the HRFCO hourly CSV, checked to be hourly."""
    try:
        with path.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ConfigError(f"stage series {path} cannot be read: {exc}") from exc
    times = [
        datetime.strptime(r["timestamp_kst"], "%Y-%m-%d %H:%M").replace(tzinfo=KST)
        for r in rows
    ]
    gaps = {b - a for a, b in zip(times, times[1:], strict=False)}
    if gaps != {timedelta(hours=1)}:
        raise ConfigError(f"stage series {path} is not hourly: steps {sorted(gaps)}")
    return times, np.array([float(r["wl"]) for r in rows])


def rmse_by_lead(pred: np.ndarray, truth: np.ndarray) -> list[float]:
    """Root-mean-square error per lead column, same unit as the stages."""
    return [round(float(v), 4) for v in np.sqrt(np.mean((pred - truth) ** 2, axis=0))]


def train(
    series: Path = MIHO,
    out: Path = MODEL,
    split: datetime = datetime(2023, 7, 15, tzinfo=KST),
    lags: int = 3,
    leads: int = 6,
) -> dict[str, Any]:
    """Fit on the hours before ``split``, score on the rest, write model and record."""
    times, stages = read_hourly(series)
    cut = next((i for i, t in enumerate(times) if t >= split), len(times))
    if cut <= lags + leads or len(times) - cut <= lags + leads:
        raise ConfigError(f"split {split.isoformat()} leaves too few hours on a side")
    x_fit, y_fit = hourly_windows(stages[:cut], lags, leads)
    # the hold-out windows start at the split, with their lags from before it
    x_test, y_test = hourly_windows(stages[cut - lags :], lags, leads)
    model = StageModel.fit(x_fit, y_fit, lags)

    lead_h = np.arange(1, leads + 1, dtype=np.float64)
    rate = x_test[:, :1]  # stage now minus the stage an hour before, per hour
    scores = {
        "gradient_boosting": rmse_by_lead(model.predict_change(x_test), y_test),
        "rate_of_rise": rmse_by_lead(rate * lead_h, y_test),
        "persistence": rmse_by_lead(np.zeros_like(y_test), y_test),
    }
    better = np.mean(scores["gradient_boosting"]) < np.mean(scores["rate_of_rise"])
    record = {
        "model": out.name,
        "format": "skops",
        "kind": "sklearn GradientBoostingRegressor, one per lead hour",
        "features": f"stage now minus stage 1..{lags} h before, and the "
        f"{lags} latest hour-to-hour differences (m)",
        "target": f"stage change 1..{leads} h ahead (m)",
        "params": {"n_estimators": 200, "max_depth": 2, "learning_rate": 0.05},
        "data": {
            "series": str(series.relative_to(REPO)),
            "sha256": hashlib.sha256(series.read_bytes()).hexdigest(),
            "station": "3011665 Miho River Bridge (HRFCO), hourly, m",
            "events": 1,
            "train": [times[0].isoformat(), times[cut - 1].isoformat()],
            "train_samples": int(x_fit.shape[0]),
            "holdout": [times[cut].isoformat(), times[-1].isoformat()],
            "holdout_samples": int(x_test.shape[0]),
        },
        "holdout_rmse_m_by_lead_h": scores,
        "beats_rate_of_rise_on_holdout": bool(better),
        "used_by_pipeline": False,
        "note": "One flood event only (Osong, July 2023), split in time: the "
        "hold-out is the later part of the same event, so the score says "
        "little about other events or rivers. The pipeline forecasts "
        "crossings from the rate of rise until more events are available.",
        "versions": {
            "scikit-learn": importlib.metadata.version("scikit-learn"),
            "skops": importlib.metadata.version("skops"),
        },
    }
    save_model(model, out, record)
    return record


def cmd_train(args: argparse.Namespace) -> int:
    from rich.console import Console  # noqa: PLC0415

    split = datetime.fromisoformat(args.split)
    if split.tzinfo is None:
        split = split.replace(tzinfo=KST)
    record = train(args.series, args.out, split, args.lags, args.leads)
    console = Console()
    console.print(
        f"model written to {args.out} (record {args.out.with_suffix('.json')})"
    )
    for name, rmse in record["holdout_rmse_m_by_lead_h"].items():
        console.print(
            f"  hold-out RMSE {name:<18} " + " ".join(f"{v:.3f}" for v in rmse)
        )
    console.print(
        f"  one event only; used by the pipeline: {record['used_by_pipeline']}"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Declare ``ews train``."""
    p = sub.add_parser("train", help="fit the stage model on the bundled gauge series")
    p.add_argument("--series", type=Path, default=MIHO, help="hourly HRFCO CSV")
    p.add_argument("--out", type=Path, default=MODEL, help="model file (.skops)")
    p.add_argument(
        "--split", default="2023-07-15T00:00", help="hold out from this time (KST)"
    )
    p.add_argument("--lags", type=int, default=3, help="hours of history")
    p.add_argument("--leads", type=int, default=6, help="hours ahead")
    p.set_defaults(func=cmd_train)
