"""Lot manifests: the files a production engineer hands to the cloud console or the customer.

Formats (names are a contract with the CLI):

* ``txt`` — one device ID per line, what the Particle console's import dialog takes;
* ``csv`` — one row per device with identity, result and traceability columns;
* ``json`` — the csv fields plus each device's steps and measurements;
* ``peridio-csv`` — the Peridio console's bulk-import columns.

Every export is atomic (written to a temporary file in the target directory, flushed, then
renamed over the target) and gets a ``<file>.sha256`` beside it in ``sha256sum`` format, so a file
that reached the customer can be checked against what the station wrote.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from station.domain import rfc3339
from station.errors import ConfigError
from station.export.formats import FORMATS as FORMATS  # re-exported: manifest.FORMATS is public
from station.store.queries import RawDetails
from station.store.records import ManifestRow
from station.store.registry import Registry

CSV_COLUMNS = ("device_id", "serial_number", "platform", "product", "device_os_version",
               "product_firmware_version", "test_result", "provisioned_at", "station", "operator", "iccid", "imei")
PERIDIO_COLUMNS = ("identifier", "description", "tags", "product_prn", "cohort_prn", "certificates", "target")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    checksum_path: Path
    sha256: str
    devices: int
    fmt: str


def iso_utc(t: datetime | None) -> str:
    """ISO-8601 UTC with a ``Z``; the registry stores naive UTC."""
    return rfc3339(t) if t else ""


def row_fields(r: ManifestRow) -> dict[str, Any]:
    return {"device_id": r.device_id, "serial_number": r.serial_number or "", "platform": r.platform or "",
            "product": r.product, "device_os_version": r.device_os_version or "",
            "product_firmware_version": r.product_firmware_version or "", "test_result": r.test_result,
            "provisioned_at": iso_utc(r.provisioned_at), "station": r.station, "operator": r.operator,
            "iccid": r.iccid or "", "imei": r.imei or ""}


class _HashingWriter(io.TextIOBase):
    """Text sink that buffers, encodes, hashes and writes in one pass (no second read of a large file).

    ``write_bytes`` takes UTF-8 that is already encoded (orjson's output), so the json export's
    half a gigabyte is not decoded to text and encoded back.
    """

    FLUSH_AT = 1 << 16

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._parts: list[bytes] = []
        self._size = 0
        self.digest = hashlib.sha256()

    def write(self, s: str) -> int:
        self.write_bytes(s.encode("utf-8"))
        return len(s)

    def write_bytes(self, b: bytes) -> None:
        self._parts.append(b)
        self._size += len(b)
        if self._size >= self.FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts.clear()
            self._size = 0
            self.digest.update(data)
            self._raw.write(data)


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, exclusive temporary file beside ``path`` whose mode follows the umask.

    ``tempfile.mkstemp`` creates 0600 files, and the rename would hand that mode to the manifest
    (a file meant for other people); creating with 0666 lets the umask decide, as for any file.
    """
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))


def _atomic_write(path: Path, produce: Callable[[_HashingWriter], int]) -> tuple[str, int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as raw:
            writer = _HashingWriter(raw)
            count = produce(writer)
            writer.flush()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return writer.digest.hexdigest(), count


class _Counter:
    """Counts rows as they stream past (the writers consume a generator in one call)."""

    def __init__(self, rows: Iterable[ManifestRow]) -> None:
        self._rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[ManifestRow]:
        for r in self._rows:
            self.count += 1
            yield r


def _txt(device_ids: Iterable[str]) -> Callable[[_HashingWriter], int]:
    def produce(out: _HashingWriter) -> int:
        n = 0
        for device_id in device_ids:
            out.write(device_id + "\n")
            n += 1
        return n
    return produce


def _csv(rows: Iterable[ManifestRow]) -> Callable[[_HashingWriter], int]:
    def produce(out: _HashingWriter) -> int:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        seen = _Counter(rows)
        # csv writes None as an empty field, so the columns go straight through
        w.writerows((r.device_id, r.serial_number, r.platform, r.product, r.device_os_version,
                     r.product_firmware_version, r.test_result, iso_utc(r.provisioned_at), r.station,
                     r.operator, r.iccid, r.imei) for r in seen)
        return seen.count
    return produce


def _json(lot: str, rows: Iterable[tuple[ManifestRow, RawDetails]]) -> Callable[[_HashingWriter], int]:
    """One device per line; orjson encodes, and each step's stored details JSON is spliced in as is.

    With 28 detail rows per device the encoding is most of the export's CPU: orjson and the
    unparsed details (``orjson.Fragment``) keep a 100k-device lot within seconds, not minutes.
    """
    fragment = orjson.Fragment
    dumps = orjson.dumps

    def produce(out: _HashingWriter) -> int:
        out.write(json.dumps({"lot": lot, "exported_at": iso_utc(datetime.now(UTC).replace(tzinfo=None))})[:-1])
        out.write(', "devices": [')
        n = 0
        for r, (steps, measurements) in rows:
            item = row_fields(r)
            item["attempt_id"] = r.attempt_id
            # dict displays with the keys of STEP_FIELDS / MEASUREMENT_FIELDS, in their order (the
            # manifest's key order): at 2.9 M rows a lot, dict(zip()) and a second pass for
            # ``passed`` cost seconds; the attempt id ends each raw tuple (RawDetails)
            item["steps"] = [{"name": name, "outcome": outcome, "duration_s": dur, "reason": reason,
                              "details": fragment(details) if details else None}
                             for name, outcome, dur, reason, details, _ in steps]
            item["measurements"] = [
                {"step": step, "name": name, "value": value, "text": text, "unit": unit, "low": low, "high": high,
                 "expected": expected, "regex": regex, "passed": True if passed else False,  # 0/1 from SQLite
                 "duration_s": dur, "try": try_}
                for step, name, value, text, unit, low, high, expected, regex, passed, dur, try_, _ in measurements]
            out.write_bytes((b",\n  " if n else b"\n  ") + dumps(item))
            n += 1
        out.write("\n]}\n")
        return n
    return produce


def _peridio(lot: str, rows: Iterable[ManifestRow], targets: dict[int, dict[str, Any]],
             default_prn: dict[str, str | None]) -> Callable[[_HashingWriter], int]:
    def produce(out: _HashingWriter) -> int:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(PERIDIO_COLUMNS)
        n = 0
        for r in rows:
            t = targets.get(r.attempt_id, {})
            prn = t.get("product_prn") or default_prn.get(r.product)
            if not prn:
                raise ConfigError(f"product {r.product!r} has no Peridio product PRN; cannot write a Peridio manifest")
            desc = f"{r.product} lot {lot}" + (f" SN {r.serial_number}" if r.serial_number else "")
            w.writerow((r.device_id, desc, ",".join(t.get("tags") or []), prn, t.get("cohort_prn") or "", "", ""))
            n += 1
        return n
    return produce


#: what a file's suffix says its manifest format is (peridio-csv is a CSV too)
SUFFIX_FORMATS: dict[str, tuple[str, ...]] = {".txt": ("txt",), ".csv": ("csv", "peridio-csv"), ".json": ("json",)}


def format_for(path: Path | None, fmt: str | None) -> str:
    """The format to write ``path`` in: ``fmt`` if given, else the one its suffix names, else txt.

    ConfigError when the two disagree (``-o LOT.csv --format txt`` would give a CSV-named text
    file that a spreadsheet or the Peridio console then misreads).
    """
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"unknown manifest format {fmt!r} (choose from {', '.join(FORMATS)})")
    named = SUFFIX_FORMATS.get(path.suffix.lower()) if path is not None else None
    if fmt is None:
        return named[0] if named else "txt"
    if named and fmt not in named:
        raise ConfigError(f"{path} is named like a {named[0]} file but --format is {fmt}: rename the file "
                          f"or drop --format to write {named[0]}")
    return fmt


def _producer(registry: Registry, lot: str, fmt: str, include_all: bool) -> Callable[[_HashingWriter], int]:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown manifest format {fmt!r} (choose from {', '.join(FORMATS)})")
    summary = registry.lot_ref(lot)

    def rows() -> Iterator[ManifestRow]:
        return registry.iter_manifest_rows(lot, include_failed=include_all)

    if fmt == "txt":
        return _txt(registry.iter_manifest_device_ids(lot, include_failed=include_all))
    if fmt == "csv":
        return _csv(rows())
    if fmt == "json":
        return _json(lot, registry.iter_manifest_details(lot, include_failed=include_all))
    return _peridio(lot, rows(), registry.peridio_targets(lot),
                    {summary.product: registry.product_peridio_prn(summary.product_id)})


def write_lot(registry: Registry, lot: str, fmt: str, out: IO[bytes], *, include_all: bool = False) -> tuple[str, int]:
    """Stream ``lot``'s manifest to ``out`` (standard output): ``(sha256, devices)``, no checksum file."""
    writer = _HashingWriter(out)
    with registry.snapshot():  # the lot, its rows, details and targets as of one moment
        count = _producer(registry, lot, fmt, include_all)(writer)
    writer.flush()
    out.flush()
    return writer.digest.hexdigest(), count


def export_lot(registry: Registry, lot: str, fmt: str, path: Path, *, include_all: bool = False) -> ExportResult:
    """Write ``lot``'s manifest to ``path`` (passed devices only unless ``include_all``) and its checksum."""
    try:
        with registry.snapshot():  # the lot, its rows, details and targets as of one moment
            digest, count = _atomic_write(path, _producer(registry, lot, fmt, include_all))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    checksum = path.with_name(path.name + ".sha256")
    try:
        _atomic_write(checksum, lambda out: out.write(f"{digest}  {path.name}\n"))
    except OSError as exc:
        raise ConfigError(f"cannot write {checksum}: {exc.strerror or exc}") from exc
    return ExportResult(path=path, checksum_path=checksum, sha256=digest, devices=count, fmt=fmt)
