"""``station label``: reprint one device's label from the registry, or try a template on stock.

The pipeline writes labels itself after registration; this command is for the reprint a line
always needs (torn label, printer out of stock). A reprint comes from the registry's record — the
serial number, lot, IMEI/ICCID and date the original carried, so the QR holds the same
``<device_id>;<serial>`` — and is written to the registry (label row and audit entry), because a
second label for one device is exactly what an auditor asks about. An ID the registry does not
know is refused: a label for it would name a device nobody provisioned. ``--trial`` prints a
label from the command line's values alone, without the registry, for trying a template on
label stock.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from station.app.labels import LABEL_FORMATS, label_format
from station.cli.common import db_option

__all__ = ["label_format", "register"]


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
    @click.option("--serial", "serial_number", default=None,
                  help="Serial number to print and encode (--trial; a reprint takes the registry's).")
    @click.option("--lot", default=None, help="Lot name for a {lot} placeholder (--trial; a reprint takes the registry's).")
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
        type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
        help="File to write ('-' for standard output, e.g. to pipe ZPL to a printer).",
    )
    @click.option("--trial", is_flag=True,
                  help="Try the template on label stock: use --serial/--lot as given, no registry, no record.")
    @click.option("--operator", default=None, help="Who reprints (recorded in the audit log; default: the login name).")
    @db_option
    def label(
        device_id: str,
        profile_path: Path,
        serial_number: str | None,
        lot: str | None,
        fmt: str | None,
        output: Path,
        trial: bool,
        operator: str | None,
        db_url: str | None,
    ) -> None:
        """Reprint the label of DEVICE_ID (from the registry) as PNG, PDF or ZPL."""
        from station.app.labels import make_label, record_reprint, save_label

        to_stdout = str(output) == "-"
        made = make_label(device_id, profile_path, output=None if to_stdout else output, fmt=fmt,
                          serial_number=serial_number, lot=lot, trial=trial, db_url=db_url)
        if to_stdout:
            sys.stdout.buffer.write(made.data)
            sys.stdout.buffer.flush()
            where = "standard output"
        else:
            where = save_label(made, output)
        record_reprint(made, where, operator=operator)
        kind = "trial" if trial else "reprinted"
        click.echo(f"{where}: {made.fmt} label for {made.device_id} ({kind})"
                   + (f" (SN {made.info.serial_number})" if made.info.serial_number else ""), err=True)
