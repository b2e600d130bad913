"""One slot's SWD link: a pyocd session, and the operations the pipeline calls on it.

This class holds the session's lifecycle and the locked-chip guard; each concern it calls on lives
in its own module (:mod:`.session`, :mod:`.recovery`, :mod:`.erase_plan`, :mod:`.preserve`,
:mod:`.verify`). Run control goes through pyocd's target API (``halt``, ``reset``,
``reset_and_halt``, ``get_state``, ``get/set_vector_catch``), not through DHCSR/DEMCR writes.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from station.domain import (
    NRF_FICR_DEVICEID0,
    NRF_FICR_DEVICEID1,
    NRF_PAGE_SIZE,
    NRF_UICR_APPROTECT,
    UICR_APPROTECT_ENABLED,
    FlashImage,
    gen3_device_id,
)
from station.errors import DeviceGone, DeviceLocked, ProbeGone, TransportError, VerifyError
from station.hw.interfaces import EraseStrategy, FlashReport, ProgressFn, no_progress
from station.hw.swd import algo, erase_plan, pacing, preserve, recovery, remote
from station.hw.swd.session import (
    DEFAULT_FREQUENCY,
    SESSION_OPEN_LOCK,
    SkipSvd,
    call,
    close_quietly,
    innermost_pyocd_error,
    pyocd_modules,
    session_options,
    translate,
)
from station.hw.swd.transient import RetryBudget, RetryTransientFaults
from station.hw.swd.verify import block_crcs, page_crcs, verify_images

LOG = logging.getLogger(__name__)

#: whole-session opens before a target that keeps faulting during discovery is reported
OPEN_TRIES = 3


def _target_api() -> Any:
    """pyocd's ``Target`` (its ``State`` and ``VectorCatch`` enums), imported lazily like the rest."""
    from pyocd.core.target import Target

    return Target


def incomplete(session: Any) -> str:
    """What a station needs of an opened session and pyocd did not build, or ``""``.

    pyocd's discovery logs a faulting access and carries on, so ``open()`` can return a target
    without a core, a core whose register map was never read (later "KeyError('register pc')"),
    or a core without the FPB/DWT it drives breakpoints and watchpoints through.
    """
    target = getattr(session, "target", None)
    if target is None:
        return "pyocd built no target"
    if recovery.ctrl_ap(target) is None:
        return "the nRF CTRL-AP was not found"
    core = getattr(target, "selected_core", None)
    if core is None:
        return "no CPU core was found"
    registers = getattr(getattr(core, "core_registers", None), "by_name", {})
    if "pc" not in registers:
        return "the CPU core's registers were not read"
    lacking = [name.upper() for name in ("fpb", "dwt") if getattr(core, name, None) is None]
    if lacking:
        return f"the core's {' and '.join(lacking)} {'was' if len(lacking) == 1 else 'were'} not found"
    return ""


class PyocdSwdLink:
    """One slot's pyocd session. Use as a context manager; every call raises station errors only."""

    def __init__(
        self,
        probe_uid: str,
        *,
        target: str = "nrf52840",
        frequency: int = DEFAULT_FREQUENCY,
    ) -> None:
        self.probe_uid = probe_uid
        self.target_name = target
        self.frequency = frequency
        self._session: Any = None
        self._locked = False
        self._budget = RetryBudget()
        #: the last failed open got no ACK from the target (the probe answered, nothing behind it)
        self._no_ack = False
        #: images this session verified and has not written over since (see :meth:`crc32`)
        self._verified: list[FlashImage] = []

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> PyocdSwdLink:
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        """Open a complete session, or none: a session pyocd built part-way (a FAULT during
        discovery leaves a core without registers, or no core) is closed and opened again, up to
        :data:`OPEN_TRIES` times, and then reported as a device error naming what was missing."""
        missing = ""
        self._no_ack = False
        for attempt in range(1, OPEN_TRIES + 1):
            missing = self._open_once()
            if not missing:
                return
            LOG.info("probe %s: session incomplete (%s), open %d of %d", self.probe_uid, missing, attempt,
                     OPEN_TRIES)
            self.close()
        if self._no_ack:
            # The probe is there and answers; nothing answers behind it (pyocd's "Target not
            # detected" over a no-ACK TransferError): no unit in the fixture, or none touching its pins.
            raise DeviceGone(
                f"connecting through probe {self.probe_uid}: no unit answers over SWD; its probe is there "
                f"(no unit in the fixture, or no contact with its pins) ({missing})"
            )
        raise TransportError(
            f"connecting through probe {self.probe_uid}: the target did not answer reliably over SWD "
            f"(SWD transfer faults, no power, or a bad contact); after {OPEN_TRIES} tries {missing}"
        )

    def _open_once(self) -> str:
        """One open; ``""`` when the session is complete (or the chip is locked), else what is missing."""
        helpers, exc = pyocd_modules()
        with SESSION_OPEN_LOCK:
            try:
                session = helpers.ConnectHelper.session_with_chosen_probe(
                    blocking=False,
                    unique_id=self.probe_uid,
                    auto_open=False,
                    options=session_options(self.target_name, self.frequency),
                )
            except exc.Error as err:
                raise translate(f"probe {self.probe_uid}", err) from err
            if session is None:
                raise ProbeGone(f"probe {self.probe_uid} is not connected")
            remote.bound_replies(session.probe)  # a dead probe server must end the call, not hang it
            self._budget = RetryBudget()
            session.delegate = RetryTransientFaults(self._budget, inner=algo.KeepAlgoLoaded(inner=SkipSvd()))
            self._session = session
            try:
                session.open()
            except Exception as err:
                if isinstance(err, OSError):  # pyocd's remote probe: its probe server did not answer
                    self.close()
                    raise ProbeGone(f"probe {self.probe_uid}: its probe server does not answer ({err})") from err
                # A locked nRF52 lets pyocd read the CTRL-AP but faults every AHB-AP access, and
                # pyocd's open then fails part-way (as a TransferFaultError, or a KeyError when no
                # core could be created). Only the CTRL-AP can say which it was.
                if recovery.ctrl_ap_says_locked(session.target):
                    self._locked = True
                    return ""
                cause = innermost_pyocd_error(err)
                if isinstance(err, exc.ProbeDisconnected | exc.TransferTimeoutError) or isinstance(cause, exc.ProbeError):
                    # pyocd's DebugPort._connect re-raises what the probe said as a plain Error
                    # ("Target not detected"): the probe's own disconnection is the cause then.
                    self.close()
                    raise translate(f"connecting through probe {self.probe_uid}", cause) from err
                self._no_ack = type(cause) is exc.TransferError
                # A fault the retries could not absorb, or pyocd carrying on past logged faults
                # until something it needed was not there: open again.
                return f"the session could not be opened ({err.__class__.__name__}: {err})"
        self._locked = recovery.ctrl_ap_says_locked(session.target)
        missing = "" if self._locked else incomplete(session)
        if not missing and not self._locked:
            region = session.target.memory_map.get_region_for_address(0)
            if region is not None and region.is_flash and region.flash is not None:
                pacing.pace(region.flash)
        return missing

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            close_quietly(session, self.probe_uid)

    @contextlib.contextmanager
    def _held(self, what: str) -> Iterator[None]:
        """Hold the probe for a whole operation.

        pyocd locks the probe around every access port call (``@locked`` on ``AccessPort``
        methods, ``pyocd/coresight/ap.py``). Its remote probe client sends that lock and unlock to
        the probe server as two requests each time, except inside an outer lock: it counts the
        nesting and asks the server only at the outermost (``TCPClientProbe.lock``,
        ``pyocd/probe/tcp_client_probe.py``). Held here, an operation's thousands of AP calls add no
        round trips; on a local probe the lock is a re-entrant thread lock (``DebugProbe.lock``)
        taken and released by this same thread.
        """
        probe = self.session.probe
        call(f"{what}: taking the probe", probe.lock)
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):  # the probe may be gone: keep the first error
                probe.unlock()
            raise
        call(f"{what}: releasing the probe", probe.unlock)

    @property
    def is_open(self) -> bool:
        return self._session is not None

    @property
    def faults_retried(self) -> int:
        """Transient SWD faults the current session retried (:mod:`.transient`)."""
        return self._budget.retried

    @property
    def session(self) -> Any:
        if self._session is None:
            raise DeviceGone(f"probe {self.probe_uid}: session is closed")
        return self._session

    # ------------------------------------------------------------------ readback protection
    def is_locked(self) -> bool:
        """APPROTECT as the CTRL-AP reported it when the session opened."""
        return self._locked

    def _require_unlocked(self, what: str) -> None:
        if self._locked:
            raise DeviceLocked(
                f"{what}: the chip is locked (APPROTECT); recovering erases its internal flash and "
                "must be allowed by the profile and confirmed by an engineer"
            )

    def recover(self) -> None:
        """CTRL-AP ERASEALL (pyocd's ``NRF52.mass_erase``, Nordic's nWP-027); then reconnect.

        Erases internal flash and UICR only: the DCT and device key live in external flash, which
        the debug port cannot reach.
        """
        self._verified = []
        target = self._session.target if self._session is not None else None
        algo.forget(target)  # the session is closed and opened again below; nothing is kept meanwhile
        call("recovering the locked chip", lambda: recovery.mass_erase(target, self.probe_uid))
        self.close()
        self._open()
        if self._locked:
            raise DeviceLocked(f"probe {self.probe_uid}: the chip is still locked after a mass erase")

    # ------------------------------------------------------------------ reads
    def read32(self, address: int) -> int:
        self._require_unlocked(f"reading {address:#010x}")
        return int(call(f"reading {address:#010x}", lambda: self.session.target.read32(address)))

    def read_memory(self, address: int, size: int) -> bytes:
        self._require_unlocked(f"reading {size} bytes at {address:#010x}")
        data = call(
            f"reading {size} bytes at {address:#010x}",
            lambda: self.session.target.read_memory_block8(address, size),
        )
        return bytes(data)

    def crc32(self, address: int, size: int) -> int:
        """CRC-32 of ``size`` bytes of flash at ``address``, without reading them back when it can.

        * Bytes this session verified (``verify``: on-target page CRCs, partial pages read back)
          and has not written since are known: their CRC is computed from them. This is the
          versions check's case — module CRCs right after the set was verified (656 KB for the
          demo set that used to cross the probe again).
        * Otherwise, with the core halted, pyocd's CRC analyzer computes it on the target
          (:func:`station.firmware.crc.region_crc`: aligned blocks there, unaligned ends read).
        * With firmware running, neither: the analyzer would halt the core and overwrite its RAM,
          so the bytes are read (non-intrusively, as before).

        The first case assumes what a fixture's firmware does: it does not rewrite its own
        internal flash between the verify and the check.
        """
        from station.firmware.crc import region_crc

        self._require_unlocked(f"checksumming {size} bytes at {address:#010x}")
        known = self._known(address, address + size)
        if known is not None:
            return zlib.crc32(known) & 0xFFFFFFFF
        with self._held(f"checksumming {size} bytes at {address:#010x}"):
            if self.is_halted():
                target = self.session.target
                return region_crc(
                    address, size, read=self.read_memory,
                    block_crcs=lambda blocks: block_crcs(target, self.target_name, blocks),
                )  # fmt: skip
            return zlib.crc32(self.read_memory(address, size)) & 0xFFFFFFFF

    def _known(self, address: int, end: int) -> bytes | None:
        """The bytes of [address, end) if verified images cover all of it (pieces may adjoin), else None."""
        out = bytearray()
        at = address
        while at < end:
            img = next((i for i in self._verified if i.address <= at < i.end), None)
            if img is None:
                return None
            stop = min(end, img.end)
            out += img.data[at - img.address : stop - img.address]
            at = stop
        return bytes(out)

    def read_device_id(self) -> str:
        self._require_unlocked("reading the device ID")
        with self._held("reading the device ID"):
            d0 = self.read32(NRF_FICR_DEVICEID0)
            d1 = self.read32(NRF_FICR_DEVICEID1)
        return gen3_device_id(d0, d1)

    def approtect_word(self) -> int:
        return self.read32(NRF_UICR_APPROTECT)

    def is_halted(self) -> bool:
        self._require_unlocked("reading the core's state")
        state = call("reading the core's state", lambda: self.session.target.get_state())
        return bool(state == _target_api().State.HALTED)

    # ------------------------------------------------------------------ run control
    def halt(self) -> None:
        self._require_unlocked("halting the core")
        call("halting the core", lambda: self.session.target.halt())

    def reset_and_halt(self) -> None:
        self._require_unlocked("resetting the core")
        call("reset and halt", lambda: self.session.target.reset_and_halt())

    def reset_and_run(self) -> None:
        self._require_unlocked("resetting the core")
        call("reset", lambda: self.session.target.reset())

    def hold_in_reset(self) -> None:
        """Halt, arm reset vector catch, then hold nRESET.

        Whether a probe keeps nRESET asserted after the session closes is the probe's business; with
        vector catch armed (DEMCR.VC_CORERESET, which survives a disconnect without resume) a
        released reset stops the core at its first instruction instead of running the firmware.
        pyocd's ``set_vector_catch`` sets the whole mask, so the catches already armed are kept.
        """
        self.halt()
        self._arm_reset_catch()
        algo.forget(self.session.target)  # nRESET through the probe: pyocd's target API does not see it
        call("asserting reset", lambda: self.session.probe.assert_reset(True))
        if not call("reading the reset line", lambda: self.session.probe.is_reset_asserted()):
            raise TransportError(f"probe {self.probe_uid} did not hold the target in reset")

    def write_uicr(self, address: int, value: int) -> None:
        """Program one UICR word and read it back (:func:`.preserve.write_uicr_word`)."""
        self._require_unlocked(f"writing UICR word {address:#010x}")
        with self._held(f"writing UICR word {address:#010x}"):
            preserve.write_uicr_word(self.session.target, self.target_name, address, value, self.read32)

    def locked_now(self) -> bool:
        """Ask the CTRL-AP (APPROTECTSTATUS) now, not what it said when the session opened."""
        target = self._session.target if self._session is not None else None
        self._locked = recovery.ctrl_ap_says_locked(target)
        return self._locked

    def _arm_reset_catch(self) -> None:
        """DEMCR.VC_CORERESET through pyocd's vector catch API, keeping the catches already armed
        (pyocd's ``set_vector_catch`` sets the whole mask)."""
        self._require_unlocked("arming reset vector catch")
        target = self.session.target
        reset_catch = _target_api().VectorCatch.CORE_RESET
        call(
            "arming reset vector catch",
            lambda: target.set_vector_catch(target.get_vector_catch() | reset_catch),
        )

    def lock_and_prove(self) -> bool:
        """Readback protection for a shipped device: UICR.APPROTECT = Enabled, then a reset that runs
        no firmware (reset vector catch armed), then the CTRL-AP's APPROTECTSTATUS. True when locked.

        The UICR is only sampled at reset, so nothing is proven until the reset; vector catch keeps
        the product firmware from running (and connecting) on the way. The reset goes through the
        CTRL-AP, which still answers once the AHB-AP is shut.
        """
        self.write_uicr(NRF_UICR_APPROTECT, UICR_APPROTECT_ENABLED)
        self._arm_reset_catch()
        target = self.session.target
        algo.forget(target)  # a reset through the CTRL-AP: pyocd's target API does not see it
        call("resetting through the CTRL-AP", lambda: recovery.reset_through_ctrl_ap(target, self.probe_uid))
        return self.locked_now()

    def is_reset_held(self) -> bool:
        return bool(call("reading the reset line", lambda: self.session.probe.is_reset_asserted()))

    # ------------------------------------------------------------------ flashing
    def choose_erase(self, images: Sequence[FlashImage], erase: EraseStrategy) -> str:
        """See :func:`.erase_plan.choose_erase`."""
        return erase_plan.choose_erase(images, erase)

    def _page_crcs(self, pages: Sequence[int]) -> list[int]:
        return page_crcs(self.session.target, self.target_name, pages)

    def program(
        self,
        images: Sequence[FlashImage],
        *,
        verify: bool = True,
        smart: bool = True,
        erase: EraseStrategy = EraseStrategy.AUTO,
        progress: ProgressFn = no_progress,
    ) -> FlashReport:
        """Erase, write and (``verify``) check ``images``.

        A job during which transient SWD faults were retried (:mod:`.transient`) is verified even
        when ``verify`` is off, and, should that verify fail, written once more (only the pages
        that differ, with ``smart``) and verified again: a probe that queues writes reports a
        FAULT on a later request than the one that failed, which no retry can re-send. The end
        is a verified image or a device error, never an image assumed good.
        """
        self._require_unlocked("programming")
        before = self._budget.retried
        with self._held("programming"):
            try:
                report = self._program_once(images, verify=verify, smart=smart, erase=erase, progress=progress)
            except VerifyError:
                if self._budget.retried == before:
                    raise
                LOG.info("probe %s: verify failed after %d retried SWD faults; writing once more", self.probe_uid,
                         self._budget.retried - before)
                report = self._program_once(images, verify=True, smart=smart, erase=erase, progress=progress)
            else:
                if not report.verified and self._budget.retried > before:
                    self.verify(images)
                    report.verified = True
        report.details["swd_faults_retried"] = self._budget.retried - before
        return report

    def _program_once(
        self,
        images: Sequence[FlashImage],
        *,
        verify: bool,
        smart: bool,
        erase: EraseStrategy,
        progress: ProgressFn,
    ) -> FlashReport:
        self._require_unlocked("programming")
        if erase is EraseStrategy.SECTOR:
            # Only the pages these images touch change (the rest of each is erased): what was
            # verified elsewhere stays known (the boot gate's pages are written apart from the set).
            touched = [(i.address & ~(NRF_PAGE_SIZE - 1), -(-i.end // NRF_PAGE_SIZE) * NRF_PAGE_SIZE) for i in images]
            self._verified = [v for v in self._verified if not any(v.address < hi and lo < v.end for lo, hi in touched)]
        else:
            self._verified = []
        if not images:
            return FlashReport(verified=True)
        total = sum(len(i.data) for i in images)
        strategy = erase_plan.choose_erase(images, erase)
        report = FlashReport(erase_strategy=strategy)
        # Erratum 184: NVMC erase/write from the debugger does not take while the CPU runs.
        self.halt()
        uicr: bytes | None = None
        if strategy == "auto":
            strategy = erase_plan.cheaper_erase(images, self._page_crcs, report) if smart else "chip"
        if strategy == "chip":
            images, uicr = preserve.preserve_for_chip_erase(images, self.read_memory, report)
        target = self.session.target
        region = target.memory_map.get_region_for_address(images[0].address)
        if region is None or not region.is_flash:
            raise TransportError(f"{images[0].address:#x} is not in a flash region of {self.target_name}")
        builder = call("preparing the flash algorithm", lambda: region.flash.get_flash_builder())
        builder.log_performance = False
        for img in images:
            if not (region.start <= img.address and img.end - 1 <= region.end):
                raise TransportError(f"{img.label or 'image'} at {img.address:#x} does not fit internal flash")
            builder.add_data(img.address, img.data)

        def on_fraction(phase_offset: float, span: float) -> Callable[[float], None]:
            return lambda f: progress(int(total * (phase_offset + span * f)), total)

        t0 = time.monotonic()
        call(
            "erasing",
            functools.partial(
                builder.erase,
                chip_erase=strategy,
                progress_cb=on_fraction(0.0, 0.2),
                smart_flash=smart,
                fast_verify=False,
                keep_unwritten=False,
            ),
        )
        t1 = time.monotonic()
        # Record the erase pyocd actually did ("auto" is a request, not an outcome).
        chip_erased = bool(getattr(builder, "last_erase_was_chip", False))
        report.erase_strategy = "chip" if chip_erased else "sector"
        if chip_erased and uicr is not None:
            # Straight after the erase, before the programming: the saved UICR (the bootloader
            # address above all) lives only in this process, so a cable pulled during the long
            # program phase must not take it with it. The MBR page is the builder's first page.
            preserve.restore_uicr(target, self.target_name, uicr, self.read_memory, report)
        info = call(
            "programming",
            functools.partial(
                builder.program,
                progress_cb=on_fraction(0.2, 0.6 if verify else 0.8),
                smart_flash=smart,
                fast_verify=False,
                keep_unwritten=False,
            ),
        )
        t2 = time.monotonic()
        report.erase_s = t1 - t0
        report.program_s = t2 - t1
        if info is not None:
            report.bytes_written = int(info.program_byte_count)
            report.bytes_skipped = int(info.skipped_byte_count)
            report.details.update(
                pages_programmed=int(info.program_page_count),
                pages_skipped=int(info.skipped_page_count),
                sectors_erased=int(info.erase_sector_count),
            )
        else:
            report.bytes_written = total
        if verify:
            self.verify(images, progress=lambda d, t: progress(int(total * 0.8 + 0.2 * d * total / t), total))
            report.verify_s = time.monotonic() - t2
            report.verified = True
        progress(total, total)
        return report

    def verify(self, images: Sequence[FlashImage], *, progress: ProgressFn = no_progress) -> None:
        """Check every byte the images put in flash (:func:`.verify.verify_images`)."""
        self._require_unlocked("verifying")
        with self._held("verifying"):
            verify_images(images, self._page_crcs, self.read_memory, progress=progress)
        self._verified.extend(images)
