"""The firmware cache: a content-addressed, offline store that re-verifies on every use.

Layout of a cache directory (see ``firmware_cache/README.md``)::

    <root>/<sha256>.bin    the file, byte for byte as added
    <root>/<sha256>.json   {"sha256", "size", "name", "kind", "address", "added", "info"}

The key is the SHA-256 of the whole file, so a profile that names a hash names exact bytes.
Every read hashes the blob again: a byte flipped on disk (bad sector, a colleague's editor) is
reported as ``CacheError`` before anything is flashed, never written to a device. Both files are
written to a temporary name and renamed, so a crash leaves either the old state or the new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station import paths, settings
from station.domain import ModuleFlags, ModuleFunction
from station.errors import CacheError, CacheMissing, FirmwareError
from station.firmware.images import LoadedFirmware, load_firmware
from station.firmware.module import ModuleDependency, ModuleInfo

ENV_VAR = paths.CACHE_ENV
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def default_cache_dir() -> Path:
    """``$STATION_CACHE`` if set, else the per-user data directory's ``firmware_cache``."""
    configured = settings.get("cache")
    if configured is not None:
        return Path(configured)
    return paths.firmware_cache_dir()


@dataclass(frozen=True)
class CacheEntry:
    """One cached firmware file."""

    sha256: str
    path: Path
    size: int
    name: str
    info: ModuleInfo | None
    kind: str  # "module" | "hex" | "bin"
    address: int | None = None  # raw binaries only: where they are written
    added: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "name": self.name,
            "kind": self.kind,
            "address": self.address,
            "added": self.added,
            "info": None if self.info is None else {**self.info.to_json(), "file_sha256": self.info.file_sha256},
        }

    def describe(self) -> str:
        what = self.info.describe() if self.info else f"{self.kind} file"
        return f"{self.name} [{self.sha256[:12]}] {what}"


def _info_from_json(obj: dict[str, Any] | None) -> ModuleInfo | None:
    if obj is None:
        return None
    d1, d2 = (ModuleDependency(ModuleFunction(f), i, v) for f, i, v in obj["deps"])
    return ModuleInfo(
        platform_id=obj["platform_id"],
        function=ModuleFunction(obj["function"]),
        index=obj["index"],
        version=obj["version"],
        start=obj["start"],
        end=obj["end"],
        flags=ModuleFlags(obj["flags"]),
        deps=(d1, d2),
        product_id=obj["product_id"],
        product_version=obj["product_version"],
        crc_ok=obj["crc_ok"],
        sha256=obj["sha256"],
        suffix_size=obj["suffix_size"],
        prefix_offset=obj["prefix_offset"],
        file_sha256=obj["file_sha256"],
    )


class FirmwareCache:
    """A cache directory. Cheap to construct; the directory is created on first ``add``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _blob(self, sha: str) -> Path:
        return self.root / f"{sha}.bin"

    def _meta(self, sha: str) -> Path:
        return self.root / f"{sha}.json"

    def add(self, source: Path | str | bytes, *, name: str | None = None, address: int | None = None) -> CacheEntry:
        """Store a file (path or bytes). Idempotent: adding the same bytes again returns the entry."""
        return self.add_new(source, name=name, address=address)[0]

    def add_new(self, source: Path | str | bytes, *, name: str | None = None,
                address: int | None = None) -> tuple[CacheEntry, bool]:
        """:meth:`add`, also saying whether the bytes were new (False: they were cached already).

        Refuses (``FirmwareError``) a module whose CRC is already wrong and a raw binary without
        an address: neither could be flashed safely later.
        """
        if isinstance(source, bytes):
            data = source
            name = name or "unnamed.bin"
        else:
            p = Path(source)
            try:
                data = p.read_bytes()
            except OSError as exc:
                raise FirmwareError(f"cannot read {p}: {exc.strerror or exc}") from exc
            name = name or p.name
        loaded = load_firmware(data, address=address)
        if loaded.info is not None and not loaded.info.crc_ok:
            raise FirmwareError(f"{name}: {loaded.info.describe()}: refusing to cache a corrupt module")
        sha = hashlib.sha256(data).hexdigest()
        existing = self._meta(sha)
        if existing.exists() and self._blob(sha).exists():
            return self.get(sha), False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            paths.write_durably(self._blob(sha), data)
            entry = self._entry(sha, data, name, loaded, address)
            paths.write_durably(existing, (json.dumps(entry.to_json(), indent=2, sort_keys=True) + "\n").encode())
        except OSError as exc:
            raise CacheError(f"cannot write to firmware cache {self.root}: {exc.strerror or exc}") from exc
        return entry, True

    def _entry(self, sha: str, data: bytes, name: str, loaded: LoadedFirmware, address: int | None) -> CacheEntry:
        return CacheEntry(
            sha256=sha,
            path=self._blob(sha),
            size=len(data),
            name=name,
            info=loaded.info,
            kind=loaded.kind,
            address=address if loaded.kind == "bin" else None,
            added=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def _load_meta(self, sha: str) -> CacheEntry:
        try:
            obj = json.loads(self._meta(sha).read_text())
            return CacheEntry(
                sha256=sha,
                path=self._blob(sha),
                size=int(obj["size"]),
                name=str(obj["name"]),
                info=_info_from_json(obj.get("info")),
                kind=str(obj["kind"]),
                address=obj.get("address"),
                added=str(obj.get("added", "")),
            )
        except FileNotFoundError:
            raise CacheMissing(f"{sha[:12]}…: not in cache {self.root}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CacheError(f"{sha[:12]}…: cache metadata is unreadable ({exc})") from exc

    def get(self, sha256: str) -> CacheEntry:
        """The entry for a hash, after checking the blob still hashes to it."""
        sha = sha256.strip().lower()
        if not _SHA_RE.match(sha):
            raise CacheError(f"{sha256!r} is not a SHA-256 (64 hex characters)")
        entry = self._load_meta(sha)
        self._verified_bytes(entry)
        return entry

    def _verified_bytes(self, entry: CacheEntry) -> bytes:
        try:
            data = entry.path.read_bytes()
        except FileNotFoundError:
            raise CacheMissing(f"{entry.name} [{entry.sha256[:12]}]: not in cache (blob missing)") from None
        except OSError as exc:
            raise CacheError(f"{entry.name} [{entry.sha256[:12]}]: cannot read: {exc.strerror or exc}") from exc
        found = hashlib.sha256(data).hexdigest()
        if found != entry.sha256:
            raise CacheError(f"{entry.name}: changed on disk: expected {entry.sha256}, found {found}")
        return data

    def read(self, sha256: str) -> bytes:
        """The file's bytes, verified against their hash on this very read."""
        return self._verified_bytes(self._load_meta(sha256.strip().lower()))

    def load(self, sha256: str) -> LoadedFirmware:
        """Verified bytes turned into flash images (what the pipeline writes)."""
        entry = self._load_meta(sha256.strip().lower())
        data = self._verified_bytes(entry)
        return load_firmware(data, address=entry.address, label=entry.name)

    def entries(self) -> list[CacheEntry]:
        """All entries (metadata only, not re-hashed), oldest first."""
        if not self.root.is_dir():
            return []
        out = []
        for meta in self.root.glob("*.json"):
            if _SHA_RE.match(meta.stem):
                out.append(self._load_meta(meta.stem))
        return sorted(out, key=lambda e: (e.added, e.name))

    def verify(self) -> list[tuple[CacheEntry, str | None]]:
        """Re-hash every entry: (entry, None) when intact, (entry, problem) otherwise."""
        results: list[tuple[CacheEntry, str | None]] = []
        if not self.root.is_dir():
            return results
        for meta in sorted(self.root.glob("*.json")):
            if not _SHA_RE.match(meta.stem):
                continue
            try:
                entry = self._load_meta(meta.stem)
            except CacheError as exc:
                # unreadable metadata is a corrupt entry too: name it instead of aborting the check
                stub = CacheEntry(meta.stem, self._blob(meta.stem), 0, meta.name, None, "unknown")
                results.append((stub, str(exc)))
                continue
            try:
                self._verified_bytes(entry)
                results.append((entry, None))
            except CacheError as exc:
                results.append((entry, str(exc)))
        return results
