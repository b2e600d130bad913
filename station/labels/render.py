"""Render a device label: QR code on the left, the template's text lines on the right.

Sizes come from the profile in millimetres and dots per inch, because that is how label stock
and printers are specified; pixels (PNG/PDF) and dots (ZPL) are derived from them. The QR is drawn
from its module matrix with a whole number of pixels per module so it stays sharp at printer
resolution (a resampled QR blurs and scans badly). The PDF page is exactly the label size, so
printing it at 100 % lands on the stock.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from station.errors import ProfileError
from station.labels.data import LabelData, fill_lines
from station.labels.payload import label_payload
from station.labels.qr import qr_matrix
from station.labels.template import (
    LABEL_FORMATS,
    MARGIN_MM,
    MM_PER_INCH,
    LabelTemplate,
    check_template,
    label_size_px,
    mm_to_px,
)
from station.labels.zpl import render_zpl


def render_image(info: LabelData, template: LabelTemplate) -> Image.Image:
    """The label as a greyscale image at the template's resolution."""
    problem = check_template(template)
    if problem:
        raise ProfileError("label template", "label", problem)
    w, h = label_size_px(template)
    margin = mm_to_px(MARGIN_MM, template.dpi)
    img = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(img)
    matrix = qr_matrix(label_payload(info.device_id, info.serial_number))
    module = (h - 2 * margin) // len(matrix)
    side = module * len(matrix)
    top = (h - side) // 2
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                x, y = margin + c * module, top + r * module
                draw.rectangle((x, y, x + module - 1, y + module - 1), fill=0)
    _draw_text(draw, fill_lines(template.lines, info), margin + side + margin, margin, w - margin, h - margin)
    return img


def _draw_text(draw: ImageDraw.ImageDraw, lines: list[str], x0: int, y0: int, x1: int, y1: int) -> None:
    """Lines stacked in the box, one font size for all, the largest that fits the widest line."""
    if not lines or x1 - x0 < 8 or y1 - y0 < 8:
        return
    width = x1 - x0
    size = max(6, int((y1 - y0) / len(lines) * 0.8))
    font = ImageFont.load_default(size=size)
    widest = max(draw.textlength(line, font=font) for line in lines)
    if widest > width:
        size = max(6, int(size * width / widest))
        font = ImageFont.load_default(size=size)
        while size > 6 and max(draw.textlength(line, font=font) for line in lines) > width:
            size -= 1
            font = ImageFont.load_default(size=size)
    row = (y1 - y0) / len(lines)
    for i, line in enumerate(lines):
        draw.text((x0, y0 + (i + 0.5) * row), line, fill=0, font=font, anchor="lm")


def render_label(info: LabelData, template: LabelTemplate, fmt: str, *, image: Image.Image | None = None) -> bytes:
    """One label as PNG, PDF (page = label size) or ZPL bytes; ``image``: this label's
    :func:`render_image`, when the caller already drew it for another raster format."""
    if fmt not in LABEL_FORMATS:
        raise ProfileError("label template", "label.formats", f"unknown format {fmt!r}")
    if fmt == "zpl":
        return render_zpl(info, template).encode("utf-8")
    img = image if image is not None else render_image(info, template)
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", dpi=(template.dpi, template.dpi))
    else:
        # resolution chosen so the page is exactly width_mm x height_mm despite pixel rounding
        xres = img.width * MM_PER_INCH / template.width_mm
        yres = img.height * MM_PER_INCH / template.height_mm
        bilevel = img.point(lambda v: 0 if v < 128 else 255, "1")  # lossless CCITT, not a JPEG'd QR
        bilevel.save(buf, "PDF", dpi=(xres, yres), title=f"label {info.device_id}")
    return buf.getvalue()


def write_labels(
    infos: LabelData | Iterable[LabelData],
    template: LabelTemplate,
    out_dir: str | Path,
    formats: Iterable[str] | None = None,
) -> list[Path]:
    """Write ``<device_id>.<fmt>`` for each device (one or many) and format; a reader never sees half a file."""
    if isinstance(infos, LabelData):
        infos = [infos]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for info in infos:
        image: Image.Image | None = None  # drawn once for the device's PNG and PDF
        for fmt in formats or template.formats:
            if fmt in ("png", "pdf") and image is None:
                image = render_image(info, template)
            written.append(write_atomic(out / f"{info.device_id}.{fmt}", render_label(info, template, fmt, image=image)))
    return written


def _create_temp(path: Path) -> tuple[int, str]:
    """An exclusive temporary file beside ``path`` whose mode follows the umask (like a manifest's).

    ``tempfile.mkstemp`` makes 0600 files and the rename hands that mode on: labels are for the
    people at the printer too, not only for the account that ran the station.
    """
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), str(tmp)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))


def write_atomic(path: Path, data: bytes) -> Path:
    """Temp file in the same directory, then rename: a printer spooler never picks up a partial label."""
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
