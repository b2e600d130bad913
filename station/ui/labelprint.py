"""A device's label on screen, on a printer through Qt's print dialog, or as a PDF file.

The label is rendered by the station's own renderer (:mod:`station.labels.render`, the same image
the pipeline writes), so what the preview shows is what prints. Printing sets the page to the
label stock's size in millimetres with no margins and draws the image across the whole page:
at 100 % it lands on the stock, whatever the printer's resolution.
"""

from __future__ import annotations

import io
from pathlib import Path

from PySide6.QtCore import QMarginsF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPixmap
from PySide6.QtPrintSupport import QPrintDialog, QPrinter
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from station.labels.data import LabelData
from station.labels.template import LabelTemplate
from station.ui.workers import Workers


def render_png(info: LabelData, template: LabelTemplate) -> bytes:
    """PNG bytes of the label (Qt-free; run it in a worker)."""
    from station.labels.render import render_image

    buf = io.BytesIO()
    render_image(info, template).save(buf, "PNG", dpi=(template.dpi, template.dpi))
    return buf.getvalue()


def label_page(printer: QPrinter, template: LabelTemplate) -> None:
    size = QPageSize(QSizeF(template.width_mm, template.height_mm), QPageSize.Unit.Millimeter, "label")
    printer.setPageLayout(QPageLayout(size, QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0),
                                      QPageLayout.Unit.Millimeter))
    printer.setFullPage(True)


def paint_label(printer: QPrinter, image: QImage) -> None:
    """Draw the label image over the whole page (the page is the label)."""
    p = QPainter()
    if not p.begin(printer):
        raise OSError(f"cannot print to {printer.printerName() or printer.outputFileName() or 'the printer'}")
    try:
        page = printer.pageLayout().fullRectPixels(printer.resolution())
        p.drawImage(QRectF(page), image)
    finally:
        p.end()


def save_pdf(image: QImage, template: LabelTemplate, path: Path) -> Path:
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(path))
    label_page(printer, template)
    paint_label(printer, image)
    return path


class LabelDialog(QDialog):
    """Preview, print, save as PDF. Rendering runs in a worker; the dialog opens at once."""

    #: a label left the station: (where: the printer or the PDF's path, format) — a reprint to record
    produced = Signal(str, str)

    def __init__(self, info: LabelData, template: LabelTemplate, workers: Workers,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.template = template
        self.image: QImage | None = None
        self.setWindowTitle(f"Label — {info.device_id}")
        self.preview = QLabel("rendering…")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(420, 220)
        self.preview.setAccessibleName("label preview")
        self.size_note = QLabel(f"{template.width_mm:g} × {template.height_mm:g} mm at {template.dpi} dpi")
        self.print_button = QPushButton("Print…")
        self.pdf_button = QPushButton("Save as PDF…")
        for b in (self.print_button, self.pdf_button):
            b.setEnabled(False)
        self.print_button.clicked.connect(self.print_)
        self.pdf_button.clicked.connect(self.ask_pdf)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.addButton(self.print_button, QDialogButtonBox.ButtonRole.ActionRole)
        box.addButton(self.pdf_button, QDialogButtonBox.ButtonRole.ActionRole)
        box.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.size_note)
        lay.addWidget(box)
        workers.submit(self._render, self._rendered)

    def _render(self) -> bytes:
        return render_png(self.info, self.template)

    def _rendered(self, png: bytes | None, error: BaseException | None) -> None:
        if error is not None or png is None:
            self.preview.setText(f"cannot render this label: {error}")
            return
        self.image = QImage.fromData(png)
        pm = QPixmap.fromImage(self.image)
        self.preview.setPixmap(pm.scaled(self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation))
        self.print_button.setEnabled(True)
        self.pdf_button.setEnabled(True)

    def print_(self) -> None:
        if self.image is None:
            return
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        label_page(printer, self.template)
        dialog = QPrintDialog(printer, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            try:
                paint_label(printer, self.image)
            except OSError as exc:
                QMessageBox.warning(self, "Printing failed", str(exc))
                return
            self.produced.emit(f"printer {printer.printerName() or printer.outputFileName()}", "print")

    def ask_pdf(self) -> None:
        if self.image is None:
            return
        name, _ = QFileDialog.getSaveFileName(self, "Save label as PDF", f"{self.info.device_id}.pdf", "PDF (*.pdf)")
        if name:
            self.save_pdf(Path(name))

    def save_pdf(self, path: Path) -> Path:
        assert self.image is not None
        out = save_pdf(self.image, self.template, path)
        self.produced.emit(str(out), "pdf")
        return out
