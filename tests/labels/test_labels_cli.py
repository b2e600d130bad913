"""``station label``: one label to a file or to standard output."""

from __future__ import annotations

from pathlib import Path

import zxingcpp
from click.testing import CliRunner
from PIL import Image

from station.cli.main import cli

PROFILE = str(Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles" / "demo-boron.toml")
DID = "e00fce68a1b2c3d4e5f60718"


def test_png_by_suffix(tmp_path: Path) -> None:
    out = tmp_path / "l.png"
    res = CliRunner().invoke(
        cli, ["label", DID.upper(), "--profile", PROFILE, "--serial", "PBO12", "--trial", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(out))] == [f"{DID};PBO12"]


def test_zpl_to_stdout() -> None:
    res = CliRunner().invoke(cli, ["label", DID, "--profile", PROFILE, "--format", "zpl", "--trial", "-o", "-"])
    assert res.exit_code == 0
    assert res.stdout.startswith("^XA") and f"^FDMA,{DID}^FS" in res.stdout


def test_bad_device_id_and_bad_profile_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["label", "xyz", "--profile", PROFILE, "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 2 and "not a device ID" in res.stderr
    bad = tmp_path / "p.toml"
    bad.write_text("name = 1\n")
    res = CliRunner().invoke(cli, ["label", DID, "--profile", str(bad), "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "name: expected a string" in res.stderr
