"""Who is at the station: the open-station rule, logging in, and the audit rows front ends write.

The GUI needs these three beside :class:`~station.app.session.StationSession` (issue 12: a login
by badge or PIN, logouts, role changes and overrides in the audit log). They are functions over a
session, not Qt, so a CLI or a kiosk front end asks the same registry the same way. The decisions
themselves are the core's: :func:`station.roles.may` and the registry's
:meth:`~station.store.users.UserOps.authenticate` (scrypt, lockout, an audit row per try).
"""

from __future__ import annotations

from typing import Any


def open_station(session: Any) -> bool:
    """No users in the registry: everyone acts as admin (store/users.py's open-station rule)."""
    return not session.registry.has_users()


def login(session: Any, who: str, pin: str) -> Any:
    """The user (a ``UserRecord``, never the PIN) whose badge or name and PIN match; raises
    :class:`~station.errors.LoginRefused` otherwise. The registry audits every try."""
    return session.registry.authenticate(who, pin, station=session.station)


def audit(session: Any, action: str, *, operator: str, role: str | None, granted: bool, reason: str | None = None,
          device_id: str | None = None, details: dict[str, Any] | None = None) -> None:
    """A privileged decision (granted or refused), a logout or a role change, in the audit log."""
    session.registry.audit_decision(action, operator=operator, station=session.station, role=role, granted=granted,
                                    reason=reason, device_id=device_id, details=details)
