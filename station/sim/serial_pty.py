"""A twin's CDC serial port as a pseudo-terminal that pyserial opens like any other port.

The serving side (master) runs in a thread of the process that hosts the twin faces; the port
path is published in ``<twin>/serial.json`` with the USB identity a host would see (VID, PID,
serial number = device ID), so port discovery in any process on the machine finds it by device
ID. Closing the master makes the port vanish for its user: reads fail, as when the cable is
pulled or the device re-enumerates.

POSIX only: Windows has no pseudo-terminals (a twin's serial face there would need a virtual COM
port driver). It is the one part of the twin that is; its file locks are portable
(:mod:`station.sim.filelock`), and ``tests/packaging/test_portable_imports.py`` holds it so.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import threading

if sys.platform == "win32":  # pragma: no cover
    raise ImportError("the twin's serial faces are pseudo-terminals, which Windows does not have (POSIX only)")
import tty
from dataclasses import dataclass
from pathlib import Path

from station.procs import pid_alive
from station.sim import filelock
from station.sim.device import Twin
from station.sim.ftest_fw import TwinConsole

PUBLISH_FILE = "serial.json"
#: beside it, a symbolic link to the pty: a process under umockdev's preload (``LD_PRELOAD`` … ``UMOCKDEV_DIR``)
#: sees the testbed's /dev instead of the machine's, so it reaches the pty through this path outside /dev
PORT_LINK = "serial.pty"
#: held while a process decides whether it serves a twin's port and publishes it (see :func:`serve_port`)
PUBLISH_LOCK = "serial.lock"


@dataclass(frozen=True)
class PublishedPort:
    name: str
    port: str
    vid: int
    pid: int
    serial_number: str
    owner_pid: int


class PtyServer:
    """Serves one twin's serial port until :meth:`close`."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.generation = twin.state.generation
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self.console = TwinConsole(twin)
        self._stop = threading.Event()
        # The serving thread sleeps in select() until the port has data or close() wakes it
        # through this pipe: no periodic wake-ups, so N quiet ports cost nothing.
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name=f"pty-{twin.name}", daemon=True)
        self._thread.start()
        self._publish()

    def _publish(self) -> None:
        link = self.twin.path / PORT_LINK
        tmp_link = self.twin.path / (PORT_LINK + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()
        os.symlink(self.port, tmp_link)
        os.replace(tmp_link, link)
        doc = {
            "port": self.port,
            "port_link": str(link),
            "vid": 0x2B04,
            "pid": self.twin.reported_platform.pid_normal,
            "serial_number": self.twin.device_id,
            "owner_pid": os.getpid(),
        }
        tmp = self.twin.path / f"{PUBLISH_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.twin.path / PUBLISH_FILE)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _w, _x = select.select([self._master, self._wake_r], [], [])
                if self._wake_r in ready or self._stop.is_set():
                    return
                data = os.read(self._master, 4096)
            except OSError:
                return
            reply = self.console.feed(data)
            if reply:
                with contextlib.suppress(OSError):
                    os.write(self._master, reply)

    def close(self) -> None:
        """The port disappears: unpublish, stop serving, hang up the terminal."""
        path = self.twin.path / PUBLISH_FILE
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text()).get("port") == self.port:
                path.unlink()
                link = self.twin.path / PORT_LINK
                if os.readlink(link) == self.port:
                    link.unlink()
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)


def serve_port(twin: Twin) -> PtyServer | PublishedPort:
    """Serve ``twin``'s port from this process, unless another live process already does (its port).

    Every process that lists serial ports against a bench runs a host (the station, each slot
    worker, ``station sim serve``): two of them finding a twin unserved at once both served it,
    and their publications raced (a 24-slot bench run lost a device to FileNotFoundError on the
    shared temporary file). The check and the publication are one step under a lock on the twin's
    folder, so one process serves each twin and the others see its port."""
    with open(twin.path / PUBLISH_LOCK, "a+b") as f:
        filelock.lock(f)
        try:
            other = read_published(twin.path)
            if other is not None and other.owner_pid != os.getpid():
                return other
            return PtyServer(twin)
        finally:
            filelock.unlock(f)


def read_published(twin_dir: Path) -> PublishedPort | None:
    """The port a live host process publishes for this twin, if any."""
    try:
        doc = json.loads((twin_dir / PUBLISH_FILE).read_text())
        port = str(doc["port"])
        if os.environ.get("UMOCKDEV_DIR") and doc.get("port_link"):
            port = str(doc["port_link"])  # /dev is the testbed's in this process (see PORT_LINK)
        pub = PublishedPort(
            name=twin_dir.name, port=port, vid=int(doc["vid"]), pid=int(doc["pid"]),
            serial_number=str(doc["serial_number"]), owner_pid=int(doc["owner_pid"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pub if pid_alive(pub.owner_pid) else None


def published_ports(bench_path: Path) -> list[PublishedPort]:
    """Every twin port currently served on the bench, by any process."""
    if not bench_path.is_dir():
        return []
    out = []
    for folder in sorted(bench_path.iterdir()):
        pub = read_published(folder) if folder.is_dir() else None
        if pub is not None:
            out.append(pub)
    return out
