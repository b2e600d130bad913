"""A register word is a bit pattern, not a quantity: the lot report never averages it (issue 15 item 13)."""

from __future__ import annotations

from pathlib import Path

from ftest_fakes import DEVICE_ID, FakeSwd

from station.domain import NRF_UICR_APPROTECT
from station.ftest.runner import TestContext, run_plan
from station.profile.load import load_profile
from station.profile.plan import TestPlan, TestStep

DEMO = Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


def test_a_memory_check_records_its_word_as_text_only() -> None:
    profile = load_profile(DEMO)
    step = TestStep(name="approtect-open", kind="memory", address=NRF_UICR_APPROTECT, mask=0xFF,
                    expect_words=(0xFF, 0x5A))
    ctx = TestContext(device_id=DEVICE_ID, platform=profile.platform, profile=profile,
                      swd=FakeSwd(words={NRF_UICR_APPROTECT: 0xFFFFFFFF}))  # type: ignore[arg-type]
    seen: list = []
    result = run_plan(TestPlan((step,)), ctx, on_measurement=seen.append)
    assert result.passed
    (m,) = seen
    assert m.value is None, "a register value would be averaged as a statistic in the lot report"
    assert m.text == "0xffffffff" and m.expected == "0xff or 0x5a"
