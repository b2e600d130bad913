"""Operator prompts as objects: identity, lifecycle (answered, timed out, aborted), a broker any
thread answers through, and prompts in the run's event stream against real twins."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from station.domain import Transport
from station.pipeline.events import Event, EventKind
from station.pipeline.handle import RunHandle
from station.pipeline.line import SlotSpec
from station.pipeline.prompts import PromptBroker, PromptState, ScriptedAnswers
from station.sim.bench import Bench

from .conftest import Line, profile_variant


def _asking(broker: PromptBroker, slot: str, cancel: threading.Event | None = None,
            timeout: float = 10.0) -> tuple[threading.Thread, list]:  # type: ignore[type-arg]
    out: list = []  # type: ignore[type-arg]
    t = threading.Thread(target=lambda: out.append(
        broker.ask(slot, f"dev{slot}", "led", "Is the status LED green?", timeout, cancel)))
    t.start()
    return t, out


def _wait_open(broker: PromptBroker, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(broker.open_prompts()) < n:
        assert time.monotonic() < deadline, "prompts did not open"
        time.sleep(0.01)


def test_two_slots_asking_the_same_question_are_two_prompts_answered_apart() -> None:
    events: list[Event] = []
    broker = PromptBroker(events.append)
    t1, out1 = _asking(broker, "1")
    t2, out2 = _asking(broker, "2")
    _wait_open(broker, 2)
    by_slot = {p.slot: p for p in broker.open_prompts()}
    assert by_slot["1"].id != by_slot["2"].id and by_slot["1"].device_id == "dev1"
    assert not broker.answer(by_slot["2"].id, "maybe")  # not one of its choices
    assert broker.answer(by_slot["2"].id, "no", by="alice")
    assert not broker.answer(by_slot["2"].id, "yes")  # closed already: a second answer changes nothing
    t2.join(5)
    assert out2[0].state is PromptState.ANSWERED and out2[0].answer == "no" and out2[0].answered_by == "alice"
    assert [p.slot for p in broker.open_prompts()] == ["1"]  # slot 1 still waits for its own answer
    broker.answer(by_slot["1"].id, "yes")
    t1.join(5)
    assert out1[0].answer == "yes"
    opened = [e for e in events if e.kind is EventKind.PROMPT]
    closed = [e for e in events if e.kind is EventKind.PROMPT_CLOSED]
    assert {e.data["prompt_id"] for e in opened} == {e.data["prompt_id"] for e in closed}
    assert {e.slot for e in opened} == {"1", "2"} and opened[0].data["choices"] == ["yes", "no"]


def test_an_unanswered_prompt_times_out_and_a_cancelled_slot_aborts_its_own_only() -> None:
    broker = PromptBroker()
    t, out = _asking(broker, "1", timeout=0.3)
    t.join(5)
    assert out[0].state is PromptState.TIMED_OUT and out[0].why == "not answered within 0.3 s"
    cancel = threading.Event()
    ta, outa = _asking(broker, "a", cancel)
    tb, outb = _asking(broker, "b", threading.Event())
    _wait_open(broker, 2)
    cancel.set()
    ta.join(5)
    assert outa[0].state is PromptState.ABORTED
    assert [p.slot for p in broker.open_prompts()] == ["b"]
    assert broker.abort(slot="b", why="device unplugged") == 1
    tb.join(5)
    assert outb[0].state is PromptState.ABORTED and outb[0].why == "device unplugged"


def test_scripted_answers_are_a_responder_like_any_other() -> None:
    broker = PromptBroker(responders=[ScriptedAnswers({"led": False})])
    p = broker.ask("1", None, "led", "green?", 5.0)
    assert (p.state, p.answer, p.answered_by) == (PromptState.ANSWERED, "no", "--answer")
    p = broker.ask("1", None, "button", "pressed?", 0.2)  # not in the table: nobody answers it
    assert p.state is PromptState.TIMED_OUT


def test_prompts_of_a_run_name_slot_and_device_and_an_unanswered_one_fails_recorded(
        line: Line, bench: Bench, tmp_path: Path) -> None:
    profile = profile_variant(tmp_path, lambda t: t.replace("timeout = 30.0", "timeout = 1.0"))
    answered, ignored = bench.create(2, seed=44)
    broker = PromptBroker(line.sink)

    def answer_slot_1(ev: Event) -> None:
        if ev.kind is EventKind.PROMPT and ev.slot == "1":
            threading.Thread(target=broker.answer, args=(ev.data["prompt_id"], "yes")).start()

    line.hooks.append(answer_slot_1)
    # slot_workers pinned to thread: a worker's prompts reach the parent's broker and its answers go back
    # (test_slot_workers.py::test_a_prompt_is_answered_on_its_own_slot); this test is the broker's naming,
    # timeout and record
    job = line.job(profile, ask_operator=lambda s, q, t: None, slot_workers="thread")
    handle = RunHandle(job, [SlotSpec("1", Transport.SWD, answered.identity.probe_uid),
                             SlotSpec("2", Transport.SWD, ignored.identity.probe_uid)], sink=line.sink,
                       asker=broker.asker).start()
    assert handle.wait(180)
    by = {r.slot: r for r in handle.results()}
    assert by["1"].outcome == "passed", (by["1"].failing_step, by["1"].reason)
    assert by["2"].outcome == "failed" and by["2"].failing_step == "led"
    assert by["2"].reason == "led: 'Is the status LED green?' was not answered within 1 s"
    prompts = {e.slot: e for e in line.events if e.kind is EventKind.PROMPT}
    assert prompts["1"].device_id == answered.device_id and prompts["2"].device_id == ignored.device_id
    closed = {e.slot: e.data["state"] for e in line.events if e.kind is EventKind.PROMPT_CLOSED}
    assert closed == {"1": "answered", "2": "timed out"}
    detail = line.registry.device_detail(ignored.device_id)
    assert detail is not None  # recorded: the attempt's reason and the failed measurement
    assert detail.attempts[-1].row.reason == by["2"].reason and detail.attempts[-1].row.failing_step == "led"
    assert any(m["name"] == "led" and not m["passed"] for m in detail.attempts[-1].measurements)
