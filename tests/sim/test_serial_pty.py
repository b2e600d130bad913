"""The twin's serial face as plain pyserial sees it, served by a SimHost."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import serial

from station.firmware.demo import DEVICE_OS_VERSION
from station.sim.bench import Bench
from station.sim.boot import boot_device
from station.sim.device import Twin
from station.sim.host import SimHost
from station.sim.serial_pty import published_ports
from tests.sim.conftest import DemoFirmware

pytestmark = pytest.mark.timeout(60)


def _readline(port: serial.Serial) -> bytes:
    return port.readline().rstrip(b"\r\n")


def test_pty_speaks_factory_test_protocol_and_closes_on_unplug(bench: Bench, twin: Twin, demo: DemoFirmware) -> None:
    demo.install(twin, "user-factory-test")
    boot_device(twin, cause="power-on")
    with SimHost(bench) as host:
        (pub,) = published_ports(bench.path)
        assert (pub.vid, pub.pid, pub.serial_number) == (0x2B04, 0xC00D, twin.device_id)
        with serial.Serial(pub.port, timeout=2) as port:
            port.write(b'{"id":7,"cmd":"vin"}\n')
            reply = json.loads(_readline(port))
            assert reply["id"] == 7 and reply["ok"] and reply["unit"] == "V"
            port.write(b"not json\n")
            assert json.loads(_readline(port)) == {"id": None, "ok": False, "error": "bad_request"}
            twin.unplug()
            host.sync()
            with pytest.raises(serial.SerialException):
                port.write(b'{"id":8,"cmd":"vin"}\n')
                port.read(1)
        assert published_ports(bench.path) == []


def test_listening_mode_keys(bench: Bench, twin: Twin, demo: DemoFirmware) -> None:
    demo.install(twin)
    boot_device(twin, cause="power-on")
    twin.update_state(run_state="listening", running_app=None)
    with SimHost(bench) as host, serial.Serial(host.port_of(twin.name), timeout=2) as port:
        port.write(b"v")
        want = f"system firmware version: {DEVICE_OS_VERSION}\n\r\n".encode()  # Device OS's own double line ending
        assert port.read(len(want)) == want
        port.write(b"m")
        assert _readline(port) == b"Your device MAC address is"
        assert len(_readline(port).split(b":")) == 6


def test_under_umockdev_the_pty_is_reached_through_its_link_outside_dev(
    bench: Bench, twin: Twin, demo: DemoFirmware, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process under umockdev's preload sees the testbed's /dev, where the twin's pty does not exist."""
    demo.install(twin, "user-factory-test")
    boot_device(twin, cause="power-on")
    with SimHost(bench):
        (plain,) = published_ports(bench.path)
        monkeypatch.setenv("UMOCKDEV_DIR", str(bench.path / "testbed"))
        (pub,) = published_ports(bench.path)
        assert plain.port.startswith("/dev/") and not pub.port.startswith("/dev/")
        with serial.Serial(pub.port, timeout=2) as port:
            port.write(b'{"id":7,"cmd":"vin"}\n')
            assert json.loads(_readline(port))["ok"]
        monkeypatch.delenv("UMOCKDEV_DIR")
    assert not (twin.path / "serial.pty").exists()


def _until(check: Callable[[], bool]) -> bool:
    """Poll ``check`` a bounded number of times (a timeout, not a measurement)."""
    for _ in range(500):
        if check():
            return True
        time.sleep(0.02)
    return False


def test_the_host_follows_the_bench_by_itself(bench: Bench, demo: DemoFirmware, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a sync() call: a twin made after the host started gets its port once it boots;
    another process's unplug (another Twin object on the same folder) takes it away, a re-plug
    and boot brings a new one. Seen by the quiet-period watch (change counters, the folder), not
    by the whole sync that also runs now and then."""
    monkeypatch.setattr("station.sim.host.FULL_SYNC_S", 3600.0)
    with SimHost(bench, poll_s=0.02) as host:
        (twin,) = bench.create(1, seed=60)
        demo.install(twin, "user-factory-test")
        boot_device(twin, cause="power-on")
        assert _until(lambda: host.port_of(twin.name) is not None)
        first = host.port_of(twin.name)
        (pub,) = published_ports(bench.path)
        assert pub.port == first and pub.serial_number == twin.device_id
        other = Twin.open(twin.path)  # what `station sim unplug` in another process holds
        try:
            other.unplug()
            assert _until(lambda: host.port_of(twin.name) is None)
            assert published_ports(bench.path) == []
            other.plug()
            boot_device(other, cause="power-on")
        finally:
            other.close()
        assert _until(lambda: host.port_of(twin.name) is not None)
        with serial.Serial(host.port_of(twin.name), timeout=2) as port:
            port.write(b'{"id":1,"cmd":"vin"}\n')
            assert json.loads(_readline(port))["ok"]


def test_the_host_retries_a_twin_it_caught_half_written(bench: Bench, demo: DemoFirmware,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Twin.create writes identity.json before the rest: a twin the host could not open yet is opened
    again every period, however long its writer takes, and does not hold up the twins after it."""
    import station.sim.host as host_module

    monkeypatch.setattr(host_module, "FULL_SYNC_S", 3600.0)
    real_get = bench.get
    writing = {"slow": True}
    refused: list[str] = []

    def get(name: str) -> Twin:
        if writing["slow"] and name.startswith("slow"):
            refused.append(name)
            raise FileNotFoundError(f"{name}/state.json: not written yet")
        return real_get(name)

    monkeypatch.setattr(bench, "get", get)
    with SimHost(bench, poll_s=0.02) as host:
        (slow,) = bench.create(1, seed=61, prefix="slow")
        (quick,) = bench.create(1, seed=62, prefix="quick")
        for twin in (slow, quick):
            demo.install(twin, "user-factory-test")
            boot_device(twin, cause="power-on")
        assert _until(lambda: host.port_of(quick.name) is not None), host.last_error
        assert _until(lambda: bool(refused))
        time.sleep(host_module._RECENT_S + 0.3)  # the writer is slower than the folder's 'recently changed' window
        assert host.port_of(slow.name) is None
        writing["slow"] = False
        assert _until(lambda: host.port_of(slow.name) is not None), host.last_error


def _serve_in_child(twin_path: str, ready: Any, decided: Any, release: Any, out: Any) -> None:
    from station.sim.serial_pty import PtyServer, serve_port

    twin = Twin.open(Path(twin_path))
    ready.wait()  # every child reaches the decision at once
    served = serve_port(twin)
    out.put(isinstance(served, PtyServer))
    decided.wait()
    release.wait(60)  # a served port lives as long as its process


def test_processes_listing_one_bench_at_once_serve_each_twin_once(bench: Bench, demo: DemoFirmware) -> None:
    """The station, each slot worker and a sim serve all host the bench's ports: at a 24-slot start
    several found one twin unserved together, and their publications raced (FileNotFoundError)."""
    import multiprocessing

    (twin,) = bench.create(1, seed=63)
    demo.install(twin, "user-factory-test")
    boot_device(twin, cause="power-on")
    ctx = multiprocessing.get_context("spawn")
    n = 4
    ready, decided, release = ctx.Barrier(n), ctx.Barrier(n + 1), ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=_serve_in_child, args=(str(twin.path), ready, decided, release, out)) for _ in range(n)]
    for p in procs:
        p.start()
    try:
        decided.wait(120)
        served = [out.get(timeout=10) for _ in range(n)]
        assert served.count(True) == 1, served
        (pub,) = published_ports(bench.path)
        assert pub.owner_pid in {p.pid for p in procs} and pub.serial_number == twin.device_id
    finally:
        release.set()
        for p in procs:
            p.join(30)
