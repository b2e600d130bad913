"""pyocd sessions as a station uses them: the lazy import, error translation, probe listing, options.

pyocd is written for one interactive session per process; a station runs one session per fixture
slot, in threads. What that takes (``shared/research/pyocd-twin.md``):

* ``Session.__init__`` ``chdir``s into ``project_dir``: every session gets the process's current
  directory, so the ``chdir`` is a no-op, and ``no_config`` so no stray ``pyocd.yaml`` is read.
* ``Session._current_session`` is process-wide and read during open: sessions are created and
  opened under one lock (:data:`SESSION_OPEN_LOCK`); the flashing itself then runs in parallel.
* ``auto_unlock`` defaults to on and mass-erases a locked chip silently. The station turns it off:
  a locked chip is reported as :class:`~station.errors.DeviceLocked`, and recovery is a separate,
  explicit call the pipeline only makes when the profile allows it and an engineer confirmed it.
* ``resume_on_disconnect`` defaults to on, which would let freshly flashed product firmware run
  (and connect to the cloud) the moment the session closes. The station turns it off.
* Every session open parses the target's SVD file (``nrf52840.svd``) in a thread, for register
  names in pyocd's commander and gdbserver: 0.35–0.5 s of CPU per device that a station, which
  uses neither, does not spend (:class:`SkipSvd`).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from station.errors import DeviceError, DeviceGone, DeviceTimeout, ProbeGone, TransferFault, TransportError
from station.hw.interfaces import ProbeInfo

LOG = logging.getLogger(__name__)

DEFAULT_FREQUENCY = 4_000_000
#: libusb_error LIBUSB_ERROR_NO_DEVICE (libusb.h): "No such device (it may have been disconnected)"
LIBUSB_ERROR_NO_DEVICE = -4

#: pyocd's open sequence touches process-wide state; see the module docstring.
SESSION_OPEN_LOCK = threading.Lock()

T = TypeVar("T")


def pyocd_modules() -> tuple[Any, Any]:
    """Import pyocd lazily: it is slow to import and only SWD stations need it.

    Returns ``(pyocd.core.helpers, pyocd.core.exceptions)``.
    """
    import pyocd.core.exceptions as exc
    import pyocd.core.helpers as helpers

    return helpers, exc


class SkipSvd:
    """pyocd session delegate: drop ``load_svd`` from the target's init sequence (see the module docstring)."""

    def will_init_target(self, target: Any, init_sequence: Any) -> None:
        if init_sequence.has_task("load_svd"):
            init_sequence.remove_task("load_svd")


def session_options(target: str, frequency: int) -> dict[str, Any]:
    """The options every station session is opened with (why each: the module docstring)."""
    return {
        "project_dir": os.getcwd(),
        "no_config": True,
        "frequency": frequency,
        "auto_unlock": False,
        "resume_on_disconnect": False,
        "connect_mode": "attach",
        "hide_programming_progress": True,
        "target_override": target,
    }


def list_probes() -> list[ProbeInfo]:
    """Every debug probe pyocd can see (CMSIS-DAP, J-Link, ST-Link, plugins such as ``sim``).

    Never waits for a probe to appear: the hotplug watcher calls this every half second.
    """
    helpers, exc = pyocd_modules()
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


def translate(what: str, err: BaseException) -> DeviceError:
    """Turn a pyocd exception into the station's vocabulary, keeping pyocd's words."""
    _, exc = pyocd_modules()
    if isinstance(err, OSError):
        # pyocd's remote probe (``TCPClientProbe``, pyocd/probe/tcp_client_probe.py) talks to its
        # probe server through a plain socket (pyocd/utility/sockets.py ``ClientSocket``): a server
        # that died or a network that broke mid-run surfaces as the socket's own OSError
        # (ConnectionResetError, BrokenPipeError, a timeout), never as a pyocd error. The probe is
        # lost to the station exactly as a pulled USB probe is. pyusb's USBError is an OSError too
        # (usb/core.py: ``class USBError(IOError)``): a probe on this computer's USB that went says
        # so, in words a person at the bench acts on (plug it back in), not a server's.
        return ProbeGone(f"{what}: {_lost_probe_words(err)} ({err.__class__.__name__}: {err})")
    cause = innermost_pyocd_error(err)  # what the probe said, under pyocd's "Target not detected"
    words = str(err) if cause is err else f"{err}: {cause}"
    if isinstance(cause, exc.ProbeError):
        # The probe itself: pyocd's probe server reports a vanished probe as ProbeDisconnected
        # (tcp_probe_server.py), a local CMSIS-DAP probe whose USB link broke raises ProbeError
        # ("read thread exited unexpectedly", cmsis_dap_probe.py _convert_exception of DeviceError).
        return ProbeGone(f"{what}: the debug probe disconnected ({words})")
    if type(cause) is exc.TransferError:
        # The probe answered but the target did not: a CMSIS-DAP transfer with no ACK (pyocd 0.46
        # dap_access_cmsis_dap.py _check_response raises exactly TransferError; WAIT and FAULT
        # have their own subclasses). The unit left the fixture or lost contact with the pins.
        return DeviceGone(f"{what}: the unit stopped answering over SWD; its probe is still there ({words})")
    if isinstance(err, exc.TransferTimeoutError):
        return DeviceTimeout(f"{what}: the target kept answering WAIT ({err})")
    if isinstance(err, exc.TransferFaultError):
        return TransferFault(f"{what}: SWD transfer fault ({err})", address=getattr(err, "fault_address", None))
    if isinstance(err, exc.FlashFailure):
        return TransportError(f"{what}: the flash algorithm failed ({err})")
    if isinstance(err, exc.TimeoutError):
        return DeviceTimeout(f"{what}: timed out ({err})")
    return TransportError(f"{what}: {err}")


def _lost_probe_words(err: OSError) -> str:
    """What a lost probe's OSError means on its seam: USB (pyusb's ``USBError``) or a probe server's socket."""
    if type(err).__module__.split(".")[0] == "usb":  # pyusb, not imported here: a remote-only line has no need of it
        if err.errno == errno.ENODEV or getattr(err, "backend_error_code", None) == LIBUSB_ERROR_NO_DEVICE:
            return "the debug probe was unplugged from this computer's USB (its cable came out, or its hub lost power)"
        return "the debug probe stopped answering on this computer's USB (check its cable and hub)"
    return ("the debug probe's server stopped answering (the program serving the probe over the network "
            "ended, or the network to it broke)")


def innermost_pyocd_error(err: BaseException) -> BaseException:
    """The first pyocd error in ``err``'s ``__cause__`` chain that has no pyocd cause of its own.

    pyocd re-raises what the probe said under its own words: ``DebugPort._connect`` turns any
    error while reading DP IDR into ``Error("Target not detected…")`` from it. Telling a probe
    that went from a target that did not answer needs the original.
    """
    _, exc = pyocd_modules()
    seen = err
    while isinstance(seen.__cause__, exc.Error):
        seen = seen.__cause__
    return seen


def call(what: str, fn: Callable[[], T]) -> T:
    """Run one pyocd operation; a pyocd error, or a remote probe's socket error, leaves as a station
    error saying ``what`` failed."""
    _, exc = pyocd_modules()
    try:
        return fn()
    except (exc.Error, OSError) as err:
        raise translate(what, err) from err
    except AssertionError as err:
        lost = socket_error(err)
        if lost is None:
            raise
        # pyocd's ``@locked`` (pyocd/utility/concurrency.py) unlocks in a ``finally``: when the
        # remote ``lock`` request itself died on the socket, ``TCPClientProbe.unlock`` asserts a
        # lock count of zero and that AssertionError hides the socket's error in its context.
        raise translate(what, lost) from err


def socket_error(err: BaseException) -> OSError | None:
    """The OSError an exception was raised while handling (``__context__``/``__cause__``), if any."""
    seen: BaseException | None = err
    for _ in range(8):  # a short chain; never loop on a cycle
        if seen is None:
            return None
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def close_quietly(session: Any, probe_uid: str) -> None:
    """Close a session whose probe may have vanished: that must not mask the error being raised."""
    try:
        session.close()
    except Exception as err:
        LOG.debug("closing session for %s: %s", probe_uid, err)
