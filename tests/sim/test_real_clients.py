"""Real clients as the judge of the twins' USB faces: Particle's particle-usb and dfu-util, unmodified.

The twins are served by ``station sim serve``'s core (:class:`station.sim.serve.BenchServer`): USB
faces as umockdev device nodes, which libusb in node (particle-usb via node-usb) and dfu-util open
like hardware. The station's own USB path then talks to the same twins and must see the same device.

Needs Debian's dfu-util, umockdev, gir1.2-umockdev-1.0 and python3-gi, node, and particle-usb from
``tests/node`` (``npm ci --prefix tests/node``); ``.ci/run`` installs all of them. Each test skips
with the reason when a tool is missing on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from station.firmware.demo import (
    BOOTLOADER_DEPENDENCY,
    BOOTLOADER_VERSION,
    DEVICE_OS_VERSION,
    USER_PART_INDEX,
    build_demo_modules,
)
from station.firmware.demo_updates import build_bootloader_module
from station.firmware.module import parse_module
from station.hw import backend
from station.hw.usb import open_control
from station.sim.bench import Bench
from station.sim.boot import boot_device
from station.sim.device import Twin
from station.sim.serve import BenchServer, umockdev_missing
from station.sim.stock import ship_with_bootloader
from station.sim.usb_descriptors import alt_strings
from tests.sim.conftest import DemoFirmware

REPO = Path(__file__).resolve().parents[2]
JUDGE = REPO / "tests" / "node" / "judge.js"
PARTICLE_USB = REPO / "tests" / "node" / "node_modules" / "particle-usb"

#: a bootloader newer than the demo Device OS's, and one older than it depends on
NEWER = BOOTLOADER_VERSION + 1
OLDER = BOOTLOADER_DEPENDENCY - 100

pytestmark = pytest.mark.timeout(300)


def _missing(why: str) -> None:
    """Skip where a tool is missing on a developer's machine; in CI (.ci/run installs them) it is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the real-client tests: {why}")
    pytest.skip(why)


def _need(*tools: str) -> None:
    why = umockdev_missing()
    if why:
        _missing(why)
    for tool in tools:
        if tool == "particle-usb":
            if shutil.which("node") is None:
                _missing("node is not installed (apt-get install nodejs npm)")
            if not PARTICLE_USB.is_dir():
                _missing("particle-usb is not installed: npm ci --prefix tests/node")
        elif shutil.which(tool) is None:
            _missing(f"{tool} is not installed (apt-get install {tool})")


class Served:
    """A running BenchServer and the environment programs run with."""

    def __init__(self, server: BenchServer) -> None:
        self.server = server
        self.env = dict(os.environ)
        self.env.update(server.env())

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.server.settle()  # a twin just reset or switched mode: its new face must be published first
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def served(bench: Bench) -> Iterator[Served]:
    """The bench's USB faces as umockdev devices (what ``station sim serve`` does)."""
    why = umockdev_missing()
    if why:
        _missing(why)
    with BenchServer(bench, serial=False) as server:
        yield Served(server)


def _judge(served: Served, *args: str) -> dict:  # type: ignore[type-arg]
    proc = served.run(["node", str(JUDGE), *args])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, (out, proc.stderr[-2000:])
    return out  # type: ignore[no-any-return]


def _dfu_util(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return served.run(["dfu-util", *args])


def _running(twin: Twin, demo: DemoFirmware, app: str = "user-factory-test") -> Twin:
    demo.install(twin, app)
    boot_device(twin, cause="power-on")
    return twin


_TYPES = {"BOOTLOADER": 2, "SYSTEM_PART": 4, "USER_PART": 5, "NCP_FIRMWARE": 7, "RADIO_STACK": 8}


def test_particle_usb_reads_a_twin_and_agrees_with_the_station(
    bench: Bench, twin: Twin, demo: DemoFirmware, served: Served
) -> None:
    _need("particle-usb")
    _running(twin, demo)
    info = _judge(served, "info", twin.device_id)
    assert (info["id"], info["deviceId"], info["type"], info["isInDfuMode"]) == (
        twin.device_id, twin.device_id, "boron", False,
    )  # fmt: skip
    assert info["firmwareVersion"] == DEVICE_OS_VERSION and info["serialNumber"] == twin.serial_number()
    theirs = {(_TYPES[m["type"]], m["index"], m["version"], m["hash"], m["failedFlags"]) for m in info["modules"]}
    backend.use_sim(bench.path)
    try:
        with open_control(twin.device_id) as ctl:
            assert (ctl.get_device_id(), ctl.get_system_version()) == (info["deviceId"], info["firmwareVersion"])
            ours = {(m.function, m.index, m.version, m.sha256, m.failed_checks) for m in ctl.get_module_info()}
    finally:
        backend.stop_sim_hosts()
        backend.use_sim(None)
    assert theirs == ours
    user = parse_module(build_demo_modules("boron")["user-factory-test"])
    assert (5, USER_PART_INDEX, user.version, user.sha256, 0) in theirs


def test_particle_usb_enters_dfu_and_sees_a_dfu_twin_as_one(
    bench: Bench, twin: Twin, demo: DemoFirmware, served: Served
) -> None:
    _need("particle-usb")
    _running(twin, demo)
    assert _judge(served, "dfu", twin.device_id) == {"entered": True}
    assert twin.state.run_state == "dfu"
    info = _judge(served, "info", twin.device_id)
    assert info["isInDfuMode"] is True and info["type"] == "boron"
    listed = {d["id"]: d for d in _judge(served, "list")}
    assert listed[twin.device_id]["isInDfuMode"] is True
    assert "first_connect" not in twin.events.kinds()


@pytest.mark.slow
def test_particle_usb_updates_a_user_part_and_a_bootloader(
    bench: Bench, twin: Twin, demo: DemoFirmware, served: Served, tmp_path: Path
) -> None:
    _need("particle-usb")
    _running(twin, demo)
    product = build_demo_modules("boron")["user-product"]
    (tmp_path / "user.bin").write_bytes(product)
    assert _judge(served, "update", twin.device_id, str(tmp_path / "user.bin")) == {"updated": len(product)}
    modules = {_TYPES[m["type"]]: m for m in _judge(served, "info", twin.device_id)["modules"]}
    assert modules[5]["hash"] == parse_module(product).sha256
    # The twin runs what it reports: product firmware, which (like a real device) connects
    assert (twin.state.run_state, twin.state.running_app) == ("running", "product")
    assert "first_connect" in twin.events.kinds()
    bootloader = build_bootloader_module("boron", NEWER)
    (tmp_path / "boot.bin").write_bytes(bootloader)
    _judge(served, "update", twin.device_id, str(tmp_path / "boot.bin"))
    modules = {_TYPES[m["type"]]: m for m in _judge(served, "info", twin.device_id)["modules"]}
    assert (modules[2]["version"], modules[2]["hash"], modules[2]["failedFlags"]) == (
        NEWER, parse_module(bootloader).sha256, 0,
    )  # fmt: skip
    assert bytes(twin.flash[0xF4000 : 0xF4000 + len(bootloader)]) == bootloader


def test_dfu_util_lists_the_three_alt_settings_with_particles_strings(
    bench: Bench, twin: Twin, served: Served
) -> None:
    _need("dfu-util")
    ship_with_bootloader(twin)
    out = _dfu_util(served, "-l")
    assert out.returncode == 0, out.stderr
    found = [line for line in out.stdout.splitlines() if line.startswith("Found DFU: [2b04:d00d]")]
    names = {int(line.split("alt=")[1].split(",")[0]): line.split('name="')[1].split('"')[0] for line in found}
    assert names == dict(enumerate(alt_strings(twin.platform)))
    assert all(f'serial="{twin.device_id}"' in line for line in found)


def test_dfu_util_uploads_the_bootloader_byte_exact(
    bench: Bench, twin: Twin, served: Served, tmp_path: Path
) -> None:
    _need("dfu-util")
    ship_with_bootloader(twin)
    want = build_demo_modules("boron")["bootloader"]
    out = tmp_path / "up.bin"
    proc = _dfu_util(served, "-d", "2b04:d00d", "-a", "0", "-s", f"0x000F4000:{len(want)}", "-U", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == want


def test_dfu_util_downloads_a_user_part_and_the_twin_boots_it_on_leave(
    bench: Bench, twin: Twin, demo: DemoFirmware, served: Served, tmp_path: Path
) -> None:
    _need("dfu-util")
    demo.install(twin, "user-factory-test")
    twin.update_state(dfu_requested=True)
    boot_device(twin, cause="power-on")
    assert twin.state.run_state == "dfu"
    product = build_demo_modules("boron")["user-product"]
    info = parse_module(product)
    (tmp_path / "user.bin").write_bytes(product)
    proc = _dfu_util(served, "-d", "2b04:d00d", "-a", "0", "-s", f"0x{info.start:08X}:leave", "-D", str(tmp_path / "user.bin"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert bytes(twin.flash[info.start : info.start + len(product)]) == product
    assert (twin.state.run_state, twin.state.running_app) == ("running", "product")
    # what a real device does after `:leave` with product firmware — why the station never does this
    assert twin.events.read()[-1]["kind"] == "first_connect"


def test_station_sim_serve_runs_a_program_under_the_faces(bench: Bench, twin: Twin, sim_env: dict[str, str]) -> None:
    _need("dfu-util")
    ship_with_bootloader(twin)
    proc = subprocess.run(
        ["station", "sim", "serve", "--no-serial", "--", "dfu-util", "-l"], env=sim_env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(f'serial="{twin.device_id}"') == 3


def test_station_sim_serve_prints_how_to_reach_the_twins_and_stops_on_sigterm(
    bench: Bench, twin: Twin, demo: DemoFirmware, sim_env: dict[str, str]
) -> None:
    import signal

    _need()
    _running(twin, demo)
    proc = subprocess.Popen(["station", "sim", "serve", "--json"], env=sim_env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        doc = json.loads(proc.stdout.readline())
        assert doc["env"]["LD_PRELOAD"].startswith("libumockdev-preload") and Path(doc["env"]["UMOCKDEV_DIR"]).is_dir()
        assert [d["serial"] for d in doc["usb"]["devices"]] == [twin.device_id]
        assert doc["usb"]["devices"][0]["product"] == "Boron CDC Mode"
        (port,) = doc["serial"]["ports"]
        assert port["device_id"] == twin.device_id and Path(port["port"]).exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert not Path(doc["env"]["UMOCKDEV_DIR"]).exists()  # the testbed went with the server
