"""A profile's base image: the MBR page and UICR words a blank nRF52840 needs, checked before any device."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from profile_texts import PROFILES

from station.cli.main import cli
from station.domain import FlashImage
from station.firmware.base_image import UICR_NRFFW0, demo_base_image, demo_mbr
from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware
from station.firmware.images import to_hex
from station.profile.firmware_check import check_profile_firmware
from station.profile.load import load_profile


@pytest.fixture
def cache(tmp_path: Path) -> FirmwareCache:
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    return cache


def _profile_with_base(tmp_path: Path, sha: str) -> Path:
    text = (PROFILES / "demo-boron.toml").read_text() + f'\n[firmware.base_image]\nsha256 = "{sha}"\n'
    path = tmp_path / "with-base.toml"
    path.write_text(text)
    return path


def _problems(tmp_path: Path, cache: FirmwareCache, hex_bytes: bytes) -> list[str]:
    sha = cache.add(hex_bytes, name="base.hex").sha256
    errors = check_profile_firmware(load_profile(_profile_with_base(tmp_path, sha)), cache)
    assert all(e.field == "firmware.base_image.sha256" for e in errors)
    return [e.problem for e in errors]


def test_the_demo_base_image_is_complete(tmp_path: Path, cache: FirmwareCache) -> None:
    assert _problems(tmp_path, cache, demo_base_image()) == []
    profile = load_profile(_profile_with_base(tmp_path, cache.add(demo_base_image()).sha256))
    assert profile.base_image is not None and len(profile.base_image) == 64


def test_uicr_alone_is_not_enough(tmp_path: Path, cache: FirmwareCache) -> None:
    only_uicr = to_hex([FlashImage(UICR_NRFFW0, struct.pack("<II", 0xF4000, 0x27000))])
    (problem,) = _problems(tmp_path, cache, only_uicr)
    assert "no MBR" in problem and "0x0000-0x0FFF" in problem


def test_an_mbr_without_a_bootloader_address_is_explained(tmp_path: Path, cache: FirmwareCache) -> None:
    (problem,) = _problems(tmp_path, cache, to_hex([FlashImage(0, demo_mbr())]))
    assert "no bootloader address" in problem and "NRFFW[0]" in problem


def test_a_bootloader_address_elsewhere_and_a_foreign_mbr_params_page(
    tmp_path: Path, cache: FirmwareCache
) -> None:
    image = to_hex([FlashImage(0, demo_mbr()), FlashImage(UICR_NRFFW0, struct.pack("<II", 0xE0000, 0x40000))])
    problems = _problems(tmp_path, cache, image)
    assert any("0xE0000 is not where the bootloader module starts (0xF4000)" in p for p in problems)
    assert any("NRFFW[1]" in p and "0x40000" in p and "0x27000" in p for p in problems)


def test_an_erased_mbr_page_is_no_mbr(tmp_path: Path, cache: FirmwareCache) -> None:
    image = to_hex([FlashImage(0, b"\xff" * 0x1000), FlashImage(UICR_NRFFW0, struct.pack("<I", 0xF4000))])
    (problem,) = _problems(tmp_path, cache, image)
    assert "erased" in problem and "0xFFFFFFFE" in problem


def test_a_base_image_must_be_hex(tmp_path: Path, cache: FirmwareCache) -> None:
    sha = cache.add(demo_mbr(), name="mbr.bin", address=0).sha256
    (error,) = check_profile_firmware(load_profile(_profile_with_base(tmp_path, sha)), cache)
    assert error.field == "firmware.base_image.sha256" and "Intel HEX" in error.problem


def test_profile_check_explains_what_a_profile_without_base_image_means(
    tmp_path: Path, cache: FirmwareCache
) -> None:
    out = CliRunner().invoke(
        cli, ["profile", "check", str(PROFILES / "demo-boron.toml"), "--cache", str(cache.root), "--json"]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["valid"] and any("blank nRF52840" in n and "would not boot" in n for n in report["notes"])
    with_base = _profile_with_base(tmp_path, cache.add(demo_base_image()).sha256)
    out = CliRunner().invoke(cli, ["profile", "check", str(with_base), "--cache", str(cache.root), "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["notes"] == []


def test_a_malformed_base_image_sha_is_a_profile_error(tmp_path: Path) -> None:
    path = _profile_with_base(tmp_path, "abc")
    out = CliRunner().invoke(cli, ["profile", "check", str(path)])
    assert out.exit_code == 2 and "firmware.base_image.sha256" in out.output
