"""A probe server that dies mid-run is a lost probe (ERROR ``probe-gone``), not a station bug.

pyocd's remote probe talks to its server over a plain socket, so a server that went surfaces as
the socket's ``OSError`` (pyocd/utility/sockets.py), not a pyocd error: the link must still say
``ProbeGone``, the run's finish then files it as ERROR/probe-gone like a pulled USB probe. pyocd's
own client would wait for ever on a server that died or went silent (its readline retries an
empty or timed-out recv): the station's remote probe ends the call instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from usb.core import USBError

from station.errors import ProbeGone
from station.hw.swd import PyocdSwdLink, remote
from station.sim.bench import Bench
from station.sim.serve import BenchServer

pytestmark = pytest.mark.timeout(180)


@contextlib.contextmanager
def _remote_session(bench: Bench, seed: int) -> Iterator[tuple[PyocdSwdLink, Any]]:
    """A twin's probe behind pyocd's probe server in its own process, and a session open on it."""
    (twin,) = bench.create(1, seed=seed)
    with BenchServer(bench, serial=False, usb=False, swd=True) as server:
        (swd,) = [p for p in server.publishers if p.name == "swd"]
        with PyocdSwdLink(swd.remote_uid(twin.name)) as link:  # type: ignore[attr-defined]
            assert link.read_device_id() == twin.device_id
            yield link, swd


def test_a_killed_probe_server_mid_session_is_probe_gone(bench: Bench) -> None:
    with _remote_session(bench, 41) as (link, swd):
        for proc in swd.procs:
            os.kill(proc.pid, signal.SIGKILL)  # the server's host crashed: its socket closes
            proc.wait(30)  # gone, not only signalled: a busy machine may not have run its exit yet
        with pytest.raises(ProbeGone, match=r"server stopped answering"):
            link.read32(0x10000060)


def test_a_probe_server_that_goes_silent_mid_session_is_probe_gone(
        bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's process is alive and its socket open but nothing answers (its host froze, the
    network between the station and the fixture PC broke): the call ends, it does not hang the slot."""
    monkeypatch.setattr(remote, "REPLY_LIMIT_S", 1.0)
    with _remote_session(bench, 42) as (link, swd):
        pids = swd.pids()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(ProbeGone, match=r"server stopped answering.*no reply .* within 1 s"):
                link.read32(0x10000060)
            # the connection stays lost: the next request (and the session's close) fails at once
            with pytest.raises(ProbeGone, match=r"within 1 s \(found earlier in this session\)"):
                link.read32(0x10000060)
        finally:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize(("err", "said", "never"), [
    # what pyocd's pyusb CMSIS-DAP backend raises for a probe pulled from this computer's USB:
    # libusb's NO_DEVICE (pyusb maps it to errno ENODEV)
    (USBError("No such device (it may have been disconnected)", -4, 19), "unplugged from this computer's USB",
     "server"),
    (USBError("Input/Output Error", -1, 5), "stopped answering on this computer's USB", "server"),
    # a remote probe's socket (pyocd/utility/sockets.py) when its server went
    (ConnectionResetError(104, "Connection reset by peer"), "server stopped answering", "USB"),
    (BrokenPipeError(32, "Broken pipe"), "server stopped answering", "USB"),
])
def test_a_lost_probe_says_which_seam_it_was_lost_on(err: OSError, said: str, never: str) -> None:
    """A person at the bench reads what to check: a USB probe's cable, or the remote probe server."""
    from station.hw.swd.session import translate

    gone = translate("probe 0240000034", err)
    assert isinstance(gone, ProbeGone)
    assert said in str(gone) and never not in str(gone), str(gone)
    assert str(gone).startswith("probe 0240000034: ")
