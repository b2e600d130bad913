"""Registry places the CLI is pointed at: none there (issue 10 item 15), read-only (item 16)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from station.store import open_registry


def station(*args: str, env: dict[str, str] | None = None, user: list[str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "STATION_DB"} | (env or {})
    return subprocess.run([*(user or []), sys.executable, "-m", "station", *args], env=full, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("command", [["cloud", "status"], ["lot", "list"], ["cloud", "list"],
                                     ["device", "show", "e00fce68aabbccddeeff0011"], ["lot", "report", "X"]])
def test_a_mistyped_db_path_is_not_created_and_says_there_is_no_registry(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "regsitry" / "station.db"
    res = station(*command, "--db", f"sqlite:///{typo}")
    assert res.returncode == 2, res.stderr
    assert f"there is no station registry at {typo}" in res.stderr and "Traceback" not in res.stderr
    assert "outbox is empty" not in res.stdout and not typo.exists() and not typo.parent.exists()


def test_a_database_without_station_tables_is_left_alone(pg_url: str) -> None:
    res = station("cloud", "status", "--db", pg_url)
    assert res.returncode == 2 and "there is no station registry in" in res.stderr, res.stderr
    engine = create_engine(pg_url)
    assert inspect(engine).get_table_names() == []  # no tables, no alembic_version
    engine.dispose()


def _registry_with_a_parked_entry(db: Path) -> None:
    reg = open_registry(f"sqlite:///{db}")
    pid = reg.ensure_product(name="w", platform="boron", particle_product="w-1", peridio_product_prn=None)
    reg.close()
    assert pid


def test_an_immutable_registry_file_exits_2_and_changes_nothing(tmp_path: Path) -> None:
    if not shutil.which("chattr"):
        pytest.skip("chattr is not installed")
    db = tmp_path / "reg.db"
    _registry_with_a_parked_entry(db)
    before = db.read_bytes()
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem or user cannot set the immutable attribute")
    try:
        res = station("cloud", "retry", "--all-failed", "--db", f"sqlite:///{db}")
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "read-only" in res.stderr and "nothing was changed" in res.stderr and "Traceback" not in res.stderr
    assert db.read_bytes() == before


def test_a_registry_this_user_cannot_write_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "ro" / "reg.db"
    db.parent.mkdir()
    _registry_with_a_parked_entry(db)
    user: list[str] = []
    opened: list[tuple[Path, int]] = []
    if os.geteuid() == 0:  # root writes through file modes: run the command as nobody
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv cannot drop to an unprivileged user")
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        for p in tmp_path.parents:  # pytest's folders are 0700: let nobody traverse to the file
            if p.stat().st_mode & 0o011 != 0o011 and str(p).startswith(str(tmp_path.parents[2])):
                opened.append((p, p.stat().st_mode))
                p.chmod(p.stat().st_mode | 0o011)
        for p in (tmp_path, db.parent):
            p.chmod(0o755)
        db.chmod(0o644)
        # nobody must be able to run this interpreter and import station's dependencies (a Python under a
        # 0700 home, or packages in root's user site, are out of its reach): otherwise nothing here is tested.
        probe = subprocess.run([*user, sys.executable, "-c", "import station.cli.main"], capture_output=True,
                               text=True, env=dict(os.environ, HOME=str(tmp_path)), cwd=tmp_path, timeout=60)
        if probe.returncode != 0:
            for p, mode in opened:
                p.chmod(mode)
            pytest.skip(f"the unprivileged user cannot run this Python with station's packages: {probe.stderr[-200:]}")
    else:
        db.chmod(0o444)
        db.parent.chmod(0o555)
    try:
        res = station("cloud", "retry", "--all-failed", "--db", f"sqlite:///{db}", user=user,
                      env={"HOME": str(tmp_path), "TMPDIR": str(tmp_path)})
    finally:
        db.parent.chmod(0o755)
        for p, mode in opened:
            p.chmod(mode)
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr and ("read-only" in res.stderr or "cannot open" in res.stderr), res.stderr
