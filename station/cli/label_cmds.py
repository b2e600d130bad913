"""``station label``: render one device's label to a file (reprints, label stock trials).

The pipeline writes labels itself after registration; this command is for the reprint a line
always needs (torn label, printer out of stock) and for trying a template on real stock.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from station.errors import ConfigError
from station.labels.template import LABEL_FORMATS


def register(cli: click.Group) -> None:
    @cli.command("label")
    @click.argument("device_id")
    @click.option(
        "--profile",
        "profile_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Profile whose label template to use.",
    )
    @click.option("--serial", "serial_number", default=None, help="Serial number to print and encode.")
    @click.option("--lot", default=None, help="Lot name for a {lot} placeholder.")
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(LABEL_FORMATS),
        default=None,
        help="Output format (default: from the file suffix, else the profile's first format).",
    )
    @click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="File to write ('-' for standard output, e.g. to pipe ZPL to a printer).",
    )
    def label(
        device_id: str,
        profile_path: Path,
        serial_number: str | None,
        lot: str | None,
        fmt: str | None,
        output: Path,
    ) -> None:
        """Write the label of DEVICE_ID as PNG, PDF or ZPL."""
        from station.domain import normalize_device_id
        from station.labels.data import LabelData
        from station.labels.render import render_label, write_atomic
        from station.profile.load import load_profile

        try:
            did = normalize_device_id(device_id)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        prof = load_profile(profile_path)
        suffix = output.suffix.lstrip(".").lower()
        fmt = fmt or (suffix if suffix in LABEL_FORMATS else prof.label.formats[0])
        info = LabelData(
            did,
            serial_number=serial_number,
            product=prof.product,
            platform=prof.platform.name,
            profile=prof.name,
            lot=lot,
        )
        try:
            data = render_label(info, prof.label, fmt)
        except ValueError as exc:  # an unprintable serial number
            raise ConfigError(str(exc)) from exc
        if str(output) == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        try:
            write_atomic(output, data)
        except OSError as exc:
            raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
        click.echo(
            f"{output}: {fmt} label for {did}" + (f" (SN {serial_number})" if serial_number else ""), err=True
        )
