"""Terminal presentation of pipeline events: one progress bar per slot, a summary table.

The pipeline emits plain events from slot threads; rich's ``Progress`` is thread-safe, so the sink
just forwards them. A GUI does the same with Qt signals instead.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from station.app.runs import BY_NAME, CATALOGUE, Event, EventKind, SlotResult, spans

#: until a slot's ``attempt_started`` names its run's steps: the whole catalogue
_DEFAULT_SPANS = spans(list(CATALOGUE))


class SlotProgress:
    """Context manager: a live display on stderr when it is a terminal, silent otherwise."""

    def __init__(self, console: Console | None = None, enabled: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress = Progress(
            TextColumn("[bold]{task.fields[slot]:>4}"),
            TextColumn("{task.fields[device]:<24}"),
            BarColumn(),
            TextColumn("{task.fields[step]:<20}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.enabled,
        )
        self._tasks: dict[str, TaskID] = {}
        self._spans: dict[str, dict[str, tuple[float, float]]] = {}  # slot -> the step catalogue of its run
        self._lock = threading.Lock()

    def __enter__(self) -> SlotProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def _task(self, slot: str) -> TaskID:
        with self._lock:
            if slot not in self._tasks:
                # a USB slot is named by its device ID, which the next column shows already
                label = "usb" if _named_by_device(slot) else slot
                self._tasks[slot] = self._progress.add_task("", total=1.0, slot=label, device="", step="")
            return self._tasks[slot]

    def __call__(self, ev: Event) -> None:
        task = self._task(ev.slot)
        fields: dict[str, Any] = {}
        if ev.device_id:
            fields["device"] = ev.device_id
        if ev.kind is EventKind.ATTEMPT_STARTED:
            names = [s["name"] for s in ev.data.get("steps", []) if s.get("name") in BY_NAME]
            self._spans[ev.slot] = spans([BY_NAME[n] for n in names]) if names else _DEFAULT_SPANS
            fields.update(completed=0.0, step="connecting")
        lo, hi = self._spans.get(ev.slot, _DEFAULT_SPANS).get(ev.step or "", (None, None))
        if ev.kind == "step_started" and ev.step:
            fields["step"] = ev.step
            if lo is not None:
                fields["completed"] = lo
        elif ev.kind == "step_progress" and lo is not None and hi is not None and ev.fraction is not None:
            fields["completed"] = lo + (hi - lo) * ev.fraction
        elif ev.kind == "attempt_finished":
            fields["completed"] = 1.0
            fields["step"] = {"passed": "[green]passed", "skipped": "[yellow]skipped"}.get(
                ev.outcome or "", f"[red]{ev.outcome}" + (f" at {ev.step}" if ev.step else "")
            )
        if fields:
            self._progress.update(task, **fields)


def _named_by_device(slot: str) -> bool:
    """A USB slot is named by its device ID (ports and order are not stable over USB)."""
    return len(slot) == 24 and all(c in "0123456789abcdef" for c in slot)


def results_table(results: Sequence[SlotResult], title: str = "Provisioning") -> Table:
    """One row per device; USB devices, which have no fixture slot, are numbered ``usb 1``, ``usb 2``…"""
    table = Table(title=title)
    for col in ("slot", "device", "outcome", "failed step", "reason", "seconds"):
        table.add_column(col, overflow="fold", no_wrap=col in ("device", "outcome"))
    usb = 0
    for r in results:
        # an error (the station's) must not look like a failed unit, here as on the window's cards
        colour = {"passed": "green", "skipped": "yellow", "error": "magenta"}.get(r.outcome, "red")
        if r.transport == "usb" or _named_by_device(r.slot):
            usb += 1
        table.add_row(
            f"usb {usb}" if r.transport == "usb" or _named_by_device(r.slot) else r.slot,
            r.device_id or "-",
            f"[{colour}]{r.outcome}[/{colour}]",
            failed_step(r),
            r.reason or "",
            f"{r.duration_s:.1f}",
        )
    return table


def failed_step(r: SlotResult) -> str:
    """``Battery voltage (battery)``: the title the operator reads (a test's from the profile), and
    the name ``--answer`` and ``--json`` use; the name alone when the title is only its words."""
    name, title = r.failing_step or "", r.failing_step_title or ""
    if not title or title.lower().replace(" ", "-") == name:
        return name
    return f"{title} ({name})"


#: exit status when the station itself could not finish a device (an ``error`` result: its probe
#: went, the registry went down, a bug). 1 stays "a device failed"; a script can tell "bin the
#: unit" from "call an engineer" without parsing the output.
EXIT_STATION_ERROR = 3


def exit_code(results: Sequence[SlotResult]) -> int:
    """0 every device passed (or was done already); 3 the station hit an error on any of them (it
    says nothing about those units, and calls for an engineer before the next lot); else 1, a
    device failed or was stopped."""
    if any(r.outcome == "error" for r in results):
        return EXIT_STATION_ERROR
    if any(r.outcome not in ("passed", "skipped") for r in results):
        return 1
    return 0


def result_json(r: SlotResult) -> dict[str, Any]:
    return r.to_dict()
