"""The twin's listening-mode console, key by key, against what device-os system/src/system_setup.cpp prints."""

from __future__ import annotations

import json

import pytest

from station.firmware.demo import DEVICE_OS_VERSION, build_demo_modules
from station.firmware.module import parse_module
from station.sim.bench import Bench
from station.sim.boot import boot_device
from station.sim.device import Twin
from station.sim.listening import start_listening
from station.sim.listening_console import CELL_RADIO_VERSIONS, ListeningConsole
from tests.sim.conftest import DemoFirmware


@pytest.fixture
def listening(twin: Twin, demo: DemoFirmware) -> Twin:
    demo.install(twin, "user-factory-test")
    boot_device(twin, cause="power-on")
    start_listening(twin, cause="test")
    return twin


def _say(console: ListeningConsole, keys: bytes) -> bytes:
    return b"".join(console.feed(b) for b in keys)


def test_i_long_form_carries_every_system_property_in_device_os_order(listening: Twin) -> None:
    out = _say(ListeningConsole(listening), b"i").decode()
    assert out.endswith("\r\n")
    assert out.split("\r\n")[:-1] == [
        f"Device ID: {listening.device_id}",
        f"Device Secret: {listening.device_secret()}",
        f"Serial Number: {listening.serial_number()}",
        f"IMEI: {listening.identity.imei}",
        f"ICCID: {listening.identity.iccid}",
        f"Cell Radio Version: {CELL_RADIO_VERSIONS['boron']}",
    ]


def test_i_on_an_argon_has_no_cellular_lines(bench: Bench, demo: DemoFirmware) -> None:
    argon = bench.create_one("argon", "argon", seed=4)
    demo.install(argon, "user-factory-test")
    boot_device(argon, cause="power-on")
    start_listening(argon, cause="test")
    lines = _say(ListeningConsole(argon), b"i").decode().split("\r\n")
    assert [line.split(":")[0] for line in lines if line] == ["Device ID", "Device Secret", "Serial Number"]


def test_v_has_device_os_double_line_ending(listening: Twin) -> None:
    assert _say(ListeningConsole(listening), b"v") == f"system firmware version: {DEVICE_OS_VERSION}\n\r\n".encode()


def test_s_reports_slot_sizes_validity_and_the_user_part_hash(listening: Twin) -> None:
    raw = _say(ListeningConsole(listening), b"s")
    assert raw.endswith(b"}\r\n")
    doc = json.loads(raw)
    assert doc["p"] == 13 and doc["imei"] == listening.identity.imei and doc["iccid"] == listening.identity.iccid
    assert "ms" not in doc and "sn" not in doc  # the cloud form leaves the secret and the serial out
    mods = {m["f"]: m for m in doc["m"]}
    assert mods["b"]["s"] == 0xC000 and mods["u"]["s"] == 0x40000  # slot maxima, not module sizes
    user = parse_module(build_demo_modules("boron")["user-factory-test"])
    assert mods["u"]["u"] == user.sha256.upper() and "u" not in mods["s"]
    assert all((m["vc"], m["vv"]) == (30, 30) for m in doc["m"])
    assert list(mods["u"]) == ["s", "l", "vc", "vv", "u", "f", "n", "v", "d"]  # module_info_to_json's order


def test_x_leaves_listening_mode_and_c_f_answer_as_device_os(listening: Twin) -> None:
    console = ListeningConsole(listening)
    assert _say(console, b"c") == b"Device claimed: no\r\n"
    assert _say(console, b"f") == (  # Device OS 6.x: YModem flashing was removed
        b"Waiting for the binary file to be sent ... (press 'a' to abort)\r\n\x18\x18\x18\x18"
        b"Serial/YModem flashing is no longer supported\r\n"
    )
    assert _say(console, b"x") == b""
    assert (listening.state.run_state, listening.state.running_app) == ("running", "factory-test")
    assert "first_connect" not in listening.events.kinds()  # MANUAL firmware: leaving does not connect


def test_leaving_listening_mode_with_product_firmware_connects(twin: Twin, demo: DemoFirmware) -> None:
    demo.install(twin, "user-product")
    boot_device(twin, cause="power-on")
    start_listening(twin, cause="test")
    _say(ListeningConsole(twin), b"x")
    assert twin.events.read()[-1]["kind"] == "first_connect"


def test_claim_code_is_read_as_a_line(listening: Twin) -> None:
    console = ListeningConsole(listening)
    assert _say(console, b"C") == b"Enter 63-digit claim code: "
    code = b"a" * 63
    out = _say(console, code + b"\r")
    assert out.startswith(code) and out.endswith(b"Claim code set to: " + code + b"\r\n")
    assert _say(console, b"C" + b"short\r").endswith(b"Claim code unchanged.\r\n")
