"""Loudspeaker commands and play acknowledgements through a real mosquitto."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from connectors.gateway import Receipt, SendRequest
from connectors.loudspeaker import (
    LoudspeakerGateway,
    MqttSettings,
    SimulatedLoudspeaker,
    command_topic,
)
from connectors.speech import SpeechRenderer
from tests.integration.conftest import (
    HANG_GUARD_S,
    MosquittoRig,
    collect_receipts,
    free_ports,
    wait_for,
)

pytestmark = pytest.mark.integration

TEXT = "【演习】暴雨红色预警：请立即转移到安全地带。"
CAP = "CAP-LS-1"


def command(ls_id: str, village: str, audio: Path | None) -> SendRequest:
    return SendRequest(
        send_id=f"{CAP}/{ls_id}",
        channel="loudspeaker",
        target_id=ls_id,
        address=command_topic("441223", village),
        text=TEXT,
        language="zh-CN",
        audio_path=audio,
        exercise=True,
    )


class Eavesdropper:
    """A plain MQTT subscriber that keeps every command it sees."""

    def __init__(self, settings: MqttSettings) -> None:
        self.commands: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tap")
        self.client.on_connect = lambda c, *_: (
            c.subscribe("ews/ls/+/+/cmd", qos=1),
            self._ready.set(),
        )
        self.client.on_message = lambda c, u, m: self.commands.append(
            json.loads(m.payload)
        )
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        assert self._ready.wait(HANG_GUARD_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_online_speakers_ack_offline_one_acks_when_back_unknown_never(
    mosquitto: MosquittoRig, tmp_path: Path, protocol: str
):
    settings = MqttSettings("127.0.0.1", mosquitto.port, protocol=protocol)  # type: ignore[arg-type]
    audio = SpeechRenderer(tmp_path / "speech").render(TEXT, "zh-CN")
    online = SimulatedLoudspeaker(
        "LS-A", command_topic("441223", "V-A"), settings, play_speed=0.01
    )
    away = SimulatedLoudspeaker(
        "LS-B", command_topic("441223", "V-B"), settings, play_speed=0.01
    )
    online.start()
    away.start()
    away.stop()  # offline now; the broker keeps its session and subscription
    tap = Eavesdropper(settings)
    requests = [
        command("LS-A", "V-A", audio.path),
        command("LS-B", "V-B", audio.path),
        command("LS-Z", "V-Z", audio.path),  # nobody ever listened there
    ]

    async def run() -> tuple[list, list[Receipt], list[Receipt]]:
        receipts: asyncio.Queue[Receipt] = asyncio.Queue()
        gateway = LoudspeakerGateway(settings, receipts)
        await gateway.start()
        results = [await gateway.send(r) for r in requests]
        first = await collect_receipts(
            receipts, lambda got: any(r.send_id == requests[0].send_id for r in got)
        )
        await asyncio.to_thread(away.start)
        later = await collect_receipts(
            receipts, lambda got: any(r.send_id == requests[1].send_id for r in got)
        )
        await gateway.close()
        return results, first, later

    try:
        results, first, later = asyncio.run(run())
    finally:
        online.stop()
        away.stop()
        tap.close()

    assert all(r.accepted for r in results), [r.reason for r in results]
    # LS-A acked while LS-B was away; LS-B acked the queued command on return.
    assert [r.send_id for r in first] == [requests[0].send_id]
    assert [r.send_id for r in later] == [requests[1].send_id]
    assert {r.state for r in first + later} == {"played"}
    assert requests[2].send_id not in {r.send_id for r in first + later}
    assert online.played == [requests[0].send_id]
    assert away.played == [requests[1].send_id]

    # The command carried the rendered announcement.
    sent = {c["loudspeaker_id"]: c for c in tap.commands}
    assert set(sent) == {"LS-A", "LS-B", "LS-Z"}
    assert sent["LS-A"]["exercise"] is True and sent["LS-A"]["text"] == TEXT
    wav = base64.b64decode(sent["LS-A"]["audio"]["data"])
    assert wav == audio.path.read_bytes()
    assert sent["LS-A"]["audio"]["duration_s"] == pytest.approx(
        audio.duration_s, abs=1e-3
    )


def test_acks_sent_while_the_dispatcher_was_down_reach_it_after_restart(
    mosquitto: MosquittoRig,
):
    settings = MqttSettings("127.0.0.1", mosquitto.port, client_id="ews-dispatch-r")
    speaker = SimulatedLoudspeaker("LS-C", command_topic("441223", "V-C"), settings)
    speaker.start()
    speaker.stop()
    request = command("LS-C", "V-C", None)

    async def run() -> list[Receipt]:
        first = LoudspeakerGateway(settings, asyncio.Queue())
        await first.start()
        assert (await first.send(request)).accepted
        await first.close()  # the dispatcher is gone; its session stays

        await asyncio.to_thread(speaker.start)
        await wait_for(lambda: speaker.played == [request.send_id], "the play")

        receipts: asyncio.Queue[Receipt] = asyncio.Queue()
        second = LoudspeakerGateway(settings, receipts)
        await second.start()
        got = await collect_receipts(receipts, lambda got: len(got) >= 1)
        await second.close()
        return got

    try:
        got = asyncio.run(run())
    finally:
        speaker.stop()

    assert [(r.send_id, r.state) for r in got] == [(request.send_id, "played")]


def test_an_unreachable_broker_is_a_retryable_refusal():
    (port,) = free_ports(1)  # nothing listens there
    gateway = LoudspeakerGateway(MqttSettings("127.0.0.1", port), asyncio.Queue())
    result = asyncio.run(gateway.send(command("LS-A", "V-A", None)))
    assert not result.accepted and result.retryable
    assert "unreachable" in result.reason
