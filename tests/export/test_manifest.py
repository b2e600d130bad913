"""Lot manifests: content per format, passed-only vs --all, checksum file, atomicity.

Export speed at 100k devices is measured by ``bench/registry.py`` (a timing is never a test).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from bulk_lots import bulk_lot

from station.errors import ConfigError
from station.export.manifest import CSV_COLUMNS, PERIDIO_COLUMNS, export_lot
from station.store import Registry
from station.store.records import CloudTargets, DeviceIdentity


def test_txt_has_passed_devices_only(registry: Registry, small_lot: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "l1.txt"
    result = export_lot(registry, "L1", "txt", out)
    passed = sorted(d for d, r in small_lot.items() if r == "passed")
    assert out.read_text().splitlines() == passed and result.devices == 3


def test_all_includes_failed_devices(registry: Registry, small_lot: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    export_lot(registry, "L1", "csv", out, include_all=True)
    rows = list(csv.DictReader(out.open()))
    assert {r["device_id"]: r["test_result"] for r in rows} == small_lot


def test_csv_columns_and_values(registry: Registry, small_lot: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "l1.csv"
    export_lot(registry, "L1", "csv", out)
    reader = csv.DictReader(out.open())
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    row = next(reader)
    assert row["device_id"] == "e00fce680000000000000000" and row["serial_number"] == "SN0"
    assert row["product"] == "widget" and row["platform"] == "boron" and row["test_result"] == "passed"
    assert row["provisioned_at"].endswith("Z") and row["station"] == "st1" and row["operator"] == "ana"
    assert row["iccid"] == "89" + "0" * 18 and row["device_os_version"] == "5.3.2"


def test_json_has_steps_and_measurements(registry: Registry, small_lot: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "l1.json"
    export_lot(registry, "L1", "json", out)
    data = json.loads(out.read_text())
    assert data["lot"] == "L1" and len(data["devices"]) == 3
    reworked = next(d for d in data["devices"] if d["device_id"].endswith("1"))
    assert [s["name"] for s in reworked["steps"]] == ["flash"]  # the passing attempt's steps, not the failed one
    assert reworked["measurements"][0]["value"] == 3.7 and reworked["measurements"][0]["unit"] == "V"


def test_peridio_csv_uses_console_columns(registry: Registry, small_lot: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "peridio.csv"
    export_lot(registry, "L1", "peridio-csv", out)
    reader = csv.DictReader(out.open())
    assert tuple(reader.fieldnames or ()) == PERIDIO_COLUMNS
    row = next(reader)
    assert row["identifier"] == "e00fce680000000000000000"
    assert row["product_prn"] == "prn:1:org:product:widget" and row["cohort_prn"] == "prn:1:org:cohort:eu"
    assert row["tags"] == "factory,eu" and "L1" in row["description"]


def test_checksum_file_verifies_with_sha256sum(registry: Registry, small_lot: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "l1.csv"
    result = export_lot(registry, "L1", "csv", out)
    assert result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert (tmp_path / "l1.csv.sha256").read_text() == f"{result.sha256}  l1.csv\n"
    check = subprocess.run(["sha256sum", "-c", "l1.csv.sha256"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_failed_export_leaves_previous_file_intact(registry: Registry, small_lot: dict[str, str],
                                                   tmp_path: Path) -> None:
    out = tmp_path / "peridio.csv"
    out.write_text("previous export\n")
    registry.ensure_product(name="nocloud", platform="boron", particle_product=None, peridio_product_prn=None)
    pid = registry.ensure_product(name="nocloud", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = registry.ensure_profile(product_id=pid, path="n.toml", sha256="9a" * 32, content="x")
    lot = registry.ensure_lot("N1", product_id=pid)
    a = registry.start_attempt(device_id="e00fce68ffffffffffffffff", platform="boron", lot_id=lot, profile_id=prof,
                               station="st1", slot="1", operator="op", transport="swd", overrides=[])
    from station.store.records import CloudTargets
    registry.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets())
    with pytest.raises(ConfigError, match="no Peridio product PRN"):
        export_lot(registry, "N1", "peridio-csv", out)
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peridio.csv", "station.db", "station.db-shm",
                                                          "station.db-wal"]


def test_unknown_lot_is_input_error(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown lot"):
        export_lot(registry, "nope", "txt", tmp_path / "x.txt")


def test_reprovisioned_device_is_shipped_only_in_its_new_lot(registry: Registry, small_lot: dict[str, str],
                                                             tmp_path: Path) -> None:
    """A passed device re-provisioned into L2 leaves L1's passed manifest and count; --all keeps its
    L1 history as 'reprovisioned' without claiming L2's firmware versions."""
    moved = "e00fce680000000000000000"
    pid = registry.lot_by_name("L1").product_id
    lot2 = registry.ensure_lot("L2", product_id=pid)
    prof = registry.ensure_profile(product_id=pid, path="w.toml", sha256="56" * 32, content="x")
    a = registry.start_attempt(device_id=moved, platform="boron", lot_id=lot2, profile_id=prof, station="st2",
                               slot="1", operator="bo", transport="swd", overrides=[])
    registry.register_passed(a, product_id=pid, lot_id=lot2, cloud=CloudTargets(),
                             identity=DeviceIdentity(device_os_version="6.1.0", product_firmware_version="9"))

    export_lot(registry, "L1", "txt", tmp_path / "l1.txt")
    assert moved not in (tmp_path / "l1.txt").read_text().splitlines()
    export_lot(registry, "L2", "csv", tmp_path / "l2.csv")
    (row,) = csv.DictReader((tmp_path / "l2.csv").open())
    assert (row["device_id"], row["test_result"], row["device_os_version"]) == (moved, "passed", "6.1.0")

    export_lot(registry, "L1", "csv", tmp_path / "l1-all.csv", include_all=True)
    old = next(r for r in csv.DictReader((tmp_path / "l1-all.csv").open()) if r["device_id"] == moved)
    assert old["test_result"] == "reprovisioned" and old["device_os_version"] == ""
    assert old["product_firmware_version"] == "" and old["station"] == "st1"

    counts = {s.name: (s.devices, s.passed, s.failed, s.reprovisioned) for s in registry.lots()}
    assert counts == {"L1": (4, 2, 1, 1), "L2": (1, 1, 0, 0)}


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_manifest_and_checksum_modes_follow_the_umask(registry: Registry, small_lot: dict[str, str],
                                                      tmp_path: Path, umask: int) -> None:
    """A manifest is handed to other people: it must not come out 0600 like a temporary file."""
    previous = os.umask(umask)
    try:
        result = export_lot(registry, "L1", "csv", tmp_path / "l1.csv")
    finally:
        os.umask(previous)
    for p in (result.path, result.checksum_path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def test_a_lot_larger_than_one_stream_chunk_exports_every_device_once(registry: Registry, tmp_path: Path) -> None:
    """The manifest is streamed in chunks: a lot spanning several chunks loses and repeats nothing."""
    from station.store.queries import STREAM_CHUNK

    n = STREAM_CHUNK * 2 + 7
    bulk_lot(registry, n)
    out = tmp_path / "big.txt"
    assert export_lot(registry, "BIG", "txt", out).devices == n
    ids = out.read_text().splitlines()
    assert len(ids) == n and len(set(ids)) == n
