"""SWD through pyocd: the station's one implementation of :class:`~station.hw.interfaces.SwdLink`.

pyocd is written for one interactive session per process; a station runs one session per fixture
slot, in threads. What that takes (``shared/research/pyocd-twin.md``):

* ``Session.__init__`` ``chdir``s into ``project_dir``: every session gets the process's current
  directory, so the ``chdir`` is a no-op, and ``no_config`` so no stray ``pyocd.yaml`` is read.
* ``Session._current_session`` is process-wide and read during open: sessions are created and
  opened under one lock; the flashing itself then runs in parallel.
* ``auto_unlock`` defaults to on and mass-erases a locked chip silently. The station turns it off:
  a locked chip is reported as :class:`~station.errors.DeviceLocked`, and :meth:`recover` is a
  separate, explicit call the pipeline only makes when the profile allows it and an engineer
  confirmed it.
* ``resume_on_disconnect`` defaults to on, which would let freshly flashed product firmware run
  (and connect to the cloud) the moment the session closes. The station turns it off.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from station.domain import (
    GEN3_ADDR_BOOTLOADER,
    GEN3_ADDR_SYSTEM_PART1,
    GEN3_ADDR_USER_PART,
    NRF_FICR_DEVICEID0,
    NRF_FICR_DEVICEID1,
    NRF_FLASH_SIZE,
    NRF_PAGE_SIZE,
    NRF_UICR,
    NRF_UICR_APPROTECT,
    NRF_UICR_SIZE,
    UICR_APPROTECT_ENABLED,
    FlashImage,
    gen3_device_id,
)
from station.errors import (
    VERIFY_WINDOW,
    DeviceError,
    DeviceGone,
    DeviceLocked,
    DeviceTimeout,
    TransferFault,
    TransportError,
    VerifyError,
)
from station.hw.interfaces import (
    EraseStrategy,
    FlashReport,
    ProbeInfo,
    ProgressFn,
    no_progress,
)

LOG = logging.getLogger(__name__)

#: nRF52840 product specification v1.7, §4.3.9: page erase, erase-all, and 1024 word writes
_T_PAGE_ERASE = 85e-3
_T_ERASE_ALL = 169e-3
_T_PAGE_PROGRAM = 1024 * 41e-6
#: reading back the MBR page and the UICR before an erase-all (2 × 4 KB over SWD at ~4 MHz)
_T_PAGE_READ_BACK = 0.02
_BLANK_PAGE = b"\xff" * NRF_PAGE_SIZE

DEFAULT_FREQUENCY = 4_000_000
_CTRL_AP = 1
_CTRL_AP_ERASEALL = 0x004
_CTRL_AP_ERASEALLSTATUS = 0x008
_CTRL_AP_RESET = 0x000
_CTRL_AP_APPROTECTSTATUS = 0x00C
_DHCSR = 0xE000EDF0
_DEMCR = 0xE000EDFC
_VC_CORERESET = 1 << 0
_S_HALT = 1 << 17

#: pyocd's open sequence touches process-wide state; see the module docstring.
_SESSION_OPEN_LOCK = threading.Lock()

T = TypeVar("T")


def _pyocd() -> Any:
    """Import pyocd lazily: it is slow to import and only SWD stations need it."""
    import pyocd.core.exceptions as exc
    import pyocd.core.helpers as helpers

    return helpers, exc


def list_probes() -> list[ProbeInfo]:
    """Every debug probe pyocd can see (CMSIS-DAP, J-Link, ST-Link, plugins such as ``sim``).

    Never waits for a probe to appear: the hotplug watcher calls this every half second.
    """
    helpers, exc = _pyocd()
    try:
        probes = helpers.ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)
    except exc.Error as err:
        raise TransportError(f"listing debug probes failed: {err}") from err
    out = []
    for p in probes:
        board = None
        info = getattr(p, "associated_board_info", None)
        if info is not None:
            board = getattr(info, "name", None)
        out.append(ProbeInfo(unique_id=p.unique_id, vendor=p.vendor_name, product=p.product_name, board=board))
    return out


def _translate(what: str, err: BaseException) -> DeviceError:
    """Turn a pyocd exception into the station's vocabulary, keeping pyocd's words."""
    _, exc = _pyocd()
    if isinstance(err, exc.ProbeDisconnected):
        return DeviceGone(f"{what}: the probe or device disconnected ({err})")
    if isinstance(err, exc.TransferTimeoutError):
        return DeviceTimeout(f"{what}: the target kept answering WAIT ({err})")
    if isinstance(err, exc.TransferFaultError):
        return TransferFault(f"{what}: SWD transfer fault ({err})", address=getattr(err, "fault_address", None))
    if isinstance(err, exc.FlashFailure):
        return TransportError(f"{what}: the flash algorithm failed ({err})")
    if isinstance(err, exc.TimeoutError):
        return DeviceTimeout(f"{what}: timed out ({err})")
    return TransportError(f"{what}: {err}")


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

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> PyocdSwdLink:
        self._open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _options(self) -> dict[str, Any]:
        return {
            "project_dir": os.getcwd(),
            "no_config": True,
            "frequency": self.frequency,
            "auto_unlock": False,
            "resume_on_disconnect": False,
            "connect_mode": "attach",
            "hide_programming_progress": True,
            "target_override": self.target_name,
        }

    def _open(self) -> None:
        helpers, exc = _pyocd()
        with _SESSION_OPEN_LOCK:
            try:
                session = helpers.ConnectHelper.session_with_chosen_probe(
                    blocking=False, unique_id=self.probe_uid, auto_open=False, options=self._options()
                )
            except exc.Error as err:
                raise _translate(f"probe {self.probe_uid}", err) from err
            if session is None:
                raise DeviceGone(f"probe {self.probe_uid} is not connected")
            self._session = session
            try:
                session.open()
            except Exception as err:
                # A locked nRF52 lets pyocd read the CTRL-AP but faults every AHB-AP access, and
                # pyocd's open then fails part-way (as a TransferFaultError, or a KeyError when no
                # core could be created). Only the CTRL-AP can say which it was.
                if self._ctrl_ap_says_locked():
                    self._locked = True
                    return
                self.close()
                if isinstance(err, exc.Error):
                    raise _translate(f"connecting through probe {self.probe_uid}", err) from err
                # pyocd logs transfer faults during discovery and carries on; what surfaces is
                # that no CPU core was found. Say what that means at the fixture.
                raise TransportError(
                    f"connecting through probe {self.probe_uid}: the target did not answer reliably over "
                    f"SWD (SWD transfer faults, no power, or a bad contact); no CPU core was found ({err})"
                ) from err
        self._locked = self._ctrl_ap_says_locked()

    def close(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            session.close()
        except Exception as err:  # closing a vanished probe must not mask the real error
            LOG.debug("closing session for %s: %s", self.probe_uid, err)

    @property
    def is_open(self) -> bool:
        return self._session is not None

    @property
    def session(self) -> Any:
        if self._session is None:
            raise DeviceGone(f"probe {self.probe_uid}: session is closed")
        return self._session

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        _, exc = _pyocd()
        try:
            return fn()
        except exc.Error as err:
            raise _translate(what, err) from err

    # ------------------------------------------------------------------ readback protection
    def _ctrl_ap(self) -> Any:
        target = self._session.target if self._session is not None else None
        ap = getattr(target, "ctrl_ap", None)
        if ap is None and target is not None:
            ap = target.dp.aps.get(_CTRL_AP) if hasattr(target, "dp") else None
        return ap

    def _ctrl_ap_says_locked(self) -> bool:
        _, exc = _pyocd()
        ap = self._ctrl_ap()
        if ap is None:
            return False
        try:
            return bool(ap.read_reg(_CTRL_AP_APPROTECTSTATUS) == 0)
        except exc.Error:
            return False

    def is_locked(self) -> bool:
        return self._locked

    def _require_unlocked(self, what: str) -> None:
        if self._locked:
            raise DeviceLocked(
                f"{what}: the chip is locked (APPROTECT); recovering erases its internal flash and "
                "must be allowed by the profile and confirmed by an engineer"
            )

    def recover(self) -> None:
        """CTRL-AP ERASEALL, as Nordic's nWP-027 describes; then reconnect.

        Erases internal flash and UICR only: the DCT and device key live in external flash, which
        the debug port cannot reach.
        """
        ap = self._ctrl_ap()
        if ap is None:
            raise TransportError(f"probe {self.probe_uid}: no nRF CTRL-AP found, cannot recover")

        def erase() -> None:
            ap.write_reg(_CTRL_AP_ERASEALL, 1)
            deadline = time.monotonic() + 30.0
            while ap.read_reg(_CTRL_AP_ERASEALLSTATUS) != 0:
                if time.monotonic() > deadline:
                    raise DeviceTimeout(f"probe {self.probe_uid}: mass erase did not finish in 30 s")
                time.sleep(0.01)
            ap.write_reg(_CTRL_AP_RESET, 1)
            ap.write_reg(_CTRL_AP_RESET, 0)
            ap.write_reg(_CTRL_AP_ERASEALL, 0)

        self._call("recovering the locked chip", erase)
        self.close()
        self._open()
        if self._locked:
            raise DeviceLocked(f"probe {self.probe_uid}: the chip is still locked after a mass erase")

    # ------------------------------------------------------------------ reads
    def read32(self, address: int) -> int:
        self._require_unlocked(f"reading {address:#010x}")
        return int(self._call(f"reading {address:#010x}", lambda: self.session.target.read32(address)))

    def read_memory(self, address: int, size: int) -> bytes:
        self._require_unlocked(f"reading {size} bytes at {address:#010x}")
        data = self._call(
            f"reading {size} bytes at {address:#010x}",
            lambda: self.session.target.read_memory_block8(address, size),
        )
        return bytes(data)

    def read_device_id(self) -> str:
        self._require_unlocked("reading the device ID")
        d0 = self.read32(NRF_FICR_DEVICEID0)
        d1 = self.read32(NRF_FICR_DEVICEID1)
        return gen3_device_id(d0, d1)

    def approtect_word(self) -> int:
        return self.read32(NRF_UICR_APPROTECT)

    def is_halted(self) -> bool:
        return bool(self.read32(_DHCSR) & _S_HALT)

    # ------------------------------------------------------------------ run control
    def halt(self) -> None:
        self._require_unlocked("halting the core")
        self._call("halting the core", lambda: self.session.target.halt())

    def reset_and_halt(self) -> None:
        self._require_unlocked("resetting the core")
        self._call("reset and halt", lambda: self.session.target.reset_and_halt())

    def reset_and_run(self) -> None:
        self._require_unlocked("resetting the core")
        self._call("reset", lambda: self.session.target.reset())

    def hold_in_reset(self) -> None:
        """Halt, arm reset vector catch, then hold nRESET.

        Whether a probe keeps nRESET asserted after the session closes is the probe's business; with
        vector catch armed (DEMCR.VC_CORERESET, which survives a disconnect without resume) a
        released reset stops the core at its first instruction instead of running the firmware.
        """
        self.halt()
        demcr = self.read32(_DEMCR)
        target = self.session.target
        self._call("arming reset vector catch", lambda: target.write32(_DEMCR, demcr | _VC_CORERESET))
        self._call("asserting reset", lambda: self.session.probe.assert_reset(True))
        if not self._call("reading the reset line", lambda: self.session.probe.is_reset_asserted()):
            raise TransportError(f"probe {self.probe_uid} did not hold the target in reset")

    def write_uicr(self, address: int, value: int) -> None:
        """Program one UICR word through the NVMC (bits only go 1 to 0), then read it back.

        pyOCD's nRF52 target does the NVMC dance (CONFIG = WEN, write, wait READY, CONFIG = REN) and
        refuses a value the erased-or-current word cannot take without an erase.
        """
        self._require_unlocked(f"writing UICR word {address:#010x}")
        target = self.session.target
        write: Callable[[int, int], None] | None = getattr(target, "write_uicr", None)
        if write is None:
            raise TransportError(f"{self.target_name}: pyocd cannot write this target's UICR")
        self._call(f"writing UICR word {address:#010x}", functools.partial(write, address, value))
        back = self.read32(address)
        if back != value:
            raise VerifyError(
                f"UICR word {address:#010x} reads back 0x{back:08X} after writing 0x{value:08X}",
                address=address,
                expected=value.to_bytes(4, "little"),
                actual=back.to_bytes(4, "little"),
            )

    def locked_now(self) -> bool:
        """Ask the CTRL-AP (APPROTECTSTATUS) now, not what it said when the session opened."""
        self._locked = self._ctrl_ap_says_locked()
        return self._locked

    def lock_and_prove(self) -> bool:
        """Readback protection for a shipped device: UICR.APPROTECT = Enabled, then a reset that runs
        no firmware (reset vector catch armed), then the CTRL-AP's APPROTECTSTATUS. True when locked.

        The UICR is only sampled at reset, so nothing is proven until the reset; vector catch keeps
        the product firmware from running (and connecting) on the way. The reset goes through the
        CTRL-AP, which still answers once the AHB-AP is shut.
        """
        self.write_uicr(NRF_UICR_APPROTECT, UICR_APPROTECT_ENABLED)
        demcr = self.read32(_DEMCR)
        target = self.session.target
        self._call("arming reset vector catch", lambda: target.write32(_DEMCR, demcr | _VC_CORERESET))
        ap = self._ctrl_ap()
        if ap is None:
            raise TransportError(f"probe {self.probe_uid}: no nRF CTRL-AP found, cannot prove the lock")

        def reset() -> None:
            ap.write_reg(_CTRL_AP_RESET, 1)
            ap.write_reg(_CTRL_AP_RESET, 0)

        self._call("resetting through the CTRL-AP", reset)
        return self.locked_now()

    def is_reset_held(self) -> bool:
        return bool(self._call("reading the reset line", lambda: self.session.probe.is_reset_asserted()))

    # ------------------------------------------------------------------ flashing
    def choose_erase(self, images: Sequence[FlashImage], erase: EraseStrategy) -> str:
        """Chip erase is allowed only when the set rewrites everything a device needs.

        A chip erase (≈170 ms) beats erasing 200+ sectors one by one (85 ms each), but it also
        wipes whatever the images do not cover. So AUTO considers it only for a complete Gen3 set
        (bootloader, system part and user part), where nothing else in internal flash matters,
        and otherwise erases just the sectors the images touch.
        """
        if erase is EraseStrategy.CHIP:
            return "chip"
        if erase is EraseStrategy.SECTOR:
            return "sector"
        def covers(lo: int, hi: int) -> bool:
            return any(lo <= img.address < hi for img in images)

        complete = (
            covers(GEN3_ADDR_BOOTLOADER, NRF_FLASH_SIZE)
            and covers(GEN3_ADDR_SYSTEM_PART1, GEN3_ADDR_USER_PART)
            and covers(GEN3_ADDR_USER_PART, GEN3_ADDR_BOOTLOADER)
        )
        # For a complete set, program() weighs the two by what is on the device (_cheaper_erase).
        return "auto" if complete else "sector"

    def program(
        self,
        images: Sequence[FlashImage],
        *,
        verify: bool = True,
        smart: bool = True,
        erase: EraseStrategy = EraseStrategy.AUTO,
        progress: ProgressFn = no_progress,
    ) -> FlashReport:
        self._require_unlocked("programming")
        if not images:
            return FlashReport(verified=True)
        total = sum(len(i.data) for i in images)
        strategy = self.choose_erase(images, erase)
        report = FlashReport(erase_strategy=strategy)
        # Erratum 184: NVMC erase/write from the debugger does not take while the CPU runs.
        self.halt()
        uicr: bytes | None = None
        if strategy == "auto":
            strategy = self._cheaper_erase(images, report) if smart else "chip"
        if strategy == "chip":
            images, uicr = self._preserve_for_chip_erase(images, report)
        target = self.session.target
        region = target.memory_map.get_region_for_address(images[0].address)
        if region is None or not region.is_flash:
            raise TransportError(f"{images[0].address:#x} is not in a flash region of {self.target_name}")
        builder = self._call("preparing the flash algorithm", lambda: region.flash.get_flash_builder())
        builder.log_performance = False
        for img in images:
            if not (region.start <= img.address and img.end - 1 <= region.end):
                raise TransportError(f"{img.label or 'image'} at {img.address:#x} does not fit internal flash")
            builder.add_data(img.address, img.data)

        def on_fraction(phase_offset: float, span: float) -> Callable[[float], None]:
            return lambda f: progress(int(total * (phase_offset + span * f)), total)

        t0 = time.monotonic()
        self._call(
            "erasing",
            lambda: builder.erase(
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
        info = self._call(
            "programming",
            lambda: builder.program(
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
        if chip_erased and uicr is not None:
            self._restore_uicr(uicr, report)
        if verify:
            self.verify(images, progress=lambda d, t: progress(int(total * 0.8 + 0.2 * d * total / t), total))
            report.verify_s = time.monotonic() - t2
            report.verified = True
        progress(total, total)
        return report

    def _page_crcs(self, pages: Sequence[int]) -> list[int]:
        """CRC-32 of whole flash pages, computed on the target by pyocd's analyzer (fast: no read-back)."""
        flash = self._flash_region().flash

        def run() -> list[int]:
            flash.init(flash.Operation.VERIFY)
            try:
                return [int(c) & 0xFFFFFFFF for c in flash.compute_crcs([(a, NRF_PAGE_SIZE) for a in pages])]
            finally:
                flash.cleanup()

        return self._call("computing page CRCs", run)

    def _flash_region(self) -> Any:
        region = self.session.target.memory_map.get_region_for_address(0)
        if region is None or not region.is_flash or region.flash is None:
            raise TransportError(f"{self.target_name}: no internal flash region at 0x0")
        return region

    @staticmethod
    def _expected_pages(images: Sequence[FlashImage]) -> dict[int, bytearray]:
        """Page address → the page as the images define it (uncovered bytes erased, 0xFF)."""
        pages: dict[int, bytearray] = {}
        for img in images:
            for page in range(img.address & ~(NRF_PAGE_SIZE - 1), img.end, NRF_PAGE_SIZE):
                buf = pages.setdefault(page, bytearray(b"\xff" * NRF_PAGE_SIZE))
                lo, hi = max(page, img.address), min(page + NRF_PAGE_SIZE, img.end)
                buf[lo - page : hi - page] = img.data[lo - img.address : hi - img.address]
        return pages

    def _cheaper_erase(self, images: Sequence[FlashImage], report: FlashReport) -> str:
        """Chip or sector erase, whichever the nRF52840's own timings make cheaper for this device.

        Sector path: every differing page costs a page erase (85 ms) and a page program
        (1024 words × 41 µs). Chip path: one ERASEALL (169 ms) and every non-blank page programmed.
        Which pages differ is learnt from on-target CRCs, so an identical re-flash stays a no-op
        and a blank or different device gets the erase-all a production programmer would use.
        """
        pages = self._expected_pages(images)
        expected = {a: zlib.crc32(bytes(b)) & 0xFFFFFFFF for a, b in pages.items()}
        addrs = sorted(pages)
        actual = dict(zip(addrs, self._page_crcs(addrs), strict=True))
        differ = sum(1 for a in addrs if actual[a] != expected[a])
        nonblank = sum(1 for b in pages.values() if b != _BLANK_PAGE)
        sector_s = differ * (_T_PAGE_ERASE + _T_PAGE_PROGRAM)
        chip_s = _T_ERASE_ALL + _T_PAGE_READ_BACK + nonblank * _T_PAGE_PROGRAM
        report.details["erase_estimate_s"] = {"sector": round(sector_s, 3), "chip": round(chip_s, 3)}
        report.details["pages_differing"] = differ
        return "chip" if chip_s < sector_s else "sector"

    def _preserve_for_chip_erase(
        self, images: Sequence[FlashImage], report: FlashReport
    ) -> tuple[list[FlashImage], bytes]:
        """What a chip erase would destroy that the image set does not rewrite: keep it.

        Two things on a Gen3 part are not in a Device OS module set: the MBR page at 0x0 (Nordic's
        master boot record, which jumps to the bootloader) and the UICR (bootloader address,
        NFC pins, REGOUT0, APPROTECT). The MBR page is added to the set as an image read from the
        device — which also lets pyocd weigh a chip erase at all, since it only considers one when
        the data starts at the flash base — and the UICR is read now and rewritten after a chip
        erase. External flash (DCT, device key) is never touched: the debug port cannot reach it.
        """
        out = list(images)
        if not any(img.address < NRF_PAGE_SIZE for img in images):
            mbr = self.read_memory(0, NRF_PAGE_SIZE)
            out.insert(0, FlashImage(0, mbr, "MBR page (preserved)"))
        uicr = self.read_memory(NRF_UICR, NRF_UICR_SIZE)
        report.details["preserved"] = ["MBR page", "UICR"]
        return out, uicr

    def _restore_uicr(self, uicr: bytes, report: FlashReport) -> None:
        """Write back every programmed UICR word after a chip erase, then read them back."""
        target = self.session.target
        words = [
            (NRF_UICR + off, int.from_bytes(uicr[off : off + 4], "little"))
            for off in range(0, len(uicr), 4)
            if uicr[off : off + 4] != b"\xff\xff\xff\xff"
        ]
        write_uicr: Callable[[int, int], None] | None = getattr(target, "write_uicr", None)
        if write_uicr is None:
            if words:
                raise TransportError(f"{self.target_name}: cannot restore UICR after a chip erase")
            return
        for addr, value in words:
            self._call(f"restoring UICR word {addr:#010x}", functools.partial(write_uicr, addr, value))
        back = self.read_memory(NRF_UICR, len(uicr))
        if back != uicr:
            first = next(i for i, (a, b) in enumerate(zip(back, uicr, strict=True)) if a != b)
            raise VerifyError(
                "UICR differs from its value before the chip erase",
                address=NRF_UICR + first,
                expected=uicr[first : first + VERIFY_WINDOW],
                actual=back[first : first + VERIFY_WINDOW],
            )
        report.details["uicr_words_restored"] = len(words)

    def verify(self, images: Sequence[FlashImage], *, progress: ProgressFn = no_progress) -> None:
        """Check every byte the images put in flash; name the first differing address.

        Pages an image fills completely are checked by CRC-32 computed on the target (pyocd's
        analyzer: four bytes per page cross the wire instead of 4 KB); the partial pages at an
        image's ends are read back. A page whose CRC differs is read back too, so the error names
        the exact address and both bytes, as a full read-back would.
        """
        total = sum(len(i.data) for i in images) or 1
        full: dict[int, tuple[FlashImage, bytes]] = {}
        partial: list[tuple[FlashImage, int, bytes]] = []  # image, address, expected bytes
        for img in images:
            addr = img.address
            while addr < img.end:
                page = addr & ~(NRF_PAGE_SIZE - 1)
                hi = min(page + NRF_PAGE_SIZE, img.end)
                want = img.data[addr - img.address : hi - img.address]
                if addr == page and hi == page + NRF_PAGE_SIZE:
                    full[page] = (img, want)
                else:
                    partial.append((img, addr, want))
                addr = hi
        done = 0
        if full:
            addrs = sorted(full)
            crcs = self._page_crcs(addrs)
            for page, crc in zip(addrs, crcs, strict=True):
                img, want = full[page]
                if crc != zlib.crc32(want) & 0xFFFFFFFF:
                    self._compare(img, page, want)
                done += NRF_PAGE_SIZE
            progress(done, total)
        for img, addr, want in partial:
            self._compare(img, addr, want)
            done += len(want)
            progress(done, total)
        progress(total, total)

    def _compare(self, img: FlashImage, address: int, want: bytes) -> None:
        got = self.read_memory(address, len(want))
        if got != want:
            first = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
            raise VerifyError(
                f"verify failed for {img.label or 'image'} at {address + first:#010x}: "
                f"read {got[first]:#04x}, wrote {want[first]:#04x}",
                address=address + first,
                expected=want[first : first + VERIFY_WINDOW],
                actual=got[first : first + VERIFY_WINDOW],
            )
