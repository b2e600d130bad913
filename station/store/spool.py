"""Attempt closes a station owes its registry, kept on this PC while the registry is away.

When the registry becomes unavailable mid-run (a dropped PostgreSQL, a full disk) the attempts in
flight cannot be closed. The registry object keeps what each should have been closed as and
writes it as soon as any unit of work succeeds again. If the process must exit first, the owed
closes go to a small JSON file here (one per registry URL); the next station process on this PC
that takes a lease on that registry closes them with their own reasons ("registry unavailable"),
instead of the generic "station stopped during the attempt" a crashed process's attempts get.

The file lives in the user state directory, not beside a SQLite registry: a full registry disk
would refuse it too. If it cannot be written either, the attempts are logged by id and end up
closed as abandoned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from station import paths

LOG = logging.getLogger(__name__)


def spool_dir() -> Path:
    return paths.state_dir() / "owed-closes"


def _path(url: str) -> Path:
    return spool_dir() / (hashlib.sha256(url.encode()).hexdigest()[:20] + ".json")


def save(url: str, owed: dict[int, str]) -> bool:
    """Merge ``owed`` (attempt id → reason) into this registry's file; False if it could not be written."""
    path = _path(url)
    try:
        merged = {**load(url), **owed}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({str(k): v for k, v in merged.items()}))
        os.replace(tmp, path)
        return True
    except OSError as exc:
        LOG.error("could not keep the owed attempt closes %s on this PC: %s", sorted(owed), exc)
        return False


def load(url: str) -> dict[int, str]:
    try:
        data = json.loads(_path(url).read_text())
        return {int(k): str(v) for k, v in data.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        LOG.warning("ignoring an unreadable owed-closes file for this registry: %s", exc)
        return {}


def forget(url: str, attempt_ids: set[int]) -> None:
    left = {k: v for k, v in load(url).items() if k not in attempt_ids}
    path = _path(url)
    try:
        if left:
            path.write_text(json.dumps({str(k): v for k, v in left.items()}))
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:
        LOG.warning("could not update the owed-closes file: %s", exc)
