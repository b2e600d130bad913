"""The window paints before the heavy libraries load: the registry and the probes come in a worker.

``bench/gui_latency.py`` measures the start-up (with the load); what this holds is its cause: the
modules on the path to the first painted window. SQLAlchemy alone took 1.1 s of a 1.7 s import of
``station.ui.app`` when the export dialog imported the manifest writers for their format names,
and as much again on the GUI thread when the session opener imported ``station.app``'s session
before the window was built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("sqlalchemy", "alembic", "pyocd", "unicorn", "usb", "serial", "PIL", "qrcode", "requests", "keyring")

#: a window whose session never opens while we look (the worker waits), shown and painted once
PROBE = """
import json, sys, threading
from PySide6.QtWidgets import QApplication
app = QApplication([])
from station.ui import theme
from station.ui.app import GuiOptions, session_opener
from station.ui.window import MainWindow
theme.apply_theme(app)
gate = threading.Event()
opener = session_opener(GuiOptions(db_url="sqlite://"))  # what `station gui` builds before the window
def open_session(sink):
    gate.wait(60)
    raise RuntimeError("not opened in this test")
window = MainWindow(open_session, operator="test")
window.resize(1366, 768)
window.show()
app.processEvents()
window.grab()  # painted
loaded = sorted({m.split(".")[0] for m in sys.modules})
gate.set()
print(json.dumps(loaded), file=sys.stderr)
"""


def test_the_first_painted_window_loads_no_registry_probe_or_image_library() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = set(json.loads(out.stderr.strip().splitlines()[-1]))
    assert sorted(loaded & set(HEAVY)) == []
