"""One name per concept (issue 15 item 11): the bench folder, device counts, URLs, help texts."""

from __future__ import annotations

import json
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner
from keyring.backends.null import Keyring as NullKeyring

from station.cli.main import cli
from station.sim.bench import forget_twins


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args), env=env)
    return r.exit_code, r.stdout, r.stderr


def test_the_bench_folder_is_sim_dir_everywhere_and_dir_is_accepted(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from station.hw import backend

    bench = tmp_path / "bench"
    monkeypatch.setenv("STATION_SIM_DIR", "")  # `devices` exports the bench it used: undone after the test
    try:
        code, out, err = run("sim", "create", "--devices", "2", "--sim-dir", str(bench), "--json")
        assert code == 0, err
        assert len(json.loads(out)) == 2
        code, out, err = run("sim", "list", "--sim-dir", str(bench), "--json")
        assert code == 0 and len(json.loads(out)) == 2, err
        code, out, err = run("sim", "list", "--dir", str(bench), "--json")
        assert code == 0 and len(json.loads(out)) == 2, err
        code, out, err = run("devices", "--dir", str(bench), "--json")
        assert code == 0, err
    finally:
        backend.use_sim(None)  # `devices` chose the twins for this process
        forget_twins(bench)


def test_sim_create_count_and_devices_must_agree(tmp_path: Path) -> None:
    code, _out, err = run("sim", "create", "2", "--devices", "3", "--sim-dir", str(tmp_path / "b"))
    assert code == 2 and "disagree" in err
    code, _out, err = run("sim", "create", "--sim-dir", str(tmp_path / "b"))
    assert code == 2 and "--devices" in err


@pytest.mark.parametrize(("var", "flag"), [("PARTICLE_API_URL", "--api-url"), ("PERIDIO_API_URL", "--peridio-url"),
                                           ("STATION_PARTICLE_API", "--api-url")])
def test_api_urls_are_named_like_their_credentials_and_old_names_still_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str, flag: str) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(NullKeyring())
    for v in ("PARTICLE_API_URL", "PERIDIO_API_URL", "STATION_PARTICLE_API", "STATION_PERIDIO_API"):
        monkeypatch.delenv(v, raising=False)
    try:
        code, _out, err = run("cloud", "sync", "--db", f"sqlite:///{tmp_path / 'none.db'}",
                              env={var: "ftp://example.com"})
    finally:
        keyring.set_keyring(previous)
    assert code == 2 and flag in err and var in err and "not an http" in err


def test_help_texts_name_what_the_options_mean() -> None:
    _code, out, _err = run("demo", "--help")
    assert "COUNT" not in out and "--devices" in out
    _code, out, _err = run("provision", "--help")
    assert "Station file" in out
    _code, out, _err = run("cloud", "list", "--help")
    assert "Only entries in this state" in out
