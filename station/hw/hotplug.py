"""Notice probes and USB devices arriving and leaving.

Polling (every ~0.5 s) is portable and cheap here: listing probes and VID 0x2B04 devices is a
handful of descriptor reads, never a transfer to the device. The watcher runs on its own daemon
thread, never blocks its caller, and reports changes through an injected callback, so the CLI and
a GUI (through a signal) consume the same events.

A USB device is keyed by (device ID, mode): a device switching between DFU and normal mode
re-enumerates, which shows as one ``left`` and one ``arrived`` — the pipeline that caused the
switch knows to ignore that, the bench-mode runner below does so by tracking its active runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from station.errors import StationError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class HotplugEvent:
    kind: str  # "arrived" | "left"
    source: str  # "probe" | "usb"
    key: str  # probe unique ID, or device ID for USB
    mode: str | None = None  # USB: "normal" | "dfu"
    info: Any = None


Lister = Callable[[], dict[tuple[str, str, str | None], Any]]


def probe_lister() -> dict[tuple[str, str, str | None], Any]:
    from station.hw.swd import list_probes

    return {("probe", p.unique_id, None): p for p in list_probes()}


def usb_lister() -> dict[tuple[str, str, str | None], Any]:
    from station.hw.usb import list_usb_devices

    return {("usb", d.device_id, d.mode): d for d in list_usb_devices() if d.device_id and not d.error}


class Poller:
    """A ``poll()`` repeated every ``interval`` seconds on one daemon thread until :meth:`stop`.

    What the hotplug watcher and the line's seat watch (:mod:`station.pipeline.seats`) share: start
    is idempotent, stop joins the thread (5 s at most) so a front end closing does not wait on a
    stuck probe. ``poll_first``: poll at once on start (a listing) or only after the first interval.
    """

    thread_name = "poller"
    poll_first = True
    interval: float

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> object:
        raise NotImplementedError

    def _loop(self) -> None:
        if self.poll_first:
            self.poll()
        while not self._stop.wait(self.interval):
            self.poll()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class HotplugWatcher(Poller):
    """Diff successive listings and emit arrive/leave events. ``with`` starts and stops it."""

    thread_name = "hotplug"

    def __init__(
        self,
        on_event: Callable[[HotplugEvent], None],
        *,
        listers: tuple[Lister, ...] = (probe_lister, usb_lister),
        interval: float = 0.5,
    ) -> None:
        self.on_event = on_event
        self.listers = listers
        self.interval = interval
        self._known: dict[tuple[str, str, str | None], Any] = {}
        super().__init__()

    def present(self) -> set[str]:
        """The keys (probe IDs, device IDs) of the last listing, in any mode. Set before that
        listing's events are handled, so a handler counts every device the listing found."""
        return {k[1] for k in self._known}

    def poll(self) -> list[HotplugEvent]:
        """One listing and diff; returns (and emits) what changed. A failing lister is skipped."""
        current: dict[tuple[str, str, str | None], Any] = {}
        failed: set[str] = set()
        for lister in self.listers:
            try:
                current.update(lister())
            except StationError as exc:
                LOG.warning("hotplug listing failed: %s", exc)
                failed.add(getattr(lister, "__name__", "?"))
        if failed:
            # Keep what a failing source had, rather than reporting all its devices as gone.
            for k, v in self._known.items():
                current.setdefault(k, v)
        events = [HotplugEvent("left", k[0], k[1], k[2], v) for k, v in self._known.items() if k not in current]
        events += [HotplugEvent("arrived", k[0], k[1], k[2], v) for k, v in current.items() if k not in self._known]
        self._known = current
        for ev in events:
            try:
                self.on_event(ev)
            except Exception:
                LOG.exception("hotplug event handler failed for %s", ev)
        return events

    def __enter__(self) -> HotplugWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
