"""Count the station's requests to pyocd's remote probe servers by name, around ``bench/provision.py``.

    python bench/remote_requests.py --sizes 1          # any bench/provision.py arguments

Each request is one round trip to a probe server (pyocd's ``TCPClientProbe``); the count is exact
and load-independent, unlike the CPU and wall figures beside it. It covers the whole run (the
warm-up session and the device-clock queries included), and the twins' side is not counted.
Printed at the end with the load.
"""

from __future__ import annotations

import atexit
import collections
import os
import runpy
import sys
from pathlib import Path
from typing import Any

from pyocd.probe.tcp_client_probe import TCPClientProbe

counts: collections.Counter[str] = collections.Counter()
_send = TCPClientProbe._perform_request_without_raise


def _counted(self: TCPClientProbe, request: str, *args: Any) -> Any:
    counts[request] += 1
    return _send(self, request, *args)


def _report() -> None:
    one, five, _ = os.getloadavg()
    top = ", ".join(f"{k} {n}" for k, n in counts.most_common())
    print(f"remote probe requests: {sum(counts.values())} ({top})  [load {one:.1f}/{five:.1f}]")


if __name__ == "__main__":
    TCPClientProbe._perform_request_without_raise = _counted  # type: ignore[method-assign]
    atexit.register(_report)
    here = Path(__file__).resolve().parent
    sys.argv = [str(here / "provision.py"), *sys.argv[1:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
