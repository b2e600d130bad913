"""The manifest format names (a contract with ``station lot export --format``), apart from the writers.

The window lists them in its export dialog at start-up; the writers in
:mod:`station.export.manifest` need the registry (SQLAlchemy), which the window only opens in a
worker after it is on screen, so the names live here where importing them costs nothing.
"""

from __future__ import annotations

FORMATS = ("txt", "csv", "json", "peridio-csv")
