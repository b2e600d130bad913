"""``station profile demo``: a new user's first profile, written where they say, never over their own."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from station.cli.main import cli


def test_writes_a_profile_that_checks_against_the_demo_firmware(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert CliRunner().invoke(cli, ["firmware", "demo", "--cache", str(cache)]).exit_code == 0
    out = tmp_path / "my-product.toml"
    res = CliRunner().invoke(cli, ["profile", "demo", "-o", str(out)])
    assert res.exit_code == 0 and f"to {out}" in res.output
    res = CliRunner().invoke(cli, ["profile", "check", str(out), "--cache", str(cache)])
    assert res.exit_code == 0 and "ok (firmware checked" in res.stdout
    res = CliRunner().invoke(cli, ["profile", "show", str(out)])
    assert "demo-boron: Demo Boron on boron" in res.stdout


def test_an_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "my-product.toml"
    out.write_text("# my own work\n")
    res = CliRunner().invoke(cli, ["profile", "demo", "-o", str(out)])
    assert res.exit_code == 2 and "exists: it is kept" in res.stderr
    assert out.read_text() == "# my own work\n"
    res = CliRunner().invoke(cli, ["profile", "demo", "-o", str(out), "--force", "--platform", "bsom"])
    assert res.exit_code == 0 and 'platform = "bsom"' in out.read_text()


def test_standard_output_and_a_missing_folder(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["profile", "demo"])
    assert res.exit_code == 0 and res.stdout.startswith("# Demo profile") and 'name = "demo-boron"' in res.stdout
    res = CliRunner().invoke(cli, ["profile", "demo", "-o", str(tmp_path / "nope" / "p.toml")])
    assert res.exit_code == 2 and "does not exist" in res.stderr and not (tmp_path / "nope").exists()
