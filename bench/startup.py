"""Start-up time of the ``station`` command: wall time of help/version/a command, and import time.

Prints figures with the machine's load average beside them (a shared machine's numbers mean
little without it). Not a test: tests/cli/test_startup.py holds the cause (no heavy import on
help or version), this measures the effect.

    python bench/startup.py [--runs 5] [--twins 8]

``station devices`` is timed on an empty bench and on one of ``--twins`` twins (each probe is
opened to read its device ID, as the command does). Wall time on a shared machine is mostly
waiting for a core, so the CPU time (user + system of the child) is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def wall(args: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (the child's user + system) of each run."""
    times, cpu = [], []
    for _ in range(runs):
        before = os.times()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "station", *args], capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - t0)
        after = os.times()
        cpu.append(after.children_user - before.children_user + after.children_system - before.children_system)
    return times, cpu


def import_time_s(env: dict[str, str]) -> float:
    """Cumulative import time of station.cli.main as ``python -X importtime`` reports it."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import station.cli.main"],
                         capture_output=True, text=True, env=env, check=False).stderr
    for line in out.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*station\.cli\.main$", line)
        if m:
            return int(m.group(1)) / 1e6
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--twins", type=int, default=8, help="twins on the bench of the second `devices` row")
    opts = ap.parse_args()
    bench = tempfile.mkdtemp(prefix="startup-bench-")
    twins = tempfile.mkdtemp(prefix="startup-twins-")
    env = {**os.environ, "STATION_SIM_DIR": bench}
    subprocess.run([sys.executable, "-m", "station", "sim", "create", str(opts.twins), "--sim-dir", twins,
                    "--seed", "1"], capture_output=True, env=env, check=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for label, args in (("station --help", ["--help"]), ("station --version", ["--version"]),
                        ("station devices (empty bench)", ["devices"]),
                        (f"station devices ({opts.twins} twins)", ["devices", "--sim-dir", twins])):
        load = os.getloadavg()[0]
        t, cpu = wall(args, opts.runs, env)
        print(f"{label:<32} median {statistics.median(t):6.3f} s  min {min(t):6.3f} s  "
              f"CPU median {statistics.median(cpu):6.3f} s  (n={opts.runs}, load {load:.2f})")
    load = os.getloadavg()[0]
    print(f"{'import station.cli.main':<32} {import_time_s(env):6.3f} s cumulative (-X importtime, load {load:.2f})")


if __name__ == "__main__":
    main()
