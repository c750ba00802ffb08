"""Village loudspeakers over MQTT: commands out, play acknowledgements back.

Every loudspeaker (or group sharing one) listens on its command topic
``ews/ls/<county>/<village_id>/cmd`` and answers on the ``.../ack`` topic
beside it. Commands go at QoS 1 and the broker keeps each side's
subscriptions and queued messages across reconnections
(``clean_session=False`` in MQTT 3.1.1; ``clean_start=False`` with a session
expiry in MQTT 5), so the broker keeps a command for a loudspeaker that is
offline and hands it over when it comes back, and keeps acknowledgements
for a dispatcher that restarts.

Command payload (JSON, UTF-8)::

    {"schema": "ls_command/1", "send_id", "loudspeaker_id", "text",
     "language", "exercise", "audio": null | {"encoding": "wav+base64",
     "data", "duration_s", "size_bytes"} | {"url", "duration_s"}}

Acknowledgement payload::

    {"schema": "ls_ack/1", "send_id", "loudspeaker_id", "state": "played" |
     "failed", "at" (ISO-8601), "detail"}

:class:`LoudspeakerGateway` publishes commands and turns acknowledgements
into receipts; :meth:`~LoudspeakerGateway.send` is accepted once the broker
has the command (PUBACK), not when it is played. paho-mqtt runs its network
loop in its own thread; its callbacks hand over to asyncio with
``call_soon_threadsafe``. :class:`SimulatedLoudspeaker` is a stand-in
loudspeaker for tests and demonstrations.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt

from connectors.gateway import (
    Receipt,
    ReceiptState,
    SendRequest,
    SendResult,
    utc_now,
)
from connectors.speech import wav_duration_s

log = logging.getLogger(__name__)

ACK_SUBSCRIPTION = "ews/ls/+/+/ack"
QOS = 1


def command_topic(county_code: str, village_id: str) -> str:
    """Return the command topic of a village's loudspeaker(s)."""
    return f"ews/ls/{county_code}/{village_id}/cmd"


def ack_topic(command: str) -> str:
    """Return the acknowledgement topic beside a command topic."""
    return command.rsplit("/", 1)[0] + "/ack"


@dataclass(frozen=True)
class MqttSettings:
    """The broker and how to connect to it (``protocol`` "3.1.1" or "5")."""

    host: str
    port: int
    client_id: str = "ews-dispatch"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    publish_timeout_s: float = 30.0
    # XXX: base64 WAV costs about 59 kB per second of speech (22,050 Hz,
    # 16 bit, mono), 1 MB for an 18 s alert, in every command; "url" mode
    # is lighter but ews serves no audio files yet.
    audio: Literal["base64", "url", "none"] = "base64"
    audio_base_url: str | None = None


def make_client(settings: MqttSettings, client_id: str) -> mqtt.Client:
    """Return a paho client with a persistent session, not yet connected."""
    if settings.protocol == "5":
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
    else:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    return client


def connect(client: mqtt.Client, settings: MqttSettings) -> None:
    """Connect keeping the session (clean_start False and a session expiry in v5)."""
    if settings.protocol == "5":
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = settings.session_expiry_s
        client.connect(
            settings.host,
            settings.port,
            settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
    else:
        client.connect(settings.host, settings.port, settings.keepalive_s)


def command_payload(req: SendRequest, settings: MqttSettings) -> bytes:
    """Return the JSON command for one loudspeaker."""
    audio: dict[str, Any] | None = None
    if req.audio_path is not None and settings.audio != "none":
        path = Path(req.audio_path)
        duration = round(wav_duration_s(path), 3)
        if settings.audio == "url":
            base = (settings.audio_base_url or "").rstrip("/")
            audio = {"url": f"{base}/{path.name}", "duration_s": duration}
        else:
            data = path.read_bytes()
            audio = {
                "encoding": "wav+base64",
                "data": base64.b64encode(data).decode("ascii"),
                "duration_s": duration,
                "size_bytes": len(data),
            }
    body = {
        "schema": "ls_command/1",
        "send_id": req.send_id,
        "loudspeaker_id": req.target_id,
        "text": req.text,
        "language": req.language,
        "exercise": req.exercise,
        "audio": audio,
    }
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class LoudspeakerGateway:
    """Publishes loudspeaker commands and turns play acks into receipts."""

    name = "mqtt"
    channel = "loudspeaker"

    def __init__(
        self,
        settings: MqttSettings,
        receipts: asyncio.Queue[Receipt],
        *,
        clock: Any = utc_now,
    ) -> None:
        self.settings = settings
        self.receipts = receipts
        self._clock = clock
        self._client = make_client(settings, settings.client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._pending: dict[int, asyncio.Future[bool]] = {}
        self._published_early: set[int] = set()
        self.acks = 0

    async def start(self) -> None:
        """Connect, subscribe to the acknowledgements and wait for the CONNACK."""
        if self._loop is not None:
            return
        await asyncio.to_thread(connect, self._client, self.settings)
        self._loop = asyncio.get_running_loop()
        self._client.loop_start()
        await asyncio.wait_for(self._connected.wait(), self.settings.publish_timeout_s)

    async def close(self) -> None:
        """Disconnect (the broker keeps the session) and stop the network thread."""
        if self._loop is None:
            return
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self._loop = None

    async def send(self, req: SendRequest) -> SendResult:
        """Publish one command at QoS 1; accepted once the broker acknowledges it."""
        if req.channel != "loudspeaker":
            return SendResult(req.send_id, False, self.name, f"not {req.channel}")
        try:
            await self.start()
        except OSError as exc:
            reason = f"mqtt broker unreachable: {exc}"
            log.warning("mqtt: %s not sent: %s", req.send_id, reason)
            return SendResult(req.send_id, False, self.name, reason, retryable=True)
        loop = asyncio.get_running_loop()
        payload = command_payload(req, self.settings)
        info = self._client.publish(req.address, payload, qos=QOS)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            reason = f"mqtt publish failed: {mqtt.error_string(info.rc)}"
            return SendResult(req.send_id, False, self.name, reason, retryable=True)

        future: asyncio.Future[bool] = loop.create_future()
        if info.mid in self._published_early:
            self._published_early.discard(info.mid)
            future.set_result(True)
        else:
            self._pending[info.mid] = future
        try:
            await asyncio.wait_for(future, self.settings.publish_timeout_s)
        except TimeoutError:
            self._pending.pop(info.mid, None)
            reason = (
                f"broker did not acknowledge in {self.settings.publish_timeout_s} s"
            )
            log.warning("mqtt: %s to %s: %s", req.send_id, req.address, reason)
            return SendResult(req.send_id, False, self.name, reason, retryable=True)
        log.debug(
            "mqtt: %s published to %s (%d bytes)",
            req.send_id,
            req.address,
            len(payload),
        )
        return SendResult(req.send_id, True, self.name, f"published to {req.address}")

    # paho callbacks, on paho's network thread.

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        if rc.is_failure:
            log.warning("mqtt: connection refused: %s", rc)
            return
        client.subscribe(ACK_SUBSCRIPTION, qos=QOS)
        log.info(
            "mqtt: connected to %s:%d (session present: %s)",
            self.settings.host,
            self.settings.port,
            flags.session_present,
        )
        self._call(self._connected.set)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        self._call(self._connected.clear)
        if rc != 0:
            log.warning("mqtt: disconnected: %s (paho reconnects)", rc)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any = None
    ) -> None:
        self._call(self._published, mid)

    def _on_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        self._call(self._acknowledged, message.topic, message.payload)

    def _call(self, callback: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    # The same, on the event loop.

    def _published(self, mid: int) -> None:
        future = self._pending.pop(mid, None)
        if future is None:
            self._published_early.add(mid)
        elif not future.done():
            future.set_result(True)

    def _acknowledged(self, topic: str, payload: bytes) -> None:
        try:
            ack = json.loads(payload.decode("utf-8"))
            send_id = str(ack["send_id"])
            states: dict[str, ReceiptState] = {"played": "played", "failed": "failed"}
            state = states.get(ack.get("state"), "unknown")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("mqtt: unreadable acknowledgement on %s: %s", topic, exc)
            return
        self.acks += 1
        detail = f"{ack.get('loudspeaker_id', topic)} at {ack.get('at', '?')}"
        if ack.get("detail"):
            detail += f": {ack['detail']}"
        self.receipts.put_nowait(
            Receipt(send_id, state, self._clock(), self.name, detail)
        )


class SimulatedLoudspeaker:
    """A loudspeaker stand-in: takes commands, "plays" them, acknowledges.

    Playing waits the audio duration times ``play_speed`` (0.01 plays a
    10-second announcement in 0.1 s). It keeps a persistent session under
    its own client id, so commands sent while it is stopped reach it when
    it starts again.
    """

    def __init__(
        self,
        loudspeaker_id: str,
        topic: str,
        settings: MqttSettings,
        *,
        play_speed: float = 0.01,
    ) -> None:
        self.loudspeaker_id = loudspeaker_id
        self.topic = topic
        self.settings = settings
        self.play_speed = play_speed
        self.played: list[str] = []
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None

    def start(self) -> None:
        """Connect (resuming the session) and listen; returns once subscribed."""
        client = make_client(self.settings, f"ls-{self.loudspeaker_id}")
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self._client = client
        connect(client, self.settings)
        client.loop_start()
        if not self._connected.wait(self.settings.publish_timeout_s):
            raise TimeoutError(f"loudspeaker {self.loudspeaker_id} could not connect")

    def stop(self) -> None:
        """Go offline; the broker keeps the session and queues commands."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
            self._connected.clear()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None
    ) -> None:
        client.subscribe(self.topic, qos=QOS)
        self._connected.set()

    def _on_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        command = json.loads(message.payload.decode("utf-8"))
        duration = float((command.get("audio") or {}).get("duration_s", 1.0))
        timer = threading.Timer(
            duration * self.play_speed, self._ack, (client, command)
        )
        timer.daemon = True
        timer.start()

    def _ack(self, client: mqtt.Client, command: dict[str, Any]) -> None:
        self.played.append(str(command["send_id"]))
        ack = {
            "schema": "ls_ack/1",
            "send_id": command["send_id"],
            "loudspeaker_id": self.loudspeaker_id,
            "state": "played",
            "at": datetime.now(UTC).isoformat(),
            "detail": "exercise" if command.get("exercise") else "",
        }
        client.publish(ack_topic(self.topic), json.dumps(ack), qos=QOS)
