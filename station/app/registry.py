"""Opening the registry for a front end that needs only the record (no session, no bench, no cache).

A :class:`~station.app.session.StationSession` opens its registry lazily; a command that reads or
writes only records (``lot export -o -``, ``label``) opens it here, so choosing the simulated bench
(``STATION_SIM_DIR``) can never stop a report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from station.store.registry import Registry

__all__ = ["open_registry"]


def open_registry(db_url: str | None, *, create: bool = False) -> Registry:
    """The registry at ``db_url`` (None: the settings table's). Only front ends that record a run
    pass ``create=True``; the others report a missing registry instead of making an empty one."""
    from station.store.registry import open_registry as open_

    return open_(db_url, create=create)
