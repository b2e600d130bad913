"""The application layer: the one surface the CLI, the GUI and the tests drive the station through.

* :class:`StationSession` (opened from :class:`SessionSettings`): slots, jobs, runs, watching,
  devices, lots, the cloud outbox;
* a run's :class:`RunHandle` and its typed :class:`Event` stream (:class:`EventKind`);
* operator prompts: :class:`Prompt`, :class:`PromptBroker`, :class:`ScriptedAnswers`;
* the step catalogue (:func:`steps_for`) and the settings table (:mod:`station.settings`);
* small modules for the rest of a front end's work: :mod:`station.app.settings` (the settings
  table's rows, where files live), :mod:`~station.app.firmware`, :mod:`~station.app.profiles`,
  :mod:`~station.app.labels`, :mod:`~station.app.lots`, :mod:`~station.app.cloud`,
  :mod:`~station.app.runs` (event and prompt types for a presenter), :mod:`~station.app.bench`
  (choosing and handling the twins), :mod:`~station.app.doctor`, :mod:`~station.app.registry`.

The names are imported on first use (PEP 562): the session pulls in the pipeline, the registry
and SQLAlchemy, which a command such as ``station devices`` (only :func:`attached`) never needs;
importing them all here cost it about 0.7 s of its start-up, and would make ``import
station.app.firmware`` (``station firmware inspect``) pay for them too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# light (no pipeline), and eager so that the name is the function, never the submodule of the same name
from station.app.attached import attached

if TYPE_CHECKING:
    from station.app.session import SessionSettings, StationSession
    from station.pipeline.events import Event, EventKind, EventSink
    from station.pipeline.handle import RunHandle
    from station.pipeline.job import Job, SlotResult
    from station.pipeline.line import SlotSpec
    from station.pipeline.prompts import Prompt, PromptBroker, PromptState, ScriptedAnswers
    from station.pipeline.steps import CATALOGUE, StepInfo, steps_for

#: where each public name lives
_HOMES = {
    "SessionSettings": "station.app.session", "StationSession": "station.app.session",
    "Event": "station.pipeline.events", "EventKind": "station.pipeline.events", "EventSink": "station.pipeline.events",
    "RunHandle": "station.pipeline.handle",
    "Job": "station.pipeline.job", "SlotResult": "station.pipeline.job",
    "SlotSpec": "station.pipeline.line",
    "Prompt": "station.pipeline.prompts", "PromptBroker": "station.pipeline.prompts",
    "PromptState": "station.pipeline.prompts", "ScriptedAnswers": "station.pipeline.prompts",
    "CATALOGUE": "station.pipeline.steps", "StepInfo": "station.pipeline.steps", "steps_for": "station.pipeline.steps",
}

__all__ = ["CATALOGUE", "Event", "EventKind", "EventSink", "Job", "Prompt", "PromptBroker", "PromptState",
           "RunHandle", "ScriptedAnswers", "SessionSettings", "SlotResult", "SlotSpec", "StationSession",
           "StepInfo", "attached", "steps_for"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
