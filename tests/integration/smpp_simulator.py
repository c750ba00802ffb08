"""An SMSC on loopback for the SMPP tests, built on smpp34's server.

Run as a program (the ``smpp_simulator`` fixture does)::

    python smpp_simulator.py --port PORT --events FILE [--drop-on SUFFIX]
                             [--answer-delay SECONDS]

It accepts any bind and answers each ``submit_sm`` by the last digit of the
destination address, so a test picks the SMSC's behaviour by the number it
sends to:

=====  ==========================================================
digit  answer
=====  ==========================================================
9      ``ESME_RINVDSTADR`` (invalid destination, permanent)
8      ``ESME_RTHROTTLED`` for the first two submits to that number,
       then accepted
7      accepted, then a receipt ``stat:UNDELIV``
6      accepted, then a receipt ``stat:EXPIRED``
other  accepted, then a receipt ``stat:DELIVRD``
=====  ==========================================================

Receipts are ``deliver_sm`` with ``esm_class=0x04`` and the usual text
(``id:... stat:... err:...``), one per accepted part. A destination that ends
with ``--drop-on`` makes the process exit without answering: every link
drops with that submit outstanding. ``--answer-delay`` holds every answer
back, so submits pile up as the ESME's window allows. Each bind, submit and
answer is appended to ``--events`` as a JSON line, with the wall-clock time
and the number of submits still unanswered when it arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import smpp34

RECEIPT = (
    "id:{mid} sub:001 dlvrd:{dlvrd} submit date:2612031200 done date:2612031200 "
    "stat:{stat} err:{err} text:"
)


def record(path: Path, **event: object) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(event) + "\n")


async def serve(port: int, events: Path, drop_on: str, delay_s: float) -> None:
    server = smpp34.Server(host="127.0.0.1", port=port, system_id="EWSSIM")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    sessions: dict[str, smpp34.Esme] = {}
    throttled: Counter[str] = Counter()
    count = 0
    unanswered = 0
    tasks: set[asyncio.Task[None]] = set()

    async def answer(ev: smpp34.SubmitSmEvent, number: int) -> None:
        nonlocal unanswered
        dest = ev.destination_addr
        submit = {
            "event": "submit",
            "t": time.time(),
            "unanswered": unanswered,
            "destination": dest,
            "data_coding": ev.data_coding,
            "esm_class": ev.esm_class,
            "registered_delivery": ev.registered_delivery,
            "short_message": ev.short_message.hex(),
        }
        if drop_on and dest.endswith(drop_on):
            record(events, **submit, status="dropped")
            os._exit(3)
        if delay_s:
            await asyncio.sleep(delay_s)
        unanswered -= 1
        if dest.endswith("9"):
            ev.reject(smpp34.ESME_RINVDSTADR)
            record(events, **submit, status="ESME_RINVDSTADR")
            return
        if dest.endswith("8") and throttled[dest] < 2:
            throttled[dest] += 1
            ev.reject(smpp34.ESME_RTHROTTLED)
            record(events, **submit, status="ESME_RTHROTTLED")
            return

        mid = f"sim{os.getpid()}-{number}"
        ev.accept(mid)
        record(events, **submit, status="ESME_ROK", message_id=mid)
        stat, err, dlvrd = "DELIVRD", "000", "001"
        if dest.endswith("7"):
            stat, err, dlvrd = "UNDELIV", "001", "000"
        elif dest.endswith("6"):
            stat, err, dlvrd = "EXPIRED", "000", "000"
        esme = sessions.get(ev.session_id)
        if esme is not None and esme.can_receive:
            text = RECEIPT.format(mid=mid, stat=stat, err=err, dlvrd=dlvrd)
            await esme.deliver_sm(
                source_addr=dest,
                destination_addr=ev.source_addr,
                esm_class=0x04,
                short_message=text.encode("ascii"),
            )

    async def dispatch() -> None:
        nonlocal count, unanswered
        while True:
            ev = await server.next()
            if isinstance(ev, smpp34.Esme):
                sessions[ev.session_id] = ev
                record(events, event="bind", t=time.time(), system_id=ev.system_id)
            elif isinstance(ev, smpp34.SubmitSmEvent):
                count += 1
                unanswered += 1
                task = asyncio.create_task(answer(ev, count))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            else:
                record(events, event="unbound", t=time.time())

    task = asyncio.create_task(dispatch())
    await stop.wait()
    task.cancel()
    # Leave without stopping the native server: the sockets close with the
    # process, and the native teardown is where smpp34 has been seen to crash.
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--drop-on", default="")
    parser.add_argument("--answer-delay", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.events, args.drop_on, args.answer_delay))


if __name__ == "__main__":
    main()
