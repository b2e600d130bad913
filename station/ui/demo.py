"""``station gui --demo``: the real window on a bench of twins, with a hand to plug them in.

A demo has its own bench, firmware cache (the generated demo Device OS) and SQLite registry in a
temporary folder, so trying the window never touches a production registry or a cloud (its sync
has no credential: entries stay queued, which is the point to see). The controls are the
operator's hands: plug a new device in, unplug one mid-run, give one a bad battery, pull a
probe. They act on the twins through :mod:`station.sim` like ``station sim`` does; the station
itself only sees devices come and go.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QWidget

from station.ui.workers import Workers


@dataclass
class DemoBench:
    """Twins, demo firmware and a registry in one folder (Qt-free)."""

    root: Path
    transport: str = "usb"  # "usb": a bench of hot-plugged devices; "swd": fixture slots
    platform: str = "boron"
    realtime: bool = False
    count: int = 4  # SWD: the slots (one twin each); USB: devices plugged at start
    twins: list[Any] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path | None = None, **kw: Any) -> DemoBench:
        return cls(Path(root or tempfile.mkdtemp(prefix="station-gui-demo-")).resolve(), **kw)

    @property
    def bench_dir(self) -> Path:
        return self.root / "bench"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'station-demo.db'}"

    @property
    def cache_dir(self) -> Path:
        return self.root / "firmware_cache"

    @property
    def profile(self) -> Path:
        from station.profile.demo import demo_profile

        return demo_profile(self.platform)

    @property
    def config_path(self) -> Path:
        return self.root / "station.toml"

    def prepare(self) -> None:
        """Bench, demo firmware, station.toml (SWD: one slot per twin's probe).

        A folder that already has its station.toml was prepared before, by another process
        (``bench/gui_latency.py`` readies the bench and serves its twins from ``station sim
        serve`` before the window starts, as a line's devices exist before its station does):
        it is used as it is, slots and all.
        """
        from station.firmware.cache import FirmwareCache
        from station.firmware.demo import install_demo_firmware
        from station.sim.bench import Bench

        if self.config_path.exists():
            self.twins = Bench(self.bench_dir, realtime=self.realtime).twins()
            return
        self.bench_dir.mkdir(parents=True, exist_ok=True)
        install_demo_firmware(FirmwareCache(self.cache_dir), self.platform)
        bench = Bench(self.bench_dir, realtime=self.realtime)
        lines = ['[station]', 'name = "demo-station"']
        if self.transport == "swd":
            self.twins = bench.create(self.count, self.platform, prefix="slot")
            lines.append("[slots]")
            lines += [f'"{i + 1}" = "{t.identity.probe_uid}"' for i, t in enumerate(self.twins)]
        self.config_path.write_text("\n".join(lines) + "\n")

    def plug_new(self, *, low_battery: bool = False) -> Any:
        """A new device from the box, plugged into the bench's hub."""
        from station.sim.bench import Bench

        bench = Bench(self.bench_dir, realtime=self.realtime)
        twin = bench.create(1, self.platform, prefix="dev")[0]
        twin.unplug()  # not on the bus while it is being stocked
        _ship(twin)
        if low_battery:
            twin.set_faults(measurement_overrides={"battery": 3.1})
        self.twins.append(twin)
        bench.plug(twin.name)
        return twin

    def unplug(self, name: str) -> None:
        """The unit leaves: unplugged from the hub (USB), or taken out of its fixture (SWD), where
        the fixture's probe stays. Either way this unit fails; nothing is wrong with the station."""
        from station.sim.bench import Bench

        if self.transport == "swd":
            Bench(self.bench_dir).lift(name)
        else:
            Bench(self.bench_dir).unplug(name)

    def pull_probe(self, name: str) -> None:
        """The probe's cable comes off: the station loses its tool, not the unit its worth."""
        from station.sim.bench import Bench

        Bench(self.bench_dir).pull_probe(name)

    def names(self) -> list[str]:
        from station.sim.bench import Bench

        return Bench(self.bench_dir).names()


def _ship(twin: Any) -> None:
    """Stock a twin as the module maker ships it (a bootloader), whichever name the twin uses."""
    from station.sim import stock

    ship = getattr(stock, "ship_stock", None) or stock.ship_with_bootloader
    ship(twin)


class DemoControls(QWidget):
    """The demo's hands, shown on the board's action row."""

    changed = Signal()

    def __init__(self, demo: DemoBench, workers: Workers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.demo = demo
        self.workers = workers
        self.label = QLabel("DEMO:")
        self.label.setStyleSheet("font-weight: bold;")
        self.which = QComboBox()
        self.which.setMinimumContentsLength(8)
        self.plug_button = QPushButton("Plug in a device")
        self.bad_button = QPushButton("Plug in one with a bad battery")
        self.unplug_button = QPushButton("Take the unit out" if demo.transport == "swd" else "Unplug")
        self.probe_button = QPushButton("Pull its probe")
        self.plug_button.clicked.connect(self.plug)
        self.bad_button.clicked.connect(self.plug_bad)
        self.unplug_button.clicked.connect(self.unplug)
        self.probe_button.clicked.connect(self.pull_probe)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        if demo.transport == "usb":
            lay.addWidget(self.plug_button)
            lay.addWidget(self.bad_button)
        lay.addWidget(self.which)
        lay.addWidget(self.unplug_button)
        if demo.transport == "swd":
            lay.addWidget(self.probe_button)
        self._choose: str | None = None  # a device just plugged: selected once the list has it
        self._asked = 0  # reads in flight finish in any order: only the last one asked is shown
        self.refresh()

    def refresh(self) -> None:
        """Re-read the bench's twins in a worker (the GUI thread does no I/O) and fill the selector.

        Also called by the window once its session has opened: an SWD demo's bench is made by the
        session opener, after these controls exist, so the first read finds nothing."""
        self._asked += 1
        asked = self._asked
        self.workers.submit(lambda: (asked, self.demo.names()), self._names_read)

    def _names_read(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            return  # the bench folder is not there (yet): the next refresh fills it
        asked, names = result
        if asked != self._asked:
            return  # an older read, overtaken by a later one
        current = self._choose or self.which.currentText()
        self._choose = None
        if list(names) == [self.which.itemText(i) for i in range(self.which.count())]:
            if current:
                self.which.setCurrentText(current)
            return
        self.which.clear()
        self.which.addItems(list(names))
        if current:
            self.which.setCurrentText(current)

    def _after(self, result: Any, error: BaseException | None) -> None:
        if result is not None and hasattr(result, "name"):
            self._choose = str(result.name)
        self.refresh()
        self.changed.emit()

    def plug(self) -> None:
        self.workers.submit(self.demo.plug_new, self._after)

    def plug_bad(self) -> None:
        self.workers.submit(lambda: self.demo.plug_new(low_battery=True), self._after)

    def unplug(self) -> None:
        name = self.which.currentText()
        if name:
            self.workers.submit(lambda: self.demo.unplug(name), self._after)

    def pull_probe(self) -> None:
        name = self.which.currentText()
        if name:
            self.workers.submit(lambda: self.demo.pull_probe(name), self._after)
