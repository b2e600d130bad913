"""Pointing this process at a bench of twins: light on purpose (``station devices`` needs no pipeline).

Kept apart from :mod:`station.app.session`, which imports the pipeline, the registry and
SQLAlchemy (about 0.7 s): a command that only lists what is attached must not pay for them.
"""

from __future__ import annotations

from pathlib import Path

from station import settings as table
from station.errors import ConfigError


def activate_sim(sim_dir: Path | None) -> None:
    """A bench directory makes this process talk to its twins (the one place a front end does so).

    It hands the bench to :mod:`station.hw.backend`, which wires pyusb and serial discovery; pyocd
    finds the ``sim`` probe plugin through its entry point and the same environment variable.
    """
    if sim_dir is None:
        return
    if not Path(sim_dir).is_dir():
        raise ConfigError(f"the simulated bench {sim_dir} does not exist (--sim-dir / {table.env_var('sim_dir')}); "
                          f"create twins with `station sim create 4 --dir {sim_dir}`, or unset it to use real hardware")
    import os

    from station.hw import backend

    os.environ[table.env_var("sim_dir")] = str(Path(sim_dir).resolve())  # for child processes
    backend.use_sim(Path(sim_dir).resolve())
