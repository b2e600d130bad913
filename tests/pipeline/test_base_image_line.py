"""Blank chips with a base image, and hardened (build code F) parts, through the whole SWD line."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from station.firmware.base_image import demo_base_image, demo_mbr
from station.firmware.cache import FirmwareCache
from station.sim import boot
from station.sim.bench import Bench
from station.sim.device import Twin

from .conftest import DEMO_BORON, Line, never_connected


def _with_base(tmp_path: Path, cache: FirmwareCache) -> Path:
    sha = cache.add(demo_base_image(), name="base.hex").sha256
    path = tmp_path / "with-base.toml"
    path.write_text(DEMO_BORON.read_text() + f'\n[firmware.base_image]\nsha256 = "{sha}"\n')
    return path


def _details(line: Line, step: str) -> dict[str, Any]:
    lot = line.registry.lots()[0]
    (attempt,) = line.registry.attempt_details(lot.name).values()
    return next(s["details"] for s in attempt["steps"] if s["name"] == step)


def _boots_alone(twin: Twin) -> bool:
    return boot.decide(twin).run_state != "fault"


def test_blank_chip_with_a_base_image_boots_and_passes(line: Line, bench: Bench, cache: FirmwareCache,
                                                       tmp_path: Path) -> None:
    twin = bench.create(1, seed=95, blank=True)[0]
    (result,) = line.swd([twin], profile=_with_base(tmp_path, cache))
    assert result.outcome == "passed", result.reason
    assert bytes(twin.flash[:0x1000]) == demo_mbr()
    assert struct.unpack_from("<II", twin.uicr, 0x14) == (0xF4000, 0x27000)
    flash = _details(line, "flash")
    assert flash["base_image"].startswith("MBR page written")
    assert flash["uicr_written"] == {"0x10001014": "0x000F4000", "0x10001018": "0x00027000"}
    assert _boots_alone(twin)
    never_connected(twin)


def test_a_part_with_an_mbr_keeps_it(line: Line, bench: Bench, cache: FirmwareCache, tmp_path: Path) -> None:
    twin = bench.create(1, seed=96)[0]
    (result,) = line.swd([twin], profile=_with_base(tmp_path, cache))
    assert result.outcome == "passed", result.reason
    flash = _details(line, "flash")
    assert flash["base_image"].startswith("not needed") and "uicr_written" not in flash
    assert _details(line, "identify")["variant"] == "AAD0"


def test_hardened_part_gets_hwdisabled_and_stays_debuggable_through_the_line(
    line: Line, bench: Bench, cache: FirmwareCache, tmp_path: Path
) -> None:
    twin = bench.create(1, seed=97, build_code="F")[0]
    twin.uicr[0x208] = 0xFF  # as the module maker left it: the port opens only until the next reset
    twin.update_state(ap_open=True)
    (result,) = line.swd([twin], profile=_with_base(tmp_path, cache))
    assert result.outcome == "passed", result.reason
    ident = _details(line, "identify")
    assert (ident["variant"], ident["hardened_approtect"]) == ("AAF0", True)
    flash = _details(line, "flash")
    assert flash["uicr_written"] == {"0x10001208": "0xFFFFFF5A"} and "HwDisabled" in flash["approtect"]
    assert _details(line, "start-test-firmware")["approtect_after_reset"].startswith("open")
    assert twin.uicr[0x208] == 0x5A
    never_connected(twin)
