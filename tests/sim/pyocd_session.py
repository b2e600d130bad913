"""A pyocd session on a twin's probe, as the sim tests open it (station-like options)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyocd.core.helpers import ConnectHelper
from pyocd.core.session import Session

from station.sim.device import Twin


@contextmanager
def session(twin: Twin, project_dir: Path, **options: Any) -> Iterator[Session]:
    opts = {"auto_unlock": False, "resume_on_disconnect": False, **options}
    s = ConnectHelper.session_with_chosen_probe(
        unique_id=twin.identity.probe_uid, blocking=False, options=opts, project_dir=str(project_dir), no_config=True
    )
    assert s is not None, "probe not found"
    with s:
        yield s
