"""``station device show``: prefixes of an ID, serial stickers, and a label on the wrong board."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from station.cli import device_cmds
from station.cli.main import StationGroup
from station.labels.payload import label_payload
from station.store import open_registry
from station.store.records import CloudTargets, DeviceIdentity

A = "e00fce68a1b2c3d4e5f60718"
B = "e00fce68a1b2c3d4ffff0001"
C = "e00fce680000000000000002"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    reg = open_registry(url)
    pid = reg.ensure_product(name="widget", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="[product]")
    lot = reg.ensure_lot("LOT-1", product_id=pid)
    for did, serial in ((A, "PBOAAAAAAAAAAA1"), (B, "PBOBBBBBBBBBBB2"), (C, None)):
        att = reg.start_attempt(device_id=did, platform="boron", lot_id=lot, profile_id=prof, station="st",
                                slot="1", operator="ana", transport="swd", overrides=[])
        reg.register_passed(att, product_id=pid, lot_id=lot, cloud=CloudTargets(),
                            identity=DeviceIdentity(serial_number=serial))
    reg.close()
    yield url


def show(db: str, *args: str) -> tuple[int, str, str]:
    @click.group(cls=StationGroup)
    def cli() -> None:
        pass

    device_cmds.register(cli)
    r = CliRunner().invoke(cli, ["device", "show", "--db", db, *args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_a_label_on_the_wrong_board_is_flagged_and_exits_non_zero(db: str) -> None:
    code, out, err = show(db, label_payload(A, "PBOBBBBBBBBBBB2") + "\r\n")
    assert code == 1
    assert "LABEL MISMATCH" in err and "PBOBBBBBBBBBBB2" in err and "PBOAAAAAAAAAAA1" in err
    assert A in out  # the record is still shown: the operator sees whose ID the label carries
    code, out, err = show(db, label_payload(A, "PBOBBBBBBBBBBB2"), "--json")
    assert code == 1 and "LABEL MISMATCH" in err
    doc = json.loads(out)
    assert doc["device_id"] == A and doc["label_mismatch"] is True and doc["label_serial"] == "PBOBBBBBBBBBBB2"


def test_a_matching_label_shows_the_device(db: str) -> None:
    code, out, err = show(db, label_payload(A, "pboaaaaaaaaaaa1"), "--json")
    assert code == 0, err
    assert json.loads(out)["label_mismatch"] is False


def test_a_label_serial_the_registry_cannot_check_is_a_warning(db: str) -> None:
    code, _out, err = show(db, label_payload(C, "PBOCCCCCCCCCCC3"))
    assert code == 0 and "no serial number" in err


@pytest.mark.parametrize("typed", [A[:17], A[:17].upper(), A[:17] + "…", A[:17] + "...", A[:23]])
def test_a_unique_prefix_finds_the_device(db: str, typed: str) -> None:
    code, out, err = show(db, typed, "--json")
    assert code == 0, err
    assert json.loads(out)["device_id"] == A


def test_an_ambiguous_prefix_lists_the_candidates(db: str) -> None:
    code, _out, err = show(db, "e00fce68…")
    assert code == 2
    assert A in err and B in err and C in err and "Traceback" not in err
    code, _out, err = show(db, "e00fce68a1b2")
    assert code == 2 and A in err and B in err and C not in err


@pytest.mark.parametrize(("typed", "why"), [("e00fce6", "at least 8"), ("e00fce69", "starting e00fce69"),
                                             (A[:23] + "z", "not a station label")])
def test_a_prefix_that_finds_nothing_says_so(db: str, typed: str, why: str) -> None:
    code, _out, err = show(db, typed)
    assert code == 2 and why in err and "Traceback" not in err


def test_a_particle_serial_sticker_finds_the_device(db: str) -> None:
    code, out, err = show(db, "PBOBBBBBBBBBBB2 SECRETSECRET1", "--json")
    assert code == 0, err
    assert json.loads(out)["device_id"] == B and "SECRETSECRET1" not in out + err
