"""Choosing, checking and editing product profiles from a front end (the GUI's profile dialog).

Whether a profile is valid is the core's answer, the same one ``station profile check`` gives:
:func:`station.profile.load.validate_profile` over the exact text, then, when the session has a
firmware cache, :func:`~station.profile.firmware_check.check_profile_firmware`. An edit is checked
by writing the text to a temporary file beside the profile and asking the loader about that file;
only text with no problem replaces the profile (atomically: a crash leaves the old file or the
new one, never half of either). Each problem carries the line of the text it is about, so the
editor can put the cursor there.

Editing is an engineer's action (:data:`station.roles.Action.EDIT_PROFILE`): every save names a
reason and goes to the audit log with the file's SHA-256 before and after; a refusal is audited.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station import paths
from station import settings as table
from station.errors import ConfigError, ProfileRejected
from station.roles import Action, may

__all__ = ["Entry", "Problem", "ProfileRejected", "Saved", "check_text", "field_line", "field_lines", "folder",
           "list_profiles", "refusal", "save"]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=""")
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Problem:
    """One thing ``profile check`` would print: the field, what was expected, the line it is on."""

    field: str
    problem: str
    line: int | None  # 1-based; None when the text has no line for it (a missing field)

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.field + ': ' if self.field else ''}{self.problem}"


@dataclass(frozen=True)
class Entry:
    """A profile file in the folder, as the chooser lists it."""

    path: Path
    name: str
    product: str
    platform: str
    problems: int
    first_problem: str

    @property
    def valid(self) -> bool:
        return self.problems == 0


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"""\s*("[^"]*"|'[^']*'|[^.]+)\s*(?:\.|$)""", dotted)]


def field_lines(text: str) -> dict[str, int]:
    """Each table, array-of-tables entry and key of the text, by its dotted field name, to its line.

    Field names as the loader reports them: ``firmware.modules[1].version``, ``tests[0].max``.
    """
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table_path = ""
    for no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        header = _HEADER.match(line)
        if header is not None and not _KEY.match(line):
            name = ".".join(_parts(header.group(2)))
            if header.group(1) == "[[":
                i = counts.get(name, 0)
                counts[name] = i + 1
                # a nested array of tables counts inside its parent entry
                parent = next((p for p in sorted(counts, key=len, reverse=True)
                               if name.startswith(p + ".") and p != name), None)
                if parent is not None:
                    name = f"{parent}[{counts[parent] - 1}]{name[len(parent):]}"
                    i = counts.get(name, 0)
                    counts[name] = i + 1
                table_path = f"{name}[{i}]"
            else:
                table_path = name
            lines.setdefault(table_path, no)
            continue
        key = _KEY.match(line)
        if key is not None:
            dotted = ".".join(_parts(key.group(1)))
            lines.setdefault(f"{table_path}.{dotted}" if table_path else dotted, no)
    return lines


def field_line(text: str, field: str, known: dict[str, int] | None = None) -> int | None:
    """The line a problem with ``field`` is about: the field's own line, else its nearest parent's."""
    known = field_lines(text) if known is None else known
    f = field
    while f:
        if f in known:
            return known[f]
        cut = max(f.rfind("."), f.rfind("["))
        f = f[:cut] if cut > 0 else ""
    return None


def _problems(errors: list[Any], text: str) -> list[Problem]:
    known = field_lines(text)
    out = []
    for e in errors:
        line = field_line(text, e.field, known) if e.field else None
        if line is None:
            at = _TOML_AT.search(e.problem)
            line = int(at.group(1)) if at else None
        out.append(Problem(e.field, e.problem, line))
    return out


def check_text(text: str, beside: Path, cache: Any = None) -> list[Problem]:
    """Every problem ``station profile check`` finds in ``text`` (as if it were saved at ``beside``)."""
    from station.profile.firmware_check import check_profile_firmware
    from station.profile.load import load_profile, validate_profile

    folder = beside.parent if beside.parent.is_dir() else Path(tempfile.gettempdir())
    fd, tmp = tempfile.mkstemp(prefix=".check-", suffix=".toml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        errors: list[Any] = list(validate_profile(tmp))
        if not errors and cache is not None and Path(cache.root).is_dir():
            errors = list(check_profile_firmware(load_profile(tmp), cache))
    finally:
        Path(tmp).unlink(missing_ok=True)
    return _problems(errors, text)


def folder(session: Any, current: Path | None = None) -> Path:
    """The folder the chooser lists: the ``profiles_dir`` setting, else the chosen profile's folder,
    else ``./profiles``."""
    from station.config import file_value

    chosen = table.get("profiles_dir")
    if chosen is None:
        try:
            chosen = file_value("profiles_dir", getattr(getattr(session, "given", None), "config_path", None))
        except ConfigError:
            chosen = None
    if chosen is not None:
        return Path(chosen)
    if current is not None:
        return Path(current).parent
    return Path.cwd() / "profiles"


def list_profiles(where: Path) -> list[Entry]:
    """Every ``*.toml`` in ``where``, each with what the loader says of it (run off the GUI thread)."""
    from station.profile.load import load_profile, validate_profile

    if not where.is_dir():
        raise ConfigError(f"{where}: no such folder of profiles")
    out = []
    for path in sorted(where.glob("*.toml")):
        errors = validate_profile(path)
        if errors:
            out.append(Entry(path, path.stem, "", "", len(errors), str(errors[0].problem)))
            continue
        p = load_profile(path)
        out.append(Entry(path, p.name, p.product, p.platform.name, 0, ""))
    return out


def refusal(role: str | None) -> str:
    if role is not None and may(role, Action.EDIT_PROFILE):
        return ""
    if role is None:
        return "Nobody is logged in: choosing or editing the product profile needs an engineer. Log in first."
    return (f"You are logged in as {role}: choosing or editing the product profile needs an engineer or above. "
            "Ask an engineer to log in.")


@dataclass(frozen=True)
class Saved:
    path: Path
    sha256_before: str | None
    sha256: str


def save(session: Any, path: Path, text: str, *, reason: str, operator: str | None, role: str | None) -> Saved:
    """Check the role, the reason and the text (as ``profile check`` does), then replace the file
    atomically and audit it. ``PermissionError`` (audited), ``ConfigError`` or :class:`ProfileRejected`
    (nothing written) otherwise."""
    who = operator or "(nobody)"
    why = refusal(role)
    if why:
        session.registry.audit_decision(Action.EDIT_PROFILE.value, operator=who, station=session.station,
                                        role=role, granted=False, reason=why, details={"profile": str(path),
                                                                                      "asked": "save"})
        raise PermissionError(why)
    shipped = Path(__file__).resolve().parents[1]
    if path.resolve().is_relative_to(shipped):
        raise ConfigError(f"{path.name} ships with the station and is replaced by the next upgrade: copy it into "
                          "your profiles folder and edit the copy")
    reason = reason.strip()
    if not reason:
        raise ConfigError("say why the profile changes (the reason goes to the audit log)")
    problems = check_text(text, path, getattr(session, "cache", None))
    if problems:
        raise ProfileRejected(problems)
    before = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    data = text.encode("utf-8")
    paths.write_durably(path, data)
    after = hashlib.sha256(data).hexdigest()
    session.registry.audit_decision(Action.EDIT_PROFILE.value, operator=who, station=session.station, role=role,
                                    granted=True, reason=reason,
                                    details={"profile": str(path), "sha256_before": before, "sha256": after})
    return Saved(path, before, after)
