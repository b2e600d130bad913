"""``station firmware`` and ``station cache`` as an operator uses them: output, JSON keys, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from station.cli.main import cli
from station.firmware.build import filler

from .test_module import INSPECT_KEYS

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("STATION_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()

    def _run(*args: str) -> Result:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return _run


@pytest.fixture
def files(tmp_path: Path, demo: dict[str, bytes]) -> dict[str, Path]:
    out = {}
    for key, data in demo.items():
        p = tmp_path / f"{key}.bin"
        p.write_bytes(data)
        out[key] = p
    return out


def test_inspect_json_has_exact_keys(run: Run, files: dict[str, Path]) -> None:
    res = run("firmware", "inspect", "--json", str(files["system-part1"]))
    assert res.exit_code == 0
    obj = json.loads(res.stdout)
    assert set(obj) == INSPECT_KEYS
    assert obj["version"] == 6200 and obj["start"] == 0x28000 and obj["prefix_offset"] == 0x200
    assert obj["deps"] == [[2, 0, 3100], [8, 0, 202]] and obj["crc_ok"] is True
    sd = json.loads(run("firmware", "inspect", "--json", str(files["softdevice"])).stdout)
    assert sd["product_id"] is None and sd["product_version"] is None and sd["flags"] == 1


def test_inspect_summary_is_readable(run: Run, files: dict[str, Path]) -> None:
    res = run("firmware", "inspect", str(files["user-factory-test"]))
    assert res.exit_code == 0
    assert "user-part v6" in res.stdout and "boron (13)" in res.stdout
    assert "CRC:       ok" in res.stdout and "system-part1 >= v6200" in res.stdout


def test_inspect_reports_bad_crc(run: Run, files: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(files["bootloader"].read_bytes())
    data[3000] ^= 0x10
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    assert "CRC:       BAD" in run("firmware", "inspect", str(bad)).stdout
    assert json.loads(run("firmware", "inspect", "--json", str(bad)).stdout)["crc_ok"] is False


def test_inspect_garbage_exits_2_with_one_line(run: Run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(filler("junk", 4096))
    res = run("firmware", "inspect", "--json", str(junk))
    assert res.exit_code == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: junk.bin: not a Particle module")
    missing = run("firmware", "inspect", str(tmp_path / "nope.bin"))
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_cache_add_list_verify_and_corruption(run: Run, files: dict[str, Path], tmp_path: Path) -> None:
    res = run("cache", "add", str(files["bootloader"]), str(files["user-product"]))
    assert res.exit_code == 0 and res.stdout.count("added ") == 2
    listing = json.loads(run("cache", "list", "--json").stdout)
    assert {e["name"] for e in listing} == {"bootloader.bin", "user-product.bin"}
    assert all(e["kind"] == "module" and len(e["sha256"]) == 64 for e in listing)
    assert run("cache", "verify").exit_code == 0
    victim = next(e for e in listing if e["name"] == "user-product.bin")
    blob = tmp_path / "cache" / f"{victim['sha256']}.bin"
    data = bytearray(blob.read_bytes())
    data[-100] ^= 0x01
    blob.write_bytes(bytes(data))
    res = run("cache", "verify")
    assert res.exit_code == 1
    assert "CORRUPT user-product.bin" in res.stderr and "1 of 2 entries intact" in res.stdout


def test_cache_option_overrides_env_and_raw_needs_address(run: Run, tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(filler("raw", 2048))
    other = tmp_path / "other-cache"
    assert run("cache", "add", "--cache", str(other), str(raw)).exit_code == 2
    assert run("cache", "add", "--cache", str(other), "--address", "0xB4000", str(raw)).exit_code == 0
    assert [e["address"] for e in json.loads(run("cache", "list", "--cache", str(other), "--json").stdout)] == [0xB4000]
    assert json.loads(run("cache", "list", "--json").stdout) == []


def test_demo_writes_files_and_fills_the_cache(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "fw"
    res = run("firmware", "demo", "--platform", "boron", "-o", str(out), "--json")
    assert res.exit_code == 0
    obj = json.loads(res.stdout)
    assert [m["role"] for m in obj["modules"]] == [
        "bootloader", "softdevice", "system-part1", "user-product", "user-factory-test"
    ]
    assert all(Path(m["file"]).is_file() for m in obj["modules"])
    assert len(json.loads(run("cache", "list", "--json").stdout)) == 5


def test_check_orders_a_good_set_and_rejects_a_bad_one(run: Run, files: dict[str, Path]) -> None:
    good = [str(files[k]) for k in ("user-product", "system-part1", "softdevice", "bootloader")]
    res = run("firmware", "check", "--platform", "boron", "--json", *good)
    assert res.exit_code == 0
    assert [m["function"] for m in json.loads(res.stdout)] == [2, 8, 4, 5]
    res = run("firmware", "check", "--platform", "boron", str(files["system-part1"]), str(files["bootloader"]))
    assert res.exit_code == 2 and "needs radio-stack >= v202" in res.stderr


def test_inspect_reads_a_module_inside_intel_hex(run: Run, demo: dict[str, bytes], tmp_path: Path) -> None:
    from station.domain import FlashImage
    from station.firmware.images import to_hex

    hexfile = tmp_path / "sp1.hex"
    hexfile.write_bytes(to_hex([FlashImage(0x28000, demo["system-part1"])]))
    obj = json.loads(run("firmware", "inspect", "--json", str(hexfile)).stdout)
    assert obj["version"] == 6200 and obj["start"] == 0x28000 and obj["crc_ok"] is True
    hexfile.write_bytes(to_hex([FlashImage(0x1000, b"\x01\x02\x03\x04" * 100)]))
    res = run("firmware", "inspect", str(hexfile))
    assert res.exit_code == 2 and "does not hold a Particle module" in res.stderr
