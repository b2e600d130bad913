"""Start-up time of the ``station`` command: wall time of help/version/a command, and import time.

Prints figures with the machine's load average beside them (a shared machine's numbers mean
little without it). Not a test: tests/cli/test_startup.py holds the cause (no heavy import on
help or version), this measures the effect.

    python bench/startup.py [--runs 5]
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


def wall(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "station", *args], capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - t0)
    return times


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
    opts = ap.parse_args()
    bench = tempfile.mkdtemp(prefix="startup-bench-")
    env = {**os.environ, "STATION_SIM_DIR": bench}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for label, args in (("station --help", ["--help"]), ("station --version", ["--version"]),
                        ("station devices (empty bench)", ["devices"])):
        load = os.getloadavg()[0]
        t = wall(args, opts.runs, env)
        print(f"{label:<32} median {statistics.median(t):6.3f} s  min {min(t):6.3f} s  "
              f"(n={opts.runs}, load {load:.2f})")
    load = os.getloadavg()[0]
    print(f"{'import station.cli.main':<32} {import_time_s(env):6.3f} s cumulative (-X importtime, load {load:.2f})")


if __name__ == "__main__":
    main()
