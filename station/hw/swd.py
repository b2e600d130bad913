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

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from station.domain import (
    GEN3_ADDR_BOOTLOADER,
    GEN3_ADDR_SYSTEM_PART1,
    GEN3_ADDR_USER_PART,
    NRF_FICR_DEVICEID0,
    NRF_FICR_DEVICEID1,
    NRF_FLASH_SIZE,
    NRF_UICR_APPROTECT,
    gen3_device_id,
)
from station.errors import DeviceError, DeviceGone, DeviceLocked, DeviceTimeout, TransportError, VerifyError
from station.hw.interfaces import (
    EraseStrategy,
    FlashImage,
    FlashReport,
    ProbeInfo,
    ProgressFn,
    no_progress,
)

LOG = logging.getLogger(__name__)

DEFAULT_FREQUENCY = 4_000_000
_CTRL_AP = 1
_CTRL_AP_ERASEALL = 0x004
_CTRL_AP_ERASEALLSTATUS = 0x008
_CTRL_AP_RESET = 0x000
_CTRL_AP_APPROTECTSTATUS = 0x00C
_DHCSR = 0xE000EDF0
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
        return TransportError(f"{what}: SWD transfer fault ({err})")
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
                raise TransportError(f"connecting through probe {self.probe_uid} failed: {err!r}") from err
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
        self._call("asserting reset", lambda: self.session.probe.assert_reset(True))

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
        # For a complete set let pyocd weigh chip erase against sector erase with smart flash's
        # page analysis (an identical re-flash then skips every page instead of erasing them all).
        # pyocd never picks chip erase on its own when the first image starts above flash address
        # 0 (a Gen3 set starts at 0x1000: the MBR page is not in it), so in practice AUTO on Gen3
        # is smart sector erase and the MBR survives; FlashReport.erase_strategy says which ran.
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
        report.erase_strategy = "chip" if getattr(builder, "last_erase_was_chip", False) else "sector"
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
        if verify:
            self.verify(images, progress=lambda d, t: progress(int(total * 0.8 + 0.2 * d * total / t), total))
            report.verify_s = time.monotonic() - t2
            report.verified = True
        progress(total, total)
        return report

    def verify(self, images: Sequence[FlashImage], *, progress: ProgressFn = no_progress) -> None:
        """Read every image back and compare byte for byte; name the first differing address."""
        total = sum(len(i.data) for i in images) or 1
        done = 0
        chunk = 0x4000
        for img in images:
            for off in range(0, len(img.data), chunk):
                want = img.data[off : off + chunk]
                got = self.read_memory(img.address + off, len(want))
                if got != want:
                    first = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
                    addr = img.address + off + first
                    raise VerifyError(
                        f"verify failed for {img.label or 'image'} at {addr:#010x}: "
                        f"read {got[first]:#04x}, wrote {want[first]:#04x}"
                    )
                done += len(want)
                progress(done, total)


@contextmanager
def open_swd(probe_uid: str, **kwargs: Any) -> Iterator[PyocdSwdLink]:
    """``with open_swd(uid) as link:`` — the form the pipeline uses."""
    link = PyocdSwdLink(probe_uid, **kwargs)
    with link:
        yield link
