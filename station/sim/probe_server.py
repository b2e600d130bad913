"""Twins' SWD probes served out of process by pyocd's own probe server (issue 16).

A real fixture's probe is a USB device the station's pyocd drives; the twin's probe is
:class:`~station.sim.probe.SimProbe`, which until now ran inside the station's process with the
twin's emulated core, sharing its GIL and CPU. Here each twin's probe is served by pyocd's
``DebugProbeServer`` (``pyocd/probe/tcp_probe_server.py``, the server behind ``pyocd server``) in
a process of its own, and the station reaches it with pyocd's ``remote:`` probe type
(``pyocd/probe/tcp_client_probe.py``): the station process then holds no twin code on the SWD
path, and the twins' CPU is billed to their own processes.

Run as ``python -m station.sim.probe_server --bench DIR --twin NAME [--twin NAME…]``: one
``DebugProbeServer`` per twin, on an OS-chosen localhost port, announced as one JSON line per twin
on stdout (``{"twin", "probe_uid", "port", "remote"}``) and recorded in ``<twin>/swd.json`` for as
long as the server runs. SIGTERM or a closed stdin stops it (a supervisor that dies takes its
servers with it).

pyocd's remote protocol is one JSON request line and one answer per DAP call
(``docs/remote_probe_protocol.md``): it carries every SWD transfer the station's pyocd makes,
which is what keeps the twin a probe rather than a memory server; what that costs is measured by
``bench/transports.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from station.procs import pid_alive

#: where a served twin's remote probe address is published (beside serial.json)
SWD_JSON = "swd.json"


def published_probes(bench_path: Path | str) -> dict[str, dict[str, Any]]:
    """Twin name → what its probe server announced (``remote`` is the uid to give pyocd), for twins served now."""
    out: dict[str, dict[str, Any]] = {}
    root = Path(bench_path)
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if (p / SWD_JSON).is_file()):
        try:
            info = json.loads((folder / SWD_JSON).read_text())
        except (OSError, ValueError):
            continue
        pid = int(info.get("pid", 0))
        if pid and pid_alive(pid):
            out[folder.name] = info
    return out


class TwinProbeServer:
    """pyocd's ``DebugProbeServer`` around one twin's :class:`SimProbe`, on a localhost port."""

    def __init__(self, bench_path: Path, name: str, port: int = 0) -> None:
        from pyocd.core.session import Session
        from pyocd.probe.tcp_probe_server import DebugProbeServer

        from station.sim.bench import Bench
        from station.sim.probe import SimProbe

        self.twin = Bench(bench_path).get(name)
        self.probe = SimProbe(self.twin)
        # A session without a probe only carries options (pyocd's server reads its settings there).
        # Session() chdirs into project_dir: give it the current one so relative paths stay valid.
        self.session = Session(None, project_dir=os.getcwd(), no_config=True)
        self.server = DebugProbeServer(self.session, self.probe, port=port, serve_local_only=True)
        # The server is bound in its constructor; with port 0 the OS chose one. DebugProbeServer.port
        # only learns it once its thread runs, so ask the bound socket (socketserver's server_address).
        self.port = int(self.server._server.server_address[1]) if port == 0 else port

    def start(self) -> dict[str, Any]:
        self.server.start()
        port = self.port
        info = {
            "twin": self.twin.name,
            "probe_uid": self.twin.identity.probe_uid,
            "port": port,
            "remote": f"remote:localhost:{port}",
            "pid": os.getpid(),
        }
        tmp = self.twin.path / (SWD_JSON + ".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(self.twin.path / SWD_JSON)
        return info

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            info = json.loads((self.twin.path / SWD_JSON).read_text())
            if info.get("pid") == os.getpid():
                (self.twin.path / SWD_JSON).unlink()
        self.server.stop()
        with contextlib.suppress(Exception):
            self.probe.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Serve twins' SWD probes with pyocd's probe server.")
    ap.add_argument("--bench", required=True, type=Path)
    ap.add_argument("--twin", action="append", required=True, help="twin name (repeat for several)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    bench = args.bench.resolve()
    servers: list[TwinProbeServer] = []
    try:
        for name in args.twin:
            server = TwinProbeServer(bench, name)
            servers.append(server)
            print(json.dumps(server.start()), flush=True)
        print(json.dumps({"ready": True}), flush=True)
        def watch_stdin() -> None:
            # A closed stdin means the supervisor is gone: do not outlive it.
            sys.stdin.read()
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        stop.wait()
    finally:
        for server in reversed(servers):
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
