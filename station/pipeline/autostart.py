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
from collections.abc import Callable

from station.domain import Transport
from station.hw.hotplug import HotplugEvent
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
    ) -> None:
        self.job = job
        self.transport = transport
        self.on_result = on_result
        self.slot_names = slot_names or {}  # probe uid -> configured slot name
        self._lock = threading.Lock()
        self._active: dict[str, threading.Thread] = {}
        self._done: set[str] = set()
        self._present: dict[str, set[str | None]] = {}
        self.results: list[SlotResult] = []

    def __call__(self, ev: HotplugEvent) -> None:
        wanted = "probe" if self.transport is Transport.SWD else "usb"
        if ev.source != wanted:
            return
        with self._lock:
            modes = self._present.setdefault(ev.key, set())
            if ev.kind == "arrived":
                modes.add(ev.mode)
                if ev.key not in self._active and ev.key not in self._done:
                    self._start(ev.key)
            else:
                modes.discard(ev.mode)
                if not modes and ev.key not in self._active:
                    self._done.discard(ev.key)  # gone completely: a re-plug starts a new run

    def _start(self, key: str) -> None:
        slot = SlotSpec(self.slot_names.get(key, key), self.transport, key)
        t = threading.Thread(target=self._work, args=(slot,), name=f"auto-{slot.name}", daemon=True)
        self._active[key] = t
        t.start()

    def _work(self, slot: SlotSpec) -> None:
        try:
            result = run_slot(self.job, slot)
        finally:
            with self._lock:
                self._active.pop(slot.target, None)
                self._done.add(slot.target)
                if not self._present.get(slot.target):
                    self._done.discard(slot.target)  # it was unplugged during the run
        self.results.append(result)
        if self.on_result:
            self.on_result(result)

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
