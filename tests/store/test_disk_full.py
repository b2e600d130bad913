"""Issue 10 item 9 on SQLite: a full disk is "the registry is unavailable: its disk is full",
never a half-written record, and the attempt it could not close is closed once there is room."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from station.errors import RegistryUnavailable
from station.store import open_registry
from station.store.models import Attempt, OutboxRow
from station.store.records import CloudTargets


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_is_an_outage_in_its_own_words_and_heals(tiny_disk: Path) -> None:
    reg = open_registry(f"sqlite:///{tiny_disk / 'reg.db'}")
    pid = reg.ensure_product(name="w", platform="boron", particle_product="w-1", peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="x")
    lot = reg.ensure_lot("L1", product_id=pid)
    a = reg.start_attempt(device_id="e00fce68aabbccddeeff0011", platform="boron", lot_id=lot, profile_id=prof,
                          station="st", slot="1", operator="o", transport="swd", overrides=[])
    filler = fill(tiny_disk)
    # the registration carries the attempt's journaled steps: more than the disk has left
    reg.record_step(a, name="flash", started_at=datetime(2026, 1, 1), duration_s=0.1, outcome="passed",
                    details={"blob": "x" * 600_000})
    with pytest.raises(RegistryUnavailable, match="its disk is full"):
        reg.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets(particle_product="w-1"))
    assert reg.outage is not None
    with pytest.raises(RegistryUnavailable):
        reg.finish_attempt(a, outcome="failed", failing_step=None, reason="registry unavailable: disk full")
    filler.unlink()
    reg.lots()  # the registry answers again: the owed close is written
    with reg.reading() as s:
        att = s.get(Attempt, a)
        assert att is not None and (att.outcome, att.reason) == ("failed", "registry unavailable: disk full")
        assert s.query(OutboxRow).count() == 0  # the registration that did not fit left nothing
    reg.close()
