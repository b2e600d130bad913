"""Whether a process still runs, for the files that name their owner by PID.

Leases in the registry, demo benches, probe servers and the twins' serial hosts all record the PID
of the process that owns them and must tell a live owner from a dead one. One dependency-free
module, so the light paths (``station devices``, the twin) can ask without importing the registry.
"""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """POSIX only (``os.kill(pid, 0)`` would terminate the process on Windows)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
