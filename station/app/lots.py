"""Lot manifests as a front end writes them: formats, the format a file name asks for, streaming.

A :class:`~station.app.session.StationSession` exports a lot to a file
(:meth:`~station.app.session.StationSession.export`); a front end also needs the format list for
its chooser, the rule that a file's suffix names its format, the times as manifests write them,
and streaming to standard output (no checksum file). The writer is :mod:`station.export.manifest`.
"""

from __future__ import annotations

from station.export.manifest import FORMATS, ExportResult, export_lot, format_for, iso_utc, write_lot

__all__ = ["FORMATS", "ExportResult", "export_lot", "format_for", "iso_utc", "write_lot"]
