"""Slots in worker processes (``slot_workers = "process"``) behind the same run handle, against real twins.

What a front end or the registry would notice: the same run gives the same outcomes and records
through either runner; a cancel reaches only its slot; a prompt reaches the right slot and its
answer goes back to that slot's board; a worker killed mid-device ends its slot ERROR (not a hang)
with its attempt closed as after a station crash, and the slot works again; two boards sharing one
ID in two workers are never both provisioned.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.pool
import os
import signal
import time
from typing import Any

import pytest

from station.domain import Outcome, Transport
from station.errors import ConfigError
from station.pipeline.events import Event, EventKind
from station.pipeline.handle import RunHandle
from station.pipeline.line import SlotSpec, prepare_job
from station.pipeline.prompts import Prompt, PromptBroker
from station.pipeline.slot_worker import SlotWorker, WorkerConfig
from station.sim.bench import Bench
from station.sim.device import Twin
from station.store.attempts import ABANDONED_REASON
from station.store.registry import open_registry

from .conftest import Line, never_connected

pytestmark = pytest.mark.slow


def _workers(before: set[int | None]) -> dict[str, int | None]:
    """The slot workers started since ``before`` (other tests' runs may still have theirs)."""
    return {p.name: p.pid for p in multiprocessing.active_children()
            if p.name.startswith("slot-") and p.pid not in before}


def _pids() -> set[int | None]:
    return {p.pid for p in multiprocessing.active_children()}


def _slots(twins: list[Twin]) -> list[SlotSpec]:
    return [SlotSpec(str(i + 1), Transport.SWD, t.identity.probe_uid) for i, t in enumerate(twins)]


def _records(line: Line, lot: str) -> list[dict[str, Any]]:
    """What the registry kept of each attempt, without what differs between two boards (IDs, times)."""
    details = line.registry.attempt_details(lot)
    out = []
    for a in sorted(line.registry.lot_attempts(lot), key=lambda a: a.device_id):
        d = details.get(a.attempt_id, {"steps": [], "measurements": []})
        out.append({"outcome": a.outcome, "failing_step": a.failing_step,
                    "steps": [(s["name"], s["outcome"]) for s in d["steps"]],
                    "measurements": sorted((m["name"], m["passed"]) for m in d["measurements"])})
    return out


def test_the_same_run_through_threads_and_processes_gives_the_same_outcomes_and_records(
        line: Line, bench: Bench) -> None:
    outcomes: dict[str, list[tuple[str, str, list[tuple[str, str]]]]] = {}
    for runner, seed in (("thread", 51), ("process", 52)):
        twins = bench.create(2, seed=seed, prefix=runner)
        handle = RunHandle(line.job(lot=f"LOT-{runner}", slot_workers=runner), _slots(twins)).start()
        try:
            assert handle.wait(240)
        finally:
            handle.close()
        outcomes[runner] = [(r.slot, r.outcome, [(n, o) for n, o, _ in r.steps]) for r in handle.results_by_slot()]
        for t in twins:
            never_connected(t)
    assert [o for _, o, _ in outcomes["thread"]] == ["passed", "passed"]
    assert outcomes["process"] == outcomes["thread"]
    assert _records(line, "LOT-process") == _records(line, "LOT-thread")
    labels = {lot.name: sorted(p.name for p in lot.iterdir()) for lot in (line.tmp / "labels").iterdir()}
    assert len(labels["LOT-process"]) == len(labels["LOT-thread"]) >= 2, labels  # every device got its labels


def test_a_cancel_reaches_only_its_slot_and_the_worker_serves_the_slots_next_device(line: Line, bench: Bench) -> None:
    victim, bystander, after = bench.create(3, seed=53)
    job = line.job(slot_workers="process")
    handle = RunHandle(job, _slots([victim, bystander]))

    def hook(ev: Event) -> None:
        if ev.slot == "1" and ev.kind is EventKind.STEP_STARTED and ev.step == "flash":
            handle.cancel("1")

    line.hooks.append(hook)
    before = _pids()
    try:
        assert handle.start_workers() == []  # both ready before the first device
        started = _workers(before)
        handle.start()
        assert handle.wait(240)
        by = {r.slot: r for r in handle.results()}
        assert by["1"].outcome == "cancelled", (by["1"].failing_step, by["1"].reason)
        assert "register" not in [n for n, _, _ in by["1"].steps]
        assert by["2"].outcome == "passed", (by["2"].failing_step, by["2"].reason)
        workers = _workers(before)
        assert workers == started and set(workers) == {"slot-1", "slot-2"} and os.getpid() not in workers.values()
        line.hooks.clear()
        assert handle.add(SlotSpec("1", Transport.SWD, after.identity.probe_uid))
        assert handle.wait(240)
        assert handle.result("1") is not None and handle.result("1").outcome == "passed"  # type: ignore[union-attr]
        again = _workers(before)
        assert again["slot-1"] == workers["slot-1"], "the slot's next device reuses its worker"
    finally:
        handle.close()
    assert _workers(before) == {}, "close ends the run's workers"
    assert line.registry.device_status(victim.device_id).last_outcome == "cancelled"
    never_connected(victim)


def test_a_prompt_is_answered_on_its_own_slot(line: Line, bench: Bench) -> None:
    yes_twin, no_twin = bench.create(2, seed=54)
    events: list[Event] = []
    asked: list[Prompt] = []

    def responder(p: Prompt, broker: PromptBroker) -> None:
        asked.append(p)
        broker.answer(p.id, "yes" if p.slot == "1" else "no", by="tester")

    broker = PromptBroker(events.append, responders=[responder])
    job = line.job(slot_workers="process")
    handle = RunHandle(job, _slots([yes_twin, no_twin]), asker=broker.asker).start()
    try:
        assert handle.wait(240)
    finally:
        handle.close()
    by = {r.slot: r for r in handle.results()}
    assert by["1"].outcome == "passed", (by["1"].failing_step, by["1"].reason)
    assert by["2"].outcome == "failed" and by["2"].failing_step == "led", by["2"].reason
    assert {(p.slot, p.step, p.device_id) for p in asked} == {("1", "led", yes_twin.device_id),
                                                             ("2", "led", no_twin.device_id)}
    recorded = {m.device_id: m for m in line.registry.lot_measurements(job.lot_name) if m.name == "led"}
    assert recorded[yes_twin.device_id].passed and not recorded[no_twin.device_id].passed


def test_a_killed_worker_ends_its_slot_error_and_leaves_the_registry_consistent(line: Line, bench: Bench) -> None:
    doomed, bystander, spare = bench.create(3, seed=55)
    job = line.job(slot_workers="process")
    handle = RunHandle(job, _slots([doomed, bystander]))
    before = _pids()

    def hook(ev: Event) -> None:
        if ev.slot == "1" and ev.kind is EventKind.STEP_STARTED and ev.step == "flash":
            pid = _workers(before)["slot-1"]
            assert pid is not None
            os.kill(pid, signal.SIGKILL)

    line.hooks.append(hook)
    handle.start()
    try:
        assert handle.wait(240), "a dead worker must not hang its slot"
        by = {r.slot: r for r in handle.results()}
        assert by["1"].outcome == Outcome.ERROR and by["1"].reason is not None
        assert by["1"].reason.startswith("worker process died"), by["1"].reason
        assert by["1"].device_id == doomed.device_id
        assert by["2"].outcome == "passed", (by["2"].failing_step, by["2"].reason)
        finished = [e for e in line.events if e.slot == "1" and e.kind is EventKind.ATTEMPT_FINISHED]
        assert len(finished) == 1 and finished[0].outcome == Outcome.ERROR
        assert handle.claims.claim(doomed.device_id, "3") is None, "the dead worker's device may be plugged in again"
        handle.claims.release(doomed.device_id, "3")
        attempts = [a for a in line.registry.lot_attempts(job.lot_name) if a.device_id == doomed.device_id]
        assert [a.outcome for a in attempts] == ["failed"] and attempts[0].finished_at is not None
        assert line.registry.device_record(doomed.device_id) is not None
        reason = line.registry.device_detail(doomed.device_id)
        assert reason is not None and ABANDONED_REASON in repr(reason)
        line.hooks.clear()
        assert handle.add(SlotSpec("1", Transport.SWD, spare.identity.probe_uid))  # a new worker takes the slot
        assert handle.wait(240)
        assert handle.result("1") is not None and handle.result("1").passed  # type: ignore[union-attr]
    finally:
        handle.close()


def test_two_boards_sharing_an_id_in_two_workers_are_never_both_provisioned(line: Line, bench: Bench) -> None:
    """Both boards are on their fixtures at once: whichever reads the ID first is held at its operator
    question (the demo profile's led step) until the other has read the same ID, so the two attempts
    overlap however the worker processes happen to start (a board that only arrives after the first
    was provisioned is a second scan, skipped as already provisioned: another test's business)."""
    twins = bench.create(2, seed=56, deviceid=(0x1234_5678, 0x9ABC_DEF0))
    assert twins[0].device_id == twins[1].device_id
    asked: list[Prompt] = []
    broker = PromptBroker(responders=[lambda p, _b: asked.append(p)])
    job = line.job(slot_workers="process")
    handle = RunHandle(job, _slots(twins), asker=broker.asker).start()
    try:
        finished: set[str] = set()
        deadline = time.monotonic() + 240
        while not handle.wait(0.2):
            assert time.monotonic() < deadline, "the run did not end"
            finished = {e.slot for e in list(line.events) if e.kind is EventKind.ATTEMPT_FINISHED}
            if finished:  # the board that read the ID second has ended: let the held one go on
                for p in list(asked):
                    broker.answer(p.id, "yes", by="tester")
        assert finished, "one board must end while the other is held at its question"
    finally:
        handle.close()
    results = handle.results()
    assert not any(r.passed for r in results), [(r.slot, r.outcome, r.reason) for r in results]
    assert any("share" in (r.reason or "") for r in results), [(r.slot, r.reason) for r in results]
    assert line.registry.device_status(twins[0].device_id).registered_product_id is None


def test_process_workers_refuse_a_registry_only_this_process_can_open(line: Line, bench: Bench) -> None:
    registry = open_registry("sqlite://")
    try:
        job = prepare_job(profile_path=line.job().profile.path, cache=line.cache, registry=registry,
                          station="mem", operator="tester", slot_workers="process")
        with pytest.raises(ConfigError, match="in-memory"):
            RunHandle(job, _slots(bench.create(1, seed=57)))
    finally:
        registry.close()


def test_auto_gives_workers_to_a_run_of_two_slots_on_a_shared_registry_only(line: Line, bench: Bench) -> None:
    """The default: two slots on a registry file get a worker each; one slot, or an in-memory registry
    (which a worker could not open), stays in threads."""
    twins = bench.create(2, seed=58, prefix="auto")
    before = _pids()
    two = RunHandle(line.job(lot="LOT-auto"), _slots(twins))
    try:
        assert two.runner.name == "process"
        assert two.start_workers() == []
        assert set(_workers(before)) == {"slot-1", "slot-2"}
    finally:
        two.close()
    assert _workers(before) == {}
    one = RunHandle(line.job(lot="LOT-auto"), _slots(twins[:1]))
    assert one.runner.name == "thread" and one.start_workers() == [] and _workers(before) == {}
    registry = open_registry("sqlite://")
    try:
        job = prepare_job(profile_path=line.job().profile.path, cache=line.cache, registry=registry,
                          station="mem", operator="tester")
        handle = RunHandle(job, _slots(twins))  # with "process" this refuses (the test above); "auto" does not
        assert handle.runner.name == "thread" and "in memory" in handle.runner.why
        assert handle.start_workers() == [] and _workers(before) == {}
    finally:
        registry.close()


def test_an_unknown_runner_is_refused_naming_the_choices(line: Line) -> None:
    with pytest.raises(ConfigError, match="auto, thread, process"):
        RunHandle(line.job(slot_workers="fibre"))


def test_a_workers_log_records_reach_the_parents_handlers_not_the_terminal(
        line: Line, bench: Bench, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    """README: log records go to station.log, never the operator's terminal; a worker's too."""
    (twin,) = bench.create(1, seed=61, prefix="logs")
    twin.lift()  # an empty fixture: pyocd warns about the missing ACKs while the slot fails
    caplog.set_level(logging.WARNING)
    handle = RunHandle(line.job(lot="LOT-logs", slot_workers="process"), _slots([twin])).start()
    try:
        assert handle.wait(240)
    finally:
        handle.close()
    assert [r.outcome for r in handle.results()] == [Outcome.FAILED]
    worker_records = [r for r in caplog.records if r.processName.startswith("slot-")]
    assert worker_records, "no record of the worker reached the parent's logging"
    assert any(r.name.startswith(("pyocd", "station")) for r in worker_records)
    assert "No ACK" not in capfd.readouterr().err


def test_a_ctrl_c_that_reaches_a_starting_worker_leaves_it_alive(line: Line, bench: Bench) -> None:
    """A terminal's Ctrl-C goes to the whole process group: a worker still starting must not die of it
    (its slot would end ERROR "worker process died" instead of cancelled)."""
    job = line.job(slot_workers="process")
    worker = SlotWorker("1", WorkerConfig.of(job))
    try:
        # the worker is still starting its interpreter and imports, long before worker_main ignores SIGINT
        os.kill(worker.process.pid or 0, signal.SIGINT)
        assert worker.wait_ready(), f"the worker died of the Ctrl-C (exit code {worker.process.exitcode})"
        assert worker.alive
    finally:
        worker.close()
    assert worker.process.exitcode == 0



def test_a_worker_that_dies_before_ready_is_seen_even_if_its_pipe_end_is_held_open(
        line: Line, bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that dies while starting (a frozen bundle's bad entry, a crash in its imports) must not
    hang its slot, even when some other holder keeps the worker's end of the pipe open (an fd inherited
    by a fork elsewhere in the station), so no EOF ever comes on the pipe."""
    job = line.job(slot_workers="process")
    ctx = multiprocessing.get_context("spawn")
    real_pipe = ctx.Pipe
    leaked: list[int] = []

    def leaky_pipe(duplex: bool = True) -> Any:
        parent, child = real_pipe(duplex)
        leaked.append(os.dup(child.fileno()))  # this process keeps a copy of the worker's end
        return parent, child

    monkeypatch.setattr(ctx, "Pipe", leaky_pipe)
    worker = SlotWorker("1", WorkerConfig.of(job))
    try:
        os.kill(worker.process.pid or 0, signal.SIGKILL)  # dies long before it could report ready
        pool = multiprocessing.pool.ThreadPool(1)
        assert pool.apply_async(worker.wait_ready).get(timeout=30) is False
        assert not worker.alive
    finally:
        for fd in leaked:
            os.close(fd)
        worker.close()
    assert worker.process.exitcode == -signal.SIGKILL


def test_a_cancel_sent_with_the_device_to_a_ready_worker_is_not_lost(line: Line, bench: Bench) -> None:
    """Cancel pressed the instant a slot starts: the worker gets "run" and "cancel" back to back. Its
    pipe reader used to set the previous device's cancel before the worker's loop had made the new
    one, so the device was provisioned to the end as if nobody had cancelled it."""
    (twin,) = bench.create(1, seed=59)
    job = line.job(slot_workers="process")
    handle = RunHandle(job, planned=1)
    try:
        assert handle.start_workers(_slots([twin])) == []  # ready and waiting, as after the window's pre-start
        for _ in range(2):  # the second device of the slot too: a worker that already ran one
            assert handle.add(_slots([twin])[0])
            assert handle.cancel("1") == ["1"]
            assert handle.wait(240)
            r = handle.result("1")
            assert r is not None and r.outcome == "cancelled", (r.outcome, r.failing_step, r.reason) if r else None
    finally:
        handle.close()
    never_connected(twin)
