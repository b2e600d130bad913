"""Registry benchmarks: registration throughput, manifest export, concurrent stations, outbox drain.

Run:  python bench/registry.py [--only lot,real,...] [--n 100000] [--lot-n 100000] [--repeat 3] [--real-n 2000]
                               [--pg-url URL] [--drain-n 10000] [--keep DIR]

Sections (``--only``, default all):

* lot: a realistic ``--lot-n``-device lot (``bench/registry_lot.py``: the rows one real demo-profile
  run leaves per device) on SQLite and PostgreSQL; ``station lot report`` (text and ``--json``) and
  ``station lot export`` in every format, each in a child process of its own: wall time and that
  child's CPU and peak RSS, with the machine's load beside each figure. ``--keep DIR`` keeps the SQLite
  file (and names the PostgreSQL schema after it) so a second run measures the same data; then the
  read models on it (``Registry.attempts_page`` and friends): a page fetch, a deep keyset page, a
  filter and searches, best of five in process;

* export: ``--n`` passed devices are written by a BULK path (Core ``INSERT`` of devices and
  attempts into the same tables the registration path writes), then the lot is exported as txt
  and csv through ``station.export.manifest.export_lot`` (the code ``station lot export`` runs);
* registration: ``--real-n`` devices through the REAL path, per device the registry calls one
  demo-profile SWD run of the pipeline makes, in its order (``register_real``), on SQLite and,
  with ``--pg-url`` or ``STATION_TEST_DATABASE_URL``, PostgreSQL; devices/s and the write and read
  transactions per device, counted by the engine;
* stations: 4 processes registering disjoint devices on PostgreSQL at once (real path);
* drain: ``--drain-n`` outbox entries sent to the fake Particle API (tests/cloud/fake_cloud.py)
  on 127.0.0.1 with batching; prints requests sent and seconds.

PostgreSQL runs use a schema of their own that is dropped at the end (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine, event, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "cloud"))
sys.path.insert(0, str(ROOT / "bench"))

from registry_lot import load, load_lot, run_child  # noqa: E402

from station.export.manifest import export_lot  # noqa: E402
from station.store import Registry, open_registry  # noqa: E402
from station.store.models import Attempt, Device  # noqa: E402
from station.store.records import CloudTargets  # noqa: E402

CLOUD = CloudTargets(particle_product="bench-product", particle_groups=["bench"])


def setup(reg: Registry, lot: str) -> tuple[int, int, int]:
    pid = reg.ensure_product(name="bench", platform="boron", particle_product="bench-product",
                             peridio_product_prn=None)
    prof = reg.ensure_profile(product_id=pid, path="bench.toml", sha256="be" * 32, content="[bench]")
    return pid, prof, reg.ensure_lot(lot, product_id=pid)


def register_real(reg: Registry, start: int, n: int, lot: str, station: str = "bench") -> int:
    """Per device, the registry calls one real demo-profile SWD run makes, in its order (captured
    from ``station.pipeline`` against a twin): attempt with status check, 12 steps, 5 flash records
    in two flashes, 16 measurements, registration with identity and outbox, 3 labels, end. Like a
    run, it holds the station's lease first (once per process, not per device)."""
    from registry_lot import FLASHES, MEASUREMENTS, STEPS

    from station.store import records
    from station.store.records import DeviceIdentity, MeasurementRecord

    pid, prof, lot_id = setup(reg, lot)
    reg.hold_station(station)
    now = datetime.now(UTC)
    batched = hasattr(reg, "record_flashes")  # the API before this change wrote one flash per call
    make = getattr(records, "FlashRecord", None) or (lambda **kw: SimpleNamespace(**kw))
    flashes = [make(module_sha256="ab" * 32, function=fn, index=idx, version=ver, address=addr, role=role)
               for role, fn, idx, ver, addr in FLASHES]

    def step(a: int, i: int) -> None:
        name, dur, details = STEPS[i]
        reg.record_step(a, name=name, started_at=now, duration_s=dur, outcome="passed", details=details)

    def flash(a: int, fs: list[Any]) -> None:
        if batched:
            reg.record_flashes(a, fs)
        else:
            for f in fs:
                reg.record_flash(a, module_sha256=f.module_sha256, function=f.function, index=f.index,
                                 version=f.version, address=f.address, role=f.role)

    def begin(did: str) -> int:
        kw: dict[str, Any] = {"device_id": did, "platform": "boron", "lot_id": lot_id, "profile_id": prof,
                              "station": station, "slot": "1", "operator": "bench", "transport": "swd",
                              "overrides": []}
        if hasattr(reg, "open_attempt"):  # the status read is part of the attempt's start
            return int(reg.open_attempt(**kw).attempt_id)
        reg.device_status(did)  # the API before: a read transaction of its own
        return int(reg.start_attempt(**kw))

    for i in range(start, start + n):
        did = f"e00fce68{i:016x}"
        a = begin(did)
        for k in range(4):  # connect, identify, registry-check, flash
            step(a, k)
        flash(a, flashes[:4])
        step(a, 4)  # verify
        step(a, 5)  # start-test-firmware
        for st, name, value, txt, unit, low, high, expected in MEASUREMENTS:
            reg.record_measurement(a, MeasurementRecord(step=st, name=name, passed=True, value=value, text=txt,
                                                        unit=unit, low=low, high=high, expected=expected,
                                                        duration_s=0.001))
        step(a, 6)  # functional-tests
        step(a, 7)  # flash-final
        flash(a, flashes[4:])
        for k in (8, 9):  # verify-final, secure-state
            step(a, k)
        reg.register_passed(a, product_id=pid, lot_id=lot_id, cloud=CLOUD,
                            identity=DeviceIdentity(serial_number=f"SN{i}", device_os_version="6.2.0",
                                                    product_firmware_version="6"))
        step(a, 10)  # register
        for fmt in ("png", "pdf", "zpl"):
            reg.record_label(did, a, path=f"labels/{did}.{fmt}", fmt=fmt)
        step(a, 11)  # label
        if hasattr(reg, "end_attempt"):
            reg.end_attempt(a)
    return n


def register_bulk(reg: Registry, n: int, lot: str) -> None:
    pid, prof, lot_id = setup(reg, lot)
    t0 = datetime(2026, 1, 1)
    chunk = 20_000
    for base in range(0, n, chunk):
        rng = range(base, min(n, base + chunk))
        with reg.session() as s:
            s.execute(insert(Device), [
                {"device_id": f"e00fce68{i:016x}", "platform": "boron", "product_id": pid, "lot_id": lot_id,
                 "registrations": 1, "first_seen": t0, "serial_number": f"SN{i:07d}", "device_os_version": "5.3.2",
                 "product_firmware_version": "1"} for i in rng])
            s.execute(insert(Attempt), [
                {"device_id": f"e00fce68{i:016x}", "lot_id": lot_id, "profile_id": prof, "station": "bench",
                 "slot": "1", "operator": "bench", "transport": "swd", "overrides": [], "registrations_seen": 0,
                 "started_at": t0, "finished_at": t0 + timedelta(seconds=i), "outcome": "passed"} for i in rng])


def _station_proc(url: str, index: int, n: int, q: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        reg = open_registry(url)
        t0 = time.perf_counter()
        register_real(reg, 10_000_000 * (index + 1), n, "STATIONS", station=f"st{index}")
        q.put((index, time.perf_counter() - t0, None))
    except Exception as exc:
        q.put((index, 0.0, repr(exc)))


def pg_schema_url(base: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    eng = create_engine(base)
    with eng.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def pg_named_schema(base: str, schema: str) -> tuple[str, bool]:
    """A kept schema (created if missing); returns its URL and whether it is new."""
    eng = create_engine(base)
    with eng.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first()
        if not exists:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", not exists


def drop_schema(base: str, schema: str) -> None:
    eng = create_engine(base)
    with eng.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    eng.dispose()


def bench_export(tmp: Path, n: int) -> None:
    reg = open_registry(f"sqlite:///{tmp / 'export.db'}")
    t0 = time.perf_counter()
    register_bulk(reg, n, "BIG")
    dt = time.perf_counter() - t0
    print(f"bulk insert (same tables, Core INSERT): {n} devices in {dt:.2f} s = {n / dt:,.0f} devices/s")
    for fmt in ("txt", "csv"):
        t0 = time.perf_counter()
        res = export_lot(reg, "BIG", fmt, tmp / f"big.{fmt}")
        dt = time.perf_counter() - t0
        print(f"export {fmt}: {res.devices} devices in {dt:.2f} s  (goal < 2 s for 100k)")
    reg.close()


def bench_real(url: str, label: str, n: int) -> None:
    reg = open_registry(url)
    setup(reg, "REAL")
    reg.hold_station("bench")  # before counting: a run takes its lease once, not per device
    counts = {"write": 0, "read": 0, "write_sql": 0, "read_sql": 0}

    def kind(conn: Any) -> str:
        return "read" if conn.get_execution_options().get("station_sqlite_begin") == "DEFERRED" else "write"

    @event.listens_for(reg.engine, "begin")
    def _count(conn: Any) -> None:
        counts[kind(conn)] += 1

    @event.listens_for(reg.engine, "before_cursor_execute")
    def _statement(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN (IMMEDIATE) is the transaction, counted above
            counts[kind(conn) + "_sql"] += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    register_real(reg, 0, n, "REAL")
    dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"real registration path on {label}: {n} devices in {dt:.2f} s = {n / dt:,.1f} devices/s, "
          f"{1000 * cpu / n:.2f} ms CPU per device; {counts['write'] / n:.2f} write + {counts['read'] / n:.2f} read "
          f"transactions and {counts['write_sql'] / n:.2f} + {counts['read_sql'] / n:.2f} statements per device "
          f"(the lease's heartbeat included; {load()})", flush=True)
    reg.close()


def bench_stations(url: str, n_per: int, procs: int = 4) -> None:
    open_registry(url).close()
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    ps = [ctx.Process(target=_station_proc, args=(url, i, n_per, q)) for i in range(procs)]
    t0 = time.perf_counter()
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    for p in ps:
        p.join()
    dt = time.perf_counter() - t0
    errors = [r[2] for r in results if r[2]]
    reg = open_registry(url)
    passed = reg.lot_by_name("STATIONS").passed
    reg.close()
    print(f"{procs} stations on PostgreSQL: {procs * n_per} devices in {dt:.2f} s = {procs * n_per / dt:,.0f} "
          f"devices/s, registered {passed}, errors {len(errors)} {errors[:1] or ''}")


def bench_drain(tmp: Path, n: int, batch: int) -> None:
    from fake_cloud import FakeParticle

    from station.cloud.particle import ParticleClient
    from station.cloud.sync import Drainer

    reg = open_registry(f"sqlite:///{tmp / 'drain.db'}")
    register_bulk(reg, n, "DRAIN")
    now = datetime.now(UTC).replace(tzinfo=None)
    from station.store.models import OutboxRow
    with reg.session() as s:
        ids = [r[0] for r in s.execute(text("SELECT id, device_id FROM attempts ORDER BY id"))]
        s.execute(insert(OutboxRow), [
            {"device_id": f"e00fce68{i:016x}", "attempt_id": aid, "target": "particle", "stage": "import",
             "payload": {"product": "bench-product", "groups": ["bench"], "import_sims": False, "claim_user": None},
             "state": "pending", "tries": 0, "next_try_at": now, "created_at": now} for i, aid in enumerate(ids)])
    with FakeParticle() as fake:
        drainer = Drainer(reg, particle=ParticleClient(fake.secret, fake.url), peridio=None, batch=batch)
        t0 = time.perf_counter()
        report = drainer.drain_once()
        dt = time.perf_counter() - t0
        dup = sum(1 for c in fake.import_counts.values() if c > 1)
    print(f"drain {n} entries (import + groups, batch {batch}): {report.requests} requests in {dt:.2f} s "
          f"= {n / dt:,.0f} entries/s; imported {report.imported}, grouped {report.grouped}, duplicates {dup}")
    reg.close()


LOT_COMMANDS: list[tuple[str, list[str]]] = [
    ("lot report", ["lot", "report", "BIG"]),
    ("lot report --json", ["lot", "report", "BIG", "--json"]),
    ("lot export txt", ["lot", "export", "BIG", "--format", "txt", "-o", "{out}/big.txt"]),
    ("lot export csv", ["lot", "export", "BIG", "--format", "csv", "-o", "{out}/big.csv"]),
    ("lot export json", ["lot", "export", "BIG", "--format", "json", "-o", "{out}/big.json"]),
    ("lot export peridio-csv", ["lot", "export", "BIG", "--format", "peridio-csv", "-o", "{out}/big-peridio.csv"]),
]


def bench_lot(url: str, label: str, n: int, out: Path, *, fresh: bool, repeat: int = 1) -> None:
    """Lot report and exports of a realistic lot, each command in its own child process (``repeat``
    times: the run with the least CPU is printed, and the largest peak RSS)."""
    if fresh:
        reg = open_registry(url)
        t0 = time.perf_counter()
        attempts = load_lot(reg, n)
        if reg.engine.dialect.name == "postgresql":
            # What autovacuum does to a registry that grew by a lot; measured straight after a bulk
            # load without it, PostgreSQL planned from empty-table statistics (59 attempts for the
            # lot's 103k) and sorted 1.2 M step rows on disk for the json export.
            with reg.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        reg.close()
        print(f"[{label}] loaded a {n}-device lot ({attempts} attempts, 12 steps + 16 measurements + 5 flashes "
              f"each) in {time.perf_counter() - t0:.1f} s", flush=True)
    env = dict(os.environ, STATION_DB=url)
    for name, argv in LOT_COMMANDS:
        runs = [run_child([a.format(out=out) for a in argv], env=env) for _ in range(repeat)]
        m = min(runs, key=lambda r: r.cpu_s)  # the least disturbed run; the spread is printed beside it
        status = "" if m.returncode == 0 else f"  EXIT {m.returncode}: {m.stderr.strip().splitlines()[-1:]}"
        spread = (f"  (of {repeat}: wall {min(r.wall_s for r in runs):.2f}-{max(r.wall_s for r in runs):.2f}, "
                  f"cpu {m.cpu_s:.2f}-{max(r.cpu_s for r in runs):.2f})") if repeat > 1 else ""
        print(f"[{label}] {name:<24} {m.wall_s:7.2f} s  cpu {m.cpu_s:6.2f} s  peak RSS "
              f"{max(r.peak_rss_mb for r in runs):7.1f} MB  ({load()}){spread}{status}", flush=True)


def _timed(fn, repeat: int = 5) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_views(url: str, label: str) -> None:
    """Read models on the realistic lot: what a table view pays per page and per search (best of 5)."""
    from station.store.views import AttemptFilter

    reg = open_registry(url)
    first = reg.attempts_page(limit=200)
    cursor = first.next
    for _ in range(250):  # walk 250 pages down for a deep cursor (50,000 rows in)
        cursor = reg.attempts_page(after=cursor, limit=200).next
    cases = [
        ("attempts page 1 (200 rows, newest first)", lambda: reg.attempts_page(limit=200)),
        ("attempts page 251 (keyset, 50k rows in)", lambda: reg.attempts_page(after=cursor, limit=200)),
        ("attempts lot=BIG outcome=failed page 1", lambda: reg.attempts_page(
            AttemptFilter(lot="BIG", outcome="failed"), limit=200)),
        ("attempts search serial 'SN0098765'", lambda: reg.attempts_page(AttemptFilter(text="SN0098765"), limit=200)),
        ("attempts search device ID part '00181cd'", lambda: reg.attempts_page(AttemptFilter(text="00181cd"),
                                                                               limit=200)),
        ("find_devices 'SN00987'", lambda: reg.find_devices("SN00987")),
        ("device_detail (2 attempts, 56 rows)", lambda: reg.device_detail(f"e00fce68{7:016x}")),
        ("outbox page 1 (pending, 200)", lambda: reg.outbox_page(state="pending", limit=200)),
        ("lot_overview BIG (yields, rate, failures)", lambda: reg.lot_overview("BIG")),
        ("attempts_count lot=BIG", lambda: reg.attempts_count(AttemptFilter(lot="BIG"))),
    ]
    for name, fn in cases:
        dt, out = _timed(fn)
        rows = getattr(out, "rows", out)
        n = len(rows) if isinstance(rows, list) else rows if isinstance(rows, int) else 1
        print(f"[{label}] {name:<44} {dt * 1000:8.1f} ms  ({n} rows; {load()})", flush=True)
    reg.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="devices for the export benchmark (bulk path)")
    ap.add_argument("--real-n", type=int, default=2000, help="devices through the real registration path")
    ap.add_argument("--stations-n", type=int, default=500, help="devices per station process (PostgreSQL)")
    ap.add_argument("--drain-n", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--lot-n", type=int, default=100_000, help="devices of the realistic lot (lot section)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each lot command (the least disturbed is printed)")
    ap.add_argument("--pg-url", default=os.environ.get("STATION_TEST_DATABASE_URL"))
    ap.add_argument("--only", default="export,real,drain,lot,stations",
                    help="comma-separated sections: export, real, drain, lot, stations")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the lot databases here (SQLite file, PostgreSQL schema) and reuse them")
    args = ap.parse_args()
    only = set(args.only.split(","))
    print(f"registry benchmarks on {os.cpu_count()} CPUs, {load()}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "export" in only:
            bench_export(tmp, args.n)
        if "real" in only:
            bench_real(f"sqlite:///{tmp / 'real.db'}", "SQLite (WAL, synchronous=FULL)", args.real_n)
        if "drain" in only:
            bench_drain(tmp, args.drain_n, args.batch)
        if "lot" in only:
            keep = args.keep.resolve() if args.keep else None
            if keep:
                keep.mkdir(parents=True, exist_ok=True)
            db = (keep or tmp) / f"lot{args.lot_n}.db"
            fresh = not db.exists()
            bench_lot(f"sqlite:///{db}", "SQLite", args.lot_n, tmp, fresh=fresh, repeat=args.repeat)
            bench_views(f"sqlite:///{db}", "SQLite")
            if args.pg_url:
                if keep:
                    schema = f"bench_lot{args.lot_n}"
                    url, fresh = pg_named_schema(args.pg_url, schema)
                else:
                    url, schema = pg_schema_url(args.pg_url)
                    fresh = True
                try:
                    bench_lot(url, "PostgreSQL", args.lot_n, tmp, fresh=fresh, repeat=args.repeat)
                    bench_views(url, "PostgreSQL")
                finally:
                    if not keep:
                        drop_schema(args.pg_url, schema)
    if not args.pg_url:
        print("PostgreSQL benchmarks skipped: pass --pg-url or set STATION_TEST_DATABASE_URL")
        return
    if not only & {"real", "stations"}:
        return
    url, schema = pg_schema_url(args.pg_url)
    try:
        if "real" in only:
            bench_real(url, "PostgreSQL", args.real_n)
        if "stations" in only:
            bench_stations(url, args.stations_n)
    finally:
        drop_schema(args.pg_url, schema)


if __name__ == "__main__":
    main()
