"""No full phone number in anything the demo writes, except the sends themselves.

The synthetic exercise inventory gives every recipient a fictitious number
in the reserved +999 range. The demo dispatches every alert to them (the
dry-run gateways stand in for the SMS centres); its console output, its
summary, the worker's log, the dispatch journals and every other file of
the run must show those numbers masked (``+99900*****0000``) or not at all.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from models.channels import load_inventory
from pipeline.demo import REPO, run_demo
from pipeline.settings import Settings

pytestmark = pytest.mark.integration

INVENTORY = REPO / "data" / "inventory" / "zhaoqing-exercise"
# +999 and eleven digits, with or without the plus (URL-encoded as %2B, say)
FULL_NUMBER = re.compile(rb"999\d{11}")


def test_the_demo_shows_no_full_phone_number(kafka_bootstrap: str, tmp_path: Path):
    phones = [r.phone for r in load_inventory(INVENTORY).recipients]
    assert phones and all(FULL_NUMBER.search(p.encode()) for p in phones)

    out = io.StringIO()
    summary = run_demo(
        base=Settings(bootstrap=kafka_bootstrap),
        home=tmp_path,
        summary_json=tmp_path / "summary.json",
        console=Console(file=out, width=200),
    )
    sent = summary.extra.get("dispatch") or []
    assert sent, "the demo dispatched nothing: the check below would prove nothing"

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".log") for p in written)
    leaks = []
    for blob, where in [(out.getvalue().encode(), "console")] + [
        (p.read_bytes(), str(p.relative_to(tmp_path))) for p in written
    ]:
        for match in FULL_NUMBER.finditer(blob):
            context = blob[max(0, match.start() - 40) : match.end() + 10]
            leaks.append(f"{where}: {context!r}")
    assert not leaks, leaks[:5]
