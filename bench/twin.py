"""Benchmark of the digital twin's SWD face through pyocd (prints figures; not a test).

    python bench/twin.py                 # fast mode: 1 MB program, identical re-flash
    python bench/twin.py --realtime      # also device time vs wall time, and 8 twins in parallel
    python bench/twin.py --frequency 1000000   # SWD clock (default 4 MHz, the station's)
    python bench/twin.py --remote        # the twin behind pyocd's probe server in its own process

Fast mode shows what the emulation costs (KB/s, DAP transactions per KB). Realtime mode shows the
twin's own overhead: the device clock says how long real hardware would take (SWD bits at the
probe clock, NVMC word writes and erases); wall / device ≈ 1 means the twin adds nothing. The
parallel run checks that eight twins in one process overlap their device time (sleeps release
the GIL), which is what lets the station's slot tests run eight devices at once. Remote mode
serves the twin's probe from a process of its own (:mod:`station.sim.probe_server`, as ``station
sim serve`` does) and prints that process's CPU for the job beside this one's (pyocd alone then):
the twin's own cost per image, which is what limits how many twins a test machine can run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
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
    twin_cpu: float | None = None  # the probe server's CPU for the job (remote mode)


#: the SWD clock pyocd asks the probe for (pyocd's own default is 1 MHz; the station uses 4 MHz)
FREQUENCY = 4_000_000


class ProbeServer:
    """One twin's probe behind pyocd's probe server in a process of its own."""

    def __init__(self, bench: Path, name: str) -> None:
        cmd = [sys.executable, "-m", "station.sim.probe_server", "--bench", str(bench), "--twin", name]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.uid = str(json.loads(self.proc.stdout.readline())["remote"])
        self.proc.stdout.readline()  # {"ready": true}

    def cpu(self) -> float:
        """User + system CPU seconds of the server so far (Linux /proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:13]) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # a closed stdin stops it
        self.proc.wait(timeout=30)


def program(twin: Twin, data: bytes, project_dir: str, server: ProbeServer | None = None) -> Job:
    opts: dict[str, object] = {"auto_unlock": False, "resume_on_disconnect": False,
                               "hide_programming_progress": True, "frequency": FREQUENCY}  # fmt: skip
    if server is not None:
        opts["target_override"] = "nrf52840"  # a remote probe names no board (the station sets it too)
    start = twin.clock.snapshot()
    cpu0 = time.process_time()
    twin0 = server.cpu() if server else 0.0
    with ConnectHelper.session_with_chosen_probe(
        unique_id=server.uid if server else twin.identity.probe_uid, blocking=False, options=opts,
        project_dir=project_dir, no_config=True,
    ) as session:  # fmt: skip
        FileProgrammer(session).program(io.BytesIO(data), base_address=0, file_format="bin")
        stats = dict(getattr(session.probe, "stats", {}))  # a remote probe keeps none
    span = twin.clock.snapshot() - start
    if bytes(twin.flash[: len(data)]) != data:
        raise SystemExit(f"{twin.name}: flash does not match the image")
    return Job(span.wall, span.device, stats.get("calls", 0), stats.get("transfers", 0), time.process_time() - cpu0,
               server.cpu() - twin0 if server else None)  # fmt: skip


def report(label: str, job: Job, size: int, *, realtime: bool) -> None:
    kb = size / 1024
    one, five, _ = os.getloadavg()
    line = f"{label:<22} {job.wall:7.2f} s wall  {job.cpu:6.2f} s CPU  {kb / job.wall:8.0f} KB/s  "
    if job.twin_cpu is not None:
        line += f"twin's probe server {job.twin_cpu:6.2f} s CPU"
    else:
        line += f"{job.calls / kb:6.1f} DAP calls/KB  {job.transfers / kb:7.1f} SWD transfers/KB"
    if realtime:
        line += f"  device {job.device:6.2f} s  wall/device {job.wall / job.device:5.3f}"
    print(f"{line}  load {one:.1f}/{five:.1f}")


def run(size: int, realtime: bool, parallel: int, remote: bool = False) -> None:
    data = random.Random(1).randbytes(size)
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp) / "bench", realtime=realtime)
        set_default_bench(bench.path)
        twins = bench.create(max(1, parallel if realtime else 1), seed=1)
        server = ProbeServer(bench.path, twins[0].name) if remote else None
        try:
            first = program(twins[0], data, tmp, server)
            report("program 1 twin", first, size, realtime=realtime and not remote)
            again = program(twins[0], data, tmp, server)
            report("identical re-flash", again, size, realtime=realtime and not remote)
        finally:
            if server is not None:
                server.close()
        if remote:
            set_default_bench(None)
            forget_twins(bench.path)
            return
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
    ap.add_argument("--remote", action="store_true", help="the twin's probe behind pyocd's probe server, out of process")
    args = ap.parse_args()
    FREQUENCY = args.frequency
    if args.size % 4096 or not 0 < args.size <= 1024 * 1024:
        sys.exit("--size must be a multiple of 4096, at most 1 MB")
    where = "probe server out of process" if args.remote else "twin in this process"
    print(f"image {args.size // 1024} KB, {'realtime' if args.realtime else 'fast'} mode, SWD {FREQUENCY / 1e6:g} MHz, {where}")
    run(args.size, args.realtime, args.parallel, args.remote)


if __name__ == "__main__":
    main()
