"""Start-up of the operator window to its first paint and to usable (prints figures; not a test).

    python bench/gui_startup.py                  # 5 starts on one prepared 8-slot station folder
    python bench/gui_startup.py --runs 9 --slots 4
    PYTHONPATH=/tmp/old python bench/gui_startup.py   # another checkout's code (git archive REV | tar -x -C /tmp/old)

A demo station folder (twins, demo firmware, registry, ``station.toml`` with SWD slots) is made
once, in a process of its own; then each run is a fresh ``python`` that opens the window on it
the way ``station gui --config … --db … --sim-dir …`` does (no demo set-up inside the start-up)
and reports, from its own process start:

* *shown*: the window shown and painted once, with the process's CPU to that point,
* *usable*: the session open (registry migrated, profile and firmware checked) and the slot
  cards on the board, with the process's CPU.

CPU seconds (user+sys of the process) are what another machine reproduces; wall time depends on
the load, printed beside each run. Goal (issue 12): usable < 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PREPARE = """
import sys
from pathlib import Path
from station.ui.demo import DemoBench
DemoBench.create(Path(sys.argv[1]), transport="swd", count=int(sys.argv[2])).prepare()
"""

#: one start: from this process's first line to shown and to usable
START = """
import time
T = time.perf_counter()
import json, os, sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from station.ui import theme
from station.ui.app import GuiOptions, build_window
app = QApplication([sys.argv[0]])
theme.apply_theme(app)
d = Path(sys.argv[1])
from station.profile.demo import demo_profile  # the checkout's own demo profile
opts = GuiOptions(profile=demo_profile("boron"), db_url=f"sqlite:///{d}/station-demo.db", cache_dir=d / "firmware_cache",
                  config_path=d / "station.toml", sim_dir=d / "bench", station_name="demo-station",
                  labels_dir=d / "labels", operator="demo")
window, _ = build_window(opts)
window.resize(1366, 768)
window.show()
app.processEvents()
window.grab()
shown, shown_cpu = time.perf_counter() - T, time.process_time()
while not window.ready:
    app.processEvents()
    time.sleep(0.002)
    if time.perf_counter() - T > 120:
        raise SystemExit("not usable after 120 s: " + window.message.text())
app.processEvents()
print(json.dumps({"shown": shown, "shown_cpu": shown_cpu, "usable": time.perf_counter() - T,
                  "usable_cpu": time.process_time(), "cards": len(window.board.cards), "load": os.getloadavg()[0]}))
sys.stdout.flush()
os._exit(0)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--slots", type=int, default=8)
    args = ap.parse_args()
    import json

    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    root = Path(tempfile.mkdtemp(prefix="gui-startup-")) / "station"
    cwd = root.parent  # not the checkout: `python -c` puts the current directory first on sys.path
    env.setdefault("PYTHONPATH", str(REPO))
    subprocess.run([sys.executable, "-c", PREPARE, str(root), str(args.slots)], env=env, check=True, cwd=cwd)
    subprocess.run([sys.executable, "-c", START, str(root)], env=env, check=True, cwd=cwd,
                   capture_output=True)  # the first start migrates the new registry and fills the OS's caches
    print(f"window start-up on {root} ({args.slots} SWD slots), code from "
          f"{env['PYTHONPATH']}; {os.cpu_count()} CPUs")
    rows = []
    for i in range(args.runs):
        out = subprocess.run([sys.executable, "-c", START, str(root)], env=env, check=True, cwd=cwd,
                             capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f"run {i + 1}: shown {r['shown']:.2f} s (CPU {r['shown_cpu']:.2f} s), usable {r['usable']:.2f} s "
              f"(CPU {r['usable_cpu']:.2f} s), {r['cards']} cards   [load {r['load']:.2f}]")
    med = {k: statistics.median(r[k] for r in rows) for k in ("shown", "shown_cpu", "usable", "usable_cpu", "load")}
    print(f"median: shown {med['shown']:.2f} s (CPU {med['shown_cpu']:.2f} s), usable {med['usable']:.2f} s "
          f"(CPU {med['usable_cpu']:.2f} s)   [median load {med['load']:.2f}; goal usable < 2 s]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
