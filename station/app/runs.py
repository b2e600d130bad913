"""What a presenter of a run needs: the event and result types, the step catalogue, prompts.

A terminal's progress bars, the window's slot cards and a test's recorder all turn the same
:class:`Event` stream into what they show, and answer the same :class:`Prompt` objects; this is
the one place they import those names from (the machinery is :mod:`station.pipeline`).
``YES`` / ``NO`` are the words an operator may type for a yes/no prompt, shared with ``--answer``.
"""

from __future__ import annotations

from station.ftest.answers import NO, YES
from station.pipeline.events import Event, EventKind, EventSink
from station.pipeline.job import SlotResult
from station.pipeline.prompts import Prompt, PromptBroker, PromptState, Responder, ScriptedAnswers
from station.pipeline.steps import BY_NAME, CATALOGUE, StepInfo, spans, steps_for

__all__ = ["BY_NAME", "CATALOGUE", "NO", "YES", "Event", "EventKind", "EventSink", "Prompt", "PromptBroker",
           "PromptState", "Responder", "ScriptedAnswers", "SlotResult", "StepInfo", "spans", "steps_for"]
