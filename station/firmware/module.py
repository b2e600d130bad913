"""Particle module binaries: parse them the way Device OS and Particle's own tools do.

A module is ``[vector table?][prefix (module_info_t, 24 B)][body][suffix][CRC-32 BE]``. The facts
(field offsets, suffix layout, flags) are in ``shared/research/particle.md`` §4.

Where the prefix sits is decided exactly like binary-version-reader's ``HalModuleParser``: every
candidate offset gets a plausibility score (start < end, file long enough, known function,
empty dependencies zeroed, known platform, exact size, known flags); offsets 0, 0x200 (Gen3
vector table), 0x184, 0xC0 and 0x10C are tried first, then every 4-byte offset up to 8 KB
(which is how the P2 bootloader's 0x20 is found). The first offset that passes every check wins,
otherwise the best-scoring one. Using the same rule matters: a file the station accepts must be
the file Particle's tools accept, with the same reading of its fields.

The parser refuses (``FirmwareError``) when no offset looks like a prefix at all, and when an
intact module (its CRC matches) has a layout Particle's parser refuses: a suffix size that
disagrees with the file or with the extensions it spans, prefix extensions without END. A module
whose CRC does not match still parses, with ``crc_ok=False``, so the operator is told *which*
module is corrupt rather than "garbage".
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from station.domain import PLATFORMS_BY_ID, FlashImage, ModuleFlags, ModuleFunction
from station.errors import FirmwareError

PREFIX_SIZE = 24
#: module_info_suffix_base_t (reserved u16, sha[32], size u16) without product data
MIN_SUFFIX_SIZE = 36
#: smallest thing that can be a module: prefix, minimal suffix and CRC
MIN_MODULE_SIZE = PREFIX_SIZE + MIN_SUFFIX_SIZE + 4
_PREFERRED_OFFSETS = (0, 0x200, 0x184, 0xC0, 0x10C)
_MAX_PREFIX_OFFSET = 8 * 1024
_MAX_SCORE = 7
#: platform IDs binary-version-reader knows (ModuleInfo.Platform); used only for the offset score
_KNOWN_PLATFORM_IDS = frozenset(
    {0, 2, 3, 6, 8, 10, 12, 13, 14, 15, 22, 23, 25, 26, 28, 31, 32, 35, 37, 60000}
)
_ALL_FLAGS = 0x1F
_PREFIX = struct.Struct("<IIBBHHBBBBHBBH")

FUNCTION_NAMES: dict[ModuleFunction, str] = {
    ModuleFunction.NONE: "none",
    ModuleFunction.RESOURCE: "resource",
    ModuleFunction.BOOTLOADER: "bootloader",
    ModuleFunction.MONOLITHIC: "monolithic",
    ModuleFunction.SYSTEM_PART: "system-part",
    ModuleFunction.USER_PART: "user-part",
    ModuleFunction.SETTINGS: "settings",
    ModuleFunction.NCP: "ncp-firmware",
    ModuleFunction.RADIO_STACK: "radio-stack",
    ModuleFunction.ASSET: "asset",
}


def function_name(function: int, index: int = 0) -> str:
    """Human name of a module the way operators say it: ``system-part1``, ``user-part``, ``bootloader``."""
    try:
        fn = ModuleFunction(function)
    except ValueError:
        return f"function-{function}"
    name = FUNCTION_NAMES[fn]
    if fn == ModuleFunction.SYSTEM_PART:
        return f"system-part{index}"
    return name


def platform_label(platform_id: int) -> str:
    plat = PLATFORMS_BY_ID.get(platform_id)
    return f"{plat.name} ({platform_id})" if plat else f"platform {platform_id}"


@dataclass(frozen=True)
class ModuleDependency:
    """A (function, index, minimum version) another module must satisfy; function NONE = no dependency."""

    function: ModuleFunction
    index: int
    version: int

    @property
    def is_none(self) -> bool:
        return self.function == ModuleFunction.NONE

    def describe(self) -> str:
        return f"{function_name(self.function, self.index)} >= v{self.version}"

    def to_json(self) -> list[int]:
        return [int(self.function), self.index, self.version]


@dataclass(frozen=True)
class ModuleInfo:
    """Everything the station needs to know about one module file."""

    platform_id: int
    function: ModuleFunction
    index: int
    version: int
    start: int
    end: int
    flags: ModuleFlags
    deps: tuple[ModuleDependency, ModuleDependency]
    product_id: int | None
    product_version: int | None
    crc_ok: bool
    sha256: str  # the module's own SHA-256 from its suffix (Particle's fwUniqueId)
    suffix_size: int
    prefix_offset: int
    file_sha256: str  # SHA-256 of the whole file: the cache key

    @property
    def name(self) -> str:
        return function_name(self.function, self.index)

    @property
    def prefix_size(self) -> int:
        return PREFIX_SIZE

    def to_json(self) -> dict[str, Any]:
        """The ``station firmware inspect --json`` object (a contract: keys are fixed)."""
        return {
            "platform_id": self.platform_id,
            "function": int(self.function),
            "index": self.index,
            "version": self.version,
            "start": self.start,
            "end": self.end,
            "flags": int(self.flags),
            "deps": [d.to_json() for d in self.deps],
            "product_id": self.product_id,
            "product_version": self.product_version,
            "crc_ok": self.crc_ok,
            "sha256": self.sha256,
            "suffix_size": self.suffix_size,
            "prefix_offset": self.prefix_offset,
        }

    def describe(self) -> str:
        """One line for logs and error messages."""
        crc = "CRC ok" if self.crc_ok else "CRC BAD"
        return (
            f"{self.name} v{self.version} for {platform_label(self.platform_id)} "
            f"at 0x{self.start:05X}-0x{self.end:05X}, {crc}"
        )


def _prefix_fields(data: bytes, offset: int) -> tuple[int, ...] | None:
    if offset < 0 or offset + PREFIX_SIZE > len(data):
        return None
    return _PREFIX.unpack_from(data, offset)


def _prefix_score(data: bytes, offset: int) -> int:
    """binary-version-reader's plausibility score for a prefix at ``offset`` (0 = not a prefix)."""
    f = _prefix_fields(data, offset)
    if f is None:
        return 0
    start, end, _res, flags, _ver, platform, func, _idx, d1f, d1i, d1v, d2f, d2i, d2v = f
    if end <= start or len(data) < end - start + 4 or func == 0:
        return 0
    if (d1f == 0 and (d1i or d1v)) or (d2f == 0 and (d2i or d2v)):
        return 0
    known_functions = {int(x) for x in ModuleFunction}
    score = 1
    score += platform in _KNOWN_PLATFORM_IDS
    score += func in known_functions
    score += d1f in known_functions
    score += d2f in known_functions
    score += len(data) == end - start + 4
    score += (flags & ~_ALL_FLAGS) == 0
    return score


def find_prefix_offset(data: bytes) -> tuple[int, int]:
    """(offset, score) of the module prefix, chosen by the reference parser's rule."""
    best_offset, best_score = 0, 0
    for offset in _PREFERRED_OFFSETS:
        score = _prefix_score(data, offset)
        if score >= _MAX_SCORE:
            return offset, score
        if score > best_score:
            best_offset, best_score = offset, score
    limit = min(_MAX_PREFIX_OFFSET, len(data) - MIN_MODULE_SIZE)
    for offset in range(4, limit + 1, 4):
        if offset in _PREFERRED_OFFSETS:
            continue
        score = _prefix_score(data, offset)
        if score >= _MAX_SCORE:
            return offset, score
        if score > best_score:
            best_offset, best_score = offset, score
    return best_offset, best_score


def crc32_be(data: bytes) -> bytes:
    """The module CRC as stored: zlib CRC-32, big-endian."""
    return struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF)


def parse_module(data: bytes) -> ModuleInfo:
    """Parse a module binary; ``FirmwareError`` (one line) if it is not one."""
    if len(data) < MIN_MODULE_SIZE:
        raise FirmwareError(
            f"not a Particle module: {len(data)} bytes is shorter than the smallest module ({MIN_MODULE_SIZE})"
        )
    offset, score = find_prefix_offset(data)
    if score == 0:
        raise FirmwareError("not a Particle module: no plausible module prefix in the first 8 KB")
    f = _prefix_fields(data, offset)
    assert f is not None  # score > 0 implies a full prefix
    start, end, _res, flags, version, platform, func, index, d1f, d1i, d1v, d2f, d2i, d2v = f
    try:
        function = ModuleFunction(func)
        deps = (
            ModuleDependency(ModuleFunction(d1f), d1i, d1v),
            ModuleDependency(ModuleFunction(d2f), d2i, d2v),
        )
    except ValueError as exc:
        raise FirmwareError(f"not a Particle module: unknown module function in prefix ({exc})") from exc
    n = len(data)
    crc_ok = data[n - 4 :] == crc32_be(data[: n - 4])
    suffix_size = struct.unpack_from("<H", data, n - 6)[0]
    if crc_ok:  # a corrupt file is reported as such (crc_ok=False), not as a malformed layout
        if flags & ModuleFlags.PREFIX_EXTENSIONS:
            _check_prefix_extensions(data, offset + PREFIX_SIZE)
        _check_suffix(data, suffix_size, offset + PREFIX_SIZE)
    sha = data[n - 38 : n - 6].hex()
    product_id: int | None
    product_version: int | None
    if suffix_size < MIN_SUFFIX_SIZE + 4:
        product_id = product_version = None
    else:
        product_version = struct.unpack_from("<H", data, n - 42)[0]
        product_id = struct.unpack_from("<H", data, n - 44)[0]
    return ModuleInfo(
        platform_id=platform,
        function=function,
        index=index,
        version=version,
        start=start,
        end=end,
        flags=ModuleFlags(flags),  # raw, unknown bits kept: inspect reports what the file says
        deps=deps,
        product_id=product_id,
        product_version=product_version,
        crc_ok=crc_ok,
        sha256=sha,
        suffix_size=suffix_size,
        prefix_offset=offset,
        file_sha256=hashlib.sha256(data).hexdigest(),
    )


#: module_info_extension_t types (binary-version-reader ``ModuleInfoExtension``)
EXT_END = 0x0000
EXT_INVALID = 0xFFFF
_EXT_HEADER = 4  # type u16, length u16 (the length counts the header)


def _refuse(what: str) -> FirmwareError:
    return FirmwareError(f"not a valid Particle module: {what}")


def _check_suffix(data: bytes, suffix_size: int, body_start: int) -> None:
    """Refuse a suffix whose size field disagrees with the file or with the extensions it spans.

    Particle's parser (binary-version-reader ``_readSuffix``) walks the extensions of a suffix
    larger than 40 bytes from ``len − 4 − suffix_size`` and throws on a zero-length one; Device OS
    locates the SHA-256 and product fields from the same size. A module whose size field is erased,
    smaller than the base suffix, reaches back into its own prefix, or whose extensions do not
    tile the declared span exactly (zero or sub-header lengths, an invalid type, running into the
    base suffix, stopping short of it) is refused here rather than reported with fields read from
    the wrong bytes.
    """
    n = len(data)
    if suffix_size == 0xFFFF:
        raise _refuse("the suffix size field is erased (0xFFFF)")
    if suffix_size < MIN_SUFFIX_SIZE:
        raise _refuse(f"suffix size {suffix_size} is smaller than the {MIN_SUFFIX_SIZE}-byte base suffix")
    if n - 4 - suffix_size < body_start:
        raise _refuse(f"suffix size {suffix_size} reaches back past the module prefix ({n} bytes in all)")
    if suffix_size <= MIN_SUFFIX_SIZE + 4:
        return  # 36: base only; 37..40: product id/version fields, no extension headers
    base = n - 4 - MIN_SUFFIX_SIZE
    _walk_extensions(data, n - 4 - suffix_size, base, where="suffix", need_end=False)


def _check_prefix_extensions(data: bytes, start: int) -> None:
    """Prefix extensions (flag 0x10) must be a chain of whole extensions ending with END (as Particle's parser)."""
    _walk_extensions(data, start, len(data) - 4 - MIN_SUFFIX_SIZE, where="prefix", need_end=True)


def _walk_extensions(data: bytes, idx: int, limit: int, *, where: str, need_end: bool) -> None:
    while idx < limit:
        if idx + _EXT_HEADER > limit:
            raise _refuse(f"{where} extension at 0x{idx:X} is cut off by the {'base suffix' if where == 'suffix' else 'suffix'}")
        ext_type, length = struct.unpack_from("<HH", data, idx)
        if ext_type == EXT_INVALID:
            raise _refuse(f"{where} extension at 0x{idx:X} has the invalid type 0xFFFF (the size field disagrees with the extensions)")
        if length < _EXT_HEADER:
            raise _refuse(f"{where} extension at 0x{idx:X} has length {length}, shorter than its own header")
        if idx + length > limit:
            raise _refuse(
                f"{where} extension 0x{ext_type:04X} at 0x{idx:X} ({length} bytes) runs past the end of the "
                f"{where} extensions at 0x{limit:X}: the size field disagrees with the extensions"
            )
        idx += length
        if ext_type == EXT_END:
            if where == "suffix" and idx != limit:
                raise _refuse(f"suffix extensions end at 0x{idx:X}, but the suffix size says 0x{limit:X}")
            return
    if need_end:
        raise _refuse(f"{where} extensions do not end with an END extension")


def module_flash_image(data: bytes, info: ModuleInfo, label: str = "") -> FlashImage:
    """The bytes to write and where, as particle-cli and the Device OS bootloader place them.

    A module flagged DROP_MODULE_INFO (the SoftDevice) is written without its 24-byte prefix, and
    the remainder goes to the prefix's *start address* (particle-cli ``createFlashSteps`` slices
    the prefix off and still writes at ``moduleStartAddy``; the bootloader copies to
    ``module_start_address`` after skipping the header). Device OS only honours the flag when the
    prefix is at offset 0, so a module claiming otherwise is refused rather than misplaced.
    """
    if info.flags & (ModuleFlags.COMPRESSED | ModuleFlags.ENCRYPTED):
        raise FirmwareError(
            f"{info.name} v{info.version} is compressed or encrypted: only Device OS can apply it (OTA), not a flasher"
        )
    text = label or f"{info.name} v{info.version}"
    if info.flags & ModuleFlags.DROP_MODULE_INFO:
        if info.prefix_offset != 0:
            raise FirmwareError(f"{text}: DROP_MODULE_INFO needs the prefix at offset 0, found 0x{info.prefix_offset:X}")
        return FlashImage(info.start, bytes(data[PREFIX_SIZE:]), text)
    # module_start_address is the first byte of the file (the vector table when the prefix sits
    # at 0x200), so the whole file goes there.
    return FlashImage(info.start, bytes(data), text)
