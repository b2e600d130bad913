"""One exception tree for the whole station.

The families are split at the root by who has to act, because that decides what a front end shows
and what the record says:

* ``InputError`` — the operator's input or configuration is wrong (a bad profile, a corrupt
  firmware file, a missing cache entry, a mistyped device ID). Nothing has been done to any device.
  The CLI exits 2.
* ``DeviceError`` — a device, probe or cable failed while working on a device. The failure is
  recorded against that device's attempt and the CLI exits 1.
* ``StationFault`` — something the station itself depends on failed (the registry database, a
  cloud API, the label directory). No device is at fault and no input is wrong; the station is in
  error until a person fixes its environment. The CLI exits 1.
* ``ControlFlow`` — not a failure: a decided way for work to end early (cancelled, already done,
  a step that failed and has already been recorded). Callers turn it into an outcome.

Anything else that escapes is a bug and is reported as such (with a traceback).
Library errors (pyocd, pyusb, pyserial, SQLAlchemy, requests) are translated at the boundary with
``raise ... from exc`` so callers only ever catch these.

Errors carry what a front end or a retry policy needs as fields (the verify address and bytes, the
fault address, the profile file and field), not only as text. The text (``str(exc)``) is what the
CLI prints, so it is passed in whole by the raiser and never rebuilt from the fields here.
"""

from __future__ import annotations

from typing import Any


class StationError(RuntimeError):
    """Root of every error the station raises on purpose."""


# --------------------------------------------------------------------------- input / configuration
class InputError(StationError):
    """The operator's input or configuration is wrong; nothing was done to a device."""


class ProfileError(InputError):
    """A product profile is invalid. Carries where (file, field) and what was expected."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: {field}: {problem}" if field else f"{path}: {problem}")


class ProfileRejected(InputError):
    """An edited profile was not saved: the check found problems (``problems``, each with its line)."""

    def __init__(self, problems: list[Any]) -> None:
        self.problems = problems
        super().__init__(f"not saved: {len(problems)} problem(s), first {problems[0]}")


class FirmwareError(InputError):
    """A firmware file is unreadable, corrupt, or does not fit the target."""


class CacheError(InputError):
    """The firmware cache is missing an entry or an entry no longer matches its hash."""


class CacheMissing(CacheError):
    """The firmware cache has no entry for a hash (never added, or the cache folder is another one)."""


class ConfigError(InputError):
    """Station configuration (database URL, slots, credentials) is wrong."""


class NoRegistry(ConfigError):
    """There is no station registry at the given place, and this command does not create one."""


class RegistryReadOnly(ConfigError):
    """The registry cannot be written (a read-only or immutable file, a read-only directory, a
    read-only PostgreSQL transaction or standby). An input problem: nothing was changed."""


class StationNameInUse(ConfigError):
    """Another live station process on another machine holds this station name in this registry."""


class LoginRefused(InputError):
    """Wrong name, badge or PIN, or an account locked after too many failures. Says no more."""


class CloudAuthError(ConfigError):
    """The cloud refused the credential (wrong, expired, or missing a scope).

    An input error, not a cloud fault: retrying cannot help, and the fix is the operator's (a new
    token), so the CLI exits 2 and the outbox keeps its entries for the next, configured, sync.
    """


class InvalidDeviceId(InputError, ValueError):
    """Text that should be a device ID is not one (24 hex characters; Gen3 IDs start ``e00fce68``).

    An input error because device IDs arrive from people and scanners. It is also a
    ``ValueError``, as ``int("x")`` is, so code validating text can treat it like any bad value.
    """

    def __init__(self, message: str, *, text: str) -> None:
        super().__init__(message)
        self.text = text


# --------------------------------------------------------------------------- device
class DeviceError(StationError):
    """A device or its connection failed. Recorded against the device's attempt."""


class DeviceGone(DeviceError):
    """The device disappeared mid-operation: unplugged from USB, or taken out of its fixture (its
    probe still there, the target no longer answering). The unit left: its attempt fails."""


class ProbeGone(DeviceGone):
    """The slot's debug probe went (its cable pulled, its probe server dead, its USB link broken):
    the station lost its tool, which says nothing about the unit, so the attempt ends in ERROR.
    A ``DeviceGone`` still, for code that only needs to know the link is gone."""


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""


class DeviceLocked(DeviceError):
    """Readback protection (APPROTECT) is on; recovering means erasing the chip."""


class VerifyError(DeviceError):
    """What was read back from the device differs from what was written.

    ``address`` is the first differing byte; ``expected`` and ``actual`` are the bytes from there
    (up to :data:`VERIFY_WINDOW`), so a report can show the damage without reading the device again.
    All three are ``None`` when a raiser only knows that something differs.
    """

    def __init__(
        self,
        message: str,
        *,
        address: int | None = None,
        expected: bytes | None = None,
        actual: bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.address = address
        self.expected = expected
        self.actual = actual


#: bytes of a verify mismatch kept in :class:`VerifyError` (from the first differing one)
VERIFY_WINDOW = 16


class TransportError(DeviceError):
    """A protocol-level failure talking to the device (SWD fault, USB stall, garbled serial)."""


class TransferFault(TransportError):
    """An SWD access faulted (the AP answered FAULT, or the bus behind it did).

    ``address`` is the memory address of the faulting access when the probe reports it. Kept apart
    from other transport errors because a transfer fault can be transient (a marginal contact or
    clock) where a protocol error is not; a retry policy decides on this type, not on text.
    """

    def __init__(self, message: str, *, address: int | None = None) -> None:
        super().__init__(message)
        self.address = address


class UsbBusy(DeviceError):
    """The device kept answering "busy" (too many requests in flight, or it is working) until the deadline."""


class ControlRequestFailed(TransportError):
    """A USB control request reached Device OS and Device OS answered it with an error code.

    ``request`` names the request (``DFU_MODE``), ``result`` is Device OS's ``system_error_t``
    (e.g. -120 "Not supported"); the message carries Device OS's own text for the code.
    """

    def __init__(self, message: str, *, request: str, result: int) -> None:
        super().__init__(message)
        self.request = request
        self.result = result


class RequestNotSupported(ControlRequestFailed):
    """Device OS does not implement the request (``SYSTEM_ERROR_NOT_SUPPORTED``) or STALLed it."""


class IdentityMismatch(DeviceError):
    """Two ways of asking the device who it is gave different answers."""


class LabelMismatch(DeviceError):
    """A scanned label names a serial number other than the registry's for that device ID: the
    label is on the wrong board (or the board in the wrong box). Exit 1, like a failed device."""


class TestsFailed(DeviceError):
    """The device failed its functional tests: the device is at fault, so it is recorded against it.

    ``step`` names the failing test step, which becomes the attempt's failing step.
    """

    __test__ = False  # not a pytest class despite the name

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(reason)
        self.step = step


class DeviceBusy(DeviceError):
    """The device already has a live attempt in this registry (another slot, process, transport or PC).

    Refused before the device is touched: two runs on one board at once (an SWD slot flashing
    while a USB bench puts it into DFU) leave it half-flashed.
    """


# --------------------------------------------------------------------------- registry / station
class RegistryConflict(StationError):
    """The registry refuses an operation (device belongs to another product, already registered).

    Neither input nor device nor environment: the record of truth says no, and only a person
    deciding about that device (or lot) can change it. Recorded against the attempt; exit 1.
    """


class StationFault(StationError):
    """Something the station depends on failed: no device is at fault and no input is wrong."""


class RegistryUnavailable(StationFault):
    """The registry database cannot be reached, is full, or stayed locked past the busy timeout.

    Neither the operator's input nor a device is at fault: the station stops working on devices,
    leaves them safe, writes nothing half, and closes the attempts it could not close once the
    registry is back (reason "registry unavailable").
    """


class CloudError(StationFault):
    """A cloud API call failed; the outbox keeps the entry."""


class CloudUnavailable(CloudError):
    """Network down, timeout, 5xx or 429: retrying later can succeed (``retry_after`` is the server's hint)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CloudRejected(CloudError):
    """A 4xx that retrying will not fix: the entries are parked for a person (``status`` is the HTTP code)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- control flow
class ControlFlow(StationError):
    """Not a failure: work ends early on purpose, and the caller turns it into an outcome."""


class Cancelled(ControlFlow):
    """The operator (or a shutdown) cancelled the work."""


class AlreadyDone(ControlFlow):
    """The registry says this device is done and the profile says skip it: the attempt is SKIPPED."""

    def __init__(self, message: str, *, device_id: str | None = None) -> None:
        super().__init__(message)
        self.device_id = device_id


class StepFailed(ControlFlow):
    """Raised out of a step after it has been recorded; carries the station error that caused it.

    Control flow, not a new failure: the failure itself is ``cause`` and is already in the record,
    so the attempt only has to end (with ``cause``'s outcome) without recording it twice.
    """

    def __init__(self, step: str, cause: StationError) -> None:
        super().__init__(f"{step}: {cause}")
        self.step = step
        self.cause = cause
