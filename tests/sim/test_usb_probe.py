"""Unmodified pyocd as the judge of the twins' debug probes on USB (CMSIS-DAP v2, out of process).

``station sim serve``'s core (:class:`station.sim.serve.BenchServer`) publishes every twin's probe as
a USB device in a umockdev testbed; ``pyocd list``, ``pyocd commander`` and ``pyocd load`` run as
plain subprocesses under ``LD_PRELOAD=libumockdev-preload.so.0 UMOCKDEV_DIR=…`` and find it through
their pyusb CMSIS-DAP v2 backend, like a probe on a fixture. ``STATION_SIM_DIR`` is removed from their
environment, so the twins' own pyocd plugin stays out: the only way to the twin is the USB pipe.

Needs Debian's umockdev, gir1.2-umockdev-1.0 and python3-gi (``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.sim.bench import Bench
from station.sim.device import Twin
from station.sim.serve import BenchServer, umockdev_missing

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ADDR = 0x28000


class Served:
    def __init__(self, server: BenchServer) -> None:
        self.server = server
        self.env = {k: v for k, v in os.environ.items() if k != "STATION_SIM_DIR"}
        self.env.update(server.env())

    def pyocd(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.server.settle()
        proc = subprocess.run(["pyocd", *args], env=self.env, capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
        return proc

    def probe_stats(self, twin: Twin) -> dict[str, object]:
        for pub in self.server.publishers:
            faces = getattr(pub, "faces", None)
            if faces is not None:
                return faces.probes.stats()[twin.name]  # type: ignore[no-any-return]
        raise AssertionError("no USB publisher")


@pytest.fixture
def served(bench: Bench) -> Iterator[Served]:
    why = umockdev_missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the USB probe tests: {why}")
        pytest.skip(why)
    with BenchServer(bench, serial=False) as server:
        yield Served(server)


def test_pyocd_lists_each_twin_probe_as_a_usb_cmsis_dap_probe(bench: Bench, served: Served) -> None:
    twins = bench.create(2, seed=5)
    out = served.pyocd("list").stdout
    for twin in twins:
        assert twin.identity.probe_uid in out
    assert out.count("Station twin CMSIS-DAP") == 2


def test_pyocd_commander_reads_the_chip_through_the_usb_probe(twin: Twin, served: Served) -> None:
    uid = twin.identity.probe_uid
    out = served.pyocd("commander", "-u", uid, "-t", "nrf52840", "-O", "auto_unlock=false",
                       "-c", "read32 0x10000060").stdout  # fmt: skip
    assert f"{twin.identity.deviceid0:08x}" in out
    stats = served.probe_stats(twin)
    assert stats["transfer_packets"]  # the chip was read over DAP_Transfer packets on the bulk pipe


def test_pyocd_load_programs_flash_through_the_usb_probe(twin: Twin, served: Served, tmp_path: Path) -> None:
    data = random.Random(7).randbytes(48 * 1024)
    image = tmp_path / "image.bin"
    image.write_bytes(data)
    served.pyocd("load", "-u", twin.identity.probe_uid, "-t", "nrf52840", "-O", "auto_unlock=false",
                 "--base-address", hex(ADDR), "--format", "bin", str(image))  # fmt: skip
    assert bytes(twin.flash[ADDR : ADDR + len(data)]) == data
    stats = served.probe_stats(twin)
    assert stats["by_command"]["0x06"] > 20  # type: ignore[index]  # the image moved in DAP_TransferBlock packets


def test_a_unit_lifted_from_behind_the_usb_probe_answers_no_ack(twin: Twin, served: Served) -> None:
    """The probe stays on USB (it is on the station, not the board); the wire finds no target."""
    twin.lift()
    served.server.settle()
    proc = subprocess.run(
        ["pyocd", "commander", "-u", twin.identity.probe_uid, "-t", "nrf52840", "-c", "read32 0x10000060"],
        env=served.env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "No ACK" in proc.stdout + proc.stderr


#: a station slot's SWD link (station.hw.swd) on a probe on the umockdev USB, in a process of its own
#: (LD_PRELOAD must be set when a process starts): the same calls the pipeline makes
STATION_LINK = r"""
import sys
from station.errors import StationError
from station.hw.swd import PyocdSwdLink
uid = sys.argv[1]
with PyocdSwdLink("cmsisdap:" + uid) as link:
    print(link.read_device_id(), flush=True)
    sys.stdin.readline()  # the probe's cable was pulled meanwhile
    try:
        link.read_device_id()
        print("answered", flush=True)
    except StationError as exc:
        print(type(exc).__name__, exc, flush=True)
"""


def test_a_pulled_usb_probe_leaves_the_bus_and_the_station_reads_it_as_a_lost_probe(
    bench: Bench, twin: Twin, served: Served
) -> None:
    """Not a no-ACK target (the unit's FAIL) but the station's own probe gone (ERROR), as on the remote
    seam: its face goes with a remove uevent and libusb answers NO_DEVICE; attached again, it is back."""
    import sys

    uid = twin.identity.probe_uid
    served.server.settle()
    proc = subprocess.Popen([sys.executable, "-c", STATION_LINK, uid], env=served.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == twin.device_id
        bench.pull_probe(twin.name)
        served.server.settle()
        proc.stdin.write("\n")
        proc.stdin.flush()
        said = proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
    assert said.startswith("ProbeGone "), said  # the pipeline's FAULT_PROBE_GONE, a slot ERROR
    assert "unplugged from this computer's USB" in said and "server" not in said, said  # not a remote seam's words
    assert uid not in served.pyocd("list").stdout
    bench.attach_probe(twin.name)
    assert uid in served.pyocd("list").stdout
    served.pyocd(
        "commander", "-u", uid, "-t", "nrf52840", "-O", "auto_unlock=false", "-c", "read32 0x10000060"
    )


def test_a_removed_probe_node_goes_quiet_instead_of_polling_ready_for_good(bench: Bench, twin: Twin, served: Served) -> None:
    """Linux's usbfs polls a disconnected node EPOLLHUP|EPOLLERR and libusb then drops it from its
    poll set; the FIFO standing in for the node cannot say POLLERR to an opener holding it O_RDWR, so
    once nothing the removal completed waits to be reaped it must poll not ready, not ready for good
    (libusb's event loop then spun on ENODEV reaps until the program closed the device)."""
    import glob
    import select
    import stat
    import time

    served.server.settle()
    root = served.env["UMOCKDEV_DIR"]
    (sysdir,) = [os.path.dirname(p) for p in glob.glob(f"{root}/sys/devices/usb1/*/serial")
                 if open(p).read().strip() == twin.identity.probe_uid]
    (node,) = [p for p in glob.glob(f"{root}/dev/bus/usb/*/*") if stat.S_ISFIFO(os.stat(p).st_mode)]
    fd = os.open(node, os.O_RDWR | os.O_NONBLOCK)  # as libusb opens a usbfs node
    try:
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        assert poller.poll(0) == [], "an idle probe has nothing to reap"
        bench.pull_probe(twin.name)
        deadline = time.monotonic() + 60
        while os.path.exists(sysdir):  # the helper removes the device after settling the node's poll state
            assert time.monotonic() < deadline, "the pulled probe's device was never removed"
            served.server.settle()
        assert poller.poll(0) == [], "a removed node with nothing to reap must not wake the event loop"
    finally:
        os.close(fd)
