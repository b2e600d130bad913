"""The functional test runner against fake links: verdicts, reasons, retries, cancel, device loss."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from ftest_fakes import DEVICE_ID, ICCID, IMEI, FakeSerial, FakeSwd, FakeUsb, demo_flash

from station.domain import NRF_UICR_APPROTECT, PLATFORMS, ModuleStatus
from station.errors import DeviceGone, DeviceTimeout, TransportError
from station.ftest.runner import Measurement, run_plan
from station.ftest.runner import TestContext as Context
from station.hw.interfaces import TestReply as Reply
from station.profile.load import load_profile
from station.profile.model import Profile
from station.profile.plan import TestPlan as Plan
from station.profile.plan import TestStep as Step

PROFILES = Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles"


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(PROFILES / "demo-boron.toml")


def ctx_for(profile: Profile, **links: object) -> Context:
    return Context(device_id=DEVICE_ID, platform=profile.platform, profile=profile, **links)  # type: ignore[arg-type]


def plan(*steps: Step) -> Plan:
    return Plan(steps)


def serial_step(name: str = "battery", **kw: object) -> Step:
    defaults: dict[str, object] = {"kind": "serial", "cmd": name}
    return Step(name=name, **{**defaults, **kw})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the whole demo plan
def test_demo_plan_passes_on_a_healthy_device(profile: Profile) -> None:
    seen: list[Measurement] = []
    steps: list[tuple[str, str]] = []
    ctx = ctx_for(profile, serial=FakeSerial(), swd=FakeSwd(), ask_operator=lambda s, q, t: s == "led")
    result = run_plan(
        profile.tests, ctx, on_measurement=seen.append, on_step=lambda n, st: steps.append((n, st))
    )
    assert result.passed, result.reason
    assert result.failing_step is None and not result.cancelled
    assert seen == result.measurements
    assert [s for s, st in steps if st == "passed"] == [s.name for s in profile.tests]
    names = {(m.step, m.name) for m in seen}
    assert {
        ("cellular-ids", "imei"),
        ("cellular-ids", "iccid"),
        ("device-id", "swd"),
        ("device-id", "serial"),
    } <= names
    assert {
        ("versions", "device-os"),
        ("versions", "system-part1"),
        ("versions", "user-factory-test"),
    } <= names
    led = [c for c in ctx.serial.calls if c[0] == "led"]  # type: ignore[union-attr]
    assert led == [("led", 5.0, {"color": "green"})]


def test_demo_plan_fails_on_low_battery_with_a_clear_reason(profile: Profile) -> None:
    serial = FakeSerial({"battery": Reply(True, 2.71, "V")})
    result = run_plan(
        profile.tests, ctx_for(profile, serial=serial, swd=FakeSwd(), ask_operator=lambda *a: True)
    )
    assert not result.passed
    assert result.failing_step == "battery"
    assert result.reason == "battery: 2.71 V is below the minimum 3.50 V"
    battery = [m for m in result.measurements if m.step == "battery"]
    assert [m.try_number for m in battery] == [1, 2]  # retries = 1 in the demo profile
    assert (
        battery[0].value == 2.71
        and battery[0].low == 3.5
        and battery[0].high == 4.3
        and battery[0].unit == "V"
    )
    # the plan went on after a failure of a step without stop_on_fail
    assert {m.step for m in result.measurements} >= {"vin", "led"}


# --------------------------------------------------------------------------- serial verdicts
@pytest.mark.parametrize(
    ("reply", "step_kw", "reason"),
    [
        (
            Reply(True, 4.5, "V"),
            {"low": 3.5, "high": 4.3, "unit": "V"},
            "battery: 4.50 V is above the maximum 4.30 V",
        ),
        (
            Reply(True, 3900, "mV"),
            {"low": 3.5, "unit": "V"},
            "battery: the device answered in mV, the limits are in V",
        ),
        (Reply(True, "high"), {"low": 3.5}, "battery: expected a number, got 'high'"),
        (Reply(False, error="adc_fault"), {"low": 3.5}, "battery: the device reported an error: adc_fault"),
        (Reply(True, "ERROR"), {"expect": "OK"}, "battery: expected 'OK', got 'ERROR'"),
        (Reply(True, True), {"expect": False}, "battery: expected false, got 'true'"),
        (Reply(True, "12ab"), {"match": r"^\d+$"}, "battery: '12ab' does not match '^\\\\d+$'"),
    ],
)
def test_serial_step_failures(profile: Profile, reply: Reply, step_kw: dict, reason: str) -> None:
    step = serial_step(**step_kw)
    result = run_plan(plan(step), ctx_for(profile, serial=FakeSerial({"battery": reply})))
    assert not result.passed and result.reason == reason
    assert result.measurements[0].reason == reason


@pytest.mark.parametrize(
    ("reply", "step_kw"),
    [
        (Reply(True, 3.5, "V"), {"low": 3.5, "high": 4.3, "unit": "V"}),  # limits are inclusive
        (Reply(True, 5), {"expect": 5.0}),
        (Reply(True, False), {"expect": False}),
        (Reply(True, "356938035643809"), {"match": r"^\d{15}$"}),
        (Reply(True, None), {}),  # no limit: an ok answer is the check
        (Reply(True, {"app": "factory-test"}), {"field": "app", "expect": "factory-test"}),
    ],
)
def test_serial_step_passes(profile: Profile, reply: Reply, step_kw: dict) -> None:
    result = run_plan(plan(serial_step(**step_kw)), ctx_for(profile, serial=FakeSerial({"battery": reply})))
    assert result.passed and result.measurements[0].passed and result.measurements[0].reason is None


def test_timeout_becomes_a_failed_measurement_and_is_retried(profile: Profile) -> None:
    serial = FakeSerial({"modem": [DeviceTimeout("x"), Reply(True, "OK")]})
    result = run_plan(
        plan(serial_step("modem", expect="OK", retries=2, timeout_s=5.0)), ctx_for(profile, serial=serial)
    )
    assert result.passed
    first, second = result.measurements
    assert (first.passed, first.try_number, first.reason) == (False, 1, "modem: no answer within 5.0 s")
    assert (second.passed, second.try_number) == (True, 2)
    assert [c[:2] for c in serial.calls] == [("modem", 5.0), ("modem", 5.0)]


def test_retries_are_bounded(profile: Profile) -> None:
    serial = FakeSerial({"modem": DeviceTimeout("x")})
    result = run_plan(plan(serial_step("modem", retries=2, timeout_s=1.5)), ctx_for(profile, serial=serial))
    assert not result.passed and len(result.measurements) == 3 and len(serial.calls) == 3
    assert result.reason == "modem: no answer within 1.5 s"


def test_transport_error_fails_the_step_with_its_message(profile: Profile) -> None:
    serial = FakeSerial({"vin": TransportError("garbled serial data b'\\x00'")})
    result = run_plan(plan(serial_step("vin")), ctx_for(profile, serial=serial))
    assert result.reason == "vin: garbled serial data b'\\x00'"


def test_device_gone_stops_the_plan(profile: Profile) -> None:
    serial = FakeSerial({"battery": DeviceGone("unplugged")})
    steps = plan(serial_step("battery", retries=3, required=False), serial_step("vin"))
    result = run_plan(steps, ctx_for(profile, serial=serial))
    assert not result.passed and result.failing_step == "battery"
    assert result.reason == "battery: the device disappeared (unplugged)"
    assert result.device_gone  # the run ends as the station's ERROR, not the unit's FAIL
    assert len(result.measurements) == 1 and [c[0] for c in serial.calls] == ["battery"]


def test_no_serial_port_is_a_failure_not_a_pass(profile: Profile) -> None:
    result = run_plan(plan(serial_step()), ctx_for(profile))
    assert result.reason == "battery: no serial port to the device"


# --------------------------------------------------------------------------- plan flow
def test_optional_step_failure_does_not_fail_the_device(profile: Profile) -> None:
    serial = FakeSerial({"temp": Reply(True, 95.0, "C")})
    steps = plan(serial_step("temp", high=85.0, required=False), serial_step("vin"))
    result = run_plan(steps, ctx_for(profile, serial=serial))
    assert result.passed and [m.passed for m in result.measurements] == [False, True]


def test_stop_on_fail_ends_the_plan_and_reports_the_first_required_failure(profile: Profile) -> None:
    serial = FakeSerial({"battery": Reply(True, 1.0, "V"), "hello": Reply(True, "product")})
    steps = plan(
        serial_step("battery", low=3.5, unit="V"),
        serial_step("hello", expect="factory-test", stop_on_fail=True),
        serial_step("vin"),
    )
    result = run_plan(steps, ctx_for(profile, serial=serial))
    assert not result.passed and result.failing_step == "battery"
    assert [c[0] for c in serial.calls] == ["battery", "hello"]


def test_cancel_between_steps(profile: Profile) -> None:
    cancel = threading.Event()
    serial = FakeSerial({"battery": lambda args: (cancel.set(), Reply(True, 3.9, "V"))[1]})
    steps = plan(serial_step("battery"), serial_step("vin"))
    result = run_plan(steps, ctx_for(profile, serial=serial, cancel=cancel))
    assert result.cancelled and not result.passed and result.failing_step == "vin"
    assert [c[0] for c in serial.calls] == ["battery"]


def test_cancel_between_retries(profile: Profile) -> None:
    cancel = threading.Event()

    def fail_and_cancel(args: dict) -> Reply:
        cancel.set()
        return Reply(True, 1.0, "V")

    serial = FakeSerial({"battery": fail_and_cancel})
    result = run_plan(plan(serial_step(low=3.5, retries=5)), ctx_for(profile, serial=serial, cancel=cancel))
    assert result.cancelled and len(serial.calls) == 1


# --------------------------------------------------------------------------- identity
ID_STEP = Step(name="device-id", kind="identity", check="device-id")


def test_device_id_needs_two_sources(profile: Profile) -> None:
    result = run_plan(plan(ID_STEP), ctx_for(profile, swd=FakeSwd()))
    assert not result.passed
    assert result.reason == (
        "device-id: only SWD can report the device ID here; the cross-check needs two of SWD, USB and serial"
    )


def test_device_id_mismatch_names_the_link(profile: Profile) -> None:
    other = "e00fce68ffffffff00000001"
    result = run_plan(plan(ID_STEP), ctx_for(profile, swd=FakeSwd(), usb=FakeUsb(device_id=other)))
    assert result.reason == f"device-id: USB reports {other}, expected {DEVICE_ID}"
    assert [(m.name, m.passed) for m in result.measurements] == [("swd", True), ("usb", False)]


def test_device_id_accepts_upper_case_from_a_link(profile: Profile) -> None:
    result = run_plan(plan(ID_STEP), ctx_for(profile, swd=FakeSwd(DEVICE_ID.upper()), serial=FakeSerial()))
    assert result.passed


VERSIONS = Step(name="versions", kind="identity", check="versions")


def test_versions_over_usb(profile: Profile) -> None:
    usb = FakeUsb(system="5.8.0", modules=[ModuleStatus(2, 0, 3100), ModuleStatus(4, 1, 6200, valid=False)])
    result = run_plan(plan(VERSIONS), ctx_for(profile, usb=usb))
    failed = {m.name: m.reason for m in result.measurements if not m.passed}
    assert failed == {
        "device-os": "versions: Device OS 5.8.0 is running, the profile needs 6.2.0",
        "softdevice": "versions: softdevice is not on the device (the profile needs v202)",
        "system-part1": "versions: system-part1 v6200 is on the device but not valid",
        "user-factory-test": "versions: user-factory-test is not on the device (the profile needs v6)",
    }


def test_versions_from_flash_over_swd_and_serial(profile: Profile) -> None:
    result = run_plan(plan(VERSIONS), ctx_for(profile, swd=FakeSwd(), serial=FakeSerial()))
    assert result.passed, result.reason
    flash = demo_flash()
    flash[0x30000] ^= 0xFF  # corrupt system-part1: its CRC no longer matches
    result = run_plan(plan(VERSIONS), ctx_for(profile, swd=FakeSwd(flash=flash), serial=FakeSerial()))
    assert result.reason == "versions: system-part1 v6200 is on the device but not valid"


def test_versions_without_links(profile: Profile) -> None:
    result = run_plan(plan(VERSIONS), ctx_for(profile))
    assert [m.name for m in result.measurements] == ["device-os", "modules"]
    assert not any(m.passed for m in result.measurements)


CELL = Step(name="cellular-ids", kind="identity", check="cellular")


@pytest.mark.parametrize(
    ("imei", "iccid", "reason"),
    [
        (IMEI, ICCID, None),
        ("35693803564380", ICCID, "cellular-ids: IMEI '35693803564380' is not 15 digits"),
        ("356938035643808", ICCID, "cellular-ids: IMEI 356938035643808 fails its Luhn check digit"),
        (IMEI, "8934076500000000001", "cellular-ids: ICCID 8934076500000000001 fails its Luhn check digit"),
    ],
)
def test_cellular_identity(profile: Profile, imei: str, iccid: str, reason: str | None) -> None:
    serial = FakeSerial({"imei": Reply(True, imei), "iccid": Reply(True, iccid)})
    result = run_plan(plan(CELL), ctx_for(profile, serial=serial))
    assert result.reason == reason and result.passed is (reason is None)


def test_cellular_check_is_not_applicable_on_wifi(profile: Profile) -> None:
    ctx = dataclasses.replace(ctx_for(profile, serial=FakeSerial()), platform=PLATFORMS["argon"])
    result = run_plan(plan(CELL), ctx)
    assert result.passed and result.measurements[0].text == "not applicable"
    assert ctx.serial.calls == []  # type: ignore[union-attr]


# --------------------------------------------------------------------------- memory and operator
AP = Step(
    name="approtect-open", kind="memory", address=NRF_UICR_APPROTECT, mask=0xFF, expect_words=(0xFF, 0x5A)
)


@pytest.mark.parametrize(("word", "passed"), [(0xFFFFFFFF, True), (0xFFFFFF5A, True), (0x00000000, False)])
def test_memory_check(profile: Profile, word: int, passed: bool) -> None:
    result = run_plan(plan(AP), ctx_for(profile, swd=FakeSwd(words={NRF_UICR_APPROTECT: word})))
    assert result.passed is passed
    if not passed:
        assert (
            result.reason == "approtect-open: 0x10001208 reads 0x00000000 (masked 0x0), expected 0xff or 0x5a"
        )


def test_memory_check_is_not_applicable_without_a_probe(profile: Profile) -> None:
    seen: list = []
    result = run_plan(plan(AP), ctx_for(profile), on_measurement=seen.append)
    assert result.passed
    assert seen[0].text == "not applicable: no SWD on a USB-only run"


LED = Step(name="led", kind="operator", question="Is the status LED green?", timeout_s=30.0)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (True, None),
        (False, "led: operator answered no to 'Is the status LED green?'"),
        (None, "led: 'Is the status LED green?' was not answered within 30 s"),
    ],
)
def test_operator_step(profile: Profile, answer: bool | None, reason: str | None) -> None:
    asked: list[tuple[str, str, float]] = []

    def ask(step: str, question: str, timeout: float) -> bool | None:
        asked.append((step, question, timeout))
        return answer

    result = run_plan(plan(LED), ctx_for(profile, ask_operator=ask))
    assert result.reason == reason
    assert asked == [("led", "Is the status LED green?", 30.0)]


def test_exact_string_limit_is_recorded_bare(profile: Profile) -> None:
    result = run_plan(plan(serial_step("modem", expect="OK")), ctx_for(profile, serial=FakeSerial()))
    (m,) = result.measurements
    assert (m.text, m.expected, m.passed) == ("OK", "OK", True)


@pytest.mark.parametrize("stop_on_fail", [False, True])
def test_a_cancel_that_ends_the_last_operator_question_is_cancelled_not_failed(profile: Profile, stop_on_fail: bool) -> None:
    """Cancel pressed while the operator's question is open (the question is aborted with the slot):
    the unit was never judged, so the run is cancelled, not FAIL; it already was when another step
    followed, not when the question was the plan's last step or stopped the plan."""
    cancel = threading.Event()

    def ask(step: str, question: str, timeout: float) -> bool | None:
        cancel.set()  # the broker aborts the open prompt of a cancelled slot: no answer
        return None

    steps = plan(serial_step("battery"), dataclasses.replace(LED, stop_on_fail=stop_on_fail))
    result = run_plan(steps, ctx_for(profile, serial=FakeSerial(), ask_operator=ask, cancel=cancel))
    assert result.cancelled and not result.passed, (result.failing_step, result.reason)
    assert result.failing_step == "led"
    led = [m for m in result.measurements if m.step == "led"]
    assert led and not led[0].passed and "the slot was cancelled" in (led[0].reason or "")  # recorded as it happened


@pytest.mark.parametrize("stop_on_fail", [False, True])
def test_a_step_that_fails_on_its_own_while_cancel_is_pressed_stays_failed(profile: Profile, stop_on_fail: bool) -> None:
    """Only an unanswered question is 'never judged': a limit missed, or an operator's "no", at the
    moment Cancel was pressed is a verdict, and the unit counts in the lot's failures."""
    cancel = threading.Event()

    def low_battery(args: dict[str, object]) -> Reply:
        cancel.set()  # pressed while the battery was being measured
        return Reply(True, 2.71, "V")

    low = FakeSerial({"battery": low_battery})  # type: ignore[dict-item]
    battery = serial_step("battery", low=3.5, unit="V", stop_on_fail=stop_on_fail)
    result = run_plan(plan(battery), ctx_for(profile, serial=low, cancel=cancel))
    assert not result.cancelled and not result.passed, (result.failing_step, result.reason)
    assert result.failing_step == "battery" and "below the minimum" in (result.reason or "")

    def no(step: str, question: str, timeout: float) -> bool | None:
        cancel.set()
        return False  # the operator answered no as Cancel was pressed

    cancel.clear()
    steps = plan(dataclasses.replace(LED, stop_on_fail=stop_on_fail))
    result = run_plan(steps, ctx_for(profile, ask_operator=no, cancel=cancel))
    assert not result.cancelled and result.failing_step == "led", (result.failing_step, result.reason)
    assert "answered no" in (result.reason or "")
