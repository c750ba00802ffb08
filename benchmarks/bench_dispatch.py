"""SMS throughput through Kannel: the dispatcher against a bare sendsms loop.

    python benchmarks/bench_dispatch.py [--bare 3000] [--recipients 20000]
                                        [--json var/bench/bench_dispatch.json]

In one run, on one Kannel (bearerbox, smsbox and fakesmsc on loopback, as
the integration tests start them):

1. a bare loop: ``--bare`` GET requests on ``/cgi-bin/sendsms`` with the
   same Chinese text, ``--concurrency`` at a time, no delivery reports;
2. the dispatcher: a worker process on a Kafka broker (the one at
   ``--bootstrap`` if it answers, else a local one started for the run)
   with the Kannel route, taking one CAP alert for a synthetic town of
   50,000 persons: 25 villages of 2,000, a loudspeaker in each covering 85 %
   (dry run), and ``--recipients`` SMS recipients, each standing for
   50,000 / recipients persons. SMS must reach 95 % of the town by
   themselves, the loudspeakers leaving 15 % out of earshot.

Rates are SMS (messages, not parts) per second as fakesmsc receives them,
from the first to the last, watched every 0.1 s while the messages go out.
It prints figures and writes them as JSON; it passes or fails nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.broker import LocalBroker, answers_metadata  # noqa: E402
from tests.integration.conftest import (  # noqa: E402
    FAKESMSC,
    KANNEL_CONF,
    KannelRig,
    free_ports,
    wait_for_port,
)
from tests.integration.test_dispatch_rig import DispatchRun  # noqa: E402
from tests.unit.test_dispatch_support import (  # noqa: E402
    TOWN_A,
    alert_of,
    event,
    settings_for,
    write_inventory,
)

TOWN_PEOPLE = 50_000
VILLAGES = 25


@contextlib.contextmanager
def kannel(home: Path) -> Iterator[KannelRig]:
    """bearerbox + fakesmsc + smsbox on free loopback ports."""
    admin, box, fake, sendsms = free_ports(4)
    rig = KannelRig(home=home, admin_port=admin, sendsms_port=sendsms)
    conf = home / "kannel.conf"
    conf.write_text(
        KANNEL_CONF.format(
            admin=admin,
            admin_password=rig.admin_password,
            box=box,
            fake=fake,
            sendsms=sendsms,
            home=home,
            user=rig.username,
            password=rig.password,
        )
    )

    def run(name: str, *args: str) -> subprocess.Popen[bytes]:
        out = (home / f"{name}.out").open("wb")
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        rig.processes.append(proc)
        return proc

    try:
        bearerbox = run("bearerbox", "bearerbox", str(conf))
        wait_for_port(fake, bearerbox, home / "bearerbox.log")
        wait_for_port(box, bearerbox, home / "bearerbox.log")
        run(
            "fakesmsc",
            str(FAKESMSC),
            "-H",
            "127.0.0.1",
            "-r",
            str(fake),
            "-i",
            "1",
            "-m",
            "0",
            "x y text z",
        )
        smsbox = run("smsbox", "smsbox", str(conf))
        wait_for_port(sendsms, smsbox, home / "smsbox.log")
        rig.wait_ready()
        yield rig
    finally:
        rig.stop()


def received(rig: KannelRig) -> int:
    """Messages fakesmsc got so far (the parts of a long text count once)."""
    out = rig.home / "fakesmsc.out"
    if not out.exists():
        return 0
    return sum(
        1
        for m in rig.delivered()
        if len(m.udh) < 6 or m.udh[5] == 1  # a whole text, or its first part
    )


def watch(
    rig: KannelRig, start: int, want: int, timeout_s: float
) -> tuple[float, float]:
    """Poll fakesmsc until ``want`` more messages came; (first, last) times."""
    first = last = None
    seen = start
    deadline = time.monotonic() + timeout_s
    while seen < start + want and time.monotonic() < deadline:
        now_seen = received(rig)
        now = time.monotonic()
        if now_seen > seen:
            first = first or now
            last = now
            seen = now_seen
        time.sleep(0.1)
    if first is None or last is None:
        raise RuntimeError(f"fakesmsc got {seen - start} of {want} messages")
    return first, last


async def bare_loop(rig: KannelRig, count: int, concurrency: int, text: str) -> float:
    """Send ``count`` SMS straight to sendsms; return seconds until all answered."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    base = {
        "username": rig.username,
        "password": rig.password,
        "from": "12379",
        "text": text,
        "charset": "UTF-8",
        "coding": "2",
    }

    async def worker(client: aiohttp.ClientSession) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            params = dict(base, to=f"+9993{n:010d}")
            async with client.get(rig.sendsms_url, params=params) as response:
                if response.status != 202:
                    raise RuntimeError(f"sendsms answered {response.status}")

    started = time.monotonic()
    async with aiohttp.ClientSession() as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return time.monotonic() - started


def town_inventory(folder: Path, recipients: int) -> Path:
    per_village = TOWN_PEOPLE // VILLAGES
    villages = [
        (f"T{v:02d}", TOWN_A, per_village, 112.441 + v / 500, 23.15)
        for v in range(VILLAGES)
    ]
    people = [
        (f"P{n:06d}", f"+9994{n:010d}", TOWN_A, f"T{n % VILLAGES:02d}", False)
        for n in range(recipients)
    ]
    speakers = [
        (f"LT{v:02d}", f"T{v:02d}", TOWN_A, int(0.85 * per_village))
        for v in range(VILLAGES)
    ]
    return write_inventory(folder, villages, people, speakers)


def bootstrap_for(
    args: argparse.Namespace, home: Path
) -> tuple[str, LocalBroker | None]:
    try:
        answers_metadata(args.bootstrap, timeout_s=2.0)
        return args.bootstrap, None
    except Exception:  # nothing answers there: start a broker for the run
        port, controller = free_ports(2)
        broker = LocalBroker(home / "kafka", port=port, controller_port=controller)
        broker.start()
        return broker.bootstrap, broker


def dispatcher_run(bootstrap: str, home: Path, rig: KannelRig, args) -> DispatchRun:
    """A dispatcher worker on the Kannel route for the synthetic town."""
    secret = home / "kannel.password"
    secret.write_text(rig.password)
    settings = settings_for(
        town_inventory(home / "inv", args.recipients),
        home / "journal",
        dispatch_sms_gateway="kannel",
        dispatch_people_per_recipient=TOWN_PEOPLE / args.recipients,
        dispatch_concurrency=args.concurrency,
        dispatch_wave_wait_s=120.0,
        dispatch_tick_s=1.0,
        kannel_sendsms_url=rig.sendsms_url,
        kannel_username=rig.username,
        kannel_password_file=str(secret),
        kannel_rate_per_s=100_000.0,
        kannel_dlr_port=free_ports(1)[0],
    )
    return DispatchRun(bootstrap, home / "worker", settings)


def measure(rig: KannelRig, bootstrap: str, home: Path, args) -> dict[str, object]:
    results: dict[str, object] = {
        "recipients": args.recipients,
        "town_people": TOWN_PEOPLE,
        "concurrency": args.concurrency,
    }
    record = alert_of(event([TOWN_A]))
    text = run_text(record)

    with ThreadPoolExecutor(1) as pool:  # watch fakesmsc while the loop sends
        arrivals = pool.submit(watch, rig, 0, args.bare, 600)
        answered_s = asyncio.run(bare_loop(rig, args.bare, args.concurrency, text))
        first, last = arrivals.result()
    bare_rate = args.bare / max(last - first, 0.1)
    results["bare"] = {
        "sms": args.bare,
        "answered_s": round(answered_s, 2),
        "sms_per_s": round(bare_rate, 1),
    }
    print(
        f"bare sendsms loop: {args.bare} SMS, {bare_rate:.0f} SMS/s at fakesmsc "
        f"({answered_s:.1f} s until all answered)",
        flush=True,
    )

    run = dispatcher_run(bootstrap, home, rig, args)
    before = received(rig)
    run.start()
    try:
        published = time.monotonic()
        run.publish(record)
        first, last = watch(rig, before, args.recipients, 1800)
        ident = record["identifier"]
        snap = run.wait_closed(ident, timeout_s=600)[ident]
    finally:
        run.stop()
    rate = args.recipients / max(last - first, 0.1)
    to95 = snap["seconds_to_target"]
    results["dispatcher"] = {
        "sms": args.recipients,
        "sms_per_s": round(rate, 1),
        "first_sms_after_s": round(first - published, 2),
        "seconds_to_95": to95,
        "coverage": snap["coverage"],
        "outcome": snap["outcome"],
        "waves": snap["wave"],
    }
    results["ratio_dispatcher_to_bare"] = round(rate / bare_rate, 3)
    print(
        f"dispatcher via Kannel: {args.recipients} SMS, {rate:.0f} SMS/s at "
        f"fakesmsc; first SMS {first - published:.1f} s after the alert"
    )
    print(f"ratio dispatcher / bare: {rate / bare_rate:.2f}", flush=True)
    when = "-" if to95 is None else f"{to95:.1f} s"
    print(
        f"50,000-person town: {snap['coverage']:.1%} reached ({snap['outcome']}), "
        f"95 % after {when}"
    )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare", type=int, default=3000, help="SMS of the bare loop")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument(
        "--json", type=Path, default=REPO / "var/bench/bench_dispatch.json"
    )
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    (home / "kannel").mkdir()
    bootstrap, broker = bootstrap_for(args, home)
    try:
        with kannel(home / "kannel") as rig:
            results = measure(rig, bootstrap, home, args)
    finally:
        if broker is not None:
            broker.stop()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {args.json}")
    return 0


def run_text(record: dict) -> str:
    """The SMS text the dispatcher sends for ``record`` (for the bare loop)."""
    from connectors.cap_reader import read_alert  # noqa: PLC0415
    from pipeline.dispatch.records import alert_texts  # noqa: PLC0415

    return alert_texts(read_alert(record["xml"].encode()))["zh-CN"]


if __name__ == "__main__":
    raise SystemExit(main())
