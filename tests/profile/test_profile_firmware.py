"""Profiles against a real firmware cache filled with the demo module set."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from profile_texts import PROFILES

from station.firmware.cache import FirmwareCache
from station.firmware.demo import build_demo_modules, install_demo_firmware
from station.profile.firmware_check import check_profile_firmware, device_os_module_version
from station.profile.load import load_profile

ROLE_FIELDS = {
    "bootloader": "firmware.modules[0]",
    "softdevice": "firmware.modules[1]",
    "system-part1": "firmware.modules[2]",
    "user-product": "firmware.product",
    "user-factory-test": "firmware.factory_test",
}


@pytest.fixture(scope="module")
def boron_cache(tmp_path_factory: pytest.TempPathFactory) -> FirmwareCache:
    cache = FirmwareCache(tmp_path_factory.mktemp("cache"))
    install_demo_firmware(cache, "boron")
    return cache


@pytest.mark.parametrize("platform", ["boron", "bsom"])
def test_demo_profiles_pin_exactly_the_demo_generator_modules(platform: str) -> None:
    """If the demo firmware generator changes, this fails until the shipped profile is updated."""
    profile = load_profile(PROFILES / f"demo-{platform}.toml")
    demo = {role: hashlib.sha256(data).hexdigest() for role, data in build_demo_modules(platform).items()}
    pinned = {ref.role: ref.sha256 for ref in profile.all_modules}
    assert pinned == demo


def test_demo_profile_checks_clean_against_its_cache(boron_cache: FirmwareCache) -> None:
    assert check_profile_firmware(load_profile(PROFILES / "demo-boron.toml"), boron_cache) == []


def test_missing_module_names_the_field(tmp_path: Path) -> None:
    cache = FirmwareCache(tmp_path / "empty")
    errors = check_profile_firmware(load_profile(PROFILES / "demo-boron.toml"), cache)
    assert [e.field for e in errors] == [f"{f}.sha256" for f in ROLE_FIELDS.values()]
    assert all("not in cache" in e.problem for e in errors)


def test_module_changed_on_disk_is_caught(tmp_path: Path) -> None:
    cache = FirmwareCache(tmp_path / "c")
    entries = install_demo_firmware(cache, "boron")
    blob = entries["system-part1"].path
    data = bytearray(blob.read_bytes())
    data[5000] ^= 0xFF
    blob.write_bytes(bytes(data))
    errors = check_profile_firmware(load_profile(PROFILES / "demo-boron.toml"), cache)
    assert [e.field for e in errors] == ["firmware.modules[2].sha256"]
    assert "changed on disk" in errors[0].problem


def test_wrong_platform_is_refused(boron_cache: FirmwareCache, tmp_path: Path) -> None:
    """A B-SoM profile pointing at Boron modules: every module is for the wrong platform."""
    boron = load_profile(PROFILES / "demo-boron.toml")
    text = (PROFILES / "demo-boron.toml").read_text().replace('platform = "boron"', 'platform = "bsom"')
    path = tmp_path / "p.toml"
    path.write_text(text)
    errors = check_profile_firmware(load_profile(path), boron_cache)
    assert len(errors) == len(boron.all_modules)
    assert all("built for platform 13, the profile is bsom (23)" in e.problem for e in errors)


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROFILES / "demo-boron.toml").read_text()
    assert old in text
    path = tmp_path / "p.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_version_and_role_mismatch(boron_cache: FirmwareCache, tmp_path: Path) -> None:
    demo = {role: hashlib.sha256(data).hexdigest() for role, data in build_demo_modules("boron").items()}
    path = _edited(
        tmp_path,
        f'sha256 = "{demo["bootloader"]}"\nversion = 3100',
        f'sha256 = "{demo["bootloader"]}"\nversion = 2301',
    )
    errors = check_profile_firmware(load_profile(path), boron_cache)
    assert [e.field for e in errors] == ["firmware.modules[0].version"]
    assert errors[0].problem.endswith("is version 3100, the profile says 2301")
    path = _edited(
        tmp_path,
        f'role = "softdevice"\nsha256 = "{demo["softdevice"]}"',
        f'role = "softdevice"\nsha256 = "{demo["system-part1"]}"',
    )
    errors = check_profile_firmware(load_profile(path), boron_cache)
    assert errors[0].field == "firmware.modules[1].role" and "not a softdevice module" in errors[0].problem


def test_device_os_version_must_match_system_part(boron_cache: FirmwareCache, tmp_path: Path) -> None:
    path = _edited(tmp_path, 'device_os_version = "6.2.0"', 'device_os_version = "5.8.0"')
    errors = check_profile_firmware(load_profile(path), boron_cache)
    assert [e.field for e in errors] == ["firmware.device_os_version"]
    assert "5800" in errors[0].problem


def test_unbootable_set_is_reported(boron_cache: FirmwareCache, tmp_path: Path) -> None:
    """Without the bootloader in the set, system-part1's dependency cannot be met."""
    text = (PROFILES / "demo-boron.toml").read_text()
    start = text.index("[[firmware.modules]]")
    end = text.index("[[firmware.modules]]", start + 1)
    path = tmp_path / "p.toml"
    path.write_text(text[:start] + text[end:])
    errors = check_profile_firmware(load_profile(path), boron_cache)
    assert [e.field for e in errors] == ["firmware.product", "firmware.factory_test"]
    assert all("cannot boot" in e.problem and "bootloader" in e.problem for e in errors)


def test_device_os_module_versions_come_from_particles_release_table() -> None:
    """Particle's own numbers (each tag's system_module_version.mk), where a formula goes wrong."""
    assert device_os_module_version("6.2.0") == 6200
    assert device_os_module_version("5.9.0") == 5901  # not 5900
    assert device_os_module_version("5.4.1") == 5410  # not 5401
    assert device_os_module_version("4.0.2") == 4006
    assert device_os_module_version("9.9.9") is None  # unknown: not guessed
    assert device_os_module_version("x") is None


def test_module_versions_print_as_the_release_they_belong_to() -> None:
    from station.sim.firmware_view import version_string

    assert version_string(5901) == "5.9.0" and version_string(6200) == "6.2.0"
    assert version_string(5501) == "5.5.0" and version_string(4999) == "4999"
