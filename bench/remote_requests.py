"""Count the station's requests to pyocd's remote probe servers by name, around ``bench/provision.py``.

    python bench/remote_requests.py --sizes 1          # any bench/provision.py arguments
    python bench/remote_requests.py --by-call --sizes 1  # also: which pyocd flash call made them

Each request is one round trip to a probe server (pyocd's ``TCPClientProbe``); the count is exact
and load-independent, unlike the CPU and wall figures beside it. It covers the whole run (the
warm-up session and the device-clock queries included), and the twins' side is not counted.
Printed at the end with the load.

``--by-call`` also files each request under the outermost pyocd flash-algorithm method on the
stack when it was made (``Flash.init``, ``Flash.compute_crcs``, ``Flash.start_program_page_with_buffer``,
``Flash.wait_for_completion``, ...) or the station's run builder method that stands in for pyocd's
page-by-page ones (``RunBuilder._load_run``, ``RunBuilder._start_run``: station/hw/swd/runs.py) and
the station function that called into pyocd, and counts the calls of each such method: what one
algorithm call costs in round trips. Walking the stack on
every request costs CPU, so its CPU figures are not comparable with a run without it.
"""

from __future__ import annotations

import atexit
import collections
import os
import runpy
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from pyocd.probe.tcp_client_probe import TCPClientProbe

counts: collections.Counter[str] = collections.Counter()
by_call: collections.Counter[str] = collections.Counter()
by_station: collections.Counter[str] = collections.Counter()
calls: collections.Counter[str] = collections.Counter()
_send = TCPClientProbe._perform_request_without_raise
_FLASH_FILE = os.path.join("pyocd", "flash", "flash.py")
_STATION = os.sep + "station" + os.sep
#: the station's wrappers around pyocd calls: the request is filed under their caller
_STATION_WRAPPERS = tuple(os.path.join("station", *p) for p in (
    ("hw", "swd", "transient.py"), ("hw", "swd", "pacing.py"), ("hw", "swd", "session.py"),
    ("hw", "swd", "algo.py"), ("hw", "swd", "runs.py")))
_RUNS_FILE = os.path.join("station", "hw", "swd", "runs.py")
#: the run builder's methods that take the place of pyocd's load_page_buffer/start_program_page_with_buffer
_RUN_METHODS = ("_load_run", "_start_run")


def _where(frame: FrameType | None) -> tuple[str, str]:
    """(outermost pyocd ``Flash`` method, innermost station function that is not one of the
    station's pyocd wrappers) on the stack of a request."""
    flash = "-"
    station = "-"
    while frame is not None:
        path = frame.f_code.co_filename
        if path.endswith(_FLASH_FILE):
            flash = f"Flash.{frame.f_code.co_name}"
        elif path.endswith(_RUNS_FILE) and frame.f_code.co_name in _RUN_METHODS:
            flash = f"RunBuilder.{frame.f_code.co_name}"
        elif station == "-" and _STATION in path and not path.endswith(_STATION_WRAPPERS):
            station = f"{Path(path).stem}.{frame.f_code.co_name}"
        frame = frame.f_back
    return flash, station


def _counted(self: TCPClientProbe, request: str, *args: Any) -> Any:
    counts[request] += 1
    return _send(self, request, *args)


def _counted_by_call(self: TCPClientProbe, request: str, *args: Any) -> Any:
    counts[request] += 1
    flash, station = _where(sys._getframe(1))
    by_call[flash] += 1
    by_station[station] += 1
    return _send(self, request, *args)


def _count_calls() -> None:
    """Count calls of the Flash methods (the twin's own Flash objects are not on this side)."""
    from pyocd.flash.flash import Flash

    for name in ("init", "uninit", "cleanup", "compute_crcs", "erase_all", "erase_sector", "program_page",
                 "start_program_page_with_buffer", "load_page_buffer", "wait_for_completion", "_call_function"):
        plain = getattr(Flash, name)

        def counted(*a: Any, _plain: Any = plain, _name: str = name, **k: Any) -> Any:
            calls[_name] += 1
            return _plain(*a, **k)

        setattr(Flash, name, counted)

    from station.hw.swd.runs import RunBuilder

    for name in _RUN_METHODS:
        plain = getattr(RunBuilder, name)

        def counted_run(*a: Any, _plain: Any = plain, _name: str = name, **k: Any) -> Any:
            calls[f"RunBuilder.{_name}"] += 1
            return _plain(*a, **k)

        setattr(RunBuilder, name, counted_run)


def _top(counter: collections.Counter[str], n: int = 14) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common(n))


def _report() -> None:
    one, five, _ = os.getloadavg()
    print(f"remote probe requests: {sum(counts.values())} ({_top(counts, 30)})  [load {one:.1f}/{five:.1f}]")
    if by_call:
        print(f"  by pyocd flash call (outermost on the stack): {_top(by_call)}")
        print(f"  by station function: {_top(by_station)}")
        print(f"  pyocd Flash calls made: {_top(calls)}")


if __name__ == "__main__":
    args = sys.argv[1:]
    detailed = "--by-call" in args
    args = [a for a in args if a != "--by-call"]
    TCPClientProbe._perform_request_without_raise = _counted_by_call if detailed else _counted
    if detailed:
        _count_calls()
    atexit.register(_report)
    here = Path(__file__).resolve().parent
    sys.argv = [str(here / "provision.py"), *args]
    runpy.run_path(sys.argv[0], run_name="__main__")
