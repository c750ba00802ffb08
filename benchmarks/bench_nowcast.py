"""Nowcast cost per radar frame, and the radar agent's throughput with it.

Three figures on the bundled BoM frames (512 x 512, 0.5 km, 10 min):

1. ews' nowcast (:func:`models.nowcast.nowcast_pixels`: motion and
   extrapolation at 1 km, the horizon of the default parameters), per frame;
2. pysteps called directly on the same native 512 x 512 frames in the same
   run: Lucas-Kanade motion on the dB rain rate and semi-Lagrangian
   extrapolation over the same number of steps; the ratio of the two;
3. the radar agent's frames per second (:class:`pipeline.agents.radar.
   RadarAreas` turning a ``radar_frame/1`` message into its town records),
   with the nowcast on and off.

Prints a table and writes JSON (``--json``). It measures; it never passes
or fails. Run: ``.venv/bin/python benchmarks/bench_nowcast.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from connectors.radar_codec import decode_frame
from connectors.scenario import load_scenario
from models.nowcast import DEFAULT_NOWCAST, nowcast_pixels, to_db
from models.region import default_region
from models.rules import load_ruleset
from pipeline.agents.radar import RadarAreas

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "data" / "scenarios" / "zhaoqing-exercise"


def frames(first: int, count: int) -> list[dict]:
    """``count`` radar messages of the exercise from frame ``first``."""
    records = [r for r in load_scenario(SCENARIO).records() if r.topic == "obs.radar"]
    return [r.value for r in records[first : first + count]]


def time_it(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=60, help="first frame used")
    parser.add_argument("--repeat", type=int, default=5, help="nowcasts timed")
    parser.add_argument("--json", type=Path, default=Path("var/bench_nowcast.json"))
    args = parser.parse_args()

    from pysteps import extrapolation, motion

    msgs = frames(args.first - 2, 2 + args.repeat + 2)
    fields = [np.nan_to_num(decode_frame(m).frame.precip_mm) for m in msgs]
    step_s = int(msgs[0]["step_s"])
    steps = DEFAULT_NOWCAST.steps(step_s)
    index = np.arange(fields[0].size)
    n = DEFAULT_NOWCAST.motion_frames

    def ours() -> None:
        for k in range(args.repeat):
            nowcast_pixels(fields[k : k + n], step_s, 0.5, index)

    lk = motion.get_method("LK")
    advect = extrapolation.get_method("semilagrangian")

    def theirs() -> None:
        for k in range(args.repeat):
            stack = np.stack(fields[k : k + n]) * (3600.0 / step_s)
            velocity = lk(to_db(stack, DEFAULT_NOWCAST.wet_mm_h), verbose=False)
            advect(fields[k + n - 1], velocity, steps, outval=0.0)

    ours()  # warm up imports and caches
    t_ours = statistics.median(time_it(ours, 3)) / args.repeat
    t_theirs = statistics.median(time_it(theirs, 3)) / args.repeat

    region = default_region()
    rules = load_ruleset("cma-rainstorm")
    agent_rates = {}
    for label, params in (("nowcast on", DEFAULT_NOWCAST), ("nowcast off", None)):
        areas = RadarAreas(region, rules.area_statistic, rules.windows_h, params)
        t0 = time.perf_counter()
        for m in msgs:
            areas.areas(m)
        agent_rates[label] = len(msgs) / (time.perf_counter() - t0)

    result = {
        "frame_shape": list(fields[0].shape),
        "steps": steps,
        "ews_nowcast_s_per_frame": round(t_ours, 4),
        "pysteps_direct_s_per_frame": round(t_theirs, 4),
        "ratio_ews_to_pysteps": round(t_ours / t_theirs, 3),
        "agent_frames_per_s": {k: round(v, 3) for k, v in agent_rates.items()},
        "frames_timed": len(msgs),
    }
    print(f"{'measure':<44} value")
    print(f"{'ews nowcast, s per 512x512 frame':<44} {t_ours:.3f}")
    print(f"{'pysteps LK + semi-Lagrangian, s per frame':<44} {t_theirs:.3f}")
    print(f"{'ratio ews / pysteps':<44} {t_ours / t_theirs:.2f}")
    for label, rate in agent_rates.items():
        print(f"{'radar agent frames/s, ' + label:<44} {rate:.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.json}")


if __name__ == "__main__":
    main()
