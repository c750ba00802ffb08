"""Real dissemination servers on loopback: Kannel, mosquitto, an SMPP simulator.

Each fixture writes its configuration into a temporary folder, starts the
real program on free 127.0.0.1 ports, waits until its ports answer, and
stops it at the end:

- ``kannel``: bearerbox with a ``fake`` SMSC, Kannel's ``fakesmsc`` test
  client as the handset side, and smsbox with a sendsms user. What fakesmsc
  prints of each message (``Got message N: <from to type [udh] data>``) is
  parsed by :meth:`KannelRig.delivered`.
- ``mosquitto``: a broker with anonymous access and no persistence file.
- ``smpp_simulator``: ``smpp_simulator.py`` (smpp34's SMSC) in a child
  process, so the link can be dropped by stopping the process and a fault
  in the native code cannot take the test run down.

``HANG_GUARD_S`` bounds every wait for a server or a receipt. It is no
measure of speed: it turns a receipt that never comes into a failure
instead of a run that never ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from connectors.gateway import Receipt

HANG_GUARD_S = 60.0
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
SIMULATOR = Path(__file__).with_name("smpp_simulator.py")
MESSAGE_RE = re.compile(r"Got message \d+: <(.*)>\s*$")


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free loopback ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = find_free_port()
        if port not in ports:
            ports.append(port)
    return ports


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until 127.0.0.1:port accepts connections; fail if ``proc`` exits."""
    deadline = time.monotonic() + HANG_GUARD_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}:\n{tail}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {HANG_GUARD_S} s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process does not go."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class FakeSmscMessage:
    """One message as fakesmsc printed it; ``data`` holds the decoded octets.

    ``kind`` is ``text`` (GSM, printed as is), ``ucs-2`` (one UCS-2 SMS) or
    ``data`` (a part of a concatenated message, with its ``udh``).
    """

    sender: str
    receiver: str
    kind: str
    udh: bytes
    data: bytes

    def text(self) -> str:
        """The text: UCS-2 (UTF-16 BE) for binary messages, as printed for text."""
        if self.kind == "text":
            return self.data.decode("latin-1")
        return self.data.decode("utf-16-be")


def parse_fakesmsc_line(line: str) -> FakeSmscMessage | None:
    """Parse one ``Got message`` line of fakesmsc's output."""
    match = MESSAGE_RE.search(line)
    if not match:
        return None
    sender, receiver, kind, rest = match.group(1).split(" ", 3)
    udh = b""
    if kind.startswith("udh"):
        udh_field, kind, rest = rest.split(" ", 2)
        udh = urllib.parse.unquote_to_bytes(udh_field.replace("+", "%20"))
    if kind == "text":
        return FakeSmscMessage(sender, receiver, kind, udh, rest.encode("latin-1"))
    # fakesmsc URL-encodes binary data with "+" for the octet 0x20.
    data = urllib.parse.unquote_to_bytes(rest.replace("+", "%20"))
    return FakeSmscMessage(sender, receiver, kind, udh, data)


@dataclass
class KannelRig:
    """A running bearerbox + fakesmsc + smsbox."""

    home: Path
    admin_port: int
    sendsms_port: int
    username: str = "ews"
    password: str = "kannel-test-secret"
    admin_password: str = "kannel-admin-secret"
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def delivered(self) -> list[FakeSmscMessage]:
        """Every message fakesmsc has received so far."""
        lines = (self.home / "fakesmsc.out").read_text(errors="replace").splitlines()
        return [m for m in map(parse_fakesmsc_line, lines) if m is not None]

    def status(self) -> str:
        """bearerbox's status page (boxes and SMSC connections)."""
        url = (
            f"http://127.0.0.1:{self.admin_port}/status.txt"
            f"?password={self.admin_password}"
        )
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode("utf-8", "replace"))

    def wait_ready(self) -> None:
        """Wait until the fake SMSC is online and smsbox is connected."""
        deadline = time.monotonic() + HANG_GUARD_S
        while time.monotonic() < deadline:
            status = self.status()
            smsc = status.split("SMSC connections:", 1)[-1]
            if "(online" in smsc and "smsbox:" in status:
                return
            time.sleep(0.05)
        raise RuntimeError(f"Kannel not ready after {HANG_GUARD_S} s:\n{status}")

    def stop(self) -> None:
        url = (
            f"http://127.0.0.1:{self.admin_port}/shutdown"
            f"?password={self.admin_password}"
        )
        try:
            urllib.request.urlopen(url, timeout=5).read()
        except OSError:
            pass
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                stop_process(proc)


KANNEL_CONF = """\
group = core
admin-port = {admin}
admin-password = {admin_password}
admin-interface = 127.0.0.1
admin-allow-ip = 127.0.0.1
smsbox-port = {box}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
dlr-storage = internal
log-file = {home}/bearerbox.log
log-level = 1

group = smsc
smsc = fake
smsc-id = fake
port = {fake}
our-host = 127.0.0.1
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = {home}/smsbox.log
log-level = 1

group = sendsms-user
username = {user}
password = {password}
concatenation = true
max-messages = 10
"""


@pytest.fixture
def kannel(tmp_path: Path) -> Iterator[KannelRig]:
    """bearerbox, fakesmsc and smsbox on free loopback ports."""
    admin, box, fake, sendsms = free_ports(4)
    rig = KannelRig(home=tmp_path, admin_port=admin, sendsms_port=sendsms)
    conf = tmp_path / "kannel.conf"
    conf.write_text(
        KANNEL_CONF.format(
            admin=admin,
            admin_password=rig.admin_password,
            box=box,
            fake=fake,
            sendsms=sendsms,
            home=tmp_path,
            user=rig.username,
            password=rig.password,
        )
    )

    def run(name: str, *args: str) -> subprocess.Popen[bytes]:
        out = (tmp_path / f"{name}.out").open("wb")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        rig.processes.append(proc)
        return proc

    try:
        bearerbox = run("bearerbox", "bearerbox", str(conf))
        wait_for_port(fake, bearerbox, tmp_path / "bearerbox.log")
        wait_for_port(box, bearerbox, tmp_path / "bearerbox.log")
        run(
            "fakesmsc",
            str(FAKESMSC),
            *("-H", "127.0.0.1", "-r", str(fake), "-i", "1", "-m", "0"),
            "x y text z",
        )
        smsbox = run("smsbox", "smsbox", str(conf))
        wait_for_port(sendsms, smsbox, tmp_path / "smsbox.log")
        rig.wait_ready()
        yield rig
    finally:
        rig.stop()


@dataclass
class MosquittoRig:
    """A running mosquitto broker."""

    port: int
    proc: subprocess.Popen[bytes]


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoRig]:
    """mosquitto on a free loopback port, anonymous, no persistence file."""
    (port,) = free_ports(1)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"log_dest file {tmp_path}/mosquitto.log\nlog_type all\n"
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, tmp_path / "mosquitto.log")
        yield MosquittoRig(port, proc)
    finally:
        stop_process(proc)


@dataclass
class SmppSimulator:
    """smpp_simulator.py in a child process; restartable on the same port."""

    home: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def events_path(self) -> Path:
        return self.home / "smpp_events.jsonl"

    def start(self, *, drop_on: str = "", answer_delay_s: float = 0.0) -> None:
        """Start (or restart) the simulator (options as in smpp_simulator.py)."""
        self.runs += 1
        log = self.home / f"smpp_simulator.{self.runs}.log"
        args = [
            sys.executable,
            str(SIMULATOR),
            "--port",
            str(self.port),
            "--events",
            str(self.events_path),
        ]
        if drop_on:
            args += ["--drop-on", drop_on]
        if answer_delay_s:
            args += ["--answer-delay", str(answer_delay_s)]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ)
            )
        wait_for_port(self.port, self.proc, log)

    def wait_exit(self) -> int:
        """Wait until the simulator process ends by itself; return its code."""
        assert self.proc is not None
        code = self.proc.wait(timeout=HANG_GUARD_S)
        self.proc = None
        return code

    def stop(self) -> None:
        """Stop the simulator; every bound ESME loses its link."""
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def events(self, kind: str | None = None) -> list[dict[str, object]]:
        """What the simulator did so far (binds, submits and their answers)."""
        if not self.events_path.exists():
            return []
        rows = [
            json.loads(line)
            for line in self.events_path.read_text().splitlines()
            if line.strip()
        ]
        return [r for r in rows if kind is None or r.get("event") == kind]


@pytest.fixture
def smpp_simulator(tmp_path: Path) -> Iterator[SmppSimulator]:
    """The smpp34 SMSC simulator on a free loopback port."""
    (port,) = free_ports(1)
    sim = SmppSimulator(home=tmp_path, port=port)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


async def collect_receipts(
    queue: asyncio.Queue[Receipt], done: Callable[[list[Receipt]], bool]
) -> list[Receipt]:
    """Take receipts off ``queue`` until ``done(receipts so far)`` is true."""
    taken: list[Receipt] = []

    async def run() -> list[Receipt]:
        while not done(taken):
            taken.append(await queue.get())
        return taken

    return await asyncio.wait_for(run(), HANG_GUARD_S)


async def wait_for(predicate: Callable[[], bool], what: str) -> None:
    """Poll ``predicate`` from async code until it is true."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {HANG_GUARD_S} s")
        await asyncio.sleep(0.02)
