"""The settings table: every variable that worked before still works, one precedence for every
front end, `station config show` says where each value came from, and nothing else reads them."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from station import settings
from station.cli.main import cli
from station.config import load_config, resolved_settings
from station.errors import ConfigError
from station.pipeline import runner
from station.roles import Role

ROOT = Path(__file__).resolve().parents[1] / "station"
#: every variable the station read before the table existed: the names are a contract
OLD_NAMES = {"STATION_DB", "STATION_CACHE", "STATION_CONFIG", "STATION_SIM_DIR", "STATION_SIM_REALTIME",
             "STATION_PROFILE", "STATION_PARTICLE_API", "STATION_PERIDIO_API", "PARTICLE_ACCESS_TOKEN",
             "PERIDIO_API_KEY"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for s in settings.SETTINGS:
        for var in s.env:
            monkeypatch.delenv(var, raising=False)


def test_the_table_keeps_every_old_variable_and_each_row_is_complete() -> None:
    assert OLD_NAMES <= {v for s in settings.SETTINGS for v in s.env}
    for s in settings.SETTINGS:
        assert s.help and s.type in (str, Path, int, float, bool)
        assert isinstance(s.changed_by, Role)
    assert len(settings.BY_NAME) == len(settings.SETTINGS)


def test_each_old_variable_reaches_the_module_that_uses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from station.cloud.credentials import get_credential
    from station.firmware.cache import default_cache_dir
    from station.hw.backend import sim_bench_path
    from station.sim.bench import Bench, default_bench
    from station.store.engine import resolve_url

    monkeypatch.setenv("STATION_DB", "sqlite:///elsewhere.db")
    monkeypatch.setenv("STATION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STATION_SIM_DIR", str(tmp_path / "bench"))
    monkeypatch.setenv("STATION_SIM_REALTIME", "1")
    monkeypatch.setenv("PARTICLE_ACCESS_TOKEN", "  tok-123456789  ")
    assert resolve_url(None) == "sqlite:///elsewhere.db"
    assert resolve_url("sqlite:///flag.db") == "sqlite:///flag.db"
    assert default_cache_dir() == tmp_path / "cache"
    assert sim_bench_path() == (tmp_path / "bench").resolve()
    bench = default_bench()
    assert bench is not None and bench.path == (tmp_path / "bench").resolve()
    assert Bench(tmp_path).realtime is True
    monkeypatch.setenv("STATION_SIM_REALTIME", "no")
    assert Bench(tmp_path).realtime is False
    assert get_credential("particle") == "tok-123456789"


def test_precedence_flag_then_env_then_station_file_then_default(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "station.toml"
    toml.write_text('[station]\nname = "line1-st3"\nswd_frequency = 8000000\n')
    monkeypatch.setenv("STATION_CONFIG", str(toml))
    v = resolved_settings()
    assert (v["station_name"].value, v["station_name"].source) == ("line1-st3", settings.Source.FILE)
    assert v["config"].source is settings.Source.ENV and v["config"].origin == "STATION_CONFIG"
    assert v["swd_frequency"].value == 8_000_000
    monkeypatch.setenv("STATION_SWD_FREQUENCY", "2000000")
    assert load_config().swd_frequency == 2_000_000  # the environment beats the file
    v = resolved_settings({"swd_frequency": 1_000_000, "station_name": None})
    assert (v["swd_frequency"].value, v["swd_frequency"].source) == (1_000_000, settings.Source.EXPLICIT)
    assert v["station_name"].value == "line1-st3"  # None means "not given"
    monkeypatch.delenv("STATION_CONFIG")
    monkeypatch.setattr("station.config.default_config_path", lambda: tmp_path / "absent.toml")
    v = resolved_settings()
    assert v["swd_frequency"].source is settings.Source.ENV
    monkeypatch.delenv("STATION_SWD_FREQUENCY")
    assert resolved_settings()["swd_frequency"].value == 4_000_000


@pytest.mark.parametrize(("var", "text"), [("STATION_SWD_FREQUENCY", "fast"), ("STATION_SIM_REALTIME", "maybe")])
def test_a_malformed_value_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch, var: str,
                                                                text: str) -> None:
    monkeypatch.setenv(var, text)
    with pytest.raises(ConfigError, match=var):
        settings.resolve()
    res = CliRunner().invoke(cli, ["config", "show"])
    assert res.exit_code == 2 and var in res.output and "Traceback" not in res.output


def test_config_show_lists_every_setting_with_its_source_and_never_a_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-token-value"
    monkeypatch.setenv("PARTICLE_ACCESS_TOKEN", secret)
    monkeypatch.setenv("STATION_DB", "sqlite:///from-env.db")
    toml = tmp_path / "station.toml"
    toml.write_text('[station]\nname = "line1-st3"\n')
    res = CliRunner().invoke(cli, ["config", "show", "--config", str(toml), "--json"])
    assert res.exit_code == 0, res.output
    assert secret not in res.output
    shown = json.loads(res.output)
    rows = {r["name"]: r for r in shown["settings"]}
    assert {"config", "registry", "firmware cache", "labels", "logs"} <= {p["name"] for p in shown["locations"]}
    assert set(rows) == set(settings.BY_NAME)
    assert rows["db"]["value"] == "sqlite:///from-env.db" and rows["db"]["source"] == "env"
    assert rows["particle_token"]["value"] == "set" and rows["peridio_key"]["value"] == "not set"
    assert rows["station_name"]["value"] == "line1-st3"
    assert rows["station_name"]["source"] == "station.toml" and rows["config"]["source"] == "flag"
    text = CliRunner().invoke(cli, ["config", "show", "--config", str(toml)])
    assert text.exit_code == 0 and secret not in text.output
    for name in settings.BY_NAME:
        assert name in text.output
    assert "env STATION_DB" in text.output


def test_cli_options_take_their_default_from_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-profile.toml"
    monkeypatch.setenv("STATION_PROFILE", str(missing))
    res = CliRunner().invoke(cli, ["provision", "--db", f"sqlite:///{tmp_path / 'r.db'}"])
    assert res.exit_code == 2 and "no-such-profile.toml" in res.output  # the env var named the profile
    res = CliRunner().invoke(cli, ["provision", "--help"])
    assert "STATION_PROFILE" in res.output and "STATION_DB" in res.output


_STATION_VAR = re.compile(r"^(STATION|PARTICLE|PERIDIO)_")


def _is_setting_name(node: ast.expr | None) -> bool:
    """A read the table must own: a station-looking variable name, or a name computed at run time."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(_STATION_VAR.match(node.value)) or node.value in {v for s in settings.SETTINGS for v in s.env}
    return node is not None  # ENV_VAR, paths.DB_ENV, ...: cannot be told apart, so it counts


def _environment_reads(path: Path) -> list[int]:
    """Lines that read a station setting from the process environment (os.environ.get / [..] loads /
    os.getenv / click envvar=). The user's own variables (USER, LD_PRELOAD) are not settings."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and (
                    f.attr == "getenv" or (f.attr == "get" and "environ" in ast.unparse(f.value))):
                if _is_setting_name(node.args[0] if node.args else None):
                    lines.append(node.lineno)
            if any(k.arg == "envvar" for k in node.keywords):
                lines.append(node.lineno)
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and "environ" in ast.unparse(node.value):
            if _is_setting_name(node.slice):
                lines.append(node.lineno)
    return lines


#: station settings read elsewhere, each with its reason
NOT_SETTINGS: set[str] = set()


def test_only_the_settings_module_reads_the_environment() -> None:
    offenders = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        if rel == "station/settings.py" or rel in NOT_SETTINGS:
            continue
        if found := _environment_reads(path):
            offenders[rel] = found
    assert offenders == {}


def test_the_station_file_can_name_the_registry_and_a_password_is_never_shown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from station.store.engine import resolve_url

    db = tmp_path / "line.db"
    toml = tmp_path / "station.toml"
    toml.write_text(f'[station]\nname = "st1"\ndb = "sqlite:///{db}"\n')
    monkeypatch.setenv("STATION_CONFIG", str(toml))
    assert resolve_url(None) == f"sqlite:///{db}"  # the file, when neither flag nor STATION_DB says
    monkeypatch.setenv("STATION_DB", "sqlite:///env.db")
    assert resolve_url(None) == "sqlite:///env.db" and resolve_url("sqlite:///flag.db") == "sqlite:///flag.db"
    monkeypatch.setenv("STATION_DB", "postgresql+psycopg://line:hunter2-secret@db.factory/station")
    res = CliRunner().invoke(cli, ["config", "show", "--json"])
    assert res.exit_code == 0 and "hunter2-secret" not in res.output
    rows = {r["name"]: r for r in json.loads(res.output)["settings"]}
    assert rows["db"]["value"] == "postgresql+psycopg://line:***@db.factory/station"


@pytest.mark.parametrize(("station", "db", "shown"), [
    ('[slots]\n"1" = "A"\n"2" = "B"\n', None, "auto → process (2 slots and a registry other processes can open"),
    ('[slots]\n"1" = "A"\n"2" = "B"\n', "sqlite://", "auto → thread (2 slots, but the registry is in memory"),
    ('[slots]\n"1" = "A"\n', "postgresql+psycopg://line@db/station", "auto → thread (1 slot, and one slot gains"),
    ("", None, "auto (station.toml names no slots: each run counts the probes or devices it finds"),
    ('[station]\nslot_workers = "thread"\n[slots]\n"1" = "A"\n"2" = "B"\n', None, "thread"),
])
def test_config_show_says_what_auto_slot_workers_resolve_to_and_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, station: str, db: str | None, shown: str) -> None:
    """A line engineer reads whether this station's slots get worker processes without knowing the rule."""
    if db is not None:
        monkeypatch.setenv("STATION_DB", db)
    toml = tmp_path / "station.toml"
    toml.write_text(station)
    res = CliRunner().invoke(cli, ["config", "show", "--config", str(toml), "--json"])
    assert res.exit_code == 0, res.output
    row = {r["name"]: r for r in json.loads(res.output)["settings"]}["slot_workers"]
    assert row["value"].startswith(shown), row["value"]
    assert row["default"] == "auto"


@pytest.mark.parametrize(("db", "shown"), [
    (None, "auto (a bench station: each run counts the USB devices attached at its Start, not station.toml's slots"),
    ("sqlite://", "auto → thread (the registry is in memory"),
])
def test_config_show_usb_counts_as_a_bench_run_does_not_station_tomls_slots(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: str | None, shown: str) -> None:
    """A bench station (--usb) never runs station.toml's SWD slots: its runs count the USB devices
    attached at each Start, so `config show --usb` must not say "auto → process, counting station.toml's slots"."""
    monkeypatch.delenv("STATION_SLOT_WORKERS", raising=False)
    if db is not None:
        monkeypatch.setenv("STATION_DB", db)
    toml = tmp_path / "station.toml"
    toml.write_text('[slots]\n"1" = "A"\n"2" = "B"\n"3" = "C"\n')
    res = CliRunner().invoke(cli, ["config", "show", "--config", str(toml), "--usb", "--json"])
    assert res.exit_code == 0, res.output
    value = {r["name"]: r for r in json.loads(res.output)["settings"]}["slot_workers"]["value"]
    assert value.startswith(shown), value
    assert "counting station.toml's slots" not in value


def test_a_misspelt_slot_workers_names_every_choice(tmp_path: Path) -> None:
    toml = tmp_path / "station.toml"
    toml.write_text('[station]\nslot_workers = "processes"\n')
    with pytest.raises(ConfigError, match="expected one of auto, thread, process") as from_file:
        load_config(toml)
    with pytest.raises(ConfigError) as from_run:  # a run's own setting gets the same words
        runner.resolve("processes", slots=2, registry_url=None)
    assert str(from_run.value).split("): ", 1)[1] == str(from_file.value).split("): ", 1)[1]
