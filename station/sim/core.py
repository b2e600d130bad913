"""The Cortex-M4 core of a twin: unicorn for execution, Python for the debug registers.

Only code a debugger loads into RAM (a flash algorithm, pyocd's CRC analyzer) is executed; the
firmware in flash is modelled by :mod:`station.sim.boot`. So the core is in one of these modes:

* ``halted``   — in Debug state (C_HALT, a BKPT, a vector catch, a step).
* ``emulating`` — running debugger-loaded code in unicorn, a slice at a time, advanced whenever
  the debugger polls DHCSR (that is when a real debugger would see progress).
* ``firmware`` — running the firmware from flash: modelled, not executed.

unicorn notes (see shared/research/pyocd-twin.md): the CPU model must be set to Cortex-M4 *before*
anything else (UC_MODE_MCLASS silently selects an M33); BKPT arrives as interrupt 7 and leaves the
PC on the instruction, exactly like a debug halt.

One idiom is not run instruction by instruction: the word loop of pyocd's nRF52 ProgramPage
(:data:`COPY_LOOP`), carried out at once where nothing in it could go otherwise (unicorn runs it
when something could), since per word it would cost two Python callbacks.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import threading
import time
from typing import Any

from unicorn import (
    UC_ARCH_ARM,
    UC_HOOK_CODE,
    UC_HOOK_INTR,
    UC_HOOK_MEM_WRITE_PROT,
    UC_MODE_THUMB,
    UC_PROT_ALL,
    UC_PROT_EXEC,
    UC_PROT_READ,
    Uc,
    UcError,
)
from unicorn import arm_const as A

LOG = logging.getLogger(__name__)

# unicorn's engines are not safe to run concurrently in one process (a segfault inside emu_start was seen
# with eight slots' twins emulating flash algorithms at once; unicorn-engine/unicorn#2264 reports the same
# class of failure). Emulation slices are short, so the twins of one process take turns; twins in their own
# processes (station sim serve) still run in parallel.
_EMULATION = threading.RLock()

RAM_BASE = 0x20000000
RAM_SIZE = 0x40000
PERIPH_BASE = 0x40000000
PERIPH_SIZE = 0x100000
#: instructions per emulation slice (one DHCSR poll); the nRF flash algorithm's program_page is ~10k
SLICE_INSNS = 2_000_000

DHCSR = 0xE000EDF0
DCRSR = 0xE000EDF4
DCRDR = 0xE000EDF8
DEMCR = 0xE000EDFC
DFSR = 0xE000ED30
AIRCR = 0xE000ED0C
DBGKEY = 0xA05F
VECTKEY = 0x05FA

C_DEBUGEN, C_HALT, C_STEP, C_MASKINTS = 1, 2, 4, 8
S_REGRDY, S_HALT, S_SLEEP, S_LOCKUP = 1 << 16, 1 << 17, 1 << 18, 1 << 19
S_RETIRE_ST, S_RESET_ST = 1 << 24, 1 << 25
DFSR_HALTED, DFSR_BKPT, DFSR_VCATCH = 1, 2, 8
VC_CORERESET = 1

#: The word loop of the ProgramPage routine in pyocd's nRF52 flash algorithms (``FLASH_ALGO`` in
#: pyocd/target/builtin/target_nRF52840_xxAA.py, and the 52832/52833 ones), Thumb code:
#:
#:   loop: ldmia r4!, {r0}    next word of the page buffer in RAM
#:         stmia r5!, {r0}    store it into flash: the NVMC programs it
#:   wait: ldr   r0, [r7]     NVMC.READY
#:         lsls  r0, r0, #31
#:         beq   feed         not ready: feed the watchdog, back to wait
#:         subs  r6, r6, #1   words left
#:         bne   loop
#:
#: Run by unicorn it costs two Python callbacks per word (the store into write-protected flash, the
#: READY read), ~200 k a device. :meth:`Core._on_copy_loop` carries out the whole loop at once
#: instead, when nothing in it can go otherwise than that loop would (see there).
COPY_LOOP = bytes.fromhex("01cc" "01c5" "3868" "c007" "06d0" "761e" "f8d1")
#: how far past the address the debugger starts code at the loop is looked for (ProgramPage: 16 bytes)
COPY_LOOP_SCAN = 0x100
#: NZCV after the loop's last ``subs r6, r6, #1`` (1 - 1 = 0): Z and C set
_NZCV_LOOP_DONE = 0b0110 << 28

#: a store's value as unicorn passes it (int64) cut to the store's width
_SIZE_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: 0xFFFFFFFFFFFFFFFF}

#: DCRSR REGSEL → unicorn register
_REGS: dict[int, int] = {i: getattr(A, f"UC_ARM_REG_R{i}") for i in range(13)}
_REGS.update(
    {
        13: A.UC_ARM_REG_SP,
        14: A.UC_ARM_REG_LR,
        15: A.UC_ARM_REG_PC,
        16: A.UC_ARM_REG_XPSR,
        17: A.UC_ARM_REG_MSP,
        18: A.UC_ARM_REG_PSP,
        33: A.UC_ARM_REG_FPSCR,
    }
)
_REGS.update({64 + i: A.UC_ARM_REG_S0 + i for i in range(32)})


class CoreHooks:
    """What the core needs from the rest of the chip (the chip implements these)."""

    def periph_read(self, address: int, size: int) -> int:
        raise NotImplementedError

    def periph_write(self, address: int, size: int, value: int) -> None:
        raise NotImplementedError

    def nvm_store(self, address: int, size: int, value: int) -> bool:
        """A CPU store into flash/UICR; True if handled (the address is NVM)."""
        raise NotImplementedError

    def nvm_store_words(self, address: int, data: bytes) -> bool:
        """CPU word stores of ``data`` into flash from ``address`` up, in order, each one waited
        for; True if done, False if the core must make them one by one (then nothing happened)."""
        return False

    def constant_read(self, address: int) -> int | None:
        """What a CPU load from this peripheral address returns now, if loading it changes nothing
        (a status register that cannot change while the core runs); None otherwise."""
        return None

    def core_stopped(self) -> None:
        """The core halted or faulted after running (flush batched work, e.g. NVMC timing)."""

    def core_changed(self) -> None:
        """The debugger changed the core's run state (halt, resume, step, reset)."""

    def system_reset(self, *, cause: str) -> None:
        raise NotImplementedError

    def firmware_runs(self, *, cause: str) -> None:
        """The debugger let the core run the firmware in flash: the boot model decides what."""
        raise NotImplementedError


class Core:
    """unicorn Cortex-M4 plus DHCSR/DCRSR/DCRDR/DEMCR/DFSR/AIRCR, over the twin's flash buffers."""

    def __init__(self, hooks: CoreHooks, flash_buf: Any, uicr_buf: Any, ficr: bytes) -> None:
        self.hooks = hooks
        uc = self.uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB)
        uc.ctl_set_cpu_model(A.UC_CPU_ARM_CORTEX_M4)
        # Flash and UICR are the twin's shared mmaps: read-only to unicorn, stores trapped to the NVMC.
        self._flash_ref = ctypes.c_char.from_buffer(flash_buf)
        self._uicr_ref = ctypes.c_char.from_buffer(uicr_buf)
        uc.mem_map_ptr(0, len(flash_buf), UC_PROT_READ | UC_PROT_EXEC, ctypes.addressof(self._flash_ref))
        uc.mem_map(0x10000000, 0x1000, UC_PROT_READ)
        uc.mem_write(0x10000000, ficr)
        uc.mem_map_ptr(0x10001000, len(uicr_buf), UC_PROT_READ, ctypes.addressof(self._uicr_ref))
        uc.mem_map(RAM_BASE, RAM_SIZE, UC_PROT_ALL)
        # The flash algorithm stores a word and polls NVMC.READY ~200 k times a device: these two
        # callbacks are the twin's hottest Python, so they go straight to the chip's handlers.
        periph_read, periph_write, nvm_store = hooks.periph_read, hooks.periph_write, hooks.nvm_store

        def mmio_read(uc: Uc, offset: int, size: int, data: object) -> int:
            return periph_read(PERIPH_BASE + offset, size)

        def mmio_write(uc: Uc, offset: int, size: int, value: int, data: object) -> None:
            periph_write(PERIPH_BASE + offset, size, value)

        def on_write_prot(uc: Uc, access: int, address: int, size: int, value: int, data: object) -> bool:
            return nvm_store(address, size, value & _SIZE_MASK[size])

        uc.mmio_map(PERIPH_BASE, PERIPH_SIZE, mmio_read, None, mmio_write, None)
        uc.hook_add(UC_HOOK_MEM_WRITE_PROT, on_write_prot)
        uc.hook_add(UC_HOOK_INTR, self._on_intr)
        self.ctrl = 0  # DHCSR C_* bits
        self.halted = False
        self.run_started = 0.0  # perf_counter when the last emulation slice began (see chip.core_stopped)
        self.emulating = False
        self.firmware = True
        self.lockup = False
        self.reset_st = False
        self.retire_st = False
        self.dcrdr = 0
        self.demcr = 0
        self.dfsr = 0
        self.aircr_prigroup = 0
        self._bkpt = False
        self._fault: str | None = None
        #: copy-loop head address → its code hook; heads whose code was overwritten, to unhook
        self._copy_loops: dict[int, int] = {}
        self._stale_loops: list[int] = []
        self._stepping = False
        #: COPY_LOOP is carried out at once where found (off: unicorn runs it, for comparison)
        self.copy_loops = True
        self.stats = {"slices": 0, "copy_loops": 0}

    def release(self) -> None:
        """Drop the buffer exports so the twin's mmaps can be closed."""
        self.uc.mem_unmap(0, 0x100000)
        self.uc.mem_unmap(0x10001000, 0x1000)
        del self._flash_ref, self._uicr_ref

    # ------------------------------------------------------------------ unicorn callbacks
    def _watch_copy_loops(self, pc: int) -> None:
        """The debugger starts code at ``pc``: hook a :data:`COPY_LOOP` just past it.

        Before the code runs, so the hook is in the code unicorn translates (a hook added later does
        not reach code already translated; the cache is dropped for the loop in case it was).
        """
        if not self.copy_loops:
            return
        with _EMULATION:  # hooks and the translation cache are the engine's: not while another one runs
            self._hook_copy_loops(pc)

    def _hook_copy_loops(self, pc: int) -> None:
        start = pc & ~1
        code = bytes(self.uc.mem_read(start, min(COPY_LOOP_SCAN, RAM_BASE + RAM_SIZE - start)))
        at = code.find(COPY_LOOP)
        while at >= 0:
            head = start + at
            if not at & 1 and head not in self._copy_loops:
                self._copy_loops[head] = self.uc.hook_add(UC_HOOK_CODE, self._on_copy_loop, begin=head, end=head)
                self.uc.ctl_remove_cache(head, head + len(COPY_LOOP))
            at = code.find(COPY_LOOP, at + 1)

    def _on_copy_loop(self, uc: Uc, address: int, size: int, data: object) -> None:
        """The core is at a :data:`COPY_LOOP` head: carry out all its iterations at once.

        Exactly what the instructions would do, or nothing (unicorn then runs them, as without the
        hook): the page buffer must lie in RAM and both pointers be word-aligned (an unaligned
        LDM/STM faults), the count be at least 1, r7 point at a register whose load changes nothing
        and reads ready (the chip: NVMC.READY, no fix-up owed), and the chip must take the words as
        one block (its NVMC: WEN on, no stuck cell, no cable-pull count, code flash only). The words
        are programmed with the NVMC's AND semantics and charged to its clock like single stores.
        The registers end as the loop leaves them: r0 = READY << 31 (the last ``lsls``), r4/r5
        past the block, r6 = 0, flags from the last ``subs`` (Z, C), the PC after the ``bne``.
        """
        if not self.copy_loops or self._stepping:  # a debugger's step is one instruction, not the loop
            return
        if bytes(uc.mem_read(address, len(COPY_LOOP))) != COPY_LOOP:
            self._stale_loops.append(address)  # other code there now: unhooked after this slice
            return
        src, dst, count, ready_at = (uc.reg_read(r) for r in (A.UC_ARM_REG_R4, A.UC_ARM_REG_R5, A.UC_ARM_REG_R6, A.UC_ARM_REG_R7))
        nbytes = 4 * count
        if count < 1 or (src | dst) & 3 or not (RAM_BASE <= src and src + nbytes <= RAM_BASE + RAM_SIZE):
            return
        ready = self.hooks.constant_read(ready_at)
        if ready is None or not ready & 1:
            return
        if not self.hooks.nvm_store_words(dst, bytes(uc.mem_read(src, nbytes))):
            return
        uc.reg_write(A.UC_ARM_REG_R0, (ready << 31) & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_R4, src + nbytes)
        uc.reg_write(A.UC_ARM_REG_R5, (dst + nbytes) & 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_R6, 0)
        uc.reg_write(A.UC_ARM_REG_APSR_NZCV, _NZCV_LOOP_DONE)
        uc.reg_write(A.UC_ARM_REG_PC, (address + len(COPY_LOOP)) | 1)
        self.stats["copy_loops"] += 1

    def _unhook_stale_loops(self) -> None:
        while self._stale_loops:
            head = self._stale_loops.pop()
            handle = self._copy_loops.pop(head, None)
            if handle is not None:
                self.uc.hook_del(handle)

    def _on_intr(self, uc: Uc, intno: int, data: object) -> None:
        if intno == 7:  # EXCP_BKPT: a halting debug event
            self._bkpt = True
        else:
            self._fault = f"exception {intno}"
        uc.emu_stop()

    # ------------------------------------------------------------------ memory for the debugger
    def read_ram(self, address: int, size: int) -> bytes:
        return bytes(self.uc.mem_read(address, size))

    def write_ram(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, data)

    def clear_ram(self) -> None:
        self.uc.mem_write(RAM_BASE, bytes(RAM_SIZE))

    # ------------------------------------------------------------------ execution
    def _run(self, count: int) -> None:
        uc = self.uc
        self._bkpt = False
        self._fault = None
        self.stats["slices"] += 1
        self._stepping = count == 1
        try:
            with _EMULATION:
                self.run_started = time.perf_counter()
                try:
                    uc.emu_start(uc.reg_read(A.UC_ARM_REG_PC) | 1, 0xFFFFFFFF, count=count)
                finally:
                    self._unhook_stale_loops()
        except UcError as exc:
            self._fault = str(exc)
        self.retire_st = True
        if self._bkpt:
            self._enter_debug(DFSR_BKPT)
        elif self._fault is not None:
            LOG.debug("core fault at pc=%#x: %s", uc.reg_read(A.UC_ARM_REG_PC), self._fault)
            self.lockup = True
            self.emulating = False
        self.hooks.core_stopped()

    def _enter_debug(self, reason: int) -> None:
        self.halted = True
        self.emulating = False
        self.firmware = False
        self.lockup = False
        self.dfsr |= reason

    def poll(self) -> None:
        """The debugger looked at DHCSR: let emulated code make progress."""
        if self.emulating and not self.halted and not self.lockup:
            self._run(SLICE_INSNS)

    def halt(self) -> None:
        if not self.halted:
            self._enter_debug(DFSR_HALTED)

    def resume(self, *, cause: str = "swd-resume") -> None:
        """Leave Debug state. Code in RAM is emulated; code in flash is the firmware (modelled)."""
        self.halted = False
        pc = self.uc.reg_read(A.UC_ARM_REG_PC)
        if pc >= RAM_BASE and pc < RAM_BASE + RAM_SIZE and self.ctrl & C_DEBUGEN:
            self.emulating = True
            self.firmware = False
            self._watch_copy_loops(pc)
            self._run(SLICE_INSNS)
        else:
            self.emulating = False
            self.firmware = True
            self.hooks.firmware_runs(cause=cause)

    def step(self) -> None:
        self._run(1)
        if not self._bkpt:
            self._enter_debug(DFSR_HALTED)

    def reset(self) -> None:
        """Core reset: registers from the vector table; halt on VC_CORERESET if debug is enabled."""
        uc = self.uc
        for i in range(13):
            uc.reg_write(_REGS[i], 0)
        sp, pc = struct.unpack("<II", bytes(uc.mem_read(0, 8)))
        uc.reg_write(A.UC_ARM_REG_MSP, sp & ~3)
        uc.reg_write(A.UC_ARM_REG_LR, 0xFFFFFFFF)
        uc.reg_write(A.UC_ARM_REG_PC, pc & ~1)
        uc.reg_write(A.UC_ARM_REG_XPSR, 0x01000000)
        self.reset_st = True
        self.lockup = False
        self.emulating = False
        self.halted = False
        self.ctrl &= ~(C_HALT | C_STEP)
        self.dfsr = 0
        if (self.demcr & VC_CORERESET) and (self.ctrl & C_DEBUGEN):
            self._enter_debug(DFSR_VCATCH)
        else:
            self.firmware = True

    # ------------------------------------------------------------------ debug registers
    def read_reg(self, address: int) -> int | None:
        """SCS debug register read, or None if ``address`` is not one of them."""
        if address == DHCSR:
            self.poll()
            v = (self.ctrl & 0x2F) | S_REGRDY
            if self.halted:
                v |= S_HALT
            if self.lockup:
                v |= S_LOCKUP
            if self.retire_st:
                v |= S_RETIRE_ST
            if self.reset_st:
                v |= S_RESET_ST
            self.retire_st = self.reset_st = False
            return v
        if address == DCRDR:
            return self.dcrdr
        if address == DEMCR:
            return self.demcr
        if address == DFSR:
            return self.dfsr
        if address == AIRCR:
            return 0xFA050000 | self.aircr_prigroup
        return None

    def write_reg(self, address: int, value: int) -> bool:
        """SCS debug register write; False if ``address`` is not one of them."""
        if address == DHCSR:
            self._write_dhcsr(value)
            self.hooks.core_changed()
        elif address == DCRSR:
            self._transfer_register(value)
        elif address == DCRDR:
            self.dcrdr = value
        elif address == DEMCR:
            self.demcr = value
        elif address == DFSR:
            self.dfsr &= ~value
        elif address == AIRCR:
            if (value >> 16) == VECTKEY:
                self.aircr_prigroup = value & 0x700
                if value & 0x4:  # SYSRESETREQ
                    self.hooks.system_reset(cause="swd-reset")
                elif value & 0x1:  # VECTRESET (core only)
                    self.reset()
                self.hooks.core_changed()
        else:
            return False
        return True

    def _write_dhcsr(self, value: int) -> None:
        if (value >> 16) != DBGKEY:
            return
        was_halted = self.halted
        self.ctrl = value & 0x2F
        if not value & C_DEBUGEN:
            # Debug disabled: the firmware runs. From code in RAM, the next BKPT without a debugger
            # is a HardFault that the firmware handles with a reset: the firmware runs either way.
            self.ctrl = 0
            if not self.firmware:
                self.halted = False
                self.emulating = False
                self.firmware = True
                self.hooks.firmware_runs(cause="swd-resume")
            return
        if value & C_HALT:
            self.halt()
        elif value & C_STEP and was_halted:
            self.step()
        elif was_halted:
            self.dfsr = 0
            self.resume()

    def _transfer_register(self, value: int) -> None:
        if not self.halted:
            return
        sel = value & 0x7F
        write = bool(value & (1 << 16))
        uc = self.uc
        if sel == 20:  # CONTROL / FAULTMASK / BASEPRI / PRIMASK packed
            if write:
                d = self.dcrdr
                uc.reg_write(A.UC_ARM_REG_PRIMASK, d & 1)
                uc.reg_write(A.UC_ARM_REG_BASEPRI, (d >> 8) & 0xFF)
                uc.reg_write(A.UC_ARM_REG_FAULTMASK, (d >> 16) & 1)
                uc.reg_write(A.UC_ARM_REG_CONTROL, (d >> 24) & 7)
            else:
                self.dcrdr = (
                    uc.reg_read(A.UC_ARM_REG_PRIMASK)
                    | uc.reg_read(A.UC_ARM_REG_BASEPRI) << 8
                    | uc.reg_read(A.UC_ARM_REG_FAULTMASK) << 16
                    | uc.reg_read(A.UC_ARM_REG_CONTROL) << 24
                )
            return
        reg = _REGS.get(sel)
        if reg is None:
            if not write:
                self.dcrdr = 0
            return
        if write:
            v = self.dcrdr & ~1 if sel == 15 else self.dcrdr
            uc.reg_write(reg, v)
        else:
            self.dcrdr = uc.reg_read(reg) & 0xFFFFFFFF

    def register(self, sel: int) -> int:
        """Read a core register by DCRSR REGSEL (for tests and the chip's own checks)."""
        return int(self.uc.reg_read(_REGS[sel])) & 0xFFFFFFFF

