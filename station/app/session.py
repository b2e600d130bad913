"""A station session: what every front end (CLI, GUI, tests) does with the station, in one place.

Opened from one settings object (registry URL, firmware cache, station file, station name,
simulated bench), a :class:`StationSession` discovers slots (with the transport rule: a profile
that says USB runs on USB), prepares a job from a profile, starts runs and returns their
:class:`~station.pipeline.handle.RunHandle`, watches for devices (bench auto-start), lists what is
attached, looks devices up (ID, prefix or label scan), and offers the lot reports, exports and the
cloud outbox. Front ends parse, call and show; they do not decide. Qt-free: the GUI calls it from
worker threads and turns its events into signals.
"""

from __future__ import annotations

import getpass
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station import settings as table
from station.app.bench import activate_sim
from station.config import StationConfig, load_config, parse_slot_map
from station.domain import Transport
from station.errors import ConfigError
from station.pipeline.events import Event, EventSink, guarded, null_sink
from station.pipeline.handle import RunHandle
from station.pipeline.job import Job, SlotResult
from station.pipeline.line import SlotSpec, no_slots_text, prepare_job, swd_slots, usb_slots
from station.pipeline.prompts import PromptBroker, Responder, ScriptedAnswers
from station.store.records import OutboxRequeue

if TYPE_CHECKING:
    from station.store.registry import Registry

LOG = logging.getLogger(__name__)


def find_slots(config_slots: dict[str, str], *, usb: bool, slots: str | None = None,
               usb_filter: set[str] | None = None) -> list[SlotSpec]:
    """The slots attached now: USB devices (``usb``), else the SWD slots of ``config_slots`` or
    ``slots`` (``"1=UID,2=UID"``; ``"all"``: every attached probe)."""
    if usb:
        from station.hw.usb import list_usb_devices

        ids = [d.device_id for d in list_usb_devices() if not d.error and d.device_id]
        return usb_slots([i for i in ids if usb_filter is None or i in usb_filter])
    from station.hw.remote_probe import is_remote, reachable
    from station.hw.swd import list_probes

    probe_ids = [p.unique_id for p in list_probes()]
    mapping = config_slots
    if slots and slots != "all":
        mapping = parse_slot_map(slots)
    elif slots == "all":
        mapping = {}
    # pyocd cannot list probes behind a probe server: one is there when its server answers.
    probe_ids += [uid for uid in mapping.values() if is_remote(uid) and reachable(uid)]
    return swd_slots(mapping, probe_ids)


class _Watching:
    """A hotplug watcher and a line's seat poll, started and stopped together (``with``)."""

    def __init__(self, watcher: Any, seats: Any) -> None:
        self.watcher, self.seats = watcher, seats

    def __enter__(self) -> _Watching:
        self.watcher.start()
        self.seats.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seats.stop()
        self.watcher.stop()


@dataclass(frozen=True)
class SessionSettings:
    """What a session is opened from; ``None`` fields come from the settings table (env, station.toml)."""

    db_url: str | None = None
    cache_dir: Path | None = None
    config_path: Path | None = None
    sim_dir: Path | None = None
    station_name: str | None = None
    labels_dir: Path | None = None
    usb: bool = False  # bench mode: USB devices instead of SWD fixture slots
    demo: bool = False  # a demo bench: the cloud is never called (no credential is read)
    create_registry: bool = False  # only sessions that record runs create a registry

    def resolved(self) -> SessionSettings:
        """Every ``None`` filled from :mod:`station.settings` (flag > env > default)."""
        return SessionSettings(
            db_url=table.get("db", self.db_url), cache_dir=table.get("cache", self.cache_dir),
            config_path=table.get("config", self.config_path), sim_dir=table.get("sim_dir", self.sim_dir),
            station_name=self.station_name, labels_dir=self.labels_dir, usb=self.usb, demo=self.demo,
            create_registry=self.create_registry)


class StationSession:
    """One station process's use of the core. Thread-safe where a GUI needs it (runs, prompts)."""

    def __init__(self, settings: SessionSettings | None = None, sink: EventSink = null_sink, *,
                 responders: Sequence[Responder] = ()) -> None:
        from station.firmware.cache import FirmwareCache, default_cache_dir

        #: what the session was opened with, before the table filled the gaps (the settings dialog
        #: shows a flag as a flag, not as if every value had been given)
        self.given = settings or SessionSettings()
        self.settings = self.given.resolved()
        self.sink = guarded(sink)
        self._activate_sim(self.settings.sim_dir)
        self._config: StationConfig | None = None
        self.cache = FirmwareCache(self.settings.cache_dir or default_cache_dir())
        self._registry: Registry | None = None
        self.broker = PromptBroker(self.sink, responders=list(responders))
        self.job: Job | None = None
        self.handle: RunHandle | None = None
        self._watcher: Any = None
        self._seen: set[str] = set()
        #: held while the session's run is chosen and a slot handed to it, so a Start that replaces
        #: an idle run (its runner decided anew) never strands a slot another Start just added to it;
        #: re-entrant: a front end's sink, called with ``slot_starting`` under it, may ask the session
        self._lock = threading.RLock()
        #: held while a slot is handed to a run and while a line slot's target is checked, so the
        #: seat poll never opens a probe a run is about to open (:mod:`station.pipeline.seats`)
        self._probe_guard = threading.Lock()
        self._seats: Any = None
        self._slot_probe: dict[str, str] = {}  # line slot name -> probe uid, while watching
        #: how many slots the window shows (the last :meth:`slots`): its run's count for slot_workers = "auto"
        self._shown_slots: int | None = None

    # ------------------------------------------------------------------ opening
    @staticmethod
    def _activate_sim(sim_dir: Path | None) -> None:
        activate_sim(sim_dir)

    @property
    def config(self) -> StationConfig:
        """The station file, read on first use (a registry-only command never needs a valid one)."""
        if self._config is None:
            self._config = load_config(self.settings.config_path)
        return self._config

    @property
    def station(self) -> str:
        return self.settings.station_name or self.config.name

    @property
    def registry(self) -> Registry:
        """Opened on first use, so a command that never reads it never needs one."""
        if self._registry is None:
            from station.store.registry import open_registry

            self._registry = open_registry(self.settings.db_url, create=self.settings.create_registry)
        return self._registry

    @property
    def mode(self) -> str:
        return "bench" if self.settings.usb else "line"

    # ------------------------------------------------------------------ slots
    def use_usb(self, job: Job | None = None, *, usb: bool | None = None, slots: str | None = None) -> bool:
        """The transport rule: ``--usb`` (or bench mode), else a profile that says USB when no SWD
        slots were named."""
        if usb or self.settings.usb:
            return True
        job = job or self.job
        return bool(job is not None and job.profile.transport is Transport.USB and slots is None)

    def discover_slots(self, *, usb: bool | None = None, slots: str | None = None,
                       usb_filter: set[str] | None = None) -> list[SlotSpec]:
        """SWD: the slots of station.toml (``slots`` overrides: ``"1=UID,2=UID"`` or ``"all"``), else one
        per attached probe; USB: one per attached device (``usb_filter``: only these IDs)."""
        if slots and usb:
            raise ConfigError("--slots (SWD) and --usb cannot be combined")
        return find_slots(self.config.slots, usb=self.use_usb(usb=usb, slots=slots), slots=slots,
                          usb_filter=usb_filter)

    def slots(self) -> list[SlotSpec]:
        """The slots a window shows: line mode keeps the configured ones even if a probe is missing."""
        if not self.settings.usb and self.config.slots:
            chosen = [SlotSpec(n, Transport.SWD, u) for n, u in self.config.slots.items()]
        else:
            chosen = self.discover_slots()
        self._shown_slots = len(chosen)
        return chosen

    # ------------------------------------------------------------------ runs
    def prepare(self, profile: str | Path, *, lot: str | None = None, operator: str | None = None,
                answers: Sequence[str] = (), recover_confirmed_by: str | None = None) -> Job:
        """Load and check everything a run needs (exit-2 errors surface here, nothing is touched).

        ``answers`` (``["led=yes"]``) are checked against the plan (a misspelt name is refused
        with the closest one) and answer those prompts for every device.
        """
        from station.ftest.answers import parse_answer_table
        from station.profile.load import load_profile

        table_ = parse_answer_table(list(answers), load_profile(profile).tests)
        self.broker.responders = [r for r in self.broker.responders if not isinstance(r, ScriptedAnswers)]
        if table_:
            self.broker.responders.insert(0, ScriptedAnswers(table_))
        self.job = prepare_job(
            profile_path=profile, cache=self.cache, registry=self.registry, station=self.station,
            operator=operator or getpass.getuser(), lot=lot, sink=self.sink, labels_dir=self.settings.labels_dir,
            recover_confirmed_by=recover_confirmed_by, swd_frequency=self.config.swd_frequency,
            slot_workers=self.config.slot_workers)
        return self.job

    def unanswerable_prompts(self) -> list[Any]:
        """Operator steps of the prepared plan no responder answers ahead (``--answer``)."""
        job = self._need_job()
        scripted = {k for r in self.broker.responders if isinstance(r, ScriptedAnswers) for k in r.answers}
        return [s for s in job.profile.tests if s.kind == "operator" and s.name not in scripted]

    def _need_job(self) -> Job:
        if self.job is None:
            raise ConfigError("no profile prepared: choose a profile first")
        return self.job

    def planned_slots(self) -> int:
        """How many slots a Start now runs side by side, counted as the window shows them: line mode,
        station.toml's slots; while watching, the probes or devices of the watcher's last listing
        (a bench gains and loses devices between loading a profile and pressing Start); otherwise
        the slots :meth:`slots` last listed (nothing else can get a card). Cheap: no bus is listed."""
        if not self.settings.usb and self.config.slots:
            return len(self.config.slots)
        watcher = self._watcher
        present = getattr(watcher, "present", None)
        if present is not None:
            return len(present())
        return self._shown_slots if self._shown_slots is not None else len(self.config.slots)

    def _handle(self, planned: int | None = None) -> RunHandle:
        """The session's run for a Start (or a pre-start), with its runner decided now.

        ``planned`` slots (default: :meth:`planned_slots`) decide the runner under slot_workers =
        "auto". A run with a slot still going keeps its runner (every slot of one run has the same
        one); an idle run whose runner the count now resolves to differently is replaced (its
        pre-started workers end in the background), one that resolves the same is kept with them.
        """
        from station.pipeline.runner import resolve

        with self._lock:
            job = self._need_job()
            count = planned if planned is not None else self.planned_slots()
            old = self.handle
            if old is not None and old.job is job:
                if old.active():
                    return old
                now = resolve(job.slot_workers, slots=count, registry_url=job.registry.engine.url)
                if now.name == old.runner.name:
                    return old
                LOG.info("slots of the next run in %s instead (%s)", now.name, now.why)
            self._retire(old)
            self.handle = RunHandle(job, sink=self.sink, asker=self.broker.asker, on_result=self._slot_result,
                                    planned=count)
            return self.handle

    def start(self, slots: Sequence[SlotSpec] | None = None, *,
              on_result: Callable[[SlotResult], None] | None = None) -> RunHandle:
        """Start every slot (default: :meth:`discover_slots` with the transport rule); returns at once."""
        job = self._need_job()
        chosen = list(slots) if slots is not None else self.discover_slots()
        if not chosen:
            raise ConfigError(no_slots_text())
        with self._lock:
            self._retire(self.handle)
            self.handle = RunHandle(job, chosen, sink=self.sink, asker=self.broker.asker, on_result=on_result)
        return self.handle.start()

    @staticmethod
    def _retire(old: RunHandle | None) -> None:
        """Let a replaced run end its worker processes once its slots are done (off the caller's thread)."""
        if old is not None:
            def retire() -> None:
                old.wait()
                old.close()

            threading.Thread(target=retire, name="retire-run", daemon=True).start()

    def prestart(self, slots: Sequence[SlotSpec] | None = None) -> list[str]:
        """Start the worker process of every slot now, before the operator presses Start (issue 12/16).

        Only when the session's run puts slots in worker processes (``slot_workers = "process"``, or
        ``"auto"`` over two or more slots: :attr:`RunHandle.runner`); otherwise nothing. Slots default
        to :meth:`slots` (line mode: station.toml's; bench mode: the devices attached now), which
        also count for ``auto``. The workers belong to the session's run handle, so start_slot (Start,
        Start all, auto-start) reuses them instead of spawning 8 interpreters at the press, and
        :meth:`close` ends them. Blocks until each is ready: call it off the GUI thread. Returns the
        slots whose worker died while starting (their first device then tries a new one).
        """
        self._need_job()
        chosen = list(slots) if slots is not None else self.slots()
        return self._handle(len(chosen)).start_workers(chosen)

    def start_slot(self, spec: SlotSpec, *, recover_confirmed_by: str | None = None) -> bool:
        """Start (or re-start) one slot in the session's run; False if it is still running.

        Emits ``slot_starting`` before and ``slot_result`` after (a window's card lifecycle), around
        the run's own ``attempt_started`` … ``attempt_finished``.
        """
        with self._probe_guard, self._lock:
            handle = self._handle()  # the runner is decided at each Start (planned_slots), not at the profile's load
            if spec.name in handle.active():
                return False
            self.sink(Event("slot_starting", spec.name, data={"transport": spec.transport.value, "target": spec.target}))
            return handle.add(spec, recover_confirmed_by=recover_confirmed_by)

    def _slot_result(self, r: SlotResult) -> None:
        seats, probe = self._seats, self._slot_probe.get(r.slot)
        if seats is not None and probe is not None:
            seats.finished(probe)  # the unit that just finished must be taken out before a restart
        self.sink(Event("slot_result", r.slot, device_id=r.device_id, outcome=r.outcome, step=r.failing_step,
                        message=r.reason or "", data={"serial_number": r.serial_number, "attempt_id": r.attempt_id,
                                                      "duration_s": r.duration_s, "result": r.to_dict()}))

    def cancel(self, slot: str | None = None) -> list[str]:
        """Cancel one slot (or all); its open prompts are aborted with it."""
        handle = self.handle
        asked = handle.cancel(slot) if handle is not None else []
        for s in asked:
            self.broker.abort(slot=s, why="the slot was cancelled")
        return asked

    def cancel_all(self) -> list[str]:
        return self.cancel(None)

    def active(self) -> list[str]:
        return self.handle.active() if self.handle is not None else []

    def wait(self, timeout: float | None = None) -> bool:
        return self.handle.wait(timeout) if self.handle is not None else True

    def answer(self, prompt_id: str, choice: str, *, by: str | None = None) -> bool:
        return self.broker.answer(prompt_id, choice, by=by)

    def auto_provisioner(self, *, usb: bool | None = None) -> Any:
        """Bench mode for a front end that drives its own hotplug watcher (``provision --watch``):
        each device or probe plugged in is provisioned once per plug-in, with this session's prompts."""
        from station.pipeline.autostart import AutoProvisioner

        transport = Transport.USB if self.use_usb(usb=usb) else Transport.SWD
        names = {uid: name for name, uid in self.config.slots.items()}
        from station.hw.swd.presence import target_answers

        return AutoProvisioner(self._need_job(), transport, slot_names=names, asker=self.broker.asker,
                               target_check=target_answers if transport is Transport.SWD else None)

    @staticmethod
    def plug_watcher(auto: Callable[[Any], None]) -> Any:
        """A hotplug watcher (a context manager: ``with`` starts and stops it) handing every probe and
        USB device that arrives or leaves to ``auto`` (an :meth:`auto_provisioner`), for a front end
        that keeps its own loop (``provision --watch`` waits for Ctrl-C or its time)."""
        from station.hw.hotplug import HotplugWatcher

        seats = getattr(auto, "seats", None)
        return _Watching(HotplugWatcher(auto), seats) if seats is not None else HotplugWatcher(auto)

    # ------------------------------------------------------------------ watching (bench auto-start)
    def watch(self, on_change: Callable[[], None] | None = None, *, auto_start: bool = True,
              interval: float = 0.3) -> None:
        """A USB device (bench) appearing starts its slot's run (once per plug-in); in line mode a
        probe arriving with a unit seated starts at once, and a unit seated behind a probe that
        stays (absent, then answering over SWD) starts its slot (:mod:`station.pipeline.seats`).
        A device or probe leaving aborts its open prompts. Emits ``device_arrived`` /
        ``device_left`` (and ``unit_seated``) events."""
        from station.hw.hotplug import HotplugWatcher, probe_lister, usb_lister
        from station.pipeline.seats import SeatWatch

        if self._watcher is not None:
            return
        usb = self.settings.usb
        lister = usb_lister if usb else probe_lister
        names = {uid: name for name, uid in self.config.slots.items()}

        def running(key: str) -> bool:
            h = self.handle
            return h is not None and any(s == names.get(key, key) for s in h.active())

        seats: SeatWatch | None = None

        def seated(key: str) -> None:
            slot = names.get(key, key)
            self.sink(Event("unit_seated", slot, data={"transport": Transport.SWD.value, "target": key}))
            if auto_start and self.job is not None:
                self.start_slot(SlotSpec(slot, Transport.SWD, key))
            if on_change is not None:
                on_change()

        def on_event(ev: Any) -> None:
            slot = names.get(ev.key, ev.key)
            if ev.kind == "arrived":
                if ev.key in self._seen or running(ev.key):
                    return  # its own run switching modes (DFU <-> normal), or already done this plug-in
                self._seen.add(ev.key)
                spec = SlotSpec(slot, Transport.USB if usb else Transport.SWD, ev.key)
                self.sink(Event("device_arrived", slot, data={"transport": spec.transport.value, "target": ev.key}))
                unit = True
                if seats is not None:
                    self._slot_probe[slot] = ev.key
                    with self._probe_guard:
                        answer = seats.check(ev.key)
                    unit = answer is not False  # cannot tell: start, as a probe arrival always did
                    seats.seen(ev.key, unit)
                if auto_start and self.job is not None and unit:
                    self.start_slot(spec)
            else:
                if running(ev.key):
                    return  # re-enumerating inside its run; a real unplug fails the run's next transfer
                watcher = self._watcher
                if watcher is not None and ev.key in watcher.present():
                    # Still listed in its other mode: a device its run left switching (DFU <-> normal)
                    # as the run ended. The listing's 'left' comes before its 'arrived'; treating this
                    # as an unplug would start the device again (SKIPPED, already provisioned).
                    return
                self._seen.discard(ev.key)
                if seats is not None:
                    seats.forget(ev.key)
                self.broker.abort(slot=slot, why="the device was unplugged")
                self.sink(Event("device_left", slot, data={"target": ev.key}))
            if on_change is not None:
                on_change()

        if not usb:
            from station.hw.swd.presence import target_answers

            seats = SeatWatch(target_answers, lambda: list(self._seen), running, seated, guard=self._probe_guard)
            self._seats = seats
        self._watcher = HotplugWatcher(on_event, listers=(lister,), interval=interval)
        self._watcher.start()
        if seats is not None:
            seats.start()

    def stop_watching(self) -> None:
        if self._seats is not None:
            self._seats.stop()
            self._seats = None
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    # ------------------------------------------------------------------ devices
    def attached(self, *, identify: bool = True) -> list[dict[str, Any]]:
        """Probes, USB devices (both modes) and Particle serial ports; one failing source never hides the others."""
        from station.app.attached import attached

        return attached(identify=identify)

    def device_record(self, device_id: str) -> Any:
        return self.registry.device_record(device_id)

    def device_detail(self, device_id: str) -> Any:
        return self.registry.device_detail(device_id)

    def lookup(self, text: str) -> Any:
        """A typed ID, a unique 8+ hex prefix, or a scanned label / sticker → the device's record
        (:class:`station.labels.lookup.Lookup`: ``record``, ``mismatch`` …)."""
        from station.labels.lookup import find_device

        return find_device(self.registry, text)

    def find_devices(self, text: str, *, limit: int = 50) -> list[Any]:
        return self.registry.find_devices(text, limit=limit)

    # ------------------------------------------------------------------ lots
    def lots(self) -> list[Any]:
        return self.registry.lots()

    def lot_overview(self, lot: str) -> Any:
        return self.registry.lot_overview(lot)

    def lot_figures(self, lot: str) -> dict[str, Any]:
        """A lot panel's figures: counts, first-pass yield, devices/hour, failures by step."""
        o = self.lot_overview(lot)
        return {"name": o.name, "product": o.product, "devices": o.devices, "passed": o.passed, "failed": o.failed,
                "errors": o.errors, "first_pass_yield": o.first_pass_yield, "devices_per_hour": o.devices_per_hour,
                "failures_by_step": {step or "?": n for step, n in o.failures_by_step}}

    def lot_report(self, lot: str) -> Any:
        from station.ftest.report import lot_report

        return lot_report(self.registry, lot)

    def attempts_page(self, f: Any = None, *, after: int | None = None, limit: int = 200) -> Any:
        return self.registry.attempts_page(f, after=after, limit=limit)

    def export(self, lot: str, fmt: str, path: Path, include_all: bool = False) -> Any:
        from station.export.manifest import export_lot

        return export_lot(self.registry, lot, fmt, path, include_all=include_all)

    # ------------------------------------------------------------------ cloud outbox
    def outbox_targets(self) -> list[Any]:
        """Per target and stage: pending, imported, failed (``cloud status``)."""
        return self.registry.outbox_counts()

    def outbox_counts(self) -> tuple[int, int, int]:
        """(pending, imported, failed) over every target (the window's queue badge)."""
        counts = self.outbox_targets()
        return (sum(c.pending for c in counts), sum(c.imported for c in counts), sum(c.failed for c in counts))

    def outbox_entries(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return self.registry.outbox_entries(state=state, limit=limit)

    def outbox_page(self, **kw: Any) -> Any:
        return self.registry.outbox_page(**kw)

    def sync_plan(self) -> list[dict[str, Any]]:
        from station.cloud.sync import plan

        return plan(self.registry)

    def outbox_waiting(self, simulated_ok: frozenset[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """When each waiting entry is next tried (``cloud status``, ``cloud sync --dry-run``)."""
        return self.registry.outbox_waiting(include_simulated=simulated_ok)

    def has_credential(self, target: str) -> bool:
        """Whether a sync would find a secret for ``target`` (a demo reads none)."""
        from station.cloud.credentials import get_credential

        return not self.settings.demo and get_credential(target) is not None

    def missing_credentials(self, simulated_ok: frozenset[str] = frozenset()) -> list[str]:
        """The targets a sync now would stop at for want of a credential (it has ready entries, no secret).

        The same test as the drainer's, so ``cloud sync --dry-run`` fails exactly when the sync would.
        """
        from station.store.outbox import PARTICLE, PERIDIO

        return [t for t in (PARTICLE, PERIDIO) if not self.has_credential(t)
                and self.registry.outbox_ready(target=t, include_simulated=t in simulated_ok)]

    def drainer(self, *, api_url: str | None = None, peridio_url: str | None = None, batch: int = 250,
                log: Callable[[str], None] | None = None,
                simulated_ok: frozenset[str] = frozenset()) -> Any:
        """The outbox drainer with this station's credentials and cloud URLs (a demo reads none)."""
        from station.cloud.credentials import get_credential
        from station.cloud.http import check_base_url
        from station.cloud.particle import ParticleClient
        from station.cloud.peridio import PeridioClient
        from station.cloud.sync import Drainer

        api = check_base_url(table.get("particle_api", api_url), "--api-url (env STATION_PARTICLE_API)")
        per = check_base_url(table.get("peridio_api", peridio_url), "--peridio-url (env STATION_PERIDIO_API)")
        ptoken, pkey = (None, None) if self.settings.demo else (get_credential("particle"), get_credential("peridio"))
        return Drainer(self.registry, particle=ParticleClient(ptoken, api) if ptoken else None,
                       peridio=PeridioClient(pkey, per) if pkey else None, batch=batch,
                       log=log or (lambda _m: None), simulated_ok=simulated_ok)

    def sync(self, **kw: Any) -> Any:
        """One pass over the ready entries (a :class:`~station.cloud.sync.SyncReport`)."""
        return self.drainer(**kw).drain_once()

    def retry(self, ids: Sequence[int] | None = None, *, all_failed: bool = False) -> int:
        """Queue parked entries again (an engineer's action: the front end checks the role)."""
        return int(self.registry.outbox_requeue(ids=list(ids) if ids else None, all_failed=all_failed))

    def requeue(self, ids: Sequence[int] | None = None, *, all_failed: bool = False,
                all_waiting: bool = False) -> OutboxRequeue:
        """Queue failed and/or waiting entries again (``cloud retry``; the front end checks the role).

        ``ids`` names entries of either kind; ``all_failed`` / ``all_waiting`` take every entry of
        that kind. A waiting entry is one a server delay or backoff holds back (a Retry-After, even
        one capped at an hour, or a run of 5xx): the engineer who fixed the cause need not wait it out.
        """
        wanted = list(ids) if ids else None
        failed = waiting = in_flight = 0
        if wanted is not None or all_failed:
            failed = int(self.registry.outbox_requeue(ids=wanted, all_failed=all_failed))
        if wanted is not None or all_waiting:
            waiting, in_flight = self.registry.outbox_requeue_waiting(ids=wanted)
        return OutboxRequeue(failed=failed, waiting=waiting, in_flight=in_flight)

    def retry_parked(self) -> int:
        return self.retry(all_failed=True)

    # ------------------------------------------------------------------ closing
    def close(self, timeout: float = 60.0) -> None:
        """Stop watching, cancel what runs (at step boundaries), wait, close the registry."""
        self.stop_watching()
        self.cancel_all()
        self.wait(timeout)
        if self.handle is not None:
            self.handle.close()
        if self._registry is not None:
            self._registry.close()
            self._registry = None

    def __enter__(self) -> StationSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
