"""The simulated bench as a front end handles it: pointing this process at one, twins on a bench
folder, their faults, the demo benches.

:func:`activate_sim` is the one place a front end makes this process talk to twins; ``station
sim``, ``station demo`` and the window's demo controls create and handle twins the way a bench
technician handles boards. This is the one application module that imports the twin
(:mod:`station.sim`), and it does so inside its functions: light on purpose, so ``station
devices`` (which needs only :func:`activate_sim`) and a real line load no simulator code and none
of :mod:`station.app.session`'s pipeline, registry and SQLAlchemy (about 0.7 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import types
import typing
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.domain import PLATFORMS
from station.errors import ConfigError
from station.procs import pid_alive
from station.settings import env_var

if TYPE_CHECKING:
    import threading

    from station.sim.bench import Bench
    from station.sim.device import Faults, State, Twin
    from station.sim.serve import BenchServer, SwdPublisher

__all__ = ["DEMO_RUN_PREFIX", "activate_sim", "bench_server", "demo_root", "demo_station_name", "fault_values", "find_twin",
           "new_demo_bench", "open_bench", "parse_faults", "press_reset", "probe_choices", "probe_server_main", "serve_until_stopped",
           "ship_with_bootloader", "stop_signals", "swd_publisher", "twin_row"]

DEMO_RUN_PREFIX = "run-"
_OWNER = "owner.pid"


# ---------------------------------------------------------------------------- benches and twins
def activate_sim(sim_dir: Path | None) -> None:
    """A bench directory makes this process talk to its twins (the one place a front end does so).

    It hands the bench to :mod:`station.hw.backend`, which wires pyusb and serial discovery; pyocd
    finds the ``sim`` probe plugin through its entry point and the same environment variable.
    """
    if sim_dir is None:
        return
    if not Path(sim_dir).is_dir():
        raise ConfigError(f"the simulated bench {sim_dir} does not exist (--sim-dir / {env_var('sim_dir')}); "
                          f"create twins with `station sim create 4 --dir {sim_dir}`, or unset it to use real hardware")
    from station.hw import backend

    os.environ[env_var("sim_dir")] = str(Path(sim_dir).resolve())  # for child processes
    backend.use_sim(Path(sim_dir).resolve())


def open_bench(bench_dir: Path | None, *, must_exist: bool = True, realtime: bool | None = None) -> Bench:
    """The bench at ``bench_dir`` (``--dir`` / ``STATION_SIM_DIR``); ConfigError when none is named or,
    with ``must_exist``, when the folder is not there."""
    from station.sim.bench import Bench

    if bench_dir is None:
        raise ConfigError(f"no bench directory: pass --dir or set {env_var('sim_dir')}")
    if must_exist and not Path(bench_dir).is_dir():
        raise ConfigError(f"bench directory {bench_dir} does not exist (create twins with 'station sim create')")
    return Bench(bench_dir, realtime=realtime)


def find_twin(bench: Bench, name: str) -> Twin:
    try:
        return bench.get(name)
    except KeyError:
        known = ", ".join(bench.names()) or "none"
        raise ConfigError(f"no twin named {name!r} in {bench.path} (twins: {known})") from None


def twin_row(twin: Twin) -> dict[str, Any]:
    """A twin as a table row: identity, and what it is doing (plugged, run state, running app)."""
    st = twin.state
    return {
        "name": twin.name,
        "device_id": twin.device_id,
        "probe_uid": twin.identity.probe_uid,
        "platform": twin.platform.name,
        "build_code": twin.identity.build_code,
        "probe_model": st.probe_model,
        "serial_number": twin.serial_number(),
        "plugged": st.plugged,
        "probe_attached": st.probe_attached,
        "lifted": st.lifted,
        "run_state": st.run_state,
        "running_app": st.running_app,
    }


def probe_choices() -> tuple[str, ...]:
    """The probe models ``station sim create --probe`` accepts (``ideal``: SWD wire time only)."""
    from station.sim.probe_usb import PROBE_CHOICES

    return tuple(PROBE_CHOICES)


def press_reset(twin: Twin) -> State:
    """The reset button: the twin boots from its flash (no debugger involved)."""
    from station.sim.boot import boot_device

    return boot_device(twin, cause="button-reset")


# ---------------------------------------------------------------------------- faults
def fault_values(faults: Faults | None = None) -> dict[str, Any]:
    """Every fault knob and its value (``None``: the defaults, i.e. no fault)."""
    from station.sim.device import Faults

    current = faults if faults is not None else Faults()
    return {f.name: getattr(current, f.name) for f in fields(current)}


def _convert(name: str, text: str, hints: dict[str, Any]) -> Any:
    """Turn ``text`` into the type of Faults field ``name`` (ints accept 0x…, ``none`` clears)."""
    hint = hints[name]
    args = typing.get_args(hint)
    optional = isinstance(hint, types.UnionType) and type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    if optional and text.lower() in ("none", "off", ""):
        return None
    try:
        if base is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if base is int:
            return int(text, 0)
        if base is float:
            return float(text)
        if base is str:
            if name == "wrong_platform" and text not in PLATFORMS:
                raise ValueError(f"unknown platform (known: {', '.join(sorted(PLATFORMS))})")
            return text
        if typing.get_origin(base) is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return {str(k): float(v) for k, v in value.items()}
    except ValueError as exc:
        raise ConfigError(f"fault {name}={text!r}: {exc}") from None
    raise ConfigError(f"fault {name}: unsupported type {hint}")


def parse_faults(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` words → Faults changes. ``measurement_overrides.<cmd>=<v>`` sets one override."""
    from station.sim.device import Faults

    hints = typing.get_type_hints(Faults)
    known = {f.name for f in fields(Faults)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"fault {pair!r}: expected key=value")
        key = key.strip()
        if key.startswith("measurement_overrides."):
            overrides = changes.setdefault("measurement_overrides", {})
            try:
                overrides[key.split(".", 1)[1]] = float(value)
            except ValueError:
                raise ConfigError(f"fault {pair!r}: a measurement override is a number") from None
            continue
        if key not in known:
            raise ConfigError(f"unknown fault {key!r} (known: {', '.join(sorted(known))})")
        changes[key] = _convert(key, value.strip(), hints)
    return changes


# ---------------------------------------------------------------------------- serving twins to other programs
def probe_server_main(argv: list[str]) -> int:
    """The twins' pyocd probe server (``station sim probe-server``: a frozen bundle has no ``python -m``)."""
    from station.sim.probe_server import main

    return main(argv)


def bench_server(bench: Bench, *, serial: bool = True, usb: bool = True, swd: bool = False,
                 swd_per_process: int = 1) -> BenchServer:
    """The bench's twins published as ptys, umockdev USB devices and pyocd probe servers (a context manager)."""
    from station.sim.serve import BenchServer

    return BenchServer(bench, serial=serial, usb=usb, swd=swd, swd_per_process=swd_per_process)


def stop_signals() -> AbstractContextManager[threading.Event]:
    """An event set by SIGTERM (and by Ctrl-C), installed before a server announces itself."""
    from station.sim.serve import stop_signals as signals

    return signals()


def serve_until_stopped(stop: threading.Event) -> None:
    from station.sim.serve import serve_until_stopped as serve

    serve(stop)


def swd_publisher(bench: Bench, names: Sequence[str]) -> SwdPublisher:
    """The named twins' SWD probes behind pyocd probe servers (one process per twin)."""
    from station.sim.serve import SwdPublisher

    return SwdPublisher(bench, names=list(names))


def ship_with_bootloader(*twins: Twin) -> None:
    """Twins as a USB bench gets devices: a bootloader, waiting in DFU mode."""
    from station.sim.stock import ship_with_bootloader as ship

    ship(*twins)


# ---------------------------------------------------------------------------- demo benches
def demo_root() -> Path:
    """Where demo benches live: the user's cache folder (never the temp folder, where they piled up)."""
    import platformdirs

    return Path(platformdirs.user_cache_path("station")) / "demo"


def _old_benches(root: Path) -> Iterator[Path]:
    return root.glob(f"{DEMO_RUN_PREFIX}*") if root.is_dir() else iter(())


def new_demo_bench(root: Path) -> tuple[Path, int, int]:
    """A fresh bench folder for this run under ``root``; earlier runs' benches are removed.

    Returns ``(folder, benches removed, bytes freed)``. A bench whose demo is still running (its
    ``owner.pid`` is alive) is left alone, so two demos at once never pull twins from each other.
    """
    import shutil
    import time

    removed = freed = 0
    for old in _old_benches(root):
        try:
            pid = int((old / _OWNER).read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and pid_alive(pid):
            continue
        freed += sum(f.stat().st_size for f in old.rglob("*") if f.is_file() and not f.is_symlink())
        shutil.rmtree(old, ignore_errors=True)
        removed += 1
    folder = root / f"{DEMO_RUN_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    folder.mkdir(parents=True)
    (folder / _OWNER).write_text(f"{os.getpid()}\n")
    return folder, removed, freed


def demo_station_name(bench_dir: Path) -> str:
    """Each demo bench is its own station: liveness and lots are per station name, and benches on
    two PCs sharing one registry (``--db``) must not look like one station cloned onto two PCs."""
    digest = hashlib.sha256(str(bench_dir).encode()).hexdigest()[:8]
    return f"demo-{socket.gethostname() or 'host'}-{digest}"
