"""The one-folder bundle's size and start-up time (prints figures; not a test).

    python bench/bundle_startup.py [dist/station] [--runs 5]

* size: the folder on disk (``du``-style, allocated blocks) and its file count;
* cold start-up: ``station --version`` right after every file of the bundle has been dropped from
  the page cache (``posix_fadvise(DONTNEED)`` per file, which needs no root: the next run reads
  the bundle from disk as after a reboot, though the disk's own cache may still help);
* warm start-up: the same command again, median and max of ``--runs``;
* the window: ``station gui --demo`` offscreen until its smoke driver says the window is ready
  (session open, slot cards on the board), cold and warm.

The machine's load average is printed beside each figure: its cores are shared.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.2f} {b:.2f} {c:.2f}"


def size(root: Path) -> tuple[int, int]:
    total = files = 0
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_blocks * 512
            files += 1
    return total, files


def drop_from_page_cache(root: Path) -> int:
    n = 0
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            n += 1
    return n


def clean_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "TMPDIR": str(home), "QT_QPA_PLATFORM": "offscreen",
            "LANG": "C.UTF-8"}


def time_version(exe: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): on a loaded machine the wall time is mostly waiting
    for a core, the CPU time is what the start-up itself costs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([str(exe), "--version"], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def window_ready(exe: Path, env: dict[str, str]) -> float | None:
    """Seconds from process start until the window reports itself ready (then it is killed)."""
    t = time.perf_counter()
    proc = subprocess.Popen([str(exe), "gui", "--demo", "--demo-transport", "swd", "--devices", "2",
                             "--quit-after", "120", "--size", "1366x768"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if re.search(r"gui smoke: window ready", line):
                return time.perf_counter() - t
        return None
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", nargs="?", default="dist/station", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    exe = args.bundle / "station"
    home = Path(tempfile.mkdtemp(prefix="bundle-bench-"))
    env = clean_env(home)
    total, files = size(args.bundle)
    print(f"bundle: {total / 2**20:.0f} MiB in {files} files ({args.bundle})")
    dropped = drop_from_page_cache(args.bundle)
    wall, cpu = time_version(exe, env)
    print(f"cold start-up (station --version, {dropped} files dropped from the page cache): {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU  [{load()}]")
    warm = [time_version(exe, env) for _ in range(args.runs)]
    print(f"warm start-up (station --version, {args.runs} runs): median {statistics.median(w for w, _ in warm):.2f} s "
          f"wall, {statistics.median(c for _, c in warm):.2f} s CPU  [{load()}]")
    drop_from_page_cache(args.bundle)
    ready = window_ready(exe, env)
    print(f"cold window (station gui --demo until ready): {ready:.1f} s  [{load()}]" if ready else
          "cold window: never reported ready")
    ready = window_ready(exe, env)
    print(f"warm window: {ready:.1f} s  [{load()}]" if ready else "warm window: never reported ready")


if __name__ == "__main__":
    main()
