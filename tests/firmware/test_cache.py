"""The firmware cache: content addressing, verification on every read, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.errors import CacheError, FirmwareError
from station.firmware.cache import FirmwareCache, default_cache_dir
from station.firmware.demo import install_demo_firmware
from station.firmware.module import parse_module


def _flip(path: Path, pos: int) -> None:
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x40
    path.write_bytes(bytes(data))


def test_add_get_read(tmp_path: Path, demo: dict[str, bytes]) -> None:
    src = tmp_path / "sp1.bin"
    src.write_bytes(demo["system-part1"])
    cache = FirmwareCache(tmp_path / "c")
    entry = cache.add(src)
    info = parse_module(demo["system-part1"])
    assert entry.sha256 == info.file_sha256 and entry.name == "sp1.bin" and entry.kind == "module"
    assert entry.size == len(demo["system-part1"]) and entry.info == info
    assert cache.read(entry.sha256) == demo["system-part1"]
    again = cache.get(entry.sha256)
    assert again.info == info and again.name == "sp1.bin"
    assert cache.add(src).added == entry.added  # idempotent
    meta = json.loads((tmp_path / "c" / f"{entry.sha256}.json").read_text())
    assert meta["info"]["version"] == 6200 and meta["kind"] == "module"
    assert not [p for p in (tmp_path / "c").iterdir() if p.name.endswith(".tmp")]


def test_a_flipped_byte_is_caught_before_use(tmp_path: Path, demo: dict[str, bytes]) -> None:
    cache = FirmwareCache(tmp_path)
    entries = install_demo_firmware(cache, "boron")
    victim = entries["user-product"]
    _flip(victim.path, 1234)
    with pytest.raises(CacheError, match=f"changed on disk: expected {victim.sha256}, found "):
        cache.read(victim.sha256)
    with pytest.raises(CacheError, match="changed on disk"):
        cache.get(victim.sha256)
    with pytest.raises(CacheError):
        cache.load(victim.sha256)
    results = {e.sha256: problem for e, problem in cache.verify()}
    assert len(results) == 6  # five modules and the base image
    assert results[victim.sha256] is not None and "boron-user-product.bin" in results[victim.sha256]
    assert [p for s, p in results.items() if s != victim.sha256] == [None] * 5


def test_missing_entry_and_bad_hash(tmp_path: Path) -> None:
    cache = FirmwareCache(tmp_path)
    with pytest.raises(CacheError, match="not in cache"):
        cache.read("ab" * 32)
    with pytest.raises(CacheError, match="not a SHA-256"):
        cache.get("abc")
    assert cache.entries() == [] and FirmwareCache(tmp_path / "nope").entries() == []


def test_deleted_blob_is_reported(tmp_path: Path, demo: dict[str, bytes]) -> None:
    cache = FirmwareCache(tmp_path)
    e = cache.add(demo["bootloader"], name="bl.bin")
    e.path.unlink()
    with pytest.raises(CacheError, match="not in cache"):
        cache.read(e.sha256)


def test_corrupt_module_and_unaddressed_raw_are_refused(tmp_path: Path, demo: dict[str, bytes]) -> None:
    cache = FirmwareCache(tmp_path)
    bad = bytearray(demo["bootloader"])
    bad[5000] ^= 1
    with pytest.raises(FirmwareError, match="CRC BAD"):
        cache.add(bytes(bad), name="bl.bin")
    with pytest.raises(FirmwareError, match="address"):
        cache.add(b"\x00\x01" * 512, name="raw.bin")
    raw = cache.add(b"\x00\x01" * 512, name="raw.bin", address=0x80000)
    assert raw.kind == "bin" and raw.address == 0x80000
    assert cache.get(raw.sha256).address == 0x80000
    assert cache.load(raw.sha256).images[0].address == 0x80000


def test_default_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATION_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("STATION_CACHE")
    assert default_cache_dir().name == "firmware_cache"


def test_verify_names_unreadable_metadata(tmp_path: Path, demo: dict[str, bytes]) -> None:
    cache = FirmwareCache(tmp_path)
    e = cache.add(demo["user-factory-test"], name="ft.bin")
    good = cache.add(demo["bootloader"], name="bl.bin")
    (tmp_path / f"{e.sha256}.json").write_text("{not json")
    results = {entry.sha256: problem for entry, problem in cache.verify()}
    assert results[good.sha256] is None
    assert results[e.sha256] is not None and "metadata is unreadable" in results[e.sha256]
