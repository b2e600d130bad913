"""The nRF52840 NVMC (non-volatile memory controller) over the twin's memory-mapped flash files.

nRF semantics that a flashing tool relies on, and that a naive simulator gets wrong:

* A write only clears bits (new = old AND value); only an erase sets them back to 1.
* Writes and erases need CONFIG.WEN / CONFIG.EEN; otherwise they are silently ignored.
* ERASEPAGE erases one 4 KB page, ERASEALL erases code flash *and* UICR, ERASEUICR only UICR.
* Erratum 184 (as modelled here): a debugger's NVMC writes/erases issued while the CPU runs do not
  take — a tool must halt the core first. Writes by the CPU itself (the flash algorithm) do.
* Injected faults: a ``stuck_word`` never programs (verify must catch it); ``unplug_after_bytes``
  pulls the cable once that many flash bytes were written.

Time is charged to the twin's clock in batches (per NVMC register operation, or when the core
stops) so the hot path — one callback per word the flash algorithm stores — stays cheap. That
callback takes a short path (:meth:`Nvmc.cpu_store`) whenever nothing but AND semantics can apply
(WEN on, no stuck cell, no cable-pull count to watch): the same result for less Python per word.
"""

from __future__ import annotations

from collections.abc import Callable

from station.domain import NRF_FLASH_SIZE, NRF_PAGE_SIZE, NRF_UICR
from station.sim.device import UICR_SIZE, Faults, Twin

NVMC_BASE = 0x4001E000
NVMC_READY = NVMC_BASE + 0x400
NVMC_READYNEXT = NVMC_BASE + 0x408
NVMC_CONFIG = NVMC_BASE + 0x504
NVMC_ERASEPAGE = NVMC_BASE + 0x508
NVMC_ERASEPCR1 = NVMC_BASE + 0x508  # legacy alias of ERASEPAGE
NVMC_ERASEALL = NVMC_BASE + 0x50C
NVMC_ERASEPCR0 = NVMC_BASE + 0x510
NVMC_ERASEUICR = NVMC_BASE + 0x514
NVMC_ERASEPAGEPARTIAL = NVMC_BASE + 0x518
NVMC_ICACHECNF = NVMC_BASE + 0x540

#: what NVMC.READY (and READYNEXT) reads: operations complete synchronously, their time charged to the clock
READY_VALUE = 1

CONFIG_WEN = 1
CONFIG_EEN = 2

UICR_END = NRF_UICR + UICR_SIZE


def is_nvm(address: int) -> bool:
    """Code flash or UICR: memory that only the NVMC can change."""
    return address < NRF_FLASH_SIZE or NRF_UICR <= address < UICR_END


class Nvmc:
    """NVMC registers plus program/erase on the twin's ``flash`` and ``uicr`` mmaps."""

    def __init__(self, twin: Twin, on_unplug: Callable[[], None]) -> None:
        self.twin = twin
        self._on_unplug = on_unplug
        self._flash = twin.flash
        self._config = 0
        self.icachecnf = 0
        self.stuck_word: int | None = None
        self.unplug_limit: int | None = None
        #: a CPU store into code flash needs nothing but AND semantics (see :meth:`cpu_store`)
        self._plain_stores = False
        #: work not yet charged to the clock
        self._pending_words = 0
        self._pending_bytes = 0
        self.stats = {"words": 0, "page_erases": 0, "erase_all": 0}

    @property
    def config(self) -> int:
        return self._config

    @config.setter
    def config(self, value: int) -> None:
        self._config = value
        self._update_plain_stores()

    def refresh_faults(self, faults: Faults | None = None) -> None:
        f = faults if faults is not None else self.twin.current_faults()
        self.stuck_word = f.stuck_word & ~3 if f.stuck_word is not None else None
        self.unplug_limit = f.unplug_after_bytes
        self._update_plain_stores()

    def _update_plain_stores(self) -> None:
        self._plain_stores = bool(self._config & CONFIG_WEN) and self.stuck_word is None and self.unplug_limit is None

    # ------------------------------------------------------------------ registers
    def read(self, address: int) -> int:
        if address in (NVMC_READY, NVMC_READYNEXT):
            return READY_VALUE
        if address == NVMC_CONFIG:
            return self._config
        if address == NVMC_ICACHECNF:
            return self.icachecnf
        return 0

    def write(self, address: int, value: int, *, cpu_running: bool = False) -> None:
        """A register write. ``cpu_running`` is True for debugger writes while the core runs."""
        if address == NVMC_CONFIG:
            self.config = value & 3
        elif address == NVMC_ICACHECNF:
            self.icachecnf = value & 0x101
        elif cpu_running or not (self.config & CONFIG_EEN):
            return  # erratum 184 / EEN off: the erase does not happen
        elif address == NVMC_ERASEPAGE:
            if value < NRF_FLASH_SIZE:
                self.erase_page(value & ~(NRF_PAGE_SIZE - 1))
        elif address == NVMC_ERASEALL and value & 1:
            self.erase_all()
        elif address == NVMC_ERASEUICR and value & 1:
            self.twin.uicr[:] = b"\xff" * UICR_SIZE
            self.twin.clock.nvmc_page_erase()

    # ------------------------------------------------------------------ program / erase
    def cpu_store(self, address: int, size: int, value: int) -> bytes | None:
        """A store by the CPU itself (a flash algorithm), which unicorn writes through as ``value``.

        Returns the cells to write back when the NVMC's result differs from ``value``, else None.
        The usual store (WEN on, no stuck cell, no cable-pull count to watch) takes the short path:
        only AND semantics apply, and the word is counted for the clock as :meth:`program` counts it.
        """
        if self._plain_stores and address < NRF_FLASH_SIZE:
            old = int.from_bytes(self._flash[address : address + size], "little")
            self._pending_words += 1
            self._pending_bytes += size
            new = old & value
            return None if new == value else new.to_bytes(size, "little")
        cells = self.program(address, size, value)
        return None if int.from_bytes(cells, "little") == value else cells

    def cpu_store_words(self, address: int, data: bytes) -> bool:
        """Word stores by the CPU of ``data`` from ``address`` up, as one block (a flash algorithm's
        page loop, see :data:`station.sim.core.COPY_LOOP`); False, and nothing done, unless each of
        them would take :meth:`cpu_store`'s short path. The same AND semantics and clock charge."""
        n = len(data)
        if not self._plain_stores or n & 3 or address + n > NRF_FLASH_SIZE:
            return False
        old = self._flash[address : address + n]
        self._flash[address : address + n] = (int.from_bytes(old, "little") & int.from_bytes(data, "little")).to_bytes(n, "little")
        self._pending_words += n // 4
        self._pending_bytes += n
        return True

    def program(self, address: int, size: int, value: int, *, cpu_running: bool = False) -> bytes:
        """A store of ``size`` bytes into flash or UICR (from the CPU or from the debugger).

        Returns what the cells hold afterwards (the old bytes when the write did not take).
        """
        if address < NRF_FLASH_SIZE:
            mem, off = self.twin.flash, address
        else:
            mem, off = self.twin.uicr, address - NRF_UICR
        old_bytes = bytes(mem[off : off + size])
        if cpu_running or not (self.config & CONFIG_WEN):
            return old_bytes
        if self.stuck_word is not None and (address & ~3) == self.stuck_word:
            value = (1 << (8 * size)) - 1  # the cell does not take the charge
        new = (int.from_bytes(old_bytes, "little") & value).to_bytes(size, "little")
        mem[off : off + size] = new
        self._pending_words += 1
        self._pending_bytes += size
        if self.unplug_limit is not None and self.twin.flash_bytes_written + self._pending_bytes >= self.unplug_limit:
            self.settle()
        return new

    def erase_page(self, base: int) -> None:
        self.twin.clock.catch_up()  # one NVMC operation at a time
        self.twin.flash[base : base + NRF_PAGE_SIZE] = b"\xff" * NRF_PAGE_SIZE
        self.stats["page_erases"] += 1
        self.twin.clock.nvmc_page_erase()

    def erase_all(self) -> None:
        """Code flash and UICR (never the external flash: it is behind QSPI, not the NVMC)."""
        self.twin.clock.catch_up()
        self.twin.flash[:] = b"\xff" * NRF_FLASH_SIZE
        self.twin.uicr[:] = b"\xff" * UICR_SIZE
        self.stats["erase_all"] += 1
        self.twin.clock.nvmc_erase_all()

    def settle(self, *, background: bool = False, started: float | None = None) -> None:
        """Charge pending word writes to the clock and apply the cable-pull fault.

        ``background``: the words were written by code on the core (a flash algorithm) that the
        host need not wait for until it polls the core again (see :meth:`DeviceClock.background`);
        ``started`` is when that code began to run (perf_counter).
        """
        words, nbytes = self._pending_words, self._pending_bytes
        if not words:
            return
        self._pending_words = self._pending_bytes = 0
        self.stats["words"] += words
        self.twin.clock.nvmc_words(words, background=background, started=started)
        if self.twin.count_flash_bytes(nbytes):
            self._on_unplug()
