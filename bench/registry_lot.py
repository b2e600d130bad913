"""A realistic 100k-device lot for the registry benchmarks, and a child-process meter.

The lot has the shape one real run of the demo profile leaves in the registry (captured from a
twin run of ``station/profile/demo_profiles/demo-boron.toml``): per attempt 12 steps with their details, 16
measurements, 5 flash records and 3 labels. A share of the devices (``--fail-share``) fail their
first attempt at ``functional-tests`` and pass a second one, so yields and the failure Pareto have
something to count. Rows go in through Core ``INSERT`` into the same tables the registration path
writes, so the queries measured are the ones a station runs on its own data.

Every command is measured in a child process of its own: its wall time, its CPU (user + system,
from the children's resource usage; on a shared 2-core machine the wall time is mostly the
load's), and the peak RSS printed is that
child's own high-water mark (``VmHWM`` of its address space, read by the child as it exits), not the
benchmark's. ``os.wait4``'s ``ru_maxrss`` is not that figure on Linux: a child started by
``subprocess`` (vfork + exec) inherits the parent's high-water mark at exec, so every command
measured after the lot was loaded in process showed the benchmark's 135 MB, whatever it used.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from station.store import Registry
from station.store.models import Attempt, Device, Flash, Label, Measurement, OutboxRow, Step

STEPS: list[tuple[str, float, dict[str, Any]]] = [
    ("connect", 0.61, {"probe": "SIM1CFF4DCA8350"}),
    ("identify", 0.005, {"device_id": None}),
    ("registry-check", 0.0001, {"attempts_before": 0}),
    ("flash", 1.38, {"bytes_written": 786432, "bytes_skipped": 4096, "erase_s": 0.0212, "program_s": 1.2338,
                     "verify_s": 0.0, "erase_strategy": "chip", "erase_estimate_s": 0.085,
                     "pages_programmed": 192, "pages_skipped": 1, "sectors_erased": 192,
                     "uicr_words_restored": 0,
                     "modules": ["bootloader v2300", "softdevice v202", "system-part1 v5900",
                                 "user-factory-test v6"]}),
    ("verify", 0.039, {"bytes": 784360}),
    ("start-test-firmware", 0.129, {"port": "/dev/pts/0", "app": "boron-factory-test", "serial_number": None}),
    ("functional-tests", 0.282, {"measurements": 16, "passed": True}),
    ("flash-final", 0.111, {"bytes_written": 49152, "bytes_skipped": 0, "erase_s": 0.04, "program_s": 0.0698,
                            "verify_s": 0.0, "erase_strategy": "sector", "pages_programmed": 12,
                            "pages_skipped": 0, "sectors_erased": 12}),
    ("verify-final", 0.006, {"bytes": 49152}),
    ("secure-state", 0.0003, {"state": "halted"}),
    ("register", 0.009, {"lot": "BIG"}),
    ("label", 0.058, {"files": ["labels/BIG/{d}.png", "labels/BIG/{d}.pdf", "labels/BIG/{d}.zpl"]}),
]
#: (step, name, value, text, unit, low, high, expected)
MEASUREMENTS: list[tuple[str, str, float | None, str | None, str | None, float | None, float | None, str | None]] = [
    ("hello", "hello", None, "factory-test", None, None, None, "factory-test"),
    ("battery", "battery", 4.1, None, "V", 3.5, 4.3, "3.50..4.30 V"),
    ("vin", "vin", 5.09, None, "V", 4.5, 5.5, "4.50..5.50 V"),
    ("modem", "modem", None, "OK", None, None, None, "OK"),
    ("cellular-ids", "imei", None, "358839006108889", None, None, None, "15 digits, Luhn"),
    ("cellular-ids", "iccid", None, "8934076245893366320", None, None, None, "19-20 digits, Luhn"),
    ("device-id", "swd", None, "{d}", None, None, None, "{d}"),
    ("device-id", "serial", None, "{d}", None, None, None, "{d}"),
    ("versions", "device-os", None, "5.9.0", None, None, None, "5.9.0"),
    ("versions", "bootloader", 2300.0, None, None, None, None, "2300"),
    ("versions", "softdevice", 202.0, None, None, None, None, "202"),
    ("versions", "system-part1", 5900.0, None, None, None, None, "5900"),
    ("versions", "user-factory-test", 6.0, None, None, None, None, "6"),
    ("approtect-open", "approtect-open", 4294967295.0, "0xffffffff", None, None, None, "0xff or 0x5a"),
    ("led-green", "led-green", None, "green", None, None, None, None),
    ("led", "led", None, "yes", None, None, None, "yes"),
]
FLASHES = [("bootloader", 2, 0, 2300, 999424), ("softdevice", 8, 0, 202, 4096), ("system-part1", 4, 1, 5900, 163840),
           ("user-factory-test", 5, 1, 6, 974848), ("user-product", 5, 1, 6, 950272)]


def device_id(i: int) -> str:
    return f"e00fce68{i:016x}"


def load_lot(reg: Registry, n: int, lot: str = "BIG", fail_every: int = 33, chunk: int = 2000) -> int:
    """Insert ``n`` devices of a realistic lot; returns the number of attempts written."""
    pid = reg.ensure_product(name="bench", platform="boron", particle_product="bench-product",
                             peridio_product_prn="prn:1:bench:product:bench")
    prof = reg.ensure_profile(product_id=pid, path="bench.toml", sha256="be" * 32, content="[bench]")
    lot_id = reg.ensure_lot(lot, product_id=pid)
    t0 = datetime(2026, 1, 1)
    attempts = 0
    with reg.session() as s:
        next_id = int(s.execute(Attempt.__table__.select().with_only_columns(
            Attempt.id).order_by(Attempt.id.desc()).limit(1)).scalar() or 0) + 1
    for base in range(0, n, chunk):
        devs, atts, steps, meas, flashes, labels, outbox = [], [], [], [], [], [], []
        for i in range(base, min(n, base + chunk)):
            did = device_id(i)
            start = t0 + timedelta(seconds=15 * i)
            devs.append({"device_id": did, "platform": "boron", "product_id": pid, "lot_id": lot_id,
                         "registrations": 1, "first_seen": start, "serial_number": f"SN{i:07d}",
                         "imei": "358839006108889", "iccid": "8934076245893366320",
                         "device_os_version": "5.9.0", "product_firmware_version": "6",
                         "registered_at": start + timedelta(seconds=12), "registered_attempt_id": None})
            tries = ["failed", "passed"] if i % fail_every == 7 else ["passed"]
            for k, outcome in enumerate(tries):
                aid = next_id
                next_id += 1
                attempts += 1
                begin = start + timedelta(seconds=20 * k)
                atts.append({"id": aid, "device_id": did, "lot_id": lot_id, "profile_id": prof, "station": "bench",
                             "slot": str(1 + i % 8), "operator": "bench", "transport": "swd", "overrides": [],
                             "registrations_seen": 0, "started_at": begin,
                             "finished_at": begin + timedelta(seconds=12), "outcome": outcome,
                             "failing_step": "battery" if outcome == "failed" else None,
                             "reason": "battery 2.9 V outside 3.50..4.30 V" if outcome == "failed" else None})
                for name, dur, details in STEPS:
                    d = dict(details)
                    if "device_id" in d:
                        d["device_id"] = did
                    if "serial_number" in d:
                        d["serial_number"] = f"SN{i:07d}"
                    if "files" in d:
                        d["files"] = [f.format(d=did) for f in d["files"]]
                    steps.append({"attempt_id": aid, "name": name, "started_at": begin, "duration_s": dur,
                                  "outcome": "passed", "reason": None, "details": d})
                for step, name, value, text, unit, low, high, expected in MEASUREMENTS:
                    bad = outcome == "failed" and name == "battery"
                    meas.append({"attempt_id": aid, "device_id": did, "lot_id": lot_id, "step": step, "name": name,
                                 "value_num": 2.9 if bad else value,
                                 "value_text": text.format(d=did) if text else None, "unit": unit, "low": low,
                                 "high": high, "expected": expected.format(d=did) if expected else None,
                                 "regex": None, "passed": not bad, "duration_s": 0.001, "try_number": 1})
                for role, fn, idx, ver, addr in FLASHES:
                    flashes.append({"attempt_id": aid, "device_id": did, "module_sha256": "ab" * 32, "function": fn,
                                    "module_index": idx, "version": ver, "address": addr, "role": role})
                if outcome == "passed":
                    devs[-1]["registered_attempt_id"] = aid
                    for fmt in ("png", "pdf", "zpl"):
                        labels.append({"device_id": did, "attempt_id": aid, "path": f"labels/BIG/{did}.{fmt}",
                                       "fmt": fmt, "printed_at": begin + timedelta(seconds=12)})
                    outbox.append({"device_id": did, "attempt_id": aid, "target": "particle", "stage": "import",
                                   "payload": {"product": "bench-product", "groups": [], "import_sims": False,
                                               "claim_user": None},
                                   "state": "pending", "tries": 0, "next_try_at": begin, "created_at": begin})
        with reg.session() as s:
            for model, rows in ((Device, devs), (Attempt, atts), (Step, steps), (Measurement, meas),
                                (Flash, flashes), (Label, labels), (OutboxRow, outbox)):
                s.execute(insert(model), rows)
    return attempts


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float  # the child's user + system CPU: what the command costs, whatever the machine's load
    peak_rss_mb: float
    returncode: int
    stderr: str


#: Runs ``python -m station ARGS`` in this interpreter and, at exit, writes the process's own
#: peak RSS (``VmHWM``, kB) to the file named by the first argument.
_METER = """\
import atexit, runpy, sys
out = sys.argv.pop(1)
def _hwm():
    with open('/proc/self/status') as f:
        kb = next(line.split()[1] for line in f if line.startswith('VmHWM:'))
    with open(out, 'w') as f:
        f.write(kb)
atexit.register(_hwm)
sys.argv[0] = 'station'
runpy.run_module('station', run_name='__main__', alter_sys=True)
"""


def run_child(args: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``station ARGS`` as a child process; its wall time and its own peak RSS (``VmHWM``)."""
    fd, hwm = tempfile.mkstemp(suffix=".hwm")
    os.close(fd)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", _METER, hwm, *args], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the one child reaped since ``before``
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        text = Path(hwm).read_text().strip()
    finally:
        Path(hwm).unlink(missing_ok=True)
    rss_mb = int(text) / 1024 if text else float("nan")
    return Measured(wall, cpu, rss_mb, p.returncode, p.stderr.decode(errors="replace")[-400:])


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def chunks(it: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(it), size):
        yield it[i:i + size]
