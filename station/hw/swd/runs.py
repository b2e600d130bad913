"""Program runs of consecutive flash pages with one flash-algorithm call each, where that is proven safe.

pyocd's builder programs page by page (``FlashBuilder._program_double_buffer`` in
``pyocd/flash/builder.py``): for each page it loads a page buffer, starts the algorithm's
``ProgramPage`` (``Flash.start_program_page_with_buffer``: the core's registers written and a
resume) and waits for it (``Flash.wait_for_completion``). Over a remote probe server that is ~39
requests to start a call and ~30 to wait for it, for ~200 pages a device
(``bench/remote_requests.py --by-call``): most of the station's CPU per device.

:class:`RunBuilder` is pyocd's builder with that one loop replaced: pyocd still decides what to
erase and which pages differ (smart flash, chip or sector erase, the page list), and the pages it
would program are programmed in the same order and with the same bytes, but consecutive ones go
to the algorithm as one *run* (``ProgramPage(address, n × page size, buffer)``), double buffered
as pyocd does it: the next run is loaded into the other buffer while the core programs this one.
It is used only when both of these hold; otherwise pyocd's builder programs page by page:

* **The algorithm's ProgramPage provably handles any size** (:func:`program_page_is_word_loop`):
  its code, the routine it calls and every literal they load are exactly those of pyocd's nRF52
  algorithms (``FLASH_ALGO`` in ``pyocd/target/builtin/target_nRF52840_xxAA.py``, byte-identical
  in the 52832 one and in the nRF51822's, whose NVMC is the same). That routine is, position-independently (all loads and branches PC-relative)::

      push {r3-r7, lr}; mov r5, r0; lsrs r6, r1, #2     r5 = flash address, r6 = size / 4 words
      ldr r0, =NVMC+0x500; movs r1, #1; mov r4, r2       r4 = the buffer
      str r1, [r0, #4]                                   NVMC.CONFIG = WEN
      ldr r7, =NVMC.READY
  loop: ldmia r4!, {r0}; stmia r5!, {r0}                one word from RAM to flash
  wait: ldr r0, [r7]; lsls r0, r0, #31; beq feed         until READY (feed: kick the watchdog, r0-r3 only)
        subs r6, r6, #1; bne loop
        ldr r0, =NVMC+0x500; movs r1, #0; str r1, [r0, #4]; mov r0, r1; pop {r3-r7, pc}

  a loop over ``size / 4`` words with no bound from the page size, returning 0. The NVMC takes a
  word write anywhere in erased flash while WEN is on (nRF52840 PS, NVMC "Writing to flash"), so
  ``n`` pages in one call write the same words in the same order as ``n`` calls.
* **The buffers fit in RAM beside everything else the algorithm and pyocd put there**
  (:func:`plan_runs`): two run buffers of at least two pages each, in the RAM region the algorithm
  is loaded into, page-aligned above the algorithm's code, its stack (``begin_stack``, growing down), its
  static base, pyocd's page buffers (and ``begin_data``'s, when given) and the CRC analyzer
  (``analyzer_address``: 0x600 bytes, the station's verify uses it): nothing any of those use is
  overwritten. A run is also kept short enough that its time by pyocd's own estimate
  (``program_page_weight`` per page) is at most half of ``flash.timeout.program``, which a run's
  wait keeps as pyocd's page wait does: a hung call is given up as soon as today.

What a user sees is unchanged: every page pyocd would program is programmed with the same bytes
(``override_security_bits`` applied page by page), the station verifies with on-target CRCs after
it as before, a failing call raises pyocd's ``FlashProgramFailure`` naming the run's first page,
and a cable pulled mid-run ends the wait as it ends a page's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyocd.core.exceptions import FlashProgramFailure
from pyocd.flash.builder import FlashBuilder

from station.hw.swd import pacing

#: what the analyzer needs after ``analyzer_address`` (pyocd/flash/flash.py, Flash's docstring)
ANALYZER_SIZE = 0x600

#: pyocd's nRF52 ``ProgramPage``, the watchdog feed it calls and their literal pool: 0x70 bytes from
#: ``pc_program_page`` (see the module docstring for the code)
NRF52_PROGRAM_PAGE = bytes.fromhex(
    "f8b505468e081348012114464160124f01cc01c53868c00706d0761ef8d10d48002141600846f8bd00f001f8f2e7"
    "0c4840680006000e0bd00a494968002907d009490a4ac30700d00a60091d4008f9d17047"
    "0000"  # padding to the literal pool
    "00e50140" "00e40140"  # NVMC + 0x500 (CONFIG at +4), NVMC.READY
    "00100010"  # UICR (used by EraseSector, loaded by nothing here)
    "00040140" "00050140" "00060140" "3546526e"  # WDT registers (0x40010400, 0x40010500, RR[0]), its reload value
)

#: the smallest run worth a plan: with fewer, pyocd's page-by-page programming is the same thing
MIN_RUN_PAGES = 2


def algo_bytes(algo: dict[str, Any]) -> bytes:
    return b"".join(int(w).to_bytes(4, "little") for w in algo["instructions"])


def program_page_is_word_loop(algo: dict[str, Any]) -> bool:
    """True only for an algorithm whose ``ProgramPage`` is the nRF52 word loop (module docstring)."""
    pc = algo.get("pc_program_page")
    if pc is None or not pc & 1:
        return False
    offset = (pc & ~1) - algo["load_address"]
    code = algo_bytes(algo)
    return offset >= 0 and code[offset : offset + len(NRF52_PROGRAM_PAGE)] == NRF52_PROGRAM_PAGE


@dataclass(frozen=True)
class RunPlan:
    """Two run buffers of ``pages`` pages of ``page_size`` bytes each."""

    buffers: tuple[int, int]
    pages: int
    page_size: int

    @property
    def run_bytes(self) -> int:
        return self.pages * self.page_size


def plan_runs(
    algo: dict[str, Any],
    ram_start: int,
    ram_end: int,
    page_size: int,
    *,
    timeout: float,
    page_weight: float,
) -> RunPlan | None:
    """Where two run buffers go and how many pages each takes, or None for page by page.

    ``ram_start``/``ram_end`` (exclusive) bound the RAM region the algorithm is loaded into. The
    buffers go above the highest thing the algorithm dict places in RAM (module docstring); the
    static base must lie below the stack's top, where pyocd's algorithms keep their data (its size
    is not in the dict, so data anywhere else leaves no RAM known to be free).
    """
    if not program_page_is_word_loop(algo) or page_size <= 0 or page_size % 4:
        return None
    load = algo["load_address"]
    code_end = load + 4 * len(algo["instructions"])
    stack_top = algo["begin_stack"]
    static_base = algo["static_base"]
    if not (load <= static_base < stack_top):
        return None
    ends = [code_end, stack_top]
    ends += [b + page_size for b in algo.get("page_buffers", [])]
    if "begin_data" in algo:
        ends.append(algo["begin_data"] + page_size * max(1, len(algo.get("page_buffers", []))))
    if algo.get("analyzer_supported"):
        ends.append(algo["analyzer_address"] + ANALYZER_SIZE)
    if "end_stack" in algo and algo["end_stack"] is not None:
        ends.append(algo["end_stack"] + 4)  # the canary word
    starts = [load, *algo.get("page_buffers", [])]
    if algo.get("analyzer_supported"):
        starts.append(algo["analyzer_address"])
    if min(starts) < ram_start or max(ends) > ram_end:
        return None
    # page-aligned, as pyocd's page buffers are: a page write then stays inside one MEM-AP TAR
    # auto-increment block (1 KB or more) per 1 KB, so pyocd sends it in as few requests as theirs
    free = -(-max(ends) // page_size) * page_size
    by_ram = (ram_end - free) // (2 * page_size)
    by_time = int(timeout / (2 * page_weight)) if page_weight > 0 else by_ram
    pages = min(by_ram, by_time)
    if pages < MIN_RUN_PAGES:
        return None
    return RunPlan(buffers=(free, free + pages * page_size), pages=pages, page_size=page_size)


def plan_for(flash: Any) -> RunPlan | None:
    """:func:`plan_runs` for a pyocd ``Flash`` object of a session (its region, target RAM, options)."""
    algo, region = flash.flash_algo, flash.region
    if algo is None or region is None or not flash.is_double_buffering_supported:
        return None
    ram = flash.target.memory_map.get_region_for_address(algo["load_address"])
    if ram is None or not ram.is_ram:
        return None
    return plan_runs(
        algo,
        ram.start,
        ram.end + 1,
        region.page_size,
        timeout=flash.target.session.options.get("flash.timeout.program"),
        page_weight=region.program_page_weight,
    )


class RunBuilder(FlashBuilder):  # type: ignore[misc]  # pyocd is untyped
    """pyocd's ``FlashBuilder`` programming consecutive pages in runs (module docstring)."""

    def __init__(self, flash: Any, plan: RunPlan) -> None:
        super().__init__(flash)
        self.plan = plan
        #: for the record: ProgramPage calls made and pages they programmed
        self.runs = 0
        self.run_pages = 0

    def _runs(self) -> list[list[Any]]:
        """The pages pyocd's double-buffered loop would program, in its order, cut into runs.

        While the flash's pacer has not learnt how long ``ProgramPage`` takes, the first run is one
        page: it teaches the time per byte (:meth:`.pacing.Pacer.per_byte`), so that no long run is
        polled unpaced from start to end.
        """
        runs: list[list[Any]] = []
        first = 1 if self._learning() else None
        for page in self.page_list:
            if page.same:
                continue
            last = runs[-1] if runs else None
            limit = first if first is not None and len(runs) == 1 else self.plan.pages
            if (
                last is not None
                and len(last) < limit
                and last[-1].addr + last[-1].size == page.addr
                and sum(p.size for p in last) + page.size <= self.plan.run_bytes
            ):
                last.append(page)
            else:
                runs.append([page])
        return runs

    def _learning(self) -> bool:
        """The flash is paced and its pacer does not know yet how long ProgramPage takes per byte."""
        pc = self.flash.flash_algo["pc_program_page"]
        return pacing.paced(self.flash) and not pacing.knows_per_byte(self.flash, pc)

    def _load_run(self, buffer: int, pages: list[Any]) -> None:
        """Each page into its place in the run buffer, one memory write a page as pyocd's
        ``load_page_buffer`` makes it: a transient SWD fault is retried by re-sending one page
        (:mod:`.transient` retries a MEM-AP block whole), not a 116 KB run."""
        erased = self.flash.region.erased_byte_value
        offset = 0
        for page in pages:
            data = bytes(self.flash.override_security_bits(page.addr, page.data))
            self.flash.target.write_memory_block8(buffer + offset, data + bytes([erased]) * (page.size - len(data)))
            offset += page.size

    def _start_run(self, buffer: int, address: int, size: int) -> None:
        assert self.flash._active_operation == self.flash.Operation.PROGRAM
        self.flash._call_function(self.flash.flash_algo["pc_program_page"], address, size, buffer)

    def _program_double_buffer(self, progress_cb: Any = None) -> None:
        runs = self._runs()
        if not runs:
            return
        flash = self.flash
        timeout = flash.target.session.options.get("flash.timeout.program")
        program_weight = sum(
            page.get_program_weight()
            for sector in self.sector_list if sector.are_any_pages_not_same()
            for page in sector.page_list
        )
        progress = 0.0
        buffers = self.plan.buffers
        current = 0
        learning = self._learning()
        flash.init(flash.Operation.PROGRAM)
        self._load_run(buffers[current], runs[0])
        for i, run in enumerate(runs):
            address = run[0].addr
            self._start_run(buffers[current], address, sum(p.size for p in run))
            # a run the pacer learns from is waited for before the next is loaded: loading a longer
            # run would outlast it, and a call found over at its first poll teaches nothing
            overlap = i + 1 < len(runs) and not (learning and i == 0)
            if overlap:
                self._load_run(buffers[1 - current], runs[i + 1])
            result = flash.wait_for_completion(timeout=timeout)
            if result == flash.TIMEOUT_ERROR:
                raise FlashProgramFailure("flash program page timeout", address=address, result_code=result)
            if result != 0:
                raise FlashProgramFailure("flash program page failure", address=address, result_code=result)
            self.runs += 1
            self.run_pages += len(run)
            if not overlap and i + 1 < len(runs):
                self._load_run(buffers[1 - current], runs[i + 1])
            current = 1 - current
            progress += sum(p.get_program_weight() for p in run)
            if progress_cb is not None and program_weight > 0:
                progress_cb(progress / program_weight)
        flash.uninit()
