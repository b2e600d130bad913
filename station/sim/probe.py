"""A pyocd debug probe whose probes are the twins of the default bench.

Registered through the light entry point :mod:`station.sim.probe_plugin` (``pyocd.probe`` / ``sim``
in pyproject.toml; it loads this module only where a simulated bench is configured), so pyocd's own code — and its
command line (``pyocd list``, ``pyocd load -u SIM…``, ``pyocd cmd``) — sees every plugged-in twin
with a probe attached as a CMSIS-DAP-like probe whose board is an ``nrf52840``. The probe speaks
at DAP register level (DP/AP reads and writes, packed block transfers); everything behind that is
the chip model in :mod:`station.sim.chip`.

Like a real probe, it:

* is exclusive: opening holds an OS file lock (:mod:`station.sim.filelock`) on ``<twin>/swd.lock``; a second opener (another
  process, or the same process twice) gets "probe already open" (cf. pyOCD #877);
* answers FAULT/WAIT at the injected rates, per DAP transfer request (one register access, or
  one packed block): ``swd_fault_rate`` → the access is not performed, CTRL/STAT.STICKYERR is set
  and ``TransferFaultError`` raised; from then on the DP refuses every access with FAULT until the
  debugger clears the flag through ABORT (:meth:`~station.sim.dap.DebugPort.refuses`), as pyocd's
  ``clear_sticky_err`` does; ``swd_wait_rate`` → retried like CMSIS-DAP firmware does, and only a
  WAIT that outlasts the retry budget surfaces as ``TransferTimeoutError``;
* vanishes when its twin is unplugged or its probe pulled (``ProbeDisconnected`` on every further
  call, and no longer listed), as pyocd's probe server reports a probe that went away
  (``tcp_probe_server.py`` status ``PROBE_DISCONNECTED``);
* stays when only the unit is lifted out of its fixture (:meth:`Twin.lift`): it still lists, opens
  and answers its own commands (connect, clock, the reset pin), but every DP/AP transfer gets no
  ACK (no target drives the ACK phase): a CMSIS-DAP probe reports transfer response 7, which
  pyocd 0.46 turns into a plain ``TransferError`` with the words in :data:`NO_ACK`
  (``pydapaccess/cmsis_dap_core.py`` ``ACK_NO_ACK = 7``; ``dap_access_cmsis_dap.py``
  ``_check_response``; ``cmsis_dap_probe.py`` ``_convert_exception``), and its probe server passes
  it on as ``TRANSFER_ERROR`` (``tcp_probe_server.py``), never as ``PROBE_DISCONNECTED``;
* costs time: every transfer charges ~46 SWD bits at the set clock to the twin's device clock, and
  with a probe model (``station sim create --probe``, :mod:`station.sim.probe_usb`) the USB packets
  and round trips a CMSIS-DAP v1 or v2 probe would need for the same traffic.

This module is imported while pyocd itself is importing (plugin discovery), so it must only
import pyocd submodules that are already loaded by then, and nothing heavy at module level.
"""

from __future__ import annotations

import sys

if "pyocd" not in sys.modules:
    # Imported before pyocd: importing pyocd loads its probe plugins, this module among them, and
    # would find it half-initialised. Step aside so that nested import builds the complete module
    # (the import system then returns that one); put ourselves back if pyocd did not load us.
    _outer = sys.modules.pop(__name__)
    import pyocd  # noqa: F401

    sys.modules.setdefault(__name__, _outer)

import contextlib
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

from pyocd.core import exceptions
from pyocd.probe.debug_probe import DebugProbe

from station.sim import filelock
from station.sim.clock import DEFAULT_SWD_HZ
from station.sim.device import Twin
from station.sim.probe_plugin import SimProbePlugin  # noqa: F401 -- the entry point older installs name

#: CMSIS-DAP firmware retries a WAIT this many times before reporting it: the wait_retry pyocd
#: configures with DAP_TransferConfigure (pyocd/probe/pydapaccess/cmsis_dap_core.py).
WAIT_RETRIES = 150
LOCK_FILE = "swd.lock"


def _default_twins() -> list[Twin]:
    """The bench's twins whose probe this process may plug in: attached, and not served elsewhere.

    A twin whose probe a live probe server in another process publishes (``swd.json``,
    :mod:`station.sim.probe_server`) is that process's USB device, as a real probe is plugged into
    one host: this process reaches it as ``remote:HOST:PORT`` only, and never drives the same
    emulated core at the same time (nor bills its emulation here). The pty host does the same
    for serial faces (:mod:`station.sim.host`).
    """
    from station.sim.bench import default_bench  # imported late: pyocd may load us very early
    from station.sim.probe_server import published_probes

    bench = default_bench()
    if bench is None:
        return []
    elsewhere = {name for name, info in published_probes(bench.path).items() if int(info.get("pid", 0)) != os.getpid()}
    out = []
    for twin in bench.twins():
        if twin.state.probe_listed() and twin.name not in elsewhere:
            out.append(twin)
    return out


#: pyocd 0.46's words for a transfer that got no ACK (``dap_access_cmsis_dap.py`` ``_check_response``)
NO_ACK = "SWD/JTAG communication failure (No ACK); check USB cable, reduce debugger clock"


class SimProbe(DebugProbe):
    """A probe wired to one twin."""

    @classmethod
    def get_all_connected_probes(cls, unique_id: str | None = None, is_explicit: bool = False) -> list[SimProbe]:
        return [cls(t) for t in _default_twins()]

    @classmethod
    def get_probe_with_id(cls, unique_id: str, is_explicit: bool = False) -> SimProbe | None:
        for twin in _default_twins():
            if twin.identity.probe_uid == unique_id:
                return cls(twin)
        return None

    def __init__(self, twin: Twin) -> None:
        super().__init__()
        self.twin = twin
        self._lock_file: Any = None
        self._protocol: DebugProbe.Protocol | None = None
        self._reset_asserted = False
        self.clock_hz: float = DEFAULT_SWD_HZ
        self._rng = random.Random(twin.identity.deviceid0)
        self._fault_rate = 0.0
        self._wait_rate = 0.0
        #: transfers on the wire (a packed block counts one per word), WAITs seen, FAULTs answered
        #: (``faults``: injected FAULTs; ``refused``: accesses refused while a sticky flag was set)
        self.stats = {"transfers": 0, "calls": 0, "waits": 0, "faults": 0, "refused": 0}
        self._chip: Any = None
        self._pacer: Any = None  # station.sim.probe_usb.DapPacer, when the twin has a probe model

    # ------------------------------------------------------------------ identity
    @property
    def vendor_name(self) -> str:
        return "Station"

    @property
    def product_name(self) -> str:
        return f"twin probe ({self.twin.name})"

    @property
    def unique_id(self) -> str:
        return self.twin.identity.probe_uid

    @property
    def supported_wire_protocols(self) -> Sequence[DebugProbe.Protocol]:
        return [DebugProbe.Protocol.DEFAULT, DebugProbe.Protocol.SWD]

    @property
    def wire_protocol(self) -> DebugProbe.Protocol | None:
        return self._protocol

    @property
    def is_open(self) -> bool:
        return self._lock_file is not None

    @property
    def device_seconds(self) -> float:
        """The twin's modelled hardware time so far (readable through pyocd's probe server as ``readprop``)."""
        return float(self.twin.clock.device_seconds)

    @property
    def transfer_stats(self) -> dict[str, int]:
        """:attr:`stats`, as a property pyocd's probe server can hand to a remote client (``readprop``)."""
        return dict(self.stats)

    @property
    def usb_stats(self) -> dict[str, int]:
        """DAP packets sent and answers waited for under the twin's probe model (empty for ``ideal``)."""
        return dict(self._pacer.stats) if self._pacer is not None else {}

    @property
    def capabilities(self) -> set[DebugProbe.Capability]:
        return {DebugProbe.Capability.SWJ_SEQUENCE}

    @property
    def associated_board_info(self) -> Any:
        from pyocd.board.board_ids import BoardInfo

        return BoardInfo(f"Particle {self.twin.platform.name} (twin)", self.twin.platform.mcu)

    def create_associated_board(self) -> Any:
        from pyocd.board.board import Board

        assert self.session is not None
        return Board(self.session, board_info=self.associated_board_info)

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        self._require_present()
        f = open(self.twin.path / LOCK_FILE, "a")  # held until close()
        try:
            filelock.lock(f, blocking=False)
        except BlockingIOError:
            f.close()
            raise exceptions.ProbeError(f"probe {self.unique_id} already open (by another session or process)") from None
        self._lock_file = f
        try:
            from station.sim.chip import chip_for
            from station.sim.probe_usb import DapPacer, probe_model

            model = probe_model(self.twin.current_state().probe_model)
            self._pacer = DapPacer(model, self.twin.clock) if model is not None else None

            with self.twin.lock:
                self._chip = chip_for(self.twin)
                self._chip.resync()
        except BaseException:
            # An open that fails gives the lock back: a probe left "open" by nobody would make the
            # next session (this process's or another's) fail as if someone else held it.
            self._chip = self._pacer = None
            self.close()
            raise

    def close(self) -> None:
        f, self._lock_file = self._lock_file, None
        if f is not None:
            with contextlib.suppress(OSError):
                filelock.unlock(f)
            f.close()

    def connect(self, protocol: DebugProbe.Protocol | None = None) -> None:
        self._require_present()
        self._protocol = DebugProbe.Protocol.SWD
        self._command()

    def disconnect(self) -> None:
        self._protocol = None

    def swj_sequence(self, length: int, bits: int) -> None:
        self._command(max(1, length // 46))

    def set_clock(self, frequency: float) -> None:
        self.clock_hz = float(frequency) if frequency > 0 else DEFAULT_SWD_HZ
        self._command()

    def flush(self) -> None:
        if self._pacer is not None:
            self._pacer.wait(self.clock_hz)

    def _command(self, transfers: int = 0) -> None:
        """A DAP control command (connect, clock, SWJ sequence, reset pin) and its answer."""
        if self._pacer is not None:
            self.stats["transfers"] += transfers
            self._pacer.command(self.clock_hz, transfers)
        elif transfers:
            self._charge(transfers)

    # ------------------------------------------------------------------ reset pin
    def reset(self) -> None:
        with self.twin.lock:
            chip = self._enter(target=False)
            if chip is not None:
                chip.hold_reset(True)
                chip.hold_reset(False)
        self._command()

    def assert_reset(self, asserted: bool) -> None:
        with self.twin.lock:
            chip = self._enter(target=False)
            if chip is not None:
                chip.hold_reset(asserted)
            self._reset_asserted = asserted
        self._command()

    def is_reset_asserted(self) -> bool:
        return self._reset_asserted

    # ------------------------------------------------------------------ DAP transfers
    def _require_present(self) -> None:
        if not self.twin.current_state().probe_listed():
            raise exceptions.ProbeDisconnected(f"probe {self.unique_id}: target {self.twin.name} is not connected")

    def _enter(self, *, target: bool = True) -> Any:
        """The chip behind the probe; ``target`` False for the probe's own commands (the reset pin),
        which a probe with nothing on its pins still carries out."""
        chip = self._chip
        if chip is None:
            raise exceptions.ProbeError(f"probe {self.unique_id} is not open")
        st = self.twin.current_state()
        if not st.probe_listed():
            # The probe itself went (its cable, its server), or the whole slot with it.
            raise exceptions.ProbeDisconnected(f"probe {self.unique_id}: target {self.twin.name} is not connected")
        if st.lifted:
            # The unit left the fixture; the probe is still here and hears no ACK.
            if target:
                raise exceptions.TransferError(NO_ACK)
            return None
        if chip.gone:
            raise exceptions.ProbeDisconnected(f"probe {self.unique_id}: device unplugged")
        faults = self.twin.current_faults()
        self._fault_rate = faults.swd_fault_rate or 0.0
        self._wait_rate = faults.swd_wait_rate or 0.0
        chip.refresh_faults()
        return chip

    def _charge(self, transfers: int) -> None:
        self.stats["transfers"] += transfers
        self.twin.clock.swd_transfers(transfers, self.clock_hz)

    def _wire(self) -> None:
        """One AP transfer request's ACK: OK, WAIT (retried) or FAULT."""
        if self._wait_rate:
            tries = 0
            while self._rng.random() < self._wait_rate:
                self.stats["waits"] += 1
                tries += 1
                self._charge(1)
                if tries > WAIT_RETRIES:
                    raise exceptions.TransferTimeoutError(f"probe {self.unique_id}: target answered WAIT {tries} times")
        if self._fault_rate and self._rng.random() < self._fault_rate:
            self.stats["faults"] += 1
            from station.sim.dap import STICKYERR

            self._chip.dap.ctrl_stat |= STICKYERR
            raise exceptions.TransferFaultError(f"probe {self.unique_id}: target answered FAULT")

    def _do(self, op: Callable[[Any], Any], transfers: int, *, ap: bool, register: int = 0, read: bool = False) -> Any:
        from station.sim.dap import BusFault

        self.stats["calls"] += 1
        with self.twin.lock:
            chip = self._enter()
            try:
                if chip.dap.refuses(ap=ap, write=not read, reg=register):
                    self.stats["refused"] += 1
                    raise exceptions.TransferFaultError(
                        f"probe {self.unique_id}: target answered FAULT (sticky error flag set in CTRL/STAT)")
                if ap:
                    self._wire()
                result = op(chip)
            except BusFault as exc:
                raise exceptions.TransferFaultError(f"probe {self.unique_id}: {exc}", fault_address=exc.address) from exc
            finally:
                if self._pacer is None:
                    self._charge(transfers)
                else:
                    self.stats["transfers"] += transfers
                    self._pacer.transfer(ap=ap, read=read, register=register, count=transfers, hz=self.clock_hz)
            if chip.gone:
                raise exceptions.ProbeDisconnected(f"probe {self.unique_id}: device unplugged")
            return result

    def _answered(self) -> None:
        """The host waits for the probe's answer (a read's value is needed)."""
        if self._pacer is not None:
            self._pacer.wait(self.clock_hz)

    def _deferred(self, fn: Callable[[], Any], now: bool) -> Any:
        if now:
            try:
                return fn()
            finally:
                self._answered()
        try:
            value = fn()
        except exceptions.Error as exc:
            err = exc

            def raise_later() -> Any:
                self._answered()
                raise err

            return raise_later

        def result() -> Any:
            self._answered()
            return value

        return result

    def read_dp(self, addr: int, now: bool = True) -> Any:
        return self._deferred(
            lambda: self._do(lambda c: c.dap.read_dp(addr), 1, ap=False, register=addr, read=True), now
        )

    def write_dp(self, addr: int, data: int) -> None:
        self._do(lambda c: c.dap.write_dp(addr, data), 1, ap=False, register=addr)

    def read_ap(self, addr: int, now: bool = True) -> Any:
        return self._deferred(lambda: self._do(lambda c: c.dap.read_ap(addr), 1, ap=True, register=addr, read=True), now)

    def write_ap(self, addr: int, data: int) -> None:
        self._do(lambda c: c.dap.write_ap(addr, data), 1, ap=True, register=addr)

    def read_ap_multiple(self, addr: int, count: int = 1, now: bool = True) -> Any:
        return self._deferred(
            lambda: self._do(lambda c: c.dap.read_ap_multiple(addr, count), count, ap=True, register=addr, read=True),
            now,
        )

    def write_ap_multiple(self, addr: int, values: Sequence[int]) -> None:
        vals = list(values)
        self._do(lambda c: c.dap.write_ap_multiple(addr, vals), len(vals), ap=True, register=addr)


def probe_lock_path(twin: Twin) -> str:
    """Where the exclusive probe lock lives (for tools that want to check who holds it)."""
    return os.fspath(twin.path / LOCK_FILE)
