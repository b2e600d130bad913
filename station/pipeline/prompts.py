"""Operator prompts: a question a slot asks a person, as an object with an identity and a lifecycle.

Two slots asking "Is the status LED green?" are two prompts (each names its slot, device and
step), so an answer goes to the right board. A prompt is **open** until it is **answered**, **timed
out** (nobody answered within its timeout: the step fails "not answered within N s", recorded) or
**aborted** (its slot was cancelled or its device unplugged). Slot threads block in
:meth:`PromptBroker.ask`; any thread answers by prompt id. Every prompt is an event
(``prompt`` when it opens, ``prompt_closed`` with how it ended), so every front end sees the same.

Who answers is pluggable (in the spirit of qutebrowser's ``Question``): a :data:`Responder` is told
of each prompt as it opens. :class:`ScriptedAnswers` answers from ``--answer STEP=yes`` flags;
:mod:`station.cli.prompting` asks on a terminal one prompt at a time; the GUI answers from a card.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from station.ftest.context import AskOperator
from station.pipeline.events import Event, EventKind, EventSink, guarded, null_sink

YES_NO = ("yes", "no")


class PromptState(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    TIMED_OUT = "timed out"
    ABORTED = "aborted"


@dataclass
class Prompt:
    id: str
    slot: str
    device_id: str | None
    step: str
    question: str
    timeout_s: float
    choices: tuple[str, ...] = YES_NO
    opened_at: float = field(default_factory=time.time)
    state: PromptState = PromptState.OPEN
    answer: str | None = None
    answered_by: str | None = None
    why: str = ""  # how it ended, in words (the abort reason)
    _done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def deadline(self) -> float | None:
        """Wall-clock time the prompt times out (None: no timeout)."""
        return self.opened_at + self.timeout_s if self.timeout_s > 0 else None

    def remaining(self, now: float | None = None) -> float | None:
        d = self.deadline
        return None if d is None else max(0.0, d - (time.time() if now is None else now))

    @property
    def closed(self) -> bool:
        return self._done.is_set()

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def to_dict(self) -> dict[str, Any]:
        return {"prompt_id": self.id, "slot": self.slot, "device_id": self.device_id, "step": self.step,
                "question": self.question, "choices": list(self.choices), "timeout_s": self.timeout_s,
                "opened_at": self.opened_at, "state": self.state.value, "answer": self.answer,
                "answered_by": self.answered_by, "why": self.why or self.state.value}


#: told of each prompt as it opens (in the asking slot's thread); answers through the broker, now or later
Responder = Callable[[Prompt, "PromptBroker"], None]


class PromptBroker:
    """Where slot threads ask and any thread answers. Thread-safe."""

    def __init__(self, sink: EventSink = null_sink, *, responders: list[Responder] | None = None,
                 poll_s: float = 0.1) -> None:
        self.sink = guarded(sink)
        self.responders = list(responders or [])
        self._poll = poll_s
        self._lock = threading.Lock()
        self._open: dict[str, Prompt] = {}
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ asking (slot threads)
    def ask(self, slot: str, device_id: str | None, step: str, question: str, timeout_s: float,
            cancel: threading.Event | None = None, choices: tuple[str, ...] = YES_NO) -> Prompt:
        """Open a prompt and block until it is answered, times out or is aborted; the closed prompt."""
        p = Prompt(f"{slot}:{next(self._ids)}", slot, device_id, step, question, timeout_s, tuple(choices))
        with self._lock:
            self._open[p.id] = p
        self.sink(Event(EventKind.PROMPT, slot, device_id=device_id, step=step, message=question, data=p.to_dict()))
        for responder in self.responders:
            if p.closed:
                break
            try:
                responder(p, self)
            except Exception as exc:  # a broken answerer must not hang the slot: the prompt ends aborted
                self._close(p, PromptState.ABORTED, why=f"the prompt could not be shown: {exc!r}")
        while not p.wait_closed(self._poll):
            if cancel is not None and cancel.is_set():
                self._close(p, PromptState.ABORTED, why="the slot was cancelled")
            elif p.deadline is not None and time.time() >= p.deadline:
                self._close(p, PromptState.TIMED_OUT, why=f"not answered within {timeout_s:g} s")
        return p

    def asker(self, slot: str, cancel: threading.Event, device: Callable[[], str | None]) -> AskOperator:
        """The ``ask_operator`` callable of one slot (a :data:`~station.pipeline.handle.AskerFactory`)."""

        def ask(step: str, question: str, timeout_s: float) -> bool | None:
            p = self.ask(slot, device(), step, question, timeout_s, cancel)
            if p.state is not PromptState.ANSWERED:
                return None
            return p.answer == p.choices[0]

        return ask

    # ------------------------------------------------------------------ answering (any thread)
    def answer(self, prompt_id: str, choice: str, *, by: str | None = None) -> bool:
        """Answer an open prompt; False if it is closed already or the choice is not one of its own."""
        with self._lock:
            p = self._open.get(prompt_id)
        if p is None or choice not in p.choices:
            return False
        return self._close(p, PromptState.ANSWERED, answer=choice, by=by)

    def abort(self, *, slot: str | None = None, prompt_id: str | None = None, why: str = "aborted") -> int:
        """Abort the open prompts of a slot (device unplugged, slot cancelled) or one prompt."""
        with self._lock:
            chosen = [p for p in self._open.values()
                      if (slot is None or p.slot == slot) and (prompt_id is None or p.id == prompt_id)]
        return sum(self._close(p, PromptState.ABORTED, why=why) for p in chosen)

    def open_prompts(self, slot: str | None = None) -> list[Prompt]:
        with self._lock:
            return [p for p in self._open.values() if slot is None or p.slot == slot]

    def _close(self, p: Prompt, state: PromptState, *, answer: str | None = None, by: str | None = None,
               why: str = "") -> bool:
        with self._lock:
            if p.closed:
                return False
            p.state, p.answer, p.answered_by, p.why = state, answer, by, why or state.value
            self._open.pop(p.id, None)
            p._done.set()
        self.sink(Event(EventKind.PROMPT_CLOSED, p.slot, device_id=p.device_id, step=p.step,
                        outcome=state.value, message=p.why, data=p.to_dict()))
        return True


class ScriptedAnswers:
    """A responder answering from a table given up front (``--answer led=yes``): by step name."""

    def __init__(self, answers: Mapping[str, bool], *, by: str = "--answer") -> None:
        self.answers = dict(answers)
        self.by = by

    def __call__(self, prompt: Prompt, broker: PromptBroker) -> None:
        if prompt.step in self.answers:
            yes, no = prompt.choices[0], prompt.choices[-1]
            broker.answer(prompt.id, yes if self.answers[prompt.step] else no, by=self.by)
