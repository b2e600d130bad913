"""DAP-level tests of the twin's nRF52840: what a probe sees on the wire, without pyocd."""

from __future__ import annotations

import struct
import time

import pytest

from station.sim.bench import Bench
from station.sim.chip import Nrf52840, chip_for
from station.sim.clock import NVMC_WORD_S
from station.sim.dap import BusFault
from station.sim.device import Twin

SELECT, CSW, TAR, DRW, IDR, BASE = 0x8, 0x00, 0x04, 0x0C, 0xFC, 0xF8
NVMC_CONFIG, NVMC_ERASEPAGE, NVMC_ERASEALL = 0x4001E504, 0x4001E508, 0x4001E50C
DHCSR, DCRSR, DCRDR, DEMCR, AIRCR = 0xE000EDF0, 0xE000EDF4, 0xE000EDF8, 0xE000EDFC, 0xE000ED0C


class Wire:
    """A minimal debugger: DP/AP register accesses as a CMSIS-DAP probe would issue them."""

    def __init__(self, chip: Nrf52840) -> None:
        self.chip = chip
        self.dap = chip.dap

    def ap_read(self, ap: int, reg: int) -> int:
        self.dap.write_dp(SELECT, (ap << 24) | (reg & 0xF0))
        return self.dap.read_ap(reg)

    def ap_write(self, ap: int, reg: int, value: int) -> None:
        self.dap.write_dp(SELECT, (ap << 24) | (reg & 0xF0))
        self.dap.write_ap(reg, value)

    def read32(self, addr: int) -> int:
        self.ap_write(0, CSW, 0x23000012)
        self.ap_write(0, TAR, addr)
        return self.ap_read(0, DRW)

    def write32(self, addr: int, value: int) -> None:
        self.ap_write(0, CSW, 0x23000012)
        self.ap_write(0, TAR, addr)
        self.ap_write(0, DRW, value)

    def halt(self) -> None:
        self.write32(DHCSR, 0xA05F0003)


@pytest.fixture
def wire(twin: Twin) -> Wire:
    return Wire(chip_for(twin))


def test_identification_registers(wire: Wire, twin: Twin) -> None:
    assert wire.dap.read_dp(0x0) == 0x2BA01477
    assert wire.ap_read(0, IDR) == 0x24770011  # AHB-AP
    assert wire.ap_read(1, IDR) == 0x02880000  # Nordic CTRL-AP
    assert wire.ap_read(2, IDR) == 0  # end of the AP scan
    assert wire.ap_read(0, BASE) == 0xE00FF003
    assert wire.ap_read(0, CSW) & 0x40  # DeviceEn: not protected
    assert wire.read32(0xE000ED00) == 0x410FC241  # CPUID: Cortex-M4 r0p1
    assert wire.read32(0xE00FFFF0) == 0x0D and wire.read32(0xE00FFFF4) == 0x10  # ROM table CIDR
    assert wire.read32(0xE00FF000) == 0xFFF0F003  # first ROM entry → SCS


def test_ficr_is_the_device_identity(wire: Wire, twin: Twin) -> None:
    d0, d1 = wire.read32(0x10000060), wire.read32(0x10000064)
    assert (d0, d1) == (twin.identity.deviceid0, twin.identity.deviceid1)
    assert wire.read32(0x10000100) == 0x52840
    assert struct.pack(">I", wire.read32(0x10000104)) == b"AAD0"


def test_power_up_handshake(wire: Wire) -> None:
    wire.dap.write_dp(0x4, 0x50000F00)
    assert wire.dap.read_dp(0x4) & 0xA0000000 == 0xA0000000


def test_auto_increment_and_packed_transfers(wire: Wire, twin: Twin) -> None:
    wire.ap_write(0, CSW, 0x23000012)
    wire.ap_write(0, TAR, 0x20000000)
    wire.dap.write_ap_multiple(DRW, [1, 2, 3, 4])
    assert wire.ap_read(0, TAR) == 0x20000010
    wire.ap_write(0, TAR, 0x20000000)
    assert wire.dap.read_ap_multiple(DRW, 4) == [1, 2, 3, 4]
    # byte access: the byte comes back on its lane, TAR moves by one
    wire.write32(0x20000010, 0x44332211)
    wire.ap_write(0, CSW, 0x23000010)
    wire.ap_write(0, TAR, 0x20000011)
    assert wire.ap_read(0, DRW) == 0x2200
    assert wire.ap_read(0, TAR) == 0x20000012


def test_bad_address_faults_and_sets_stickyerr(wire: Wire) -> None:
    with pytest.raises(BusFault):
        wire.read32(0x30000000)
    assert wire.dap.read_dp(0x4) & 0x20
    wire.dap.write_dp(0x0, 0x1E)  # ABORT clears sticky flags
    assert not wire.dap.read_dp(0x4) & 0x20


def _program_word(wire: Wire, addr: int, value: int) -> None:
    wire.write32(NVMC_CONFIG, 1)
    wire.write32(addr, value)
    wire.write32(NVMC_CONFIG, 0)


def test_nvmc_bits_only_go_from_one_to_zero(wire: Wire, twin: Twin) -> None:
    wire.halt()
    _program_word(wire, 0x8000, 0xF0F0FFFF)
    _program_word(wire, 0x8000, 0xFFFF0F0F)
    assert wire.read32(0x8000) == 0xF0F00F0F
    assert twin.flash[0x8000:0x8004] == bytes.fromhex("0f0ff0f0")
    wire.write32(0x8004, 0)  # WEN off: ignored
    assert wire.read32(0x8004) == 0xFFFFFFFF


def test_page_erase_and_erase_all(wire: Wire, twin: Twin) -> None:
    wire.halt()
    for addr in (0x8000, 0x9000):
        _program_word(wire, addr, 0)
    wire.write32(NVMC_CONFIG, 2)
    wire.write32(NVMC_ERASEPAGE, 0x8000)
    assert wire.read32(0x8000) == 0xFFFFFFFF and wire.read32(0x9000) == 0
    wire.write32(NVMC_ERASEALL, 1)
    assert twin.flash[:] == b"\xff" * len(twin.flash)


def test_erratum_184_debugger_nvmc_writes_do_not_take_while_the_cpu_runs(wire: Wire, twin: Twin) -> None:
    assert not wire.chip.core.halted  # the firmware is running
    _program_word(wire, 0x8000, 0)
    wire.write32(NVMC_CONFIG, 2)
    twin.flash[0x9000:0x9004] = b"\0\0\0\0"
    wire.write32(NVMC_ERASEPAGE, 0x9000)
    assert wire.read32(0x8000) == 0xFFFFFFFF
    assert wire.read32(0x9000) == 0
    wire.halt()
    _program_word(wire, 0x8000, 0)
    assert wire.read32(0x8000) == 0


def test_halt_step_and_register_access(wire: Wire, twin: Twin) -> None:
    # movs r0, #5 ; adds r0, #1 ; bkpt #0 in RAM
    code = bytes.fromhex("0520" "0130" "00be")
    wire.halt()
    assert wire.read32(DHCSR) & (1 << 17)
    assert twin.state.run_state == "halted"
    for i in range(0, len(code) + 2, 4):
        wire.write32(0x20000000 + i, int.from_bytes(code[i : i + 4].ljust(4, b"\0"), "little"))
    wire.write32(DCRDR, 0x20000000)
    wire.write32(DCRSR, (1 << 16) | 15)  # write PC
    wire.write32(DHCSR, 0xA05F0005)  # step
    wire.write32(DCRSR, 0)  # read r0
    assert wire.read32(DCRDR) == 5
    wire.write32(DHCSR, 0xA05F0001)  # run until the BKPT
    assert wire.read32(DHCSR) & (1 << 17)
    wire.write32(DCRSR, 0)
    assert wire.read32(DCRDR) == 6
    wire.write32(DCRSR, 15)
    assert wire.read32(DCRDR) == 0x20000004  # PC stays on the BKPT
    assert twin.state.run_state == "halted"  # stopped on the breakpoint: halted, not running debugger code


def test_reset_with_vector_catch_halts_without_booting(wire: Wire, twin: Twin) -> None:
    wire.write32(DHCSR, 0xA05F0001)
    wire.write32(DEMCR, 1)  # VC_CORERESET
    wire.write32(AIRCR, 0x05FA0004)
    assert wire.read32(DHCSR) & (1 << 17)
    assert twin.state.run_state == "halted"
    assert "boot" not in twin.events.kinds()
    wire.write32(DEMCR, 0)
    wire.write32(AIRCR, 0x05FA0004)  # plain reset: the firmware runs (blank: DFU)
    assert twin.state.run_state == "dfu"
    assert twin.events.read()[-1]["cause"] == "swd-reset"


def test_pin_reset_holds_the_core(wire: Wire, twin: Twin) -> None:
    wire.chip.hold_reset(True)
    assert twin.state.run_state == "reset"
    wire.chip.hold_reset(False)
    assert twin.state.run_state == "dfu"


def test_approtect_blocks_the_ahb_ap_but_not_the_ctrl_ap(bench: Bench) -> None:
    locked = bench.create(1, seed=5, approtect=True)[0]
    locked.flash[0:4] = b"\x00\x10\x00\x20"
    ext_before = bytes(locked.ext_flash)
    w = Wire(chip_for(locked))
    assert not w.ap_read(0, CSW) & 0x40  # DeviceEn 0
    with pytest.raises(BusFault):
        w.read32(0x10000060)
    assert w.ap_read(1, 0x00C) == 0  # APPROTECTSTATUS: enabled
    w.ap_write(1, 0x004, 1)  # ERASEALL
    assert w.ap_read(1, 0x008) == 0  # done
    assert w.ap_read(1, 0x00C) == 1
    assert w.read32(0x10000060) == locked.identity.deviceid0
    assert locked.flash[0:4] == b"\xff" * 4 and locked.uicr[0x208] == 0xFF
    assert bytes(locked.ext_flash) == ext_before  # the DCT and device key survive
    assert "key_lost" not in locked.events.kinds()


def test_cpu_stores_to_flash_follow_nvmc_rules(wire: Wire, twin: Twin) -> None:
    """The flash algorithm's own stores: AND semantics, and nothing without WEN.

    Like every NVMC client it waits for READY after the store; the load after that sees the cell.
    """
    # str r1, [r0] ; ldr r3, [r4] (NVMC.READY) ; ldr r2, [r0] ; bkpt #0
    code = bytes.fromhex("0160" "2368" "0268" "00be")
    wire.halt()
    for i in range(0, len(code), 4):
        wire.write32(0x20000000 + i, int.from_bytes(code[i : i + 4], "little"))

    def run(r0: int, r1: int) -> int:
        for sel, v in ((0, r0), (1, r1), (4, 0x4001E400), (15, 0x20000000)):
            wire.write32(DCRDR, v)
            wire.write32(DCRSR, (1 << 16) | sel)
        wire.write32(DHCSR, 0xA05F0001)
        assert wire.read32(DHCSR) & (1 << 17)
        wire.write32(DCRSR, 2)
        return wire.read32(DCRDR)

    twin.flash[0x8000:0x8004] = (0x0000FFFF).to_bytes(4, "little")
    assert run(0x8000, 0xFFFF0000) == 0x0000FFFF  # WEN off: ignored
    wire.write32(NVMC_CONFIG, 1)
    assert run(0x8000, 0xFFFF0F0F) == 0x00000F0F
    assert twin.flash[0x8000:0x8004] == (0x00000F0F).to_bytes(4, "little")


def test_uicr_erase_and_watchdog_status(wire: Wire, twin: Twin) -> None:
    wire.halt()
    _program_word(wire, 0x10001080, 0x12345678)  # UICR.CUSTOMER[0]
    assert twin.uicr[0x80:0x84] == (0x12345678).to_bytes(4, "little")
    wire.write32(NVMC_CONFIG, 2)
    wire.write32(0x4001E514, 1)  # ERASEUICR
    assert wire.read32(0x10001080) == 0xFFFFFFFF
    assert wire.read32(0x40010400) == 0  # WDT.RUNSTATUS: not running
    assert wire.read32(0x40010504) == 0xFFFFFFFF  # WDT.CRV reset value


def _start_page_program(wire: Wire, words: int) -> None:
    """Resume the core into a loop that stores ``words`` words to flash, as a flash algorithm's
    ProgramPage does (each store followed by a wait for NVMC.READY), then halts on a BKPT."""
    # loop: str r1, [r0] ; ldr r3, [r4] ; adds r0, #4 ; subs r2, #1 ; bne loop ; bkpt #0
    code = bytes.fromhex("0160" "2368" "0430" "013a" "fad1" "00be")
    wire.halt()
    for i in range(0, len(code), 4):
        wire.write32(0x20000000 + i, int.from_bytes(code[i : i + 4], "little"))
    wire.write32(NVMC_CONFIG, 1)
    for sel, v in ((0, 0x10000), (1, 0x12345678), (2, words), (4, 0x4001E400), (15, 0x20000000)):
        wire.write32(DCRDR, v)
        wire.write32(DCRSR, (1 << 16) | sel)
    wire.write32(DHCSR, 0xA05F0001)  # resume


def test_realtime_core_reads_running_while_the_nvmc_programs_a_page(wire: Wire, twin: Twin) -> None:
    """As on a real nRF52840, the debugger's DHCSR polls return at once while the algorithm waits
    for the NVMC; the core reads halted only once the page's modelled program time has passed."""
    twin.clock.realtime = True
    words = 1024  # one 4 KB page
    device0 = twin.clock.device_seconds
    wall0 = time.perf_counter()
    _start_page_program(wire, words)
    running = 0
    while not (dhcsr := wire.read32(DHCSR)) & (1 << 17):
        assert dhcsr & (1 << 24)  # S_RETIRE_ST: a running core retires instructions
        running += 1
        assert running < 1_000_000, "the core never halted"  # a bound on polls, not on time: a busy machine polls less
    wall = time.perf_counter() - wall0
    busy = words * NVMC_WORD_S
    assert running >= 1
    assert twin.clock.device_seconds - device0 >= busy
    assert wall >= busy - 2e-3  # the halt is not seen before the page could have been written
    assert twin.flash[0x10000:0x10004] == (0x12345678).to_bytes(4, "little")
    assert twin.flash[0x10000 + 4 * words - 4 : 0x10000 + 4 * words] == (0x12345678).to_bytes(4, "little")


def test_fast_core_reads_halted_at_the_first_poll(wire: Wire, twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fast twin keeps answering halted at once, the NVMC time charged to its clock, not waited."""
    assert not twin.clock.realtime
    slept: list[float] = []
    monkeypatch.setattr("station.sim.clock.time.sleep", slept.append)  # the twin's clock sleeps through this
    device0 = twin.clock.device_seconds
    _start_page_program(wire, 1024)
    assert wire.read32(DHCSR) & (1 << 17)
    assert twin.clock.device_seconds - device0 >= 1024 * NVMC_WORD_S
    assert slept == []  # charged, not waited


def _pyocd_program_page(twin: Twin, page: int, data: bytes, *, copy_loops: bool) -> dict[str, int]:
    """Run the ProgramPage routine of pyocd's own nRF52840 flash algorithm on the core, set up as
    pyocd sets it up (r0 address, r1 size, r2 buffer, r9 static base, LR on the BKPT at the load
    address); the registers it halts with, by DCRSR REGSEL."""
    from pyocd.target.builtin.target_nRF52840_xxAA import FLASH_ALGO

    chip = chip_for(twin)
    chip.core.copy_loops = copy_loops
    wire = Wire(chip)
    wire.halt()
    buffer = FLASH_ALGO["page_buffers"][0]
    for base, words in ((FLASH_ALGO["load_address"], FLASH_ALGO["instructions"]), (buffer, struct.unpack(f"<{len(data) // 4}I", data))):
        wire.ap_write(0, CSW, 0x23000012)
        wire.ap_write(0, TAR, base)
        for w in words:
            wire.ap_write(0, DRW, w)
    regs = {0: page, 1: len(data), 2: buffer, 9: FLASH_ALGO["static_base"], 13: FLASH_ALGO["begin_stack"],
            14: FLASH_ALGO["load_address"] | 1, 15: FLASH_ALGO["pc_program_page"] & ~1, 16: 0x01000000}  # fmt: skip
    for sel, v in regs.items():
        wire.write32(DCRDR, v)
        wire.write32(DCRSR, (1 << 16) | sel)
    wire.write32(DHCSR, 0xA05F0001)  # resume
    polls = 0
    while not wire.read32(DHCSR) & (1 << 17):
        polls += 1
        assert polls < 1000, "the algorithm never reached its BKPT"
    out = {}
    for sel in range(17):
        wire.write32(DCRSR, sel)
        out[sel] = wire.read32(DCRDR)
    return out


@pytest.mark.parametrize("case", ["erased", "written-before", "stuck-word"])
def test_the_flash_algorithms_page_loop_run_at_once_ends_as_run_instruction_by_instruction(bench: Bench, case: str) -> None:
    """The twin carries out pyocd's ProgramPage word loop in one step (core.COPY_LOOP) instead of
    ~2 Python callbacks per word: flash, registers, flags, NVMC word count and device time must
    come out as when unicorn runs every instruction; where the loop cannot be done at once (a
    stuck cell), unicorn runs it."""
    import random

    page = 0x3000
    data = random.Random(7).randbytes(0x1000)
    before = b"\xff" * 0x1000 if case != "written-before" else random.Random(8).randbytes(0x1000)
    results = []
    for copy_loops, t in zip((True, False), bench.create(2, seed=40), strict=True):
        t.flash[page : page + 0x1000] = before
        if case == "stuck-word":
            t.set_faults(stuck_word=page + 0x10)
            chip_for(t).refresh_faults()  # as the probe does before each DAP call
        device0 = t.clock.device_seconds
        regs = _pyocd_program_page(t, page, data, copy_loops=copy_loops)
        chip = chip_for(t)
        results.append((regs, bytes(t.flash[page : page + 0x1000]), chip.nvmc.stats["words"],
                        t.clock.device_seconds - device0, chip.core.stats["copy_loops"]))  # fmt: skip
    (regs_at_once, flash_at_once, words_at_once, device_at_once, loops), (regs, flash, words, device, none) = results
    assert none == 0
    assert loops == (0 if case == "stuck-word" else 1)
    expected = (int.from_bytes(before, "little") & int.from_bytes(data, "little")).to_bytes(0x1000, "little")
    if case == "stuck-word":
        expected = expected[:0x10] + before[0x10:0x14] + expected[0x14:]
    assert flash == expected
    assert flash_at_once == flash
    assert regs_at_once == regs
    assert regs[15] == FLASH_ALGO_BKPT  # halted on the BKPT at the load address, the call returned
    assert words_at_once == words == 0x400
    assert device_at_once == pytest.approx(device)


FLASH_ALGO_BKPT = 0x20000000


def test_the_page_loop_run_at_once_leaves_the_registers_and_flags_as_its_instructions_do(bench: Bench) -> None:
    """The loop alone, halted on a BKPT right after it: nothing after it (ProgramPage's epilogue
    overwrites r0 and some flags) hides what it left in r0, r4-r7 and NZCV."""
    from station.sim.core import COPY_LOOP

    code = COPY_LOOP + bytes.fromhex("00be")  # ... bne loop ; bkpt #0
    words = 37
    results = []
    for copy_loops, t in zip((True, False), bench.create(2, seed=41), strict=True):
        chip = chip_for(t)
        chip.core.copy_loops = copy_loops
        wire = Wire(chip)
        wire.halt()
        wire.write32(NVMC_CONFIG, 1)  # WEN, as ProgramPage sets it before the loop
        padded = code + b"\x00" * (-len(code) % 4)
        for i in range(0, len(padded), 4):
            wire.write32(0x20000000 + i, int.from_bytes(padded[i : i + 4], "little"))
        for i in range(words):
            wire.write32(0x20002000 + 4 * i, 0x01010101 * (i + 1))
        for sel, v in ((4, 0x20002000), (5, 0x5000), (6, words), (7, 0x4001E400), (15, 0x20000000), (16, 0xF1000000)):
            wire.write32(DCRDR, v)
            wire.write32(DCRSR, (1 << 16) | sel)
        wire.write32(DHCSR, 0xA05F0001)
        assert wire.read32(DHCSR) & (1 << 17)
        regs = {}
        for sel in range(17):
            wire.write32(DCRSR, sel)
            regs[sel] = wire.read32(DCRDR)
        results.append((regs, bytes(t.flash[0x5000 : 0x5000 + 4 * words]), chip.core.stats["copy_loops"]))
    (regs_at_once, flash_at_once, loops), (regs, flash, none) = results
    assert (loops, none) == (1, 0)
    assert flash == b"".join((0x01010101 * (i + 1)).to_bytes(4, "little") for i in range(words))
    assert flash_at_once == flash
    assert regs[0] == 0x80000000 and regs[6] == 0 and regs[15] == 0x20000000 + len(COPY_LOOP)
    assert regs_at_once == regs


def test_a_debugger_step_at_the_page_loop_runs_one_instruction(wire: Wire, twin: Twin) -> None:
    from station.sim.core import COPY_LOOP

    wire.halt()
    wire.write32(NVMC_CONFIG, 1)
    padded = COPY_LOOP + bytes.fromhex("00be")
    for i in range(0, len(padded), 4):
        wire.write32(0x20000000 + i, int.from_bytes(padded[i : i + 4], "little"))
    for sel, v in ((4, 0x20002000), (5, 0x5000), (6, 8), (7, 0x4001E400), (15, 0x20000000)):
        wire.write32(DCRDR, v)
        wire.write32(DCRSR, (1 << 16) | sel)
    wire.write32(DHCSR, 0xA05F0001)  # run: the loop is hooked and done at once
    assert wire.read32(DHCSR) & (1 << 17)
    for sel, v in ((4, 0x20002000), (5, 0x6000), (6, 8), (15, 0x20000000)):
        wire.write32(DCRDR, v)
        wire.write32(DCRSR, (1 << 16) | sel)
    wire.write32(DHCSR, 0xA05F0005)  # step: the ldmia alone
    regs = {}
    for sel in (4, 5, 6, 15):
        wire.write32(DCRSR, sel)
        regs[sel] = wire.read32(DCRDR)
    assert regs == {4: 0x20002004, 5: 0x6000, 6: 8, 15: 0x20000002}
    assert chip_for(twin).core.stats["copy_loops"] == 1
