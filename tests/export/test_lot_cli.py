"""``station lot`` list / export / report through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from station.cli import lot_cmds
from station.cli.main import StationGroup
from station.ftest.report import compute_lot_report
from station.store import Registry, open_registry
from station.store.records import CloudTargets


def run(args: list[str]) -> tuple[int, str]:
    @click.group(cls=StationGroup)
    def cli() -> None:
        pass

    lot_cmds.register(cli)
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result.exit_code, result.output


def db_url(registry: Registry) -> str:
    return str(registry.engine.url)


def test_list_json(registry: Registry, small_lot: dict[str, str]) -> None:
    code, out = run(["lot", "list", "--db", db_url(registry), "--json"])
    assert code == 0
    (lot,) = json.loads(out)
    assert (lot["name"], lot["product"], lot["devices"], lot["passed"], lot["failed"]) == ("L1", "widget", 4, 3, 1)
    assert lot["reprovisioned"] == 0 and lot["created"].endswith("Z")


def test_export_writes_file_and_checksum(registry: Registry, small_lot: dict[str, str], tmp_path: Path) -> None:
    out_file = tmp_path / "out" / "l1.txt"
    out_file.parent.mkdir()  # an export refuses a missing folder (issue 15 item 6)
    code, out = run(["lot", "export", "L1", "--db", db_url(registry), "--format", "txt", "-o", str(out_file),
                     "--json"])
    assert code == 0
    info = json.loads(out)
    assert info["devices"] == 3 and Path(info["checksum_path"]).exists()
    assert len(out_file.read_text().splitlines()) == 3


def test_unknown_lot_exits_2_with_one_line(registry: Registry, tmp_path: Path) -> None:
    code, out = run(["lot", "export", "NOPE", "--db", db_url(registry), "-o", str(tmp_path / "x.txt")])
    assert code == 2 and out.strip().count("\n") == 0 and "unknown lot 'NOPE'" in out


def test_report_json_and_text(registry: Registry, small_lot: dict[str, str]) -> None:
    code, out = run(["lot", "report", "L1", "--db", db_url(registry), "--json"])
    assert code == 0
    rep = json.loads(out)
    assert (rep["devices"], rep["first_pass"], rep["final_pass"]) == (4, 2, 3)
    assert rep["failures_by_step"] == [{"step": "test", "count": 2, "share": 1.0, "cumulative": 1.0}]
    (vbat,) = rep["measurements"]
    assert vbat["count"] == 5 and vbat["min"] == 2.9 and vbat["max"] == 3.7
    code, text = run(["lot", "report", "L1", "--db", db_url(registry)])
    assert "first-pass yield 50.0% (2/4)" in text and "final yield 75.0% (3/4)" in text


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_report_counts_station_errors_apart_as_the_lot_view_does(db: str, tmp_path: Path,
                                                                request: pytest.FixtureRequest) -> None:
    """Issue 12: a pulled probe or a registry outage is the station's fault: ``lot report`` says
    ``errors`` beside ``failed``, leaves them out of failures by step and of the first-pass yield's
    judged units, with the same figures as the GUI's lot view (``Registry.lot_overview``)."""
    url = f"sqlite:///{tmp_path / 'r.db'}" if db == "sqlite" else request.getfixturevalue("pg_url")
    reg = open_registry(url)
    pid = reg.ensure_product(name="widget", platform="boron", particle_product=None, peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="w.toml", sha256="aa" * 32, content="x")
    lot = reg.ensure_lot("E", product_id=pid)
    ends = [("passed", None, None), ("failed", "battery", None), ("failed", "battery", "device-gone"),
            ("failed", "flash", "probe-gone"), ("failed", "register", "registry-unavailable"),
            ("failed", "battery", None), ("failed", "connect", "internal")]
    for i, (outcome, step, fault) in enumerate(ends):
        a = reg.start_attempt(device_id=f"e00fce68{i:016x}", platform="boron", lot_id=lot, profile_id=prof,
                              station="st", slot="1", operator="ana", transport="swd", overrides=[])
        if outcome == "passed":
            reg.register_passed(a, product_id=pid, lot_id=lot, cloud=CloudTargets())
        else:
            reg.finish_attempt(a, outcome=outcome, failing_step=step, reason="r", fault=fault)
    view = reg.lot_overview("E")
    pure = compute_lot_report(reg.lot_attempts("E"), [])
    code, out = run(["lot", "report", "E", "--db", url, "--json"])
    assert code == 0
    rep = json.loads(out)
    assert (rep["devices"], rep["final_pass"], rep["failed"], rep["errors"]) == (7, 1, 3, 3)
    assert (view.devices, view.passed, view.failed, view.errors) == (7, 1, 3, 3)
    assert (pure.devices, pure.final_pass, pure.failed, pure.errors) == (7, 1, 3, 3)
    assert rep["first_pass_yield"] == view.first_pass_yield == pure.first_pass_yield == pytest.approx(1 / 4)
    assert rep["final_yield"] == view.final_yield == pytest.approx(1 / 7)
    assert [(r["step"], r["count"]) for r in rep["failures_by_step"]] == view.failures_by_step == \
        pure.failures_by_step == [("battery", 3)]
    assert {"first_pass", "attempts", "devices_per_hour", "measurements", "unlabelled"} <= set(rep)
    code, text = run(["lot", "report", "E", "--db", url])
    assert "passed 1, failed 3, station errors 3" in text and "first-pass yield 25.0% (1/4)" in text
    assert "flash" not in text.split("failures by step:")[1]
    # a unit whose first run lost its worker and whose retry passed passed at its first judgement
    retry = reg.ensure_lot("R", product_id=pid)
    for outcome, fault in (("failed", "station-stopped"), ("passed", None)):
        a = reg.start_attempt(device_id="e00fce68" + "f" * 16, platform="boron", lot_id=retry, profile_id=prof,
                              station="st", slot="1", operator="ana", transport="swd", overrides=[])
        if outcome == "passed":
            reg.register_passed(a, product_id=pid, lot_id=retry, cloud=CloudTargets())
        else:
            reg.finish_attempt(a, outcome=outcome, failing_step="flash", reason="abandoned", fault=fault)
    view = reg.lot_overview("R")
    pure = compute_lot_report(reg.lot_attempts("R"), [])
    code, out = run(["lot", "report", "R", "--db", url, "--json"])
    rep = json.loads(out)
    assert (rep["devices"], rep["first_pass"], rep["errors"]) == (view.devices, view.first_pass, view.errors) == \
        (pure.devices, pure.first_pass, pure.errors) == (1, 1, 0)
    assert rep["first_pass_yield"] == view.first_pass_yield == pure.first_pass_yield == 1.0
    code, text = run(["lot", "report", "R", "--db", url])
    assert "first-pass yield 100.0% (1/1)" in text
    reg.close()


def test_lot_commands_read_the_registry_without_a_session(registry: Registry, small_lot: dict[str, str],
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report or an export needs only the registry: a simulated bench folder that is not there
    (a stale STATION_SIM_DIR) does not stop it, and the command never loads the pipeline (its
    import was 0.3 s of every lot command's start-up)."""
    import subprocess
    import sys

    monkeypatch.setenv("STATION_SIM_DIR", str(tmp_path / "no-such-bench"))
    code, text = run(["lot", "report", "L1", "--db", db_url(registry)])
    assert code == 0 and "final yield 75.0% (3/4)" in text
    code, _ = run(["lot", "export", "L1", "--db", db_url(registry), "-o", str(tmp_path / "l1.csv")])
    assert code == 0 and len((tmp_path / "l1.csv").read_text().splitlines()) == 4
    probe = ("import sys\nfrom station.cli.main import main\nsys.argv = ['station', 'lot', 'report', 'L1', '--db', "
             f"{db_url(registry)!r}]\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith(('station.pipeline', 'station.firmware'))))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
