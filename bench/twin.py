"""Benchmark of the digital twin's SWD face through pyocd (prints figures; not a test).

    python bench/twin.py                 # fast mode: 1 MB program, identical re-flash
    python bench/twin.py --realtime      # also device time vs wall time, and 8 twins in parallel
    python bench/twin.py --frequency 1000000   # SWD clock (default 4 MHz, the station's)

Fast mode shows what the emulation costs (KB/s, DAP transactions per KB). Realtime mode shows the
twin's own overhead: the device clock says how long real hardware would take (SWD bits at the
probe clock, NVMC word writes and erases); wall / device ≈ 1 means the twin adds nothing. The
parallel run checks that eight twins in one process overlap their device time (sleeps release
the GIL), which is what lets the station's slot tests run eight devices at once.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pyocd.core.helpers import ConnectHelper
from pyocd.flash.file_programmer import FileProgrammer

from station.sim.bench import Bench, forget_twins, set_default_bench
from station.sim.device import Twin


@dataclass
class Job:
    wall: float
    device: float
    calls: int
    transfers: int
    cpu: float  # this process's CPU (pyocd + the twin) for the job


#: the SWD clock pyocd asks the probe for (pyocd's own default is 1 MHz; the station uses 4 MHz)
FREQUENCY = 4_000_000


def program(twin: Twin, data: bytes, project_dir: str) -> Job:
    opts = {"auto_unlock": False, "resume_on_disconnect": False, "hide_programming_progress": True,
            "frequency": FREQUENCY}  # fmt: skip
    start = twin.clock.snapshot()
    cpu0 = time.process_time()
    with ConnectHelper.session_with_chosen_probe(
        unique_id=twin.identity.probe_uid, blocking=False, options=opts, project_dir=project_dir, no_config=True
    ) as session:
        FileProgrammer(session).program(io.BytesIO(data), base_address=0, file_format="bin")
        stats = dict(session.probe.stats)
    span = twin.clock.snapshot() - start
    if bytes(twin.flash[: len(data)]) != data:
        raise SystemExit(f"{twin.name}: flash does not match the image")
    return Job(span.wall, span.device, stats["calls"], stats["transfers"], time.process_time() - cpu0)


def report(label: str, job: Job, size: int, *, realtime: bool) -> None:
    kb = size / 1024
    one, five, _ = os.getloadavg()
    line = (
        f"{label:<22} {job.wall:7.2f} s wall  {job.cpu:6.2f} s CPU  {kb / job.wall:8.0f} KB/s  "
        f"{job.calls / kb:6.1f} DAP calls/KB  {job.transfers / kb:7.1f} SWD transfers/KB"
    )
    if realtime:
        line += f"  device {job.device:6.2f} s  wall/device {job.wall / job.device:5.3f}"
    print(f"{line}  load {one:.1f}/{five:.1f}")


def run(size: int, realtime: bool, parallel: int) -> None:
    data = random.Random(1).randbytes(size)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp) / "bench", realtime=realtime)
        set_default_bench(bench.path)
        twins = bench.create(max(1, parallel if realtime else 1), seed=1)
        first = program(twins[0], data, tmp)
        report("program 1 twin", first, size, realtime=realtime)
        again = program(twins[0], data, tmp)
        report("identical re-flash", again, size, realtime=realtime)
        if realtime and parallel > 1:
            jobs: list[Job] = []
            fresh = bench.create(parallel, seed=2, prefix="par")

            def work(t: Twin) -> None:
                jobs.append(program(t, data, tmp))

            t0 = time.perf_counter()
            threads = [threading.Thread(target=work, args=(t,)) for t in fresh]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.perf_counter() - t0
            if len(jobs) != parallel:
                raise SystemExit("a parallel job failed")
            one, five, _ = os.getloadavg()
            print(
                f"{parallel} twins in parallel  {wall:7.2f} s wall  vs one twin {first.wall:6.2f} s  "
                f"ratio {wall / first.wall:5.3f}  (device time each ~{sum(j.device for j in jobs) / parallel:5.2f} s)"
                f"  load {one:.1f}/{five:.1f}"
            )
        set_default_bench(None)
        forget_twins(bench.path)


def main() -> None:
    global FREQUENCY
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024 * 1024, help="image size in bytes (default 1 MB)")
    ap.add_argument("--realtime", action="store_true", help="model hardware time and sleep to track it")
    ap.add_argument("--parallel", type=int, default=8, help="twins in the realtime parallel run")
    ap.add_argument("--frequency", type=int, default=FREQUENCY, help="SWD clock in Hz (default 4 MHz)")
    args = ap.parse_args()
    FREQUENCY = args.frequency
    if args.size % 4096 or not 0 < args.size <= 1024 * 1024:
        sys.exit("--size must be a multiple of 4096, at most 1 MB")
    print(f"image {args.size // 1024} KB, {'realtime' if args.realtime else 'fast'} mode, SWD {FREQUENCY / 1e6:g} MHz")
    run(args.size, args.realtime, args.parallel)


if __name__ == "__main__":
    main()
