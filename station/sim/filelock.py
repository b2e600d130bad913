"""An exclusive lock on an open file, across processes, on POSIX and Windows.

The twin keeps its state in files that several processes share (the station, ``station sim``,
a ``sim serve``), so its state lock and a probe's "already open" lock must be held by the OS, not
by one process. ``fcntl.flock`` does that on POSIX and does not exist on Windows, where
``msvcrt.locking`` does it for a byte range; this is the one place that chooses, so the rest of
the twin (and anything that imports it) stays importable on both.
"""

from __future__ import annotations

import sys
from typing import IO, Any

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def lock(f: IO[Any], *, blocking: bool = True) -> None:
        """Lock ``f`` exclusively; ``BlockingIOError`` if not ``blocking`` and another holder has it."""
        f.seek(0)
        while True:
            try:
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
                return
            except OSError:
                if not blocking:
                    raise BlockingIOError(f"{getattr(f, 'name', f)} is locked by another holder") from None
                msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)  # waits up to ~10 s, then raises: retry
                return

    def unlock(f: IO[Any]) -> None:
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def lock(f: IO[Any], *, blocking: bool = True) -> None:
        """Lock ``f`` exclusively; ``BlockingIOError`` if not ``blocking`` and another holder has it."""
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))

    def unlock(f: IO[Any]) -> None:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
