"""``station provision --watch``: bench mode through the application layer, with the run's prompts
answered by --answer (the same broker the terminal uses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware
from station.sim.bench import Bench, forget_twins
from station.sim.stock import ship_with_bootloader

REPO = Path(__file__).resolve().parents[2]
DEMO_BORON = REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


def test_watch_provisions_a_plugged_usb_device_once(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "bench")
    twin = bench.create(1, seed=71)[0]
    ship_with_bootloader(twin)
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    text = DEMO_BORON.read_text().replace('transport = "swd"', 'transport = "usb"').replace(
        'action = "halt"', 'action = "dfu"')
    profile = tmp_path / "usb.toml"
    profile.write_text("[[tests]]".join(b for b in text.split("[[tests]]") if 'name = "approtect-open"' not in b))
    env = {**os.environ, "STATION_SIM_DIR": str(bench.path), "STATION_CACHE": str(cache.root),
           "STATION_DB": f"sqlite:///{tmp_path / 'reg.db'}"}
    try:
        out = subprocess.run([sys.executable, "-m", "station", "provision", "--profile", str(profile), "--usb",
                              "--watch", "3", "--answer", "led=yes", "--lot", "W1", "--json"],
                             capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300)
    finally:
        forget_twins(bench.path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [(r["device_id"], r["outcome"]) for r in doc["results"]] == [(twin.device_id, "passed")]
