"""Idle CPU of the twins' host side: what serving N quiet twins costs (prints figures; not a test).

``station sim serve`` keeps every twin's serial face up with a :class:`~station.sim.host.SimHost`
(it watches the bench) and one pty thread per twin whose firmware runs USB. While nothing
happens on the bench, that should cost next to nothing, whatever N: this prints the process's
CPU seconds (user + sys) per minute of watching N twins (all running firmware, so each has its pty),
with the load average beside each figure.

    python bench/sim_idle.py [--sizes 1,8,24] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from station.sim.bench import Bench, forget_twins
from station.sim.host import SimHost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,8,24", help="comma-separated N values")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long to watch each bench")
    args = ap.parse_args()
    print(f"{'N':>3} {'ports':>5} {'CPU s/min':>10} {'CPU s/min/twin':>15}  load")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(Path(tmp) / "bench")
            for t in bench.create(n, seed=3):
                t.update_state(run_state="running")  # the firmware runs USB: a serial port to serve
            with SimHost(bench) as host:
                ports = len(host.servers)
                time.sleep(0.5)  # settle: the first syncs and the pty threads' start
                cpu0, t0 = time.process_time(), time.perf_counter()
                time.sleep(args.seconds)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
            one, five, _ = os.getloadavg()
            per_min = cpu * 60 / wall
            print(f"{n:>3} {ports:>5} {per_min:>10.3f} {per_min / n:>15.4f}  {one:.1f}/{five:.1f}")
            forget_twins(bench.path)


if __name__ == "__main__":
    main()
