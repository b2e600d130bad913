"""Where a run's slots do their hardware work: the ``slot_workers`` setting resolved for one run.

``thread`` and ``process`` mean what they say (:mod:`station.pipeline.slot_worker`). ``auto``, the
default, is what a production station wants without anyone knowing the setting: a worker process
per slot when the run has two or more slots (threads share one GIL: 8 slots in threads took 1.50×
one slot, in workers 1.13×, issue 16) and the registry can be opened by other processes (a SQLite
file or PostgreSQL); a thread otherwise, because one bench slot gains nothing from a worker and
would pay its start (~1 s: interpreter, imports, pyocd, a registry lease), and an in-memory
registry exists in this process only. The choice is made once per run handle, from the slots it
is given or told to expect, so every slot of one run has the same runner.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL

from station.config import SLOT_WORKER_CHOICES, check_slot_workers
from station.store.engine import parse_url, sqlite_path

THREAD = "thread"
PROCESS = "process"
AUTO = "auto"
RUNNERS = (THREAD, PROCESS)
#: what the setting accepts (names are a contract: station files and scripts spell them)
CHOICES = SLOT_WORKER_CHOICES


@dataclass(frozen=True)
class Runner:
    """The runner one run got, and the reason a person reads (``station config show``, the log)."""

    name: str  # THREAD or PROCESS
    why: str

    @property
    def process(self) -> bool:
        return self.name == PROCESS


def shareable(url: str | URL | None) -> bool:
    """Whether a worker process can open the same registry (``None``: the default SQLite file)."""
    if url is None:
        return True
    parsed = url if isinstance(url, URL) else parse_url(url)  # a bad URL: ConfigError naming the setting
    if parsed.get_backend_name() != "sqlite":
        return True
    return sqlite_path(parsed.render_as_string(hide_password=False)) is not None


def resolve(setting: str, *, slots: int, registry_url: str | URL | None) -> Runner:
    """The runner for a run of ``slots`` slots on the registry at ``registry_url``."""
    check_slot_workers(setting)
    if setting != AUTO:
        return Runner(setting, f"slot_workers = {setting}")
    if slots < 2:
        return Runner(THREAD, f"auto: {slots} slot{'' if slots == 1 else 's'}, and one slot gains nothing "
                              "from a worker process but would pay its start")
    if not shareable(registry_url):
        return Runner(THREAD, f"auto: {slots} slots, but the registry is in memory (other processes cannot open it)")
    return Runner(PROCESS, f"auto: {slots} slots and a registry other processes can open")
