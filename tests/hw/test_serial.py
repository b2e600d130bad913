"""Serial console and factory-test protocol through real pyserial on the twins' ptys."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.errors import DeviceGone, DeviceTimeout, TransportError
from station.hw.ports import device_ports, find_port
from station.hw.serial import open_console, parse_identify
from station.hw.usb import open_control
from station.sim.bench import Bench, forget_twins
from station.sim.device import Twin
from station.sim.ftest_fw import CONSOLE_SETTINGS
from tests.hw.conftest import install

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ftest_twin(sim_bench: Bench) -> Twin:
    sim_bench.create(1, seed=20)  # a neighbour, so matching by serial number matters
    (twin,) = sim_bench.create(1, seed=21)
    install(sim_bench.get("twin01"))
    install(twin)
    return twin


def _listening(twin: Twin) -> None:
    with open_control(twin.device_id) as ctl:
        ctl.start_listening()


def test_ports_are_matched_by_usb_serial_number(ftest_twin: Twin, sim_bench: Bench) -> None:
    ports = {p.device_id: p for p in device_ports()}
    assert set(ports) == {t.device_id for t in sim_bench.twins()}
    assert ports[ftest_twin.device_id].pid == 0xC00D
    assert find_port(ftest_twin.device_id, timeout=2) == ports[ftest_twin.device_id].port


def test_identify_long_form_version_and_modules(ftest_twin: Twin) -> None:
    _listening(ftest_twin)
    with open_console(ftest_twin.device_id) as con:
        info = con.identify()
        assert info.device_id == ftest_twin.device_id
        assert info.serial_number == ftest_twin.identity.serial_number
        assert info.imei == ftest_twin.identity.imei and info.iccid == ftest_twin.identity.iccid
        assert con.system_version() == "6.2.0"
        mods = con.modules()
        assert {(m["f"], m["n"]) for m in mods} >= {("s", "1"), ("u", "2"), ("b", "0")}


def test_identify_short_form(ftest_twin: Twin) -> None:
    (ftest_twin.path / CONSOLE_SETTINGS).write_text(json.dumps({"id_form": "short"}))
    _listening(ftest_twin)
    with open_console(ftest_twin.device_id) as con:
        info = con.identify()
    assert info.device_id == ftest_twin.device_id and info.serial_number is None


def test_parse_identify_both_forms() -> None:
    did = "e00fce68" + "ab" * 8
    assert parse_identify([f"Your device id is {did}"]).device_id == did
    info = parse_identify([f"Device ID: {did}", "Serial Number: P00ABC", "IMEI: 1", "Cell Radio Version: x"])
    assert (info.device_id, info.serial_number, info.imei) == (did, "P00ABC", "1")
    assert info.extra == {"cell radio version": "x"}


def test_factory_test_protocol(ftest_twin: Twin) -> None:
    with open_console(ftest_twin.device_id) as con:
        hello = con.call("hello")
        assert hello.ok and hello.raw["device_id"] == ftest_twin.device_id
        assert hello.raw["app"] == "boron-factory-test"
        battery = con.call("battery")
        assert battery.ok and battery.unit == "V" and 3.6 <= battery.value <= 4.2
        assert con.call("battery").value == battery.value  # deterministic per device
        assert 4.8 <= con.call("vin").value <= 5.2
        assert con.call("button").value is False
        assert con.call("led", color="#00ff00").ok
        modem = con.call("modem")
        assert modem.value == "OK" and modem.raw["imei"] == ftest_twin.identity.imei
        assert con.call("iccid").value == ftest_twin.identity.iccid
        assert con.call("version").value == "6.2.0"
        bad = con.call("warp")
        assert not bad.ok and bad.error == "unknown_command"
    assert any(e["kind"] == "led" and e["color"] == "#00ff00" for e in ftest_twin.events.read())


def test_measurement_override_shows_up(ftest_twin: Twin) -> None:
    ftest_twin.set_faults(measurement_overrides={"battery": 3.1})
    with open_console(ftest_twin.device_id) as con:
        assert con.call("battery").value == 3.1


def test_modem_silent_times_out_only_the_modem(ftest_twin: Twin) -> None:
    ftest_twin.set_faults(modem_silent=True)
    with open_console(ftest_twin.device_id) as con:
        with pytest.raises(DeviceTimeout, match="modem"):
            con.call("modem", timeout=0.5)
        assert con.call("battery").ok  # the late-reply-free link still works


def test_silent_and_garbled_serial(ftest_twin: Twin) -> None:
    ftest_twin.set_faults(serial_silent=True)
    with open_console(ftest_twin.device_id) as con, pytest.raises(DeviceTimeout):
        con.call("hello", timeout=0.5)
    ftest_twin.set_faults(serial_silent=False, serial_garbled=True)
    with open_console(ftest_twin.device_id) as con, pytest.raises(TransportError, match="garbled"):
        con.call("hello", timeout=2)


def test_port_vanishes_when_device_enters_dfu(ftest_twin: Twin, sim_bench: Bench) -> None:
    with open_console(ftest_twin.device_id) as con:
        assert con.call("hello").ok
        with open_control(ftest_twin.device_id) as ctl:
            ctl.enter_dfu()
        with pytest.raises(DeviceGone):
            # the host notices within a poll period or so; the generous deadline only bounds a
            # broken implementation on a loaded machine (this is not a timing assertion)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(DeviceTimeout):  # a device in DFU no longer answers
                    con.call("hello", timeout=0.1)
    with pytest.raises(DeviceTimeout):
        find_port(ftest_twin.device_id, timeout=0.5)


def test_station_process_with_sim_dir_serves_and_finds_twins(tmp_path: Path) -> None:
    """STATION_SIM_DIR alone makes a fresh process use the twins: USB listing and serial by device ID."""
    bench = Bench(tmp_path / "bench")
    (twin,) = bench.create(1, seed=30)
    install(twin)
    script = (
        "import json, sys\n"
        "from station.hw.usb import list_usb_devices\n"
        "from station.hw.serial import open_console\n"
        "ids = [i.device_id for i in list_usb_devices()]\n"
        "with open_console(ids[0], timeout=3) as con:\n"
        "    reply = con.call('hello')\n"
        "print(json.dumps({'ids': ids, 'hello': reply.raw}))\n"
    )
    env = {**os.environ, "STATION_SIM_DIR": str(bench.path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["ids"] == [twin.device_id]
    assert doc["hello"]["device_id"] == twin.device_id
    assert not (twin.path / "serial.json").exists()  # the process unpublished its port on exit
    forget_twins(bench.path)
