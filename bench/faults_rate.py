"""Pass rate and time of whole SWD provisioning runs at injected SWD fault rates (prints figures; not a test).

    python bench/faults_rate.py                    # 0, 0.1 %, 0.5 %, 1 %; 4 devices each
    python bench/faults_rate.py --devices 8 --rates 0.005,0.02
    python bench/faults_rate.py --realtime         # twins charge real device time (slower)

Each twin answers FAULT to that share of its DAP transfer requests from the first one on (the
twin's ``swd_fault_rate``: the access is refused and CTRL/STAT.STICKYERR held until ABORT, as an
ADIv5 SW-DP does). The devices run the demo profile end to end in parallel slots (connect, flash
the Device OS set and factory-test firmware, verify, functional tests over serial, product
firmware, verify, register, label) with twins in this process. Printed per rate, with the load
average: devices passed, batch wall, mean per-device wall, mean SWD device time, FAULTs injected
and accesses refused (the twins' probes), and the failure reasons of the devices that failed.

Issue 10 item 10 saw 0 of 16 devices pass at 0.5 % before transient faults were retried.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


class ProbeStats:
    """Sums the FAULT counters of every twin probe pyocd opens in this process."""

    def __init__(self) -> None:
        from station.sim.probe import SimProbe

        self.totals: collections.Counter[str] = collections.Counter()
        original = SimProbe.close
        totals = self.totals

        def close(probe: Any) -> None:
            totals.update({k: probe.stats.get(k, 0) for k in ("faults", "refused", "calls")})
            probe.stats = {k: 0 for k in probe.stats}
            original(probe)

        SimProbe.close = close  # type: ignore[method-assign]

    def take(self) -> dict[str, int]:
        out = dict(self.totals)
        self.totals.clear()
        return out


def run_rate(rate: float, n: int, root: Path, realtime: bool, stats: ProbeStats) -> dict[str, Any]:
    from station.domain import Transport
    from station.firmware.cache import FirmwareCache
    from station.firmware.demo import install_demo_firmware
    from station.hw import backend
    from station.pipeline.line import SlotSpec, prepare_job, run_slots
    from station.sim.bench import Bench, forget_twins
    from station.store.registry import open_registry

    work = root / f"rate-{rate:g}"
    bench = Bench(work / "bench", realtime=realtime)
    twins = bench.create(n, seed=7000 + int(rate * 1e5))
    backend.use_sim(bench.path)
    cache = FirmwareCache(work / "cache")
    install_demo_firmware(cache, "boron")
    registry = open_registry(f"sqlite:///{work / 'station.db'}")
    job = prepare_job(
        profile_path=REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml", cache=cache,
        registry=registry, station=f"faults-bench-{os.getpid()}", operator="bench", lot=f"faults-{rate:g}",
        labels_dir=work / "labels", ask_operator=lambda step, question, timeout: True,
    )  # fmt: skip
    for t in twins:
        t.set_faults(swd_fault_rate=rate)
    slots = [SlotSpec(str(i + 1), Transport.SWD, t.identity.probe_uid) for i, t in enumerate(twins)]
    device0 = [t.clock.device_seconds for t in twins]
    stats.take()
    t0 = time.perf_counter()
    try:
        results = run_slots(job, slots)
        wall = time.perf_counter() - t0
        device = [t.clock.device_seconds - d for t, d in zip(twins, device0, strict=True)]
        connected = sum("first_connect" in t.events.kinds() for t in twins)
    finally:
        backend.stop_sim_hosts()
        backend.use_sim(None)
        registry.close()
        forget_twins(bench.path)
    reasons = collections.Counter(f"{r.failing_step}: {(r.reason or '')[:110]}" for r in results if not r.passed)
    return {
        "rate": rate, "n": n, "passed": sum(r.passed for r in results), "wall": wall,
        "per_device": statistics.mean(r.duration_s for r in results), "device": statistics.mean(device),
        "first_connects": connected, "reasons": reasons, "load": load(), **stats.take(),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="0,0.001,0.005,0.01", help="comma-separated fault rates per request")
    ap.add_argument("--devices", type=int, default=4, help="devices (parallel slots) per rate")
    ap.add_argument("--realtime", action="store_true", help="twins keep wall time with device time")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    rates = [float(r) for r in args.rates.split(",")]
    stats = ProbeStats()
    print(f"SWD fault rate vs. provisioning (demo profile, {args.devices} slots per rate, twins in process, "
          f"{'realtime' if args.realtime else 'fast'} twins)")
    print(f"{'rate':>7} {'passed':>8} {'batch s':>8} {'dev wall s':>10} {'SWD dev s':>9} {'FAULTs':>7} "
          f"{'refused':>7} {'requests':>9} {'1st conn':>8}  load 1/5")
    with tempfile.TemporaryDirectory(prefix="faults-rate-", dir=os.environ.get("TMPDIR")) as tmp:
        for rate in rates:
            r = run_rate(rate, args.devices, Path(tmp), args.realtime, stats)
            print(f"{r['rate'] * 100:>6.2g}% {r['passed']:>3} of {r['n']:<2} {r['wall']:>8.1f} {r['per_device']:>10.1f} "
                  f"{r['device']:>9.1f} {r.get('faults', 0):>7} {r.get('refused', 0):>7} {r.get('calls', 0):>9} "
                  f"{r['first_connects']:>8}  {r['load']}", flush=True)
            for reason, count in r["reasons"].most_common():
                print(f"{'':>9}{count} x {reason}")


if __name__ == "__main__":
    main()
