"""The application layer as a front end drives it, against real twins: open a session from
settings, discover slots with the transport rule, prepare, start and watch a run, look devices up,
read the lot and the cloud outbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from station.app import EventKind, SessionSettings, StationSession
from station.domain import Transport
from station.errors import ConfigError
from station.firmware.cache import FirmwareCache
from station.firmware.demo import install_demo_firmware
from station.pipeline.events import Event
from station.pipeline.line import SlotSpec
from station.sim.bench import Bench, forget_twins

REPO = Path(__file__).resolve().parents[2]
DEMO_BORON = REPO / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # A session exports its bench as STATION_SIM_DIR (for child processes: station.app.bench.use_sim_dir);
    # undone after the test, or a later in-process CLI call of the same pytest run (tests/pipeline's
    # device show / lot report) takes this test's bench as its own and the next run finds no probe.
    monkeypatch.setenv("STATION_SIM_DIR", "")
    monkeypatch.delenv("STATION_SIM_DIR")
    bench = Bench(tmp_path / "bench")
    bench.path.mkdir(parents=True, exist_ok=True)
    cache = FirmwareCache(tmp_path / "cache")
    install_demo_firmware(cache, "boron")
    settings = SessionSettings(db_url=f"sqlite:///{tmp_path / 'reg.db'}", cache_dir=cache.root, sim_dir=bench.path,
                               station_name="st-app", labels_dir=tmp_path / "labels", create_registry=True)
    yield bench, settings, tmp_path
    from station.hw import backend

    backend.use_sim(None)
    forget_twins(bench.path)


def _usb_profile(tmp_path: Path) -> Path:
    p = tmp_path / "usb.toml"
    text = DEMO_BORON.read_text().replace('transport = "swd"', 'transport = "usb"').replace(
        'action = "halt"', 'action = "dfu"')
    blocks = text.split("[[tests]]")  # the SWD memory check has no meaning on a USB bench
    p.write_text("[[tests]]".join(b for b in blocks if 'name = "approtect-open"' not in b))
    return p


def test_a_session_runs_a_lot_end_to_end_and_reads_it_back(world) -> None:  # type: ignore[no-untyped-def]
    bench, settings, tmp_path = world
    twins = bench.create(2, seed=61)
    events: list[Event] = []
    with StationSession(settings, events.append) as session:
        assert {r["id"] for r in session.attached(identify=False) if r["kind"] == "probe"} == {
            t.identity.probe_uid for t in twins}
        slots = session.discover_slots()
        assert [s.transport for s in slots] == [Transport.SWD, Transport.SWD]
        job = session.prepare(DEMO_BORON, lot="LOT-A", operator="alice", answers=["led=yes"])
        assert session.unanswerable_prompts() == []
        handle = session.start()
        assert handle.wait(240)
        results = handle.results()
        assert [r.outcome for r in results] == ["passed", "passed"], [(r.failing_step, r.reason) for r in results]
        assert job.lot_name == "LOT-A" and [lt.name for lt in session.lots()] == ["LOT-A"]
        assert session.lot_overview("LOT-A").passed == 2
        assert session.lot_report("LOT-A").first_pass_yield == 1.0
        out = session.export("LOT-A", "txt", tmp_path / "LOT-A.txt")
        assert sorted(out.path.read_text().split()) == sorted(t.device_id for t in twins)
        assert session.outbox_counts()[0] >= 2  # queued for import, nothing sent
        found = session.lookup(twins[0].device_id[:10])
        assert found.record.device_id == twins[0].device_id
        assert session.device_record(twins[1].device_id).lot == "LOT-A"
        assert EventKind.PROMPT in {e.kind for e in events}  # the scripted answer went through the broker
        closed = [e for e in events if e.kind is EventKind.PROMPT_CLOSED]
        assert closed and all(e.data["answered_by"] == "--answer" for e in closed)


def test_a_misspelt_answer_is_refused_before_the_registry_is_created(world) -> None:  # type: ignore[no-untyped-def]
    _bench, settings, tmp_path = world
    session = StationSession(settings)
    with pytest.raises(ConfigError, match="did you mean 'led'"):
        session.prepare(DEMO_BORON, answers=["ledd=yes"])
    assert not (tmp_path / "reg.db").exists()


def test_the_transport_rule_and_no_slots_naming_the_bench(world) -> None:  # type: ignore[no-untyped-def]
    _bench, settings, tmp_path = world
    session = StationSession(settings)
    session.prepare(_usb_profile(tmp_path), answers=["led=yes"])
    assert session.use_usb() is True  # the profile says USB: a bench run over USB
    assert session.use_usb(slots="1=ABC") is False  # named SWD slots win
    with pytest.raises(ConfigError, match="simulated bench"):
        session.start()  # an empty bench
    with pytest.raises(ConfigError, match="cannot be combined"):
        session.discover_slots(usb=True, slots="all")
    session.close()


def test_bench_watch_starts_a_plugged_device_and_cancel_ends_only_it(world) -> None:  # type: ignore[no-untyped-def]
    bench, settings, tmp_path = world
    events: list[Event] = []
    session = StationSession(SessionSettings(**{**settings.__dict__, "usb": True}), events.append)
    session.prepare(_usb_profile(tmp_path), answers=["led=yes"])
    session.watch(interval=0.1)
    try:
        first, second = bench.create(2, seed=62)
        from station.sim.stock import ship_with_bootloader

        # The first takes a real device's time and is cancelled as its attempt starts, so the cancel
        # lands mid-run (at its first step boundary): a twin's whole run takes about a second, and in
        # the worker processes two bench devices get it could end before the cancel reached it.
        first.update_state(realtime=True)
        ship_with_bootloader(first, second)
        _until("the first device starts", lambda: any(e.kind is EventKind.ATTEMPT_STARTED and e.slot == first.device_id
                                                      for e in events), 60)
        assert first.device_id in session.active()
        assert session.cancel(first.device_id) == [first.device_id]
        _until("the second device starts", lambda: any(e.kind is EventKind.ATTEMPT_STARTED and e.slot == second.device_id
                                                       for e in events), 60)
        assert session.wait(240)
    finally:
        session.close()
    # Read as a front end reads them, from the session's slot_result events: a device that starts
    # after the run went idle may start a new run (its runner decided at that Start), so the last
    # handle need not hold the first device's result.
    by = {e.slot: e.outcome for e in events if e.kind == "slot_result"}
    assert by[first.device_id] == "cancelled" and by[second.device_id] == "passed", by
    arrived = {e.slot for e in events if e.kind == "device_arrived"}
    assert {first.device_id, second.device_id} <= arrived



def _until(what: str, cond: Callable[[], bool], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _polls_pass(session: StationSession, n: int = 4) -> None:
    """Let the seat poll look ``n`` more times (counted, not timed)."""
    seats = session._seats
    start = seats.checks
    _until("the seat poll stopped", lambda: seats.checks >= start + n, 30)


@pytest.mark.timeout(600)
def test_a_unit_seated_behind_a_probe_that_stays_starts_and_a_finished_one_does_not(world) -> None:  # type: ignore[no-untyped-def]
    bench, settings, _ = world
    first, second = bench.create(2, seed=71)
    bench.lift(second.name)  # slot 2's fixture is empty when the line starts
    events: list[Event] = []
    session = StationSession(settings, events.append)
    session.prepare(DEMO_BORON, lot="LOT-S", operator="alice", answers=["led=yes"])

    def started(uid: str) -> int:
        return sum(1 for e in events if e.kind is EventKind.ATTEMPT_STARTED and e.slot == uid)

    def outcomes(uid: str) -> list[str]:
        return [r.outcome for r in (session.handle.results() if session.handle else []) if r.slot == uid]

    a, b = first.identity.probe_uid, second.identity.probe_uid
    session.watch(interval=0.1)
    try:
        # The probe arriving with a unit seated starts at once; the empty fixture does not.
        _until("slot 1 did not start on its seated unit", lambda: started(a) == 1)
        # While slot 1 runs, the poll keeps asking slot 2's empty fixture and never slot 1's probe
        # (the twin's probe is exclusive: a poll opening it mid-run would end the run ERROR).
        _polls_pass(session)
        assert started(b) == 0
        _until("slot 1 did not finish", lambda: len(outcomes(a)) == 1)
        assert outcomes(a) == ["passed"], session.handle.results() if session.handle else None
        # The unit that finished stays seated: it is not provisioned again.
        _polls_pass(session, 6)
        assert started(a) == 1
        # The operator seats a unit in slot 2: it starts.
        bench.plug(second.name)
        _until("slot 2 did not start when a unit was seated", lambda: started(b) == 1)
        # Slot 1: the unit taken out, the next seated: it starts again.
        bench.lift(first.name)
        _polls_pass(session)
        assert started(a) == 1
        bench.plug(first.name)
        _until("slot 1 did not start on the next unit", lambda: started(a) == 2)
        _until("the runs did not finish", lambda: len(outcomes(a)) == 2 and len(outcomes(b)) == 1)
        assert outcomes(b) == ["passed"] and outcomes(a)[-1] in ("passed", "skipped"), session.handle.results()
        assert any(e.kind == "unit_seated" and e.slot == b for e in events)
    finally:
        session.close()
    assert session._seats is None  # the poll stopped with the watcher


@pytest.mark.slow
def test_prestarted_workers_serve_the_line_slots_without_a_new_process(world) -> None:  # type: ignore[no-untyped-def]
    """Issue 12/16: with slot_workers = "process" the window pre-starts one worker per line slot, so
    pressing Start spawns nothing (8 interpreters at the press stalled the window for seconds)."""
    import dataclasses
    import multiprocessing

    bench, settings, tmp = world
    twins = bench.create(2, seed=73)
    config = tmp / "station.toml"
    config.write_text('[station]\nname = "st-app"\nslot_workers = "process"\n[slots]\n'
                      + "".join(f'"{i + 1}" = "{t.identity.probe_uid}"\n' for i, t in enumerate(twins)))
    before = {p.pid for p in multiprocessing.active_children()}

    def workers() -> dict[str, int | None]:
        return {p.name: p.pid for p in multiprocessing.active_children()
                if p.name.startswith("slot-") and p.pid not in before}

    session = StationSession(dataclasses.replace(settings, config_path=config))
    try:
        session.prepare(DEMO_BORON, lot="LOT-P", operator="alice", answers=["led=yes"])
        assert workers() == {}, "nothing starts before the pre-start"
        assert session.prestart() == []
        started = workers()
        assert set(started) == {"slot-1", "slot-2"}
        for spec in session.slots():
            assert session.start_slot(spec)
        assert session.wait(240)
        assert session.handle is not None
        assert [r.outcome for r in session.handle.results_by_slot()] == ["passed", "passed"]
        assert workers() == started, "the run used the pre-started workers, not new ones"
    finally:
        session.close()
    assert workers() == {}, "closing the session ends its workers"


@pytest.mark.slow
def test_a_line_of_two_slots_gets_worker_processes_without_the_setting(world) -> None:  # type: ignore[no-untyped-def]
    """The default slot_workers = "auto": a station.toml naming two slots (and a registry file) gets a
    worker per slot from the window's pre-start, with nobody having set slot_workers."""
    import dataclasses
    import multiprocessing

    bench, settings, tmp = world
    twins = bench.create(2, seed=75)
    config = tmp / "station.toml"
    config.write_text('[station]\nname = "st-auto"\n[slots]\n'
                      + "".join(f'"{i + 1}" = "{t.identity.probe_uid}"\n' for i, t in enumerate(twins)))
    before = {p.pid for p in multiprocessing.active_children()}
    session = StationSession(dataclasses.replace(settings, config_path=config))
    try:
        session.prepare(DEMO_BORON, lot="LOT-A", operator="alice")
        assert session.prestart() == []
        started = {p.name for p in multiprocessing.active_children() if p.pid not in before}
        assert started == {"slot-1", "slot-2"}
        assert session.handle is not None and session.handle.runner.name == "process"
    finally:
        session.close()
    assert {p.pid for p in multiprocessing.active_children()} - before == set()


def test_prestart_starts_nothing_for_thread_slots(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One bench device under the default "auto": its slot stays a thread (a worker would only add its start)."""
    import multiprocessing

    monkeypatch.delenv("STATION_SLOT_WORKERS", raising=False)  # the default, whatever the shell running the tests set

    bench, settings, _ = world
    bench.create(1, seed=74)
    before = {p.pid for p in multiprocessing.active_children()}
    with StationSession(settings) as session:
        session.prepare(DEMO_BORON, lot="LOT-T", operator="alice")
        assert session.prestart() == []
        assert {p.pid for p in multiprocessing.active_children()} - before == set()


def test_a_bench_start_decides_its_runner_from_the_devices_attached_then(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """slot_workers = "auto" is decided at each Start, not when the profile loaded: a bench that had one
    device at the load (a thread) and has two at Start gets workers; back to one, a thread again.
    A run with a slot still going keeps its runner (checked in the slow test below)."""
    import dataclasses

    from station.sim.stock import ship_with_bootloader

    monkeypatch.delenv("STATION_SLOT_WORKERS", raising=False)  # the default, whatever the shell set
    bench, settings, tmp = world
    (first,) = bench.create(1, seed=81, prefix="one")
    ship_with_bootloader(first)
    session = StationSession(dataclasses.replace(settings, usb=True))
    try:
        session.prepare(_usb_profile(tmp), lot="LOT-S", operator="alice")
        assert session.prestart() == []
        loaded = session.handle
        assert loaded is not None and loaded.runner.name == "thread"  # one device when the profile loaded
        (second,) = bench.create(1, seed=82, prefix="two")
        ship_with_bootloader(second)
        session.watch(auto_start=False, interval=0.05)
        _until("the watcher lists both devices", lambda: session.planned_slots() == 2, 60)
        at_start = session._handle()  # the run a Start (start_slot) hands its slot to
        assert at_start is not loaded and at_start.runner.name == "process", at_start.runner
        assert session._handle() is at_start, "the same count keeps the run (and its pre-started workers)"
        bench.unplug(second.name)
        _until("the watcher sees one device", lambda: session.planned_slots() == 1, 60)
        assert session._handle().runner.name == "thread"
    finally:
        session.close()


@pytest.mark.slow
def test_a_start_after_a_second_device_arrived_runs_in_workers_and_a_running_run_keeps_its_runner(  # type: ignore[no-untyped-def]
        world, monkeypatch) -> None:
    import dataclasses
    import multiprocessing

    from station.sim.stock import ship_with_bootloader

    monkeypatch.delenv("STATION_SLOT_WORKERS", raising=False)
    bench, settings, tmp = world
    (first,) = bench.create(1, seed=83, prefix="one")
    ship_with_bootloader(first)
    before = {p.pid for p in multiprocessing.active_children()}
    session = StationSession(dataclasses.replace(settings, usb=True))
    try:
        session.prepare(_usb_profile(tmp), lot="LOT-W", operator="alice", answers=["led=yes"])
        assert session.prestart() == []  # one device: nothing pre-started
        (second,) = bench.create(1, seed=84, prefix="two")
        ship_with_bootloader(second)
        session.watch(auto_start=False, interval=0.05)
        _until("the watcher lists both devices", lambda: session.planned_slots() == 2, 60)
        for twin in (first, second):  # Start all, as the window does: one start_slot per card
            assert session.start_slot(SlotSpec(twin.device_id, Transport.USB, twin.device_id))
        assert session.handle is not None and session.handle.runner.name == "process"
        running = session.handle
        bench.unplug(second.name)  # one device left while the run goes: the run keeps its runner
        _until("the watcher sees one device", lambda: session.planned_slots() == 1, 60)
        assert session._handle() is running
        assert session.wait(240)
        workers = {p.name for p in multiprocessing.active_children() if p.pid not in before}
        assert {f"slot-{first.device_id}", f"slot-{second.device_id}"} <= workers, workers
        by = {r.slot: r.outcome for r in running.results()}
        assert by[first.device_id] == "passed", by
    finally:
        session.close()


def test_a_device_switching_modes_after_its_run_is_not_taken_for_a_new_plug_in(
        world, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A run that ends leaving its device to re-enumerate (normal -> DFU, the USB profile's final
    action): one listing has it gone in one mode and there in the other. That is the same plug-in,
    not an unplug and a new device (which would start it again: SKIPPED, already provisioned)."""
    import station.hw.hotplug as hotplug

    _bench, settings, _tmp = world
    device = "e00fce68" * 3
    listing: dict[tuple[str, str, str | None], object] = {("usb", device, "normal"): object()}
    monkeypatch.setattr(hotplug, "usb_lister", lambda: dict(listing))
    events: list[Event] = []
    session = StationSession(SessionSettings(**{**settings.__dict__, "usb": True}), events.append)
    try:
        session.watch(interval=3600, auto_start=False)  # one listing now; the rest polled below
        arrivals = lambda: [e for e in events if e.kind == "device_arrived"]  # noqa: E731
        assert len(arrivals()) == 1
        listing.clear()
        listing[("usb", device, "dfu")] = object()
        session._watcher.poll()  # type: ignore[union-attr]
        assert len(arrivals()) == 1 and not [e for e in events if e.kind == "device_left"]
        listing.clear()  # now it is unplugged, and plugging it in again is a new plug-in
        session._watcher.poll()  # type: ignore[union-attr]
        listing[("usb", device, "dfu")] = object()
        session._watcher.poll()  # type: ignore[union-attr]
        assert len(arrivals()) == 2 and len([e for e in events if e.kind == "device_left"]) == 1
    finally:
        session.close()
