"""Start the window: a ``QApplication``, the theme, the session opener, and (demo) a bench of twins."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from station.paths import package_file
from station.ui import theme
from station.ui.window import MainWindow


@dataclass
class GuiOptions:
    profile: Path | None = None
    lot: str | None = None
    operator: str | None = None
    db_url: str | None = None
    cache_dir: Path | None = None
    config_path: Path | None = None
    sim_dir: Path | None = None
    station_name: str | None = None
    labels_dir: Path | None = None
    usb: bool = False
    demo: bool = False
    demo_transport: str = "usb"
    demo_devices: int = 4
    demo_root: Path | None = None  # a demo folder made (and maybe served) beforehand; else a new one
    realtime: bool = False
    auto_start: bool = True
    size: tuple[int, int] | None = None  # a fixed window size (screenshots, benchmarks); else maximised
    smoke_answer: str | None = None  # smoke test: answer every operator question with this choice
    quit_after: float | None = None  # smoke test: leave after one round of the slots, or after this long


def session_opener(opts: GuiOptions, demo: Any = None) -> Any:
    """A callable ``(event sink) -> session`` run in a worker when the window opens.

    ``station.app``'s session imports the pipeline and the registry (SQLAlchemy: about a second
    of CPU); it is imported in the worker, so the window paints first instead of after it.
    """

    def open_session(sink: Any) -> Any:
        from station.app import SessionSettings, StationSession

        # The window records runs: it may create the registry (a first start on a new station).
        if demo is not None:
            demo.prepare()
            settings = SessionSettings(db_url=demo.db_url, cache_dir=demo.cache_dir, config_path=demo.config_path,
                                       sim_dir=demo.bench_dir, station_name="demo-station",
                                       labels_dir=demo.root / "labels", usb=demo.transport == "usb", demo=True,
                                       create_registry=True)
        else:
            settings = SessionSettings(db_url=opts.db_url, cache_dir=opts.cache_dir, config_path=opts.config_path,
                                       sim_dir=opts.sim_dir, station_name=opts.station_name,
                                       labels_dir=opts.labels_dir, usb=opts.usb, create_registry=True)
        return StationSession(settings, sink)

    return open_session


def build_window(opts: GuiOptions) -> tuple[MainWindow, Any]:
    demo = None
    profile = opts.profile
    if opts.demo:
        from station.ui.demo import DemoBench

        demo = DemoBench.create(opts.demo_root, transport=opts.demo_transport, realtime=opts.realtime, count=opts.demo_devices)
        profile = profile or demo.profile
    window = MainWindow(session_opener(opts, demo), profile=profile, lot=opts.lot,
                        operator=opts.operator or ("demo" if demo else None), auto_start=opts.auto_start,
                        demo=demo, export_dir=demo.root if demo else None)
    return window, demo


def run(opts: GuiOptions, argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("station")
    app.setApplicationDisplayName("Station")
    app.setDesktopFileName("station")  # ties the window to packaging/linux/station.desktop (Wayland)
    app.setWindowIcon(QIcon(str(package_file("station.ui", "assets", "station.svg"))))
    theme.apply_theme(app)
    window, _demo = build_window(opts)
    if opts.size:
        window.resize(*opts.size)
        window.show()
    else:
        window.showMaximized()
    if opts.smoke_answer is not None or opts.quit_after is not None:
        from station.ui.smoke import SmokeDriver

        SmokeDriver(window, answer=opts.smoke_answer, quit_after=opts.quit_after)
    return app.exec()
