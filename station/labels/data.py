"""What goes on a label: the device's facts and the template's text lines.

Template lines use ``str.format`` placeholders (``{device_id}``, ``{serial_number}``,
``{product}`` ...). They are checked when the profile is loaded, so a misspelt placeholder stops
the line before the first device instead of printing a broken label on it.
"""

from __future__ import annotations

import re
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
#: the widest a filled line may be, and the largest width or precision a placeholder may ask for:
#: ``{serial_number:>999999999}`` would otherwise build a gigabyte string for one label
LINE_LIMIT = 120
#: the longest a line may get with every placeholder at its longest value
FILLED_LIMIT = 500
_SPEC_NUMBER = re.compile(r"\d+")


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


#: the longest value each placeholder takes (profile and product names are bounded by the profile)
_WORST_CASE = LabelData(
    device_id="0" * 24,
    serial_number="P" * 20,
    product="N" * 100,
    platform="tracker-som",
    profile="N" * 100,
    imei="0" * 15,
    iccid="0" * 22,
    lot="L" * 100,
    date="2026-12-31",
)


def check_template_line(line: str) -> str | None:
    """The problem with one template line, or ``None`` when it is usable."""
    try:
        parsed = list(string.Formatter().parse(line))
    except ValueError as exc:
        return f"bad placeholder syntax in {line!r}: {exc} (write {{{{ and }}}} for literal braces)"
    for _, field_name, spec, _ in parsed:
        if field_name is None:
            continue
        if field_name not in LABEL_FIELDS:
            return f"unknown placeholder {{{field_name}}}; expected one of " + ", ".join(
                "{" + f + "}" for f in LABEL_FIELDS
            )
        if spec and ("{" in spec or "}" in spec):
            return f"placeholder {{{field_name}}} has a nested placeholder in its format {spec!r}"
        if spec and any(int(n) > LINE_LIMIT for n in _SPEC_NUMBER.findall(spec)):
            return f"placeholder {{{field_name}:{spec}}} asks for more than {LINE_LIMIT} characters"
    try:
        filled = line.format_map(_WORST_CASE.fields())
    except (ValueError, IndexError, KeyError) as exc:
        return f"cannot fill {line!r}: {exc}"
    if len(filled) > FILLED_LIMIT:
        return f"a filled line can be {len(filled)} characters long; at most {FILLED_LIMIT} are allowed"
    return None


def fill_lines(lines: tuple[str, ...], info: LabelData) -> list[str]:
    """The template's text lines with this device's facts filled in."""
    values = info.fields()
    return [line.format_map(values) for line in lines]
