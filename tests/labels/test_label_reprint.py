"""``station label`` reprints from the registry's record, refuses unknown IDs and wrong suffixes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from click.testing import CliRunner, Result
from PIL import Image

from station.cli.main import cli
from station.store import open_registry
from station.store.records import CloudTargets, DeviceIdentity

PROFILE = str(Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles" / "demo-boron.toml")
DID = "e00fce68a1b2c3d4e5f60718"
UNKNOWN = "e00fce68ffffffffffffffff"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    reg = open_registry(url)
    pid = reg.ensure_product(name="Demo Boron", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="p.toml", sha256="ab" * 32, content="[product]")
    lot = reg.ensure_lot("LOT-0042", product_id=pid)
    att = reg.start_attempt(device_id=DID, platform="boron", lot_id=lot, profile_id=prof, station="st",
                            slot="1", operator="ana", transport="swd", overrides=[])
    reg.register_passed(att, product_id=pid, lot_id=lot, cloud=CloudTargets(),
                        identity=DeviceIdentity(serial_number="PBO0000000000A1"))
    reg.close()
    yield url


def label(*args: str) -> Result:
    return CliRunner().invoke(cli, ["label", *args, "--profile", PROFILE], catch_exceptions=False)


def test_a_reprint_carries_the_registrys_serial_and_is_recorded(db: str, tmp_path: Path) -> None:
    out = tmp_path / "l.png"
    res = label(DID, "--db", db, "-o", str(out), "--operator", "bob")
    assert res.exit_code == 0, res.stderr
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(out))] == [f"{DID};PBO0000000000A1"]
    reg = open_registry(db, create=False)
    rec = reg.device_record(DID)
    assert rec is not None and str(out.resolve()) in rec.labels
    (entry,) = reg.audit_page(action="label-reprint").rows
    assert entry.operator == "bob" and entry.device_id == DID
    reg.close()


def test_a_reprint_zpl_names_the_serial_and_the_lot(db: str) -> None:
    res = label(DID, "--db", db, "--format", "zpl", "-o", "-")
    assert res.exit_code == 0, res.stderr
    assert f"^FDMA,{DID};PBO0000000000A1^FS" in res.stdout and "SN -" not in res.stdout


def test_an_unknown_device_is_refused(db: str, tmp_path: Path) -> None:
    res = label(UNKNOWN, "--db", db, "-o", str(tmp_path / "u.png"))
    assert res.exit_code == 2 and "not in the registry" in res.stderr
    assert not (tmp_path / "u.png").exists()


def test_a_serial_other_than_the_registrys_is_refused(db: str, tmp_path: Path) -> None:
    res = label(DID, "--db", db, "--serial", "PBOOTHER", "-o", str(tmp_path / "l.png"))
    assert res.exit_code == 2 and "PBO0000000000A1" in res.stderr


@pytest.mark.parametrize(("name", "fmt"), [("l.txt", None), ("l.png", "zpl"), ("l.pdf", "png")])
def test_a_suffix_naming_another_format_is_refused(db: str, tmp_path: Path, name: str, fmt: str | None) -> None:
    res = label(DID, "--db", db, "-o", str(tmp_path / name), *(["--format", fmt] if fmt else []))
    assert res.exit_code == 2 and "format" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / name).exists()


def test_label_files_follow_the_umask_like_manifests(db: str, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        res = label(DID, "--db", db, "-o", str(tmp_path / "l.zpl"))
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.stderr
    assert stat.S_IMODE((tmp_path / "l.zpl").stat().st_mode) == 0o644


def test_a_unique_prefix_names_the_device_to_reprint(db: str) -> None:
    res = label(DID[:16] + "…", "--db", db, "--format", "zpl", "-o", "-")
    assert res.exit_code == 0, res.stderr
    assert f"^FDMA,{DID};PBO0000000000A1^FS" in res.stdout
