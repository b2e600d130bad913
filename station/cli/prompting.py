"""Operator prompts on a terminal: one at a time, naming the slot and the device, with the timeout.

The terminal half of :mod:`station.pipeline.prompts` (``--answer`` flags are the other): a
responder that queues each prompt as it opens and one thread that asks them in turn. Several slots
may ask at once; the operator sees one question, answers it (``y``/``n``), then the next. A prompt
that times out or is aborted while queued is skipped; one that times out while shown says so.
"""

from __future__ import annotations

import queue
import select
import sys
import threading
from typing import IO, Any

from station.app.runs import NO, YES, Prompt, PromptBroker


class TerminalPrompter:
    """A :data:`~station.pipeline.prompts.Responder` asking on ``stdin``, writing through ``console``."""

    def __init__(self, console: Any, stdin: IO[str] | None = None, *, by: str = "terminal") -> None:
        self.console = console  # a rich Console (prints above a live progress display)
        self.stdin = stdin if stdin is not None else sys.stdin
        self.by = by
        self._queue: queue.Queue[tuple[Prompt, PromptBroker]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, prompt: Prompt, broker: PromptBroker) -> None:
        self._queue.put((prompt, broker))
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="operator-prompts", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while True:
            try:
                prompt, broker = self._queue.get(timeout=5.0)
            except queue.Empty:
                return  # idle: the next prompt starts a new worker
            if not prompt.closed:
                self._ask(prompt, broker)

    def _ask(self, prompt: Prompt, broker: PromptBroker) -> None:
        device = f" · device {prompt.device_id}" if prompt.device_id else ""
        left = prompt.remaining()
        within = f", {left:.0f} s to answer" if left is not None else ""
        self.console.print(f"[bold]slot {prompt.slot}{device}[/bold] · {prompt.step}: {prompt.question} "
                           f"[{'/'.join(c[0] for c in prompt.choices)}]{within}", highlight=False)
        while not prompt.closed:
            line = self._readline(0.2)
            if line is None:
                continue
            if line == "":  # end of input: nobody is left to answer
                return
            word = line.strip().lower()
            choice = self._choice(prompt, word)
            if choice is None:
                self.console.print(f"  answer {' or '.join(prompt.choices)} (slot {prompt.slot}: {prompt.question})",
                                   highlight=False)
                continue
            if broker.answer(prompt.id, choice, by=self.by):
                return
        self.console.print(f"  slot {prompt.slot}: {prompt.why or prompt.state.value}: {prompt.step} fails",
                           highlight=False)

    @staticmethod
    def _choice(prompt: Prompt, word: str) -> str | None:
        if word in prompt.choices:
            return word
        if tuple(prompt.choices) == ("yes", "no"):
            if word in YES:
                return "yes"
            if word in NO:
                return "no"
        return None

    def _readline(self, timeout: float) -> str | None:
        """A line from stdin, ``""`` at end of input, ``None`` if none came within ``timeout``."""
        try:
            ready, _, _ = select.select([self.stdin], [], [], timeout)
        except (ValueError, OSError):  # closed, or not selectable
            return ""
        if not ready:
            return None
        return self.stdin.readline()
