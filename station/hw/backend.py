"""The one place that knows whether the station talks to real hardware or to a bench of twins.

Everything else in ``station.hw`` asks this module for its pyusb backend and its serial-port
list, and never checks for simulation itself. Simulation is on after :func:`use_sim` (tests,
``--sim``) or when ``STATION_SIM_DIR`` names a bench; then the twins' USB devices come from the
simulated pyusb backend and a :class:`~station.sim.host.SimHost` in this process serves each
twin's serial pty (started once, stopped at exit). Otherwise pyusb picks libusb and pyserial
lists the OS's ports.
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serial.tools.list_ports

from station import settings

ENV_SIM_DIR = settings.env_var("sim_dir")

_lock = threading.RLock()
_explicit: Path | None = None
_backends: dict[Path, Any] = {}
_hosts: dict[Path, Any] = {}


@dataclass(frozen=True)
class PortInfo:
    """The fields of pyserial's ``ListPortInfo`` the station uses (a port found on a bench)."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    description: str = ""
    hwid: str = ""


def use_sim(bench_path: Path | str | None) -> None:
    """Talk to the twins on this bench from now on (``None``: back to real hardware / the env)."""
    global _explicit
    from station.sim.bench import set_default_bench

    with _lock:
        _explicit = Path(bench_path).resolve() if bench_path is not None else None
    set_default_bench(_explicit)  # the SWD probe plugin discovers twins through the default bench
    if _explicit is not None:
        _ensure_host(_explicit)


def sim_bench_path() -> Path | None:
    """The bench in use, or ``None`` when the station drives real hardware."""
    with _lock:
        if _explicit is not None:
            return _explicit
    env = settings.get("sim_dir")
    return Path(env).resolve() if env else None


def usb_backend() -> Any:
    """The pyusb backend to pass to ``usb.core.find``: the twins' in sim mode, else ``None`` (libusb)."""
    path = sim_bench_path()
    if path is None:
        return None
    with _lock:
        backend = _backends.get(path)
        if backend is None:
            from station.sim.bench import Bench
            from station.sim.usb_backend import SimUsbBackend

            backend = _backends[path] = SimUsbBackend(Bench(path))
    _ensure_host(path)
    return backend


def list_serial_ports() -> list[Any]:
    """Serial ports with their USB identity: the OS's, plus the twins' ptys in sim mode."""
    ports: list[Any] = list(serial.tools.list_ports.comports())
    path = sim_bench_path()
    if path is not None:
        _ensure_host(path).sync()  # catch up with the bench now instead of at the next poll
        from station.sim.serial_pty import published_ports

        ports.extend(
            PortInfo(device=p.port, vid=p.vid, pid=p.pid, serial_number=p.serial_number, description=p.name)
            for p in published_ports(path)
        )
    return ports


def _ensure_host(path: Path) -> Any:
    """Serve the bench's ptys from this process (once; twins another process serves are skipped)."""
    with _lock:
        host = _hosts.get(path)
        if host is None:
            from station.sim.bench import Bench
            from station.sim.host import SimHost

            host = _hosts[path] = SimHost(Bench(path))
            host.start()
        return host


def stop_sim_hosts() -> None:
    """Stop every pty host this process started (at exit, or between tests)."""
    with _lock:
        hosts = list(_hosts.values())
        _hosts.clear()
        _backends.clear()
    for host in hosts:
        host.stop()


atexit.register(stop_sim_hosts)
