"""Issue 10, item 11: a device registered but never labelled (the station stopped in between) is
shown as such by ``device show`` and the lot report, and the re-run prints its label."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import delete

from station.cli.main import cli
from station.domain import Transport
from station.pipeline.line import SlotSpec, prepare_job, run_slots
from station.sim.bench import Bench
from station.store.models import Label

from .conftest import DEMO_BORON, Line


def _lose_the_labels(line: Line) -> None:
    """What a kill between the registration and the label step leaves: no label row."""
    with line.registry.session() as s:
        s.execute(delete(Label))


def test_registered_without_a_label_is_shown_and_the_rerun_prints_it(line: Line, bench: Bench,
                                                                     sqlite_url: str) -> None:
    (twin,) = bench.create(1, seed=91)
    (first,) = line.swd([twin], lot="LOT-U")
    assert first.outcome == "passed" and first.labels
    did = twin.device_id
    assert line.registry.unlabelled_devices("LOT-U") == []
    _lose_the_labels(line)

    rec = line.registry.device_record(did)
    assert rec is not None and rec.label_missing
    assert line.registry.unlabelled_devices("LOT-U") == [did]
    runner = CliRunner()
    shown = runner.invoke(cli, ["device", "show", did, "--db", sqlite_url, "--json"])
    assert json.loads(shown.stdout)["label_missing"] is True
    text = runner.invoke(cli, ["device", "show", did, "--db", sqlite_url]).stdout
    assert "registered without a label" in text
    report = runner.invoke(cli, ["lot", "report", "LOT-U", "--db", sqlite_url, "--json"])
    assert json.loads(report.stdout)["unlabelled"] == [did]
    assert did in runner.invoke(cli, ["lot", "report", "LOT-U", "--db", sqlite_url]).stdout

    # a re-run without a labels folder skips it, and says it has no label
    job = prepare_job(profile_path=DEMO_BORON, cache=line.cache, registry=line.registry, station="test-station",
                      operator="tester", lot="LOT-U", ask_operator=lambda step, q, t: True)
    (bare,) = run_slots(job, [SlotSpec("1", Transport.SWD, twin.identity.probe_uid)])
    assert bare.outcome == "skipped" and "NO LABEL" in (bare.reason or "")

    # a re-run with labels skips the device (it is provisioned) and prints the missing label
    (again,) = line.swd([twin], lot="LOT-U")
    assert again.outcome == "skipped", (again.failing_step, again.reason)
    assert "missing label was printed" in (again.reason or "")
    files = list((line.tmp / "labels" / "LOT-U").glob(f"{did}.*"))
    assert files and all(f.stat().st_size > 0 for f in files)
    assert line.registry.unlabelled_devices("LOT-U") == []
    assert not line.registry.device_record(did).label_missing  # type: ignore[union-attr]
    assert Path(files[0]).parent.name == "LOT-U"
