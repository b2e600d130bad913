"""Changing a setting through the application layer: the role decides, the value is checked with
the row's type, the station file keeps everything else, a file that would not open is never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from station import settings
from station.app import SessionSettings, StationSession, settings_edit
from station.errors import ConfigError


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for s in settings.SETTINGS:
        for var in s.env:
            monkeypatch.delenv(var, raising=False)
    config = tmp_path / "station.toml"
    config.write_text('# line 2\n[station]\nname = "st-1"  # the left bench\n\n[slots]\n"1" = "0240000034544e45"\n')
    s = StationSession(SessionSettings(db_url=f"sqlite:///{tmp_path / 'reg.db'}", config_path=config,
                                       create_registry=True))
    yield s
    s.registry.close()


def test_an_engineer_sets_the_swd_clock_and_the_file_keeps_its_comments(session: StationSession) -> None:
    saved = settings_edit.save(session, "swd_frequency", " 8000000 ", operator="eve", role="engineer")
    path = session.given.config_path
    assert path is not None and saved.file == path
    assert path.read_text() == ('# line 2\n[station]\nname = "st-1"  # the left bench\nswd_frequency = 8000000\n\n'
                                '[slots]\n"1" = "0240000034544e45"\n')
    [row] = session.registry.audit_page(action="setting-changed").rows
    assert row.operator == "eve" and row.details == {"setting": "swd_frequency", "from": "4000000",
                                                      "to": "8000000", "file": str(path)}
    by_name = {r.name: r for r in settings_edit.rows(session, "engineer")}
    assert by_name["swd_frequency"].shown == "8000000" and by_name["swd_frequency"].source == "station.toml"
    assert not by_name["station_name"].editable and "needs an admin" in by_name["station_name"].why_not


def test_refusals_and_bad_values_write_nothing(session: StationSession) -> None:
    path = session.given.config_path
    assert path is not None
    before = path.read_text()
    with pytest.raises(PermissionError, match="needs an admin"):
        settings_edit.save(session, "station_name", "x", operator="olga", role="operator")
    with pytest.raises(PermissionError, match="Nobody is logged in"):
        settings_edit.save(session, "swd_frequency", "1000000", operator=None, role=None)
    with pytest.raises(ConfigError, match="the station file does not hold it"):
        settings_edit.save(session, "cache", "/tmp/c", operator="ada", role="admin")
    with pytest.raises(ConfigError, match="credential"):
        settings_edit.save(session, "particle_token", "abc", operator="ada", role="admin")
    with pytest.raises(ConfigError, match="not a database URL"):
        settings_edit.save(session, "db", "line-db", operator="ada", role="admin")
    with pytest.raises(ConfigError, match="SQLite or PostgreSQL"):
        settings_edit.save(session, "db", "mysql://u@h/db", operator="ada", role="admin")
    with pytest.raises(ConfigError, match="not a database URL"):  # SQLAlchemy's ValueError, not a traceback
        settings_edit.save(session, "db", "postgresql+psycopg://u@h:xx/db", operator="ada", role="admin")
    assert path.read_text() == before
    refused = session.registry.audit_page(action="change-settings").rows
    assert sorted((r.operator, r.granted) for r in refused) == [("(nobody)", False), ("olga", False)]
    path.write_text(before + "[nonsense]\n")  # a file the station would refuse to open
    with pytest.raises(ConfigError, match="unknown section"):
        settings_edit.save(session, "swd_frequency", "1000000", operator="eve", role="engineer")
    assert path.read_text() == before + "[nonsense]\n"
    assert not list(path.parent.glob(".station-*")), "no temporary file left behind"


def test_a_bench_windows_dialog_counts_slot_workers_as_its_runs_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings dialog of `station gui --usb` says its runs count the USB devices at each Start;
    a line window's counts station.toml's slots (here two: workers)."""
    for s in settings.SETTINGS:
        for var in s.env:
            monkeypatch.delenv(var, raising=False)
    config = tmp_path / "station.toml"
    config.write_text('[station]\nname = "st-2"\n[slots]\n"1" = "A"\n"2" = "B"\n')
    shown = {}
    for usb in (False, True):
        session = StationSession(SessionSettings(db_url=f"sqlite:///{tmp_path / 'reg.db'}", config_path=config, usb=usb))
        shown[usb] = {r.name: r.shown for r in settings_edit.rows(session, "engineer")}["slot_workers"]
    assert shown[False].startswith("auto → process (2 slots"), shown[False]
    assert shown[True].startswith("auto (a bench station: each run counts the USB devices"), shown[True]
