"""A live run: :func:`start` returns a :class:`RunHandle` at once; the slots run in their own threads.

When the run's runner is ``process`` (``Job.slot_workers`` resolved by :mod:`station.pipeline.runner`:
``process``, or ``auto`` with two or more slots and a shareable registry) each slot's thread only
relays: the hardware work runs in the slot's worker process (:mod:`station.pipeline.slot_worker`),
started with the slot's first device and reused for the next; :meth:`RunHandle.close` ends them.
Nothing else differs.

The handle is what a front end holds while devices are being provisioned: cancel one slot or all
(each slot has its own cancel: stopping one never stops another; a cancelled slot ends at its next
step boundary, recorded as ``cancelled``, its device left safe), the results as each slot ends (in
finish order), which slots are still active, and wait. Bench mode adds slots to a running handle as
devices are plugged in (:meth:`RunHandle.add`). Slot threads are named ``slot-<name>`` so a log
line or a thread dump says which fixture it came from.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from station.domain import Outcome, Transport
from station.errors import ConfigError
from station.ftest.context import AskOperator
from station.pipeline.context import DeviceClaims, SlotContext
from station.pipeline.events import Event, EventKind, EventSink, guarded
from station.pipeline.job import Job, SlotResult
from station.pipeline.line import SlotSpec, no_slots_text, run_slot
from station.pipeline.runner import Runner, resolve
from station.pipeline.slot_worker import SlotWorker, WorkerConfig

LOG = logging.getLogger(__name__)

#: builds a slot's operator-prompt callable from (slot, its cancel, a getter of its device ID)
AskerFactory = Callable[[str, threading.Event, Callable[[], str | None]], AskOperator]


@dataclass
class _Slot:
    spec: SlotSpec
    ctx: SlotContext
    thread: threading.Thread
    result: SlotResult | None = None
    device_id: str | None = None
    worker: SlotWorker | None = None  # process runner: the worker doing this run's device


class RunHandle:
    """The slots of one run while they go. Thread-safe; every method may be called from any thread."""

    def __init__(self, job: Job, slots: list[SlotSpec] | None = None, *, sink: EventSink | None = None,
                 asker: AskerFactory | None = None, on_result: Callable[[SlotResult], None] | None = None,
                 recover_confirmed_by: str | None = None, planned: int = 0) -> None:
        """``planned``: how many slots a handle made without ``slots`` will run (a window adds them one
        at a time); with ``slot_workers = "auto"`` it decides the runner, as ``len(slots)`` does otherwise."""
        slots = list(slots or [])
        names = [s.name for s in slots]
        if len(set(names)) != len(names):
            raise ConfigError(f"slot names must be unique: {names}")
        self.job = job
        self.slots = slots
        self.claims = DeviceClaims()  # shared by every slot of the run: duplicate IDs are caught
        self._sink = guarded(sink if sink is not None else job.sink)
        self._asker = asker
        self._on_result = on_result
        self._recover = recover_confirmed_by
        self._cond = threading.Condition()
        self._runs: dict[str, _Slot] = {}
        self._finished: list[SlotResult] = []  # finish order
        self._order: list[str] = []  # start order of the runs (one slot may run several times in bench mode)
        self._started = False
        #: where this run's slots work, decided once so every slot of the run has the same runner
        self.runner: Runner = resolve(job.slot_workers, slots=len(slots) or planned,
                                      registry_url=job.registry.engine.url)
        self._process = self.runner.process
        LOG.info("slots of this run in %s (%s)", "worker processes" if self._process else "threads", self.runner.why)
        self._config: WorkerConfig | None = WorkerConfig.of(job) if self._process else None
        self._workers: dict[str, SlotWorker] = {}  # slot name -> its worker, kept for the slot's next device
        self._closed = False
        #: held while a slot's worker is made, so a pre-start and the slot's first device never both spawn one
        self._spawning = threading.Lock()
        # A handle dropped without close() still ends its workers (a leak would hold their leases until exit).
        weakref.finalize(self, _close_all, self._workers)

    # ------------------------------------------------------------------ starting
    def start(self) -> RunHandle:
        """Start every slot given at construction; returns at once."""
        if self._started:
            return self
        self._started = True
        job = self.job
        if self.slots:
            job.registry.audit(
                "run-started", operator=job.operator, station=job.station,
                details={"profile": str(job.profile.path), "profile_sha256": job.profile.sha256,
                         "lot": job.lot_name, "slots": {s.name: s.target for s in self.slots}},
            )
        for spec in self.slots:
            self.add(spec)
        return self

    def add(self, spec: SlotSpec, *, recover_confirmed_by: str | None = None) -> bool:
        """Start one more slot in this run (bench mode, a re-run of a slot); False if it is still running."""
        self._started = True
        with self._cond:
            old = self._runs.get(spec.name)
            if old is not None and old.thread.is_alive():
                return False
            ctx = SlotContext(slot=spec.name, claims=self.claims, sink=self._slot_sink(spec.name),
                              recover_confirmed_by=recover_confirmed_by or self._recover)
            if self._asker is not None:
                ctx.ask_operator = self._asker(spec.name, ctx.cancel, lambda: self._device_of(spec.name))
            run = _Slot(spec, ctx, threading.Thread(target=self._work, args=(spec.name,), name=f"slot-{spec.name}",
                                                    daemon=True))
            self._runs[spec.name] = run
            self._order.append(spec.name)
            run.thread.start()
        return True

    def _slot_sink(self, slot: str) -> EventSink:
        def sink(ev: Event) -> None:
            if ev.device_id:
                with self._cond:
                    run = self._runs.get(slot)
                    if run is not None:
                        run.device_id = ev.device_id
            self._sink(ev)

        return sink

    def _device_of(self, slot: str) -> str | None:
        with self._cond:
            run = self._runs.get(slot)
            return run.device_id if run is not None else None

    def _work(self, slot: str) -> None:
        with self._cond:
            run = self._runs[slot]
        try:
            if self._process:
                worker = self._worker(slot, run.spec)
                with self._cond:
                    run.worker = worker
                if run.ctx.cancel.is_set():
                    worker.cancel()
                result = worker.run(self.job, run.spec, run.ctx)
            else:
                result = run_slot(self.job, run.spec, run.ctx)
        except Exception as exc:  # a bug below the flows: the slot must still end, and say so once
            LOG.exception("slot %s crashed", slot)
            result = SlotResult(slot, run.spec.transport.value, run.device_id, Outcome.FAILED,
                                reason=f"internal error: {exc!r}")
            self._sink(Event(EventKind.ATTEMPT_FINISHED, slot, device_id=run.device_id, outcome=result.outcome,
                             message=result.reason or "", data={"result": result.to_dict()}))
        with self._cond:
            run.result = result
            self._finished.append(result)
            self._cond.notify_all()
        if self._on_result is not None:
            try:
                self._on_result(result)
            except Exception:
                LOG.exception("on_result handler failed for slot %s (ignored)", slot)

    def _worker(self, slot: str, spec: SlotSpec) -> SlotWorker:
        """The slot's worker, started on its first device (in the slot's thread, never the caller's)."""
        assert self._config is not None
        with self._spawning:
            with self._cond:
                if self._closed:
                    raise RuntimeError("the run was closed")
                worker = self._workers.get(slot)
                if worker is not None and worker.alive:
                    return worker
            worker = SlotWorker(slot, self._config, swd=spec.transport is Transport.SWD)
            with self._cond:
                self._workers[slot] = worker
            return worker

    def start_workers(self, slots: Sequence[SlotSpec] | None = None) -> list[str]:
        """Start the worker of every slot given at construction (or of ``slots``) now, and wait until each is ready.

        Process runner only (threads have nothing to start): a station start-up screen or a bench
        calls it before the first device so no device pays a worker's start (interpreter, imports,
        pyocd, registry lease). Blocks: call it off the GUI thread. Returns the slots whose worker
        died while starting (their first device then ends ERROR and a new worker is tried).
        """
        if not self._process:
            return []
        dead: list[str] = []
        lock = threading.Lock()

        def one(spec: SlotSpec) -> None:
            if not self._worker(spec.name, spec).wait_ready():
                with lock:
                    dead.append(spec.name)

        chosen = list(slots) if slots is not None else self.slots
        threads = [threading.Thread(target=one, args=(s,), name=f"start-{s.name}") for s in chosen]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return dead

    def close(self, timeout: float = 10.0) -> None:
        """End the run's worker processes (process runner; nothing to do for threads).

        Call after :meth:`wait`: a worker still on a device is asked to stop and killed after
        ``timeout``, its attempt then closed as after a crash.
        """
        with self._cond:
            self._closed = True
        _close_all(self._workers, timeout)

    # ------------------------------------------------------------------ control
    def cancel(self, slot: str | None = None, *, reason: str = "cancelled by the operator") -> list[str]:
        """Ask one slot (or every active slot) to stop at its next step boundary; the slots asked."""
        with self._cond:
            runs = [r for n, r in self._runs.items() if (slot is None or n == slot) and r.thread.is_alive()]
        if slot is not None and not runs and slot not in self._runs:
            raise KeyError(f"no slot {slot!r} in this run (slots: {', '.join(self._runs) or 'none'})")
        asked = []
        for r in runs:
            if r.ctx.cancel.is_set():
                continue
            r.ctx.cancel.set()
            if r.worker is not None:
                r.worker.cancel()
            asked.append(r.spec.name)
            self._sink(Event(EventKind.CANCEL_REQUESTED, r.spec.name, device_id=r.device_id, message=reason))
        if asked:
            self.job.registry.audit("run-cancelled", operator=self.job.operator, station=self.job.station,
                                    details={"lot": self.job.lot_name, "slots": asked, "reason": reason})
        return asked

    # ------------------------------------------------------------------ reading
    def active(self) -> list[str]:
        """Slots whose run has not ended yet."""
        with self._cond:
            return [n for n, r in self._runs.items() if r.thread.is_alive() and r.result is None]

    def results(self) -> list[SlotResult]:
        """Results so far, in the order the slots finished."""
        with self._cond:
            return list(self._finished)

    def result(self, slot: str) -> SlotResult | None:
        with self._cond:
            run = self._runs.get(slot)
            return run.result if run is not None else None

    def as_completed(self, timeout: float | None = None) -> Iterator[SlotResult]:
        """Each result as its slot ends (finish order), until every slot started so far has ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        seen = 0
        while True:
            with self._cond:
                while seen >= len(self._finished) and self._pending():
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError(f"slots still running: {', '.join(self.active())}")
                    self._cond.wait(left)
                if seen >= len(self._finished):
                    return
                batch = self._finished[seen:]
                seen = len(self._finished)
            yield from batch

    def _pending(self) -> bool:
        return any(r.result is None for r in self._runs.values())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every slot started so far has ended; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.5 if left is None else min(left, 0.5))
        return True

    def results_by_slot(self) -> list[SlotResult]:
        """The last result of each slot, in the order the slots were started."""
        with self._cond:
            seen: dict[str, SlotResult] = {}
            for name in self._order:
                r = self._runs[name].result
                if r is not None:
                    seen[name] = r
            return list(seen.values())


def _close_all(workers: dict[str, SlotWorker], timeout: float = 10.0) -> None:
    """Stop every worker at once, then wait for each within one shared ``timeout``."""
    chosen = list(workers.values())
    workers.clear()
    for w in chosen:
        w.stop()
    deadline = time.monotonic() + timeout
    for w in chosen:
        w.join(max(0.1, deadline - time.monotonic()))


def start(job: Job, slots: list[SlotSpec], *, sink: EventSink | None = None, asker: AskerFactory | None = None,
          on_result: Callable[[SlotResult], None] | None = None) -> RunHandle:
    """Start provisioning every slot in parallel; returns the run's handle at once."""
    if not slots:
        raise ConfigError(no_slots_text())
    return RunHandle(job, slots, sink=sink, asker=asker, on_result=on_result).start()
