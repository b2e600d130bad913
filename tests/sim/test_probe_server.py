"""Twins' SWD probes out of the station's process, behind pyocd's own probe server (issue 16).

The station's pyocd reaches a served twin as probe ``remote:localhost:PORT`` (pyocd's
``TCPClientProbe``); the twin's emulated core runs in the probe server process. These tests
judge that seam by what the station sees: the device's ID, bytes that land in the twin's flash,
an unplug that surfaces as "device gone", and no emulator in the station's process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from station.errors import DeviceGone
from station.hw.swd import PyocdSwdLink, list_probes
from station.sim.bench import Bench
from station.sim.device import Twin
from station.sim.probe_server import SWD_JSON, published_probes
from station.sim.serve import BenchServer

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]

#: runs in a process of its own with no bench configured: the station side of the seam, alone
STATION_SIDE = textwrap.dedent(
    """
    import json, sys
    from station.domain import FlashImage
    from station.hw.swd import PyocdSwdLink, list_probes
    image = FlashImage(0x30000, bytes(range(256)) * 32, "test image")
    with PyocdSwdLink(sys.argv[1]) as link:
        device_id = link.read_device_id()
        report = link.program([image], verify=True)
    emulator = sorted(m for m in sys.modules if m in ("unicorn", "station.sim.chip", "station.sim.core", "station.sim.dap"))
    print(json.dumps({"device_id": device_id, "verified": report.verified, "emulator": emulator}))
    """
)


def _station_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STATION_SIM_DIR", "STATION_SIM_REALTIME")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def test_a_station_process_without_twins_flashes_a_served_twin(bench: Bench, twin: Twin) -> None:
    with BenchServer(bench, serial=False, usb=False, swd=True) as server:
        (probe,) = server.describe()["swd"]["probes"]
        assert probe["twin"] == twin.name and probe["remote"].startswith("remote:localhost:")
        out = subprocess.run(
            [sys.executable, "-c", STATION_SIDE, probe["remote"]], env=_station_env(), capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["device_id"] == twin.device_id
    assert got["verified"] is True
    assert got["emulator"] == []  # the twin's core ran in the probe server, not in the station
    assert bytes(twin.flash[0x30000 : 0x30000 + 8192]) == bytes(range(256)) * 32


@pytest.mark.slow
def test_each_twin_gets_its_own_process_and_publishes_its_address_while_served(bench: Bench) -> None:
    twins = bench.create(3, seed=3)
    bench.get(twins[2].name).update_state(probe_attached=False)  # no probe on this fixture: not served
    with BenchServer(bench, serial=False, usb=False, swd=True) as server:
        (swd,) = [p for p in server.publishers if p.name == "swd"]
        probes = server.describe()["swd"]["probes"]
        assert [p["twin"] for p in probes] == [twins[0].name, twins[1].name]
        assert len(set(swd.pids())) == 2  # type: ignore[attr-defined]
        published = published_probes(bench.path)
        assert {n: p["remote"] for n, p in published.items()} == {p["twin"]: p["remote"] for p in probes}
        assert len({p["port"] for p in published.values()}) == 2
    assert published_probes(bench.path) == {}
    assert not (twins[0].path / SWD_JSON).exists()


def test_a_twin_served_by_another_process_is_not_also_a_probe_of_this_one(bench: Bench) -> None:
    # A real probe is plugged into one host. Were the served twin also listed here, a station
    # watching for boards (the window's auto-start) would start a second run on the same chip,
    # emulated in its own process, beside the one that reaches it as remote:localhost:PORT.
    served, local = bench.create(2, seed=5)
    bench.get(local.name).update_state(probe_attached=False)
    with BenchServer(bench, serial=False, usb=False, swd=True):
        bench.get(local.name).update_state(probe_attached=True)  # fitted after the server started: not served
        assert [p.unique_id for p in list_probes()] == [local.identity.probe_uid]
    assert sorted(p.unique_id for p in list_probes()) == sorted(t.identity.probe_uid for t in (served, local))


@pytest.mark.slow
def test_several_twins_can_share_one_server_process(bench: Bench) -> None:
    twins = bench.create(2, seed=4)
    with BenchServer(bench, serial=False, usb=False, swd=True, swd_per_process=2) as server:
        (swd,) = [p for p in server.publishers if p.name == "swd"]
        assert len(swd.pids()) == 1  # type: ignore[attr-defined]
        ids = []
        for twin in twins:
            with PyocdSwdLink(swd.remote_uid(twin.name)) as link:  # type: ignore[attr-defined]
                ids.append(link.read_device_id())
    assert ids == [t.device_id for t in twins]


def test_unplugging_a_served_twin_is_a_gone_device_at_the_station(bench: Bench, twin: Twin) -> None:
    with BenchServer(bench, serial=False, usb=False, swd=True) as server:
        (probe,) = server.describe()["swd"]["probes"]
        with PyocdSwdLink(probe["remote"]) as link:
            assert link.read_device_id() == twin.device_id
            # what bench/transports.py reads: the twin's clock and transfer count, through pyocd's readprop
            remote = link.session.probe
            before = remote._read_property("transfer_stats")["transfers"]
            link.read32(0x10000100)
            assert remote._read_property("transfer_stats")["transfers"] > before
            assert remote._read_property("device_seconds") > 0
            bench.unplug(twin.name)
            with pytest.raises(DeviceGone):
                link.read_device_id()


@pytest.mark.slow
def test_station_sim_serve_serves_swd_probes_and_stops_them_on_sigterm(bench: Bench, twin: Twin) -> None:
    env = dict(os.environ, STATION_SIM_DIR=str(bench.path))
    proc = subprocess.Popen(
        ["station", "sim", "serve", "--no-usb", "--no-serial", "--json"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        doc = json.loads(proc.stdout.readline())
        (probe,) = doc["swd"]["probes"]
        assert probe["probe_uid"] == twin.identity.probe_uid
        with PyocdSwdLink(probe["remote"]) as link:
            assert link.read_device_id() == twin.device_id
        server_pid = published_probes(bench.path)[twin.name]["pid"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert published_probes(bench.path) == {}
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)


def test_the_station_program_serves_probes_itself_as_a_frozen_bundle_must(
        bench: Bench, twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    # A PyInstaller bundle's sys.executable is the station program: it takes no `-m`, so the probe servers
    # that `station demo` and `station sim serve` start must be reachable as a station command.
    from station.sim.serve import probe_server_command

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert probe_server_command() == [sys.executable, "sim", "probe-server"]
    monkeypatch.undo()
    proc = subprocess.Popen([sys.executable, "-m", "station", "sim", "probe-server", "--bench", str(bench.path),
                             "--twin", twin.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=_station_env())
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = json.loads(proc.stdout.readline())
        assert first["twin"] == twin.name and "port" in json.dumps(first)
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        proc.stdin.close()  # the supervisor is gone: the server must not outlive it
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


#: the station side again, counting the remote probe's requests by name
COUNTING_SIDE = textwrap.dedent(
    """
    import collections, json, sys
    from pyocd.probe.tcp_client_probe import TCPClientProbe
    from station.domain import FlashImage
    from station.hw.swd import PyocdSwdLink
    counts = collections.Counter()
    send = TCPClientProbe._perform_request_without_raise
    def counted(self, request, *args):
        counts[request] += 1
        return send(self, request, *args)
    TCPClientProbe._perform_request_without_raise = counted
    image = FlashImage(0x30000, bytes(range(256)) * 64, "test image")
    with PyocdSwdLink(sys.argv[1]) as link:
        counts.clear()  # the session's open is pyocd's own sequence
        link.read_device_id()
        report = link.program([image], verify=True)
        crc = link.crc32(image.address, len(image.data))
    print(json.dumps({"verified": report.verified, "crc_ok": crc == __import__("zlib").crc32(image.data),
                      "counts": counts}))
    """
)


def test_an_operation_holds_the_remote_probe_once_not_per_access_port_call(bench: Bench, twin: Twin) -> None:
    """pyocd locks the probe around every AP call and its remote client sends each lock and unlock
    as a round trip unless an outer lock is held: the station holds it per operation, so a 16 KB
    program and verify costs a handful of lock requests, not one pair per AP call."""
    with BenchServer(bench, serial=False, usb=False, swd=True) as server:
        (probe,) = server.describe()["swd"]["probes"]
        out = subprocess.run(
            [sys.executable, "-c", COUNTING_SIDE, probe["remote"]], env=_station_env(), capture_output=True,
            text=True, timeout=120,
        )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["verified"] and got["crc_ok"]
    counts = got["counts"]
    assert counts["lock"] == counts["unlock"] <= 4, counts  # one per operation (device ID, program, crc32)
    assert sum(counts.values()) > 20 * counts["lock"], counts  # the operations' own requests still go through
