"""Benchmark of the station's flashing transports against twins in realtime mode (prints figures; not a test).

    python bench/transports.py                  # the full Gen3 demo set (~0.8 MB), N = 1, 8, 24 slots
    python bench/transports.py --quick          # the SoftDevice module only (150 KB)
    python bench/transports.py --twins inproc   # twins inside this process (the old measurement)
    python bench/transports.py --skip b,c,d     # only the floors and the station against them

By default every twin's SWD probe is served out of this process by pyocd's own probe server
(``station sim serve``'s :class:`~station.sim.serve.SwdPublisher`, one process per twin) and the
station reaches it as probe ``remote:localhost:PORT``: this process then holds no twin code on
the SWD path, so its CPU time is the station's alone and the twins' CPU is read from their own
processes. In realtime mode a twin charges the physical cost of everything done to it (SWD bits
at the probe clock, NVMC word writes and page erases, USB full-speed control transfers) and
sleeps so wall time never runs ahead of that device time. Figures, each with the load average:

(0) the physical floor of the SWD set derived from first principles (datasheet, USB 2.0 and
    CMSIS-DAP packet rules, not the twin's accounting): the optimistic limit (CMSIS-DAP v2 at USB
    high speed) and the pessimistic one (CMSIS-DAP v1 HID at full speed);
(a) ``PyocdSwdLink`` open + program + verify (as the pipeline calls them) into a fresh twin with
    each of those two probe models (``station sim create --probe``): wall time against that
    probe's floor and the twin's modelled device time; the station's CPU seconds per phase; DAP
    round trips and SWD transfers;
(b) the same images as one Intel HEX through ``pyocd load`` (pyocd's CLI, a subprocess, same SWD
    clock) at its default and with ``-e chip`` (like for like), beside the station;
(c) ``open_dfu(device_id).program`` of the DFU-writable modules against its modelled limit (the
    USB face stays in this process here);
(d) N slots in parallel threads (N = 1, 8, 24 by default): wall, ratio to one slot, the station
    process's CPU per device and the twins' CPU, and the slots one core could drive.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# Twins read this when they are opened; the pyocd subprocess inherits it.
os.environ["STATION_SIM_REALTIME"] = "1"

from machine import describe as describe_machine  # bench/machine.py: this script's directory is on sys.path

from station.domain import GEN3_ADDR_BOOTLOADER, GEN3_ADDR_SYSTEM_PART1, GEN3_ADDR_USER_PART, FlashImage
from station.firmware.demo import build_demo_modules
from station.firmware.images import to_hex
from station.firmware.module import module_flash_image, parse_module
from station.hw import backend
from station.hw.dfu import open_dfu
from station.hw.dfu_layout import parse_layout
from station.hw.interfaces import FlashReport
from station.hw.swd import PyocdSwdLink
from station.sim.bench import Bench, forget_twins, set_default_bench
from station.sim.chip import drop_chip
from station.sim.clock import (
    NVMC_ERASE_ALL_S,
    NVMC_PAGE_ERASE_S,
    NVMC_WORD_S,
    SWD_BITS_PER_TRANSFER,
    USB_CONTROL_TRANSFER_S,
    USB_FS_BYTES_PER_S,
)
from station.sim.device import Twin
from station.sim.probe_usb import PROBE_CHOICES
from station.sim.serve import SwdPublisher
from station.sim.usb_descriptors import INTERNAL_FLASH_LAYOUT

FREQUENCY = 4_000_000
PAGE = 4096
DFU_CHUNK = 4096
GETSTATUS_BYTES = 6
SET_ADDRESS_BYTES = 5
PLATFORM = "boron"


# ====================================================================== images
def demo_images() -> dict[str, FlashImage]:
    return {
        role: module_flash_image(data, parse_module(data), role)
        for role, data in build_demo_modules(PLATFORM).items()
    }


def image_sets(quick: bool) -> tuple[list[FlashImage], list[FlashImage]]:
    """(SWD set, DFU set). The bootloader's sectors are read-only over DFU, so DFU leaves it out."""
    imgs = demo_images()
    if quick:
        return [imgs["softdevice"]], [imgs["softdevice"]]
    swd = [imgs[r] for r in ("bootloader", "softdevice", "system-part1", "user-factory-test")]
    dfu = [imgs[r] for r in ("softdevice", "system-part1", "user-factory-test")]
    return swd, dfu


def describe(images: list[FlashImage]) -> str:
    size = sum(len(i.data) for i in images)
    return f"{', '.join(i.label.split()[0] for i in images)} = {size:,} bytes ({size / 1024:.0f} KB)"


def words(images: list[FlashImage]) -> int:
    return sum(math.ceil(len(i.data) / 4) for i in images)


def pages(images: list[FlashImage]) -> int:
    touched = {p for i in images for p in range(i.address // PAGE, (i.end - 1) // PAGE + 1)}
    return len(touched)


def check_flash(twin: Twin, images: list[FlashImage], who: str) -> None:
    for img in images:
        if bytes(twin.flash[img.address : img.end]) != img.data:
            raise SystemExit(f"{who}: {twin.name} flash does not hold {img.label} after programming")


# ====================================================================== limits (clock model)
@dataclass
class Limit:
    parts: list[tuple[str, float]]

    @property
    def total(self) -> float:
        return sum(s for _, s in self.parts)

    def show(self, indent: str = "    ") -> None:
        for what, s in self.parts:
            print(f"{indent}{what:<66} {s:8.3f} s")
        print(f"{indent}{'= limit':<66} {self.total:8.3f} s")


def swd_limit(images: list[FlashImage], hz: int, *, verify: bool) -> Limit:
    """The cheapest physical path: one erase (all or per page, whichever is shorter), W words carried
    over SWD once and written by the NVMC, and a verify that moves one CRC word per page."""
    p, w = pages(images), words(images)
    bit_s = SWD_BITS_PER_TRANSFER / hz
    per_page = p * NVMC_PAGE_ERASE_S
    erase = (
        (f"erase  ERASEALL     = {NVMC_ERASE_ALL_S * 1e3:.0f} ms (< {p} pages x {NVMC_PAGE_ERASE_S * 1e3:.0f} ms)",
         NVMC_ERASE_ALL_S)
        if NVMC_ERASE_ALL_S < per_page
        else (f"erase  P x t_erase = {p} x {NVMC_PAGE_ERASE_S * 1e3:.0f} ms", per_page)
    )  # fmt: skip
    parts = [
        erase,
        (f"write  W x t_word  = {w} x {NVMC_WORD_S * 1e6:.0f} us", w * NVMC_WORD_S),
        (f"carry  W x b / f   = {w} x {SWD_BITS_PER_TRANSFER} bits / {hz / 1e6:g} MHz", w * bit_s),
    ]
    if verify:
        parts.append((f"verify P x b / f   = {p} CRC words x {SWD_BITS_PER_TRANSFER} bits / {hz / 1e6:g} MHz",
                      p * bit_s))  # fmt: skip
    return Limit(parts)


def usb(nbytes: int) -> float:
    """One full-speed control transfer carrying ``nbytes`` (clock.py: 1 ms frame + bytes at 1 MB/s)."""
    return USB_CONTROL_TRANSFER_S + nbytes / USB_FS_BYTES_PER_S


def dfu_limit(images: list[FlashImage], *, verify: bool) -> Limit:
    """What DfuSe itself requires: per sector an ERASE command, per image one SET_ADDRESS, per
    4 KB block one DNLOAD; every DNLOAD answered by two GETSTATUS (busy with bwPollTimeout, then
    idle); NVMC erase and word writes; verify = one UPLOAD per block after one SET_ADDRESS per image."""
    layout = parse_layout(INTERNAL_FLASH_LAYOUT)
    sectors = {s.start for i in images for s in layout.sectors(i.address, len(i.data))}
    blocks = [min(DFU_CHUNK, len(i.data) - off) for i in images for off in range(0, len(i.data), DFU_CHUNK)]
    status2 = 2 * usb(GETSTATUS_BYTES)
    s, n, b = len(sectors), len(images), len(blocks)
    parts = [
        (f"erase  S x (cmd + 2 status + t_erase), S = {s} sectors", s * (usb(SET_ADDRESS_BYTES) + status2 + NVMC_PAGE_ERASE_S)),
        (f"address N x (cmd + 2 status), N = {n} images", n * (usb(SET_ADDRESS_BYTES) + status2)),
        (f"blocks B x (DNLOAD + 2 status), B = {b} blocks of <= 4 KB", sum(usb(x) for x in blocks) + b * status2),
        (f"write  W x t_word, W = {words(images)} words", words(images) * NVMC_WORD_S),
    ]  # fmt: skip
    if verify:
        parts.append(
            (
                "verify N x (cmd + 2 status) + B x UPLOAD",
                n * (usb(SET_ADDRESS_BYTES) + status2) + sum(usb(x) for x in blocks),
            )
        )
    return Limit(parts)


# ====================================================================== floor (first principles)
#: nRF52840 Product Specification v1.7, §4.3.9 (NVMC electrical specification): the one figure the PS
#: gives per operation, which the twin also charges. No faster "typical" NVMC figure was found in
#: Nordic's material reachable here (docs/boot-chain.md, "Timing"), so both limits below use these.
T_WORD_S = 41e-6  # t_WRITE, one 32-bit word
T_ERASEALL_S = 169e-3  # t_ERASEALL
T_ERASEPAGE_S = 85e-3  # t_ERASEPAGE
#: One SWD data transfer: 8 request + 1 turnaround + 3 ACK + 32 data + 1 parity (+ 1 turnaround on reads)
SWD_BITS = 46


@dataclass(frozen=True)
class ProbeFloor:
    """What a CMSIS-DAP probe's USB link allows, from the USB 2.0 and CMSIS-DAP facts alone.

    A DAP_TransferBlock write packet spends 1 (command) + 1 (DAP index) + 2 (count) + 1 (request)
    bytes before its words (pyocd/probe/pydapaccess/dap_access_cmsis_dap.py, _get_free_transfers),
    so a packet of P bytes carries floor((P - 5) / 4) words. v1 is HID: one 64-byte report per 1 ms
    frame (interrupt endpoint, bInterval 1). v2 is bulk: at high speed at most 13 512-byte packets
    per 125 us microframe (USB 2.0 §5.8.4, table 5-10).
    """

    name: str
    title: str
    packet_bytes: int
    slot_s: float  # the shortest spacing of two packets one way
    frame_s: float  # (micro)frame: the earliest a waited-for answer comes back

    @property
    def words_per_packet(self) -> int:
        return (self.packet_bytes - 5) // 4


#: the optimistic and the pessimistic probe (names as ``station sim create --probe``)
PROBES = (
    ProbeFloor("cmsis-dap-v2-hs", "optimistic: CMSIS-DAP v2, USB high speed", 512, 125e-6 / 13, 125e-6),
    ProbeFloor("cmsis-dap-v1-fs", "pessimistic: CMSIS-DAP v1 (HID), USB full speed", 64, 1e-3, 1e-3),
)


def floor(images: list[FlashImage], hz: int, probe: ProbeFloor) -> tuple[float, str]:
    """(seconds, how) for the set through ``probe``: the least time any station could take.

    pyocd programs through the nRF52840 flash algorithm with two RAM page buffers: the host carries
    page n+1 while the NVMC writes page n. So once the first page is across, the wall is the larger
    of NVMC time and carry time, plus one erase-all (the set is complete) and the CRC verify (a word
    per page, negligible). A packet carries its words no faster than the probe clocks them out
    (SWD_BITS per word at ``hz``) and no faster than the bus moves packets (one per slot).
    """
    p, w = pages(images), words(images)
    if complete_set(images):
        erase, erase_how = T_ERASEALL_S, f"t_ERASEALL {T_ERASEALL_S * 1e3:.0f} ms"
    else:  # a partial set may only erase its own pages
        erase, erase_how = p * T_ERASEPAGE_S, f"{p} pages x t_ERASEPAGE {T_ERASEPAGE_S * 1e3:.0f} ms"
    nvmc = w * T_WORD_S
    per_packet = max(probe.slot_s, probe.words_per_packet * SWD_BITS / hz)
    bound = "USB" if probe.slot_s >= probe.words_per_packet * SWD_BITS / hz else "SWD"
    packets = math.ceil(w / probe.words_per_packet)
    carry = packets * per_packet
    first = math.ceil(1024 / probe.words_per_packet) * per_packet
    total = erase + first + max(nvmc, carry)
    how = (f"{erase_how} + first page {first * 1e3:.1f} ms + max(NVMC {w} words x {T_WORD_S * 1e6:.0f} us = "
           f"{nvmc:.2f} s, carry {packets} packets of {probe.words_per_packet} words x {per_packet * 1e3:.3f} ms "
           f"({bound}-bound at {hz / 1e6:g} MHz) = {carry:.2f} s)")  # fmt: skip
    return total, how


def complete_set(images: list[FlashImage]) -> bool:
    """Bootloader, system part and user part: the station may erase the whole chip (hw.swd.choose_erase)."""
    starts = {i.address for i in images}
    return (
        GEN3_ADDR_BOOTLOADER in starts
        and GEN3_ADDR_SYSTEM_PART1 in starts
        and any(GEN3_ADDR_USER_PART <= a < GEN3_ADDR_BOOTLOADER for a in starts)
    )


# ====================================================================== cpu and load
def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def proc_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


class RoundTrips:
    """Counts the requests pyocd's remote probe client sends (each one a socket round trip)."""

    def __init__(self) -> None:
        from pyocd.probe import tcp_client_probe

        self.count = 0
        self.by_request: dict[str, int] = {}
        cls = tcp_client_probe.TCPClientProbe
        original = cls._perform_request_without_raise
        lock = threading.Lock()

        def counted(probe: object, request: str, *args: object) -> object:
            with lock:
                self.count += 1
                self.by_request[request] = self.by_request.get(request, 0) + 1
            return original(probe, request, *args)  # type: ignore[arg-type]

        cls._perform_request_without_raise = counted  # type: ignore[assignment,method-assign]


ROUND_TRIPS = RoundTrips()


class Twins:
    """Fresh twins and the probe uid a station uses for each: served out of process, or in this one."""

    def __init__(self, bench: Bench, mode: str, per_process: int = 1, probe: str = "cmsis-dap-v2-hs") -> None:
        self.bench = bench
        self.probe = probe  # the probe model of the twins of (b) and (d)
        self.mode = mode
        self.per_process = per_process
        self.publishers: list[SwdPublisher] = []
        self.uids: dict[str, str] = {}

    def create(self, n: int, seed: int, prefix: str, probe: str | None = None) -> list[Twin]:
        twins = self.bench.create(n, PLATFORM, seed=seed, prefix=prefix, probe=probe or self.probe)
        if self.mode == "remote":
            pub = SwdPublisher(self.bench, names=[t.name for t in twins], per_process=self.per_process)
            pub.start()
            self.publishers.append(pub)
            self.uids.update({t.name: pub.remote_uid(t.name) for t in twins})
        else:
            self.uids.update({t.name: t.identity.probe_uid for t in twins})
        return twins

    def uid(self, twin: Twin) -> str:
        return self.uids[twin.name]

    def pids(self) -> list[int]:
        return [pid for pub in self.publishers for pid in pub.pids()]

    def stop(self) -> None:
        for pub in self.publishers:
            pub.stop()


# ====================================================================== runs
@dataclass
class SwdRun:
    total_s: float  # open + program + verify + close, what a slot spends
    program_s: float  # program() + verify() wall
    device_s: float  # device time the twin charged during them
    report: FlashReport
    transfers: int
    cpu: dict[str, float]  # this thread's CPU seconds per phase (the station's own work)
    round_trips: int  # requests to a remote probe server during program + verify (0 in process)
    usb: dict[str, int]  # DAP packets and waited-for answers under the twin's probe model


def _probe_figures(link: PyocdSwdLink) -> tuple[float, int, dict[str, int]]:
    """The twin's device clock, SWD transfer count and USB packet/wait counts, local or through the
    probe server's ``readprop``."""
    probe = link.session.probe
    if hasattr(probe, "stats"):  # the twin's probe, in this process
        return float(probe.device_seconds), int(probe.stats["transfers"]), dict(probe.usb_stats)
    read = probe._read_property  # pyocd's remote probe: ask the server for the twin probe's attribute
    return float(read("device_seconds")), int(read("transfer_stats")["transfers"]), dict(read("usb_stats"))


def swd_program(twins: Twins, twin: Twin, images: list[FlashImage], *, verify: bool = True) -> SwdRun:
    cpu: dict[str, float] = {}
    t0 = time.perf_counter()
    c = time.thread_time()
    link = PyocdSwdLink(twins.uid(twin), frequency=FREQUENCY)
    link.__enter__()
    try:
        cpu["connect"] = time.thread_time() - c
        dev0, tr0, usb0 = _probe_figures(link)
        rt0 = ROUND_TRIPS.count
        w0, c = time.perf_counter(), time.thread_time()
        report = link.program(images, verify=False)
        cpu["erase decision + program"] = time.thread_time() - c
        if verify:
            c = time.thread_time()
            vt = time.perf_counter()
            link.verify(images)
            report.verify_s = time.perf_counter() - vt
            report.verified = True
            cpu["verify"] = time.thread_time() - c
        wall = time.perf_counter() - w0
        round_trips = ROUND_TRIPS.count - rt0
        dev1, tr1, usb1 = _probe_figures(link)
    finally:
        c = time.thread_time()
        link.close()
        cpu["close"] = time.thread_time() - c
    total = time.perf_counter() - t0
    check_flash(twin, images, "station SWD")
    usb = {k: usb1[k] - usb0.get(k, 0) for k in usb1}
    return SwdRun(total, wall, dev1 - dev0, report, tr1 - tr0, cpu, round_trips, usb)


def pyocd_cli_load(
    twins: Twins, twin: Twin, images: list[FlashImage], workdir: Path, extra: list[str]
) -> tuple[float, str]:
    """``pyocd load`` of the set as one Intel HEX; returns (wall seconds, pyocd's own summary line)."""
    hex_path = workdir / "demo.hex"
    hex_path.write_bytes(to_hex(images))
    exe = shutil.which("pyocd")
    cmd = [exe] if exe else [sys.executable, "-m", "pyocd"]
    cmd += ["load", "--no-config", "-j", str(workdir), "-u", twins.uid(twin), "-t", "nrf52840"]
    cmd += ["-f", str(FREQUENCY), *extra, str(hex_path)]
    env = dict(os.environ, STATION_SIM_DIR=str(twins.bench.path), STATION_SIM_REALTIME="1")
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"pyocd load failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    check_flash(twin, images, "pyocd load")
    lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if re.search(r"kB/s", ln)]
    return wall, (lines[-1] if lines else "(pyocd printed no summary)")


def dfu_program(twin: Twin, images: list[FlashImage]) -> tuple[float, float, FlashReport]:
    with open_dfu(twin.device_id) as dfu:
        start = twin.clock.snapshot()
        report = dfu.program(images, verify=True)
        span = twin.clock.snapshot() - start
    check_flash(twin, images, "station DFU")
    return span.wall, span.device, report


@dataclass
class Batch:
    wall: float
    runs: list[SwdRun]
    station_cpu: float  # this process, whole batch
    twin_cpu: float  # the probe server processes, whole batch (0 when the twins are in this process)


def parallel(twins: Twins, fresh: list[Twin], images: list[FlashImage]) -> Batch:
    runs: list[SwdRun] = []
    errors: list[BaseException] = []

    def slot(t: Twin) -> None:
        try:
            runs.append(swd_program(twins, t, images))
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    pids = twins.pids()
    tc0, c0, t0 = proc_cpu(pids), time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=slot, args=(t,)) for t in fresh]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    station, twin = time.process_time() - c0, proc_cpu(pids) - tc0
    if errors:
        raise SystemExit(f"a parallel slot failed: {errors[0]!r}")
    return Batch(wall, runs, station, twin)


# ====================================================================== report
def verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def run(quick: bool, sizes: list[int], mode: str, per_process: int = 1, probe: str = "cmsis-dap-v2-hs",
        skip: set[str] | None = None) -> None:
    swd_set, dfu_set = image_sets(quick)
    where = (f"out of process (pyocd probe servers, {per_process} twin(s) per process; station uses remote: probes)"
             if mode == "remote"
             else "in this process (the twins' emulation shares the station's CPU and GIL)")  # fmt: skip
    print(f"realtime twins {where}; SWD at {FREQUENCY / 1e6:g} MHz, {'quick' if quick else 'full'} run; {load()}")
    print(f"SWD set: {describe(swd_set)}")
    print(f"DFU set: {describe(dfu_set)}")
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp) / "bench", realtime=True)
        bench.path.mkdir()
        twins = Twins(bench, mode, per_process, probe)
        if mode == "inproc":
            set_default_bench(bench.path)
        try:
            _run(twins, Path(tmp), swd_set, dfu_set, sizes, skip or set())
        finally:
            twins.stop()
            backend.stop_sim_hosts()
            backend.use_sim(None)
            set_default_bench(None)
            for twin in bench.twins():
                drop_chip(twin)
            forget_twins(bench.path)


def _run(
    twins: Twins, tmp: Path, swd_set: list[FlashImage], dfu_set: list[FlashImage], sizes: list[int], skip: set[str]
) -> None:
    (warm,) = twins.create(1, seed=6, prefix="warm")
    with PyocdSwdLink(twins.uid(warm)) as link:  # pyocd's imports and plugin scan, once
        link.read_device_id()

    # (0) the floors
    print(f"\n(0) physical floor of the SWD set, from first principles (nRF52840 PS v1.7 NVMC figures; USB 2.0 and "
          f"CMSIS-DAP packet rules; SWD at {FREQUENCY / 1e6:g} MHz):")  # fmt: skip
    floors = {pr.name: floor(swd_set, FREQUENCY, pr) for pr in PROBES}
    for pr in PROBES:
        secs, how = floors[pr.name]
        print(f"    {pr.title:<50} {secs:7.3f} s   = {how}")
    floor_hs = floors[PROBES[0].name][0]

    # (a) station SWD through each probe
    size = sum(len(i.data) for i in swd_set)
    a: SwdRun | None = None
    for i, pr in enumerate(PROBES):
        print(f"\n(a{i + 1}) station SWD through a {pr.name} twin: PyocdSwdLink open, program(verify=False), "
              f"verify(), close into a fresh twin  [{load()}]")  # fmt: skip
        (station,) = twins.create(1, seed=7 + 100 * i, prefix=f"station-{pr.name}-", probe=pr.name)
        run_ = swd_program(twins, station, swd_set)
        a = a or run_
        r = run_.report
        fl = floors[pr.name][0]
        print(f"    program + verify: {run_.program_s:.3f} s wall, twin device time {run_.device_s:.3f} s, "
              f"{size / 1024 / run_.program_s:.1f} KB/s; erase {r.erase_s:.2f} s, program {r.program_s:.2f} s, "
              f"verify {r.verify_s:.2f} s; {r.erase_strategy} erase; {run_.transfers:,} SWD transfers "
              f"({run_.transfers / words(swd_set):.3f} per word)")  # fmt: skip
        if run_.usb:
            waited = run_.usb["waits"] * pr.frame_s
            print(f"    the probe model's USB traffic: {run_.usb['packets']:,} DAP packets; {run_.usb['waits']:,} times "
                  f"the host waited for an answer, one (micro)frame each = {waited:.2f} s the floor leaves out")  # fmt: skip
        print(f"    {pr.title.split(':')[0]} limit {fl:.3f} s / station {run_.program_s:.3f} s = {fl / run_.program_s:.3f}; "
              f"twin device time / wall = {run_.device_s / run_.program_s:.3f}  [{load()}]")  # fmt: skip
        cpu = sum(run_.cpu.values())
        print("    station CPU (this thread, user+system) per phase: "
              + ", ".join(f"{k} {v:.3f} s" for k, v in run_.cpu.items()) + f"; total {cpu:.3f} s")
        print(f"    whole slot (open + program + verify + close): {run_.total_s:.3f} s  [{load()}]")
        if run_.round_trips:
            top = sorted(ROUND_TRIPS.by_request.items(), key=lambda kv: -kv[1])[:4]
            print(f"    pyocd remote probe round trips during program + verify: {run_.round_trips:,} "
                  f"({run_.round_trips / run_.program_s:.0f}/s, {run_.program_s / run_.round_trips * 1e3:.2f} ms each; "
                  f"so far by request: {', '.join(f'{k} {v:,}' for k, v in top)})")  # fmt: skip
    assert a is not None
    lim = swd_limit(swd_set, FREQUENCY, verify=True)
    print(f"    (the twin's own serial accounting without a probe model, station.sim.clock, gives {lim.total:.3f} s: "
          f"not a limit, only what the emulator charges)")  # fmt: skip

    # (b) station vs pyocd's own CLI, same images and clock
    if "b" not in skip:
        print(f"\n(b) station vs `pyocd load` (subprocess, one Intel HEX, -f {FREQUENCY}), each into a fresh twin (probe model {twins.probe})")
        plain, cli_default, cli_chip = twins.create(3, seed=9, prefix="cli")
        b = swd_program(twins, plain, swd_set, verify=False)
        d_s, d_line = pyocd_cli_load(twins, cli_default, swd_set, tmp, [])
        c_s, c_line = pyocd_cli_load(twins, cli_chip, swd_set, tmp, ["-e", "chip"])
        print(f"    pyocd load (default, sector erase):     {d_s:8.3f} s   pyocd says: {d_line}  [{load()}]")
        print(f"    pyocd load -e chip (like for like):     {c_s:8.3f} s   pyocd says: {c_line}  [{load()}]")
        print(f"    station, verify off (open .. close):    {b.total_s:8.3f} s   station/CLI default {b.total_s / d_s:.3f}, "
              f"station/CLI -e chip {b.total_s / c_s:.3f} (goal <= 1.0: {verdict(b.total_s / c_s <= 1.0)})")  # fmt: skip
        print(f"    station, verify on ({PROBES[0].name}, a1):   {a.total_s:8.3f} s   station/CLI -e chip {a.total_s / c_s:.3f}")

    # (c) DFU (the USB face in this process)
    if "c" not in skip:
        print("\n(c) station DFU: open_dfu(device_id).program(verify=True) into a twin in DFU mode (twin in this process)")
        backend.use_sim(twins.bench.path)
        (dfu_twin,) = twins.bench.create(1, PLATFORM, seed=10, prefix="dfu")
        boot = demo_images()["bootloader"]
        dfu_twin.flash[boot.address : boot.end] = boot.data  # DFU mode is served by the bootloader
        dlim = dfu_limit(dfu_set, verify=True)
        d_wall, d_dev, d_rep = dfu_program(dfu_twin, dfu_set)
        print("    modelled limit, u(n) = 1 ms + n / 1 MB/s per control transfer, t_erase 85 ms, t_word 41 us:")
        dlim.show()
        dsize = sum(len(i.data) for i in dfu_set)
        print(f"    program(): {d_wall:.3f} s wall, {d_dev:.3f} s device time, {dsize / 1024 / d_wall:.1f} KB/s; "
              f"erase {d_rep.erase_s:.2f} s, write {d_rep.program_s:.2f} s, verify {d_rep.verify_s:.2f} s")  # fmt: skip
        print(f"    fraction of the limit: {dlim.total:.3f} / {d_wall:.3f} = {dlim.total / d_wall:.3f}  [{load()}]")

    # (d) N slots at once
    if "d" not in skip:
        print("\n(d) N SWD slots in parallel threads (open + program + verify + close each), fresh twins")
        print(f"    {'N':>3} {'wall':>8} {'ratio':>6} {'slowest':>8} {'station CPU':>12} {'per device':>11} "
              f"{'twins CPU':>10} {'slots/core':>10}  load")
        one: float | None = None
        for i, n in enumerate(sizes):
            fresh = twins.create(n, seed=20 + i, prefix=f"n{n}-")
            batch = parallel(twins, fresh, swd_set)
            one = one if one is not None else (batch.wall if n == 1 else a.total_s)
            per = batch.station_cpu / n
            twin_cpu = f"{batch.twin_cpu:9.2f}s" if twins.mode == "remote" else "  (inside)"
            print(f"    {n:>3} {batch.wall:>7.2f}s {batch.wall / one:>6.2f} {max(x.total_s for x in batch.runs):>7.2f}s "
                  f"{batch.station_cpu:>11.2f}s {per:>10.3f}s {twin_cpu} {floor_hs / per:>10.1f}  {load()}")  # fmt: skip
        print("    ratio = wall / wall of one slot; slots/core = floor (high-speed probe) / station CPU per device;"
              " goal >= 24 slots per core")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="SoftDevice module only")
    ap.add_argument("--sizes", default="1,8,24", help="comma-separated slot counts for (d)")
    ap.add_argument("--twins", choices=("remote", "inproc"), default="remote",
                    help="twins behind pyocd probe servers in their own processes (default) or in this one")
    ap.add_argument("--twins-per-process", type=int, default=1, help="twins per probe server process")
    ap.add_argument("--probe", default="cmsis-dap-v2-hs", choices=PROBE_CHOICES,
                    help="probe model of the twins in (b) and (d); (a) runs both the optimistic and the pessimistic one")
    ap.add_argument("--skip", default="", help="comma-separated sections to leave out: b (pyocd load), c (DFU), d (slots)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if skip - {"b", "c", "d"}:  # a mistyped section would silently run the whole bench
        ap.error(f"--skip takes b, c and d, not {', '.join(sorted(skip - {'b', 'c', 'd'}))}")
    print(describe_machine())
    t0 = time.perf_counter()
    run(args.quick, [int(x) for x in args.sizes.split(",")], args.twins, args.twins_per_process, args.probe, skip)
    print(f"\nbenchmark took {time.perf_counter() - t0:.0f} s  [{load()}]")


if __name__ == "__main__":
    main()
