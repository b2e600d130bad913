"""Profile texts for tests: the smallest valid profile, and where the shipped demo profiles are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "station" / "profile" / "demo_profiles"

SHA = {i: f"{i:064x}" for i in range(1, 6)}

MINIMAL = f"""
name = "t"
product = "Test Product"
platform = "boron"

[firmware]
device_os_version = "6.2.0"

[[firmware.modules]]
role = "system-part1"
sha256 = "{SHA[1]}"
version = 6200

[firmware.product]
sha256 = "{SHA[2]}"
version = 6

[cloud]
particle_product = 1234
"""
