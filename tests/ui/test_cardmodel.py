"""The card's rules, without Qt: FAIL is the unit, ERROR the station; a result stays until cleared."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from station.ui.cardmodel import CardState, SlotView, elapsed_text, operator_reason, step_title


def ev(kind: str, **kw: Any) -> Any:
    base: dict[str, Any] = {"slot": "1", "device_id": None, "step": None, "fraction": None, "outcome": None,
                            "message": "", "data": {}}
    base.update(kw)
    return SimpleNamespace(kind=kind, **base)


def run_to(view: SlotView, *steps: str) -> None:
    for s in steps:
        view.apply(ev("step_started", step=s))
        view.apply(ev("step_finished", step=s, outcome="passed"))


def test_a_run_goes_running_then_pass_and_stays_until_the_next_unit() -> None:
    v = SlotView("1")
    v.set_plan([("connect", "Connecting"), ("flash", "Writing firmware")])
    v.apply(ev("step_started", step="connect"))
    assert v.state is CardState.RUNNING and v.headline == "Connecting"
    v.apply(ev("attempt_started", device_id="e00fce68a1b2c3d4e5f60718", data={"platform": "boron"}))
    run_to(v, "connect", "flash")
    v.apply(ev("attempt_finished", outcome="passed"))
    assert v.state is CardState.PASS and v.device_id == "e00fce68a1b2c3d4e5f60718"
    assert [c.state for c in v.chips] == ["passed", "passed"]
    v.apply(ev("log", message="anything"))  # nothing but a new unit clears a result
    assert v.state is CardState.PASS
    v.clear()
    assert v.state is CardState.WAITING and v.device_id is None and [c.state for c in v.chips] == ["pending"] * 2


def test_fail_names_the_step_in_operator_words() -> None:
    v = SlotView("2")
    run_to(v, "connect")
    v.apply(ev("step_started", step="verify"))
    v.apply(ev("step_finished", step="verify", outcome="failed"))
    v.apply(ev("attempt_finished", outcome="failed", step="verify", message="flash differs at 0xb4010"))
    assert v.state is CardState.FAIL
    assert v.headline == "Failed at: Checking firmware"
    assert v.reason == "flash differs at 0xb4010"


def test_a_station_fault_is_error_not_fail() -> None:
    v = SlotView("3")
    v.apply(ev("step_started", step="flash"))
    v.apply(ev("attempt_finished", outcome="failed", step="flash", message="registry unreachable",
               data={"station_fault": True}))
    assert v.state is CardState.ERROR
    assert v.headline == "Fault: call an engineer"
    assert v.card_reason() == "While writing firmware — registry unreachable"  # where it stopped
    assert v.chips[-1].state == "failed"


def test_a_unit_that_left_is_fail_and_a_lost_probe_is_error_in_words() -> None:
    v = SlotView("4")
    v.apply(ev("step_started", step="flash"))
    v.apply(ev("attempt_finished", outcome="failed", step="flash",
               message="the unit was unplugged or taken out during flash (programming: the unit stopped answering "
                       "over SWD; its probe is still there (SWD/JTAG communication failure (No ACK)))",
               data={"station_fault": False, "fault": "device-gone"}))
    assert v.state is CardState.FAIL
    assert v.headline == "Removed at: Writing firmware"
    assert operator_reason(v.reason) == "the unit was unplugged or taken out during flash"
    v.apply(ev("attempt_finished", outcome="error", step="flash",
               message="programming: the debug probe disconnected (probe SIM9C0C: target slot07 is not connected)",
               data={"station_fault": True, "fault": "probe-gone"}))
    assert v.state is CardState.ERROR
    # as short as a FAIL's headline, so it is drawn as large; the step goes on the line under it
    assert v.headline == "Probe lost: call engineer"
    assert v.card_reason() == "While writing firmware — programming: the debug probe disconnected"
    assert "Probe lost: call engineer. While writing firmware" in v.accessible_name()
    v.apply(ev("attempt_finished", outcome="error", step="register", message="registry unavailable: …",
               data={"station_fault": True, "fault": "registry-unavailable"}))
    assert v.headline == "No registry: call engineer"
    assert v.card_reason().startswith("While registering — ")


def test_the_card_shows_the_reason_without_its_technical_tail() -> None:
    full = "erasing: the debug probe disconnected (probe SIMD917: target slot04 is not connected)"
    assert operator_reason(full) == "erasing: the debug probe disconnected"
    assert operator_reason("battery: 3.10 V is below the minimum 3.50 V") == "battery: 3.10 V is below the minimum 3.50 V"
    assert operator_reason("led: answered no (expected yes) on the status LED") == \
        "led: answered no (expected yes) on the status LED"  # a bracket mid-sentence stays


def test_the_card_reason_does_not_repeat_the_tests_technical_name() -> None:
    """"Failed at: Battery voltage" is the headline; the line under it is not "battery: 3.10 V …"."""
    v = SlotView("3")
    v.apply(ev("attempt_started", data={"tests": [{"name": "battery", "title": "Battery voltage"}]}))
    v.apply(ev("step_started", step="functional-tests"))
    v.apply(ev("attempt_finished", outcome="failed", step="battery",
               message="battery: 3.10 V is below the minimum 3.50 V"))
    assert v.headline == "Failed at: Battery voltage"
    assert v.card_reason() == "3.10 V is below the minimum 3.50 V"
    assert v.reason == "battery: 3.10 V is below the minimum 3.50 V"  # the full text is kept
    # a prefix that is not the failing step's name is the sentence's own and stays
    v.apply(ev("attempt_finished", outcome="failed", step="verify", message="battery: odd"))
    assert v.card_reason() == "battery: odd"
    v.apply(ev("attempt_finished", outcome="passed"))
    assert v.card_reason() == ""


def test_progress_never_goes_backwards_within_a_step_and_ignores_other_steps() -> None:
    v = SlotView("1")
    v.apply(ev("step_started", step="flash"))
    v.apply(ev("step_progress", step="flash", fraction=0.4))
    v.apply(ev("step_progress", step="flash", fraction=0.2))
    v.apply(ev("step_progress", step="verify", fraction=0.9))
    assert v.step_fraction == 0.4
    v.apply(ev("step_started", step="verify"))
    assert v.step_fraction is None


def test_cancel_and_skip_are_their_own_states() -> None:
    v = SlotView("1")
    v.apply(ev("step_started", step="flash"))
    v.apply(ev("attempt_finished", outcome="cancelled", step="flash", message="cancelled by the operator"))
    assert v.state is CardState.STOPPED and v.chips[0].state == "cancelled"
    v.apply(ev("attempt_finished", outcome="skipped"))
    assert v.state is CardState.DONE_BEFORE


def test_accessible_name_says_slot_state_and_why() -> None:
    v = SlotView("4", title="Slot 4")
    v.apply(ev("attempt_finished", outcome="failed", step="flash", message="x"))
    assert v.accessible_name() == "Slot 4. FAIL. Failed at: Writing firmware. x"


def test_words() -> None:
    assert elapsed_text(0) == "0:00" and elapsed_text(75.9) == "1:15" and elapsed_text(3723) == "1:02:03"
    assert step_title("some-new_step") == "Some new step"
    assert step_title("flash", {"flash": "Programming"}) == "Programming"


def test_every_step_of_the_catalogue_has_operator_words() -> None:
    # A step added to the core without a title shows its raw name on the card ("Enable boot final").
    from station.pipeline.steps import CATALOGUE
    from station.ui.cardmodel import STEP_TITLES

    assert [s.name for s in CATALOGUE if s.name not in STEP_TITLES] == []


def test_a_functional_test_is_named_by_its_profile_title_while_running_and_when_it_fails() -> None:
    v = SlotView("3")
    v.apply(ev("attempt_started", data={"platform": "boron", "tests": [
        {"name": "battery", "title": "Battery voltage"}, {"name": "led", "title": "Status LED is green"}]}))
    run_to(v, "connect")
    v.apply(ev("step_started", step="functional-tests"))
    v.apply(ev("test_step", step="battery", data={"status": "started", "title": "Battery voltage"}))
    assert v.headline == "Testing: Battery voltage"
    v.apply(ev("attempt_finished", outcome="failed", step="battery", message="2.71 V is below 3.5 V"))
    assert v.state is CardState.FAIL and v.headline == "Failed at: Battery voltage"
    assert v.failing_step == "battery"  # the name stays what the core and --answer use
