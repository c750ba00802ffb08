"""Run the pipeline benchmarks on one broker and print and save the figures.

    python -m benchmarks.run [--only gauge,latency,radar,soak]
                             [--records 100000] [--soak-records 1000000]
                             [--rate 250] [--bootstrap HOST:PORT]

Every benchmark of a run measures on the same broker (a local one started
for the run unless ``--bootstrap`` names one) with fresh topics each:

- ``gauge``: gauge observations per second through the flood agent with
  one and with two workers, against a bare aiokafka consumer reading the
  same topic and a faust agent that drops every record, with ews's fetch
  loop and faust's own (:mod:`benchmarks.bench_gauge`);
- ``latency``: observation-to-CAP latency, p50 and p99, at a steady load
  (:mod:`benchmarks.bench_latency`);
- ``radar``: radar frames per minute through the radar and rainstorm
  agents (:mod:`benchmarks.bench_radar`);
- ``soak``: a worker's memory over a million gauge records
  (:mod:`benchmarks.bench_soak`).

The gauge load is synthetic: clones of the real Miho River Bridge station
record with distinct ids and the real stage series
(:mod:`benchmarks.gauge_load`). Figures are printed as a table and written
as JSON to ``benchmarks/results/`` (one file per run and ``latest.json``)
with the machine they ran on and its load average. Nothing passes or
fails: the figures are for reading.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

from benchmarks import (  # noqa: E402
    bench_gauge,
    bench_latency,
    bench_radar,
    bench_soak,
)
from benchmarks.rig import machine, open_rig  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
ALL = ("gauge", "latency", "radar", "soak")


def _f(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: dict[str, Any]) -> Table:
    """The figures of ``results`` as one table."""
    out = Table(title="ews benchmarks")
    for col in ("figure", "value", "unit", "note"):
        out.add_column(col)
    g = results.get("gauge")
    if g:
        one, two = g["one_worker"], g["two_workers"]
        out.add_row(
            "bare aiokafka consumer",
            _f(g["bare_aiokafka"]["rate"]),
            "rec/s",
            f"{one['records']:,} gauge records, same topic",
        )
        out.add_row(
            "bare aiokafka + json.loads",
            _f(g["bare_aiokafka_json"]["rate"]),
            "rec/s",
            "",
        )
        floor = g.get("faust_floor")
        if floor:
            out.add_row(
                "faust agent that drops each record",
                _f(floor["rate"]),
                "rec/s",
                f"ratio to bare {g['floor_to_bare']:.3f}; "
                f"{_f(floor['cpu_us_per_record'])} us CPU per record",
            )
        stock = g.get("faust_floor_stock")
        if stock:
            out.add_row(
                "the same, faust's own fetch loop",
                _f(stock["rate"]),
                "rec/s",
                f"ews's fetch loop {g['floor_over_stock']:.2f} x this",
            )
        out.add_row(
            "flood agent, 1 worker",
            _f(one["rate"]),
            "obs/s",
            f"ratio to bare {g['ratio_to_bare']:.3f}, "
            f"to bare+json {g['ratio_to_bare_json']:.3f}"
            + (f", to faust floor {g['ratio_to_floor']:.3f}" if floor else ""),
        )
        out.add_row(
            "flood agent, 2 workers",
            _f(two["rate"]),
            "obs/s",
            f"{g['two_over_one']:.2f} x one worker",
        )
        out.add_row(
            "worker CPU per gauge record",
            _f(one["cpu_us_per_record"]),
            "us",
            f"2 workers: {_f(two['cpu_us_per_record'])} us",
        )
    lat = results.get("latency")
    if lat:
        out.add_row(
            "observation to CAP, p50",
            _f(lat["p50_ms"], 1),
            "ms",
            f"{lat['alerts']} alerts at {lat['achieved_rate_per_s']:.0f} obs/s",
        )
        out.add_row(
            "observation to CAP, p99",
            _f(lat["p99_ms"], 1),
            "ms",
            f"max {_f(lat['max_ms'], 1)} ms",
        )
    r = results.get("radar")
    if r:
        out.add_row(
            "radar frames, radar agent",
            _f(r["radar_agent_frames_per_min"], 1),
            "frames/min",
            f"{r['frames']} BoM frames, 512 x 512",
        )
        out.add_row(
            "radar frames, to rainstorm agent",
            _f(r["rainstorm_agent_frames_per_min"], 1),
            "frames/min",
            f"{r['area_records']:,} area records",
        )
    s = results.get("soak")
    if s:
        out.add_row(
            "soak: worker RSS growth",
            _f(s["rss_growth_pct"], 1),
            "%",
            f"{s['rss_at_10pct_mib']} -> {s['rss_end_mib']} MiB "
            f"(peak {s['rss_peak_mib']})",
        )
        out.add_row(
            "soak: duration",
            _f(s["seconds"]),
            "s",
            f"{s['records']:,} records at {_f(s['rate'])} obs/s",
        )
    return out  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(ALL), help="benchmarks to run")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--soak-records", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=250.0, help="latency load")
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    console = Console()
    chosen = [name for name in args.only.split(",") if name]
    unknown = sorted(set(chosen) - set(ALL))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {', '.join(ALL)}")

    started = time.monotonic()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": "python -m benchmarks.run " + " ".join(sys.argv[1:]),
    }
    with open_rig(args.bootstrap) as rig:
        steps = {
            "gauge": lambda: bench_gauge.run(rig, records=args.records),
            "latency": lambda: bench_latency.run(rig, rate_per_s=args.rate),
            "radar": lambda: bench_radar.run(rig),
            "soak": lambda: bench_soak.run(rig, records=args.soak_records),
        }
        for name in chosen:
            t0 = time.monotonic()
            console.print(f"[bold]{name}[/] ...")
            results[name] = steps[name]()
            results[name]["bench_seconds"] = round(time.monotonic() - t0, 1)
    results["seconds"] = round(time.monotonic() - started, 1)
    results["machine"]["load_average_end"] = machine()["load_average"]

    console.print(table(results))
    m = results["machine"]
    console.print(
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; load average "
        f"{m['load_average']} at start, {m['load_average_end']} at the end; "
        f"{results['seconds']:.0f} s in all"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(results, indent=2)
    for path in (args.json, RESULTS / f"bench-{stamp}.json", RESULTS / "latest.json"):
        if path is not None:
            path.write_text(text + "\n", encoding="utf-8")
    console.print(f"written to {RESULTS / f'bench-{stamp}.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
