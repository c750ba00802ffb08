"""Loudspeaker dispatch through a real mosquitto with simulated loudspeakers.

Villages of 城东街道 and their loudspeakers: M1 1,000 persons (M1a covers
800), M2 1,000 (M2a 700), M3 500 (M3a 500, never online), M4 500 (M4a
400, offline when the alert goes out, back once dispatch is over). The
announcement is rendered by espeak-ng and sent in the command.

Wave 1 reaches 800 + 700 = 1,500 of 3,000 (50 %). M3a and M4a stay
silent and time out; a silent loudspeaker is not commanded again and
nothing else serves those villages, so dispatch ends ``exhausted``. When
M4a comes back its broker session hands it the command it missed, it
plays, and the late receipt lifts the alert's coverage to 1,900 / 3,000.
"""

from __future__ import annotations

import time

import pytest

from connectors.loudspeaker import MqttSettings, SimulatedLoudspeaker
from tests.integration.conftest import MosquittoRig
from tests.integration.test_dispatch_rig import DispatchRun
from tests.integration.test_loudspeaker import Eavesdropper
from tests.unit.test_dispatch_support import (
    TOWN_A,
    alert_of,
    event,
    settings_for,
    write_inventory,
)

pytestmark = pytest.mark.integration


def topic(village: str) -> str:
    return f"ews/ls/{TOWN_A[:6]}/{village}/cmd"


def test_loudspeakers_ack_one_stays_offline_one_comes_back(
    kafka_bootstrap, mosquitto: MosquittoRig, tmp_path
):
    inventory = write_inventory(
        tmp_path / "inv",
        [(f"M{i}", TOWN_A, p, 112.45 + i / 100, 23.12)
         for i, p in ((1, 1000), (2, 1000), (3, 500), (4, 500))],
        [],
        [("M1a", "M1", TOWN_A, 800), ("M2a", "M2", TOWN_A, 700),
         ("M3a", "M3", TOWN_A, 500), ("M4a", "M4", TOWN_A, 400)],
    )  # fmt: skip
    mqtt = MqttSettings("127.0.0.1", mosquitto.port)
    speakers = {
        name: SimulatedLoudspeaker(name, topic(name[:2]), mqtt, play_speed=0.01)
        for name in ("M1a", "M2a", "M4a")
    }
    for speaker in speakers.values():
        speaker.start()
    speakers["M4a"].stop()  # its session and subscription stay on the broker
    tap = Eavesdropper(mqtt)

    settings = settings_for(
        inventory,
        tmp_path / "journal",
        dispatch_loudspeaker_gateway="mqtt",
        dispatch_speech=True,
        dispatch_wave_wait_s=4.0,
        mqtt_port=mosquitto.port,
        mqtt_client_id=f"ews-dispatch-test-{time.time_ns()}",
        mqtt_audio="base64",
    )
    run = DispatchRun(kafka_bootstrap, tmp_path / "worker", settings)
    run.start()
    try:
        record = alert_of(event([TOWN_A]))
        ident = record["identifier"]
        run.publish(record)
        closed = run.wait_closed(ident)[ident]
        speakers["M4a"].start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            late = run.wait_closed(ident)[ident]
            if late["reached"]["loudspeaker"] > closed["reached"]["loudspeaker"]:
                break
            time.sleep(0.5)
    finally:
        run.stop()
        tap.close()
        for speaker in speakers.values():
            speaker.stop()

    assert closed["outcome"] == "exhausted" and closed["wave"] == 1
    assert closed["reached"]["loudspeaker"] == 1500 and closed["coverage"] == 0.5
    assert late["reached"]["loudspeaker"] == 1900
    assert late["coverage"] == pytest.approx(1900 / 3000, abs=1e-6)

    assert speakers["M1a"].played == [f"{ident}/M1a"]
    assert speakers["M4a"].played == [f"{ident}/M4a"], "queued, played once"
    states = [
        (r["target_id"], r["state"], r["gateway"]) for r in run.records("receipts")
    ]
    assert ("M1a", "played", "mqtt") in states and ("M2a", "played", "mqtt") in states
    assert ("M3a", "timeout", "dispatcher") in states
    assert states.index(("M4a", "timeout", "dispatcher")) < states.index(
        ("M4a", "played", "mqtt")
    )
    audio = [c["audio"] for c in tap.commands]
    assert len(audio) == 4 and all(a["encoding"] == "wav+base64" for a in audio)
    assert all(a["duration_s"] > 2.0 for a in audio), "espeak-ng rendered speech"
    assert len(run.records("dispatch")) == 4, "no loudspeaker commanded twice"
