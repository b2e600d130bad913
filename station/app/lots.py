"""Lot manifests as a front end writes them: formats, the format a file name asks for, streaming.

A :class:`~station.app.session.StationSession` exports a lot to a file
(:meth:`~station.app.session.StationSession.export`); a front end also needs the format list for
its chooser, the rule that a file's suffix names its format, the times as manifests write them,
and streaming to standard output (no checksum file). The writer is :mod:`station.export.manifest`;
the yield report is :func:`station.ftest.report.lot_report`. Both need only an open registry
(:func:`station.app.registry.open_registry`), so a front end that does nothing else with the
station can report and export without a session.
"""

from __future__ import annotations

from station.export.manifest import FORMATS, ExportResult, export_lot, format_for, iso_utc, write_lot
from station.ftest.report import LotReport, lot_report

__all__ = ["FORMATS", "ExportResult", "LotReport", "export_lot", "format_for", "iso_utc", "lot_report", "write_lot"]
