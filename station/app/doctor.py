"""Is this PC ready to run the station? The checks a front end shows, each with the command that fixes it.

udev rules and the plugdev group are Linux's; elsewhere there is one passing finding saying so,
so ``station doctor`` and a window's "check this PC" show the same answer on every OS.
"""

from __future__ import annotations

import sys

from station.hw.access import Finding

__all__ = ["Finding", "checks"]


def checks() -> list[Finding]:
    """Every finding (udev rules, the plugdev group, access to each attached probe and device)."""
    if sys.platform.startswith("linux"):
        from station.hw.access import diagnose

        return diagnose()
    return [Finding("udev rules", True, f"not needed on {sys.platform} (udev is Linux's)")]
