"""Where the station keeps its files: the OS's conventions, the overrides, and the shipped data."""

from __future__ import annotations

from pathlib import Path

import pytest

from station import paths
from station.config import load_config
from station.errors import ConfigError
from station.firmware.cache import default_cache_dir
from station.profile.demo import demo_platforms, demo_profile
from station.profile.load import load_profile
from station.store.engine import MIGRATIONS_DIR, default_db_url


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of its own: every XDG directory inside the test, no override set."""
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))
    for var in (paths.CONFIG_ENV, paths.DB_ENV, paths.CACHE_ENV):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_defaults_follow_the_xdg_directories(xdg: Path) -> None:
    where = {loc.name: loc for loc in paths.locations()}
    assert where["config"].path == str(xdg / "xdg_config_home" / "station" / "station.toml")
    assert where["registry"].path == str(xdg / "xdg_data_home" / "station" / "station.db")
    assert where["firmware cache"].path == str(xdg / "xdg_data_home" / "station" / "firmware_cache")
    assert where["labels"].path == str(xdg / "xdg_data_home" / "station" / "labels")
    assert where["logs"].path.startswith(str(xdg / "xdg_state_home" / "station"))
    assert {loc.source for loc in where.values()} == {"default"}
    # the owners use the same defaults
    assert default_db_url() == f"sqlite:///{xdg / 'xdg_data_home' / 'station' / 'station.db'}"
    assert default_cache_dir() == xdg / "xdg_data_home" / "station" / "firmware_cache"


def test_environment_overrides_are_shown_with_their_variable_and_no_password(
        xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.DB_ENV, "postgresql+psycopg://line:s3cret-pw@db.factory:5432/station")
    monkeypatch.setenv(paths.CACHE_ENV, str(xdg / "cache-here"))
    monkeypatch.setenv(paths.CONFIG_ENV, str(xdg / "st.toml"))
    where = {loc.name: loc for loc in paths.locations()}
    assert where["registry"].source == "STATION_DB"
    assert "s3cret-pw" not in where["registry"].path and "db.factory:5432/station" in where["registry"].path
    assert (where["firmware cache"].path, where["firmware cache"].source) == (str(xdg / "cache-here"), "STATION_CACHE")
    assert (where["config"].path, where["config"].source) == (str(xdg / "st.toml"), "STATION_CONFIG")


def test_a_malformed_registry_url_is_shown_without_its_credentials(xdg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.DB_ENV, "not a url://user:hunter22@host/db")
    (reg,) = [loc for loc in paths.locations() if loc.name == "registry"]
    assert "hunter22" not in reg.path


def test_the_site_config_serves_every_account_until_a_user_has_their_own(xdg: Path) -> None:
    """IT writes /etc/xdg/station/station.toml once; an operator account without its own uses it."""
    site = xdg / "etc-xdg" / "station" / "station.toml"
    site.parent.mkdir(parents=True)
    site.write_text('[station]\nname = "line1-st3"\n[slots]\n"1" = "0240000034544e45"\n')
    cfg = load_config()
    assert (cfg.name, cfg.slots, cfg.path) == ("line1-st3", {"1": "0240000034544e45"}, site)
    assert [loc.source for loc in paths.locations() if loc.name == "config"] == ["site default"]
    user = xdg / "xdg_config_home" / "station" / "station.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[station]\nname = "bench-alice"\n')
    assert load_config().name == "bench-alice"


def test_shipped_data_is_reached_through_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file() and list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    assert demo_platforms() == ["boron", "bsom"]
    assert load_profile(demo_profile("bsom")).platform.name == "bsom"


def test_an_unknown_demo_platform_names_the_ones_there_are() -> None:
    with pytest.raises(ConfigError, match=r"no demo profile for 'xenon'.*have: boron, bsom"):
        demo_profile("xenon")
