"""``station lot export`` (every format, passed and ``--all``) and ``station lot report`` (text and
``--json``) write, byte for byte, what the files in ``golden/`` hold, on SQLite and PostgreSQL.

The golden files were written by the station before the lot commands were made fast at lot
scale (streaming, raw driver rows, a lighter command path), from the lot of
``test_lot_scale_equivalence`` (retries, failures with and without a step, a re-scan, a running
attempt, a device that left for another lot, a station clock that stepped back). A manifest a
customer already checked against its ``.sha256`` must not change because the code behind it
did: a float written another way, a key moved, a space lost would all fail here. Only the
json manifest's ``exported_at`` (the moment of the export) is masked. To re-record after an
intended change of output, run with ``STATION_RECORD_GOLDEN=1`` and say why in the commit.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import update
from test_lot_scale_equivalence import SteppingClock, build_lot

import station.store.attempts as attempts_mod
from station.cli import lot_cmds
from station.cli.main import StationGroup
from station.store import Registry, open_registry
from station.store.models import Product
from station.store.records import CloudTargets, DeviceIdentity, MeasurementRecord

GOLDEN = Path(__file__).parent / "golden"
RECORD = os.environ.get("STATION_RECORD_GOLDEN") == "1"
EXPORTED_AT = re.compile(rb'^(\{"lot": "L1", "exported_at": ")[0-9T:Z-]+(")')


def run(args: list[str]) -> str:
    @click.group(cls=StationGroup)
    def cli() -> None:
        pass

    lot_cmds.register(cli)
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(params=["sqlite", "postgresql"])
def lot_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    clock = SteppingClock()
    monkeypatch.setattr(attempts_mod, "utcnow", clock)
    reg: Registry = open_registry(url)
    try:
        build_lot(reg, clock)
        awkward_device(reg)
        with reg.session() as s:  # a Peridio manifest needs the product's PRN
            s.execute(update(Product).values(peridio_product_prn="prn:1:org:product:widget"))
        return str(reg.engine.url.render_as_string(hide_password=False))
    finally:
        reg.close()


def awkward_device(reg: Registry) -> None:
    """A passed device whose fields need escaping or an exponent: where two encoders differ first."""
    from datetime import UTC, datetime

    ref = reg.lot_ref("L1")
    lot, pid = ref.id, ref.product_id
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="56" * 32, content="x")  # build_lot's
    did = f"e00fce68{99:016x}"
    a = reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station='st "2", east',
                          slot="9", operator="zoë", transport="swd", overrides=[])
    reg.record_step(a, name="connect", started_at=datetime.now(UTC), duration_s=1e-05, outcome="passed",
                    reason='retried:\n"once"\tthen ok \u2013 \\ fine', details={"probe": "Ω\u0001", "big": 1e20,
                                                                               "neg": -0.0, "f": 1 / 3})
    for name, value in (("tiny", 1.5e-07), ("huge", 12345678901234567890.0), ("third", 2 / 3), ("negative", -2.5e-3)):
        reg.record_measurement(a, MeasurementRecord(step="odd", name=name, passed=True, value=value, unit="µA",
                                                    low=-1e300, high=1e300, expected='"a", b\n', regex=r"^\d+$"))
    reg.record_measurement(a, MeasurementRecord(step="odd", name="text", passed=True, text="ünï\u2028code \x7f"))
    reg.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets(particle_product="widget-1"),
                        identity=DeviceIdentity(serial_number='SN,"99"', device_os_version="6.2.0",
                                                product_firmware_version="7"))
    reg.end_attempt(a)


def check(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if RECORD:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs from what the station wrote before"


EXPORTS = [("txt", "txt"), ("csv", "csv"), ("json", "json"), ("peridio-csv", "csv")]


@pytest.mark.parametrize("include_all", [False, True], ids=["passed", "all"])
@pytest.mark.parametrize(("fmt", "suffix"), EXPORTS, ids=[f for f, _ in EXPORTS])
def test_every_manifest_is_what_the_station_wrote_before(lot_url: str, tmp_path: Path, fmt: str, suffix: str,
                                                         include_all: bool) -> None:
    out = tmp_path / f"L1.{suffix}"
    run(["lot", "export", "L1", "--db", lot_url, "--format", fmt, "-o", str(out), *(["--all"] if include_all else [])])
    data = out.read_bytes()
    if fmt == "json":
        data, n = EXPORTED_AT.subn(rb"\g<1>(exported_at)\g<2>", data)
        assert n == 1
    check(f"L1{'-all' if include_all else ''}.{fmt}", data)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_the_lot_report_is_what_the_station_wrote_before(lot_url: str, as_json: bool) -> None:
    out = run(["lot", "report", "L1", "--db", lot_url, *(["--json"] if as_json else [])])
    check(f"L1-report.{'json' if as_json else 'txt'}", out.encode())
