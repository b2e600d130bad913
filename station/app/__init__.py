"""The application layer: the one surface the CLI, the GUI and the tests drive the station through.

* :class:`StationSession` (opened from :class:`SessionSettings`): slots, jobs, runs, watching,
  devices, lots, the cloud outbox;
* a run's :class:`RunHandle` and its typed :class:`Event` stream (:class:`EventKind`);
* operator prompts: :class:`Prompt`, :class:`PromptBroker`, :class:`ScriptedAnswers`;
* the step catalogue (:func:`steps_for`) and the settings table (:mod:`station.settings`).
"""

from __future__ import annotations

from station.app.attached import attached
from station.app.session import SessionSettings, StationSession
from station.pipeline.events import Event, EventKind, EventSink
from station.pipeline.handle import RunHandle
from station.pipeline.job import Job, SlotResult
from station.pipeline.line import SlotSpec
from station.pipeline.prompts import Prompt, PromptBroker, PromptState, ScriptedAnswers
from station.pipeline.steps import CATALOGUE, StepInfo, steps_for

__all__ = ["CATALOGUE", "Event", "EventKind", "EventSink", "Job", "Prompt", "PromptBroker", "PromptState",
           "RunHandle", "ScriptedAnswers", "SessionSettings", "SlotResult", "SlotSpec", "StationSession",
           "StepInfo", "attached", "steps_for"]
