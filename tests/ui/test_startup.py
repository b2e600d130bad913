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


def test_a_bad_registry_url_is_said_in_the_window_naming_where_it_came_from(qtbot, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`station gui` with a STATION_DB the station cannot use: the window says which setting and why
    in one line (SQLAlchemy's own words were "invalid literal for int() with base 10: 'xx'")."""
    from station.ui.app import GuiOptions, session_opener
    from station.ui.window import MainWindow

    toml = tmp_path / "station.toml"
    toml.write_text('[station]\nname = "st-gui-url"\n')
    monkeypatch.setenv("STATION_DB", "postgresql+psycopg://line:hunter2@127.0.0.1:xx/test")
    window = MainWindow(session_opener(GuiOptions(config_path=toml, cache_dir=tmp_path / "cache")), operator="test")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.message.text().startswith("Cannot open the station"), timeout=30_000)
    said = window.message.text()
    assert "(environment variable STATION_DB)" in said and "its port 'xx' is not a number" in said, said
    assert "hunter2" not in said and "\n" not in said
    assert window.session is None and not window.ready
