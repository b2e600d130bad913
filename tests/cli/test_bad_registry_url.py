"""A registry URL the station cannot use is one clear line naming the setting and where it came
from (the flag, the variable, the station file), never a traceback, on every front end that opens
the registry, and ``station doctor`` says the PC is not ready while it is there.

SQLAlchemy's ``make_url`` raises a bare ValueError for a port that is not a number
(``invalid literal for int() with base 10``) and ``create_engine`` a plugin error for a dialect it
does not know: neither names STATION_DB or station.toml, and the first escaped as a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cli.main import cli

BAD_PORT = "postgresql+psycopg://line:hunter2@127.0.0.1:xx/test"
UNKNOWN_DIALECT = "mysqlx://line@127.0.0.1/test"
COMMANDS = [["lot", "list"], ["cloud", "status"], ["user", "list"], ["device", "show", "e00fce68" * 3]]


def _given(how: str, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str]:
    """Give the station ``url`` the way ``how`` says; returns the extra arguments and the words naming it."""
    toml = tmp_path / "station.toml"
    toml.write_text('[station]\nname = "st-url"\n')
    monkeypatch.setenv("STATION_CONFIG", str(toml))
    monkeypatch.delenv("STATION_DB", raising=False)
    if how == "env":
        monkeypatch.setenv("STATION_DB", url)
        return [], "(environment variable STATION_DB)"
    if how == "file":
        toml.write_text(f'[station]\nname = "st-url"\ndb = "{url}"\n')
        return [], f"({toml} [station] db)"
    return ["--db", url], "(--db)"


@pytest.mark.parametrize("how", ["env", "file", "flag"])
@pytest.mark.parametrize(("url", "why"), [(BAD_PORT, "its port 'xx' is not a number"),
                                          (UNKNOWN_DIALECT, "the registry is SQLite or PostgreSQL, not 'mysqlx'")])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_bad_registry_url_is_one_line_naming_where_it_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], how: str, url: str, why: str) -> None:
    extra, origin = _given(how, url, tmp_path, monkeypatch)
    res = CliRunner().invoke(cli, [*command, *extra])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)  # no traceback
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: the registry URL ") and origin in lines[0] and why in lines[0], lines[0]
    assert "hunter2" not in res.output


def test_doctor_says_the_registry_setting_is_not_ready_and_config_show_still_lists_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two commands a person runs to find out what is wrong must not fail on the wrong thing."""
    _given("env", BAD_PORT, tmp_path, monkeypatch)
    Path(tmp_path / "station.toml").write_text('[station]\nname = "st-url"\n[slots]\n"1" = "A"\n"2" = "B"\n')
    res = CliRunner().invoke(cli, ["doctor", "--json"])
    assert res.exit_code == 1, res.output
    (registry,) = [c for c in json.loads(res.output)["checks"] if c["check"] == "registry"]
    assert not registry["ok"]
    assert "(environment variable STATION_DB)" in registry["detail"] and "port 'xx' is not a number" in registry["detail"]
    assert "hunter2" not in res.output

    for args in (["config", "show", "--json"], ["config", "show"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0 and res.exception is None, (res.output, res.exception)
        assert "hunter2" not in res.output
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(cli, ["config", "show", "--json"]).output)["settings"]}
    assert rows["slot_workers"]["value"].startswith("auto (not resolved: the registry URL "), rows["slot_workers"]
    assert "port 'xx' is not a number" in rows["slot_workers"]["value"]


def test_doctor_passes_a_good_registry_setting_without_connecting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _given("env", "postgresql+psycopg://line:hunter2@192.0.2.1:5433/station", tmp_path, monkeypatch)  # TEST-NET: unreachable
    res = CliRunner().invoke(cli, ["doctor", "--json"])
    (registry,) = [c for c in json.loads(res.output)["checks"] if c["check"] == "registry"]
    assert registry["ok"], registry
    assert registry["detail"].startswith("postgresql+psycopg://line:***@192.0.2.1:5433/station (environment variable STATION_DB)")


#: mistyped URLs whose password must still be hidden: one slash after the scheme, no scheme at all,
#: a password with a slash or an @ in it (SQLAlchemy takes those), a password as a query parameter
MISTYPED = [
    ("postgresql+psycopg:/line:hunter2@127.0.0.1/test", "('postgresql+psycopg:' has no // after it)"),
    ("line:hunter2@127.0.0.1/test", "it does not start with a kind of database and //"),
    ("postgresql+psycopg://line:hun/ter2@127.0.0.1:xx/test", "its port 'xx' is not a number"),
    ("postgresql+psycopg://line:hunter2@x@127.0.0.1:xx/test", "is not a number"),
]


@pytest.mark.parametrize(("url", "why"), MISTYPED)
def test_a_mistyped_registry_url_never_shows_its_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, why: str) -> None:
    """What doctor and an error print is pasted into tickets: a typo must not put the password there."""
    secret = url.split(":", 2)[-1].split("@")[0] if "//" in url else "hunter2"
    _given("env", url, tmp_path, monkeypatch)
    for args in (["lot", "list"], ["doctor", "--json"], ["config", "show"]):
        res = CliRunner().invoke(cli, args)
        assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
        assert "hunter2" not in res.output and "ter2" not in res.output and secret not in res.output, res.output
    res = CliRunner().invoke(cli, ["lot", "list"])
    assert res.exit_code == 2 and why in res.stderr, res.stderr
    assert "sqlite:///postgresql" not in res.stderr  # a PostgreSQL URL is not advised into a SQLite file


def test_a_password_given_as_a_query_parameter_is_hidden_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _given("env", "postgresql+psycopg://line@192.0.2.1:5433/station?password=hunter2", tmp_path, monkeypatch)
    for args in (["doctor", "--json"], ["config", "show"], ["config", "show", "--json"]):
        res = CliRunner().invoke(cli, args)
        assert "hunter2" not in res.output and "password=***" in res.output, res.output
