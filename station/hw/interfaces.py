"""What the pipeline needs from hardware, as small interfaces with one real implementation each.

Lifecycle of every link: obtain it from a discovery function, use it as a context manager
(``__enter__`` opens the probe/port/USB handle, ``__exit__`` releases it whatever happened), call
operations in between. Every operation raises only :mod:`station.errors` exceptions:
``DeviceGone`` (the unit unplugged or out of its fixture; its subclass ``ProbeGone``: the probe
went), ``DeviceTimeout``, ``DeviceLocked``, ``VerifyError``, ``TransportError``. Progress is reported through an injected callable; links never print.

Implementations: ``station.hw.swd`` (pyocd; the flows are typed against these protocols, and
mypy holds each class to its protocol where a flow assigns it), ``station.hw.usb`` + ``station.hw.dfu`` (pyusb),
``station.hw.serial`` (pyserial). ``station.hw.backend`` is the one place that chooses the real
or the simulated backend.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from station.domain import FlashImage, ModuleStatus

#: progress(done_bytes, total_bytes)
ProgressFn = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    """Default progress sink."""


class EraseStrategy(enum.StrEnum):
    AUTO = "auto"  # choose the cheaper of chip erase and sector erase for the image set
    SECTOR = "sector"  # erase only the sectors the images touch
    CHIP = "chip"  # erase all internal flash first (never touches external flash / DCT)


@dataclass
class FlashReport:
    """What a flash operation did, for the step record (SEGGER-style per-phase timing)."""

    bytes_written: int = 0
    bytes_skipped: int = 0  # smart flash: identical sectors not rewritten
    erase_s: float = 0.0
    program_s: float = 0.0
    verify_s: float = 0.0
    erase_strategy: str = ""
    verified: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeInfo:
    unique_id: str
    vendor: str
    product: str
    board: str | None = None


class SwdLink(Protocol):
    """A debug probe session on one slot (pyocd). Opening it must not change the target's state."""

    probe_uid: str

    def __enter__(self) -> SwdLink: ...
    def __exit__(self, *exc: object) -> None: ...
    def is_locked(self) -> bool: ...
    def recover(self) -> None:
        """Mass-erase through the CTRL-AP to clear APPROTECT. Destroys internal flash; never the DCT."""
    def read_device_id(self) -> str: ...
    def read32(self, address: int) -> int: ...
    def read_memory(self, address: int, size: int) -> bytes: ...
    def crc32(self, address: int, size: int) -> int:
        """CRC-32 (zlib) of a flash range, without reading it back where the link can avoid it."""
        ...
    def program(
        self,
        images: Sequence[FlashImage],
        *,
        verify: bool = True,
        smart: bool = True,
        erase: EraseStrategy = EraseStrategy.AUTO,
        progress: ProgressFn = no_progress,
    ) -> FlashReport: ...
    def verify(self, images: Sequence[FlashImage], *, progress: ProgressFn = no_progress) -> None:
        """Check every byte the images put in flash; ``VerifyError`` names the first that differs."""
    @property
    def is_open(self) -> bool:
        """Whether the session is connected (a failed open or a close leaves it closed)."""
    def locked_now(self) -> bool:
        """Ask the chip now (APPROTECTSTATUS), not what it said when the session opened."""
    def write_uicr(self, address: int, value: int) -> None:
        """Program one UICR word (bits only go 1 to 0) and read it back."""
    def lock_and_prove(self) -> bool:
        """Enable readback protection, reset without running firmware, report whether it locked."""
    def halt(self) -> None: ...
    def is_halted(self) -> bool:
        """The core's state as the debug port reports it, not as the last command intended."""
    def reset_and_run(self) -> None:
        """Reset and let the firmware run (used to start the factory-test firmware)."""
    def reset_and_halt(self) -> None: ...
    def hold_in_reset(self) -> None:
        """Halt, arm reset vector catch, assert nRESET: released, the core stops at its first instruction."""
    def is_reset_held(self) -> bool: ...


@dataclass(frozen=True)
class UsbDeviceInfo:
    device_id: str  # iSerial
    platform_id: int
    mode: str  # "normal" | "dfu"
    vid: int
    pid: int
    bus: int | None = None
    address: int | None = None
    error: str | None = None  # set when the device is listed but could not be read (busy, half-enumerated)


class UsbControl(Protocol):
    """Control requests to a device in normal mode (Device OS's raw requests and service protocol)."""

    device_id: str

    def __enter__(self) -> UsbControl: ...
    def __exit__(self, *exc: object) -> None: ...
    def get_device_id(self) -> str: ...
    def get_system_version(self) -> str: ...
    def get_module_info(self) -> list[ModuleStatus]: ...
    def reset(self) -> None: ...
    def enter_dfu(self) -> None: ...
    def start_listening(self) -> None: ...
    def stop_listening(self) -> None: ...
    def is_listening(self) -> bool: ...
    def set_setup_done(self, done: bool = True) -> None: ...
    def is_setup_done(self) -> bool: ...
    def update_firmware(self, data: bytes, *, progress: ProgressFn = no_progress) -> None:
        """START / DATA chunks / FINISH; Device OS applies the module at the reset that follows."""


class DfuTarget(Protocol):
    """A device in DFU mode (DfuSe). Found and re-found by device ID, never by port or order."""

    device_id: str

    def __enter__(self) -> DfuTarget: ...
    def __exit__(self, *exc: object) -> None: ...
    def program(
        self, images: Sequence[FlashImage], *, verify: bool = True, progress: ProgressFn = no_progress
    ) -> FlashReport: ...
    def read(self, alt: int, address: int, size: int) -> bytes:
        """DFU UPLOAD of ``size`` bytes at ``address`` from alternate setting ``alt``."""
    def leave(self) -> None:
        """Zero-length DNLOAD → manifest → the device resets and runs its firmware."""


@dataclass
class ListeningInfo:
    """Parsed answer of listening-mode ``i`` (either output form)."""

    device_id: str
    serial_number: str | None = None
    imei: str | None = None
    iccid: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class TestReply:
    ok: bool
    value: Any = None
    unit: str | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class SerialConsole(Protocol):
    """A device's CDC serial port, found by USB serial number (= device ID)."""

    port: str

    def __enter__(self) -> SerialConsole: ...
    def __exit__(self, *exc: object) -> None: ...
    # listening mode
    def identify(self) -> ListeningInfo: ...
    def system_version(self) -> str: ...
    def modules(self) -> list[dict[str, Any]]: ...
    # factory test protocol (docs/factory-test-protocol.md)
    def call(self, cmd: str, timeout: float = 5.0, **args: Any) -> TestReply: ...
