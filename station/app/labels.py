"""Label reprints and template trials: from the registry's record (or given values) to label bytes.

A reprint comes from the registry's record — the serial number, lot, IMEI/ICCID and date the
original carried, so the QR holds the same ``<device_id>;<serial>`` — and is itself recorded
(label row and audit entry), because a second label for one device is what an auditor asks about.
An ID the registry does not know is refused. A trial takes the given values alone and touches no
registry. ``station label`` and the window's reprint button both go through :func:`make_label`.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from station.errors import ConfigError
from station.labels.template import LABEL_FORMATS

if TYPE_CHECKING:
    from station.labels.data import LabelData
    from station.profile.model import Profile
    from station.store.registry import Registry

__all__ = ["LABEL_FORMATS", "Label", "label_format", "make_label", "record_reprint", "save_label"]


def label_format(output: Path | None, fmt: str | None, default: str) -> str:
    """The format to write: ``fmt``, else the file's suffix, else ``default``; ConfigError when a
    suffix names another format (``-o l.txt`` must not quietly get a PNG)."""
    suffix = output.suffix.lstrip(".").lower() if output is not None else ""
    if suffix and suffix not in LABEL_FORMATS:
        raise ConfigError(f"{output}: a label file ends in {', '.join('.' + f for f in LABEL_FORMATS)} "
                          f"(.{suffix} is not a label format)")
    if fmt and suffix and suffix != fmt:
        raise ConfigError(f"{output} is named like a {suffix} file but --format is {fmt}: rename it or drop --format")
    return fmt or suffix or default


@dataclass
class Label:
    """A rendered label and what it was made from; ``registry`` is None for a trial (nothing recorded)."""

    device_id: str
    fmt: str
    info: LabelData
    data: bytes
    profile: Profile
    registry: Registry | None


def _device_id(text: str, *, trial: bool) -> tuple[str, bool]:
    """``(id, is_prefix)``: a unique 8+ hex prefix names a device on a reprint (the README abbreviates IDs)."""
    from station.domain import normalize_device_id

    prefix = text.strip().rstrip("….").strip()
    is_prefix = not trial and 8 <= len(prefix) < 24 and all(c in "0123456789abcdefABCDEF" for c in prefix)
    if is_prefix:
        return prefix.lower(), True
    try:
        return normalize_device_id(text), False
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def make_label(device_id: str, profile_path: Path, *, output: Path | None, fmt: str | None = None,
               serial_number: str | None = None, lot: str | None = None, trial: bool = False,
               db_url: str | None = None) -> Label:
    """Render the label of ``device_id`` with the profile's template (``output``: the file it will be
    written to, whose suffix may name the format; None for standard output). Nothing is written."""
    from station.app.registry import open_registry
    from station.labels.data import LabelData
    from station.labels.render import render_label

    did, is_prefix = _device_id(device_id, trial=trial)
    prof = load_profile(profile_path)
    fmt = label_format(output, fmt, prof.label.formats[0])
    if output is not None and not output.parent.is_dir():
        raise ConfigError(f"cannot write {output}: the folder {output.parent} does not exist")
    registry = None
    if trial:
        info = LabelData(did, serial_number=serial_number, product=prof.product, platform=prof.platform.name,
                         profile=prof.name, lot=lot)
    else:
        registry = open_registry(db_url)
        if is_prefix:  # several devices with the prefix: find_device lists them
            from station.labels.lookup import find_device

            did = find_device(registry, did).record.device_id
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
    return Label(did, fmt, info, data, prof, registry)


def load_profile(path: Path) -> Profile:
    from station.app.profiles import load_profile as load

    return load(path)


def save_label(label: Label, output: Path) -> str:
    """Write the label atomically; returns the file's full path (what the record names)."""
    from station.labels.render import write_atomic

    try:
        write_atomic(output, label.data)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror or exc}") from exc
    return str(output.resolve())


def record_reprint(label: Label, where: str, *, operator: str | None = None) -> None:
    """A reprint's label row and audit entry (who, where it went, which template); a trial records nothing."""
    if label.registry is None:
        return
    from station.config import load_config

    station = load_config(None).name
    label.registry.record_label(label.device_id, None, path=where, fmt=label.fmt)
    label.registry.audit("label-reprint", operator=operator or getpass.getuser(), station=station,
                         device_id=label.device_id,
                         details={"path": where, "format": label.fmt, "profile": label.profile.name})
