"""Typed, error-collecting access to one TOML table of a profile.

A profile is written by hand by an engineer and handed to the line, so a typo must never pass
silently and one bad field must not hide the next: every getter records a
:class:`~station.errors.ProfileError` (file, dotted field, what was expected) and returns a
usable fallback so validation can go on and report every problem in one run. ``finish()``
turns every key nobody asked for into an error that names the closest valid key.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from station.errors import ProfileError

_MISSING: Any = object()

_TOML_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "a table",
}


def _type_name(value: object) -> str:
    return _TOML_TYPE_NAMES.get(type(value), type(value).__name__)


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
    def string(self, key: str, default: Any = _MISSING, *, choices: Sequence[str] | None = None) -> Any:
        value = self.raw(key, default)
        if value is None or (value is default and key not in self.data):
            return value
        if not isinstance(value, str):
            self.error(key, f"expected a string, got {_type_name(value)}")
            return None if default is _MISSING else default
        if choices is not None and value not in choices:
            hint = closest(value, choices)
            self.error(key, f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}{hint}")
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

    def integer(self, key: str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"expected an integer, got {_type_name(value)}")
            return None if default is _MISSING else default
        if minimum is not None and value < minimum:
            self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, positive: bool = False) -> Any:
        value = self.raw(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(key, f"expected a number, got {_type_name(value)}")
            return None if default is _MISSING else default
        if positive and value <= 0:
            self.error(key, f"must be greater than 0, got {value}")
        return float(value)

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.raw(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(key, "expected an array of strings")
            return default
        return tuple(value)

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
        return [Section(self.path, f"{self.where(key)}[{i}]", v, self.errors) for i, v in enumerate(value)]

    def finish(self, allowed: Sequence[str] = ()) -> None:
        """Report every key that was never read: the typo check. ``allowed`` adds valid-but-unread keys."""
        valid = sorted(self._seen | set(allowed))
        for key in self.data:
            if key not in self._seen and key not in allowed:
                self.error(key, f"unknown key{closest(key, valid) or ' (no key of that name is valid here)'}")


def closest(word: str, candidates: Sequence[str]) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
