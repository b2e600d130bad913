"""CPU of line-mode seat polling: 8 idle fixture slots (probes present, no unit seated) watched.

Prints the station process's CPU seconds (user+sys) per target check and per second of watching
at the poll's 2 Hz per slot, with the load average. Twins' probes are in-process here, so the
figure includes the twin's side of each check (an upper bound for the station's own share).

    python bench/seat_poll.py [--slots 8] [--checks 400]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--checks", type=int, default=400)
    args = ap.parse_args()
    from station.app import SessionSettings, StationSession
    from station.firmware.cache import FirmwareCache
    from station.firmware.demo import install_demo_firmware
    from station.sim.bench import Bench

    root = Path(tempfile.mkdtemp())
    bench = Bench(root / "bench")
    bench.path.mkdir(parents=True)
    twins = bench.create(args.slots, seed=5)
    for t in twins:
        bench.lift(t.name)
    cache = FirmwareCache(root / "cache")
    install_demo_firmware(cache, "boron")
    settings = SessionSettings(db_url=f"sqlite:///{root / 'reg.db'}", cache_dir=cache.root, sim_dir=bench.path,
                               station_name="seat-bench", labels_dir=root / "labels", create_registry=True)
    demo = Path(__file__).resolve().parents[1] / "station" / "profile" / "demo_profiles" / "demo-boron.toml"
    with StationSession(settings) as session:
        session.prepare(demo, answers=["led=yes"])
        session.watch()
        while session._seats is None or session._seats.checks < args.slots:  # warm: imports, first pass
            time.sleep(0.1)
        seats = session._seats
        r0, w0, c0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), seats.checks
        while seats.checks < c0 + args.checks:
            time.sleep(0.2)
        r1, w1, c1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), seats.checks
        assert session.active() == [], "an empty fixture started a run"
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    n = c1 - c0
    print(f"slots={args.slots} checks={n} cpu={cpu:.3f}s -> {1000 * cpu / n:.3f} ms CPU/check; "
          f"{100 * cpu / (w1 - w0):.2f}% of one core while watching ({n / (w1 - w0):.1f} checks/s) "
          f"load={os.getloadavg()}")


if __name__ == "__main__":
    main()
