"""The lot panel: how the lot is going — counts, first-pass yield, pace, and where units fail."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from station.ui import theme
from station.ui.charts import FailureBars


@dataclass(frozen=True)
class LotFigures:
    """What the panel shows; built by the window from the registry's lot summary."""

    name: str
    product: str = ""
    devices: int = 0
    passed: int = 0
    failed: int = 0
    #: units whose latest run hit a station error (probe, registry, bug): never judged, not failed
    errors: int = 0
    first_pass_yield: float | None = None
    devices_per_hour: float | None = None
    failures_by_step: list[tuple[str, int]] = field(default_factory=list)


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


class LotPanel(QWidget):
    def __init__(self, scale: float = 1.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("No lot yet")
        self.title.setFont(theme.sans(theme.px(22, scale), bold=True))
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        for i, (key, caption) in enumerate((("devices", "Devices"), ("passed", "Passed"), ("failed", "Failed"),
                                            ("errors", "Station errors"), ("fpy", "First-pass yield"), ("pace", "Devices / hour"))):
            cap = QLabel(caption)
            cap.setFont(theme.sans(theme.px(13, scale), bold=True))
            cap.setStyleSheet(f"color: {theme.MUTED};")
            val = QLabel("—")
            val.setFont(theme.sans(theme.px(30, scale), bold=True))
            val.setAccessibleName(caption)
            self.values[key] = val
            box = QFrame()
            box.setStyleSheet("QFrame { background: #FFFFFF; border: 1px solid #C8C8C8; border-radius: 8px; }"
                              "QLabel { border: none; }")
            bl = QVBoxLayout(box)
            bl.addWidget(cap)
            bl.addWidget(val)
            grid.addWidget(box, 0, i)
        chart_title = QLabel("Failures by step")
        chart_title.setFont(theme.sans(theme.px(16, scale), bold=True))
        self.chart = FailureBars()
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export manifest…")
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.refresh_button)
        head.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.addLayout(head)
        lay.addLayout(grid)
        lay.addWidget(chart_title)
        lay.addWidget(self.chart, 1)

    def show_figures(self, f: LotFigures) -> None:
        self.title.setText(f"Lot {f.name}" + (f" — {f.product}" if f.product else ""))
        self.values["devices"].setText(str(f.devices))
        self.values["passed"].setText(str(f.passed))
        self.values["failed"].setText(str(f.failed))
        self.values["errors"].setText(str(f.errors))
        self.values["fpy"].setText(pct(f.first_pass_yield))
        self.values["pace"].setText("—" if f.devices_per_hour is None else f"{f.devices_per_hour:.0f}")
        self.chart.set_data(f.failures_by_step)
