"""SimHost: keeps every plugged twin's serial port served while the twin's firmware runs USB.

Real devices bring their CDC port up when they boot into firmware and drop it when they reset,
enter DFU or lose power. The host watches the bench (every ~0.2 s; a twin's ``generation`` marks
each re-enumeration) and opens or closes ptys to match. Twins already served by another live
process are left alone, so a CLI and a test process can share one bench.
"""

from __future__ import annotations

import os
import threading

from station.sim.bench import Bench
from station.sim.serial_pty import PtyServer, read_published
from station.sim.usb_backend import usb_mode

POLL_S = 0.2


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
                self.sync()
            except (OSError, ValueError, KeyError) as exc:
                # A twin folder being created or deleted under us: try again next period. A host
                # thread that died here would silently take every serial port down with it.
                self.last_error = exc

    def sync(self) -> None:
        """Bring served ports in line with the bench right now."""
        with self._lock:
            seen = set()
            for twin in self.bench.twins():
                st = twin.state
                seen.add(twin.name)
                server = self.servers.get(twin.name)
                wanted = usb_mode(st) == "normal"
                if server is not None and (not wanted or server.generation != st.generation):
                    server.close()
                    del self.servers[twin.name]
                    server = None
                if wanted and server is None:
                    other = read_published(twin.path)
                    if other is not None and other.owner_pid != _own_pid():
                        continue
                    self.servers[twin.name] = PtyServer(twin)
            for name in [n for n in self.servers if n not in seen]:
                self.servers.pop(name).close()

    def port_of(self, name: str) -> str | None:
        server = self.servers.get(name)
        return server.port if server else None


def _own_pid() -> int:
    return os.getpid()
