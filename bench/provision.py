"""Benchmark of the whole provisioning pipeline against twins (prints figures; not a test).

    python bench/provision.py                # realtime twins, N = 1, 4, 8
    python bench/provision.py --fast         # as fast as the emulation runs
    python bench/provision.py --sizes 1,2

For each N it provisions N fresh twins in parallel slots over SWD with the demo profile (flash the
Device OS set and factory-test firmware, verify, functional tests over serial, product firmware,
verify, register, label) and prints:

* per-device wall time (mean over the slots),
* hardware time: what the pipeline spent inside flash/verify/test calls (``SlotResult.hardware_s``),
* device time: what the twins' clocks say real hardware needed (realtime mode),
* station overhead = wall − hardware time (bookkeeping, registry, labels, waiting for ports),
* devices/hour for the batch (N / batch wall time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_batch(n: int, realtime: bool, root: Path) -> dict[str, float]:
    from station.domain import Transport
    from station.firmware.cache import FirmwareCache
    from station.firmware.demo import install_demo_firmware
    from station.hw import backend
    from station.pipeline.line import SlotSpec, prepare_job, run_slots
    from station.sim.bench import Bench, forget_twins
    from station.store.registry import open_registry

    work = root / f"n{n}"
    bench = Bench(work / "bench", realtime=realtime)
    twins = bench.create(n, seed=1000 + n)
    backend.use_sim(bench.path)
    cache = FirmwareCache(work / "cache")
    install_demo_firmware(cache, "boron")
    registry = open_registry(f"sqlite:///{work / 'station.db'}")
    job = prepare_job(
        profile_path=REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml", cache=cache, registry=registry,
        station="bench", operator="bench", lot=f"bench-{n}", labels_dir=work / "labels",
        ask_operator=lambda step, question, timeout: True,
    )
    slots = [SlotSpec(str(i + 1), Transport.SWD, t.identity.probe_uid) for i, t in enumerate(twins)]
    device0 = [t.clock.device_seconds for t in twins]
    t0 = time.perf_counter()
    results = run_slots(job, slots)
    wall = time.perf_counter() - t0
    device = [t.clock.device_seconds - d for t, d in zip(twins, device0, strict=True)]
    failed = [r for r in results if not r.passed]
    if failed:
        raise SystemExit(f"N={n}: {len(failed)} device(s) failed: {[(r.failing_step, r.reason) for r in failed]}")
    backend.stop_sim_hosts()
    backend.use_sim(None)
    registry.close()
    forget_twins(bench.path)
    per_device = statistics.mean(r.duration_s for r in results)
    hardware = statistics.mean(r.hardware_s for r in results)
    return {
        "n": n,
        "batch_wall": wall,
        "per_device_wall": per_device,
        "hardware": hardware,
        "device": statistics.mean(device),
        "overhead": per_device - hardware,
        "devices_per_hour": n / wall * 3600,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fast", action="store_true", help="twins as fast as the emulation runs (no device clock)")
    ap.add_argument("--sizes", default="1,4,8", help="comma-separated N values")
    args = ap.parse_args()
    realtime = not args.fast
    if realtime:
        os.environ["STATION_SIM_REALTIME"] = "1"
    sizes = [int(x) for x in args.sizes.split(",")]
    print(f"pipeline benchmark: demo-boron profile over SWD, {'realtime' if realtime else 'fast'} twins")
    print(f"{'N':>3} {'batch wall':>11} {'per device':>11} {'in hardware':>12} {'device clock':>13} "
          f"{'overhead':>9} {'devices/h':>10}")
    with tempfile.TemporaryDirectory(prefix="station-bench-") as tmp:
        for n in sizes:
            r = run_batch(n, realtime, Path(tmp))
            print(f"{n:>3} {r['batch_wall']:>10.2f}s {r['per_device_wall']:>10.2f}s {r['hardware']:>11.2f}s "
                  f"{r['device']:>12.2f}s {r['overhead']:>8.2f}s {r['devices_per_hour']:>10.0f}")


if __name__ == "__main__":
    main()
