"""Is this the only live process of a station on this machine?

On start a station closes the attempts its previous run left open (killed mid-device): they are
abandoned. But a second process with the same station name (a USB ``--watch`` bench beside an SWD
run on the same PC) must not close the first one's live attempts. Every process holds a shared
lock on a per-station file for its lifetime; only a process that can first take it exclusively
knows no other live process exists. Locks die with their process, so a ``kill -9`` frees it.
"""

from __future__ import annotations

import fcntl
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

_held: dict[str, IO[str]] = {}
_lock = threading.Lock()


def lock_dir() -> Path:
    d = Path(tempfile.gettempdir()) / "station-locks"
    d.mkdir(parents=True, exist_ok=True)
    return d


def claim_station(name: str, if_alone: Callable[[], object]) -> bool:
    """Hold this station's liveness lock; run ``if_alone`` first if no other live process holds it.

    ``if_alone`` runs while the lock is still exclusive, so a process starting at that moment waits
    and cannot have its new attempts mistaken for abandoned ones. Only the first call in a process
    can be alone: later jobs of the same process find the earlier ones finished, not abandoned.
    """
    with _lock:
        if name in _held:
            return False
        path = lock_dir() / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".lock")
        f = open(path, "a+")
        _held[name] = f
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)  # another live process: just be counted
            return False
        try:
            if_alone()
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH)  # downgrade: others may now see this one as live
        return True
