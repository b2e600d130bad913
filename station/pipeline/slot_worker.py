"""One slot's hardware work in a worker process of its own, driven from the run's handle.

Why processes: a slot in a thread holds the station's GIL for about 2 s of Python per device
(pyocd's transfer layer, the flows, the registry), so 24 slots in threads would need ~48 s of GIL
per 14 s device period (issue 16). A worker process per slot gives each its own interpreter.

Why the handle keeps a thread per slot anyway: the thread only waits on the worker's pipe
(``multiprocessing.connection.wait``, no GIL held while it waits) and re-emits what comes back, so
the handle's whole API — active, results, as_completed, cancel, on_result — is the same for both
runners and no front end can tell them apart.

What crosses, and why that way:

* the job as plain configuration (:class:`WorkerConfig`): the profile and the verified firmware
  set with its images as bytes; the worker's flows call ``FirmwareSet.reverify`` on every device
  as in a thread, so a cache file changed after the run started is still caught in the worker;
  the registry as its URL (the worker opens its own engine: SQLite in WAL with a busy timeout and
  ``BEGIN IMMEDIATE``, and PostgreSQL, both take writers from several processes —
  :mod:`station.store.engine`), so the database stays the record of truth;
* events back in order over the one pipe of the slot, re-numbered (``seq``) in the parent, whose
  counter is the one a front end sees;
* operator prompts as a request the parent answers with the run's own asker (the prompt broker:
  its timeout and the slot's cancel end the prompt, as in a thread);
* duplicate-ID claims as requests to the run's one :class:`~station.pipeline.context.DeviceClaims`
  in the parent, so two workers can never both provision one device ID;
* cancel as a message, sent by :meth:`RunHandle.cancel` the moment it is asked.

A worker holds its own lease on the station name (:meth:`Registry.hold_station`), so its attempts
are owned by its pid: if it dies mid-device (killed, crashed), the parent sees the pipe close, asks
the registry to close attempts whose owner is dead (``close_abandoned_attempts``: the attempt ends
``failed``, "station stopped during the attempt", exactly as after a station crash) and ends the
slot ERROR "worker process died".

Workers are started with the *spawn* method: the GUI process has Qt and threads, and a forked copy
of a process with threads can inherit a lock some other thread held. A worker is reused for the
next device of its slot (bench mode, a re-run of the slot), so a device pays no interpreter start
nor pyocd import; it ignores SIGINT from its very start (a Ctrl-C of the station cancels the
slots between steps through the parent, as in a thread, rather than killing a worker mid-transfer
or mid-start: a terminal sends it to the workers too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import multiprocessing
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from station.domain import Outcome
from station.errors import ConfigError
from station.pipeline.context import DeviceClaims, SlotContext
from station.pipeline.events import Event, EventKind
from station.pipeline.firmware_set import FirmwareSet
from station.pipeline.job import Job, SlotResult
from station.pipeline.runner import shareable
from station.profile.model import Profile

LOG = logging.getLogger(__name__)

DIED_REASON = "worker process died"


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to rebuild the job: configuration only, picklable."""

    profile: Profile
    firmware: FirmwareSet
    registry_url: str = dataclasses.field(repr=False)  # may hold a password: never logged, never in an event
    product_id: int
    profile_id: int
    lot_id: int
    lot_name: str
    station: str
    operator: str
    labels_dir: Path | None
    recover_confirmed_by: str | None
    settle_timeout: float
    swd_frequency: int
    sim_dir: Path | None
    #: the parent's level for the station's loggers: the worker sends only what the parent would keep
    log_level: int = logging.INFO

    @classmethod
    def of(cls, job: Job) -> WorkerConfig:
        from station.hw.backend import sim_bench_path

        url = job.registry.engine.url
        text = url.render_as_string(hide_password=False)
        if not shareable(url):
            raise ConfigError("slot_workers = process needs a registry other processes can open (a SQLite file or "
                              "PostgreSQL), not an in-memory database")
        return cls(profile=job.profile, firmware=job.firmware, registry_url=text, product_id=job.product_id,
                   profile_id=job.profile_id, lot_id=job.lot_id, lot_name=job.lot_name, station=job.station,
                   operator=job.operator, labels_dir=job.labels_dir, recover_confirmed_by=job.recover_confirmed_by,
                   settle_timeout=job.settle_timeout, swd_frequency=job.swd_frequency, sim_dir=sim_bench_path(),
                   log_level=logging.getLogger("station").getEffectiveLevel())


# ---------------------------------------------------------------------------------------------- parent side
class SlotWorker:
    """The parent's end of one slot's worker process. One run at a time; reused across runs."""

    def __init__(self, slot: str, config: WorkerConfig, *, swd: bool = False) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.slot = slot
        self._conn, child = ctx.Pipe(duplex=True)
        self._send_lock = threading.Lock()
        self.process = ctx.Process(target=worker_main, args=(child, config, swd), name=f"slot-{slot}", daemon=True)
        with _sigint_blocked():
            self.process.start()
        child.close()  # the parent keeps no copy of the worker's end: its death is an EOF here
        self._broken = False
        self._ready = False
        #: one reader of the pipe until "ready": a pre-start waiting while the slot's first device
        #: starts must not take (and drop) that device's events
        self._ready_lock = threading.Lock()

    def wait_ready(self) -> bool:
        """Block until the worker has its registry lease (and pyocd, for SWD); False if it died first."""
        with self._ready_lock:
            while not self._ready:
                if self._broken:
                    return False
                try:
                    # the sentinel too, not the pipe alone: a process that inherited the worker's end
                    # of the pipe (a fork in another thread) keeps it open, and a worker that died
                    # before "ready" would then never show as an EOF here
                    if not wait([self._conn, self.process.sentinel], timeout=1.0):
                        continue  # wake up now and then so a Ctrl-C of the main thread is seen
                    if not self._conn.poll():  # the worker exited and left nothing more to read
                        self._broken = True
                        return False
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    self._broken = True
                    return False
                if msg[0] == "log":
                    _relog(msg[1])
                self._ready = msg[0] == "ready"
        return True

    @property
    def alive(self) -> bool:
        return not self._broken and self.process.is_alive()

    def _send(self, *msg: Any) -> None:
        with self._send_lock:
            try:
                self._conn.send(msg)
            except (OSError, ValueError):
                self._broken = True  # the worker is gone: run() sees it on its next wait

    def cancel(self) -> None:
        """Stop the worker's current device at its next step boundary."""
        self._send("cancel")

    def run(self, job: Job, spec: Any, ctx: SlotContext) -> SlotResult:
        """Provision one device of the slot in the worker; events, prompts and claims relayed meanwhile."""
        sink = ctx.events(job)
        device_id: str | None = None
        attempt_id: int | None = None
        self._send("run", spec, ctx.recover_confirmed_by)
        if ctx.cancel.is_set():  # cancelled before the worker got the device
            self.cancel()
        if not self.wait_ready():  # died while starting (its pre-start may be waiting too)
            return self._died(job, spec, sink, None, None)
        while True:
            ready = wait([self._conn, self.process.sentinel])
            msg: tuple[Any, ...] | None = None
            if self._conn in ready:
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    msg = None
            if msg is None:
                if device_id is not None:  # the dead worker can no longer release its claim
                    ctx.claims.release(device_id, ctx.slot)
                return self._died(job, spec, sink, device_id, attempt_id)
            kind = msg[0]
            if kind == "ready":
                self._ready = True
            elif kind == "log":
                _relog(msg[1])
            elif kind == "event":
                ev: Event = msg[1]
                device_id = ev.device_id or device_id
                if ev.kind is EventKind.ATTEMPT_RECORDED:
                    attempt_id = ev.data.get("attempt_id", attempt_id)
                sink(_renumbered(ev))
            elif kind == "ask":
                _, rid, step, question, timeout_s = msg
                threading.Thread(target=self._answer, args=(ctx.asker(job), rid, step, question, timeout_s),
                                 name=f"prompt-{self.slot}", daemon=True).start()
            elif kind == "claim":
                self._send("reply", msg[1], ctx.claims.claim(msg[2], ctx.slot))
            elif kind == "tainted":
                self._send("reply", msg[1], ctx.claims.is_tainted(msg[2]))
            elif kind == "release":
                ctx.claims.release(msg[1], ctx.slot)
            elif kind == "result":
                result: SlotResult = msg[1]
                return result
            elif kind == "crash":  # run_slot raised in the worker: the handle reports it like a thread's crash
                raise RuntimeError(msg[1])

    def _answer(self, ask: Any, rid: int, step: str, question: str, timeout_s: float) -> None:
        try:
            answer = ask(step, question, timeout_s)
        except Exception:
            LOG.exception("slot %s: the operator prompt failed", self.slot)
            answer = None
        self._send("reply", rid, answer)

    def _died(self, job: Job, spec: Any, sink: Any, device_id: str | None, attempt_id: int | None) -> SlotResult:
        self._broken = True
        self.process.join(timeout=5)
        code = self.process.exitcode
        reason = f"{DIED_REASON} (exit code {code})"
        LOG.error("slot %s: %s", self.slot, reason)
        try:  # the worker's lease died with it: its running attempt is closed as after a station crash
            job.registry.close_abandoned_attempts(job.station)
        except Exception:
            LOG.exception("slot %s: could not close the dead worker's attempt (the next start will)", self.slot)
        result = SlotResult(self.slot, spec.transport.value, device_id, Outcome.ERROR, reason=reason,
                            attempt_id=attempt_id)
        sink(Event(EventKind.ATTEMPT_FINISHED, self.slot, device_id=device_id, outcome=result.outcome,
                   message=reason, data={"result": result.to_dict()}))
        return result

    def stop(self) -> None:
        """Ask the worker to finish its current device, release its lease and exit."""
        self._send("stop")

    def join(self, timeout: float = 10.0) -> None:
        """Wait for the exit :meth:`stop` asked for; kill the worker if it has not exited by then."""
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self._conn.close()

    def close(self, timeout: float = 10.0) -> None:
        self.stop()
        self.join(timeout)


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread while it spawns a worker, so the worker starts with it blocked.

    A terminal's Ctrl-C goes to the whole foreground process group, workers included. A worker
    ignores SIGINT only once :func:`worker_main` runs, after a second or more of interpreter start
    and imports; a Ctrl-C in that window raised KeyboardInterrupt in the booting worker, which died
    (slot ERROR "worker process died") instead of its slot being cancelled. A blocked signal mask
    survives fork and exec, so the Ctrl-C stays pending until the worker ignores SIGINT and
    unblocks it, which discards it. CPython's multiprocessing resource tracker starts its process
    the same way. Only this thread is blocked: the main thread still gets the Ctrl-C as a cancel.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to share a Ctrl-C with
        yield
        return
    from multiprocessing import resource_tracker

    # A spawn starts multiprocessing's tracker process first if it is not running, and that start
    # ends by unblocking SIGINT in the calling thread: start it before blocking (a no-op once running).
    resource_tracker.ensure_running()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _renumbered(ev: Event) -> Event:
    """The worker's event with a number from this process's counter (one order for the front end)."""
    from station.pipeline import events

    return dataclasses.replace(ev, seq=next(events._seq))


# ---------------------------------------------------------------------------------------------- worker side
class _Parent:
    """The worker's end of the pipe: sends from any thread, replies matched to their requests."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[threading.Event, list[Any]]] = {}
        self.gone = threading.Event()

    def send(self, *msg: Any) -> None:
        with self._lock:
            try:
                self.conn.send(msg)
            except (OSError, ValueError):
                self.gone.set()

    def request(self, kind: str, *args: Any) -> Any:
        rid = next(self._ids)
        done, box = threading.Event(), [None]
        with self._lock:
            self._waiting[rid] = (done, box)
        self.send(kind, rid, *args)
        if self.gone.is_set():  # checked after registering: abandon() either saw this request or set gone first
            return None
        done.wait()
        return box[0]

    def reply(self, rid: int, value: Any) -> None:
        with self._lock:
            done, box = self._waiting.pop(rid, (None, [None]))
        box[0] = value
        if done is not None:
            done.set()

    def abandon(self) -> None:
        """The parent is gone: every request waiting gets None (no answer, no claim)."""
        self.gone.set()
        with self._lock:
            waiting, self._waiting = list(self._waiting.values()), {}
        for done, _ in waiting:
            done.set()


class _ParentClaims(DeviceClaims):
    """The run's claims, asked of the parent: the one table every slot of the run shares."""

    def __init__(self, parent: _Parent) -> None:
        super().__init__()
        self._parent = parent

    def claim(self, device_id: str, slot: str) -> str | None:
        other = self._parent.request("claim", device_id)
        if self._parent.gone.is_set():  # nobody can vouch that no other slot holds it
            return "(the station's main process is gone)"
        return other if isinstance(other, str) else None

    def is_tainted(self, device_id: str) -> bool:
        return self._parent.gone.is_set() or bool(self._parent.request("tainted", device_id))

    def release(self, device_id: str, slot: str) -> None:
        self._parent.send("release", device_id)


class _ToParent(logging.Handler):
    """A worker's log records go to the parent, whose handlers (station.log, the window's log pane) decide.

    Without it a spawned worker has no handler, and Python's last-resort handler printed pyocd's
    warnings on the operator's terminal, which the station never does (README: records go to
    station.log). The record is made picklable the way ``logging.handlers.QueueHandler.prepare``
    does: the message merged with its arguments, the traceback as text.
    """

    def __init__(self, parent: _Parent) -> None:
        super().__init__()
        self._parent = parent

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record = logging.makeLogRecord({**record.__dict__, "msg": msg, "args": None, "exc_info": None})
            self._parent.send("log", record)
        except Exception:
            self.handleError(record)


def _log_to_parent(parent: _Parent, level: int) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(_ToParent(parent))
    root.setLevel(logging.WARNING)
    logging.getLogger("station").setLevel(level)  # as the parent's: records it would drop are not sent


def _relog(record: logging.LogRecord) -> None:
    """A worker's record, handled by the parent's logger of the same name (its level and handlers)."""
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


def worker_main(conn: Connection, config: WorkerConfig, swd: bool = False) -> None:
    """The worker process: rebuild the job, then provision one device per ``run`` until ``stop``.

    ``swd``: import pyocd now (about a second of CPU), while the worker starts with the run rather
    than in its first device's connect step.
    """
    import queue

    from station.hw.backend import use_sim
    from station.pipeline.line import run_slot
    from station.store.registry import open_registry

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns a Ctrl-C into a cancel
    if hasattr(signal, "pthread_sigmask"):  # blocked since the spawn (_sigint_blocked): a pending one is dropped
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if config.sim_dir is not None:
        use_sim(config.sim_dir)
    parent = _Parent(conn)
    _log_to_parent(parent, config.log_level)
    registry = open_registry(config.registry_url)
    registry.hold_station(config.station)  # this process's own lease: a kill -9 here is seen by its pid
    if swd:
        from station.hw.swd.session import pyocd_modules

        pyocd_modules()
    runs: queue.Queue[tuple[Any, str | None, threading.Event] | None] = queue.Queue()
    #: the cancel of the device the parent sent last. Made by the reader when "run" arrives, so a
    #: "cancel" right behind it (Cancel pressed as the slot started) sets this device's, never the last one's
    current: list[threading.Event] = [threading.Event()]

    def read() -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                msg = ("stop",)
                current[0].set()  # the parent died: end the device at its next step boundary
                parent.abandon()
            kind = msg[0]
            if kind == "run":
                current[0] = threading.Event()
                runs.put((msg[1], msg[2], current[0]))
            elif kind == "cancel":
                current[0].set()
            elif kind == "reply":
                parent.reply(msg[1], msg[2])
            elif kind == "stop":
                runs.put(None)
                return

    def ask(step: str, question: str, timeout_s: float) -> bool | None:
        answer = parent.request("ask", step, question, timeout_s)
        return answer if isinstance(answer, bool) else None

    job = Job(profile=config.profile, firmware=config.firmware, registry=registry, product_id=config.product_id,
              profile_id=config.profile_id, lot_id=config.lot_id, lot_name=config.lot_name, station=config.station,
              operator=config.operator, ask_operator=ask, labels_dir=config.labels_dir,
              recover_confirmed_by=config.recover_confirmed_by, sink=lambda ev: parent.send("event", ev),
              settle_timeout=config.settle_timeout, swd_frequency=config.swd_frequency)
    claims = _ParentClaims(parent)
    threading.Thread(target=read, name="parent-pipe", daemon=True).start()
    parent.send("ready")
    try:
        while (item := runs.get()) is not None:
            spec, recover, cancel = item
            ctx = SlotContext(slot=spec.name, cancel=cancel, claims=claims, recover_confirmed_by=recover)
            try:
                result = run_slot(job, spec, ctx)
            except Exception as exc:
                LOG.exception("slot %s crashed in its worker", spec.name)
                parent.send("crash", repr(exc))
                continue
            parent.send("result", result)
    finally:
        registry.close()
