"""How responsive the operator window stays while eight slots provision (prints figures; not a test).

    python bench/gui_latency.py                 # 8 realtime SWD twins out of process, the real window, offscreen
    python bench/gui_latency.py --twins inproc  # the twins inside the window's process (the old measurement)
    python bench/gui_latency.py --slots 4 --fast
    QT_QPA_PLATFORM=xcb xvfb-run -a python bench/gui_latency.py   # through a real X server

Where the twins run (``--twins``):

* ``remote`` (default, as on a line: the devices are not in the station's process): this process
  readies a demo bench (twins, demo firmware, ``station.toml``), serves it with ``station sim
  serve --no-usb`` (serial ptys, and one pyocd probe server process per twin), writes the slots as
  probes ``remote:localhost:PORT`` (as ``bench/provision.py`` does), then starts the window in a
  **fresh process** of its own, so its start-up pays its own imports. The twins' CPU (serve
  process + probe servers) is reported apart from the window process's.
* ``inproc``: the window's process also runs the twins (unicorn + the DAP model), so their
  emulation competes with the GUI thread for the GIL: the figures mix the twins' cost with the
  station's. The demo bench is readied in the session worker, inside start-up.

The window process opens the real window (``station gui`` code path: theme, session, bench of
twins) on N fixture slots, starts them all, and answers each slot's operator prompt the way an
operator does (a key press on that slot's card, one second after the question appears).
Meanwhile a ``QTimer`` on the GUI thread fires every 10 ms and records how late each tick is: a
late tick is time the event loop could not run (painting, event handling, or the GIL held by
slot threads). It prints:

* start-up: process start → window shown, and → *usable* (session open, slot cards on the board),
  with the process's CPU to that point,
* event-loop stalls during the run: p50 / p99 / max lateness, and the share of ticks later than
  50 ms, with the number of events the window took in (progress is coalesced by the bridge),
* the GUI thread's own CPU time during the run (``time.thread_time``): the work the window
  does, which the load of other processes does not change (stalls above also include waiting
  for a CPU and for the GIL), and the whole window process's CPU (slot threads included),
* the machine's load average (``os.getloadavg()``) beside each figure: the cores are shared.

Goals (issue 12): p99 < 50 ms, max < 200 ms, start-up < 2 s.
"""

from __future__ import annotations

import time

T_PROCESS = time.perf_counter()  # as early as possible: start-up is measured from here

import argparse  # noqa: E402
import collections  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f} (1/5 min, {os.cpu_count()} CPUs)"


#: A process of its own doing nothing but wake every tick, measuring its own lateness (until its
#: stdin closes): what the machine's load alone does to a 10 ms timer, beside the window's figure.
CONTROL = """
import json, select, sys, time
tick = float(sys.argv[1]) / 1000
late, t = [], time.perf_counter()
while not select.select([sys.stdin], [], [], tick)[0]:
    now = time.perf_counter()
    late.append(max(0.0, (now - t - tick) * 1000))
    t = now
print(json.dumps(late))
"""


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--fast", action="store_true", help="twins as fast as the emulation runs (not realtime)")
    ap.add_argument("--size", default="1366x768")
    ap.add_argument("--tick-ms", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--twins", choices=("remote", "inproc"), default="remote",
                    help="twins in a station sim serve process and its probe servers (default) or in the window's")
    ap.add_argument("--spy", metavar="OUT", type=Path,
                    help="remote: sample the window process with py-spy (GIL holders, 100 Hz, raw stacks to OUT) "
                         "and print who held the GIL and the GUI thread's own costs (pip install py-spy)")
    ap.add_argument("--stall-stacks", action="store_true",
                    help="a watchdog thread samples the GUI thread's Python stack while a tick is over 50 ms late")
    ap.add_argument("--slot-workers", choices=("thread", "process"), default="thread",
                    help="remote: [station] slot_workers: each slot's hardware work in the window's process "
                         "(thread) or in a worker process per slot (process)")
    ap.add_argument("--profile-gui", metavar="OUT", type=Path,
                    help="cProfile the GUI thread during the run (pstats file; inflates its CPU)")
    ap.add_argument("--switch-ms", type=float, help="the window process's GIL switch interval (sys.setswitchinterval)")
    ap.add_argument("--window-on", metavar="DEMO_DIR", type=Path, help=argparse.SUPPRESS)  # the remote mode's child
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.twins == "remote" and args.window_on is None:
        return serve_and_measure(args)
    return measure(args)


def serve_and_measure(args: argparse.Namespace) -> int:
    """Ready and serve the bench here, run the window in a process of its own, count the twins' CPU."""
    sys.path.insert(0, str(REPO / "bench"))
    from provision import Served, proc_cpu  # type: ignore[import-not-found]

    from station.ui.demo import DemoBench

    realtime = not args.fast
    if realtime:
        os.environ["STATION_SIM_REALTIME"] = "1"
    root = Path(tempfile.mkdtemp(prefix="gui-latency-"))
    demo = DemoBench.create(root / "demo", transport="swd", realtime=realtime, count=args.slots)
    demo.prepare()
    served = Served(demo.bench_dir, realtime)
    try:
        lines = ["[station]", 'name = "demo-station"', f'slot_workers = "{args.slot_workers}"', "[slots]"]
        lines += [f'"{i + 1}" = "{served.remote[t.identity.probe_uid]}"' for i, t in enumerate(demo.twins)]
        demo.config_path.write_text("\n".join(lines) + "\n")
        argv = [sys.executable, str(Path(__file__).resolve()), "--twins", "remote", "--window-on", str(demo.root),
                "--slots", str(args.slots), "--size", args.size, "--tick-ms", str(args.tick_ms),
                "--timeout", str(args.timeout), *(["--fast"] if args.fast else []),
                *(["--switch-ms", str(args.switch_ms)] if args.switch_ms else []),
                *(["--stall-stacks"] if args.stall_stacks else []),
                *(["--profile-gui", str(args.profile_gui.resolve())] if args.profile_gui else [])]
        print(f"twins: {args.slots} served by station sim serve (pid {served.proc.pid}) and "
              f"{len(served.pids) - 1} pyocd probe servers; window in a new process, slot_workers = "
              f"{args.slot_workers}   [{load()}]", flush=True)
        if args.spy is not None:
            argv = ["py-spy", "record", "--gil", "--threads", "--nonblocking", "-r", "100", "-f", "raw",
                    "-o", str(args.spy), "--", *argv]
        tc0 = proc_cpu(served.pids)
        rc = subprocess.run(argv, env=dict(os.environ, TMPDIR=str(root))).returncode
        print(f"twins' CPU during the window's life (serve + probe servers, user+sys): "
              f"{proc_cpu(served.pids) - tc0:.1f} s   [{load()}]")
    finally:
        served.stop()
    return rc


def measure(args: argparse.Namespace) -> int:
    """The window, in this process: start-up, then the run with the stall timer."""

    from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Slot
    from PySide6.QtWidgets import QApplication

    from station.hw import backend
    from station.ui import theme
    from station.ui.app import GuiOptions, build_window
    from station.ui.cardmodel import CardState

    t_imported = time.perf_counter()
    if args.switch_ms:
        sys.setswitchinterval(args.switch_ms / 1000)
    app = QApplication([sys.argv[0]])
    theme.apply_theme(app)
    w_, h_ = (int(x) for x in args.size.split("x"))
    opts = GuiOptions(demo=True, demo_transport="swd", demo_devices=args.slots, realtime=not args.fast,
                      demo_root=args.window_on)
    if args.window_on is None:
        root = Path(tempfile.mkdtemp(prefix="gui-latency-"))
        os.environ["TMPDIR"] = str(root)
    window, _demo = build_window(opts)
    window.resize(w_, h_)
    window.show()
    app.processEvents()
    t_shown = time.perf_counter()
    while not window.ready:
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t_shown > 60:
            raise SystemExit(f"the window did not become usable: {window.message.text()}")
    app.processEvents()
    t_ready = time.perf_counter()
    cpu_ready = time.process_time()
    startup_load = load()
    # An operator presses Start after seating boards, not in the window's first millisecond: wait
    # for the session's pre-start of the slot workers (slot_workers = "process"; at once for threads).
    while window.prestarted is None:
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - t_ready > 120:
            raise SystemExit("the slot workers did not pre-start within 120 s")
    print(f"slot workers pre-started {time.perf_counter() - t_ready:.2f} s after usable "
          f"(died: {window.prestarted or 'none'})   [{load()}]", flush=True)

    # ------------------------------------------------------------------ the run
    lateness: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    tick = QTimer()
    tick.setTimerType(Qt.TimerType.PreciseTimer)
    tick.setInterval(args.tick_ms)

    def on_tick() -> None:
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e6 - args.tick_ms))
        last[0] = now

    tick.timeout.connect(on_tick)

    class Counter(QObject):
        """Counts what reaches the window (a QObject on the GUI thread: deliveries are queued)."""

        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        @Slot(object)
        def on_event(self, _ev: object) -> None:
            self.n += 1

        @Slot()
        def on_progress(self) -> None:
            self.n += 1

    counter = Counter()
    window.bridge.coreEvent.connect(counter.on_event)
    window.bridge.progressReady.connect(counter.on_progress)
    answered: set[str] = set()
    seen_prompt: dict[str, float] = {}
    loads: list[float] = []
    t_run = time.perf_counter()
    cpu_run = time.thread_time()  # CPU of the GUI thread alone: what it did, whatever the load
    proc_run = time.process_time()  # the whole window process: GUI thread, slot threads, workers

    def operator() -> None:
        """Press Y on each card one second after its question appeared, as a person would;
        stop the loop when every slot has finished."""
        for card in window.board.cards.values():
            p = card.view.prompt
            if p is None or p.prompt_id in answered:
                continue
            seen_prompt.setdefault(p.prompt_id, time.perf_counter())
            if time.perf_counter() - seen_prompt[p.prompt_id] >= 1.0:
                answered.add(p.prompt_id)
                card.prompt_panel.answer("yes")
        if len(loads) < (time.perf_counter() - t_run) / 5:
            loads.append(os.getloadavg()[0])
        cards = window.board.cards.values()
        if (cards and all(c.view.finished for c in cards)) or time.perf_counter() - t_run > args.timeout:
            app.quit()

    hands = QTimer()
    hands.setInterval(100)
    hands.timeout.connect(operator)
    stalled: collections.Counter[str] = collections.Counter()
    watching = threading.Event()
    gui_ident = threading.get_ident()

    gui_clock = time.pthread_getcpuclockid(gui_ident)
    episodes: list[tuple[float, float]] = []  # (wall s, GUI thread CPU s) of each stall over 50 ms

    def watchdog() -> None:
        """While the GUI thread is late, what is it running? (no Python frame under exec: C++ or the GIL)
        and how much CPU does it get meanwhile (little: it waits, for the GIL or for a core)."""
        start: tuple[float, float] | None = None
        while not watching.wait(0.005):
            if (clock.nsecsElapsed() - last[0]) / 1e6 < 50 + args.tick_ms:
                if start is not None:
                    episodes.append((time.perf_counter() - start[0], time.clock_gettime(gui_clock) - start[1]))
                    start = None
                continue
            if start is None:
                start = (time.perf_counter(), time.clock_gettime(gui_clock))
            frame = sys._current_frames().get(gui_ident)
            where = []
            while frame is not None and frame.f_code.co_name not in ("measure",):
                code = frame.f_code
                where.append(f"{Path(code.co_filename).name}:{code.co_name}")
                frame = frame.f_back
            stalled[" < ".join(where[:4]) or "(in Qt: painting, or waiting for the GIL)"] += 1

    if args.stall_stacks:
        threading.Thread(target=watchdog, name="stall-watchdog", daemon=True).start()
    control = subprocess.Popen([sys.executable, "-c", CONTROL, str(args.tick_ms)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    profiler = None
    if args.profile_gui:
        import cProfile

        profiler = cProfile.Profile()  # this thread only: the GUI thread's Python work, inflated by the hooks
        profiler.enable()
    last[0] = clock.nsecsElapsed()  # the first tick counts from here, not from the set-up above
    tick.start()
    hands.start()
    window.start_all()
    app.exec()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(args.profile_gui))
    watching.set()
    control_late: list[float] = __import__("json").loads(control.communicate("stop\n", timeout=60)[0])
    run_s = time.perf_counter() - t_run
    gui_cpu = time.thread_time() - cpu_run
    proc_cpu = time.process_time() - proc_run
    tick.stop()
    hands.stop()
    states = [c.view.state for c in window.board.cards.values()]
    not_passed = [(name, c.view.state.name, c.view.failing_step, c.view.reason)
                  for name, c in window.board.cards.items() if c.view.state is not CardState.PASS]
    window.close()
    backend.stop_sim_hosts()
    gone = os.times()
    children_cpu = gone.children_user + gone.children_system  # slot worker processes, once waited for

    where = "out of process" if args.window_on is not None else "in the window's process"
    print(f"station GUI latency — {args.slots} SWD slots, {'realtime' if not args.fast else 'fast'} twins {where}, "
          f"{args.size}, QPA {app.platformName()}, PySide6 {__import__('PySide6').__version__}")
    print(f"start-up: imports {t_imported - T_PROCESS:.2f} s, window shown {t_shown - T_PROCESS:.2f} s, "
          f"usable (session open, {len(window.board.cards)} cards) {t_ready - T_PROCESS:.2f} s, "
          f"process CPU to usable {cpu_ready:.2f} s   [{startup_load}]")
    ok = sum(s is CardState.PASS for s in states)
    print(f"run: {run_s:.1f} s, {ok}/{len(states)} PASS, {counter.n} deliveries to the window, "
          f"{len(lateness)} ticks of {args.tick_ms} ms; GUI thread CPU {gui_cpu:.2f} s "
          f"({100 * gui_cpu / run_s:.1f} % of the run), window process CPU {proc_cpu:.2f} s, its finished "
          f"child processes (slot workers, control) {children_cpu:.2f} s   [{load()}]")
    for name, state, step, reason in not_passed:
        print(f"  slot {name}: {state} at {step}: {reason}")
    print(f"event-loop stall: p50 {pct(lateness, 50):.1f} ms, p99 {pct(lateness, 99):.1f} ms, "
          f"max {max(lateness):.1f} ms, >50 ms {100 * sum(x > 50 for x in lateness) / len(lateness):.2f} % "
          f"of ticks   [{load()}; mean 1-min load during the run {statistics.mean(loads):.2f}]")
    print(f"control (a process that only sleeps {args.tick_ms} ms, same time): p50 {pct(control_late, 50):.1f} ms, "
          f"p99 {pct(control_late, 99):.1f} ms, max {max(control_late):.1f} ms, "
          f">50 ms {100 * sum(x > 50 for x in control_late) / len(control_late):.2f} % of ticks: the machine's "
          f"share of the stalls above")
    if args.stall_stacks:
        wall, cpu = sum(e[0] for e in episodes), sum(e[1] for e in episodes)
        print(f"stalls over 50 ms: {len(episodes)}, {wall:.2f} s in all past the 50 ms mark, GUI thread CPU in them "
              f"{cpu:.2f} s ({100 * cpu / wall if wall else 0:.0f} %: the rest it waited for the GIL or a core)")
        print(f"GUI thread while over 50 ms late ({sum(stalled.values())} samples, 5 ms apart):")
        for where, n in stalled.most_common(12):
            print(f"  {n:5d}  {where}")
    return 0 if ok == len(states) else 1


if __name__ == "__main__":
    raise SystemExit(main())
