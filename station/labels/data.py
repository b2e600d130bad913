"""What goes on a label: the device's facts and the template's text lines.

Template lines use ``str.format`` placeholders (``{device_id}``, ``{serial_number}``,
``{product}`` ...). They are checked when the profile is loaded, so a misspelt placeholder stops
the line before the first device instead of printing a broken label on it.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass

#: placeholders a label line may use; a missing value prints as ``MISSING``
LABEL_FIELDS = (
    "device_id",
    "serial_number",
    "product",
    "platform",
    "profile",
    "imei",
    "iccid",
    "lot",
    "date",
)
MISSING = "-"


@dataclass(frozen=True)
class LabelData:
    """The facts about one device a label can show."""

    device_id: str
    serial_number: str | None = None
    product: str | None = None
    platform: str | None = None
    profile: str | None = None
    imei: str | None = None
    iccid: str | None = None
    lot: str | None = None
    date: str | None = None

    def fields(self) -> dict[str, str]:
        return {k: (v if v is not None else MISSING) for k, v in asdict(self).items()}


def check_template_line(line: str) -> str | None:
    """The problem with one template line, or ``None`` when it is usable."""
    try:
        parsed = list(string.Formatter().parse(line))
    except ValueError as exc:
        return f"bad placeholder syntax in {line!r}: {exc} (write {{{{ and }}}} for literal braces)"
    for _, field_name, _, _ in parsed:
        if field_name is None:
            continue
        if field_name not in LABEL_FIELDS:
            return f"unknown placeholder {{{field_name}}}; expected one of " + ", ".join(
                "{" + f + "}" for f in LABEL_FIELDS
            )
    try:
        line.format_map(LabelData("0" * 24).fields())
    except (ValueError, IndexError, KeyError) as exc:
        return f"cannot fill {line!r}: {exc}"
    return None


def fill_lines(lines: tuple[str, ...], info: LabelData) -> list[str]:
    """The template's text lines with this device's facts filled in."""
    values = info.fields()
    return [line.format_map(values) for line in lines]
