"""The nRF52840 of a twin: system bus, FICR, peripherals, resets and APPROTECT, over the twin's files.

It ties the pieces together — :class:`~station.sim.dap.DebugPort` (what the probe talks to),
:class:`~station.sim.core.Core` (unicorn + debug registers), :class:`~station.sim.nvmc.Nvmc` — and
decides what the core's state means for the device: the debugger holding it (``halted``, ``debug``,
``reset``) or the firmware running (the boot model's call).

One chip per twin per process (:func:`chip_for`): RAM and core registers live as long as the
process, like a powered board; flash and UICR are the twin's shared mmaps.
"""

from __future__ import annotations

import struct
import threading
from pathlib import Path

from station.domain import NRF_FICR, NRF_FLASH_SIZE, NRF_UICR
from station.sim import approtect, boot
from station.sim.core import (
    C_DEBUGEN,
    C_HALT,
    DHCSR,
    PERIPH_BASE,
    PERIPH_SIZE,
    RAM_BASE,
    RAM_SIZE,
    S_HALT,
    S_RETIRE_ST,
    Core,
    CoreHooks,
)
from station.sim.dap import BusFault, DebugPort
from station.sim.device import UICR_SIZE, Faults, Twin
from station.sim.nvmc import NVMC_BASE, NVMC_READY, NVMC_READYNEXT, READY_VALUE, Nvmc, is_nvm

FICR_SIZE = 0x1000
PPB_BASE = 0xE0000000
PPB_END = 0xE0100000
APPROTECT_OFFSET = 0x208
WDT_BASE = 0x40010000
CPUID = 0x410FC241

#: CoreSight components: base → (PIDR incl. PIDR4 in bits 32+, CIDR). Values of a real nRF52840.
_COMPONENTS = {
    0xE00FF000: (0x4000BB4C4, 0xB105100D),  # ROM table
    0xE000E000: (0x4000BB00C, 0xB105E00D),  # SCS (Cortex-M4)
    0xE0001000: (0x4003BB002, 0xB105E00D),  # DWT
    0xE0002000: (0x4002BB003, 0xB105E00D),  # FPB
    0xE0000000: (0x4003BB001, 0xB105E00D),  # ITM
    0xE0040000: (0x4000BB9A1, 0xB105900D),  # TPIU
    0xE0041000: (0x4000BB925, 0xB105900D),  # ETM
}
_ROM_ENTRIES = (0xFFF0F003, 0xFFF02003, 0xFFF03003, 0xFFF01003, 0xFFF41003, 0xFFF42003, 0)
_PPB_CONSTANTS = {
    0xE000ED00: CPUID,
    0xE000ED6C: 0x01111131,
    0xE000ED90: 0x800,  # MPU_TYPE: 8 regions
    0xE000EF40: 0x10110021,  # MVFR0: FPv4-SP
    0xE000EF44: 0x11000011,
    0xE000EF48: 0,
    0xE0001000: 0x40000000,  # DWT_CTRL: 4 comparators
    0xE0002000: 0x260,  # FP_CTRL: 6 code + 2 literal comparators
    0xE000E004: 0x1,  # ICTR
    0xE0040FC8: 0xCA1,  # TPIU DEVID
    0xE0040FCC: 0x11,
    0xE0041FCC: 0x13,
    0xE00FFFCC: 0x1,  # ROM MEMTYPE: system memory present
}


def _ppb_table() -> dict[int, int]:
    table: dict[int, int] = dict(_PPB_CONSTANTS)
    for base, (pidr, cidr) in _COMPONENTS.items():
        words = [(pidr >> 32) & 0xFF, 0, 0, 0]
        words += [(pidr >> (8 * i)) & 0xFF for i in range(4)]
        words += [(cidr >> (8 * i)) & 0xFF for i in range(4)]
        for i, w in enumerate(words):
            table[base + 0xFD0 + 4 * i] = w
    for i, entry in enumerate(_ROM_ENTRIES):
        table[0xE00FF000 + 4 * i] = entry
    return table


_PPB = _ppb_table()


def ficr_image(twin: Twin) -> bytes:
    """FICR contents: the twin's DEVICEID (which *is* its Particle device ID), part and variant."""
    ident = twin.identity
    ficr = bytearray(b"\xff" * FICR_SIZE)
    variant = int.from_bytes(ident.variant.encode("ascii")[:4].ljust(4, b"0"), "big")
    words = {
        0x010: 0x1000,  # CODEPAGESIZE
        0x014: 0x100,  # CODESIZE (pages)
        0x060: ident.deviceid0,
        0x064: ident.deviceid1,
        0x0A0: 0xFFFFFFFE,  # DEVICEADDRTYPE: random static
        0x0A4: ident.deviceid0 ^ 0x5A5A5A5A,
        0x0A8: (ident.deviceid1 & 0xFFFF) | 0xC000,
        0x100: 0x52840,  # INFO.PART
        0x104: variant,  # INFO.VARIANT, e.g. "AAD0"
        0x108: 0x2004,  # INFO.PACKAGE: QI
        0x10C: 0x100,  # INFO.RAM: 256 KB
        0x110: 0x400,  # INFO.FLASH: 1024 KB
    }
    for off, value in words.items():
        struct.pack_into("<I", ficr, off, value & 0xFFFFFFFF)
    return bytes(ficr)


class Nrf52840(CoreHooks):
    """One twin's MCU as seen from its debug port and its own core."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.ficr = ficr_image(twin)
        self.nvmc = Nvmc(twin, on_unplug=self._unplugged)
        self.core = Core(self, twin.flash, twin.uicr, self.ficr)
        self.dap = DebugPort(self)
        self.periph: dict[int, int] = {}
        self.scs: dict[int, int] = {}
        self.in_reset = False
        self.gone = False
        self._erase_unlock_kept = False
        self._reported: str | None = None
        self._fixup: tuple[int, bytes] | None = None
        self._faults_seen: Faults | None = None
        self.protected = self._approtect_in_uicr()
        self._attach_to_state()

    # ------------------------------------------------------------------ state
    def _approtect_in_uicr(self) -> bool:
        """The port's protection as the device is now (build code D: latched from UICR at reset;
        F: locked unless ERASEALL or the bootloader opened it since the last reset)."""
        return approtect.protected_now(self.twin)

    def _reset_relock(self) -> None:
        """Reset asserted: a hardened part forgets that its port was opened (but see :meth:`ctrl_ap_reset`)."""
        if self._erase_unlock_kept:
            return
        if self.twin.identity.hardened_approtect and self.twin.state.ap_open:
            self.twin.update_state(ap_open=False)

    def _attach_to_state(self) -> None:
        st = self.twin.state
        self.core.reset()
        if st.run_state in ("halted", "debug"):
            # A debugger halted this core earlier (maybe from another process): it is still in
            # Debug state with C_DEBUGEN and C_HALT set, which a new session reads back from DHCSR
            # and preserves — as on hardware, where the halt outlives the debugger's session.
            self.core.halt()
            self.core.ctrl |= C_DEBUGEN | C_HALT
        self.in_reset = st.run_state == "reset"
        self._reported = st.run_state

    def resync(self) -> None:
        """A probe is being opened: catch up with what other faces did meanwhile.

        If the device was reset or power-cycled through USB or by hand since the debugger last
        looked, the core is running firmware again; a plug-in also re-latches APPROTECT.
        """
        st = self.twin.state
        if st.run_state not in ("halted", "debug", "reset") and (self.core.halted or self.in_reset):
            self.in_reset = False
            self.core.reset()
            self.protected = self._approtect_in_uicr()
        elif self.twin.identity.hardened_approtect:
            self.protected = self._approtect_in_uicr()  # another face may have reset it since
        self._reported = st.run_state
        self.gone = False

    def _report(self) -> None:
        """Tell the device model what the debugger did to the core (only on change: it is a file)."""
        if self.in_reset:
            want = "reset"
        elif self.core.emulating:
            want = "debug"  # the core runs code the debugger loaded (a flash algorithm) right now
        elif self.core.halted:
            # halted, whatever stopped it: DFSR's sticky BKPT bit once made a core that had run a
            # flash algorithm read "debug" for good, so a finished SWD run showed as running code
            want = "halted"
        else:
            return  # firmware runs: the boot model already reported
        if want != self._reported:
            boot.hold(self.twin, want)
            self._reported = want

    def core_changed(self) -> None:
        self._report()

    def refresh_faults(self) -> None:
        """Before each DAP transfer: take up injected faults that changed (the NVMC's stuck cell and
        cable-pull count are read from the faults only when another faults object comes back)."""
        faults = self.twin.current_faults()
        if faults is not self._faults_seen:
            self._faults_seen = faults
            self.nvmc.refresh_faults(faults)

    def _unplugged(self) -> None:
        self.gone = True
        self.core.emulating = False
        self.core.uc.emu_stop()

    # ------------------------------------------------------------------ system bus (AHB)
    def bus_read(self, address: int, size: int) -> int:
        if self.protected:
            raise BusFault(address)
        if address < NRF_FLASH_SIZE:
            self.twin.clock.catch_up()  # the AHB waits while the NVMC is busy
            return int.from_bytes(self.twin.flash[address : address + size], "little")
        if NRF_FICR <= address < NRF_FICR + FICR_SIZE:
            off = address - NRF_FICR
            return int.from_bytes(self.ficr[off : off + size], "little")
        if NRF_UICR <= address < NRF_UICR + UICR_SIZE:
            off = address - NRF_UICR
            return int.from_bytes(self.twin.uicr[off : off + size], "little")
        if RAM_BASE <= address < RAM_BASE + RAM_SIZE:
            return int.from_bytes(self.core.read_ram(address, size), "little")
        if PERIPH_BASE <= address < PERIPH_BASE + PERIPH_SIZE:
            return self._lane(self.periph_read(address & ~3, 4), address, size)
        if PPB_BASE <= address < PPB_END:
            return self._lane(self.ppb_read(address & ~3), address, size)
        raise BusFault(address)

    @staticmethod
    def _lane(word: int, address: int, size: int) -> int:
        return (word >> (8 * (address & 3))) & ((1 << (8 * size)) - 1)

    def bus_write(self, address: int, size: int, value: int) -> None:
        if self.protected:
            raise BusFault(address)
        if is_nvm(address):
            self.twin.clock.catch_up()
            self.nvmc.program(address, size, value, cpu_running=self._cpu_running())
            self.nvmc.settle()
        elif RAM_BASE <= address < RAM_BASE + RAM_SIZE:
            self.core.write_ram(address, value.to_bytes(size, "little"))
        elif PERIPH_BASE <= address < PERIPH_BASE + PERIPH_SIZE:
            word = value << (8 * (address & 3)) if size < 4 else value
            self._periph_write(address & ~3, word, debugger=True)
        elif PPB_BASE <= address < PPB_END:
            self.ppb_write(address & ~3, value)
        elif NRF_FICR <= address < NRF_FICR + FICR_SIZE:
            return  # read-only, writes ignored
        else:
            raise BusFault(address)

    def read_block(self, address: int, nbytes: int) -> bytes | None:
        if self.protected:
            return None
        end = address + nbytes
        if end <= NRF_FLASH_SIZE:
            self.twin.clock.catch_up()
            return bytes(self.twin.flash[address:end])
        if RAM_BASE <= address and end <= RAM_BASE + RAM_SIZE:
            return self.core.read_ram(address, nbytes)
        if NRF_UICR <= address and end <= NRF_UICR + UICR_SIZE:
            return bytes(self.twin.uicr[address - NRF_UICR : end - NRF_UICR])
        return None

    def write_block(self, address: int, data: bytes) -> bool:
        if self.protected or not (RAM_BASE <= address and address + len(data) <= RAM_BASE + RAM_SIZE):
            return False
        self.core.write_ram(address, data)
        return True

    def _cpu_running(self) -> bool:
        """Is the CPU executing (so a debugger's NVMC write would not take)? A locked-up core is not:
        with no MBR it faulted at the first vector fetch and fetches nothing from flash."""
        return not self.core.halted and not self.in_reset and self.twin.state.run_state != "fault"

    # ------------------------------------------------------------------ peripherals
    def periph_read(self, address: int, size: int) -> int:
        # Hot path: the flash algorithm polls NVMC.READY after every word it stores.
        if self._fixup is not None:
            self.apply_fixup()
        elif address == NVMC_READY:
            return READY_VALUE
        base = address & ~3
        if base & ~0xFFF == NVMC_BASE:
            value = self.nvmc.read(base)
        elif base == WDT_BASE + 0x400:  # RUNSTATUS: the watchdog is not running
            value = 0
        elif base == WDT_BASE + 0x404:  # REQSTATUS
            value = 1
        elif base == WDT_BASE + 0x504:  # CRV reset value
            value = self.periph.get(base, 0xFFFFFFFF)
        else:
            value = self.periph.get(base, 0)
        return self._lane(value, address, size) if size < 4 else value

    def periph_write(self, address: int, size: int, value: int) -> None:
        if self._fixup is not None:
            self.apply_fixup()
        word = value << (8 * (address & 3)) if size < 4 else value
        self._periph_write(address & ~3, word, debugger=False)

    def _periph_write(self, address: int, value: int, *, debugger: bool) -> None:
        if address & ~0xFFF == NVMC_BASE:
            self.nvmc.write(address, value, cpu_running=debugger and self._cpu_running())
        else:
            self.periph[address] = value

    def ppb_read(self, address: int) -> int:
        v = self.core.read_reg(address)
        if v is not None:
            if address == DHCSR and v & S_HALT:
                # A real core halts only once its flash algorithm's NVMC work is done: the poll
                # that finds it halted comes no earlier. A realtime twin's core reads as running
                # (S_HALT clear, S_RETIRE_ST set: it retires instructions) until then, unless the
                # debugger itself asked for the halt (C_HALT).
                if not v & C_HALT and self.twin.clock.still_busy():
                    return (v & ~S_HALT) | S_RETIRE_ST
                self.twin.clock.catch_up()
            return v
        if address in _PPB:
            return _PPB[address]
        return self.scs.get(address, 0)

    def ppb_write(self, address: int, value: int) -> None:
        if self.core.write_reg(address, value):
            return
        if address not in _PPB:
            self.scs[address] = value

    # ------------------------------------------------------------------ core hooks
    def nvm_store(self, address: int, size: int, value: int) -> bool:
        """A CPU store into flash/UICR (its own store: erratum 184 does not apply).

        unicorn completes a write-protected store after this hook returns True, writing the raw
        value through to our mmap. So the NVMC's result (AND semantics, a stuck cell, WEN off) is
        written back as a fix-up before anything can observe the cell again: at the next store,
        the next peripheral access (the algorithm polls NVMC.READY after every word) or the stop.
        """
        if self._fixup is not None:
            self.apply_fixup()
        if address >= NRF_FLASH_SIZE and not is_nvm(address):
            return False
        # Most stores (into erased cells, WEN on) leave what unicorn writes: no fix-up to owe then.
        cells = self.nvmc.cpu_store(address, size, value)
        if cells is not None:
            self._fixup = (address, cells)
        return True

    def nvm_store_words(self, address: int, data: bytes) -> bool:
        if self._fixup is not None:
            self.apply_fixup()
        return self.nvmc.cpu_store_words(address, data)

    def constant_read(self, address: int) -> int | None:
        # READY/READYNEXT never change (operations complete at once), but a read owed as a fix-up
        # point is not free of effects.
        if self._fixup is None and address in (NVMC_READY, NVMC_READYNEXT):
            return READY_VALUE
        return None

    def apply_fixup(self) -> None:
        fix = self._fixup
        if fix is not None:
            self._fixup = None
            address, cells = fix
            if address < NRF_FLASH_SIZE:
                self.twin.flash[address : address + len(cells)] = cells
            else:
                off = address - NRF_UICR
                self.twin.uicr[off : off + len(cells)] = cells

    def core_stopped(self) -> None:
        self.apply_fixup()
        # The algorithm's word writes occupy the NVMC while the host carries the next page buffer.
        self.nvmc.settle(background=True, started=self.core.run_started)
        self._report()

    def system_reset(self, *, cause: str) -> None:
        """SYSRESETREQ, pin reset release, CTRL-AP reset: peripherals reset, APPROTECT re-latched."""
        self.nvmc.settle()
        self.twin.clock.catch_up()
        self.nvmc.config = 0
        self.periph.clear()
        self._reset_relock()
        self.protected = self._approtect_in_uicr()
        self.in_reset = False
        self.core.reset()
        if self.core.halted:
            self._report()
        else:
            self.firmware_runs(cause=cause)

    def firmware_runs(self, *, cause: str) -> None:
        boot.boot_device(self.twin, cause=cause)
        if self._erase_unlock_kept and not self.twin.state.ap_open:
            self.twin.update_state(ap_open=True)
        self.protected = self._approtect_in_uicr()  # an F part's bootloader may have opened the port
        self._reported = None

    # ------------------------------------------------------------------ pins and CTRL-AP
    def hold_reset(self, asserted: bool, *, cause: str = "pin-reset") -> None:
        if asserted:
            self.nvmc.settle()
            self.twin.clock.catch_up()
            self._reset_relock()
            self.in_reset = True
            self.core.emulating = False
            self._report()
        elif self.in_reset:
            self.system_reset(cause=cause)

    def ctrl_ap_reset(self, asserted: bool, *, closing_eraseall: bool = False) -> None:
        """CTRL-AP RESET. ``closing_eraseall``: issued while CTRL-AP.ERASEALL still reads 1.

        That is the close of Nordic's nWP-027 erase sequence (ERASEALL, wait, RESET 1/0, ERASEALL 0),
        which pyOCD's ``target_nRF52.py`` (contributed by Nordic) runs before writing UICR.APPROTECT
        = HwDisabled on a hardened part (``persist_unlock``): so that reset must leave the port the
        erase opened open. Every other reset re-locks an F part. The PS text itself was not at hand:
        this rule is read from that sequence.
        """
        self._erase_unlock_kept = closing_eraseall and self.twin.identity.hardened_approtect and self.twin.state.ap_open
        try:
            self.hold_reset(asserted, cause="ctrl-ap-reset")
        finally:
            if not asserted:
                self._erase_unlock_kept = False

    def ctrl_ap_erase_all(self) -> None:
        """ERASEALL: code flash, UICR and RAM are wiped and APPROTECT opens. External flash survives."""
        was_protected = self.protected
        self.nvmc.erase_all()
        self.core.clear_ram()
        self.protected = False
        if self.twin.identity.hardened_approtect:
            self.twin.update_state(ap_open=True)  # until the next reset
        self.twin.events.record("erase_all", via="ctrl-ap", was_locked=was_protected)

    # ------------------------------------------------------------------ teardown
    def release(self) -> None:
        self.core.release()


_chips: dict[Path, Nrf52840] = {}
_chips_lock = threading.Lock()


def chip_for(twin: Twin) -> Nrf52840:
    """The process's chip for ``twin`` (created on first use; shares the twin's lock)."""
    key = twin.path.resolve()
    with _chips_lock:
        chip = _chips.get(key)
        if chip is None or chip.twin is not twin:
            chip = _chips[key] = Nrf52840(twin)
        return chip


def drop_chip(twin: Twin) -> None:
    """Forget the chip (its RAM) — used when the twin's files are closed."""
    with _chips_lock:
        chip = _chips.pop(twin.path.resolve(), None)
    if chip is not None:
        chip.release()
