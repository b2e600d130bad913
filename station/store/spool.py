"""Attempt closes a station owes its registry, kept on this PC while the registry is away.

When the registry becomes unavailable mid-run (a dropped PostgreSQL, a full disk) the attempts in
flight cannot be closed. The registry object keeps what each should have been closed as and
writes it as soon as any unit of work succeeds again. If the process must exit first, the owed
closes go to a small JSON file here (one per registry URL); the next station process on this PC
that takes a lease on that registry writes them as they were meant: outcome, failing step, reason
and fault. So an attempt the outage itself ended keeps its station-error fault
(``registry-unavailable``: ERROR on its slot, a station error in the lot figures) and one whose
unit had already been judged (a test out of limits) stays that unit's failure, instead of the
generic "station stopped during the attempt" a crashed process's attempts get. A file written
before closes kept their fault holds reasons only: those are written as failed with no fault, as
then (whether the unit or the station ended them is not known).

The file lives in the user state directory, not beside a SQLite registry: a full registry disk
would refuse it too. If it cannot be written either, the attempts are logged by id and end up
closed as abandoned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from station import paths
from station.domain import Outcome

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class OwedClose:
    """How an attempt should have been closed when the registry could not take it."""

    outcome: str
    failing_step: str | None
    reason: str
    fault: str | None


def _owed(value: Any) -> OwedClose:
    if isinstance(value, str):  # a file from before closes kept their fault: the reason is all there is
        return OwedClose(Outcome.FAILED.value, None, value, None)
    if not isinstance(value, dict) or not isinstance(value.get("outcome"), str) \
            or not isinstance(value.get("reason"), str):
        raise ValueError(f"not an owed close: {value!r}")
    step, fault = value.get("failing_step"), value.get("fault")
    return OwedClose(value["outcome"], step if isinstance(step, str) else None, value["reason"],
                     fault if isinstance(fault, str) else None)


def _dump(owed: dict[int, OwedClose]) -> str:
    return json.dumps({str(k): asdict(v) for k, v in owed.items()})


def spool_dir() -> Path:
    return paths.state_dir() / "owed-closes"


def _path(url: str) -> Path:
    return spool_dir() / (hashlib.sha256(url.encode()).hexdigest()[:20] + ".json")


def save(url: str, owed: dict[int, OwedClose]) -> bool:
    """Merge ``owed`` (attempt id → its close) into this registry's file; False if it could not be written."""
    path = _path(url)
    try:
        merged = {**load(url), **owed}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(_dump(merged))
        os.replace(tmp, path)
        return True
    except OSError as exc:
        LOG.error("could not keep the owed attempt closes %s on this PC: %s", sorted(owed), exc)
        return False


def load(url: str) -> dict[int, OwedClose]:
    try:
        data = json.loads(_path(url).read_text())
        return {int(k): _owed(v) for k, v in data.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, AttributeError) as exc:
        LOG.warning("ignoring an unreadable owed-closes file for this registry: %s", exc)
        return {}


def forget(url: str, attempt_ids: set[int]) -> None:
    left = {k: v for k, v in load(url).items() if k not in attempt_ids}
    path = _path(url)
    try:
        if left:
            path.write_text(_dump(left))
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        LOG.warning("could not update the owed-closes file: %s", exc)
