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

import getpass
import sys
from pathlib import Path

import click

from station.cli.common import db_option, open_registry_cli
from station.errors import ConfigError
from station.labels.template import LABEL_FORMATS


def label_format(output: Path | None, fmt: str | None, default: str) -> str:
    """The format to write: ``--format``, else the file's suffix, else ``default``; ConfigError when a
    suffix names another format (``-o l.txt`` must not quietly get a PNG)."""
    suffix = output.suffix.lstrip(".").lower() if output is not None else ""
    if suffix and suffix not in LABEL_FORMATS:
        raise ConfigError(f"{output}: a label file ends in {', '.join('.' + f for f in LABEL_FORMATS)} "
                          f"(.{suffix} is not a label format)")
    if fmt and suffix and suffix != fmt:
        raise ConfigError(f"{output} is named like a {suffix} file but --format is {fmt}: rename it or drop --format")
    return fmt or suffix or default


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
        from station.config import load_config
        from station.domain import normalize_device_id
        from station.labels.data import LabelData
        from station.labels.render import render_label, write_atomic
        from station.profile.load import load_profile

        prefix = device_id.strip().rstrip("….").strip()
        is_prefix = not trial and 8 <= len(prefix) < 24 and all(c in "0123456789abcdefABCDEF" for c in prefix)
        did = prefix.lower()
        if not is_prefix:
            try:
                did = normalize_device_id(device_id)
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
        to_stdout = str(output) == "-"
        prof = load_profile(profile_path)
        fmt = label_format(None if to_stdout else output, fmt, prof.label.formats[0])
        if not to_stdout and not output.parent.is_dir():
            raise ConfigError(f"cannot write {output}: the folder {output.parent} does not exist")
        registry = None
        if trial:
            info = LabelData(did, serial_number=serial_number, product=prof.product, platform=prof.platform.name,
                             profile=prof.name, lot=lot)
        else:
            registry = open_registry_cli(db_url)
            if is_prefix:  # the README abbreviates IDs; a unique prefix names the device (several: listed)
                from station.labels.lookup import find_device

                did = find_device(registry, prefix).record.device_id
            rec = registry.device_record(did)
            if rec is None:
                raise ConfigError(f"device {did} is not in the registry: no label is printed for a device nobody "
                                  "provisioned (check --db; --trial prints a template trial)")
            if serial_number and rec.serial_number and serial_number.strip().upper() != rec.serial_number.upper():
                raise ConfigError(f"--serial {serial_number} differs from the registry's serial {rec.serial_number} "
                                  f"for {did}: a reprint carries the registry's")
            if lot and rec.lot and lot != rec.lot:
                raise ConfigError(f"--lot {lot} differs from the registry's lot {rec.lot} for {did}")
            info = LabelData(did, serial_number=rec.serial_number, product=prof.product,
                             platform=rec.platform or prof.platform.name, profile=prof.name, imei=rec.imei,
                             iccid=rec.iccid, lot=rec.lot,
                             date=f"{rec.registered_at:%Y-%m-%d}" if rec.registered_at else None)
        try:
            data = render_label(info, prof.label, fmt)
        except ValueError as exc:  # an unprintable serial number
            raise ConfigError(str(exc)) from exc
        if to_stdout:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            where = "standard output"
        else:
            try:
                write_atomic(output, data)
            except OSError as exc:
                raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
            where = str(output.resolve())
        if registry is not None:
            station = load_config(None).name
            registry.record_label(did, None, path=where, fmt=fmt)
            registry.audit("label-reprint", operator=operator or getpass.getuser(), station=station, device_id=did,
                           details={"path": where, "format": fmt, "profile": prof.name})
        kind = "trial" if trial else "reprinted"
        click.echo(f"{where}: {fmt} label for {did} ({kind})"
                   + (f" (SN {info.serial_number})" if info.serial_number else ""), err=True)
