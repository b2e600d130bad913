"""Users of the station (name, role, badge, PIN) and the audit trail of privileged decisions.

PINs are stored only as ``scrypt`` hashes (``hashlib.scrypt``, RFC 7914) with a random 16-byte
salt per user, compared in constant time (``hmac.compare_digest``); a PIN never reaches a log, an
exception message, an audit row or any output. A PIN is short, so scrypt's cost (n=2^14, r=8:
about 16 MB and tens of milliseconds per try) and a lockout after repeated failures are what make
guessing slow.

**Open station.** A registry without users has no one to ask, so every name acts as admin (what
the station did before users existed); the audit rows of such decisions say so ("open station").
Once a user exists, a name the registry does not know is an operator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from station.errors import ConfigError, LoginRefused

__all__ = ["LoginRefused", "UserOps", "UserRecord"]
from station.roles import Role
from station.store.models import AuditEntry, User
from station.store.uow import UnitOfWork, device_id_arg, utcnow

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**14, 8, 1, 32
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=5)
OPEN_STATION = "open station (no users in the registry)"
_PIN = re.compile(r"[0-9]{4,12}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")



@dataclass(frozen=True)
class UserRecord:
    """A user as front ends see one: never the PIN or its hash."""

    name: str
    role: Role
    badge: str | None
    active: bool
    locked_until: datetime | None
    created_at: datetime


def hash_pin(pin: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64); raises ConfigError for a PIN that is not 4-12 digits."""
    check_pin(pin)
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LEN)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(pin.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(want))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


#: what an unknown name costs, so a refusal takes as long whether or not the name exists
_DUMMY_HASH = "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                        base64.b64encode(b"\0" * 16).decode(), base64.b64encode(b"\0" * SCRYPT_LEN).decode()])


def check_pin(pin: str) -> None:
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise ConfigError("a PIN is 4 to 12 digits")


def _check_name(name: str, what: str = "user name") -> str:
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{what} must be 1-100 printable characters")
    return name


def _record(u: User) -> UserRecord:
    return UserRecord(name=u.name, role=Role(u.role), badge=u.badge, active=u.active,
                      locked_until=u.locked_until, created_at=u.created_at)


def _find(s: Session, who: str) -> User | None:
    who = who.strip()
    return s.scalars(select(User).where(or_(User.name == who, User.badge == who))).first()


def audit_row(*, action: str, operator: str, station: str, role: str | None = None, granted: bool | None = None,
              reason: str | None = None, device_id: str | None = None,
              details: dict[str, Any] | None = None) -> AuditEntry:
    return AuditEntry(at=utcnow(), action=action, operator=operator, station=station, device_id=device_id,
                      details=details, role=role, granted=granted, reason=reason)


class UserOps(UnitOfWork):
    """User management and privileged-decision audit (part of :class:`~station.store.Registry`)."""

    def has_users(self) -> bool:
        with self.reading() as s:
            return bool(s.scalar(select(func.count()).select_from(User)))

    def users(self) -> list[UserRecord]:
        with self.reading() as s:
            return [_record(u) for u in s.scalars(select(User).order_by(User.name))]

    def user_role(self, name_or_badge: str) -> Role | None:
        """The role of an active user (by name or badge); ``None`` for nobody the registry knows.

        Callers apply the open-station rule with :meth:`has_users` (see the module docstring).
        """
        with self.reading() as s:
            u = _find(s, name_or_badge)
            return Role(u.role) if u is not None and u.active else None

    def add_user(self, name: str, role: Role | str, pin: str, *, badge: str | None = None, by: str,
                 station: str) -> UserRecord:
        """Create a user; ``by`` is who did it (audited as ``user-added``)."""
        name = _check_name(name)
        role = Role(role)
        badge = _check_name(badge, "badge ID") if badge else None
        pin_hash = hash_pin(pin)
        now = utcnow()
        try:
            with self.session() as s:
                u = User(name=name, role=role.value, pin_hash=pin_hash, badge=badge, active=True, failed_logins=0,
                         locked_until=None, created_at=now, updated_at=now)
                s.add(u)
                s.add(audit_row(action="user-added", operator=by, station=station, role=role.value,
                                details={"user": name, "badge": bool(badge)}))
                s.flush()
                return _record(u)
        except IntegrityError as exc:
            raise ConfigError(f"user {name!r} or that badge already exists") from exc

    def update_user(self, name: str, *, by: str, station: str, role: Role | str | None = None,
                    pin: str | None = None, badge: str | None = None, active: bool | None = None) -> UserRecord:
        """Change a user's role, PIN, badge or active flag (audited as ``user-changed``, never the PIN)."""
        changed: dict[str, Any] = {}
        pin_hash = hash_pin(pin) if pin is not None else None
        try:
            with self.session() as s:
                u = s.scalars(select(User).where(User.name == name)).first()
                if u is None:
                    raise ConfigError(f"no user {name!r}")
                if role is not None:
                    u.role = changed["role"] = Role(role).value
                if pin_hash is not None:
                    u.pin_hash, u.failed_logins, u.locked_until = pin_hash, 0, None
                    changed["pin"] = "changed"
                if badge is not None:
                    u.badge = _check_name(badge, "badge ID") if badge else None
                    changed["badge"] = "changed" if badge else "removed"
                if active is not None:
                    u.active = changed["active"] = active
                u.updated_at = utcnow()
                s.add(audit_row(action="user-changed", operator=by, station=station,
                                details={"user": name, **changed}))
                s.flush()
                return _record(u)
        except IntegrityError as exc:
            raise ConfigError("that badge already belongs to another user") from exc

    def authenticate(self, name_or_badge: str, pin: str, *, station: str) -> UserRecord:
        """The user whose name or badge and PIN match; :class:`LoginRefused` otherwise (audited).

        The refusal never says whether the name or the PIN was wrong. After
        ``MAX_FAILED_LOGINS`` failures in a row the account is locked for ``LOCKOUT``.
        """
        with self.session() as s:
            u = _find(s, name_or_badge)
            now = utcnow()
            if u is None or not u.active:
                verify_pin(pin, _DUMMY_HASH)  # same cost as a real check
                # not the typed text: a PIN typed into the name field must not land in the log
                s.add(audit_row(action="login", operator="(unknown)", station=station, granted=False,
                                reason="unknown or inactive user"))
                refused = "wrong name, badge or PIN"
            elif u.locked_until is not None and u.locked_until > now:
                s.add(audit_row(action="login", operator=u.name, station=station, role=u.role, granted=False,
                                reason="locked after failed logins"))
                refused = f"this account is locked until {u.locked_until:%H:%M:%S} UTC after failed logins"
            elif not verify_pin(pin, u.pin_hash):
                u.failed_logins += 1
                if u.failed_logins >= MAX_FAILED_LOGINS:
                    u.locked_until, u.failed_logins = now + LOCKOUT, 0
                s.add(audit_row(action="login", operator=u.name, station=station, role=u.role, granted=False,
                                reason="wrong PIN"))
                refused = "wrong name, badge or PIN"
            else:
                u.failed_logins, u.locked_until = 0, None
                s.add(audit_row(action="login", operator=u.name, station=station, role=u.role, granted=True))
                return _record(u)
        raise LoginRefused(refused)

    def audit_decision(self, action: str, *, operator: str, station: str, role: Role | str | None, granted: bool,
                       reason: str | None = None, device_id: str | None = None,
                       details: dict[str, Any] | None = None) -> None:
        """Record a privileged action asked for, or an override: who, in which role, granted or
        refused, and why (the reason the person gave, or why it was refused)."""
        with self.session() as s:
            s.add(audit_row(action=action, operator=operator, station=station,
                            role=Role(role).value if role else None, granted=granted, reason=reason,
                            device_id=device_id_arg(device_id) if device_id else None, details=details))
