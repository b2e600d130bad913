"""``station profile check`` / ``show``: exit codes and output a script can rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from profile_texts import MINIMAL, PROFILES

from station.cli.main import cli
from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache")
    install_demo_firmware(FirmwareCache(root), "bsom")
    return root


@pytest.fixture(autouse=True)
def no_default_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The user's own cache must not leak into these tests."""
    monkeypatch.delenv("STATION_CACHE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_check_ok_with_cache(cache_dir: Path) -> None:
    code, out, _ = run("profile", "check", str(PROFILES / "demo-bsom.toml"), "--cache", str(cache_dir))
    assert code == 0 and "ok (firmware checked" in out


def test_check_without_any_cache_validates_the_file_only() -> None:
    code, out, _ = run("profile", "check", str(PROFILES / "demo-bsom.toml"))
    assert code == 0 and "firmware not checked" in out


def test_check_reports_one_line_per_problem_and_exits_2(write_profile) -> None:
    path = write_profile(
        MINIMAL.replace('platform = "boron"', 'platform = "boronn"') + "\n[flash]\nverifyy = 1\n"
    )
    code, _, err = run("profile", "check", str(path))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines == [
        f"error: {path}: platform: expected one of 'argon', 'b5som', 'boron', 'bsom', 'esomx', 'tracker', "
        "got 'boronn' (did you mean 'boron'?)",
        f"error: {path}: flash.verifyy: unknown key (did you mean 'verify'?)",
    ]


def test_check_json_against_the_wrong_cache(tmp_path: Path) -> None:
    boron_cache = tmp_path / "c"
    install_demo_firmware(FirmwareCache(boron_cache), "boron")
    code, out, _ = run(
        "profile", "check", str(PROFILES / "demo-bsom.toml"), "--cache", str(boron_cache), "--json"
    )
    assert code == 2
    doc = json.loads(out)
    assert doc["valid"] is False and doc["firmware_checked"] is True
    assert {e["field"] for e in doc["errors"]} >= {"firmware.modules[0].sha256", "firmware.product.sha256"}


def test_check_named_cache_that_does_not_exist_is_exit_2(tmp_path: Path) -> None:
    code, _, err = run(
        "profile", "check", str(PROFILES / "demo-bsom.toml"), "--cache", str(tmp_path / "none")
    )
    assert code == 2 and "does not exist" in err


def test_show_json() -> None:
    code, out, _ = run("profile", "show", str(PROFILES / "demo-boron.toml"), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["platform"] == "boron" and doc["finish"] == "halt" and len(doc["modules"]) == 5
    assert [t["name"] for t in doc["tests"]][:2] == ["hello", "battery"]
