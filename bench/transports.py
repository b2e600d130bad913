"""Benchmark of the station's flashing transports against twins in realtime mode (prints figures; not a test).

    python bench/transports.py            # the full Gen3 demo set (~0.8 MB), several minutes
    python bench/transports.py --quick    # the SoftDevice module only (150 KB), under a minute

In realtime mode a twin charges the physical cost of everything done to it (SWD bits at the probe
clock, NVMC word writes and page erases, USB full-speed control transfers; station/sim/clock.py)
and sleeps so wall time never runs ahead of that device time. Wall time is then what a station
on real hardware would take, give or take the emulator's own overhead. Four figures:

(a) ``PyocdSwdLink.program`` (verify on) as a fraction of the modelled physical limit, computed
    from the clock model's constants (formula printed with the result); goal >= 0.9.
(b) the same images as one Intel HEX through ``pyocd load`` (pyocd's own CLI, a subprocess, same
    4 MHz SWD clock) into a fresh twin, beside the station's wall time; goal station/CLI <= 1.0.
(c) ``open_dfu(device_id).program`` of the DFU-writable modules, as a fraction of its limit.
(d) eight slots programming in parallel threads vs one slot; goal <= 1.25x.
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

from station.domain import FlashImage
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


# ====================================================================== runs
@dataclass
class SwdRun:
    total_s: float  # open + program + close, what a slot spends
    program_s: float  # the program() call alone
    device_s: float  # device time the twin charged during program()
    report: FlashReport
    transfers: int


def swd_program(twin: Twin, images: list[FlashImage], *, verify: bool = True) -> SwdRun:
    t0 = time.perf_counter()
    with PyocdSwdLink(twin.identity.probe_uid, frequency=FREQUENCY) as link:
        start = twin.clock.snapshot()
        report = link.program(images, verify=verify)
        span = twin.clock.snapshot() - start
        transfers = int(link.session.probe.stats["transfers"])
    total = time.perf_counter() - t0
    check_flash(twin, images, "station SWD")
    return SwdRun(total, span.wall, span.device, report, transfers)


def pyocd_cli_load(twin: Twin, images: list[FlashImage], bench: Bench, workdir: Path) -> tuple[float, str]:
    """``pyocd load`` of the set as one Intel HEX; returns (wall seconds, pyocd's own summary line)."""
    hex_path = workdir / "demo.hex"
    hex_path.write_bytes(to_hex(images))
    exe = shutil.which("pyocd")
    cmd = [exe] if exe else [sys.executable, "-m", "pyocd"]
    cmd += ["load", "--no-config", "-j", str(workdir), "-u", twin.identity.probe_uid, "-t", "nrf52840"]
    cmd += ["-f", str(FREQUENCY), str(hex_path)]
    env = dict(os.environ, STATION_SIM_DIR=str(bench.path), STATION_SIM_REALTIME="1")
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


def parallel(twins: list[Twin], images: list[FlashImage]) -> tuple[float, list[SwdRun]]:
    runs: list[SwdRun] = []
    errors: list[BaseException] = []

    def slot(t: Twin) -> None:
        try:
            runs.append(swd_program(t, images))
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=slot, args=(t,)) for t in twins]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"a parallel slot failed: {errors[0]!r}")
    return wall, runs


# ====================================================================== report
def verdict(ok: bool) -> str:
    return "meets goal" if ok else "MISSES goal"


def run(quick: bool, slots: int) -> None:
    swd_set, dfu_set = image_sets(quick)
    print(f"realtime twins, SWD at {FREQUENCY / 1e6:g} MHz, {'quick' if quick else 'full'} run")
    print(f"SWD set: {describe(swd_set)}")
    print(f"DFU set: {describe(dfu_set)}")
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp) / "bench", realtime=True)
        bench.path.mkdir()
        backend.use_sim(bench.path)
        try:
            _run(bench, Path(tmp), swd_set, dfu_set, slots)
        finally:
            backend.stop_sim_hosts()
            backend.use_sim(None)
            set_default_bench(None)
            for twin in bench.twins():
                drop_chip(twin)
            forget_twins(bench.path)


def _run(bench: Bench, tmp: Path, swd_set: list[FlashImage], dfu_set: list[FlashImage], slots: int) -> None:
    warm, station, plain, cli, dfu_twin = bench.create(5, PLATFORM, seed=7, prefix="bench")
    with PyocdSwdLink(warm.identity.probe_uid) as link:  # pyocd's imports and plugin scan, once
        link.read_device_id()

    # (a) station SWD vs the physical limit
    print("\n(a) station SWD: PyocdSwdLink.program(verify=True) into a fresh twin")
    a = swd_program(station, swd_set)
    lim = swd_limit(swd_set, FREQUENCY, verify=True)
    print("    modelled physical limit = min(ERASEALL, P*t_erase) + W*t_word + W*b/f (carry) + P*b/f (CRC verify):")
    lim.show()
    print("    (the station erases all only after saving the MBR page and the UICR, which the set does not carry;"
          " the target's CPU time for CRCs is not modelled)")
    size = sum(len(i.data) for i in swd_set)
    r = a.report
    print(
        f"    program(): {a.program_s:.3f} s wall, {a.device_s:.3f} s device time, "
        f"{size / 1024 / a.program_s:.1f} KB/s; erase {r.erase_s:.2f} s, program {r.program_s:.2f} s, "
        f"verify {r.verify_s:.2f} s; {r.erase_strategy} erase, {r.details.get('sectors_erased')} sectors, "
        f"{a.transfers:,} SWD transfers ({a.transfers / words(swd_set):.3f} per word)"
    )
    frac = lim.total / a.program_s
    print(f"    fraction of the physical limit: {lim.total:.3f} / {a.program_s:.3f} = {frac:.3f}  "
          f"(goal >= 0.9: {verdict(frac >= 0.9)})")  # fmt: skip
    print(f"    whole slot (open + program + close): {a.total_s:.3f} s")

    # (b) station vs pyocd's own CLI, same images and clock
    print("\n(b) station vs `pyocd load` (subprocess, one Intel HEX, -f 4000000), each into a fresh twin")
    b = swd_program(plain, swd_set, verify=False)
    cli_s, cli_line = pyocd_cli_load(cli, swd_set, bench, tmp)
    print(f"    pyocd load (process start to exit):           {cli_s:8.3f} s   pyocd says: {cli_line}")
    print(
        f"    station, verify on  (open + program + close): {a.total_s:8.3f} s   ratio station/CLI {a.total_s / cli_s:.3f}"
    )
    print(f"    station, verify off (open + program + close): {b.total_s:8.3f} s   ratio station/CLI {b.total_s / cli_s:.3f}  "
          f"(like for like: pyocd load does not read back; goal <= 1.0: {verdict(b.total_s / cli_s <= 1.0)})")  # fmt: skip

    # (c) DFU
    print("\n(c) station DFU: open_dfu(device_id).program(verify=True) into a twin in DFU mode")
    boot = demo_images()["bootloader"]
    dfu_twin.flash[boot.address : boot.end] = boot.data  # DFU mode is served by the bootloader
    dlim = dfu_limit(dfu_set, verify=True)
    d_wall, d_dev, d_rep = dfu_program(dfu_twin, dfu_set)
    print("    modelled limit, u(n) = 1 ms + n / 1 MB/s per control transfer, t_erase 85 ms, t_word 41 us:")
    dlim.show()
    dsize = sum(len(i.data) for i in dfu_set)
    print(f"    program(): {d_wall:.3f} s wall, {d_dev:.3f} s device time, {dsize / 1024 / d_wall:.1f} KB/s; "
          f"erase {d_rep.erase_s:.2f} s, write {d_rep.program_s:.2f} s, verify {d_rep.verify_s:.2f} s")  # fmt: skip
    print(f"    fraction of the limit: {dlim.total:.3f} / {d_wall:.3f} = {dlim.total / d_wall:.3f}")

    # (d) eight slots at once
    print(
        f"\n(d) {slots} SWD slots in parallel threads (open + program(verify=True) + close each), fresh twins"
    )
    twins = bench.create(slots, PLATFORM, seed=8, prefix="slot")
    wall, runs = parallel(twins, swd_set)
    ratio = wall / a.total_s
    print(f"    one slot {a.total_s:.3f} s; {slots} slots {wall:.3f} s (slowest slot {max(x.total_s for x in runs):.3f} s, "
          f"device time each ~{sum(x.device_s for x in runs) / len(runs):.3f} s)")  # fmt: skip
    print(f"    ratio {slots} slots / 1 slot = {ratio:.3f}  (goal <= 1.25: {verdict(ratio <= 1.25)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="SoftDevice module only (< 1 minute)")
    ap.add_argument("--slots", type=int, default=8, help="parallel slots in (d)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    run(args.quick, args.slots)
    print(f"\nbenchmark took {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
