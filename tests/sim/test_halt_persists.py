"""A halt outlives the debugger session, across processes, as on hardware.

pyocd's attach writes DHCSR back with the control bits it read (C_HALT included), so a core that
one process left halted must read back as halted in the next process — otherwise merely looking at
a device with product firmware would let it run and connect.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from station.sim.bench import Bench

SCRIPT = r"""
import sys
from station.hw.swd import PyocdSwdLink
with PyocdSwdLink(sys.argv[1]) as link:
    if sys.argv[2] == "halt":
        link.reset_and_run()
        link.halt()
    print(link.read_device_id(), link.is_halted())
"""


def _run(bench: Path, uid: str, what: str) -> str:
    env = {**os.environ, "STATION_SIM_DIR": str(bench)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, uid, what], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.strip()


def test_core_halted_by_one_process_stays_halted_for_the_next(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "bench")
    twin = bench.create(1, seed=5)[0]
    uid = twin.identity.probe_uid
    assert _run(bench.path, uid, "halt").endswith("True")
    boots = twin.events.kinds().count("boot")
    assert _run(bench.path, uid, "look").endswith("True")
    assert twin.state.run_state == "halted"
    assert twin.events.kinds().count("boot") == boots, "attaching must not resume the core"
