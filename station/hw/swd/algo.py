"""Keep pyocd's flash algorithm loaded in target RAM for as long as a session can prove it is still there.

pyocd treats every ``Flash.init(operation)`` … ``Flash.cleanup()`` pair as a fresh start
(``pyocd/flash/flash.py``): ``cleanup`` marks the target unprepared, so the next ``init`` halts the
core, writes the algorithm into RAM again and calls its ``Init()`` with the stack pointer, static
base and xPSR set (``_call_function(init=True)``: eight core-register writes, a resume, a wait and
the result read back). The station makes many such pairs per device — the erase decision's and the
verify's on-target CRCs, pyocd's builder for each erase, program and boot-gate write — and every
``init`` after a ``cleanup`` or for another operation cost ~70 requests to a remote probe server
(``bench/remote_requests.py --by-call``), ~1,750 a device, for an ``Init()`` that on the nRF52840
algorithm is ``MOVS r0, #0; BX LR``.

:class:`KeptFlash` is pyocd's ``Flash`` with two changes, installed through pyocd's own extension
point for this (a region's ``flash_class``, set by the session delegate :class:`KeepAlgoLoaded`
before pyocd's ``create_flash`` builds the flash objects; only where the region would have used
plain ``Flash``, whose ``prepare_target``/``restore_target`` do nothing):

* ``cleanup`` calls the algorithm's ``UnInit`` (as pyocd does; the nRF52 algorithm has none) but
  leaves the target "prepared": the algorithm stays loaded and the registers it was started with
  stay set.
* ``init`` trusts what was left only when all of this holds, and otherwise does pyocd's full init
  (halt, load, ``Init()``):

  - this object's last algorithm call completed (halted on its return breakpoint, not timed out,
    not raised), and the core's ``run_token`` (pyocd's public counter of every resume, step and
    reset through its target API) has not moved since: nothing ran the core, no reset went through
    pyocd;
  - this object is still pyocd's ``current_flash_algo`` (no other flash algorithm was loaded over it);
  - nobody told it to forget (:meth:`KeptFlash.forget`: the station's resets that bypass pyocd's
    target API — nRESET held by the probe, the CTRL-AP's reset and mass erase);
  - DHCSR now says halted with no reset since it was last read (S_RESET_ST), one register read.
    Known limit: S_RESET_ST clears on any read of DHCSR, and pyocd and the station read it between
    algorithm calls (``is_halted`` before an on-target CRC), so a reset that neither pyocd nor the
    station made (the fixture's own reset line, a brownout that leaves the core halted) and that
    such a read consumed goes unseen here. The code read-back below and the verify of every write
    still stand; the station's own resets bypassing pyocd say so through ``forget``;
  - the algorithm's code reads back unchanged from RAM (one block read of 228 bytes): RAM
    overwritten by anything — a peripheral's DMA left running by firmware, another tool — is caught.

  With all of that, ``Init()`` is only skipped if the algorithm's ``Init`` is provably a no-op
  (its first two instructions are ``MOVS r0, #0; BX LR``) and it has no ``UnInit``: calling it
  again would change nothing but the registers it is started with, which the completed calls left
  as they were (AAPCS: SP is restored and R9 preserved across a call; the halted core is in Thumb
  state). For any other algorithm pyocd's own ``init`` runs from the prepared state (load skipped,
  ``Init`` called as pyocd would).

A new session (a reconnect, a new board) builds new flash objects, so nothing is kept across one.

Its builder (``get_flash_builder``, what the station programs through) is :class:`.runs.RunBuilder`
where :func:`.runs.plan_for` proves that consecutive pages can go to the algorithm as one call, and
pyocd's own otherwise (``coalesce`` off: always pyocd's).
"""

from __future__ import annotations

from typing import Any

from pyocd.coresight.cortex_m import CortexM
from pyocd.flash.flash import Flash

from station.hw.swd import runs

#: Thumb ``MOVS r0, #0`` then ``BX LR``: an Init() that returns 0 and touches nothing
_NOOP_INIT = (0x2000, 0x4770)


def init_is_noop(algo: dict[str, Any]) -> bool:
    """True when the algorithm's ``Init`` provably does nothing (or it has none) and it has no ``UnInit``."""
    if "pc_unInit" in algo:
        return False
    pc = algo.get("pc_init")
    if pc is None:
        return True
    offset = (pc & ~1) - algo["load_address"]
    words = algo["instructions"]
    if offset < 0 or offset % 2 or offset + 4 > len(words) * 4:
        return False
    halfwords = [(words[(offset + i) // 4] >> (16 * (((offset + i) % 4) // 2))) & 0xFFFF for i in (0, 2)]
    return tuple(halfwords) == _NOOP_INIT


class KeptFlash(Flash):  # type: ignore[misc]  # pyocd is untyped
    """pyocd's ``Flash``, keeping its algorithm loaded across ``cleanup``/``init`` (module docstring)."""

    def __init__(self, target: Any, flash_algo: Any) -> None:
        super().__init__(target, flash_algo)
        #: the core's run_token right after this object's last completed algorithm call, or None
        self._kept_token: int | None = None
        self._noop_init = flash_algo is not None and init_is_noop(flash_algo)
        #: for the record: full inits (algorithm written to RAM) and inits that found it kept
        self.loads = 0
        self.kept_inits = 0
        #: program consecutive pages in runs where :func:`.runs.plan_for` proves it safe (off: pyocd's
        #: page-by-page builder); the plan is made once, when the first builder is asked for
        self.coalesce = True
        self._plan: runs.RunPlan | bool | None = False

    def run_plan(self) -> runs.RunPlan | None:
        """Where this flash object's page runs go, or None: pyocd programs page by page."""
        if self._plan is False:
            self._plan = runs.plan_for(self)
        return self._plan if isinstance(self._plan, runs.RunPlan) else None

    def get_flash_builder(self) -> Any:
        """pyocd's builder, or :class:`.runs.RunBuilder` when :meth:`run_plan` has a plan."""
        plan = self.run_plan() if self.coalesce else None
        return runs.RunBuilder(self, plan) if plan is not None else super().get_flash_builder()

    def forget(self) -> None:
        """The target was reset, run or written by a path pyocd does not see: load again next time."""
        self._kept_token = None

    def init(self, operation: Any, address: int | None = None, clock: int = 0, reset: bool = False) -> None:
        if not reset and self._still_loaded():
            self.kept_inits += 1
            if self._noop_init:
                self._active_operation = operation
                return
            super().init(operation, address, clock, reset)  # prepared: pyocd skips the load, calls Init
            return
        self._kept_token = None
        self._did_prepare_target = False
        self._active_operation = None
        self.loads += 1
        try:
            super().init(operation, address, clock, reset)
        except BaseException:
            self._kept_token = None
            raise
        self._kept_token = self.target.run_token

    def cleanup(self) -> None:
        """``UnInit`` as pyocd's ``cleanup`` does; the algorithm stays loaded (``init`` checks it)."""
        self.uninit()

    def wait_for_completion(self, timeout: float | None = None) -> Any:
        self._kept_token = None
        result = super().wait_for_completion(timeout=timeout)
        if result != self.TIMEOUT_ERROR:
            self._kept_token = self.target.run_token
        return result

    def _still_loaded(self) -> bool:
        if not self._did_prepare_target or self._kept_token is None:
            return False
        if getattr(self.target.session.context_state, "current_flash_algo", None) is not self:
            return False
        if self.target.run_token != self._kept_token:
            return False
        dhcsr = self.target.read32(CortexM.DHCSR)
        if not dhcsr & CortexM.S_HALT or dhcsr & CortexM.S_RESET_ST:
            return False
        words = self.flash_algo["instructions"]
        return list(self.target.read_memory_block32(self.flash_algo["load_address"], len(words))) == list(words)


def forget(target: Any) -> None:
    """Tell every kept flash algorithm of ``target`` to load again (a reset pyocd's target API did not see)."""
    memory_map = getattr(target, "memory_map", None)
    if memory_map is None:
        return
    for region in memory_map.iter_matching_regions(is_flash=True):
        flash = getattr(region, "flash", None)
        if isinstance(flash, KeptFlash):
            flash.forget()


class KeepAlgoLoaded:
    """pyocd session delegate: flash regions get :class:`KeptFlash` (see the module docstring).

    Composes with another delegate's ``will_init_target`` (``inner``).
    """

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def will_init_target(self, target: Any, init_sequence: Any) -> None:
        if self.inner is not None and hasattr(self.inner, "will_init_target"):
            self.inner.will_init_target(target=target, init_sequence=init_sequence)
        memory_map = getattr(target, "memory_map", None)
        if memory_map is None:
            return
        for region in memory_map.iter_matching_regions(is_flash=True):
            if region.flash_class is Flash and region.algo is not None:
                region.flash_class = KeptFlash
