"""SimHost: keeps every plugged twin's serial port served while the twin's firmware runs USB.

Real devices bring their CDC port up when they boot into firmware and drop it when they reset,
enter DFU or lose power. The host watches the bench (every ~0.2 s; a twin's ``generation`` marks
each re-enumeration) and opens or closes ptys to match. Twins already served by another live
process are left alone, so a CLI and a test process can share one bench.

Watching costs next to nothing while the bench is quiet, however many twins it holds: a period
reads each twin's change counter (shared memory, no system call; it moves whenever a twin's state
is replaced, by any process) and stats the bench folder, and reads a twin's state only when its
counter moved; the folder is listed again only when it changed. Only twins that need a look every
period get one (served by another process, whose end the host must notice; a folder still being
created). Every :data:`FULL_SYNC_S` a whole sync runs anyway, for a change that bypassed the
counter (a hand-edited state.json).
"""

from __future__ import annotations

import os
import threading
import time

from station.sim.bench import Bench
from station.sim.device import Twin
from station.sim.serial_pty import PtyServer, serve_port
from station.sim.usb_backend import usb_mode

POLL_S = 0.2
#: the longest a change that bypassed the twins' change counters goes unserved
FULL_SYNC_S = 10.0
#: a folder modified this recently may change again within its timestamp's granularity: list it again
_RECENT_S = 1.0


class SimHost:
    """Serves a bench's serial faces from a background thread. Use as a context manager."""

    def __init__(self, bench: Bench, *, poll_s: float = POLL_S) -> None:
        self.bench = bench
        self.poll_s = poll_s
        self.servers: dict[str, PtyServer] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_error: Exception | None = None
        #: the bench as last listed: folder key (mtime, links), twins by name, each one's change count then
        self._listing: tuple[int, int] | None = None
        self._twins: dict[str, Twin] = {}
        self._counts: dict[str, int] = {}
        #: names to look at every period: served by another process, or a folder without identity yet
        self._watch: set[str] = set()
        self._unfinished: set[str] = set()
        self._full_at = 0.0

    def __enter__(self) -> SimHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            return
        self.sync()
        self._thread = threading.Thread(target=self._run, name="sim-host", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        with self._lock:
            for server in self.servers.values():
                server.close()
            self.servers.clear()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                if time.monotonic() >= self._full_at:
                    self.sync()
                else:
                    self._watch_changes()
            except (OSError, ValueError, KeyError) as exc:
                # A twin folder being created or deleted under us: try again next period. A host
                # thread that died here would silently take every serial port down with it.
                self.last_error = exc

    def sync(self) -> None:
        """Bring served ports in line with the bench right now (every twin's state read)."""
        with self._lock:
            self._full_at = time.monotonic() + FULL_SYNC_S
            self._relist()
            for name in list(self._twins):
                self._look(name)

    def _watch_changes(self) -> None:
        """One quiet period: look only at what may have changed."""
        with self._lock:
            if self._listing_changed():
                self._relist()
            for name, twin in list(self._twins.items()):
                if name in self._watch or twin.change_count() != self._counts.get(name):
                    self._look(name)

    def _folder_key(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.bench.path)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_nlink

    def _listing_changed(self) -> bool:
        key = self._folder_key()
        if key != self._listing or any((self.bench.path / n / "identity.json").is_file() for n in self._unfinished):
            return True
        return key is not None and time.time() - key[0] / 1e9 < _RECENT_S

    def _relist(self) -> None:
        self._listing = self._folder_key()
        root = self.bench.path
        folders = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
        names = set(self.bench.names())
        self._unfinished = folders - names
        for name in [n for n in self._twins if n not in names]:
            del self._twins[name]
            self._counts.pop(name, None)
            self._watch.discard(name)
            server = self.servers.pop(name, None)
            if server is not None:
                server.close()
        for name in sorted(names - self._twins.keys()):
            try:
                self._twins[name] = self.bench.get(name)
            except (OSError, ValueError, KeyError) as exc:
                # Twin.create writes identity.json before the rest: a twin caught half-written is
                # opened again every period (it stays unfinished while identity.json is there),
                # and the twins after it in the listing are not held up by it.
                self.last_error = exc
                self._unfinished.add(name)

    def _look(self, name: str) -> None:
        """Read one twin's state and open or close its port to match."""
        twin = self._twins[name]
        count = twin.change_count()  # before the read: a change after it moves the count again
        st = twin.state
        self._counts[name] = count
        self._watch.discard(name)
        server = self.servers.get(name)
        wanted = usb_mode(st) == "normal"
        if server is not None and (not wanted or server.generation != st.generation):
            server.close()
            del self.servers[name]
            server = None
        if wanted and server is None:
            served = serve_port(twin)  # another live process's port, or one served from here
            if not isinstance(served, PtyServer):
                self._watch.add(name)  # until that process lets go of it (or dies)
                return
            self.servers[name] = served

    def port_of(self, name: str) -> str | None:
        server = self.servers.get(name)
        return server.port if server else None
