"""Small output defects a new user notices (issue 15 item 13)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from station.cli.main import cli
from station.cli.progress import SlotProgress, results_table
from station.errors import AlreadyDone, StepFailed
from station.pipeline.attempt import AttemptRecorder
from station.pipeline.events import Event
from station.pipeline.job import SlotResult
from station.sim.bench import Bench, forget_twins
from station.store import open_registry
from station.store.records import CloudTargets

A, B = "e00fce68a1b2c3d4e5f60718", "e00fce68a1b2c3d4e5f60719"


class _Registry:
    def check_available(self) -> None:
        pass


def test_an_already_provisioned_devices_registry_check_is_skipped_not_failed() -> None:
    log = AttemptRecorder(_Registry(), slot="1", station="st", operator="ana", transport="swd",  # type: ignore[arg-type]
                     sink=lambda _e: None, cancel=threading.Event())
    with pytest.raises(StepFailed), log.step("registry-check"):
        raise AlreadyDone(f"device {A} is already provisioned", device_id=A)
    assert [(s.name, str(s.outcome)) for s in log.steps] == [("registry-check", "skipped")]


def test_usb_results_are_numbered_not_all_called_usb() -> None:
    results = [SlotResult(slot=d, transport="usb", device_id=d, outcome="passed") for d in (A, B)]
    console = Console(record=True, width=200)
    console.print(results_table(results))
    text = console.export_text()
    assert "usb 1" in text and "usb 2" in text


def test_a_usb_progress_row_shows_the_device_id_once() -> None:
    progress = SlotProgress(enabled=False)
    progress(Event(kind="step_started", slot=A, device_id=A, step="identify"))
    (task,) = progress._progress.tasks
    assert task.fields["slot"] == "usb" and task.fields["device"] == A


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'station.db'}"
    reg = open_registry(url)
    pid = reg.ensure_product(name="w", platform="boron", particle_product="w-1", peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="ab" * 32, content="[product]")
    lot = reg.ensure_lot("L1", product_id=pid)
    att = reg.start_attempt(device_id=A, platform="boron", lot_id=lot, profile_id=prof, station="st", slot="1",
                            operator="ana", transport="swd", overrides=[])
    reg.register_passed(att, product_id=pid, lot_id=lot, cloud=CloudTargets(particle_product="w-1"))
    reg.close()
    return url


def test_retrying_an_entry_that_is_not_failed_is_an_error(db: str) -> None:
    # `cloud retry --id` takes failed and waiting entries (issue 10 item 8), so the hint names the list of all.
    res = CliRunner().invoke(cli, ["cloud", "retry", "--db", db, "--id", "999"])
    assert res.exit_code == 2 and "999" in res.stderr and "station cloud list" in res.stderr
    assert "0 entries" not in res.output


def test_cloud_list_has_a_header_and_says_when_a_filter_finds_nothing(db: str) -> None:
    res = CliRunner().invoke(cli, ["cloud", "list", "--db", db])
    assert res.exit_code == 0
    header, row = res.stdout.splitlines()
    assert header.split()[:3] == ["id", "target", "device"] and A in row
    res = CliRunner().invoke(cli, ["cloud", "list", "--db", db, "--state", "failed"])
    assert res.exit_code == 0 and res.stdout.strip() == "no failed entries"


def test_cache_list_of_a_missing_cache_says_it_does_not_exist(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["cache", "list", "--cache", str(tmp_path / "nope")])
    assert res.exit_code == 0
    assert "does not exist" in res.stderr and "empty" not in res.stdout + res.stderr


def test_sim_list_columns_stay_aligned_with_long_names(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "bench")
    bench.create(1, prefix="a-very-long-twin-name-")
    bench.create(1, prefix="t")
    try:
        res = CliRunner().invoke(cli, ["sim", "list", "--dir", str(bench.path)])
        assert res.exit_code == 0, res.output
        lines = res.stdout.splitlines()
        ids = [t.device_id for t in bench.twins()]
        starts = {line.index(d) for line in lines for d in ids if d in line}
        assert len(starts) == 1 and lines[0].index("DEVICE ID") in starts
    finally:
        forget_twins(bench.path)
