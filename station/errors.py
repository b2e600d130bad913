"""One exception tree for the whole station.

Two families matter to the people using the station, so they are split at the root:

* ``InputError`` — the operator's input or configuration is wrong (a bad profile, a corrupt
  firmware file, a missing cache entry). Nothing has been done to any device. The CLI exits 2.
* ``DeviceError`` — a device, probe, cable or the environment failed while working on a device.
  The failure is recorded against that device's attempt and the CLI exits 1.

Anything else that escapes is a bug and is reported as such (with a traceback).
Library errors (pyocd, pyusb, pyserial, SQLAlchemy) are translated at the boundary with
``raise ... from exc`` so callers only ever catch these.
"""

from __future__ import annotations


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


class FirmwareError(InputError):
    """A firmware file is unreadable, corrupt, or does not fit the target."""


class CacheError(InputError):
    """The firmware cache is missing an entry or an entry no longer matches its hash."""


class ConfigError(InputError):
    """Station configuration (database URL, slots, credentials) is wrong."""


# --------------------------------------------------------------------------- device / environment
class DeviceError(StationError):
    """A device or its connection failed. Recorded against the device's attempt."""


class DeviceGone(DeviceError):
    """The device (or its probe) disappeared: unplugged mid-operation."""


class DeviceTimeout(DeviceError):
    """The device did not answer in time."""


class DeviceLocked(DeviceError):
    """Readback protection (APPROTECT) is on; recovering means erasing the chip."""


class VerifyError(DeviceError):
    """What was read back from the device differs from what was written."""


class TransportError(DeviceError):
    """A protocol-level failure talking to the device (SWD fault, USB stall, garbled serial)."""


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


class RegistryConflict(StationError):
    """The registry refuses an operation (device belongs to another product, already registered)."""


class Cancelled(StationError):
    """The operator (or a shutdown) cancelled the work."""


class CloudError(StationError):
    """A cloud API call failed; the outbox keeps the entry."""
