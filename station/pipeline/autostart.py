"""Bench mode: plug a device in and its provisioning starts; unplug it and its run ends.

Built on :class:`~station.hw.hotplug.HotplugWatcher` events. Each arriving device (USB) or probe
(SWD) gets its own worker thread running the ordinary per-device pipeline. A device is provisioned
once per plug-in: the mode switches its own run causes (DFU ↔ normal) are ignored because the
device is active, and it only becomes eligible again after it has left completely. Unplugging
mid-run needs no special path: the run's next transfer fails with ``DeviceGone`` and the attempt is
recorded as failed at that step.
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

    def __call__(self, ev: HotplugEvent) -> None:
        wanted = "probe" if self.transport is Transport.SWD else "usb"
        if ev.source != wanted:
            return
        with self._lock:
            if ev.key in self._active:
                return  # its own run is switching modes (DFU <-> normal) or it was pulled: the run sees it
            if ev.kind == "arrived":
                if ev.key not in self._done:
                    self._start(ev.key)
            elif not self.present(ev.key):
                self._done.discard(ev.key)  # gone completely: a re-plug starts a new run

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
