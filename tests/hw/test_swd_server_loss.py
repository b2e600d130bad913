"""A probe server that dies mid-run is a lost probe (ERROR ``probe-gone``), not a station bug.

pyocd's remote probe talks to its server over a plain socket, so a server that went surfaces as
the socket's ``OSError`` (pyocd/utility/sockets.py), not a pyocd error: the link must still say
``ProbeGone``, the run's finish then files it as ERROR/probe-gone like a pulled USB probe.
"""

from __future__ import annotations

import os
import signal

import pytest

from station.errors import ProbeGone
from station.hw.swd import PyocdSwdLink
from station.sim.bench import Bench
from station.sim.serve import BenchServer

pytestmark = pytest.mark.timeout(180)


def test_a_killed_probe_server_mid_session_is_probe_gone(bench: Bench) -> None:
    (twin,) = bench.create(1, seed=41)
    with BenchServer(bench, serial=False, usb=False, swd=True) as server:
        (swd,) = [p for p in server.publishers if p.name == "swd"]
        uid = swd.remote_uid(twin.name)  # type: ignore[attr-defined]
        with PyocdSwdLink(uid) as link:
            assert link.read_device_id() == twin.device_id
            for pid in swd.pids():  # type: ignore[attr-defined]
                os.kill(pid, signal.SIGKILL)  # the server's host crashed: its socket closes
            with pytest.raises(ProbeGone, match=r"server stopped answering|probe disconnected"):
                for _ in range(3):  # the first request may still be answered from a buffer
                    link.read32(0x10000060)
