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

from station.pipeline.events import Event
from station.pipeline.job import SlotResult

#: rough share of a run's time per step, so one bar per slot moves through the whole attempt
_STEP_SPAN = {
    "connect": (0.00, 0.02),
    "identify": (0.02, 0.04),
    "registry-check": (0.04, 0.05),
    "enter-dfu": (0.05, 0.07),
    "flash": (0.07, 0.55),
    "verify": (0.55, 0.65),
    "start-test-firmware": (0.65, 0.68),
    "functional-tests": (0.68, 0.78),
    "flash-final": (0.78, 0.88),
    "verify-final": (0.88, 0.92),
    "secure-state": (0.92, 0.95),
    "register": (0.95, 0.98),
    "label": (0.98, 1.00),
}


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
        self._lock = threading.Lock()

    def __enter__(self) -> SlotProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def _task(self, slot: str) -> TaskID:
        with self._lock:
            if slot not in self._tasks:
                self._tasks[slot] = self._progress.add_task("", total=1.0, slot=slot, device="", step="")
            return self._tasks[slot]

    def __call__(self, ev: Event) -> None:
        task = self._task(ev.slot)
        fields: dict[str, Any] = {}
        if ev.device_id:
            fields["device"] = ev.device_id
        lo, hi = _STEP_SPAN.get(ev.step or "", (None, None))
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


def results_table(results: Sequence[SlotResult], title: str = "Provisioning") -> Table:
    table = Table(title=title)
    for col in ("slot", "device", "outcome", "failed step", "reason", "seconds"):
        table.add_column(col, overflow="fold", no_wrap=col in ("device", "outcome"))
    for r in results:
        colour = {"passed": "green", "skipped": "yellow"}.get(r.outcome, "red")
        table.add_row(
            "usb" if r.slot == r.device_id else r.slot,  # a USB slot is named by its device ID
            r.device_id or "-",
            f"[{colour}]{r.outcome}[/{colour}]",
            r.failing_step or "",
            r.reason or "",
            f"{r.duration_s:.1f}",
        )
    return table


def result_json(r: SlotResult) -> dict[str, Any]:
    return {
        "slot": r.slot,
        "transport": r.transport,
        "device_id": r.device_id,
        "outcome": r.outcome,
        "failing_step": r.failing_step,
        "reason": r.reason,
        "attempt_id": r.attempt_id,
        "seconds": round(r.duration_s, 3),
        "hardware_seconds": round(r.hardware_s, 3),
        "steps": [{"name": n, "outcome": o, "seconds": round(s, 3)} for n, o, s in r.steps],
        "labels": r.labels,
    }
