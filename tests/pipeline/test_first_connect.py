"""The first-connect guarantee, checked: whatever happens at whichever step — pass, fail, cancel,
unplug — no twin records ``first_connect`` (cloud billing starts there) or ``key_lost``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from station.domain import UNSAFE_TO_POWER
from station.pipeline.events import Event
from station.pipeline.job import SlotResult
from station.pipeline.run import NO_UNIT_REASON
from station.pipeline.steps import BY_NAME
from station.sim.bench import Bench
from station.sim.device import Twin
from station.store.models import Attempt

from .conftest import Line, drop_tests, never_connected, profile_variant, ship_with_bootloader

SWD_STEPS = [
    "identify", "registry-check", "flash", "verify", "boot-proof", "enable-boot", "start-test-firmware",
    "functional-tests", "flash-final", "verify-final", "boot-proof-final", "enable-boot-final", "secure-state",
    "register", "label",
]
USB_STEPS = ["identify", "registry-check", "flash", "enable-boot", "start-test-firmware", "functional-tests",
             "flash-final", "enable-boot-final", "secure-state", "register"]
#: after these steps the station no longer touches the device, so an unplug there cannot fail the run
NO_DEVICE_IO = {"register", "label"}
#: unplug steps the default run keeps (the flash windows); the rest run with ``-m slow`` and in CI
FAST_STEPS = {"flash", "flash-final", "enable-boot-final"}


def _steps(steps: list[str]) -> list[object]:
    return [s if s in FAST_STEPS else pytest.param(s, marks=pytest.mark.slow) for s in steps]


def _unplug_at(line: Line, bench: Bench, step: str, slot: str, twin: Twin, how: str = "unplug") -> None:
    """At ``step``, ``how`` = ``unplug`` (USB cable out), ``lift`` (the unit out of its fixture,
    the probe stays) or ``pull_probe`` (the slot's probe goes, the unit stays)."""
    def hook(ev: Event) -> None:
        if ev.kind == "step_started" and ev.step == step and ev.slot == slot:
            getattr(bench, how)(twin.name)

    line.hooks.append(hook)


def _power_again_after_a_failure(line: Line, bench: Bench, twin: Twin, r: SlotResult) -> None:
    """Re-plug the device the run lost: it must not go online, or the station said it would."""
    if r.unsafe_to_power:
        # Lost with the product behind an open boot gate: the registry and the result say so.
        assert (r.reason or "").startswith(UNSAFE_TO_POWER)
        record = line.registry.device_record(twin.device_id)
        assert record is not None and (record.attempts[-1].reason or "").startswith(UNSAFE_TO_POWER)
        return
    bench.plug(twin.name)
    never_connected(twin)


@pytest.mark.parametrize("step", _steps(SWD_STEPS))
def test_swd_unit_taken_out_at_every_step(line: Line, bench: Bench, step: str) -> None:
    victim, bystander = bench.create(2, seed=100 + SWD_STEPS.index(step))
    _unplug_at(line, bench, step, "1", victim, "lift")
    # slot_workers pinned to thread: the fault is injected by an event handler at the step's start, and only a
    # slot in a thread waits for its handlers; a worker process goes on, and a short step is over before
    # the handler has touched the twin.
    results = {r.slot: r for r in line.swd([victim, bystander], slot_workers="thread")}
    assert results["2"].outcome == "passed", "the other slot carries on"
    r = results["1"]
    if step in NO_DEVICE_IO:
        assert r.outcome == "passed"
    else:
        # the unit left while its probe stayed: this unit failed, at that step, and the words say why
        assert (r.outcome, r.fault) == ("failed", "device-gone"), (r.failing_step, r.reason)
        if r.attempt_id is not None:  # the registry's record holds why (issue 12)
            with line.registry.reading() as s:
                assert s.scalar(select(Attempt.fault).where(Attempt.id == r.attempt_id)) == "device-gone"
        assert r.failing_step in SWD_STEPS[SWD_STEPS.index(step):], r.reason  # that step, or the next touching it
        if r.failing_step == "connect":  # nothing answered: the reason says the fixture looked empty
            assert (r.reason or "").startswith(f"{NO_UNIT_REASON} ("), r.reason
        else:  # in the step's words ("during flash product"), with the link's own words in brackets
            assert f"the unit was unplugged or taken out during {BY_NAME[r.failing_step].title.lower()} (" \
                in (r.reason or ""), r.reason
        _power_again_after_a_failure(line, bench, victim, r)
    never_connected(victim)
    never_connected(bystander)


@pytest.mark.parametrize("step", ["identify", "flash", "flash-final"])
def test_swd_probe_pulled_is_a_station_error(line: Line, bench: Bench, step: str) -> None:
    victim, bystander = bench.create(2, seed=150 + SWD_STEPS.index(step))
    _unplug_at(line, bench, step, "1", victim, "pull_probe")
    # slot_workers pinned to thread: the fault is injected by an event handler at the step's start, and only a
    # slot in a thread waits for its handlers; a worker process goes on, and a short step is over before
    # the handler has touched the twin.
    results = {r.slot: r for r in line.swd([victim, bystander], slot_workers="thread")}
    assert results["2"].outcome == "passed", "the other slot carries on"
    r = results["1"]
    # the station lost its probe: ERROR, which says nothing about the unit (still in its fixture)
    assert (r.outcome, r.fault, r.failing_step) == ("error", "probe-gone", step), r.reason
    assert "probe" in (r.reason or "") and victim.state.plugged
    if r.attempt_id is not None:  # the registry's record tells it from a failed unit (issue 12)
        with line.registry.reading() as s:
            stored = s.execute(select(Attempt.outcome, Attempt.fault).where(Attempt.id == r.attempt_id)).one()
        assert tuple(stored) == ("failed", "probe-gone")
    never_connected(victim)
    never_connected(bystander)


@pytest.mark.parametrize("step", USB_STEPS)
def test_usb_unplug_at_every_step(line: Line, bench: Bench, tmp_path: Path, step: str) -> None:
    profile = profile_variant(
        tmp_path,
        lambda t: drop_tests(t, "approtect-open").replace('transport = "swd"', 'transport = "usb"')
        .replace('action = "halt"', 'action = "dfu"'),
    )
    victim, bystander = bench.create(2, seed=200 + USB_STEPS.index(step))
    ship_with_bootloader(victim, bystander)
    _unplug_at(line, bench, step, victim.device_id, victim)
    # slot_workers pinned to thread: the fault is injected by an event handler at the step's start, and only a
    # slot in a thread waits for its handlers; a worker process goes on, and a short step is over before
    # the handler has touched the twin.
    results = {r.device_id: r for r in line.usb([victim, bystander], profile, slot_workers="thread")}
    assert results[bystander.device_id].outcome == "passed"
    r = results[victim.device_id]
    if step in NO_DEVICE_IO:
        assert r.outcome == "passed"
    else:
        # over USB the unit is the device: it left, so it failed (never the station's ERROR)
        assert r.outcome == "failed", (step, r.failing_step, r.reason)
        assert r.failing_step in USB_STEPS[USB_STEPS.index(step):], r.reason  # that step, or the next touching it
    if step not in NO_DEVICE_IO:
        _power_again_after_a_failure(line, bench, victim, r)
    never_connected(victim)
    never_connected(bystander)


@pytest.mark.parametrize("step", ["flash", "functional-tests", "flash-final"])
def test_cancel_at_a_step_ends_cancelled_and_safe(line: Line, bench: Bench, step: str) -> None:
    twin = bench.create(1, seed=300 + len(step))[0]
    job = line.job()
    from station.domain import Transport
    from station.pipeline.handle import RunHandle
    from station.pipeline.line import SlotSpec

    handle = RunHandle(job, [SlotSpec("1", Transport.SWD, twin.identity.probe_uid)])

    def hook(ev: Event) -> None:
        if ev.kind == "step_started" and ev.step == step:
            handle.cancel("1")

    line.hooks.append(hook)
    handle.start()
    assert handle.wait(120)
    (r,) = handle.results()
    assert r.outcome == "cancelled"
    assert twin.state.run_state != "running" or twin.state.running_app == "factory-test"
    never_connected(twin)


@pytest.mark.slow
def test_run_product_needs_the_named_override_and_records_it(line: Line, bench: Bench, tmp_path: Path) -> None:
    from station.errors import ProfileError

    refused = profile_variant(tmp_path, lambda t: t.replace('action = "halt"', 'action = "run-product"'), "a.toml")
    with pytest.raises(ProfileError, match="allow-first-connect"):
        line.job(refused)

    allowed = profile_variant(
        tmp_path,
        lambda t: t.replace('action = "halt"', 'action = "run-product"').replace(
            'reprovision = "skip"', 'reprovision = "skip"\noverrides = ["allow-first-connect"]'
        ),
        "b.toml",
    )
    twin = bench.create(1, seed=400)[0]
    r = line.swd([twin], profile=allowed)[0]
    assert r.outcome == "passed", r.reason
    # The override did what it says — and the registry shows it was used.
    assert "first_connect" in twin.events.kinds()
    from sqlalchemy import select

    from station.store.models import Attempt

    with line.registry.reading() as s:
        overrides = s.scalars(select(Attempt.overrides)).all()
    assert overrides == [["allow-first-connect"]]
