"""Radar frames per minute through the radar and rainstorm agents.

The demo's real radar feed (BoM Rainfields, radar 66, 31 October 2020: 144
ten-minute frames of 512 x 512 pixels, placed over Zhaoqing) is replayed
as fast as the broker takes it into a fresh run with one worker. The radar
agent decodes each frame, keeps the town pixels of the last 12 h and
publishes one ``area_rain/1`` record per town; the rainstorm agent scores
each of them. Two rates: frames per minute through the radar agent (its
committed offsets on ``obs.radar``), and through the rainstorm agent (until
it has committed every ``rain.area`` record the frames made).
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.rig import Rig, committed, follow
from pipeline.lag import end_offsets
from pipeline.replay import replay


def run(rig: Rig) -> dict[str, Any]:
    """The radar figures of one session."""
    frames = [r for r in rig.scenario.records() if r.topic == "obs.radar"]
    settings = rig.run("radar")
    procs = rig.workers(settings, 1)
    t0 = time.monotonic()
    replay(rig.scenario, settings, records=frames, rejections=False, progress=False)
    radar = follow(
        rig.bootstrap, settings.app_id, settings.topic("obs.radar"), len(frames)
    )
    radar_s = time.monotonic() - t0
    area = settings.topic("rain.area")
    while True:  # rain.area is complete once the radar agent is done
        end = end_offsets(rig.bootstrap, [area])[area]
        if committed(rig.bootstrap, settings.app_id, area) >= end:
            break
        time.sleep(0.25)
    total_s = time.monotonic() - t0
    rig.stop(procs)
    return {
        "frames": len(frames),
        "area_records": end,
        "radar_agent_frames_per_min": len(frames) / radar_s * 60.0,
        "rainstorm_agent_frames_per_min": len(frames) / total_s * 60.0,
        "steady_frames_per_min": radar.rate() * 60.0,
        "seconds": round(total_s, 1),
    }
