"""Bench mode: plug a device in and its provisioning starts; unplug it and its run ends.

Built on :class:`~station.hw.hotplug.HotplugWatcher` events. Each arriving device (USB) or probe
(SWD) gets its own worker thread running the ordinary per-device pipeline. A device is provisioned
once per plug-in: the mode switches its own run causes (DFU ↔ normal) are ignored because the
device is active, and it only becomes eligible again after it has left completely. Unplugging
mid-run needs no special path: the run's next transfer fails with ``DeviceGone`` and the attempt is
recorded as failed at that step.

On SWD the probe of a line fixture stays while units come and go: :attr:`AutoProvisioner.seats`
(:mod:`station.pipeline.seats`) polls the idle slots' targets and starts a slot when a unit is
seated; a probe arriving with no unit behind it waits for one instead of starting a run that fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from station.domain import Transport
from station.hw.hotplug import HotplugEvent, probe_lister, usb_lister
from station.pipeline.context import DeviceClaims, SlotContext
from station.pipeline.handle import AskerFactory
from station.pipeline.job import Job, SlotResult
from station.pipeline.line import SlotSpec, run_slot
from station.pipeline.seats import Check, SeatWatch

LOG = logging.getLogger(__name__)


class AutoProvisioner:
    def __init__(
        self,
        job: Job,
        transport: Transport,
        *,
        on_result: Callable[[SlotResult], None] | None = None,
        slot_names: dict[str, str] | None = None,
        present: Callable[[str], bool] | None = None,
        asker: AskerFactory | None = None,
        target_check: Check | None = None,
    ) -> None:
        self.job = job
        self.transport = transport
        self.on_result = on_result
        self.asker = asker  # per-slot operator prompts (else the job's ask_operator)
        self.slot_names = slot_names or {}  # probe uid -> configured slot name
        self.present = present or (_probe_present if transport is Transport.SWD else _usb_present)
        self._lock = threading.Lock()
        self._active: dict[str, threading.Thread] = {}
        self._done: set[str] = set()
        self.claims = DeviceClaims()  # one table for the whole session: two boards with one ID are caught
        self.results: list[SlotResult] = []
        self._probes: set[str] = set()
        #: SWD: the seat poll over this runner's idle probes (None on USB, or without ``target_check``)
        self.seats: SeatWatch | None = None
        if transport is Transport.SWD and target_check is not None:
            self.seats = SeatWatch(target_check, self._idle_probes, self._busy, self._seated)

    def _idle_probes(self) -> list[str]:
        with self._lock:
            return [k for k in self._probes if k not in self._active]

    def _busy(self, key: str) -> bool:
        with self._lock:
            return key in self._active

    def _seated(self, key: str) -> None:
        with self._lock:
            if key not in self._active and key in self._probes:
                self._start(key)  # a new unit: whatever the last one did

    def __call__(self, ev: HotplugEvent) -> None:
        wanted = "probe" if self.transport is Transport.SWD else "usb"
        if ev.source != wanted:
            return
        with self._lock:
            if ev.key in self._active:
                return  # its own run is switching modes (DFU <-> normal) or it was pulled: the run sees it
            if ev.kind == "arrived":
                self._probes.add(ev.key)
                if ev.key not in self._done and self._unit_behind(ev.key):
                    self._start(ev.key)
            elif not self.present(ev.key):
                self._done.discard(ev.key)  # gone completely: a re-plug starts a new run
                self._probes.discard(ev.key)
                if self.seats is not None:
                    self.seats.forget(ev.key)

    def _unit_behind(self, key: str) -> bool:
        """SWD with a seat poll: whether a unit answers behind an arriving probe (unknown: yes)."""
        if self.seats is None:
            return True
        with self.seats.guard:
            unit = self.seats.check(key) is not False
        self.seats.seen(key, unit)
        return unit

    def _start(self, key: str) -> None:
        slot = SlotSpec(self.slot_names.get(key, key), self.transport, key)
        t = threading.Thread(target=self._work, args=(slot,), name=f"slot-{slot.name}", daemon=True)
        self._active[key] = t
        t.start()

    def _work(self, slot: SlotSpec) -> None:
        try:
            ctx = SlotContext(slot.name, claims=self.claims, sink=self.job.sink, ask_operator=self.job.ask_operator)
            if self.asker is not None:
                ctx.ask_operator = self.asker(slot.name, ctx.cancel, lambda: slot.target
                                              if self.transport is Transport.USB else None)
            result = run_slot(self.job, slot, ctx)
        finally:
            # Ask the bus, not the watcher's last snapshot: at the end of a run the device may be
            # re-enumerating. Still there → done until it leaves; gone → a re-plug starts again.
            still_here = self._settled_presence(slot.target)
            with self._lock:
                self._active.pop(slot.target, None)
                if still_here:
                    self._done.add(slot.target)
                else:
                    self._done.discard(slot.target)
            if self.seats is not None:
                self.seats.finished(slot.target)  # this unit is not provisioned again until it leaves
        self.results.append(result)
        if self.on_result:
            self.on_result(result)

    def _settled_presence(self, key: str, settle: float = 2.0) -> bool:
        """Present now, or back within ``settle`` seconds (a reset re-enumerates in about 1 s)."""
        deadline = time.monotonic() + settle
        while not self.present(key):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    @property
    def active(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Join the runs in progress (used on shutdown and in tests)."""
        with self._lock:
            threads = list(self._active.values())
        for t in threads:
            t.join(timeout)
        return not self.active


def _usb_present(device_id: str) -> bool:
    return any(key == device_id for _, key, _ in usb_lister())


def _probe_present(uid: str) -> bool:
    return any(key == uid for _, key, _ in probe_lister())
