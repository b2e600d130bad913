"""Messages a new user meets: each names what is wrong and what to do (issue 15 item 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from station.cli.main import cli
from station.errors import ConfigError
from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware
from station.store.engine import make_engine

DEMO = Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


def station(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STATION_SIM_DIR", "STATION_DB", "STATION_CACHE")}
    return subprocess.run([sys.executable, "-m", "station", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def fw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fw")
    res = CliRunner().invoke(cli, ["firmware", "demo", "--platform", "boron", "-o", str(out),
                                   "--cache", str(out / "cache")])
    assert res.exit_code == 0, res.output
    return out


def test_firmware_check_names_the_platform_option_not_a_profile(fw: Path) -> None:
    res = CliRunner().invoke(cli, ["firmware", "check", "--platform", "argon", str(fw / "boron-bootloader@6.2.0.bin")])
    assert res.exit_code == 2
    assert "--platform is argon" in res.stderr and "profile" not in res.stderr


def test_two_user_parts_are_named_by_their_files(fw: Path) -> None:
    files = [str(fw / n) for n in ("boron-bootloader@6.2.0.bin", "boron-softdevice.bin",
                                   "boron-system-part1@6.2.0.bin", "boron-user-product.bin",
                                   "boron-user-factory-test.bin")]
    res = CliRunner().invoke(cli, ["firmware", "check", "--platform", "boron", *files])
    assert res.exit_code == 2
    assert "boron-user-product.bin" in res.stderr and "boron-user-factory-test.bin" in res.stderr


def test_adding_cached_bytes_again_says_already_cached(fw: Path, tmp_path: Path) -> None:
    args = ["cache", "add", "--cache", str(tmp_path / "c"), str(fw / "boron-softdevice.bin")]
    first, second = CliRunner().invoke(cli, args), CliRunner().invoke(cli, args)
    assert first.exit_code == second.exit_code == 0
    assert first.stdout.startswith("added ") and second.stdout.startswith("already cached ")


def test_firmware_missing_from_the_cache_names_its_role_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "bench").mkdir()
    out = station("provision", "--profile", str(DEMO), "--lot", "L", "--answer", "led=yes",
                  "--sim-dir", str(tmp_path / "bench"), "--cache", str(tmp_path / "empty"),
                  "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert out.returncode == 2
    assert "bootloader" in out.stderr and "station cache add" in out.stderr and "station firmware demo" in out.stderr


def test_no_slots_on_an_empty_bench_says_so(tmp_path: Path) -> None:
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    (tmp_path / "bench").mkdir()
    out = station("provision", "--profile", str(DEMO), "--lot", "L", "--answer", "led=yes",
                  "--sim-dir", str(tmp_path / "bench"), "--cache", str(cache.root),
                  "--db", f"sqlite:///{tmp_path / 'r.db'}")
    assert out.returncode == 2
    assert "simulated bench" in out.stderr and "station sim create" in out.stderr


def test_a_bench_folder_that_does_not_exist_is_an_error_not_an_empty_table(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["devices", "--sim-dir", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "does not exist" in res.stderr and "station sim create" in res.stderr


def test_a_plain_path_as_db_gets_the_sqlite_url_hint() -> None:
    with pytest.raises(ConfigError, match=r"sqlite:///x\.db"):
        make_engine("x.db")


def test_postgres_without_its_driver_gets_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the [postgres] extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'station\[postgres\]'"):
        make_engine("postgresql+psycopg://u@localhost/db")
