"""The device secret never leaves the device through the station: not in an output, a log or the database.

Device OS prints it in listening mode (``i``: ``Device Secret: …``), and the station reads that
answer for the serial number and SIM IDs of a device that arrives in listening mode. These tests
grep everything the station produced for the twin's secret.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from station.hw.serial import open_console
from station.hw.usb import open_control
from station.sim.bench import Bench
from station.sim.device import Twin
from tests.hw.conftest import install

from .conftest import Line, drop_tests, never_connected, profile_variant

pytestmark = pytest.mark.timeout(180)


def _every_row(url: str) -> list[str]:
    engine = create_engine(url)
    out = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.append(f"{table}: {tuple(row)!r}")
    engine.dispose()
    return out


def _every_file(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*") if p.is_file() and p.suffix != ".db"]


@pytest.fixture
def listening_twin(bench: Bench) -> Twin:
    twin = bench.create(1, seed=61)[0]
    install(twin)
    with open_control(twin.device_id) as ctl:
        ctl.start_listening()
    assert twin.state.run_state == "listening"
    return twin


def test_the_console_shows_the_secret_and_the_station_drops_it(listening_twin: Twin) -> None:
    secret = listening_twin.device_secret()
    assert len(secret) == 15
    with open_console(listening_twin.device_id) as con:
        raw = con._lines_for(b"i", 3.0, lambda lines: False)
        info = con.identify()
    assert f"Device Secret: {secret}" in raw  # Device OS 5.x really prints it (the twin is faithful)
    assert secret not in repr(info)
    assert info.serial_number == listening_twin.serial_number() and info.imei == listening_twin.identity.imei


def test_secret_is_in_no_output_log_or_row_of_a_usb_run(
    line: Line, bench: Bench, listening_twin: Twin, tmp_path: Path, sqlite_url: str,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    secret = listening_twin.device_secret()
    profile = profile_variant(
        tmp_path,
        lambda t: drop_tests(t, "approtect-open").replace('transport = "swd"', 'transport = "usb"')
        .replace('action = "halt"', 'action = "dfu"'),
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        result = line.usb([listening_twin], profile)[0]
    assert result.outcome == "passed", (result.failing_step, result.reason)
    assert result.serial_number == listening_twin.serial_number()
    never_connected(listening_twin)

    captured = capsys.readouterr()
    haystacks = {
        "stdout/stderr": captured.out + captured.err,
        "log records": "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records),
        "events": "\n".join(repr(e) for e in line.events),
        "result": repr(result),
        "database": "\n".join(_every_row(sqlite_url)),
    }
    for where, text_ in haystacks.items():
        assert secret not in text_, f"the device secret leaked into {where}"
    assert all(secret.encode() not in blob for blob in _every_file(tmp_path / "labels"))
    # the dump really holds the run, and what the station did read from the console
    assert listening_twin.device_id in haystacks["database"] and '"listening"' in haystacks["database"]
    assert listening_twin.serial_number() in haystacks["database"]
