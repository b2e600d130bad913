"""INTERIM: the window's use of the core, until :mod:`station.app` (issue 11) lands its session.

Everything here is Qt-free and is what ``station.app`` will provide — a session opened from
settings, per-slot runs with their own cancel, a prompt broker whose prompts have identities, a
bench watcher, and the reads the window shows. It lives in ``ui/`` only so the window can be built
and tested against real twins while that layer is being written; :class:`Session`'s method names
follow the API requested on BOARD.md so that moving to ``station.app`` replaces this module and
touches :mod:`station.ui.controller` only. Nothing else in ``ui/`` imports it.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.domain import Outcome, Transport
from station.pipeline.context import DeviceClaims, SlotContext
from station.pipeline.events import Event, EventSink
from station.pipeline.job import Job, SlotResult
from station.pipeline.line import SlotSpec, prepare_job, run_slot

LOG = logging.getLogger(__name__)


@dataclass
class SessionSettings:
    db_url: str | None = None
    cache_dir: Path | None = None
    config_path: Path | None = None
    sim_dir: Path | None = None
    station_name: str | None = None
    labels_dir: Path | None = None
    usb: bool = False  # bench mode: USB hot-plug instead of SWD fixture slots
    demo: bool = False  # a demo bench: the cloud is never called (no credential is read)


# ---------------------------------------------------------------------- prompts
@dataclass
class _Open:
    prompt_id: str
    slot: str
    done: threading.Event = field(default_factory=threading.Event)
    answer: str | None = None


class PromptBroker:
    """Slot threads block in :meth:`ask`; any thread answers by prompt id."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self._lock = threading.Lock()
        self._open: dict[str, _Open] = {}
        self._ids = itertools.count(1)

    def asker(self, slot: str, cancel: threading.Event, device: Callable[[], str | None]) -> Any:
        def ask(step: str, question: str, timeout_s: float) -> bool | None:
            return self.ask(slot, device(), step, question, timeout_s, cancel)

        return ask

    def ask(self, slot: str, device_id: str | None, step: str, question: str, timeout_s: float,
            cancel: threading.Event) -> bool | None:
        pid = f"{slot}:{next(self._ids)}"
        entry = _Open(pid, slot)
        with self._lock:
            self._open[pid] = entry
        self.sink(Event("prompt", slot, device_id=device_id, step=step, message=question,
                        data={"prompt_id": pid, "choices": ["yes", "no"], "timeout_s": timeout_s}))
        deadline = time.monotonic() + timeout_s if timeout_s > 0 else None
        why = "answered"
        while not entry.done.wait(0.1):
            if cancel.is_set():
                why = "aborted"
                break
            if deadline is not None and time.monotonic() > deadline:
                why = "timed out"
                break
        with self._lock:
            self._open.pop(pid, None)
        self.sink(Event("prompt_closed", slot, device_id=device_id, step=step,
                        data={"prompt_id": pid, "why": why, "answer": entry.answer}))
        if why != "answered":
            return None
        return entry.answer == "yes"

    def answer(self, prompt_id: str, choice: str) -> bool:
        with self._lock:
            entry = self._open.get(prompt_id)
        if entry is None or entry.done.is_set():
            return False
        entry.answer = choice
        entry.done.set()
        return True


# ---------------------------------------------------------------------- session
@dataclass
class _Run:
    spec: SlotSpec
    cancel: threading.Event
    thread: threading.Thread
    result: SlotResult | None = None


class Session:
    def __init__(self, settings: SessionSettings, sink: EventSink) -> None:
        from station.config import load_config
        from station.firmware.cache import FirmwareCache, default_cache_dir
        from station.store.registry import open_registry

        self.settings = settings
        self.sink = sink
        if settings.sim_dir is not None:
            os.environ["STATION_SIM_DIR"] = str(Path(settings.sim_dir).resolve())
            from station.hw import backend

            backend.use_sim(Path(settings.sim_dir).resolve())
        self.config = load_config(settings.config_path)
        self.station = settings.station_name or self.config.name
        self.registry = open_registry(settings.db_url)
        self.cache = FirmwareCache(settings.cache_dir or default_cache_dir())
        self.broker = PromptBroker(sink)
        self.job: Job | None = None
        self._runs: dict[str, _Run] = {}
        self._claims = DeviceClaims()
        self._lock = threading.Lock()
        self._watcher: Any = None
        self._seen: set[str] = set()
        self.results: list[SlotResult] = []

    @property
    def mode(self) -> str:
        return "bench" if self.settings.usb else "line"

    # ------------------------------------------------------------------ slots
    def slots(self) -> list[SlotSpec]:
        """Line: the slots of station.toml (its order), else one per attached probe. Bench: USB devices."""
        from station.pipeline.line import swd_slots, usb_slots

        if self.settings.usb:
            from station.hw.usb import list_usb_devices

            return usb_slots([d.device_id for d in list_usb_devices() if d.device_id and not d.error])
        from station.hw.swd import list_probes

        attached = [p.unique_id for p in list_probes()]
        if self.config.slots:
            return [SlotSpec(n, Transport.SWD, u) for n, u in self.config.slots.items()]
        return swd_slots({}, attached)

    # ------------------------------------------------------------------ runs
    def prepare(self, profile: Path, *, lot: str | None, operator: str) -> Job:
        self.job = prepare_job(profile_path=profile, cache=self.cache, registry=self.registry,
                               station=self.station, operator=operator, lot=lot, sink=self.sink,
                               labels_dir=self.settings.labels_dir, swd_frequency=self.config.swd_frequency)
        return self.job

    def start(self, spec: SlotSpec, *, recover_confirmed_by: str | None = None) -> bool:
        """Run one slot in its own thread (named after it), with its own cancel."""
        job = self.job
        if job is None:
            raise RuntimeError("no job prepared")
        with self._lock:
            if spec.name in self._runs and self._runs[spec.name].thread.is_alive():
                return False
            cancel = threading.Event()
            # A shallow copy shares the job's claim table (duplicate-ID detection across slots)
            # but has its own cancel and its own prompt identity.
            holder: dict[str, str | None] = {"device": None}
            sink = job.sink

            def slot_sink(ev: Event) -> None:
                if ev.device_id:
                    holder["device"] = ev.device_id
                sink(ev)

            ctx = SlotContext(spec.name, cancel=cancel, claims=self._claims, sink=slot_sink,
                              ask_operator=self.broker.asker(spec.name, cancel, lambda: holder["device"]),
                              recover_confirmed_by=recover_confirmed_by)
            run = _Run(spec, cancel, threading.Thread(target=self._work, args=(spec, job, ctx),
                                                       name=f"slot-{spec.name}", daemon=True))
            self._runs[spec.name] = run
        self.sink(Event("slot_starting", spec.name, data={"transport": spec.transport.value}))
        run.thread.start()
        return True

    def _work(self, spec: SlotSpec, job: Job, ctx: SlotContext) -> None:
        try:
            result = run_slot(job, spec, ctx)
        except Exception as exc:  # a bug: the card must still end
            LOG.exception("slot %s crashed", spec.name)
            result = SlotResult(spec.name, spec.transport.value, None, Outcome.FAILED, reason=f"internal error: {exc!r}")
        with self._lock:
            self._runs[spec.name].result = result
            self.results.append(result)
        self.sink(Event("slot_result", spec.name, device_id=result.device_id, outcome=result.outcome,
                        step=result.failing_step, message=result.reason or "",
                        data={"serial_number": result.serial_number, "attempt_id": result.attempt_id,
                              "duration_s": result.duration_s}))

    def cancel(self, slot: str) -> None:
        with self._lock:
            run = self._runs.get(slot)
        if run is not None:
            run.cancel.set()

    def cancel_all(self) -> None:
        with self._lock:
            runs = list(self._runs.values())
        for r in runs:
            r.cancel.set()

    def active(self) -> list[str]:
        with self._lock:
            return [n for n, r in self._runs.items() if r.thread.is_alive()]

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = [r.thread for r in self._runs.values()]
        for t in threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.active()

    # ------------------------------------------------------------------ watching
    def watch(self, on_change: Callable[[], None] | None = None) -> None:
        """Auto-start: a probe (line) or USB device (bench) appearing starts its slot's run."""
        from station.hw.hotplug import HotplugWatcher, probe_lister, usb_lister

        if self._watcher is not None:
            return
        lister = usb_lister if self.settings.usb else probe_lister
        names = {uid: name for name, uid in self.config.slots.items()}

        def on_event(ev: Any) -> None:
            if ev.kind == "arrived":
                if ev.key in self._seen:
                    return
                if any(r.spec.target == ev.key and r.thread.is_alive() for r in list(self._runs.values())):
                    return  # its own run switching modes
                self._seen.add(ev.key)
                spec = SlotSpec(names.get(ev.key, ev.key), Transport.USB if self.settings.usb else Transport.SWD,
                                ev.key)
                self.sink(Event("device_arrived", spec.name, data={"transport": spec.transport.value}))
                if self.job is not None:
                    self.start(spec)
            else:
                if any(r.spec.target == ev.key and r.thread.is_alive() for r in list(self._runs.values())):
                    return
                self._seen.discard(ev.key)
                self.sink(Event("device_left", names.get(ev.key, ev.key)))
            if on_change:
                on_change()

        self._watcher = HotplugWatcher(on_event, listers=(lister,), interval=0.3)
        self._watcher.start()

    def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    # ------------------------------------------------------------------ who is at the station
    def open_station(self) -> bool:
        """No users in the registry: everyone acts as admin (store/users.py's open-station rule)."""
        return not self.registry.has_users()

    def login(self, who: str, pin: str) -> Any:
        """The user whose badge or name and PIN match (the registry audits every try)."""
        return self.registry.authenticate(who, pin, station=self.station)

    def audit(self, action: str, *, operator: str, role: str | None, granted: bool, reason: str | None = None,
              device_id: str | None = None, details: dict[str, Any] | None = None) -> None:
        """A privileged decision, a logout or a role change, in the registry's audit log."""
        self.registry.audit_decision(action, operator=operator, station=self.station, role=role, granted=granted,
                                     reason=reason, device_id=device_id, details=details)

    # ------------------------------------------------------------------ reads and actions
    def device_record(self, key: str) -> Any:
        return self.registry.device_record(key)

    def lots(self) -> list[Any]:
        return self.registry.lots()

    def lot_figures(self, lot: str) -> dict[str, Any]:
        from station.ftest.report import compute_lot_report

        summary = self.registry.lot_by_name(lot)
        attempts = self.registry.lot_attempts(lot)
        rep = compute_lot_report(attempts, [])
        times = [a.started_at for a in attempts]
        per_hour = None
        if len(times) >= 2:
            span = (max(times) - min(times)).total_seconds() / 3600
            per_hour = rep.devices / span if span > 0 else None
        return {"name": summary.name, "product": summary.product, "devices": summary.devices,
                "passed": summary.passed, "failed": summary.failed, "first_pass_yield": rep.first_pass_yield,
                "devices_per_hour": per_hour, "failures_by_step": rep.failures_by_step}

    def outbox_counts(self) -> tuple[int, int, int]:
        counts = self.registry.outbox_counts()
        return (sum(c.pending for c in counts), sum(c.imported for c in counts), sum(c.failed for c in counts))

    def outbox_entries(self, state: str | None, limit: int) -> list[dict[str, Any]]:
        return self.registry.outbox_entries(state=state, limit=limit)

    def export(self, lot: str, fmt: str, path: Path, include_all: bool) -> Any:
        from station.export.manifest import export_lot

        return export_lot(self.registry, lot, fmt, path, include_all=include_all)

    def sync(self) -> Any:
        from station.cloud.credentials import get_credential
        from station.cloud.particle import ParticleClient
        from station.cloud.peridio import PeridioClient
        from station.cloud.sync import Drainer

        if self.settings.demo:
            ptoken = pkey = None
        else:
            ptoken, pkey = get_credential("particle"), get_credential("peridio")
        drainer = Drainer(self.registry, particle=ParticleClient(ptoken) if ptoken else None,
                          peridio=PeridioClient(pkey) if pkey else None)
        return drainer.drain_once()

    def retry_parked(self) -> int:
        return self.registry.outbox_requeue(all_failed=True)

    def close(self) -> None:
        self.stop_watching()
        self.cancel_all()
        self.wait(60)
        self.registry.close()
