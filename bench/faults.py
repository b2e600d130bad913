"""Issue 10's adversarial catalogue, re-run against twins (prints a table; not a test).

    python bench/faults.py --quick      # a sample of every class, a few minutes
    python bench/faults.py              # more runs per class
    python bench/faults.py --only kill,cloud

Every scenario class runs the real station (``python -m station …`` subprocesses against a bench of
twins, or the CLI in process where a class needs hundreds of runs) and then *checks* each column:

records lost   devices the station worked on without an attempt on record, attempts left open
               (``running``) once a station ran again, devices a station reported passed that the
               registry does not hold as registered; the notes say how many ended registered
duplicates     devices registered more than once, and outbox entries beyond one per device and target
first connects ``first_connect`` events in the twins' logs (a device that reached the cloud)
keys lost      ``key_lost`` events, and twins whose device key is gone
secrets leaked the planted cloud credential (as is, upper-cased, URL-encoded, base64) in any output,
               any row of the registry, or any file the run wrote
tracebacks     ``Traceback`` in any output; in-process runs: an exception that is not a station error

The scenario classes: kill -9 after each pipeline step (then a re-run), an unplug at byte offsets of
the flash (then a re-plug and a re-run), SWD fault rates, a stuck flash word (a power-up after the
failure, then a re-run), malformed profiles (``profile check``), fuzzed module files (the parser),
a full disk (a file-size rlimit on the station), the registry dropped mid-run (PostgreSQL, when
``STATION_TEST_DATABASE_URL`` points at a server), two stations of the same name on one registry, a
hostile cloud (huge or far-future Retry-After, answers of the wrong shape, 5xx) and a cloud that
echoes the credential back.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "cloud"))  # the fake Particle/Peridio servers the cloud tests use

PROFILE = REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml"
TOKEN = "c0ffee" + "".join(random.Random(10).choice("0123456789abcdef") for _ in range(34))
STEP_TIMEOUT_S = 300


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def token_shapes(secret: str = TOKEN) -> list[str]:
    return [secret, secret.upper(), urllib.parse.quote(secret), base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"{secret}:".encode()).decode()]


# ====================================================================== one scenario's world
@dataclass
class Row:
    scenario: str
    runs: int = 0
    records_lost: int = 0
    duplicates: int = 0
    first_connects: int = 0
    keys_lost: int = 0
    secrets_leaked: int = 0
    tracebacks: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, other: Row) -> None:
        for k in ("runs", "records_lost", "duplicates", "first_connects", "keys_lost", "secrets_leaked",
                  "tracebacks"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.notes.extend(n for n in other.notes if n not in self.notes)


class World:
    """A bench of twins, a firmware cache, a registry, and every output the station gave."""

    def __init__(self, root: Path, name: str, n: int, cache: Path, db_url: str | None = None) -> None:
        from station.sim.bench import Bench

        self.root = root / name
        self.root.mkdir(parents=True)
        self.bench = Bench(self.root / "bench")
        self.twins = self.bench.create(n, seed=zlib.crc32(name.encode()))
        self.db_path = self.root / "station.db"
        self.db_url = db_url or f"sqlite:///{self.db_path}"
        self.cache = cache
        self.outputs: list[str] = []
        self.exits: list[int] = []  #: exit codes of the station processes, in order
        self.env = {**os.environ, "STATION_SIM_DIR": str(self.bench.path), "STATION_CACHE": str(cache),
                    "STATION_DB": self.db_url, "PARTICLE_ACCESS_TOKEN": TOKEN,
                    # the station's log, state and data folders (platformdirs) inside this world
                    "XDG_STATE_HOME": str(self.root / "state"), "XDG_DATA_HOME": str(self.root / "data"),
                    "XDG_CONFIG_HOME": str(self.root / "config")}

    def slots(self, twins: list[Any] | None = None) -> str:
        return ",".join(f"{i + 1}={t.identity.probe_uid}" for i, t in enumerate(twins or self.twins))

    def provision_cmd(self, lot: str, station: str, twins: list[Any] | None = None) -> list[str]:
        return [sys.executable, "-m", "station", "provision", "--profile", str(PROFILE), "--lot", lot,
                "--answer", "led=yes", "--station", station, "--slots", self.slots(twins),
                "--labels", str(self.root / "labels"), "--json"]

    def run(self, cmd: list[str], *, preexec: Callable[[], None] | None = None) -> int:
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S,
                           preexec_fn=preexec)
        self.outputs += [p.stdout, p.stderr]
        self.exits.append(p.returncode)
        return p.returncode

    def popen(self, cmd: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)

    def collect(self, p: subprocess.Popen[str]) -> int:
        out, err = p.communicate(timeout=STEP_TIMEOUT_S)
        self.outputs += [out or "", err or ""]
        self.exits.append(p.returncode)
        return p.returncode

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        if not self.db_url.startswith("sqlite"):
            from sqlalchemy import create_engine, text
            from sqlalchemy.exc import SQLAlchemyError

            engine = create_engine(self.db_url)
            try:
                with engine.connect() as c:
                    return [tuple(r) for r in c.execute(text(query))]
            except SQLAlchemyError:  # not created yet, or dropped
                return []
            finally:
                engine.dispose()
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as c:
                return c.execute(query).fetchall()
        except sqlite3.Error:
            return []

    def db_text(self) -> str:
        if self.db_url.startswith("sqlite"):
            if not self.db_path.exists():
                return ""
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=10)) as c:
                return "\n".join(c.iterdump())
        tables = [r[0] for r in self.sql("select tablename from pg_tables where schemaname = 'public'")]
        return "\n".join(repr(row) for t in tables for row in self.sql(f'select * from "{t}"'))

    def files_text(self) -> str:
        out = []
        for p in self.root.rglob("*"):
            if p.is_file() and p.suffix in (".log", ".txt", ".json", ".jsonl", ".zpl", ".csv", ".toml"):
                with contextlib.suppress(OSError):
                    out.append(p.read_text(errors="replace"))
        return "\n".join(out)

    def registered(self) -> set[str]:
        return {r[0] for r in self.sql("select device_id from devices where product_id is not null")}

    def reset_faults(self) -> None:
        for t in self.twins:
            t.set_faults(unplug_after_bytes=None, stuck_word=None, swd_fault_rate=0.0, swd_wait_rate=0.0)
            if not t.current_state().plugged:
                self.bench.plug(t.name)

    def reported_passed(self) -> set[str]:
        """Devices a station said (in its ``--json`` output) it passed."""
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if node.get("outcome") == "passed" and isinstance(node.get("device_id"), str):
                    found.add(node["device_id"])
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        for out in self.outputs:
            with contextlib.suppress(ValueError):
                walk(json.loads(out))
        return found

    def tally(self, scenario: str, runs: int, *, expect: set[str] | None) -> Row:
        """The columns, checked: see the module docstring. ``expect``: the devices the station
        worked on, each of which must have its attempts recorded and closed."""
        row = Row(scenario, runs)
        registered = self.registered()
        if expect is not None:
            recorded = {r[0] for r in self.sql("select distinct device_id from attempts")}
            row.records_lost = len(expect - recorded)
            row.records_lost += len(self.sql("select id from attempts where outcome = 'running'"))
            row.records_lost += len(self.reported_passed() - registered)
            row.notes.append(f"{self.root.name}: {len(registered & expect)} of {len(expect)} registered")
        row.duplicates = sum(max(0, int(n) - 1) for (n,) in
                             self.sql("select registrations from devices where registrations > 1"))
        row.duplicates += sum(int(n) - 1 for (n,) in self.sql(
            "select count(*) from outbox where state != 'superseded' group by device_id, target having count(*) > 1"))
        for t in self.twins:
            kinds = t.events.kinds()
            row.first_connects += kinds.count("first_connect")
            row.keys_lost += kinds.count("key_lost") + (0 if t.key_present() else 1)
        text = "\n".join([*self.outputs, self.db_text(), self.files_text()])
        row.secrets_leaked = sum(text.count(s) for s in token_shapes())
        row.tracebacks = sum(o.count("Traceback") for o in self.outputs)
        if self.exits:
            row.notes.append(f"{self.root.name} exits {self.exits}")
        return row

    def close(self) -> None:
        from station.sim.bench import forget_twins

        forget_twins(self.bench.path)


def step_names(world: World) -> list[str]:
    return [r[0] for r in world.sql("select name from steps where outcome = 'passed' group by name order by min(id)")]


def wait_for(cond: Callable[[], bool], p: subprocess.Popen[str], timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        if p.poll() is not None:
            return False
        time.sleep(0.05)
    return False


# ====================================================================== scenario classes
def kill_9(ctx: Ctx) -> Row:
    """kill -9 right after each pipeline step completes, then a clean re-run of the same lot."""
    probe = ctx.world("kill-steps", 1)
    probe.run(probe.provision_cmd("LOT-PROBE", "faults-k"))
    steps = step_names(probe)
    probe.close()
    if ctx.quick:
        steps = [s for i, s in enumerate(steps) if i in (1, len(steps) // 2, len(steps) - 2)]
    total = Row("kill -9 after each step")
    for step in steps:
        w = ctx.world(f"kill-{step}", 2)
        lot, station = f"LOT-K-{step}", "faults-k"
        p = w.popen(w.provision_cmd(lot, station))
        hit = wait_for(lambda s=step, w=w: bool(w.sql(f"select id from steps where name = '{s}'")), p)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        w.collect(p)
        if not hit:
            total.notes.append(f"{step}: finished before the kill")
        w.reset_faults()
        w.run(w.provision_cmd(lot, station))
        total.add(w.tally(total.scenario, 1, expect={t.device_id for t in w.twins}))
        w.close()
    total.notes.append(f"steps: {', '.join(steps)}")
    return total


def unplug(ctx: Ctx) -> Row:
    """An unplug after so many bytes of the flash, a re-plug (the device powers up), then a re-run."""
    offsets = [60_000, 420_000] if ctx.quick else [20_000, 150_000, 300_000, 450_000, 600_000, 750_000, 800_000]
    total = Row("unplug mid-write, re-plug")
    for off in offsets:
        w = ctx.world(f"unplug-{off}", 1)
        w.twins[0].set_faults(unplug_after_bytes=off)
        w.run(w.provision_cmd(f"LOT-U-{off}", "faults-u"))
        w.reset_faults()  # re-plug: the twin powers on and boots whatever its flash holds
        w.run(w.provision_cmd(f"LOT-U-{off}", "faults-u"))
        total.add(w.tally(total.scenario, 1, expect={t.device_id for t in w.twins}))
        w.close()
    total.notes.append(f"byte offsets {', '.join(map(str, offsets))}")
    return total


def swd_rates(ctx: Ctx) -> Row:
    """Provisioning with SWD FAULTs injected at 0.1 %, 0.5 % and 1 % of transfer requests."""
    total = Row("SWD fault rates")
    passed = devices = 0
    for rate in (0.001, 0.005, 0.01):
        w = ctx.world(f"swd-{rate:g}", 2)
        for t in w.twins:
            t.set_faults(swd_fault_rate=rate)
        w.run(w.provision_cmd(f"LOT-S-{rate:g}", "faults-s"))
        got = w.registered()
        passed, devices = passed + len(got), devices + len(w.twins)
        # a device the faults defeated must fail cleanly; the others are registered: nothing expected beyond
        total.add(w.tally(total.scenario, 1, expect={t.device_id for t in w.twins}))
        w.close()
    total.notes.append(f"{passed} of {devices} devices passed")
    return total


def stuck_word(ctx: Ctx) -> Row:
    """A flash word that never programs (system part, user part): verify fails; a power-up; a re-run."""
    total = Row("stuck flash word")
    from station.domain import GEN3_ADDR_SYSTEM_PART1, GEN3_ADDR_USER_PART

    spots = [GEN3_ADDR_USER_PART + 0x1234] if ctx.quick else [GEN3_ADDR_SYSTEM_PART1 + 0x2344,
                                                              GEN3_ADDR_USER_PART + 0x1234]
    for addr in spots:
        w = ctx.world(f"stuck-{addr:x}", 1)
        twin = w.twins[0]
        twin.set_faults(stuck_word=addr)
        w.run(w.provision_cmd(f"LOT-W-{addr:x}", "faults-w"))
        failed_ok = twin.device_id not in w.registered()
        w.bench.unplug(twin.name)
        w.bench.plug(twin.name)  # the operator pulls the failed board and powers it elsewhere
        w.reset_faults()
        w.run(w.provision_cmd(f"LOT-W-{addr:x}", "faults-w"))
        row = w.tally(total.scenario, 1, expect={twin.device_id})
        if not failed_ok:
            row.notes.append(f"{addr:#x}: passed with a stuck word")
        total.add(row)
        w.close()
    return total


def in_process_cli(args: list[str]) -> tuple[int, str, bool]:
    """The station CLI in this process: exit code, output, and whether an exception escaped it."""
    from click.testing import CliRunner

    from station.cli.main import cli

    result = CliRunner().invoke(cli, args, env={"PARTICLE_ACCESS_TOKEN": TOKEN})
    escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
    return result.exit_code, result.output, escaped


def malformed_profiles(ctx: Ctx) -> Row:
    """``profile check`` on mutations of the demo profile: refused with exit 2, or accepted; never a crash."""
    import tomllib

    base = PROFILE.read_text()
    rng = random.Random(3)
    bad_values = ["nan", "inf", "-inf", "18446744073709551616", "-1", "0", "1e308", '"\\u0000x"', '"a\\u0007b"',
                  '"{serial_number:>999999999}"', "1979-05-27T07:32:00Z", "[[[[[[[[1]]]]]]]]", "true", '""',
                  '"' + "x" * 5000 + '"', "0x1_0000_0000", "{a = {b = {c = {d = 1}}}}"]
    lines = base.splitlines()
    assignable = [i for i, line in enumerate(lines) if re.match(r"^\s*[A-Za-z_]+\s*=", line)]
    n = 40 if ctx.quick else 250
    row = Row("malformed profiles")
    refused = accepted = 0
    folder = ctx.root / "profiles"
    folder.mkdir()
    for k in range(n):
        mutated = list(lines)
        i = rng.choice(assignable)
        key = mutated[i].split("=", 1)[0]
        mutated[i] = f"{key}= {rng.choice(bad_values)}"
        path = folder / f"p{k:03d}.toml"
        path.write_text("\n".join(mutated) + "\n")
        try:
            tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError:
            pass  # not TOML at all: still must be refused cleanly
        code, out, escaped = in_process_cli(["profile", "check", str(path)])
        row.runs += 1
        row.tracebacks += int(escaped or "Traceback" in out)
        if code == 2:
            refused += 1
        elif code == 0:
            accepted += 1
        else:
            row.notes.append(f"p{k:03d}: exit {code}")
    row.notes.insert(0, f"{refused} refused (exit 2), {accepted} accepted")
    return row


def fuzzed_modules(ctx: Ctx) -> Row:
    """The module parser on bit-flipped, truncated and length-mangled demo modules: a FirmwareError or a parse."""
    from station.errors import StationError
    from station.firmware.demo import build_demo_modules
    from station.firmware.module import parse_module

    modules = list(build_demo_modules("boron").values())
    rng = random.Random(5)
    n = 300 if ctx.quick else 3300
    row = Row("fuzzed module files")
    refused = parsed = slow = 0
    for _ in range(n):
        data = bytearray(rng.choice(modules))
        how = rng.randrange(4)
        if how == 0:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif how == 1:
            del data[rng.randrange(len(data)):]
        elif how == 2:  # the suffix's length field, the prefix's end address
            pos = rng.choice([len(data) - 6, len(data) - 40, 4, 8])
            data[pos : pos + 2] = rng.randbytes(2)
        else:
            pos = rng.randrange(max(1, len(data) - 64))
            data[pos : pos + 64] = rng.randbytes(64)
        t0 = time.monotonic()
        try:
            parse_module(bytes(data))
            parsed += 1
        except StationError:
            refused += 1
        except Exception as exc:  # anything else is a crash a user would see as a traceback
            row.tracebacks += 1
            row.notes.append(f"{exc.__class__.__name__}: {str(exc)[:60]}")
        slow += time.monotonic() - t0 > 2.0
        row.runs += 1
    row.notes.insert(0, f"{refused} refused, {parsed} parsed, {slow} over 2 s")
    return row


def full_disk(ctx: Ctx) -> Row:
    """The registry's disk fills mid-run (RLIMIT_FSIZE on the station), then a run with room again."""
    w = ctx.world("full-disk", 2)
    from station.store.registry import open_registry

    open_registry(w.db_url).close()  # the registry exists before the limit bites
    size = w.db_path.stat().st_size if w.db_path.exists() else 0
    limit = size + 48 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = w.run(w.provision_cmd("LOT-D", "faults-d"), preexec=cap)
    w.run(w.provision_cmd("LOT-D", "faults-d"))
    row = w.tally("full disk (file-size limit)", 1, expect={t.device_id for t in w.twins})
    row.notes.append(f"capped run exit {code}")
    w.close()
    return row


def registry_dropped(ctx: Ctx) -> Row:
    """The PostgreSQL registry database is dropped mid-run; then recreated and the lot re-run."""
    url = os.environ.get("STATION_TEST_DATABASE_URL")
    row = Row("registry dropped (PostgreSQL)")
    if not url:
        row.notes.append("skipped: no STATION_TEST_DATABASE_URL")
        return row
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"faults_{os.getpid()}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'create database "{name}"'))
    except Exception as exc:
        row.notes.append(f"skipped: cannot create a database ({exc.__class__.__name__})")
        return row
    db_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    w = ctx.world("registry-dropped", 2, db_url=db_url)
    try:
        p = w.popen(w.provision_cmd("LOT-R", "faults-r"))
        wait_for(lambda: bool(w.sql("select id from steps")), p)
        with admin.connect() as c:
            c.execute(text(f'drop database "{name}" with (force)'))
        code = w.collect(p)
        with admin.connect() as c:
            c.execute(text(f'create database "{name}"'))
        w.reset_faults()
        w.run(w.provision_cmd("LOT-R", "faults-r"))
        # the dropped database took its records with it; what counts is the run after it came back
        row.add(w.tally(row.scenario, 1, expect={t.device_id for t in w.twins}))
        row.notes.append(f"run during the drop: exit {code}")
    finally:
        w.close()
        with admin.connect() as c:
            c.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
    return row


def two_stations(ctx: Ctx) -> Row:
    """Two processes with one station name on one registry, each with its own devices, at once."""
    w = ctx.world("two-stations", 4)
    a = w.popen(w.provision_cmd("LOT-T", "cloned-name", w.twins[:2]))
    b = w.popen(w.provision_cmd("LOT-T", "cloned-name", w.twins[2:]))
    codes = [w.collect(a), w.collect(b)]
    w.run(w.provision_cmd("LOT-T", "cloned-name"))  # the refused one (if any) runs again alone
    row = w.tally("two stations, one name", 1, expect={t.device_id for t in w.twins})
    row.notes.append(f"exits {codes}")
    w.close()
    return row


def _cloud_world(ctx: Ctx, name: str, n: int) -> tuple[World, Any, list[str]]:
    from outbox_helpers import device_ids, register_devices

    from station.store.records import CloudTargets
    from station.store.registry import open_registry

    w = ctx.world(name, 1)
    reg = open_registry(w.db_url)
    ids = register_devices(reg, device_ids(n), CloudTargets(particle_product="widget-1"))
    return w, reg, ids


def _sync(w: World, api: str, *extra: str) -> int:
    return w.run([sys.executable, "-m", "station", "cloud", "sync", "--db", w.db_url, "--api-url", api, *extra])


def hostile_cloud(ctx: Ctx) -> Row:
    """Hostile answers: huge and far-future Retry-After, bodies of the wrong shape, 5xx; then a healthy server."""
    from fake_cloud import FakeParticle

    answers: list[tuple[int, Any, dict[str, str]]] = [
        (429, None, {"Retry-After": "99999999999999999"}),
        (429, None, {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}),
        (200, {"updatedDeviceIds": "e00fce680000000000000000"}, {}),
        (200, ["not", "an", "object"], {}),
        (503, {"error": "maintenance"}, {}),
    ]
    if ctx.quick:
        answers = answers[1:4]
    row = Row("hostile cloud")
    for k, (status, body, headers) in enumerate(answers):
        w, reg, ids = _cloud_world(ctx, f"cloud-{k}", 3)
        with FakeParticle(TOKEN) as fake:
            fake.fail_next(status, body=body, headers=headers, times=4)
            _sync(w, fake.url)
            fake.script.clear()  # the server is healthy again
            w.run([sys.executable, "-m", "station", "cloud", "retry", "--db", w.db_url, "--all-waiting"])
            _sync(w, fake.url)
            imported = {r[0] for r in w.sql("select device_id from outbox where state = 'imported'")}
            r = w.tally(row.scenario, 1, expect=None)
            r.records_lost = len(set(ids) - imported)  # every entry reaches the cloud in the end
            r.duplicates += sum(max(0, c - 1) for c in fake.import_counts.values()
                                if c > 1 and status == 200)  # a mis-settled batch sent again
            row.add(r)
        reg.close()
        w.close()
    return row


def echoed_credential(ctx: Ctx) -> Row:
    """A server that echoes the credential (as is, upper-cased, URL-encoded, base64) in its errors."""
    from fake_cloud import FakeParticle

    row = Row("echoed credential")
    shapes = token_shapes()
    for k, shape in enumerate(shapes if not ctx.quick else shapes[:3]):
        w, reg, _ids = _cloud_world(ctx, f"echo-{k}", 2)
        with FakeParticle(TOKEN) as fake:
            fake.fail_next(400, body={"error": f"bad request for token {shape} (Bearer {shape})"}, times=4)
            _sync(w, fake.url)
            w.run([sys.executable, "-m", "station", "cloud", "retry", "--db", w.db_url, "--all-failed"])
            fake.fail_next(500, body=f"internal error, Authorization: Bearer {shape}", times=4)
            _sync(w, fake.url)
            for args in (["cloud", "list", "--db", w.db_url], ["cloud", "list", "--db", w.db_url, "--json"],
                         ["cloud", "status", "--db", w.db_url]):
                w.run([sys.executable, "-m", "station", *args])
            row.add(w.tally(row.scenario, 1, expect=None))
        reg.close()
        w.close()
    return row


SCENARIOS: dict[str, Callable[[Ctx], Row]] = {
    "kill": kill_9, "unplug": unplug, "swd": swd_rates, "stuck": stuck_word, "profiles": malformed_profiles,
    "modules": fuzzed_modules, "disk": full_disk, "dropped": registry_dropped, "stations": two_stations,
    "cloud": hostile_cloud, "echo": echoed_credential,
}


# ====================================================================== driver
class Ctx:
    def __init__(self, root: Path, quick: bool) -> None:
        from station.firmware.cache import FirmwareCache
        from station.firmware.demo import install_demo_firmware

        self.root = root
        self.quick = quick
        self.cache = root / "cache"
        install_demo_firmware(FirmwareCache(self.cache), "boron")

    def world(self, name: str, n: int, db_url: str | None = None) -> World:
        return World(self.root, name, n, self.cache, db_url)


COLUMNS = ("runs", "records_lost", "duplicates", "first_connects", "keys_lost", "secrets_leaked", "tracebacks")


def print_table(rows: list[Row]) -> None:
    head = ["scenario", "runs", "records lost", "duplicates", "first connects", "keys lost", "secrets leaked",
            "tracebacks"]
    width = max(len(r.scenario) for r in rows) + 2
    print(f"| {head[0]:<{width}}| " + " | ".join(head[1:]) + " |")
    print(f"|{'-' * (width + 1)}|" + "|".join("-" * (len(h) + 2) for h in head[1:]) + "|")
    for r in rows:
        cells = [str(getattr(r, c)).rjust(len(h)) for c, h in zip(COLUMNS, head[1:], strict=True)]
        print(f"| {r.scenario:<{width}}| " + " | ".join(cells) + " |")
    total = Row("total")
    for r in rows:
        total.add(r)
    cells = [str(getattr(total, c)).rjust(len(h)) for c, h in zip(COLUMNS, head[1:], strict=True)]
    print(f"| {'total':<{width}}| " + " | ".join(cells) + " |")
    print()
    for r in rows:
        if r.notes:
            print(f"{r.scenario}: " + "; ".join(r.notes))


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="faults-", dir=os.environ.get("TMPDIR")) as tmp:
        yield Path(tmp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a sample of each class (a few minutes)")
    ap.add_argument("--only", default="", help=f"comma-separated classes: {', '.join(SCENARIOS)}")
    args = ap.parse_args()
    chosen = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario classes: {', '.join(sorted(unknown))}")
    rows: list[Row] = []
    t0 = time.monotonic()
    with workspace() as root:
        ctx = Ctx(root, args.quick)
        for name in chosen:
            t = time.monotonic()
            row = SCENARIOS[name](ctx)
            row.notes.append(f"{time.monotonic() - t:.0f} s, load {load()}")
            rows.append(row)
            print(f"... {row.scenario}: done in {time.monotonic() - t:.0f} s (load {load()})", file=sys.stderr,
                  flush=True)
    print(f"\nissue 10 catalogue against twins ({'quick' if args.quick else 'full'}), "
          f"{time.monotonic() - t0:.0f} s, load {load()}\n")
    print_table(rows)


if __name__ == "__main__":
    main()
