"""Work off the GUI thread, its result back on it: one way to do it for the whole window.

As in Picard's ``util/thread.py``: a job is a plain callable run by a ``QRunnable`` on a
``QThreadPool``; when it ends, ``done(result, error)`` is called **on the GUI thread**, exactly
once, with either the result or the exception (never both). The callback is delivered through a
small ``QObject`` created on the GUI thread, so the delivery is a queued signal to a method of an
object living there — never a lambda called from the worker.

Queries (history pages, lot summaries, the cloud queue) use the shared pool; work that must not
overlap (a sync, an export) can be given a pool of one thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

LOG = logging.getLogger(__name__)

Done = Callable[[Any, BaseException | None], None]


class _Delivery(QObject):
    """Lives on the thread that submitted the job; carries the result back to it."""

    finished = Signal(object, object)

    def __init__(self, done: Done, owner: Workers) -> None:
        super().__init__()
        self.done = done
        self.owner = owner
        self.finished.connect(self._deliver)

    @Slot(object, object)
    def _deliver(self, result: Any, error: Any) -> None:
        self.owner._pending.discard(self)
        try:
            self.done(result, error)
        except Exception:
            LOG.exception("a result handler of the window failed")


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], delivery: _Delivery) -> None:
        super().__init__()
        self.fn = fn
        self.delivery = delivery

    def run(self) -> None:
        try:
            result, error = self.fn(), None
        except BaseException as exc:  # delivered, not lost: the GUI decides what to show
            result, error = None, exc
        try:
            self.delivery.finished.emit(result, error)
        except RuntimeError:
            # The receiver is gone (the window closed while this ran): nobody is left to tell.
            LOG.debug("a background job finished after its window closed")


class Workers(QObject):
    """Submit callables; results come back on this object's thread. ``wait()`` joins the pool."""

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self._pending: set[_Delivery] = set()

    def submit(self, fn: Callable[[], Any], done: Done) -> None:
        delivery = _Delivery(done, self)
        self._pending.add(delivery)  # keep the QObject alive until it has delivered
        self.pool.start(_Job(fn, delivery))

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def wait(self, msecs: int = -1) -> bool:
        return self.pool.waitForDone(msecs)


def serial_pool() -> QThreadPool:
    """A pool of one thread: jobs run one after another, in submission order."""
    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    return pool
