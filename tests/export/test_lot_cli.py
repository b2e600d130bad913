"""``station lot`` list / export / report through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from station.cli import lot_cmds
from station.cli.main import StationGroup
from station.store import Registry


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
