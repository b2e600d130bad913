"""The probe's USB link costs what a CMSIS-DAP probe would cost (station sim create --probe).

The bounds asserted here are derived from the USB and CMSIS-DAP facts, not from the model's
code: a v1 (HID, full speed) probe moves one 64-byte report per 1 ms frame, and a DAP_TransferBlock
write report has 5 header bytes, so it carries 14 words; a high-speed v2 probe's 512-byte packet
carries 126. pyocd's flash loader streams the image into RAM page buffers through such blocks.
"""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyocd.core.session import Session
from pyocd.flash.file_programmer import FileProgrammer
from pyocd_session import session

from station.cli.main import cli
from station.sim.bench import Bench, forget_twins
from station.sim.device import Twin

ADDR = 0x28000
SIZE = 64 * 1024
WORDS = SIZE // 4


def program(s: Session, data: bytes) -> None:
    FileProgrammer(s, chip_erase="sector").program(io.BytesIO(data), base_address=ADDR, file_format="bin")


def device_time_to_program(twin: Twin, tmp_path: Path, data: bytes) -> tuple[float, dict[str, int]]:
    with session(twin, tmp_path, frequency=4_000_000) as s:
        before = twin.clock.device_seconds
        program(s, data)
        spent = twin.clock.device_seconds - before
        pacer = s.probe._pacer
        stats = dict(pacer.stats) if pacer is not None else {}
    assert bytes(twin.flash[ADDR : ADDR + len(data)]) == data
    return spent, stats


@pytest.fixture
def data() -> bytes:
    return random.Random(3).randbytes(SIZE)


def test_a_v1_probe_is_bound_by_one_report_per_millisecond(bench: Bench, tmp_path: Path, data: bytes) -> None:
    (ideal,) = bench.create(1, seed=11, prefix="ideal")
    (v1,) = bench.create(1, seed=12, prefix="v1", probe="cmsis-dap-v1-fs")
    t_ideal, _ = device_time_to_program(ideal, tmp_path, data)
    t_v1, stats = device_time_to_program(v1, tmp_path, data)
    carry_floor = math.ceil(WORDS / 14) * 1e-3  # 14 words per 64-byte report, one report per frame
    assert stats["packets"] >= math.ceil(WORDS / 14)
    assert t_v1 >= carry_floor
    assert t_v1 > t_ideal + 0.5 * carry_floor  # the USB link shows: not wire time only


def test_a_high_speed_v2_probe_sits_between_ideal_and_v1(bench: Bench, tmp_path: Path, data: bytes) -> None:
    (ideal,) = bench.create(1, seed=21, prefix="ideal")
    (hs,) = bench.create(1, seed=22, prefix="hs", probe="cmsis-dap-v2-hs")
    (v1,) = bench.create(1, seed=23, prefix="v1", probe="cmsis-dap-v1-fs")
    t_ideal, _ = device_time_to_program(ideal, tmp_path, data)
    t_hs, stats = device_time_to_program(hs, tmp_path, data)
    t_v1, _ = device_time_to_program(v1, tmp_path, data)
    # 126 words per 512-byte packet: far fewer packets than the v1 probe's 14-word reports
    assert math.ceil(WORDS / 126) <= stats["packets"] < math.ceil(WORDS / 14)
    assert t_ideal <= t_hs < t_v1


def test_every_answer_the_host_waits_for_costs_a_frame(bench: Bench, tmp_path: Path) -> None:
    """Single reads one after another (a DHCSR poll) each wait for the probe's reply."""
    (v1,) = bench.create(1, seed=31, prefix="v1", probe="cmsis-dap-v1-fs")
    with session(v1, tmp_path) as s:
        before = v1.clock.device_seconds
        for _ in range(100):
            s.target.read32(0x10000060)
        spent = v1.clock.device_seconds - before
    # each read: at least one report out in its frame and the reply in a later one
    assert spent >= 100 * 2e-3


def test_sim_create_takes_a_probe_model_and_lists_it(tmp_path: Path) -> None:
    d = str(tmp_path / "bench")
    out = CliRunner().invoke(cli, ["sim", "create", "1", "--dir", d, "--probe", "cmsis-dap-v2-hs", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)[0]["probe_model"] == "cmsis-dap-v2-hs"
    bad = CliRunner().invoke(cli, ["sim", "create", "1", "--dir", d, "--probe", "jlink"])
    assert bad.exit_code == 2 and "cmsis-dap-v1-fs" in bad.output
    forget_twins(d)


def test_the_nvmc_writes_one_page_while_pyocd_carries_the_next(bench: Bench, tmp_path: Path, data: bytes) -> None:
    """pyocd double-buffers the flash algorithm's page buffers, so carry and NVMC time overlap.

    At 1 MHz a word's carry (46 SWD bits) takes 46 us and its NVMC write 41 us (nRF52840 PS): a
    twin that added them would take ~87 us a word; the chip takes the larger, plus one page.
    """
    from station.sim.clock import NVMC_ERASE_ALL_S, NVMC_WORD_S, SWD_BITS_PER_TRANSFER

    (twin,) = bench.create(1, seed=51, prefix="overlap")
    with session(twin, tmp_path, frequency=1_000_000) as s:
        before = twin.clock.device_seconds
        FileProgrammer(s, chip_erase="chip").program(io.BytesIO(data), base_address=ADDR, file_format="bin")
        spent = twin.clock.device_seconds - before - NVMC_ERASE_ALL_S
    carry = WORDS * SWD_BITS_PER_TRANSFER / 1e6
    serial = carry + WORDS * NVMC_WORD_S
    assert bytes(twin.flash[ADDR : ADDR + SIZE]) == data
    assert carry <= spent < carry + 0.4 * (serial - carry)
