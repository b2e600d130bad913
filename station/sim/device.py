"""One twin = one device, persisted in ``<bench>/<name>/``.

Files in a twin folder (all of them are the device; deleting the folder destroys it):

``identity.json``  device ID (derived from FICR.DEVICEID), platform, probe serial, serial number,
                   IMEI/ICCID, FICR variant. Written once at creation.
``flash.bin``      1 MB internal flash, memory-mapped so every process sees writes at once.
``uicr.bin``       4 KB UICR (APPROTECT at offset 0x208).
``extflash.bin``   external QSPI flash data array (4 or 8 MB); its first half is the LittleFS region.
``dct.bin``        the contents of the DCT file ``/sys/dct.bin`` in that filesystem (EC key at 3106).
``otp.bin``        the QSPI chip's OTP security registers: serial number, device secret.
``state.json``     what a person would see: plugged in or not, which probe/USB is attached, what the
                   core is doing (``run_state``), setup-done flag. Atomically replaced on change.
``faults.json``    injected faults (see :class:`Faults`), editable by tests or ``station sim fault``.
``changes.seq``    a counter bumped (through a shared mapping) whenever state.json or faults.json
                   is replaced, so the faces need no system call per transfer to notice a change.
``events.jsonl``   append-only event log: ``boot``, ``first_connect``, ``key_lost``, ``unplug`` …

The event log is how tests prove that the station never triggered a first cloud connection
(``first_connect``) and never destroyed a device key (``key_lost``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import random
import struct
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from station import settings
from station.domain import (
    NRF_FLASH_SIZE,
    Platform,
    gen3_device_id,
    luhn_check_digit,
    platform_by_name,
)
from station.sim import filelock, qspi
from station.sim.clock import DeviceClock, TwinLock

UICR_SIZE = 0x1000
EXT_SECTOR = qspi.SECTOR
#: DFU alt 1 is a window onto the DCT file (see :mod:`station.sim.qspi`)
DCT_SIZE = qspi.DCT_WINDOW
DEVICE_KEY_SIZE = qspi.DCT_ALT_DEVICE_PRIVATE_KEY_SIZE
#: Typical 4 KB sector erase of the MX25L-class QSPI NOR on Gen3 boards.
NOR_SECTOR_ERASE_S = 45e-3
#: FICR INFO.VARIANT of the two nRF52840 families a line meets: build code D (APPROTECT latched
#: from UICR at reset) and F (rev 3, "hardened" APPROTECT: locked at every reset unless firmware
#: opens it), per Nordic's nRF52840 PS and pyocd ``target_nRF52.py`` (F0 and later are hardened).
BUILD_CODE_VARIANTS = {"D": "AAD0", "F": "AAF0"}

RUN_STATES = (
    "off",  # unplugged, no power
    "fault",  # nothing bootable at reset (no MBR, no bootloader address, no valid bootloader): lockup
    "halted",  # debugger halted the core
    "reset",  # held in reset by the probe
    "debug",  # core running code the debugger loaded (flash algorithm)
    "dfu",  # bootloader in DFU mode (no valid firmware, or asked for DFU)
    "safe_mode",  # Device OS present, user part invalid or its dependencies unmet (connects!)
    "listening",  # listening mode (serial setup console)
    "running",  # running a user part: see ``running_app``
)


@dataclass
class Identity:
    name: str
    platform: str
    deviceid0: int
    deviceid1: int
    probe_uid: str
    serial_number: str
    variant: str = "AAD0"
    imei: str | None = None
    iccid: str | None = None

    @property
    def device_id(self) -> str:
        return gen3_device_id(self.deviceid0, self.deviceid1)

    @property
    def build_code(self) -> str:
        """The silicon family letter of FICR INFO.VARIANT ("AAF0" → "F")."""
        return self.variant[2:3].upper() or "D"

    @property
    def hardened_approtect(self) -> bool:
        """nRF52840 build code F and later re-lock the debug port at every reset (pyocd's table: F0)."""
        return self.variant[2:].upper() >= "F0"


@dataclass
class Faults:
    """Injected faults. Rates are probabilities per DAP transfer; ``None``/0 means off."""

    swd_fault_rate: float = 0.0  # a DAP transfer answers FAULT
    swd_wait_rate: float = 0.0  # a DAP transfer answers WAIT (retried by the probe)
    unplug_after_bytes: int | None = None  # vanish after this many bytes written to flash (any face)
    stuck_word: int | None = None  # an internal-flash address whose word never programs
    wrong_platform: str | None = None  # report this platform instead of the real one
    slow_factor: float = 1.0  # multiply modelled device time (a slow device)
    measurement_overrides: dict[str, float] = field(default_factory=dict)  # ftest cmd -> value
    modem_silent: bool = False  # the modem never answers
    serial_silent: bool = False  # the serial port opens but the device never answers
    serial_garbled: bool = False  # the device answers noise


@dataclass
class State:
    plugged: bool = True  # USB cable/power connected (on a line: seated in its powered fixture)
    #: the slot's SWD probe is there: on the station's USB, wired to the fixture. False: its cable
    #: was pulled or its probe server died, and pyocd gets ``ProbeDisconnected`` (see station.sim.probe)
    probe_attached: bool = True
    #: the unit was taken out of its fixture while the fixture's probe stayed on the station's USB
    #: (``Twin.lift``): the probe still enumerates and opens, but nothing answers on SWD (no ACK),
    #: and the unit, unpowered, has no USB face either. Only meaningful while ``plugged`` is False.
    lifted: bool = False
    run_state: str = "dfu"
    running_app: str | None = None  # "product" | "factory-test" | "unknown" when run_state == "running"
    setup_done: bool = False
    dfu_requested: bool = False  # next boot goes to DFU (control request 50)
    generation: int = 0  # bumped on every re-enumeration, lets faces notice changes
    realtime: bool = False  # every process that opens this twin models hardware time (see clock.py)
    #: build code F only: the debug port is open until the next reset, because ERASEALL opened it or
    #: the bootloader wrote APPROTECT.DISABLE = SwDisable (see station.sim.approtect)
    ap_open: bool = False
    #: the debug probe on the fixture, as far as its USB link costs time: ``ideal`` (SWD wire time
    #: only) or a CMSIS-DAP model from station.sim.probe_usb (``station sim create --probe``)
    probe_model: str = "ideal"
    #: how many times the slot's probe came back onto the station's USB (pull-probe/attach-probe,
    #: unplug/plug): a probe that returns enumerates anew, so its USB face is a new device (station.sim.dap_usb)
    probe_arrivals: int = 0

    def probe_listed(self) -> bool:
        """Whether the slot's probe enumerates on the station's USB: attached, with its unit in the
        fixture or lifted out of it (the probe stays); an unplugged twin takes its probe along."""
        return self.probe_attached and (self.plugged or self.lifted)


def _atomic_write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


class EventLog:
    """Append-only JSON-lines log. One line per event; safe across processes (O_APPEND)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {"t": time.time(), "kind": kind, **data}
        line = (json.dumps(event, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return event

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text().splitlines() if x.strip()]

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.read()]


#: a shared change counter beside state.json/faults.json (see Twin._changed)
CHANGES_FILE = "changes.seq"
#: the longest a change that bypassed the counter (a hand-edited faults.json) goes unnoticed
RECHECK_S = 0.5


class Twin:
    """A persisted simulated device. Open it with :meth:`open`; close it (or use ``with``).

    Thread safety: ``lock`` serialises every face of this twin inside one process (realtime sleeps
    are paid after it is released: :class:`~station.sim.clock.TwinLock`). Across
    processes, memory is shared through ``mmap`` (MAP_SHARED) and ``state.json`` is replaced
    atomically under ``state_lock()``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = TwinLock()
        self._state_lock_depth = 0
        ident = json.loads((self.path / "identity.json").read_text())
        self.identity = Identity(**ident)
        self.platform: Platform = platform_by_name(self.identity.platform)
        self.events = EventLog(self.path / "events.jsonl")
        self._files: list[Any] = []
        self.flash = self._map("flash.bin", NRF_FLASH_SIZE)
        self.uicr = self._map("uicr.bin", UICR_SIZE)
        self.ext_flash = self._map("extflash.bin", self.platform.ext_flash_sectors * EXT_SECTOR)
        self.otp = self._map("otp.bin", qspi.otp_size(self.platform))
        #: raw writes into the filesystem's blocks since it was last mounted (for the event's cause)
        self._fs_touched: list[str] = []
        self._faults_key: tuple[int, int, int] | None = None
        self._faults_cache = Faults()
        self._state_key: tuple[int, int, int] | None = None
        self._state_cache: State | None = None
        # The hot path (every DAP transfer) asks whether state or faults changed. Every change goes
        # through update_state()/set_faults(), which bump a counter in a shared mapping: reading it
        # costs no system call, so the two files are only stat'ed when the counter moved (and every
        # RECHECK_S anyway, so a hand edit of faults.json is still picked up).
        self._state_file = os.fspath(self.path / "state.json")
        self._faults_file = os.fspath(self.path / "faults.json")
        self._changes = self._map_counter(CHANGES_FILE)
        self._state_seen = -1
        self._faults_seen = -1
        self._state_checked = self._faults_checked = 0.0
        #: flash bytes programmed (any face) since plug-in or the last fault change: ``unplug_after_bytes``
        self.flash_bytes_written = 0
        self.clock = DeviceClock(
            realtime=bool(settings.get("sim_realtime")) or self.state.realtime,
            slow_factor=lambda: self.current_faults().slow_factor or 1.0,
            hold=self.lock,
        )

    # ------------------------------------------------------------------ creation / opening
    @classmethod
    def create(
        cls,
        bench: Path,
        name: str,
        platform: str = "boron",
        *,
        seed: int | None = None,
        deviceid: tuple[int, int] | None = None,
        approtect: bool = False,
        build_code: str = "D",
    ) -> Twin:
        """Make a chip fresh from Nordic on a board fresh from assembly: internal flash and UICR blank,
        the QSPI flash carrying its OTP (serial number, device secret) and a DCT with the device key.

        What a module maker adds before shipping (MBR, bootloader, UICR) is :mod:`station.sim.stock`'s
        business. ``approtect`` writes UICR.APPROTECT = 0 (locked); ``build_code`` picks the silicon
        family (FICR INFO.VARIANT "AAD0" or "AAF0").
        """
        plat = platform_by_name(platform)
        try:
            variant = BUILD_CODE_VARIANTS[build_code.upper()]
        except KeyError:
            raise ValueError(f"unknown nRF52840 build code {build_code!r} (known: D, F)") from None
        rng = random.Random(seed if seed is not None else os.urandom(8))
        d0, d1 = deviceid if deviceid else (rng.getrandbits(32), rng.getrandbits(32))
        folder = Path(bench) / name
        folder.mkdir(parents=True, exist_ok=False)
        imei = iccid = None
        if plat.cellular:
            imei = _with_check_digit("35" + "".join(str(rng.randrange(10)) for _ in range(12)))
            iccid = _with_check_digit("8934076" + "".join(str(rng.randrange(10)) for _ in range(11)))
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        serial = "P" + plat.name[:2].upper() + "".join(rng.choice(alphabet) for _ in range(12))
        ident = Identity(
            name=name,
            platform=plat.name,
            deviceid0=d0,
            deviceid1=d1,
            # A probe has its own serial: derived from the IDs for random twins (stable per seed), but
            # independent when the IDs are forced, so two twins sharing a device ID have two probes.
            probe_uid=f"SIM{d1:08X}{d0 & 0xFFFF:04X}" if deviceid is None else f"SIM{rng.getrandbits(48):012X}",
            serial_number=serial[:15],
            variant=variant,
            imei=imei,
            iccid=iccid,
        )
        (folder / "identity.json").write_text(json.dumps(asdict(ident), indent=1))
        (folder / "flash.bin").write_bytes(b"\xff" * NRF_FLASH_SIZE)
        uicr = bytearray(b"\xff" * UICR_SIZE)
        if approtect:
            uicr[0x208:0x20C] = b"\x00\x00\x00\x00"
        (folder / "uicr.bin").write_bytes(bytes(uicr))
        ext = bytearray(b"\xff" * (plat.ext_flash_sectors * EXT_SECTOR))
        lo, hi = qspi.fs_used_span()
        ext[lo:hi] = rng.randbytes(hi - lo)  # the filesystem's blocks: not erased flash
        (folder / "extflash.bin").write_bytes(bytes(ext))
        (folder / "fs.digest").write_text(hashlib.sha256(bytes(ext[lo:hi])).hexdigest())
        otp = bytearray(b"\xff" * qspi.otp_size(plat))
        otp[qspi.OTP_SERIAL_NUMBER : qspi.OTP_SERIAL_NUMBER + qspi.SERIAL_NUMBER_SIZE] = ident.serial_number.encode()
        secret = "".join(rng.choice(alphabet) for _ in range(qspi.DEVICE_SECRET_SIZE))
        otp[qspi.OTP_DEVICE_SECRET : qspi.OTP_DEVICE_SECRET + qspi.DEVICE_SECRET_SIZE] = secret.encode()
        (folder / "otp.bin").write_bytes(bytes(otp))
        key = qspi.ec_key_slot(rng.randbytes(119))
        pub = rng.randbytes(qspi.DCT_ALT_DEVICE_PUBLIC_KEY_SIZE)
        (folder / "dct.bin").write_bytes(qspi.new_dct(key, pub, bytes.fromhex(ident.device_id)))
        # Blank flash: the core locks up at the first reset vector fetch (no MBR), nothing enumerates.
        _atomic_write_json(folder / "state.json", asdict(State(run_state="fault")))
        _atomic_write_json(folder / "faults.json", asdict(Faults()))
        EventLog(folder / "events.jsonl").record(
            "created", device_id=ident.device_id, platform=plat.name, variant=variant
        )
        return cls(folder)

    @classmethod
    def open(cls, path: Path) -> Twin:
        return cls(path)

    def _map(self, filename: str, size: int) -> mmap.mmap:
        f = open(self.path / filename, "r+b")  # kept open for the mapping's life
        self._files.append(f)
        if os.fstat(f.fileno()).st_size != size:
            raise ValueError(f"{self.path / filename}: expected {size} bytes")
        return mmap.mmap(f.fileno(), size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)

    def _map_counter(self, filename: str) -> mmap.mmap:
        """An 8-byte shared counter, created zero on first use (twins made before it existed too)."""
        fd = os.open(self.path / filename, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)  # zero-filled; racing creators agree
            return mmap.mmap(fd, 8, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)  # the mapping keeps the file

    def _changed(self) -> None:
        """Tell every process with this twin open that state.json or faults.json was replaced."""
        seq = struct.unpack_from("<Q", self._changes)[0]
        struct.pack_into("<Q", self._changes, 0, (seq + 1) & 0xFFFFFFFFFFFFFFFF)

    def _change_count(self) -> int:
        return int(struct.unpack_from("<Q", self._changes)[0])

    def change_count(self) -> int:
        """Moves whenever state.json or faults.json is replaced (by any process): a watcher that saw
        the same count last time can skip reading them. Read it before the files, not after."""
        return self._change_count()

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):
            self._changes.close()
        for m in (self.flash, self.uicr, self.ext_flash, self.otp):
            with contextlib.suppress(BufferError, ValueError):
                m.close()
        for f in self._files:
            f.close()
        self._files.clear()

    def __enter__(self) -> Twin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def device_id(self) -> str:
        return self.identity.device_id

    @property
    def reported_platform(self) -> Platform:
        """The platform the device says it is (a fault can make it lie, like a mis-stuffed board)."""
        wrong = self.faults.wrong_platform
        return platform_by_name(wrong) if wrong else self.platform

    def device_key(self) -> bytes:
        """The EC device key slot of the DCT (``alt_device_private_key``, 192 bytes at 3106)."""
        return qspi.key_of(self.dct_read_all())

    def key_present(self) -> bool:
        return self.device_key() != b"\xff" * DEVICE_KEY_SIZE

    # ------------------------------------------------------------------ OTP (QSPI security registers)
    def otp_read(self, offset: int, size: int) -> bytes:
        """``hal_exflash_read_special(OTP, offset, size)``: the only way to these bytes."""
        if offset < 0 or size < 0 or offset + size > len(self.otp):
            raise ValueError(f"OTP read out of range: {offset:#x}+{size:#x} (OTP is {len(self.otp)} bytes)")
        return bytes(self.otp[offset : offset + size])

    def serial_number(self) -> str:
        """The serial number as Device OS reads it (OTP 0, 15 chars; empty when blank)."""
        raw = self.otp_read(qspi.OTP_SERIAL_NUMBER, qspi.SERIAL_NUMBER_SIZE)
        return "" if raw == b"\xff" * len(raw) else raw.decode("ascii", "replace").rstrip("\x00")

    def device_secret(self) -> str:
        """The device secret from OTP 0x10 (Device OS prefers the DCT copy when one was written)."""
        dct = self.dct_read(qspi.DCT_DEVICE_SECRET_OFFSET, qspi.DEVICE_SECRET_SIZE)
        raw = dct if dct != b"\xff" * len(dct) else self.otp_read(qspi.OTP_DEVICE_SECRET, qspi.DEVICE_SECRET_SIZE)
        return "" if raw == b"\xff" * len(raw) else raw.decode("ascii", "replace")

    # ------------------------------------------------------------------ DCT (a file in the filesystem)
    def dct_read_all(self) -> bytes:
        with self.lock:
            self.mount_filesystem()
            return (self.path / "dct.bin").read_bytes()

    def dct_read(self, offset: int, size: int) -> bytes:
        """``dct_read_app_data_copy``: bytes past the file's end read as erased (0xFF) here."""
        data = self.dct_read_all()[offset : offset + size]
        return data.ljust(size, b"\xff")

    def dct_write(self, offset: int, data: bytes) -> None:
        """``dct_write_app_data``: exactly these bytes of the file change (LittleFS copy-on-write).

        ``key_lost`` is recorded only when the key slot's bytes really change from a present key.
        """
        if offset < 0 or offset + len(data) > DCT_SIZE:
            raise ValueError(f"DCT write out of range: {offset:#x}+{len(data):#x}")
        with self.state_lock():
            before = self.dct_read_all()
            self._replace_dct(qspi.dct_written(before, offset, data), before, f"DCT write at {offset}+{len(data)}")

    def _replace_dct(self, after: bytes, before: bytes, why: str) -> None:
        old_key, new_key = qspi.key_of(before), qspi.key_of(after)
        tmp = self.path / "dct.bin.tmp"
        tmp.write_bytes(after)
        os.replace(tmp, self.path / "dct.bin")
        if old_key != new_key and old_key != b"\xff" * DEVICE_KEY_SIZE:
            self.events.record("key_lost", cause=why)

    # ------------------------------------------------------------------ state
    @contextlib.contextmanager
    def state_lock(self) -> Iterator[None]:
        """Cross-process lock around read-modify-write of the twin's small files (state, DCT).

        Re-entrant within the thread that holds ``lock``: a second ``flock`` on a new descriptor of
        the same file would wait for the first, in the same process, forever.
        """
        with self.lock:
            if self._state_lock_depth:
                self._state_lock_depth += 1
                try:
                    yield
                finally:
                    self._state_lock_depth -= 1
                return
            with open(self.path / ".state.lock", "a") as lf:
                filelock.lock(lf)
                self._state_lock_depth = 1
                try:
                    yield
                finally:
                    self._state_lock_depth = 0
                    filelock.unlock(lf)

    @property
    def state(self) -> State:
        raw = json.loads((self.path / "state.json").read_text())
        known = {f.name for f in fields(State)}
        return State(**{k: v for k, v in raw.items() if k in known})

    def update_state(self, **changes: Any) -> State:
        with self.state_lock():
            st = self.state
            listed = st.probe_listed()
            for k, v in changes.items():
                if not hasattr(st, k):
                    raise AttributeError(k)
                setattr(st, k, v)
            if st.probe_listed() and not listed:
                st.probe_arrivals += 1
            _atomic_write_json(self.path / "state.json", asdict(st))
            self._changed()
            return st

    @property
    def realtime(self) -> bool:
        return self.clock.realtime

    @realtime.setter
    def realtime(self, on: bool) -> None:
        self.clock.realtime = on

    @property
    def faults(self) -> Faults:
        """A fresh copy of the injected faults (callers may keep or change it freely)."""
        return replace(self.current_faults(), measurement_overrides=dict(self.current_faults().measurement_overrides))

    def current_state(self) -> State:
        """The state, re-read only when ``state.json`` was replaced (hot path: every DAP transfer).

        Another process (``station sim unplug``, a test, the bench) may unplug the twin at any
        moment; the faces must notice on their next transfer, as a probe notices a pulled cable.
        """
        seq = self._change_count()  # read before the stat: a change after it moves the counter again
        now = time.monotonic()
        if seq == self._state_seen and self._state_cache is not None and now - self._state_checked < RECHECK_S:
            return self._state_cache
        self._state_checked = now
        try:
            st = os.stat(self._state_file)
        except FileNotFoundError:
            return self.state
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._state_key or self._state_cache is None:
            self._state_cache = self.state
            self._state_key = key
        self._state_seen = seq
        return self._state_cache

    def current_faults(self) -> Faults:
        """The injected faults, re-read only when ``faults.json`` changed (hot path: every DAP transfer).

        The returned object is shared; do not modify it — use :meth:`set_faults`.
        """
        seq = self._change_count()
        now = time.monotonic()
        if seq == self._faults_seen and now - self._faults_checked < RECHECK_S:
            return self._faults_cache
        self._faults_checked = now
        try:
            st = os.stat(self._faults_file)
        except FileNotFoundError:
            return self._faults_cache
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._faults_key:
            with open(self._faults_file) as fh:
                raw = json.load(fh)
            known = {f.name for f in fields(Faults)}
            self._faults_cache = Faults(**{k: v for k, v in raw.items() if k in known})
            if self._faults_key is not None:
                self.flash_bytes_written = 0
            self._faults_key = key
        self._faults_seen = seq
        return self._faults_cache

    def set_faults(self, **changes: Any) -> Faults:
        with self.state_lock():
            f = self.faults
            for k, v in changes.items():
                if not hasattr(f, k):
                    raise AttributeError(k)
                setattr(f, k, v)
            _atomic_write_json(self.path / "faults.json", asdict(f))
            self._changed()
            self.flash_bytes_written = 0
            return f

    # ------------------------------------------------------------------ shared fault bookkeeping
    def count_flash_bytes(self, nbytes: int) -> bool:
        """Account ``nbytes`` programmed into flash by any face; True if the twin just unplugged itself.

        Models a cable pulled mid-transfer (``unplug_after_bytes``): the face that gets True must
        behave like its bus lost the device (probe gone, USB device gone).
        """
        limit = self.current_faults().unplug_after_bytes
        self.flash_bytes_written += nbytes
        if limit is not None and self.flash_bytes_written >= limit and self.state.plugged:
            self.unplug()
            return True
        return False

    # ------------------------------------------------------------------ external flash
    def erase_ext(self, offset: int, size: int) -> None:
        """Erase external-flash bytes (sector granularity is the caller's business).

        Erasing blocks the filesystem lives in destroys it, and with it the DCT and the device key
        (see :mod:`station.sim.qspi`). The OTP registers are not in this address space.
        """
        if offset < 0 or size < 0 or offset + size > len(self.ext_flash):
            raise ValueError(f"external flash erase out of range: {offset:#x}+{size:#x}")
        with self.lock:
            self._raw_ext_change(offset, b"\xff" * size, f"external-flash erase at {offset:#x}+{size:#x}")
            self.clock.advance(NOR_SECTOR_ERASE_S * max(1, -(-size // EXT_SECTOR)))

    def program_ext(self, offset: int, data: bytes) -> None:
        """Program external flash with NOR semantics (bits only go 1→0; erase first to set them)."""
        if offset < 0 or offset + len(data) > len(self.ext_flash):
            raise ValueError(f"external flash write out of range: {offset:#x}+{len(data):#x}")
        with self.lock:
            old = int.from_bytes(self.ext_flash[offset : offset + len(data)], "little")
            new = (old & int.from_bytes(data, "little")).to_bytes(len(data), "little")
            self._raw_ext_change(offset, new, f"external-flash write at {offset:#x}+{len(data):#x}")

    def _raw_ext_change(self, offset: int, new: bytes, why: str) -> None:
        lo, hi = qspi.fs_used_span()
        if offset < hi and offset + len(new) > lo and bytes(self.ext_flash[offset : offset + len(new)]) != new:
            self._fs_touched.append(why)
        self.ext_flash[offset : offset + len(new)] = new

    def mount_filesystem(self) -> bool:
        """What Device OS does at boot and at every DCT access: mount the filesystem.

        If raw writes changed the filesystem's blocks since it was last mounted, it no longer
        mounts: Device OS formats it and recreates an empty DCT (``dct_file.h`` ``init``), which is
        when the key is lost. Rewriting the same bytes after an erase (a dump restored with
        dfu-util) leaves it mountable. Returns True when it mounted as it was.
        """
        lo, hi = qspi.fs_used_span()
        with self.state_lock():
            digest = hashlib.sha256(bytes(self.ext_flash[lo:hi])).hexdigest()
            marker = self.path / "fs.digest"
            if marker.read_text() == digest:
                self._fs_touched.clear()
                return True
            why = "; ".join(dict.fromkeys(self._fs_touched)) or "external-flash contents changed"
            self._fs_touched.clear()
            before = (self.path / "dct.bin").read_bytes()
            self._replace_dct(b"\xff" * qspi.DCT_FILE_SIZE, before, f"filesystem corrupted by {why}")
            marker.write_text(digest)  # the freshly formatted filesystem
            self.events.record("filesystem_formatted", cause=why)
            return False

    # ------------------------------------------------------------------ hotplug
    def plug(self) -> None:
        self.flash_bytes_written = 0
        st = self.update_state(plugged=True, lifted=False, generation=self.state.generation + 1)
        self.events.record("plug", run_state=st.run_state)

    def unplug(self) -> None:
        """The unit and its slot's probe leave together (a bench device's USB cable, or a whole
        fixture slot taken off the station): nothing of it enumerates any more."""
        self.update_state(plugged=False, lifted=False, run_state="off", running_app=None,
                          generation=self.state.generation + 1)
        self.events.record("unplug")

    def lift(self) -> None:
        """The unit is taken out of its fixture; the fixture's probe stays on the station's USB.

        What a real line sees: the probe keeps enumerating and answering its own commands, but the
        target gives no ACK (see :mod:`station.sim.probe`), and the unit, which the fixture powered,
        is off. :meth:`plug` seats a unit again.
        """
        self.update_state(plugged=False, lifted=True, run_state="off", running_app=None,
                          generation=self.state.generation + 1)
        self.events.record("lift")

    def pull_probe(self) -> None:
        """The slot's probe leaves (its USB cable pulled, or its probe server died); the unit stays
        in the fixture, powered. pyocd then gets ``ProbeDisconnected`` and no longer lists it."""
        self.update_state(probe_attached=False)
        self.events.record("probe_pulled")



def _with_check_digit(digits: str) -> str:
    return digits + luhn_check_digit(digits)
