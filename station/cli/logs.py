"""Where log records go: the station's log file, and the terminal only with ``--verbose``.

Libraries log too (pyocd: "APPROTECT enabled: not automatically unlocking", "Skipping CoreSight
discovery…"). Without a handler Python prints their warnings on stderr (``logging.lastResort``),
in the middle of an operator's progress bars; their words are for the engineer reading the log.
So every record — the station's and every library's — goes to ``station.log`` in the user log
folder (rotated), and to stderr only when ``--verbose`` asks for it. Python warnings are routed
the same way.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

#: marks the handlers installed here, so configuring twice (tests, nested invocations) replaces them
_TAG = "_station_cli_handler"
LOG_FILE = "station.log"


def log_file() -> Path:
    from station.app.settings import logs_dir

    return logs_dir() / LOG_FILE


def configure_logging(*, verbose: bool = False) -> Path | None:
    """Send every log record to the station's log file (and stderr when ``verbose``); returns the file."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, _TAG, False)]:
        root.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    handlers: list[logging.Handler] = []
    path: Path | None = log_file()
    try:
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3,
                                                             encoding="utf-8"))
    except OSError:
        path = None  # no writable log folder: records are dropped rather than printed on the terminal
        handlers.append(logging.NullHandler())
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    for h in handlers:
        setattr(h, _TAG, True)
        h.setFormatter(fmt)
        root.addHandler(h)
    logging.getLogger("station").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)
    return path
