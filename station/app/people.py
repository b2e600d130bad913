"""Who is at the station: the open-station rule, logging in, and the audit rows front ends write.

The GUI needs these beside :class:`~station.app.session.StationSession` (issue 12: a login
by badge or PIN, logouts, role changes and overrides in the audit log). They are functions over a
session, not Qt, so a CLI or a kiosk front end asks the same registry the same way. The decisions
themselves are the core's: :func:`station.roles.may` and the registry's
:meth:`~station.store.users.UserOps.authenticate` (scrypt, lockout, an audit row per try).

Managing users (the admin's dialog) is here too: the role check, then the registry's
``add_user``/``update_user`` (which hash the PIN and write the ``user-added``/``user-changed``
audit rows), plus the two rules that keep a station manageable: the first user is an admin, and
the last active admin is never demoted or disabled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from station.errors import ConfigError
from station.roles import Action, Role, may

#: the roles a user can have, lowest first (what front ends offer to choose from)
ROLE_NAMES = tuple(r.value for r in Role)


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


def acting(session: Any, who: str, pin: Callable[[], str]) -> tuple[str, str]:
    """Who is acting and in which role, for a front end without a login screen (the CLI).

    On an open station (no users yet) the name acts as admin and no PIN is asked for; otherwise
    ``pin()`` is called once and the name (or badge) must log in as the GUI's login does
    (audited, lockout after failures). The role is the user's own; :func:`refusal` decides.
    """
    if open_station(session):
        return who, "admin"
    user = login(session, who, pin())
    return user.name, user.role.value


# ---------------------------------------------------------------------- managing users (admin)
def refusal(role: str | None) -> str:
    """Why ``role`` may not manage users, or ``""`` when it may (the core's role check decides)."""
    if role is not None and may(role, Action.MANAGE_USERS):
        return ""
    if role is None:
        return "Nobody is logged in: managing users and PINs needs an admin. Log in first."
    return f"You are logged in as {role}: managing users and PINs needs an admin. Ask an admin to log in."


def require_admin(session: Any, by: str | None, role: str | None, what: str) -> str:
    """The name to record, or ``PermissionError`` after the refusal is audited."""
    who = by or "(nobody)"
    why = refusal(role)
    if why:
        audit(session, Action.MANAGE_USERS.value, operator=who, role=role, granted=False, reason=why,
              details={"asked": what})
        raise PermissionError(why)
    return who


def users(session: Any, *, role: str | None) -> list[Any]:
    """Every user (never a PIN or its hash); admin only, like every other part of managing them."""
    if refusal(role):
        raise PermissionError(refusal(role))
    return list(session.registry.users())


def add_user(session: Any, name: str, role: str, pin: str, *, badge: str | None = None, by: str | None,
             by_role: str | None) -> Any:
    """A new user with a PIN hashed by the registry's KDF (scrypt); audited as ``user-added``.

    The first user of a registry must be an admin: once one user exists the open-station rule
    ends, and a registry whose only users are operators has nobody left who may add an admin.
    """
    who = require_admin(session, by, by_role, "add a user")
    if Role(role) is not Role.ADMIN and not session.registry.has_users():
        raise ConfigError("the first user must be an admin: once a user exists nobody else is an admin, "
                          "and only an admin can add users")
    return session.registry.add_user(name, role, pin, badge=badge or None, by=who, station=session.station)


def change_user(session: Any, name: str, *, by: str | None, by_role: str | None, role: str | None = None,
                pin: str | None = None, badge: str | None = None, active: bool | None = None) -> Any:
    """Change a user's role, PIN (reset: hashed, failed tries and lockout cleared), badge or active
    flag; audited as ``user-changed`` (never the PIN). The last active admin cannot be demoted or
    disabled: the station would be left with nobody who may manage users."""
    who = require_admin(session, by, by_role, f"change user {name}")
    current = {u.name: u for u in session.registry.users()}
    user = current.get(name)
    if user is None:
        raise ConfigError(f"no user {name!r}")
    loses_admin = user.role is Role.ADMIN and user.active and (
        (role is not None and Role(role) is not Role.ADMIN) or active is False)
    if loses_admin and not any(u.role is Role.ADMIN and u.active and u.name != name for u in current.values()):
        raise ConfigError(f"{name} is the last active admin: add or enable another admin first, "
                          "or nobody could manage users and PINs")
    return session.registry.update_user(name, by=who, station=session.station, role=role, pin=pin, badge=badge,
                                        active=active)
