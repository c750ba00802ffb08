"""The plan's targets on the bundled real data, through the offline scorer.

Zhaoqing's emergency plan asks for rainstorm warnings that verify at 80 %
or more, warnings at least 20 minutes ahead, and every flood crossing at a
main-river control section warned. These tests replay the real feeds
(BoM Brisbane 2020-10-31 over Zhaoqing, the Miho Bridge gauge of July 2023,
and the two quiet radar cases) and hold the verified figures to those
targets. The scores are computed by :mod:`models.verification`, whose
definitions are tested against hand-made and textbook tables in
``test_verification.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.verify import verify_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "data" / "scenarios"


@pytest.fixture(scope="module")
def exercise():
    return verify_scenario(SCENARIOS / "zhaoqing-exercise").summary()


def test_rainstorm_warnings_verify_and_come_ahead(exercise):
    rain = exercise["rainstorm"]
    assert rain["issued"] > 0 and rain["hits"] + rain["missed"] > 0
    assert rain["accuracy"] >= 0.80
    assert rain["pod"] >= 0.80
    assert rain["mean_lead_min"] >= 20.0


def test_some_warnings_come_from_the_nowcast(exercise):
    # a lead time above zero can only come from the forecast branch: the
    # observed branch warns in the frame the criterion is met
    leads = [
        x
        for colour in exercise["rainstorm"]["by_colour"].values()
        for x in [colour["share_lead_ge_20"]]
        if x is not None
    ]
    assert max(leads) > 0.0


def test_every_miho_crossing_is_warned_at_least_an_hour_ahead(exercise):
    flood = exercise["flood"]
    assert flood["crossings"] == 4
    assert flood["issuance_rate"] == 1.0
    assert flood["min_lead_min"] >= 60.0


@pytest.mark.parametrize("name", ["quiet-melbourne", "quiet-knmi"])
def test_quiet_cases_issue_no_rainstorm_warning(name):
    rain = verify_scenario(SCENARIOS / name).summary()["rainstorm"]
    assert rain["issued"] == 0
    assert rain["hits"] == rain["missed"] == 0
