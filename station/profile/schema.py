"""Typed, error-collecting access to one TOML table of a profile.

A profile is written by hand by an engineer and handed to the line, so a typo must never pass
silently and one bad field must not hide the next: every getter records a
:class:`~station.errors.ProfileError` (file, dotted field, what was expected) and returns a
usable fallback so validation can go on and report every problem in one run. ``finish()``
turns every key nobody asked for into an error that names the closest valid key.

Every value is also held to what the run can use (issue 10, item 3): a number is finite and inside
a stated range (``nan`` would make every limit pass, ``inf`` would hang a slot), an integer fits the
range its consumer has (32-bit addresses, the registry's columns), a string is printable and
bounded (a NUL breaks PostgreSQL, a control character breaks terminals and labels). A getter that
is not given a range gets the default one below, so no field is ever unbounded by omission.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

from station.errors import ProfileError

_MISSING: Any = object()

#: the range of a number nobody gave a range to (far beyond any physical limit a test states)
NUMBER_LIMIT = 1e12
#: the range of an integer nobody gave a range to: what the registry's integer columns hold
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
#: the longest string nobody gave a length to
STRING_LIMIT = 200
#: the most entries an array of strings or of tables may have
ARRAY_LIMIT = 100

_TOML_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "a table",
}


def _type_name(value: object) -> str:
    name = _TOML_TYPE_NAMES.get(type(value))
    if name is not None:
        return name
    # tomllib gives datetime.datetime / date / time for TOML's date-time values
    return {"datetime": "a date-time", "date": "a date", "time": "a time"}.get(type(value).__name__, type(value).__name__)


def text_problem(value: str, limit: int = STRING_LIMIT, *, multiline: bool = False) -> str | None:
    """Why ``value`` is not a string the run can store, print and show, or ``None``."""
    for i, ch in enumerate(value):
        if ch.isprintable() or (multiline and ch in "\n\t"):
            continue
        return f"contains the control or unprintable character {ch!r} at position {i}"
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit} are allowed"
    return None


def show_key(key: str) -> str:
    """A TOML key as it can be printed in a message: quoted when it holds anything unprintable."""
    return key if key.isprintable() and len(key) <= 64 else repr(key[:64])


def number_problem(value: float, minimum: float, maximum: float) -> str | None:
    """Why a number is outside what a run can use (not finite, out of range), or ``None``."""
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if not minimum <= value <= maximum:
        return f"must be within {minimum:g}..{maximum:g}, got {value:g}"
    return None


class Section:
    """One table of the profile; ``prefix`` is its dotted position (``""`` for the root)."""

    def __init__(self, path: str, prefix: str, data: dict[str, Any], errors: list[ProfileError]) -> None:
        self.path = path
        self.prefix = prefix
        self.data = data
        self.errors = errors
        self._seen: set[str] = set()

    # ------------------------------------------------------------------ helpers
    def where(self, key: str) -> str:
        key = show_key(key)
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, problem: str) -> None:
        self.errors.append(ProfileError(self.path, self.where(key), problem))

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        """The value as TOML gave it; a missing required key is recorded and yields ``None``."""
        self._seen.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self.error(key, "is required")
            return None
        return default

    # ------------------------------------------------------------------ typed getters
    def string(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        choices: Sequence[str] | None = None,
        limit: int = STRING_LIMIT,
        multiline: bool = False,
    ) -> Any:
        value = self.raw(key, default)
        if value is None or (value is default and key not in self.data):
            return value
        if not isinstance(value, str):
            self.error(key, f"expected a string, got {_type_name(value)}")
            return None if default is _MISSING else default
        problem = text_problem(value, limit, multiline=multiline)
        if problem:
            self.error(key, problem)
            return None if default is _MISSING else default
        if choices is not None and value not in choices:
            hint = closest(value, choices)
            shown = repr(value) if len(value) <= 40 else repr(value[:40]) + "…"
            self.error(key, f"expected one of {', '.join(repr(c) for c in choices)}, got {shown}{hint}")
            return None if default is _MISSING else default
        if not value.strip():
            self.error(key, "must not be empty")
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if key in self.data and not isinstance(value, bool):
            self.error(key, f"expected true or false, got {_type_name(value)}")
            return None if default is _MISSING else default
        return value

    def integer(
        self, key: str, default: Any = _MISSING, *, minimum: int | None = None, maximum: int | None = None
    ) -> Any:
        """An integer within ``minimum..maximum`` (the registry's 32-bit range when not given)."""
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"expected an integer, got {_type_name(value)}")
            return None if default is _MISSING else default
        low = INT_MIN if minimum is None else minimum
        high = INT_MAX if maximum is None else maximum
        if value < low:
            self.error(key, f"must be at least {_show_int(low)}, got {_show_int(value)}")
            return None if default is _MISSING else default
        if value > high:
            self.error(key, f"must be at most {_show_int(high)}, got {_show_int(value)}")
            return None if default is _MISSING else default
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        positive: bool = False,
        minimum: float = -NUMBER_LIMIT,
        maximum: float = NUMBER_LIMIT,
    ) -> Any:
        """A finite number within ``minimum..maximum``; ``positive`` also refuses 0 and below."""
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(key, f"expected a number, got {_type_name(value)}")
            return None if default is _MISSING else default
        if isinstance(value, int) and not -NUMBER_LIMIT <= value <= NUMBER_LIMIT:
            self.error(key, f"must be within {minimum:g}..{maximum:g}, got {_show_int(value)}")
            return None if default is _MISSING else default
        number = float(value)
        problem = number_problem(number, minimum, maximum)
        if problem is None and positive and number <= 0:
            problem = f"must be greater than 0, got {value}"
        if problem:
            self.error(key, problem)
            return None if default is _MISSING else default
        return number

    def strings(
        self, key: str, default: tuple[str, ...] = (), *, limit: int = STRING_LIMIT, count: int = ARRAY_LIMIT
    ) -> tuple[str, ...]:
        """An array of at most ``count`` printable strings of at most ``limit`` characters."""
        value = self.raw(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(key, "expected an array of strings")
            return default
        if len(value) > count:
            self.error(key, f"has {len(value)} entries; at most {count} are allowed")
            return default
        bad = False
        for i, item in enumerate(value):
            problem = text_problem(item, limit)
            if problem:
                self.error(f"{key}[{i}]", problem)
                bad = True
        return default if bad else tuple(value)

    def table(self, key: str, *, required: bool = False) -> Section:
        value = self.raw(key, _MISSING if required else {})
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.error(key, f"expected a table ([{self.where(key)}]), got {_type_name(value)}")
            value = {}
        return Section(self.path, self.where(key), value, self.errors)

    def tables(self, key: str) -> list[Section]:
        """An array of tables (``[[key]]``), each with its index in its dotted position."""
        value = self.raw(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.error(key, f"expected an array of tables ([[{self.where(key)}]])")
            return []
        if len(value) > ARRAY_LIMIT:
            self.error(key, f"has {len(value)} entries; at most {ARRAY_LIMIT} are allowed")
            return []
        return [Section(self.path, f"{self.where(key)}[{i}]", v, self.errors) for i, v in enumerate(value)]

    def finish(self, allowed: Sequence[str] = ()) -> None:
        """Report every key that was never read: the typo check. ``allowed`` adds valid-but-unread keys."""
        valid = sorted(self._seen | set(allowed))
        for key in self.data:
            if key not in self._seen and key not in allowed:
                self.error(key, f"unknown key{closest(key, valid) or ' (no key of that name is valid here)'}")


def _show_int(value: int) -> str:
    """An integer for a message: hex when it is an address-sized one, never a 4000-digit line."""
    if abs(value) >= 2**64:
        return f"a {value.bit_length()}-bit number"
    return f"{value:#x}" if abs(value) > 0xFFFF else str(value)


def closest(word: str, candidates: Sequence[str]) -> str:
    if not word.isprintable() or len(word) > 64:
        return ""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
