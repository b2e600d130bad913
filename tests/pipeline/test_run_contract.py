"""The live run's contract, against real twins: what any front end may rely on.

Every step started is finished exactly once; exactly one attempt-finished per slot; the events of
one slot arrive in order, from that slot's thread, starting before connect; test steps and
measurements reach the stream; a per-slot cancel ends only that slot; a handler that raises never
fails a device; the steps a run records are the step catalogue's, in its order.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path

from station.domain import Transport
from station.pipeline.events import Event, EventKind
from station.pipeline.handle import RunHandle, start
from station.pipeline.line import SlotSpec
from station.pipeline.steps import BY_NAME, CATALOGUE, steps_for
from station.profile.load import load_profile
from station.sim.bench import Bench

from .conftest import DEMO_BORON, Line, drop_tests, never_connected, profile_variant, ship_with_bootloader

PIPELINE = Path(__file__).resolve().parents[2] / "station" / "pipeline"


def _by_slot(events: list[Event]) -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = {}
    for ev in events:
        out.setdefault(ev.slot, []).append(ev)
    return out


def assert_contract(events: list[Event], profile: Path, transport: Transport, labels: bool = True) -> None:
    catalogue = [s.name for s in steps_for(load_profile(profile), transport, labels_dir=Path("x") if labels else None)]
    for slot, evs in _by_slot(events).items():
        kinds = [e.kind for e in evs]
        assert kinds[0] is EventKind.ATTEMPT_STARTED, (slot, kinds[:3])
        assert kinds.count(EventKind.ATTEMPT_STARTED) == 1 and kinds.count(EventKind.ATTEMPT_FINISHED) == 1
        assert kinds[-1] is EventKind.ATTEMPT_FINISHED, (slot, kinds[-3:])
        assert [e.seq for e in evs] == sorted(e.seq for e in evs), "one slot's events arrive in order"
        open_steps: list[str] = []
        finished: Counter[str] = Counter()
        started: Counter[str] = Counter()
        for e in evs:
            if e.kind is EventKind.STEP_STARTED:
                assert e.step not in open_steps
                open_steps.append(e.step or "")
                started[e.step or ""] += 1
            elif e.kind is EventKind.STEP_FINISHED:
                assert e.step in open_steps, f"{e.step} finished without starting"
                open_steps.remove(e.step or "")
                finished[e.step or ""] += 1
                assert "seconds" in e.data and "details" in e.data
            elif e.kind is EventKind.STEP_PROGRESS:
                assert e.step in open_steps
        assert not open_steps and started == finished and all(n == 1 for n in started.values()), (slot, started)
        recorded = [e.step for e in evs if e.kind is EventKind.STEP_STARTED]
        assert all(s in catalogue for s in recorded), (recorded, catalogue)
        assert recorded == sorted(recorded, key=catalogue.index), "steps run in the catalogue's order"
        assert evs[0].data["steps"] == [BY_NAME[n].to_dict() for n in catalogue]
        last = evs[-1]
        assert last.data["result"]["outcome"] == last.outcome and last.data["result"]["slot"] == slot


def test_two_swd_slots_keep_the_event_contract(line: Line, bench: Bench) -> None:
    twins = bench.create(2, seed=41)
    threads: dict[str, set[str]] = {}

    def hook(ev: Event) -> None:
        threads.setdefault(ev.slot, set()).add(threading.current_thread().name)

    line.hooks.append(hook)
    job = line.job()  # the default runner on purpose: the contract front ends see from two slots' workers
    handle = start(job, [SlotSpec(str(i + 1), Transport.SWD, t.identity.probe_uid) for i, t in enumerate(twins)])
    assert handle.wait(180)
    assert handle.active() == []
    results = handle.results()
    assert [r.outcome for r in results] == ["passed", "passed"], [(r.failing_step, r.reason) for r in results]
    finish_order = [e.slot for e in line.events if e.kind is EventKind.ATTEMPT_FINISHED]
    assert [r.slot for r in results] == finish_order, "results come in finish order"
    assert threads == {"1": {"slot-1"}, "2": {"slot-2"}}, "each slot's events come from its own, named thread"
    assert_contract(line.events, DEMO_BORON, Transport.SWD)
    one = _by_slot(line.events)["1"]
    kinds = [e.kind for e in one]
    assert kinds.index(EventKind.ATTEMPT_STARTED) < [e.step for e in one].index("connect")
    assert one[0].device_id is None and one[0].data["target"] == twins[0].identity.probe_uid  # "connecting"
    tests = [e for e in one if e.kind is EventKind.TEST_STEP]
    assert {e.data["status"] for e in tests} >= {"started", "passed"}
    battery = [e for e in one if e.kind is EventKind.MEASUREMENT and e.data["name"] == "battery"]
    assert battery and battery[0].data["low"] is not None and battery[0].data["high"] is not None
    assert battery[0].data["value"] is not None and battery[0].device_id == twins[0].device_id
    assert any(e.kind is EventKind.ATTEMPT_RECORDED and e.data["attempt_id"] for e in one)


def test_cancelling_one_slot_ends_only_that_slot_and_a_raising_handler_fails_nothing(line: Line, bench: Bench) -> None:
    victim, bystander = bench.create(2, seed=42)
    # slot_workers pinned to thread: in a thread the raising handler runs in the slot's own thread, inside
    # the pipeline's call (the case where it could break the slot); a worker's cancel is
    # test_slot_workers.py::test_a_cancel_reaches_only_its_slot_and_the_worker_serves_the_slots_next_device.
    # test_two_swd_slots_keep_the_event_contract keeps the default's workers.
    job = line.job(slot_workers="thread")
    handle = RunHandle(job, [SlotSpec("1", Transport.SWD, victim.identity.probe_uid),
                             SlotSpec("2", Transport.SWD, bystander.identity.probe_uid)])

    def hook(ev: Event) -> None:
        if ev.slot == "1" and ev.kind is EventKind.STEP_STARTED and ev.step == "flash":
            handle.cancel("1")
        if ev.kind in (EventKind.MEASUREMENT, EventKind.STEP_PROGRESS):
            raise RuntimeError("a broken progress bar")

    line.hooks.append(hook)
    handle.start()
    assert handle.wait(180)
    by = {r.slot: r for r in handle.results()}
    assert by["1"].outcome == "cancelled", (by["1"].failing_step, by["1"].reason)
    assert "register" not in [n for n, _, _ in by["1"].steps]  # it stopped at the step boundary after flash
    assert by["2"].outcome == "passed", (by["2"].failing_step, by["2"].reason)
    requested = [e.slot for e in line.events if e.kind is EventKind.CANCEL_REQUESTED]
    assert requested == ["1"]
    assert handle.cancel("1") == []  # already ended: nothing to ask
    assert_contract(line.events, DEMO_BORON, Transport.SWD)
    never_connected(victim)
    never_connected(bystander)
    audit = line.registry.audit_page(action="run-cancelled").rows
    assert audit and audit[0].details["slots"] == ["1"]


def test_a_usb_run_keeps_the_event_contract(line: Line, bench: Bench, tmp_path: Path) -> None:
    profile = profile_variant(tmp_path, lambda t: drop_tests(t, "approtect-open").replace(
        'transport = "swd"', 'transport = "usb"').replace('action = "halt"', 'action = "dfu"'))
    twin = bench.create(1, seed=43)[0]
    ship_with_bootloader(twin)
    results = line.usb([twin], profile)
    assert results[0].outcome == "passed", (results[0].failing_step, results[0].reason)
    assert_contract(line.events, profile, Transport.USB)
    first = _by_slot(line.events)[twin.device_id][0]
    assert first.device_id == twin.device_id  # over USB the device is known before anything is read


def test_every_step_the_flows_record_is_in_the_catalogue() -> None:
    names = set()
    for path in PIPELINE.glob("*.py"):
        text = path.read_text()
        names |= set(re.findall(r'rec\.step\("([a-z-]+)"', text))
        names |= {f"update-{role}" for role in ("bootloader", "ncp")} if 'rec.step(f"update-{role}")' in text else set()
        names |= set(re.findall(r'name="([a-z-]+)"\)', text)) & {"verify-final"}
    assert names and names <= set(BY_NAME), names - set(BY_NAME)
    assert len(CATALOGUE) == len(BY_NAME)
