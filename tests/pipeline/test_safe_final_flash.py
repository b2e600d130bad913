"""Issue 10 item 1: at no moment of a run can a power-up make the device connect.

Flashing the product replaces the factory-test firmware in the user slot; an unplug in that window,
or a final verify that fails, used to leave valid Device OS and an invalid user part: safe mode,
which connects. Device OS's bootloader only leaves for Device OS when the system part at
CORE_FW_ADDRESS is intact (``is_application_valid``: module info + CRC, device-os
``bootloader/src/nRF52840/dfu_usb.c``), so the station keeps that part's first page erased
while anything that could connect is incomplete. Here the cable is pulled at many offsets of the
final flash (and a word of the product region sticks), then the twin is powered again: it must not
go online, and the registry must say what state the device is in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from station.cli.main import cli
from station.domain import UNSAFE_TO_POWER
from station.pipeline.events import Event
from station.sim.bench import Bench
from station.sim.device import Twin

from .conftest import Line, drop_tests, never_connected, profile_variant, ship_with_bootloader

#: bytes programmed into the twin during the final flash before the cable goes (the product is 48 KB)
OFFSETS = [1, 2048, 4096, 12_000, 24_576, 40_000, 49_151, 49_152, 52_000, 53_248]


def _pull_during(line: Line, step: str, twin: Twin, after_bytes: int) -> None:
    def hook(ev: Event) -> None:
        if ev.kind == "step_started" and ev.step == step and ev.device_id == twin.device_id:
            twin.set_faults(unplug_after_bytes=after_bytes)

    line.hooks.append(hook)


def _power_again(bench: Bench, twin: Twin) -> None:
    twin.set_faults(unplug_after_bytes=None, stuck_word=None)
    bench.unplug(twin.name)
    bench.plug(twin.name)  # power-on: the twin's boot model decides what runs


def _stays_off_line(twin: Twin) -> None:
    """In its bootloader (the gate closed), or still running the MANUAL-mode factory test (the cable
    went before the gate closed): nothing else may run after a failed final flash."""
    st = twin.state
    assert st.run_state == "dfu" or (st.run_state, st.running_app) == ("running", "factory-test"), \
        twin.events.read()[-3:]


def _usb_profile(tmp_path: Path) -> Path:
    return profile_variant(
        tmp_path,
        lambda t: drop_tests(t, "approtect-open").replace('transport = "swd"', 'transport = "usb"')
        .replace('action = "halt"', 'action = "dfu"'),
    )


@pytest.mark.parametrize("after", OFFSETS)
def test_swd_unplug_during_the_final_flash_then_power_never_connects(line: Line, bench: Bench, after: int) -> None:
    twin = bench.create(1, seed=700 + OFFSETS.index(after))[0]
    _pull_during(line, "flash-final", twin, after)
    (r,) = line.swd([twin])
    _power_again(bench, twin)
    never_connected(twin)
    if r.outcome == "passed":  # the cable went after the run no longer needed the device
        return
    assert r.outcome == "error", r.reason  # lost, not shown bad
    _stays_off_line(twin)


def test_swd_stuck_word_in_the_product_region_never_connects(line: Line, bench: Bench) -> None:
    twin = bench.create(1, seed=720)[0]

    def hook(ev: Event) -> None:
        if ev.kind == "step_started" and ev.step == "flash-final":
            twin.set_faults(stuck_word=0xBC010)  # product only: the factory-test image ends at 0xBA000

    line.hooks.append(hook)
    (r,) = line.swd([twin])
    assert r.outcome == "failed" and r.failing_step == "verify-final", (r.failing_step, r.reason)
    _power_again(bench, twin)
    never_connected(twin)
    assert twin.state.run_state == "dfu"


@pytest.mark.parametrize("after", OFFSETS[::3])
def test_usb_unplug_during_the_final_flash_then_power_never_connects(
    line: Line, bench: Bench, tmp_path: Path, after: int
) -> None:
    profile = _usb_profile(tmp_path)
    twin = bench.create(1, seed=740 + OFFSETS.index(after))[0]
    ship_with_bootloader(twin)
    _pull_during(line, "flash-final", twin, after)
    (r,) = line.usb([twin], profile)
    _power_again(bench, twin)
    never_connected(twin)
    if r.outcome != "passed":
        _stays_off_line(twin)


def test_usb_stuck_word_in_the_product_region_never_connects(line: Line, bench: Bench, tmp_path: Path) -> None:
    profile = _usb_profile(tmp_path)
    twin = bench.create(1, seed=760)[0]
    ship_with_bootloader(twin)

    def hook(ev: Event) -> None:
        if ev.kind == "step_started" and ev.step == "flash-final":
            twin.set_faults(stuck_word=0xBC010)

    line.hooks.append(hook)
    (r,) = line.usb([twin], profile)
    assert r.outcome == "failed", r.reason
    _power_again(bench, twin)
    never_connected(twin)
    assert twin.state.run_state == "dfu"


def test_lost_after_the_product_was_enabled_is_shown_unsafe_to_power_everywhere(
    line: Line, bench: Bench, sqlite_url: str
) -> None:
    """The one window the gate cannot cover: the product is proven and enabled, then the cable goes
    before the run ends. The station cannot disable it again, so it says so: result, registry,
    ``device show``, the lot report, the CLI's result line."""
    from station.cli.progress import results_table

    twin = bench.create(1, seed=780)[0]

    def hook(ev: Event) -> None:
        if ev.kind == "step_started" and ev.step == "secure-state":
            bench.unplug(twin.name)

    line.hooks.append(hook)
    # slot_workers pinned to thread: the fault is injected by an event handler at the step's start, and only a
    # slot in a thread waits for its handlers; a worker process goes on, and a short step is over before
    # the handler has touched the twin.
    (r,) = line.swd([twin], lot="LOT-X", slot_workers="thread")
    assert r.outcome == "error" and r.failing_step == "secure-state"
    assert r.unsafe_to_power and (r.reason or "").startswith(UNSAFE_TO_POWER), r.reason
    assert r.to_dict()["unsafe_to_power"] is True
    rec = line.registry.device_record(twin.device_id)
    assert rec is not None and rec.unsafe_to_power and rec.product is None
    assert line.registry.unsafe_devices("LOT-X") == [twin.device_id]

    runner = CliRunner()
    shown = runner.invoke(cli, ["device", "show", twin.device_id, "--db", sqlite_url, "--json"])
    assert json.loads(shown.stdout)["unsafe_to_power"] is True
    text = runner.invoke(cli, ["device", "show", twin.device_id, "--db", sqlite_url], terminal_width=200).stdout
    assert UNSAFE_TO_POWER.upper() in text
    report = runner.invoke(cli, ["lot", "report", "LOT-X", "--db", sqlite_url, "--json"])
    assert json.loads(report.stdout)["unsafe_to_power"] == [twin.device_id]
    assert "UNSAFE TO POWER" in runner.invoke(cli, ["lot", "report", "LOT-X", "--db", sqlite_url]).stdout
    console = Console(width=400, record=True)
    console.print(results_table([r]))
    assert UNSAFE_TO_POWER in console.export_text()

    # what the registry warns of is real: powered as it is, the product runs and connects
    bench.plug(twin.name)
    assert "first_connect" in twin.events.kinds()

    # re-flashed by the next run, it passes and is no longer flagged
    line.hooks.clear()
    (again,) = line.swd([twin], lot="LOT-X")
    assert again.outcome == "passed", again.reason
    assert line.registry.unsafe_devices("LOT-X") == []
    rec = line.registry.device_record(twin.device_id)
    assert rec is not None and not rec.unsafe_to_power


def test_a_failure_after_the_product_was_enabled_disables_it_again(line: Line, bench: Bench) -> None:
    """Still reachable when the run stops (here: cancelled before registration): the station closes
    the gate again, so the unregistered device stays in its bootloader."""
    from station.domain import Transport
    from station.pipeline.handle import RunHandle
    from station.pipeline.line import SlotSpec

    twin = bench.create(1, seed=781)[0]
    handle = RunHandle(line.job(), [SlotSpec("1", Transport.SWD, twin.identity.probe_uid)])

    def hook(ev: Event) -> None:
        if ev.kind == "step_finished" and ev.step == "secure-state":
            handle.cancel("1")

    line.hooks.append(hook)
    handle.start()
    assert handle.wait(120)
    (r,) = handle.results()
    assert r.outcome == "cancelled", r.reason
    assert not r.unsafe_to_power and "disabled Device OS again" in (r.reason or ""), r.reason
    _power_again(bench, twin)
    never_connected(twin)
    assert twin.state.run_state == "dfu"


#: smart flashing skips the pages it already holds: the gate (8 KB) and the factory test (24 KB) are written
@pytest.mark.parametrize("after", [8192, 12_000, 20_000, 28_000])
def test_swd_unplug_during_the_first_flash_of_a_programmed_unit_never_connects(
    line: Line, bench: Bench, after: int
) -> None:
    """A unit that arrives with Device OS and a product (programmed elsewhere) would connect as it is;
    once the flash step has closed the gate (its first 8 KB written: the two gate pages erased),
    a pulled cable at any later offset leaves it in its bootloader."""
    from station.firmware.demo import build_demo_modules
    from station.firmware.module import module_flash_image, parse_module

    twin = bench.create(1, seed=790 + after % 97)[0]
    for role, data in build_demo_modules("boron").items():
        if role != "user-factory-test":
            img = module_flash_image(data, parse_module(data), role)
            twin.flash[img.address : img.end] = img.data
    _pull_during(line, "flash", twin, after)
    (r,) = line.swd([twin])
    assert r.outcome == "error" and r.failing_step == "flash", (r.failing_step, r.reason)
    _power_again(bench, twin)
    never_connected(twin)
    assert twin.state.run_state == "dfu"
