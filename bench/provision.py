"""Benchmark of the whole provisioning pipeline against twins (prints figures; not a test).

    python bench/provision.py                   # realtime twins out of process, N = 1, 8, 24
    python bench/provision.py --sizes 1,8       # fewer slots
    python bench/provision.py --twins inproc    # twins inside this process (the old measurement)
    python bench/provision.py --fast            # twins as fast as the emulation runs
    python bench/provision.py --workers process # each slot in a worker process (slot_workers = "process")
    python bench/provision.py --seam usb        # probes as CMSIS-DAP v2 USB devices (umockdev), not remote:
    python bench/provision.py --seam remote,usb # both seams, one after the other, in the same run

For each N it provisions N fresh twins in parallel slots over SWD with the demo profile (flash the
Device OS set and factory-test firmware, verify, functional tests over serial, product firmware,
verify, register, label). By default the twins live in a ``station sim serve`` process (serial
ptys) and its SWD probe servers (pyocd's probe server, one process per twin); the station in this
process reaches them as probes ``remote:localhost:PORT`` and through the ptys. It prints, with the
load average beside every row:

* batch wall, per-device wall (mean over the slots), devices/hour (N / batch wall);
* hardware time: what the pipeline spent inside flash/verify/test calls (``SlotResult.hardware_s``)
  and overhead = per-device wall − hardware time, also as a share of the hardware time;
* the twins' device clock (out of process: the SWD side only, asked of each probe server);
* station CPU: this process's user+system CPU for the batch, per device, and per step (each slot
  thread's CPU between its step events), and slots per core = device clock / station CPU per device
  (pyocd's imports and first session are paid once before the clock starts);
* the twins' CPU (the serve process and its probe servers), reported apart from the station's.

``--seam usb`` puts the probes on the production path instead: ``station sim serve`` publishes each
twin's probe as a CMSIS-DAP v2 USB device in a umockdev testbed (:mod:`station.sim.dap_usb`) and the
station runs pyocd's own USB CMSIS-DAP driver (slots name probes ``cmsisdap:<uid>``). LD_PRELOAD
must be set when a process starts, so this bench then runs each batch's station in a child
process under the testbed's environment (``--child``), and the twins' device clock and the DAP
packets per device (each one OUT and one IN bulk URB) are read from what the serving process writes
at the end of each pyocd session (``dap_usb.json``).

What the USB station CPU means: libusb waits for URBs by poll()ing the device node, and umockdev
leaves USB nodes plain files that always poll ready (its preload wraps no poll), so pyocd's threads
used to spin on REAPURBNDELAY, each a round trip over umockdev's socket, for as long as the twin took
to answer: 5.5–6.9 s of station CPU a device that a real kernel would not spend. The umockdev helper
now makes each probe's node a FIFO that polls ready only while a URB of it is complete
(``umockdev_helper.Readiness``), so poll() blocks as on usbfs; the bench prints the reaps per device
that answered a URB and those that found none (EAGAIN: about one per wakeup, libusb's reap loop ends
on one, where the spin made them outnumber the packets). With one slot it also splits the whole
process's CPU by step (every thread, pyocd's USB receive thread included), which the slot thread's
split misses. What remains is still the testbed's price per ioctl (each one a socket round trip to
the helper, plus one per URB buffer it reads or writes), not a kernel's: so the child also counts the
usbfs ioctls per device (the helper's file), measures after the batch what one emulated ioctl (an
EAGAIN reap: one request, one answer) and one real kernel ioctl (FIONREAD on a pipe) cost this
process, and prints a figure with that difference taken out of every ioctl, labelled DERIVED. It is
an upper bound of what a real kernel would show: the URB memory moves over umockdev's socket stay in.

``--workers process`` runs each slot in its own worker process (:mod:`station.pipeline.slot_worker`):
the workers are started and ready (``RunHandle.start_workers``) before the clock starts, as
pyocd's first session is for threads; station CPU is this process's plus every worker's from its
first ``attempt_started`` on, and a worker's start (interpreter, imports, pyocd, registry lease,
paid once per slot per run) is printed apart; the per-step split is not available (the steps run in the
workers). Comparing the batch wall of ``thread`` and ``process`` at the same N shows what the
slots lose to one GIL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from machine import describe as describe_machine  # bench/machine.py: this script's directory is on sys.path

from station.sim.probe_usb import PROBE_CHOICES  # light: no pyocd, no settings read

REPO = Path(__file__).resolve().parents[1]
SERVE_START_S = 120.0


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def proc_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc), children they waited for included."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
    return total / tick


class StepCpu:
    """An event sink: each slot thread's CPU seconds per step (events are sent from the slot's thread)."""

    def __init__(self, workers: str = "thread") -> None:
        self.workers = workers
        #: the same split in the whole process's CPU (every thread: pyocd's USB receive thread too), which is
        #: the device's own only when one slot runs
        self.proc_open: dict[tuple[str, str], float] = {}
        self.proc_per_step: dict[str, list[float]] = defaultdict(list)
        #: process runner: each slot worker's (pid, CPU seconds) when its first attempt started
        self.worker_start: dict[str, tuple[int, float]] = {}
        self.lock = threading.Lock()
        self.open: dict[tuple[str, str], float] = {}
        self.attempt: dict[str, float] = {}
        self.per_step: dict[str, list[float]] = defaultdict(list)
        self.outside: list[float] = []  # attempt CPU not inside any step
        self._in_steps: dict[str, float] = defaultdict(float)

    def __call__(self, event: Any) -> None:
        now, proc = time.thread_time(), time.process_time()
        if self.workers == "process":
            if event.kind == "attempt_started" and event.slot not in self.worker_start:
                import multiprocessing

                pid = next(p.pid for p in multiprocessing.active_children() if p.name == f"slot-{event.slot}")
                if pid is not None:
                    self.worker_start[event.slot] = (pid, proc_cpu([pid]))
            return
        with self.lock:
            if event.kind == "attempt_started":
                self.attempt[event.slot] = now
                self._in_steps[event.slot] = 0.0
            elif event.kind == "step_started" and event.step:
                self.open[(event.slot, event.step)] = now
                self.proc_open[(event.slot, event.step)] = proc
            elif event.kind == "step_finished" and event.step:
                t0 = self.open.pop((event.slot, event.step), None)
                if t0 is not None:
                    self.per_step[event.step].append(now - t0)
                    self._in_steps[event.slot] += now - t0
                    self.proc_per_step[event.step].append(proc - self.proc_open.pop((event.slot, event.step)))
            elif event.kind == "attempt_finished" and event.slot in self.attempt:
                self.outside.append(now - self.attempt.pop(event.slot) - self._in_steps.pop(event.slot, 0.0))


def child_pids(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Served:
    """``station sim serve`` for a bench: the twins' serial faces, and their probes on the chosen seam.

    ``remote``: pyocd probe servers (``--no-usb``); ``usb``: the probes as CMSIS-DAP v2 USB devices in
    the umockdev testbed (``--no-swd``). ``remote`` maps each probe UID to the ID pyocd is given.
    """

    def __init__(self, bench_path: Path, realtime: bool, seam: str = "remote") -> None:
        env = dict(os.environ, STATION_SIM_DIR=str(bench_path))
        if realtime:
            env["STATION_SIM_REALTIME"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "station.cli.main", "sim", "serve", "--no-usb" if seam == "remote" else "--no-swd",
             "--json"],
            env=env, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        got: dict[str, Any] = {}
        reader = threading.Thread(target=lambda: got.update(json.loads(self.proc.stdout.readline() or "{}")))  # type: ignore[union-attr]
        reader.start()
        reader.join(SERVE_START_S)
        if ("swd" if seam == "remote" else "usb") not in got:
            self.stop()
            raise SystemExit("station sim serve did not start")
        self.doc = got
        self.env: dict[str, str] = dict(got.get("env", {}))
        if seam == "remote":
            self.remote = {p["probe_uid"]: p["remote"] for p in got["swd"]["probes"]}
            from station.sim.probe_server import published_probes

            self.pids = [self.proc.pid, *{int(p["pid"]) for p in published_probes(bench_path).values()}]
        else:
            self.remote = {p["probe_uid"]: f"cmsisdap:{p['probe_uid']}" for p in got["usb"]["probes"]}
            self.pids = [self.proc.pid, *child_pids(self.proc.pid)]  # the umockdev helper

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def swd_device_seconds(uid: str) -> float:
    """The twin's SWD-side device clock, asked of its probe server (pyocd's ``readprop``)."""
    from pyocd.probe.tcp_client_probe import TCPClientProbe

    probe = TCPClientProbe(uid.split(":", 1)[1])
    probe.open()
    try:
        return float(probe._read_property("device_seconds"))
    finally:
        probe.close()


def reap_stats() -> tuple[int, int, int]:
    """In ``--child``: all probes' REAPURB(NDELAY)s (answered, EAGAIN) and usbfs ioctls so far, from the umockdev helper.

    The helper rewrites ``usbfs_reaps.json`` (``umockdev_helper.REAP_STATS``; that module needs ``gi``,
    so it is not imported here) in the testbed's root at every DAP_Disconnect.
    """
    try:
        doc = json.loads((Path(os.environ["UMOCKDEV_DIR"]) / "usbfs_reaps.json").read_text())
    except (KeyError, OSError, ValueError):
        return (0, 0, 0)
    return tuple(sum(int(v[k]) for v in doc.values()) for k in ("reaps", "empty_reaps", "ioctls"))  # type: ignore[return-value]


USBDEVFS_REAPURBNDELAY = (1 << 30) | (8 << 16) | (ord("U") << 8) | 13  # _IOW('U', 13, void *), linux/usbdevice_fs.h


def ioctl_cpu(calls: int = 3000) -> tuple[float, float]:
    """In ``--child``, after the batch: CPU seconds of one emulated usbfs ioctl and of one real ioctl, here.

    Emulated: REAPURBNDELAY on a probe's node with nothing in flight, answered EAGAIN by the umockdev
    helper (one request and its answer over umockdev's socket: the least any emulated ioctl costs).
    Real: FIONREAD on a pipe, an ioctl the kernel answers itself (what an ioctl costs without the testbed).
    """
    import fcntl
    import termios

    sysfs = Path(os.environ["UMOCKDEV_DIR"]) / "sys" / "devices" / "usb1"
    devnum = next(int((d / "devnum").read_text()) for d in sorted(sysfs.glob("1-*"))
                  if "CMSIS-DAP" in (d / "product").read_text())  # fmt: skip
    buf = bytearray(8)
    fd = os.open(f"/dev/bus/usb/001/{devnum:03d}", os.O_RDWR)  # the preload routes its ioctls to the helper
    try:
        c0 = time.process_time()
        for _ in range(calls):
            try:
                fcntl.ioctl(fd, USBDEVFS_REAPURBNDELAY, buf, True)
            except BlockingIOError:
                pass
        emulated = (time.process_time() - c0) / calls
    finally:
        os.close(fd)
    r, w = os.pipe()
    try:
        c0 = time.process_time()
        for _ in range(calls):
            fcntl.ioctl(r, termios.FIONREAD, buf, True)
        real = (time.process_time() - c0) / calls
    finally:
        os.close(r)
        os.close(w)
    return emulated, real


class Joined:
    """In ``--child``: the serve process the parent started (its probe IDs and the twin-side PIDs)."""

    def __init__(self, remote: dict[str, str], pids: list[int]) -> None:
        self.remote = remote
        self.pids = pids

    def stop(self) -> None:
        pass


def run_usb_batch(n: int, realtime: bool, root: Path, probe: str, workers: str) -> dict[str, Any]:
    """The parent side of ``--seam usb``: twins and serve process here, the station in a child under umockdev."""
    from station.sim.bench import Bench, forget_twins

    work = root / f"n{n}"
    bench = Bench(work / "bench", realtime=realtime)
    bench.create(n, seed=1000 + n, probe=probe)
    forget_twins(bench.path)
    served = Served(bench.path, realtime, "usb")
    try:
        spec = {"n": n, "realtime": realtime, "root": str(root), "probe": probe, "workers": workers,
                "remote": served.remote, "pids": served.pids}  # fmt: skip
        proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                              env=dict(os.environ, **served.env), stdout=subprocess.PIPE, text=True)  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"N={n}: the station child failed (exit {proc.returncode})")
        doc: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        served.stop()
    steps = StepCpu(workers)
    steps.per_step.update(doc.pop("per_step"))
    steps.outside = doc.pop("outside")
    steps.proc_per_step.update(doc.pop("proc_per_step"))
    doc["steps"] = steps
    return doc


def child(spec_json: str) -> None:
    """``--child``: one batch's station, in a process started under the umockdev testbed's environment."""
    spec = json.loads(spec_json)
    served = Joined(spec["remote"], spec["pids"])
    r = run_batch(spec["n"], spec["realtime"], Path(spec["root"]), "usb", spec["probe"], spec["workers"], served=served)
    steps: StepCpu = r.pop("steps")
    r["per_step"] = dict(steps.per_step)
    r["outside"] = steps.outside
    r["proc_per_step"] = dict(steps.proc_per_step)
    r["ioctl_cpu"] = ioctl_cpu()
    print(json.dumps(r))


def run_batch(n: int, realtime: bool, root: Path, mode: str, probe: str = "cmsis-dap-v2-hs",
              workers: str = "thread", served: Joined | None = None) -> dict[str, Any]:
    from station.domain import Transport
    from station.firmware.cache import FirmwareCache
    from station.firmware.demo import install_demo_firmware
    from station.hw import backend
    from station.pipeline.handle import RunHandle
    from station.pipeline.line import SlotSpec, prepare_job
    from station.sim.bench import Bench, forget_twins
    from station.sim.dap_usb import read_stats
    from station.store.registry import open_registry

    work = root / f"n{n}"
    bench = Bench(work / "bench", realtime=realtime)
    if served is None:  # remote or inproc: the twins are made here; usb: by the parent (run_usb_batch)
        twins = bench.create(n, seed=1000 + n, probe=probe)
        served = Served(bench.path, realtime) if mode == "remote" else None  # type: ignore[assignment]
    else:
        twins = bench.twins()
    backend.use_sim(bench.path)  # serial ports: the ptys the serve process publishes
    cache = FirmwareCache(work / "cache")
    install_demo_firmware(cache, "boron")
    registry = open_registry(f"sqlite:///{work / 'station.db'}")
    steps = StepCpu(workers)
    job = prepare_job(
        profile_path=REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml", cache=cache,
        registry=registry, station="bench", operator="bench", lot=f"bench-{n}", labels_dir=work / "labels",
        ask_operator=lambda step, question, timeout: True, sink=steps, slot_workers=workers,
    )  # fmt: skip
    uids = [served.remote[t.identity.probe_uid] if served else t.identity.probe_uid for t in twins]
    slots = [SlotSpec(str(i + 1), Transport.SWD, u) for i, u in enumerate(uids)]
    device0 = [t.clock.device_seconds for t in twins]
    pids = served.pids if served else []
    from station.hw.swd import PyocdSwdLink

    with PyocdSwdLink(uids[0]) as link:  # pyocd's imports and first session: once per process, not per device
        link.read_device_id()
    usb0 = [read_stats(t.path) for t in twins] if mode == "usb" else []
    reaps0 = reap_stats() if mode == "usb" else (0, 0, 0)
    handle = RunHandle(job, slots)
    started = time.perf_counter()
    if handle.start_workers():  # process runner: before the clock, as pyocd's first session above
        raise SystemExit(f"N={n}: a slot worker died while starting")
    worker_start = time.perf_counter() - started
    tc0, c0, t0 = proc_cpu(pids), time.process_time(), time.perf_counter()
    worker_cpu = 0.0
    try:
        handle.start()
        try:
            handle.wait()
            wall = time.perf_counter() - t0
            station_cpu, twin_cpu = time.process_time() - c0, proc_cpu(pids) - tc0
            if workers == "process":  # read before close: a worker's /proc entry goes with it
                worker_cpu = (proc_cpu([pid for pid, _ in steps.worker_start.values()])
                              - sum(cpu for _, cpu in steps.worker_start.values()))
        finally:
            handle.close()
        by_slot = {r.slot: r for r in handle.results()}
        results = [by_slot[s.name] for s in slots]
        packets, reaps = 0.0, (0.0, 0.0, 0.0)
        if mode == "usb":
            usb1 = [read_stats(t.path) for t in twins]
            device = [a.get("device_seconds", 0.0) - b.get("device_seconds", 0.0) for a, b in zip(usb1, usb0, strict=True)]
            packets = sum(a.get("packets", 0) - b.get("packets", 0) for a, b in zip(usb1, usb0, strict=True)) / n
            reaps = tuple((a - b) / n for a, b in zip(reap_stats(), reaps0, strict=True))  # type: ignore[assignment]
        elif served:
            device = [swd_device_seconds(u) for u in uids]
        else:
            device = [t.clock.device_seconds - d for t, d in zip(twins, device0, strict=True)]
    finally:
        if served:
            served.stop()
        backend.stop_sim_hosts()
        backend.use_sim(None)
        registry.close()
        forget_twins(bench.path)
    failed = [r for r in results if not r.passed]
    if failed:
        raise SystemExit(f"N={n}: {len(failed)} device(s) failed: {[(r.failing_step, r.reason) for r in failed]}")
    per_device = statistics.mean(r.duration_s for r in results)
    hardware = statistics.mean(r.hardware_s for r in results)
    return {
        "n": n, "batch_wall": wall, "per_device_wall": per_device, "hardware": hardware,
        "device": statistics.mean(device), "overhead": per_device - hardware, "devices_per_hour": n / wall * 3600,
        "station_cpu": station_cpu + worker_cpu, "parent_cpu": station_cpu, "worker_cpu": worker_cpu,
        "worker_start": worker_start, "worker_start_cpu": sum(c for _, c in steps.worker_start.values()),
        "twin_cpu": twin_cpu, "steps": steps, "load": load(), "packets_per_device": packets, "seam": mode,
        "reaps_per_device": reaps[0], "empty_reaps_per_device": reaps[1], "ioctls_per_device": reaps[2],
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="twins as fast as the emulation runs (no device clock)")
    ap.add_argument("--sizes", default="1,8,24", help="comma-separated N values")
    ap.add_argument("--twins", choices=("remote", "inproc"), default="remote",
                    help="twins in a station sim serve process and its probe servers (default) or in this one")
    ap.add_argument("--probe", default="cmsis-dap-v2-hs", choices=PROBE_CHOICES,
                    help="the twins' debug-probe model (station sim create --probe); ideal = SWD wire time only")
    ap.add_argument("--workers", choices=("thread", "process"), default="thread",
                    help="each slot in a thread of this process (default) or in its own worker process")
    ap.add_argument("--seam", default="remote",
                    help="how the station reaches out-of-process probes: remote (pyocd probe servers), usb "
                         "(CMSIS-DAP v2 USB devices in a umockdev testbed), or both as remote,usb")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # --seam usb: one batch's station, under umockdev
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    seams = [x.strip() for x in args.seam.split(",") if x.strip()]
    if not seams or any(x not in ("remote", "usb") for x in seams):
        ap.error(f"--seam: expected remote, usb or remote,usb, got {args.seam!r}")
    if args.twins == "inproc":
        seams = ["inproc"]
    realtime = not args.fast
    if realtime:
        os.environ["STATION_SIM_REALTIME"] = "1"
    sizes = [int(x) for x in args.sizes.split(",")]
    where = {"remote": "out of process (station sim serve + pyocd probe servers)", "inproc": "in this process",
             "usb": "out of process (station sim serve; probes on umockdev USB)"}  # fmt: skip
    print(f"pipeline benchmark: demo-boron profile over SWD, {'realtime' if realtime else 'fast'} twins "
          f"{' / '.join(where[x] for x in seams)}, probe model {args.probe}, slots in {args.workers}s; "
          f"load {load()}")  # fmt: skip
    print(describe_machine())
    device_label = "SWD dev clock" if args.twins == "remote" else "device clock"
    print(f"{'seam':>6} {'N':>3} {'batch wall':>11} {'per device':>11} {'in hardware':>12} {device_label:>13} "
          f"{'overhead':>14} {'devices/h':>10} {'station CPU/dev':>16} {'slots/core':>10} {'twins CPU':>10} "
          f"{'pkts/dev':>9}  load")  # fmt: skip
    per_n = []
    with tempfile.TemporaryDirectory(prefix="station-bench-") as tmp:
        for seam in seams:
            for n in sizes:
                if seam == "usb":
                    r = run_usb_batch(n, realtime, Path(tmp) / "usb", args.probe, args.workers)
                else:
                    r = run_batch(n, realtime, Path(tmp) / seam, seam, args.probe, args.workers)
                r["seam"] = seam
                per_n.append(r)
                cpu_dev = r["station_cpu"] / n
                share = r["overhead"] / r["hardware"] if r["hardware"] else 0.0
                twin = f"{r['twin_cpu']:>9.1f}s" if seam != "inproc" else "  (inside)"
                pkts = f"{r['packets_per_device']:>9.0f}" if seam == "usb" else f"{'-':>9}"
                print(f"{seam:>6} {n:>3} {r['batch_wall']:>10.2f}s {r['per_device_wall']:>10.2f}s "
                      f"{r['hardware']:>11.2f}s {r['device']:>12.2f}s {r['overhead']:>7.2f}s {share:>5.1%} "
                      f"{r['devices_per_hour']:>10.0f} {cpu_dev:>15.3f}s {r['device'] / cpu_dev:>10.1f} {twin} "
                      f"{pkts}  {r['load']}")  # fmt: skip
    print("overhead = per-device wall - time inside hardware calls (goal <= 5 % of device time); "
          f"slots/core = {device_label} / station CPU per device (goal >= 24); pkts/dev = DAP command packets "
          "per device on the usb seam (each a bulk OUT URB and its IN URB)")
    for r in per_n:
        if args.workers == "process":
            print(f"{r['seam']} N={r['n']}: station CPU per device {r['station_cpu'] / r['n']:.3f}s = parent "
                  f"{r['parent_cpu'] / r['n']:.3f}s + worker {r['worker_cpu'] / r['n']:.3f}s; worker start "
                  f"{r['worker_start_cpu'] / r['n']:.3f}s CPU per slot, {r['worker_start']:.2f}s wall for all "
                  "(once per run, before the clock)  "
                  f"[load {r['load']}]")  # fmt: skip
            continue
        steps: StepCpu = r["steps"]
        parts = [(name, statistics.mean(v)) for name, v in steps.per_step.items()]
        parts.sort(key=lambda kv: -kv[1])
        outside = statistics.mean(steps.outside) if steps.outside else 0.0
        print(f"{r['seam']} N={r['n']}: station CPU per device by step (slot thread, mean): "
              + ", ".join(f"{k} {v:.3f}s" for k, v in parts) + f", between steps {outside:.3f}s  [load {r['load']}]")
        if r["n"] == 1:  # one slot: the whole process's CPU in a step is that device's (pyocd's receive thread too)
            whole = [(name, sum(v)) for name, v in steps.proc_per_step.items()]
            whole.sort(key=lambda kv: -kv[1])
            rest = r["station_cpu"] - sum(v for _, v in whole)
            print(f"{r['seam']} N=1: station CPU by step (whole process, every thread): "
                  + ", ".join(f"{k} {v:.3f}s" for k, v in whole) + f", outside steps {rest:.3f}s  [load {r['load']}]")
        if r["seam"] == "usb":
            print(f"usb N={r['n']}: per device {r['packets_per_device']:.0f} DAP packets, "
                  f"{r['reaps_per_device']:.0f} URBs reaped, {r['empty_reaps_per_device']:.0f} reaps that found "
                  f"none (EAGAIN), station CPU {r['station_cpu'] / r['n'] / max(r['packets_per_device'], 1) * 1e3:.2f} "
                  f"ms per DAP packet  [load {r['load']}]")
            emulated, real = r["ioctl_cpu"]
            ioctls = r["ioctls_per_device"]
            raw = r["station_cpu"] / r["n"]
            derived = raw - ioctls * (emulated - real)
            print(f"usb N={r['n']}: {ioctls:.0f} usbfs ioctls per device; one emulated ioctl costs this process "
                  f"{emulated * 1e6:.0f} us CPU, a kernel's {real * 1e6:.1f} us (measured after the batch); DERIVED, "
                  f"not measured: station CPU per device without the testbed's ioctl round trips <= {derived:.3f}s "
                  f"(raw {raw:.3f}s; URB memory moves over umockdev's socket not taken out), slots/core >= "
                  f"{r['device'] / derived if derived > 0 else float('inf'):.1f}  [load {r['load']}]")  # fmt: skip
    print(describe_machine() + "  (after the batches: a reference far above the first one's means the batches ran "
          "on a contended CPU, and their CPU seconds are inflated by as much)")


if __name__ == "__main__":
    main()
