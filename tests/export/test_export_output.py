"""``station lot export -o``: standard output, the format a suffix names, and a missing folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from station.cli import lot_cmds
from station.cli.main import StationGroup
from station.store import Registry


def run(registry: Registry, *args: str) -> tuple[int, bytes, str]:
    @click.group(cls=StationGroup)
    def cli() -> None:
        pass

    lot_cmds.register(cli)
    r = CliRunner().invoke(cli, ["lot", "export", "L1", "--db", str(registry.engine.url), *args],
                           catch_exceptions=False)
    return r.exit_code, r.stdout_bytes, r.stderr


def test_dash_is_standard_output_with_the_checksum_on_stderr(registry: Registry, small_lot: dict[str, str],
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, out, err = run(registry, "-o", "-")
    assert code == 0, err
    assert len(out.decode().splitlines()) == 3
    assert hashlib.sha256(out).hexdigest() in err
    assert not list(work.iterdir()), "files named - or -.sha256 were created"
    code, out, err = run(registry, "-o", "-", "--format", "csv")
    assert code == 0 and out.decode().startswith("device_id,")


def test_dash_and_json_both_wanting_stdout_is_refused(registry: Registry, small_lot: dict[str, str]) -> None:
    code, _out, err = run(registry, "-o", "-", "--json")
    assert code == 2 and "standard output" in err


@pytest.mark.parametrize(("name", "first_line"), [("LOT.csv", "device_id,"), ("LOT.JSON", "{"), ("LOT.txt", "e00f")])
def test_the_suffix_names_the_format(registry: Registry, small_lot: dict[str, str], tmp_path: Path,
                                     name: str, first_line: str) -> None:
    code, out, err = run(registry, "-o", str(tmp_path / name), "--json")
    assert code == 0, err
    assert (tmp_path / name).read_text().startswith(first_line)
    assert json.loads(out)["format"] == {".csv": "csv", ".json": "json", ".txt": "txt"}[Path(name).suffix.lower()]


@pytest.mark.parametrize(("name", "fmt"), [("LOT.csv", "txt"), ("LOT.txt", "json"), ("LOT.json", "csv")])
def test_a_suffix_naming_another_format_is_refused(registry: Registry, small_lot: dict[str, str], tmp_path: Path,
                                                   name: str, fmt: str) -> None:
    code, _out, err = run(registry, "-o", str(tmp_path / name), "--format", fmt)
    assert code == 2 and "--format" in err and "Traceback" not in err
    assert not (tmp_path / name).exists()


def test_peridio_csv_goes_in_a_csv_file(registry: Registry, small_lot: dict[str, str], tmp_path: Path) -> None:
    code, _out, err = run(registry, "-o", str(tmp_path / "p.csv"), "--format", "peridio-csv")
    assert code == 0, err
    assert (tmp_path / "p.csv").read_text().startswith("identifier,")


def test_a_missing_folder_is_refused_not_created(registry: Registry, small_lot: dict[str, str],
                                                 tmp_path: Path) -> None:
    code, _out, err = run(registry, "-o", str(tmp_path / "nonexistent" / "x.txt"))
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "nonexistent").exists()
